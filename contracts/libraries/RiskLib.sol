// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {Tier, RiskContext} from "../types/DataTypes.sol";
import {ConstantsLib} from "./ConstantsLib.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";

/// @notice Result of a liquidation sizing: how much to close and what it pays.
struct LiquidationPlan {
    bool full;
    uint256 closeSize; // absolute size closed
    int256 realizedPnl; // token units, on the closed size (floor)
    uint256 keeperReward; // token units paid to the liquidator
    uint256 penalty; // token units to the insurance fund
    int256 remainingCollateral; // token units left in the position (partial) or for the trader (full, may be < 0)
}

/// @title RiskLib
/// @notice The protocol's risk model. The liquidation check is evaluated on exact products at 1e36 scale
/// (size * price), with one rounding up of the closing fee and one of the tier sum, so:
///   - HF < 1 exactly when `equity36 < maintenance36` (HF is derived from the same two integers);
///   - the check is monotone in price, so the liquidation price is a single, exact boundary;
///   - every view (equity, margins, health factor, liquidation price) runs this same code.
/// Units: "36" suffix = 1e36 scale (WAD * WAD), otherwise WAD unless named in token units.
library RiskLib {
    using FP for uint256;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant WAD2 = 1e36;

    /* ---------------------------------------------------------------- margin */

    /// @notice Tiered (marginal) margin requirement at 1e36 scale for an exact notional `n36` (= |size| * price).
    /// @dev Rounds the tier sum up once: requirements favour the protocol. `initial` picks IMR, else MMR.
    function requirement36(Tier[] memory tiers, uint256 n36, bool initial) internal pure returns (uint256) {
        uint256 acc; // rate * notional, 1e54 scale; below 1e76 by the bounds of ConstantsLib
        uint256 len = tiers.length;
        for (uint256 i; i < len; ++i) {
            uint256 lower = uint256(tiers[i].notionalFloor) * WAD;
            if (n36 <= lower) break;
            uint256 upper = i + 1 < len ? uint256(tiers[i + 1].notionalFloor) * WAD : type(uint256).max;
            uint256 portion = (n36 < upper ? n36 : upper) - lower;
            acc += (initial ? tiers[i].imr : tiers[i].mmr) * portion;
        }
        // Round up: the requirement is never understated.
        return FP.divUp(acc, WAD);
    }

    /// @notice Tiered margin requirement in WAD USD for a WAD notional, rounded up.
    function requirement(Tier[] memory tiers, uint256 notional, bool initial) internal pure returns (uint256) {
        return FP.divUp(requirement36(tiers, notional * WAD, initial), WAD);
    }

    /* ---------------------------------------------------------------- equity */

    /// @notice Exact equity of the position at `price`, 1e36 scale:
    /// collateral + unrealised PnL - funding owed - closing fee (rounded up).
    function equity36(RiskContext memory ctx, uint256 price) internal pure returns (int256) {
        uint256 fee36 = closingFee36(ctx, FP.abs(ctx.size) * price);
        int256 pnl36 = ctx.size * (int256(price) - int256(ctx.entryPrice));
        return int256(ctx.collateral * ctx.scale * WAD) + pnl36 - ctx.fundingOwed * int256(WAD) - int256(fee36);
    }

    /// @notice Taker fee for closing notional `n36`, 1e36 scale, rounded up: equity is never overstated.
    function closingFee36(RiskContext memory ctx, uint256 n36) internal pure returns (uint256) {
        return FP.divUp(n36 * ctx.params.takerFeeRate, WAD);
    }

    /// @notice Exact equity and maintenance requirement at `price`, both 1e36 scale.
    function health36(RiskContext memory ctx, uint256 price) internal pure returns (int256 e36, uint256 mm36) {
        e36 = equity36(ctx, price);
        mm36 = requirement36(ctx.tiers, FP.abs(ctx.size) * price, false);
    }

    /// @notice True when the position's health factor is below 1 at `price`. THE liquidation predicate.
    function isLiquidatable(RiskContext memory ctx, uint256 price) internal pure returns (bool) {
        (int256 e36, uint256 mm36) = health36(ctx, price);
        return e36 < int256(mm36);
    }

    /// @notice Health factor (WAD) from the exact equity and maintenance requirement: floor(e / mm).
    /// 0 when equity <= 0; with no requirement (empty position, or price 0), type(uint256).max unless equity is
    /// negative.
    /// @dev floor(e * WAD / mm) < WAD exactly when e < mm, so HF < 1 exactly when isLiquidatable, mm = 0 included.
    function healthFactor(int256 e36, uint256 mm36) internal pure returns (uint256) {
        if (mm36 == 0) return e36 < 0 ? 0 : type(uint256).max;
        if (e36 <= 0) return 0;
        // Round down: health is never overstated.
        return Math.mulDiv(uint256(e36), WAD, mm36);
    }

    /* ------------------------------------------------------- liquidation price */

    /// @notice The liquidation price of the position. A long is liquidatable exactly when the oracle price is below
    /// it (0: never); a short exactly when the price is above it (type(uint256).max: never below MAX_PRICE).
    /// @dev Found by searching THE liquidation predicate, which is monotone in price, from a closed-form estimate.
    function liquidationPrice(RiskContext memory ctx) internal pure returns (uint256) {
        if (ctx.size == 0) return 0;
        bool long = ctx.size > 0;
        uint256 estimate = _liquidationPriceEstimate(ctx);
        // Long: first price that is safe. Short: first price that is liquidatable.
        (, uint256 b) = _firstTrue(ctx, 0, long ? _safeAt : _liquidatableAt, estimate, 1, ConstantsLib.MAX_PRICE, 1);
        if (long) {
            if (b == 1) return 0; // safe at every accepted price
            return b > ConstantsLib.MAX_PRICE ? type(uint256).max : b;
        }
        return b > ConstantsLib.MAX_PRICE ? type(uint256).max : b - 1;
    }

    function _safeAt(RiskContext memory ctx, uint256, uint256 price) private pure returns (bool) {
        return !isLiquidatable(ctx, price);
    }

    function _liquidatableAt(RiskContext memory ctx, uint256, uint256 price) private pure returns (bool) {
        return isLiquidatable(ctx, price);
    }

    /// @dev Solves equity(n) = MM(n) tier by tier in WAD (an estimate; the search makes it exact).
    function _liquidationPriceEstimate(RiskContext memory ctx) private pure returns (uint256) {
        uint256 absSize = FP.abs(ctx.size);
        int256 f = int256(uint256(ctx.params.takerFeeRate));
        int256 entryValue = int256(absSize.mulWadDown(ctx.entryPrice));
        int256 k = int256(ctx.collateral * ctx.scale) - ctx.fundingOwed + (ctx.size > 0 ? -entryValue : entryValue);
        int256 base; // MM at the tier floor, WAD
        uint256 len = ctx.tiers.length;
        for (uint256 i; i < len; ++i) {
            int256 lower = int256(uint256(ctx.tiers[i].notionalFloor));
            int256 upper = i + 1 < len ? int256(uint256(ctx.tiers[i + 1].notionalFloor)) : type(int128).max;
            int256 m = int256(uint256(ctx.tiers[i].mmr));
            int256 n = ctx.size > 0
                ? ((base - k) * int256(WAD) - m * lower) / (int256(WAD) - f - m)
                : ((k - base) * int256(WAD) + m * lower) / (int256(WAD) + f + m);
            if (n < upper) return n <= 0 ? 1 : uint256(n) * WAD / absSize + 1;
            base += m * (upper - lower) / int256(WAD);
        }
        return ctx.entryPrice;
    }

    /* --------------------------------------------------- partial liquidation */

    /// @notice Sizes a liquidation at `price`: partial when the position is large enough and a remainder of at
    /// least the minimum notional can reach the target health factor, full otherwise.
    /// @dev The remainder's exact post-liquidation health is >= target; the close is the least such size up to the
    /// rounding band described below.
    /// Runs inside the linked LiquidationLib: the search is large and only liquidations need it.
    function planLiquidation(RiskContext memory ctx, uint256 price) internal pure returns (LiquidationPlan memory plan) {
        uint256 absSize = FP.abs(ctx.size);
        uint256 notional = absSize.mulWadUp(price);
        if (notional > ctx.params.fullLiquidationNotional && equity36(ctx, price) > 0) {
            // Smallest remainder with notional >= minimum: ceil(minNotional / price).
            uint256 minRemaining = FP.divWadUp(ctx.params.minPositionNotional, price);
            if (minRemaining < absSize && _meetsTarget(ctx, price, minRemaining)) {
                uint256 estimate = _remainingEstimate(ctx, price, absSize);
                // A remainder that meets the target while the one a token unit of notional larger misses it. The
                // predicate is monotone only up to the token-unit rounding of reward, penalty and PnL (a band of about
                // 1 / (target * MMR - reward rate - penalty rate) token units of notional), so the close may exceed
                // the least possible by that band; finer precision costs ~2 evaluations per halving and cannot beat
                // the band. The target itself is always met exactly.
                uint256 tolerance = FP.max(1, ctx.scale * WAD / price);
                (uint256 meets,) = _firstTrue(ctx, price, _missesTarget, estimate, minRemaining, absSize, tolerance);
                return _plan(ctx, price, absSize - meets);
            }
        }
        return _plan(ctx, price, absSize);
    }

    /// @dev Amounts of closing `closeSize` at `price`, funding settled. For a full close, remainingCollateral is what
    /// is left for the trader and may be negative (bad debt); the keeper reward is then clamped by the caller's top-up
    /// logic.
    function _plan(RiskContext memory ctx, uint256 price, uint256 closeSize)
        private
        pure
        returns (LiquidationPlan memory plan)
    {
        uint256 absSize = FP.abs(ctx.size);
        plan.full = closeSize == absSize;
        plan.closeSize = closeSize;
        int256 signedClose = ctx.size > 0 ? int256(closeSize) : -int256(closeSize);
        // Realised PnL rounds down (towards -inf): the trader never receives more than earned.
        plan.realizedPnl = FP.sDivDown(signedClose * (int256(price) - int256(ctx.entryPrice)), WAD * ctx.scale);
        uint256 closed36 = closeSize * price;
        // Keeper reward is a payout: round down, then clamp.
        uint256 reward = Math.mulDiv(closed36, ctx.params.liquidationFeeRate, WAD2);
        reward = Math.max(ctx.params.minKeeperFee, Math.min(reward, ctx.params.maxKeeperFee));
        plan.keeperReward = reward / ctx.scale;
        // Penalty is a charge: round up.
        plan.penalty = FP.divUp(Math.mulDiv(closed36, ctx.params.liquidationPenaltyRate, WAD2, Math.Rounding.Ceil), ctx.scale);
        // Funding settles on every liquidation, full or partial: owed rounds up, credit toward zero.
        plan.remainingCollateral = int256(ctx.collateral) + plan.realizedPnl + FP.sDivDown(-ctx.fundingOwed, ctx.scale);
    }

    /// @dev True when closing down to `remaining` leaves a position with exact health >= target.
    function _meetsTarget(RiskContext memory ctx, uint256 price, uint256 remaining) private pure returns (bool) {
        LiquidationPlan memory p = _plan(ctx, price, FP.abs(ctx.size) - remaining);
        int256 c = p.remainingCollateral - int256(p.keeperReward) - int256(p.penalty);
        if (c < 0) return false;
        // Evaluate the remainder in place and restore: ctx is the caller's memory and is reused by the search.
        int256 size = ctx.size;
        uint256 collateral = ctx.collateral;
        int256 funding = ctx.fundingOwed;
        ctx.size = size > 0 ? int256(remaining) : -int256(remaining);
        ctx.collateral = uint256(c);
        ctx.fundingOwed = 0; // settled into c by the plan
        (int256 e36, uint256 mm36) = health36(ctx, price);
        ctx.size = size;
        ctx.collateral = collateral;
        ctx.fundingOwed = funding;
        // HF >= T  <=>  e36 * WAD / mm36 >= T  <=>  e36 >= ceil(T * mm36 / WAD) for integer e36.
        return e36 >= int256(Math.mulDiv(ctx.params.targetHealthFactor, mm36, WAD, Math.Rounding.Ceil));
    }

    function _missesTarget(RiskContext memory ctx, uint256 price, uint256 remaining) private pure returns (bool) {
        return !_meetsTarget(ctx, price, remaining);
    }

    /// @dev Solves the target condition in WAD assuming a proportional keeper reward (an estimate).
    function _remainingEstimate(RiskContext memory ctx, uint256 price, uint256 absSize) private pure returns (uint256) {
        int256 w = int256(WAD);
        int256 bigN = int256(absSize.mulWadDown(price));
        int256 kq = int256(uint256(ctx.params.liquidationFeeRate) + ctx.params.liquidationPenaltyRate);
        int256 c = kq - int256(uint256(ctx.params.takerFeeRate));
        int256 t = int256(uint256(ctx.params.targetHealthFactor));
        int256 x = int256(ctx.collateral * ctx.scale) - ctx.fundingOwed
            + ctx.size * (int256(price) - int256(ctx.entryPrice)) / w;
        int256 b = x - kq * bigN / w;
        int256 base; // MM at the tier floor, WAD
        uint256 len = ctx.tiers.length;
        for (uint256 i; i < len; ++i) {
            int256 lower = int256(uint256(ctx.tiers[i].notionalFloor));
            // Only the tiers below the position's notional: the remainder is smaller, and the engine loads no tier
            // beyond them (MarketLib.context), so the estimate must not depend on one.
            int256 next = i + 1 < len ? int256(uint256(ctx.tiers[i + 1].notionalFloor)) : type(int128).max;
            int256 upper = next < bigN ? next : type(int128).max;
            int256 m = int256(uint256(ctx.tiers[i].mmr));
            int256 a = t * m / w;
            if (a <= c) break;
            int256 n = (b - t * base / w + a * lower / w) * w / (a - c);
            if (n < upper) return n <= 0 ? 0 : uint256(n) * WAD / price;
            base += m * (upper - lower) / w;
        }
        return absSize / 2;
    }

    /* ------------------------------------------------------------------ search */

    /// @dev Search for the first x in [lo, hi] with pred(x) true, for a predicate that is false then true.
    /// Gallops outward from `estimate` (steps of tol, 2 tol, 4 tol, ...), then bisects until the bracket is at most
    /// `tol` wide:
    /// O(log |estimate - answer|) evaluations. Returns `yes`, a true point (the first one when tol = 1; hi + 1 when
    /// pred is false everywhere), and `no`, the largest false point found below it (meaningful when pred(lo) is
    /// false; equal to lo otherwise). `arg` is passed through to the predicate.
    function _firstTrue(
        RiskContext memory ctx,
        uint256 arg,
        function(RiskContext memory, uint256, uint256) pure returns (bool) pred,
        uint256 estimate,
        uint256 lo,
        uint256 hi,
        uint256 tol
    ) private pure returns (uint256 no, uint256 yes) {
        uint256 x = Math.min(Math.max(estimate, lo), hi);
        if (pred(ctx, arg, x)) {
            yes = x;
            uint256 step = tol;
            while (true) {
                if (yes - lo < step) {
                    if (pred(ctx, arg, lo)) return (lo, lo);
                    no = lo;
                    break;
                }
                uint256 c = yes - step;
                if (!pred(ctx, arg, c)) {
                    no = c;
                    break;
                }
                yes = c;
                step <<= 1;
            }
        } else {
            no = x;
            uint256 step = tol;
            while (true) {
                if (hi - no < step) {
                    if (!pred(ctx, arg, hi)) return (hi, hi + 1);
                    yes = hi;
                    break;
                }
                uint256 c = no + step;
                if (pred(ctx, arg, c)) {
                    yes = c;
                    break;
                }
                no = c;
                step <<= 1;
            }
        }
        while (yes - no > tol) {
            uint256 mid = no + (yes - no) / 2;
            if (pred(ctx, arg, mid)) yes = mid;
            else no = mid;
        }
    }
}
