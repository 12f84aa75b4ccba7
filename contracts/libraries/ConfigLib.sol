// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {Tier, RiskParams, OracleConfig} from "../types/DataTypes.sol";
import {ConstantsLib as C} from "./ConstantsLib.sol";

/// @title ConfigLib
/// @notice Validation of every governed parameter against the hard bounds of ConstantsLib. Reverts with
/// PerpParameterOutOfBounds(name, value, min, max), PerpInvalidTier(index) or PerpLiquidationCostTooHigh.
library ConfigLib {
    /// @notice Tier table rules: 1..MAX_TIERS tiers; the first floor is 0 and floors strictly increase;
    /// MIN_MMR <= mmr < imr <= MAX_IMR, mmr <= MAX_MMR; both rates non-decreasing with notional.
    function validateTiers(Tier[] calldata tiers) external pure {
        uint256 len = tiers.length;
        _bound("tierCount", len, 1, C.MAX_TIERS);
        for (uint256 i; i < len; ++i) {
            Tier calldata t = tiers[i];
            bool ok = t.mmr >= C.MIN_MMR && t.mmr <= C.MAX_MMR && t.mmr < t.imr && t.imr <= C.MAX_IMR;
            if (i == 0) {
                ok = ok && t.notionalFloor == 0;
            } else {
                Tier calldata prev = tiers[i - 1];
                ok = ok && t.notionalFloor > prev.notionalFloor && t.imr >= prev.imr && t.mmr >= prev.mmr;
            }
            require(ok, ITidemarkEngine.PerpInvalidTier(i));
        }
    }

    /// @notice Fee and liquidation parameter bounds, each named in the error.
    function validateRiskParams(RiskParams calldata p) external pure {
        _bound("takerFeeRate", p.takerFeeRate, 0, C.MAX_TAKER_FEE_RATE);
        _bound("liquidationFeeRate", p.liquidationFeeRate, 0, C.MAX_LIQUIDATION_FEE_RATE);
        _bound("liquidationPenaltyRate", p.liquidationPenaltyRate, 0, C.MAX_LIQUIDATION_PENALTY_RATE);
        _bound("targetHealthFactor", p.targetHealthFactor, C.MIN_TARGET_HEALTH_FACTOR, C.MAX_TARGET_HEALTH_FACTOR);
        _bound("minKeeperFee", p.minKeeperFee, 0, C.MAX_MIN_KEEPER_FEE);
        _bound("maxKeeperFee", p.maxKeeperFee, p.minKeeperFee, C.MAX_MAX_KEEPER_FEE);
        _bound("minPositionNotional", p.minPositionNotional, C.MIN_MIN_POSITION_NOTIONAL, C.MAX_MIN_POSITION_NOTIONAL);
        _bound("fullLiquidationNotional", p.fullLiquidationNotional, 0, C.MAX_FULL_LIQUIDATION_NOTIONAL);
    }

    /// @notice A partial liquidation closes notional at a cost of (keeper rate + penalty rate) of equity and frees
    /// target * MMR of target requirement; it can only restore health when the cost is strictly lower.
    function validateLiquidationCost(RiskParams memory p, Tier[] memory tiers) external pure {
        uint256 cost = uint256(p.liquidationFeeRate) + p.liquidationPenaltyRate;
        uint256 freed = uint256(p.targetHealthFactor) * tiers[0].mmr / 1e18;
        require(cost < freed, ITidemarkEngine.PerpLiquidationCostTooHigh(cost, freed));
    }

    /// @notice Oracle bounds; `decimals` is the feed's own, read by the caller.
    function validateOracle(OracleConfig memory o) external pure {
        require(o.feed != address(0), ITidemarkEngine.PerpZeroAddress());
        _bound("heartbeat", o.heartbeat, C.MIN_HEARTBEAT, C.MAX_HEARTBEAT);
        _bound("feedDecimals", o.decimals, 0, C.MAX_FEED_DECIMALS);
        _bound("maxPrice", o.maxPrice, 2, C.MAX_PRICE);
        _bound("minPrice", o.minPrice, 1, o.maxPrice - 1);
    }

    function validateGracePeriod(uint256 gracePeriod) external pure {
        _bound("gracePeriod", gracePeriod, 0, C.MAX_GRACE_PERIOD);
    }

    function validateReserveFactor(uint256 reserveFactor) external pure {
        _bound("reserveFactor", reserveFactor, 0, C.MAX_RESERVE_FACTOR);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, ITidemarkEngine.PerpParameterOutOfBounds(name, value, min, max));
    }
}
