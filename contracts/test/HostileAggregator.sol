// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @notice Test price feed that misbehaves on demand: any answer and timestamp (zero, negative, absurdly large, stale,
/// in the future), a `latestRoundData` that reverts, or one that returns too few bytes to decode. `decimals` keeps
/// working in every mode, so a market can be listed on it. Not for production.
contract HostileAggregator is AggregatorV3Interface {
    /// @notice How `latestRoundData` behaves.
    enum Mode {
        Answer, // returns the stored round
        Revert, // reverts with FeedDown
        ShortReturn // returns a single word (not decodable as the five-value tuple)
    }

    error FeedDown();

    uint8 public immutable override decimals;
    Mode public mode;
    uint80 public roundId;
    int256 public latestAnswer;
    uint256 public updatedAt;

    constructor(uint8 decimals_, int256 answer_) {
        decimals = decimals_;
        setRound(answer_, block.timestamp);
    }

    /// @notice Stores a new round with `answer_` dated `updatedAt_` (startedAt equals updatedAt).
    function setRound(int256 answer_, uint256 updatedAt_) public {
        ++roundId;
        latestAnswer = answer_;
        updatedAt = updatedAt_;
    }

    /// @notice Stores a new round with `answer_` dated now.
    function setAnswer(int256 answer_) external {
        setRound(answer_, block.timestamp);
    }

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function description() external pure override returns (string memory) {
        return "HostileAggregator";
    }

    function version() external pure override returns (uint256) {
        return 0;
    }

    function getRoundData(uint80) external view override returns (uint80, int256, uint256, uint256, uint80) {
        return latestRoundData();
    }

    function latestRoundData() public view override returns (uint80, int256, uint256, uint256, uint80) {
        if (mode == Mode.Revert) revert FeedDown();
        if (mode == Mode.ShortReturn) {
            // One word where five are expected: only assembly can return data that does not match the signature.
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                mstore(0, 1)
                return(0, 32)
            }
        }
        return (roundId, latestAnswer, updatedAt, updatedAt, roundId);
    }
}
