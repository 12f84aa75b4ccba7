// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";

/// @notice Test helper: Chainlink's MockV3Aggregator (1.2.0) stores answers without emitting anything; a live aggregator
/// emits AnswerUpdated and NewRound with each answer. This one does too, for off-chain watchers (the SDK's watchHealth).
contract AnsweringAggregator is MockV3Aggregator {
    constructor(uint8 decimals_, int256 initialAnswer) MockV3Aggregator(decimals_, initialAnswer) {}

    /// @notice Stores a new round like `updateAnswer` and emits the events of a live aggregator.
    function answer(int256 value) external {
        updateAnswer(value);
        emit AnswerUpdated(value, latestRound, block.timestamp);
        emit NewRound(latestRound, msg.sender, block.timestamp);
    }
}
