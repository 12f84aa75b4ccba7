// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {OracleConfig, OracleStatus} from "../types/DataTypes.sol";

/// @notice An oracle reading with what is needed to explain a bad status.
struct OracleReading {
    OracleStatus status;
    uint256 price; // WAD; meaningful only when the answer is positive
    int256 answer; // raw feed answer
    uint256 updatedAt; // feed round timestamp, or the time the sequencer came back (grace period)
}

/// @notice L2 sequencer uptime feed settings. A zero feed means no sequencer check (L1).
struct SequencerConfig {
    address feed;
    uint32 gracePeriod; // seconds after a restart during which liquidation and risk-increasing actions wait
}

/// @title OracleLib
/// @notice Reads a Chainlink feed for one market and classifies it. Sequencer down comes first (the price feed is
/// then not read). Otherwise the price itself is checked: non-positive answer, stale or future round, price outside
/// [minPrice, maxPrice]; a price problem is reported even inside the sequencer grace period, and GracePeriod is
/// reported only when the price itself is fine (so nothing ever proceeds on a bad price in the grace period).
library OracleLib {
    /// @notice Reads and classifies the market's feed at the current block.
    function read(OracleConfig memory cfg, SequencerConfig memory seq) internal view returns (OracleReading memory r) {
        if (seq.feed != address(0)) {
            // Chainlink uptime feed: answer 0 = up, 1 = down; startedAt = when the status last changed.
            try AggregatorV3Interface(seq.feed).latestRoundData() returns (
                uint80, int256 seqAnswer, uint256 startedAt, uint256, uint80
            ) {
                if (seqAnswer != 0 || startedAt == 0) {
                    r.status = OracleStatus.SequencerDown;
                    r.answer = seqAnswer;
                    return r;
                }
                if (block.timestamp < startedAt + seq.gracePeriod) {
                    r.status = OracleStatus.GracePeriod;
                    r.updatedAt = startedAt;
                    // The price is still read below: closing and decreasing are allowed in the grace period.
                }
            } catch {
                r.status = OracleStatus.SequencerDown;
                return r;
            }
        }
        try AggregatorV3Interface(cfg.feed).latestRoundData() returns (
            uint80, int256 answer, uint256, uint256 updatedAt, uint80
        ) {
            r.answer = answer;
            if (answer <= 0) {
                r.status = OracleStatus.InvalidAnswer;
                return r;
            }
            r.price = normalize(uint256(answer), cfg.decimals);
            OracleStatus priceStatus;
            if (updatedAt == 0 || updatedAt > block.timestamp || block.timestamp - updatedAt > cfg.heartbeat) {
                priceStatus = OracleStatus.Stale;
            } else if (r.price < cfg.minPrice || r.price > cfg.maxPrice) {
                priceStatus = OracleStatus.OutOfBounds;
            }
            if (r.status != OracleStatus.GracePeriod || priceStatus != OracleStatus.Ok) {
                r.status = priceStatus;
                r.updatedAt = updatedAt;
            }
        } catch {
            r.status = OracleStatus.InvalidAnswer;
        }
    }

    /// @notice Scales a feed answer with `decimals` decimals to WAD, saturating at type(uint256).max (an answer that
    /// large is far above any market's maxPrice, so it reads as OutOfBounds instead of reverting every read).
    /// @dev Feeds with more than 18 decimals round down; the price is a mark, not a payout, so neither side gains.
    function normalize(uint256 answer, uint8 decimals) internal pure returns (uint256) {
        if (decimals <= 18) {
            uint256 factor = 10 ** (18 - decimals);
            return answer > type(uint256).max / factor ? type(uint256).max : answer * factor;
        }
        return answer / 10 ** (decimals - 18);
    }
}
