// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ConstantsLib as C} from "../../../contracts/libraries/ConstantsLib.sol";
import {LiquidationPlan} from "../../../contracts/libraries/RiskLib.sol";
import {Tier, RiskContext} from "../../../contracts/types/DataTypes.sol";

import {RiskLibHarness} from "../harness/RiskLibHarness.sol";
import {RiskGen} from "../utils/RiskGen.sol";

/// @notice Unit fuzz properties of RiskLib's exact 1e36 risk model, on random valid tier tables, parameters and
/// positions (see RiskGen).
contract RiskLibTest is RiskGen {
    RiskLibHarness internal h;

    function setUp() public {
        h = new RiskLibHarness();
    }

    /* ------------------------------------------------------------------ helpers */

    /// @dev Gives `ctx` a collateral (token units) that puts the position near its maintenance boundary at `price`:
    /// within +-25% of the boundary collateral most of the time, anywhere in [0, 2x] otherwise.
    function _setCollateralNearBoundary(RiskContext memory ctx, uint256 price, uint256 seed) internal view {
        ctx.collateral = 0;
        (int256 e0, uint256 mm36) = h.health36(ctx, price);
        int256 gap = int256(mm36) - e0; // collateral (1e36) at which equity == maintenance
        uint256 unit = ctx.scale * WAD;
        uint256 boundary = gap <= 0 ? 0 : uint256(gap) / unit;
        uint256 r = _rand(seed, 400);
        if (r % 4 == 0) ctx.collateral = bound(r >> 2, 0, 2 * boundary + 10);
        else ctx.collateral = bound(r >> 2, boundary - boundary / 4, boundary + boundary / 4 + 2);
    }

    /// @dev Independent reference for the tiered requirement: cumulative requirement at the floor of the tier that
    /// contains n36, plus that tier's marginal rate on the excess; rounded up once.
    function _requirementRef(Tier[] memory t, uint256 n36, bool initial) internal pure returns (uint256) {
        uint256 k; // tier containing n36 (the last one whose floor is below n36)
        while (k + 1 < t.length && uint256(t[k + 1].notionalFloor) * WAD < n36) ++k;
        uint256 acc;
        for (uint256 i; i < k; ++i) {
            uint256 width = (uint256(t[i + 1].notionalFloor) - t[i].notionalFloor) * WAD;
            acc += (initial ? t[i].imr : t[i].mmr) * width;
        }
        uint256 floor36 = uint256(t[k].notionalFloor) * WAD;
        if (n36 > floor36) acc += (initial ? t[k].imr : t[k].mmr) * (n36 - floor36);
        return Math.ceilDiv(acc, WAD);
    }

    /* ----------------------------------------------------- tiered requirement */

    function testFuzz_requirement_matchesMarginalReference(uint256 tiersSeed, uint256 n36) public view {
        Tier[] memory t = _genTiers(tiersSeed);
        n36 = bound(n36, 0, C.MAX_POSITION_SIZE * C.MAX_PRICE);
        assertEq(h.requirement36(t, n36, false), _requirementRef(t, n36, false), "MM36 != marginal reference");
        assertEq(h.requirement36(t, n36, true), _requirementRef(t, n36, true), "IM36 != marginal reference");
    }

    function testFuzz_requirement_nonDecreasing(uint256 tiersSeed, uint256 a, uint256 b) public view {
        Tier[] memory t = _genTiers(tiersSeed);
        uint256 top = uint256(t[t.length - 1].notionalFloor) * WAD * 2 + 1e36;
        a = bound(a, 0, top);
        b = bound(b, a, top);
        uint256 mmA = h.requirement36(t, a, false);
        uint256 mmB = h.requirement36(t, b, false);
        uint256 imA = h.requirement36(t, a, true);
        uint256 imB = h.requirement36(t, b, true);
        assertLe(mmA, mmB, "MM decreased with notional");
        assertLe(imA, imB, "IM decreased with notional");
        assertLe(mmA, imA, "MM above IM");
        // Zero notional needs no margin; any positive notional needs some.
        if (a == 0) assertEq(mmA, 0, "MM(0) != 0");
        if (b != 0) assertGt(mmB, 0, "MM of a positive notional is zero");
        // The WAD helper is the 1e36 requirement rounded up.
        uint256 n = a / WAD;
        assertEq(h.requirement(t, n, false), Math.ceilDiv(h.requirement36(t, n * WAD, false), WAD), "WAD requirement");
    }

    /// @dev Marginal (tax-bracket) tiers: no jump at a floor. Across [F - dl, F + dr] around floor F of tier i, the
    /// requirement moves by exactly the rates of the adjacent tiers on each side, within one unit of rounding.
    function testFuzz_requirement_continuousAcrossTierBoundaries(uint256 tiersSeed, uint256 idx, uint256 dl, uint256 dr)
        public
        view
    {
        Tier[] memory t = _genTiers(tiersSeed);
        vm.assume(t.length > 1);
        uint256 i = bound(idx, 1, t.length - 1);
        uint256 f36 = uint256(t[i].notionalFloor) * WAD;
        uint256 below = f36 - uint256(t[i - 1].notionalFloor) * WAD; // width of tier i - 1
        uint256 above = i + 1 < t.length ? uint256(t[i + 1].notionalFloor) * WAD - f36 : 1e40;
        // Mostly tiny distances (the boundary itself), sometimes the whole adjacent tier.
        dl = dl % 2 == 0 ? bound(dl >> 1, 0, below < 1e3 ? below : 1e3) : bound(dl >> 1, 0, below);
        dr = dr % 2 == 0 ? bound(dr >> 1, 0, above < 1e3 ? above : 1e3) : bound(dr >> 1, 0, above);
        for (uint256 k; k < 2; ++k) {
            bool initial = k == 1;
            uint256 rl = initial ? t[i - 1].imr : t[i - 1].mmr;
            uint256 rr = initial ? t[i].imr : t[i].mmr;
            uint256 atF = h.requirement36(t, f36, initial);
            uint256 left = h.requirement36(t, f36 - dl, initial);
            uint256 right = h.requirement36(t, f36 + dr, initial);
            // ceil(A + x) - ceil(A) lies in [floor(x), ceil(x)].
            assertLe(atF - left, Math.ceilDiv(rl * dl, WAD), "jump from the left of a tier floor");
            assertGe(atF - left, rl * dl / WAD, "drop from the left of a tier floor");
            assertLe(right - atF, Math.ceilDiv(rr * dr, WAD), "jump at the right of a tier floor");
            assertGe(right - atF, rr * dr / WAD, "drop at the right of a tier floor");
            // One 1e36 unit either side of the floor moves the requirement by at most one unit each.
            assertLe(h.requirement36(t, f36 + 1, initial) - h.requirement36(t, f36 - 1, initial), 2, "step at floor");
        }
    }

    /* --------------------------------------------------- health and predicate */

    function testFuzz_healthFactorBelowOneIffLiquidatable(uint256 seed, uint256 tiersSeed, uint256 priceSeed) public view {
        RiskContext memory ctx = _genPosition(seed, tiersSeed);
        uint256 price = _genPrice(priceSeed, ctx.entryPrice);
        _setCollateralNearBoundary(ctx, price, priceSeed);
        (int256 e36, uint256 mm36) = h.health36(ctx, price);
        uint256 hf = h.healthFactor(e36, mm36);
        bool liq = h.isLiquidatable(ctx, price);
        assertEq(hf < WAD, liq, "HF < 1 iff liquidatable");
        assertEq(liq, e36 < int256(mm36), "predicate is e36 < mm36");
        if (e36 <= 0) assertEq(hf, 0, "HF of non-positive equity");
        // HF rounds down: HF * mm36 <= e36 * WAD < (HF + 1) * mm36.
        if (e36 > 0) {
            assertLe(Math.mulDiv(hf, mm36, 1), uint256(e36) * WAD, "HF overstated");
            assertGt((hf + 1) * mm36, uint256(e36) * WAD, "HF understated by more than one unit");
        }
    }

    /// @dev Long: liquidatable at p2 => liquidatable at every p1 < p2. Short: liquidatable at p1 => at every p2 > p1.
    function testFuzz_liquidationPredicateMonotoneInPrice(uint256 seed, uint256 tiersSeed, uint256 p1, uint256 p2)
        public
        view
    {
        RiskContext memory ctx = _genPosition(seed, tiersSeed);
        uint256 mid = _genPrice(p1, ctx.entryPrice);
        _setCollateralNearBoundary(ctx, mid, p2);
        // Two prices around the boundary region: a random distance (often tiny) either side of `mid`.
        uint256 d = _rand(p2, 500) % 3 == 0 ? bound(_rand(p2, 501), 1, 1000) : bound(_rand(p2, 501), 1, mid);
        uint256 lo = mid > d ? mid - d : 1;
        uint256 hi = mid + d > C.MAX_PRICE ? C.MAX_PRICE : mid + d;
        vm.assume(lo < hi);
        bool liqLo = h.isLiquidatable(ctx, lo);
        bool liqMid = h.isLiquidatable(ctx, mid);
        bool liqHi = h.isLiquidatable(ctx, hi);
        if (ctx.size > 0) {
            if (liqHi) assertTrue(liqMid && liqLo, "long: liquidatable at a higher price but not at a lower one");
            if (liqMid) assertTrue(liqLo, "long: liquidatable at mid but not below");
        } else {
            if (liqLo) assertTrue(liqMid && liqHi, "short: liquidatable at a lower price but not at a higher one");
            if (liqMid) assertTrue(liqHi, "short: liquidatable at mid but not above");
        }
    }

    /* ------------------------------------------------------- liquidation price */

    /// @dev The liquidation price is the exact boundary of THE predicate over [1, MAX_PRICE]:
    /// long: safe at L, liquidatable at L - 1 (L == 0: never; max: always); short: safe at L, liquidatable at L + 1.
    function testFuzz_liquidationPrice_isExactBoundary(uint256 seed, uint256 tiersSeed, uint256 priceSeed) public view {
        RiskContext memory ctx = _genPosition(seed, tiersSeed);
        _setCollateralNearBoundary(ctx, _genPrice(priceSeed, ctx.entryPrice), priceSeed);
        uint256 L = h.liquidationPrice(ctx);
        if (ctx.size > 0) {
            if (L == 0) {
                assertFalse(h.isLiquidatable(ctx, 1), "long L = 0 but liquidatable at price 1");
            } else if (L == type(uint256).max) {
                assertTrue(h.isLiquidatable(ctx, C.MAX_PRICE), "long L = max but safe at MAX_PRICE");
            } else {
                assertTrue(L >= 2 && L <= C.MAX_PRICE, "long L out of range");
                assertFalse(h.isLiquidatable(ctx, L), "long: liquidatable at L");
                assertTrue(h.isLiquidatable(ctx, L - 1), "long: safe at L - 1");
            }
        } else {
            if (L == type(uint256).max) {
                assertFalse(h.isLiquidatable(ctx, C.MAX_PRICE), "short L = max but liquidatable at MAX_PRICE");
            } else {
                assertTrue(L < C.MAX_PRICE, "short L out of range");
                assertTrue(h.isLiquidatable(ctx, L + 1), "short: safe at L + 1");
                if (L != 0) assertFalse(h.isLiquidatable(ctx, L), "short: liquidatable at L");
            }
        }
    }

    /* ---------------------------------------------------- liquidation sizing */

    /// @dev A partial plan leaves a remainder of at least the minimum notional whose exact health is >= target, and it
    /// closes the least size that does so to within the documented tolerance (the size worth one token unit of
    /// notional): token-unit rounding of PnL, reward and penalty makes "meets target" noisy within a few token units,
    /// so the check is that every remainder beyond tolerance + the width of that noise band misses the target.
    function testFuzz_planLiquidation_partialReachesTargetWithLeastClose(
        uint256 seed,
        uint256 tiersSeed,
        uint256 priceSeed
    ) public view {
        RiskContext memory ctx = _genPosition(seed, tiersSeed);
        uint256 price = _genPrice(priceSeed, ctx.entryPrice);
        vm.assume(_setLiquidatableCollateral(ctx, price, priceSeed));
        assertTrue(h.isLiquidatable(ctx, price), "generator: not liquidatable");
        LiquidationPlan memory plan = h.planLiquidation(ctx, price);
        uint256 absSize = ctx.size > 0 ? uint256(ctx.size) : uint256(-ctx.size);
        assertEq(plan.full, plan.closeSize == absSize, "full flag");
        assertLe(plan.closeSize, absSize, "closes more than the position");
        assertGt(plan.closeSize, 0, "closes nothing");
        if (plan.full) return;

        uint256 remaining = absSize - plan.closeSize;
        assertGe(remaining * price, uint256(ctx.params.minPositionNotional) * WAD, "remainder below min notional");
        assertGt(Math.mulDiv(absSize, price, WAD, Math.Rounding.Ceil), ctx.params.fullLiquidationNotional, "partial at or below full-liquidation notional");
        assertTrue(_meetsTargetRef(ctx, price, remaining), "partial remainder misses target");

        // Near-least close. Per extra unit of remainder, e - T * MM falls by at least (T * mmr0 - keeper - penalty
        // rate) * price (the fee released on closing only helps); rounding moves it by under ~3 token units.
        uint256 tol = ctx.scale * WAD / price;
        if (tol == 0) tol = 1;
        uint256 margin = uint256(ctx.params.targetHealthFactor) * ctx.tiers[0].mmr / WAD
            - ctx.params.liquidationFeeRate - ctx.params.liquidationPenaltyRate; // > 0 by validateLiquidationCost
        uint256 slope36 = Math.mulDiv(price, margin, WAD); // 1e36 units per size unit
        if (slope36 == 0) return;
        uint256 beyond = tol + Math.ceilDiv(4 * ctx.scale * WAD, slope36) + 1;
        if (remaining + beyond < absSize) {
            assertFalse(_meetsTargetRef(ctx, price, remaining + beyond), "closes clearly more than needed");
        }
    }

    /// @dev Gives `ctx` a collateral that makes it liquidatable at `price` (mostly just below the maintenance
    /// boundary, where partial liquidations happen). False when no collateral >= 0 is liquidatable.
    function _setLiquidatableCollateral(RiskContext memory ctx, uint256 price, uint256 seed)
        internal
        view
        returns (bool)
    {
        ctx.collateral = 0;
        (int256 e0, uint256 mm36) = h.health36(ctx, price);
        if (int256(mm36) <= e0) {
            // In profit even without collateral: the other side of the same trade is in loss.
            ctx.size = -ctx.size;
            (e0, mm36) = h.health36(ctx, price);
            if (int256(mm36) <= e0) return false;
        }
        uint256 maxC = (uint256(int256(mm36) - e0) - 1) / (ctx.scale * WAD); // collateral * unit < mm36 - e0
        uint256 r = _rand(seed, 600);
        ctx.collateral = r % 4 == 0 ? bound(r >> 2, 0, maxC) : bound(r >> 2, maxC - maxC / 8, maxC);
        return true;
    }

    /// @dev Reference for "closing down to `remaining` restores the target": recomputes the plan amounts from the
    /// documented formulas and evaluates the remainder's exact health through the harness.
    function _meetsTargetRef(RiskContext memory ctx, uint256 price, uint256 remaining) internal view returns (bool) {
        uint256 absSize = ctx.size > 0 ? uint256(ctx.size) : uint256(-ctx.size);
        uint256 closeSize = absSize - remaining;
        int256 signedClose = ctx.size > 0 ? int256(closeSize) : -int256(closeSize);
        int256 pnl = _floorDiv(signedClose * (int256(price) - int256(ctx.entryPrice)), WAD * ctx.scale);
        uint256 reward = Math.mulDiv(closeSize * price, ctx.params.liquidationFeeRate, WAD2);
        if (reward > ctx.params.maxKeeperFee) reward = ctx.params.maxKeeperFee;
        if (reward < ctx.params.minKeeperFee) reward = ctx.params.minKeeperFee;
        uint256 penalty =
            Math.ceilDiv(Math.mulDiv(closeSize * price, ctx.params.liquidationPenaltyRate, WAD2, Math.Rounding.Ceil), ctx.scale);
        // Funding settles into the collateral on every liquidation: owed rounds up to token units, received down.
        int256 funding = -_floorDiv(-ctx.fundingOwed, ctx.scale);
        int256 c = int256(ctx.collateral) + pnl - funding - int256(reward / ctx.scale) - int256(penalty);
        if (c < 0) return false;
        RiskContext memory r = _copy(ctx);
        r.size = ctx.size > 0 ? int256(remaining) : -int256(remaining);
        r.collateral = uint256(c);
        r.fundingOwed = 0;
        return h.healthFactorAt(r, price) >= ctx.params.targetHealthFactor;
    }

    function _floorDiv(int256 x, uint256 y) internal pure returns (int256 z) {
        z = x / int256(y);
        if (x < 0 && z * int256(y) != x) --z;
    }

    function _copy(RiskContext memory c) internal pure returns (RiskContext memory r) {
        r.size = c.size;
        r.entryPrice = c.entryPrice;
        r.collateral = c.collateral;
        r.fundingOwed = c.fundingOwed;
        r.scale = c.scale;
        r.tiers = c.tiers;
        r.params = c.params;
    }
}
