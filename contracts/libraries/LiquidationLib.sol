// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {MarketId} from "../types/MarketId.sol";
import {Market, Position, RiskContext, Settlement} from "../types/DataTypes.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";
import {MarketLib} from "./MarketLib.sol";
import {RiskLib, LiquidationPlan} from "./RiskLib.sol";

/// @title LiquidationLib
/// @notice Liquidates one position into a running settlement: checks health at the given price, sizes the
/// liquidation (RiskLib.planLiquidation), writes the position and market, distributes the closed value (keeper
/// reward, penalty, trader, shortfall cover) and emits PositionLiquidated.
/// @dev A linked library: its external function runs in the engine's context (DELEGATECALL) on the engine's storage,
/// so the engine stays under the contract size limit. The engine reads the price, accrues funding, holds the
/// reentrancy lock, credits the keeper and settles the token flows.
library LiquidationLib {
    /// @notice Liquidates `account`'s position on `market` at `price` (fresh, funding accrued at it in this
    /// transaction). Returns the updated settlement and whether a position was liquidated; with `strict` it reverts
    /// (PerpNoPosition, PerpPositionHealthy) instead of returning false.
    function liquidate(
        Settlement memory s,
        Market storage m,
        mapping(address => Position) storage positions,
        mapping(address => uint256) storage freeBalances,
        IInsuranceFund insurance,
        address account,
        MarketId market,
        uint256 price,
        uint256 scale,
        bool strict
    ) external returns (Settlement memory, bool) {
        Position memory pos = positions[account];
        if (pos.size == 0) {
            require(!strict, ITidemarkEngine.PerpNoPosition(account, market));
            return (s, false);
        }
        // Every evaluation below is at `price` and at most the position's size (RiskLib.planLiquidation).
        RiskContext memory ctx = MarketLib.context(m, pos, scale, FP.abs(pos.size) * price);
        (int256 e36, uint256 mm36) = RiskLib.health36(ctx, price);
        if (e36 >= int256(mm36)) {
            require(!strict, ITidemarkEngine.PerpPositionHealthy(account, market, RiskLib.healthFactor(e36, mm36)));
            return (s, false);
        }
        LiquidationPlan memory plan = RiskLib.planLiquidation(ctx, price);
        int256 newSize;
        uint256 returned;
        // Everything the position had that does not go to trader, keeper or insurance settles with the pool:
        // realised PnL and funding.
        s.toPool += int256(uint256(pos.collateral)) - plan.remainingCollateral;
        if (plan.full) {
            returned = _distributeFull(s, plan, freeBalances, insurance, account, market);
            MarketLib.removeAccount(m, positions, pos.index);
            delete positions[account];
        } else {
            // The plan guarantees the remainder's collateral is non-negative and its health >= target.
            newSize = pos.size > 0 ? pos.size - int256(plan.closeSize) : pos.size + int256(plan.closeSize);
            Position storage ps = positions[account];
            ps.size = int128(newSize); // |newSize| < |size|
            ps.collateral = uint128(uint256(plan.remainingCollateral) - plan.keeperReward - plan.penalty);
            ps.fundingIndex = m.fundingIndex; // funding settled by the plan, at the index accrued by the caller
        }
        s.toInsurance += int256(plan.penalty);
        s.insuranceAvailable += plan.penalty;
        s.keeperReward += plan.keeperReward;
        MarketLib.updateOpenInterest(m, pos.size, pos.entryPrice, pos.fundingIndex, newSize, pos.entryPrice, m.fundingIndex);
        emit ITidemarkEngine.PositionLiquidated(
            account,
            market,
            msg.sender,
            plan.closeSize,
            price,
            plan.realizedPnl,
            plan.keeperReward,
            plan.penalty,
            newSize,
            returned
        );
        return (s, true);
    }

    /// @dev Distributes a fully closed position's value: keeper reward first, then penalty (capped by what is left),
    /// the rest to the trader. Bad debt and an unpaid minimum reward are covered by insurance, then the pool.
    /// Caps `plan.penalty` at what was paid. Returns what the trader gets back.
    function _distributeFull(
        Settlement memory s,
        LiquidationPlan memory plan,
        mapping(address => uint256) storage freeBalances,
        IInsuranceFund insurance,
        address account,
        MarketId market
    ) private returns (uint256 left) {
        int256 value = plan.remainingCollateral;
        uint256 badDebt = value < 0 ? uint256(-value) : 0;
        left = value < 0 ? 0 : uint256(value);
        uint256 paid = FP.min(plan.keeperReward, left);
        left -= paid;
        plan.penalty = FP.min(plan.penalty, left);
        left -= plan.penalty;
        if (badDebt != 0 || paid < plan.keeperReward) {
            MarketLib.coverShortfall(s, insurance, account, market, badDebt, plan.keeperReward - paid);
        }
        freeBalances[account] += left;
    }
}
