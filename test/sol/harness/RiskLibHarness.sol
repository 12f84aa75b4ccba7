// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {RiskLib, LiquidationPlan} from "../../../contracts/libraries/RiskLib.sol";
import {Tier, RiskContext} from "../../../contracts/types/DataTypes.sol";

/// @notice Exposes RiskLib's internal functions (and its external planLiquidation, which the runner links) to tests.
contract RiskLibHarness {
    function requirement36(Tier[] memory tiers, uint256 n36, bool initial) external pure returns (uint256) {
        return RiskLib.requirement36(tiers, n36, initial);
    }

    function requirement(Tier[] memory tiers, uint256 notional, bool initial) external pure returns (uint256) {
        return RiskLib.requirement(tiers, notional, initial);
    }

    function equity36(RiskContext memory ctx, uint256 price) external pure returns (int256) {
        return RiskLib.equity36(ctx, price);
    }

    function health36(RiskContext memory ctx, uint256 price) external pure returns (int256, uint256) {
        return RiskLib.health36(ctx, price);
    }

    function isLiquidatable(RiskContext memory ctx, uint256 price) external pure returns (bool) {
        return RiskLib.isLiquidatable(ctx, price);
    }

    function healthFactor(int256 e36, uint256 mm36) external pure returns (uint256) {
        return RiskLib.healthFactor(e36, mm36);
    }

    /// @dev Health factor of a context at a price, from the exact 1e36 quantities (what the lens reports).
    function healthFactorAt(RiskContext memory ctx, uint256 price) external pure returns (uint256) {
        (int256 e36, uint256 mm36) = RiskLib.health36(ctx, price);
        return RiskLib.healthFactor(e36, mm36);
    }

    function liquidationPrice(RiskContext memory ctx) external pure returns (uint256) {
        return RiskLib.liquidationPrice(ctx);
    }

    function planLiquidation(RiskContext memory ctx, uint256 price) external pure returns (LiquidationPlan memory) {
        return RiskLib.planLiquidation(ctx, price);
    }
}
