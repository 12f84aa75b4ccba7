// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ITidemarkEngine} from "../../../contracts/interfaces/ITidemarkEngine.sol";
import {RiskLib} from "../../../contracts/libraries/RiskLib.sol";
import {Tier, PositionHealth, Position} from "../../../contracts/types/DataTypes.sol";

import {TidemarkBase} from "../utils/TidemarkBase.sol";

/// @notice Risk properties checked end to end through the deployed engine and lens, on the ETH-USD market whose feed
/// has 18 decimals (feed answers are exact WAD prices).
contract EngineRiskTest is TidemarkBase {
    uint256 internal constant FEE_RATE = 0.0005e18;

    /* ------------------------------------------------------------------ helpers */

    /// @dev Opens a random ETH position for `who` at `openPrice`: notional in [min, 3M] USD and a collateral between
    /// the initial margin (plus fees) and about 1.2x the notional. Returns the size.
    function _openRandom(address who, bool isLong, uint256 openPrice, uint256 notionalSeed, uint256 levSeed)
        internal
        returns (int256 size)
    {
        setPrice(ETH, openPrice);
        uint256 notional = bound(notionalSeed, 10e18, 3_000_000e18);
        uint256 absSize = Math.mulDiv(notional, WAD, openPrice, Math.Rounding.Ceil);
        if (absSize * openPrice / WAD < 10e18) ++absSize;
        uint256 n36 = absSize * openPrice;
        uint256 im36 = RiskLib.requirement36(tiers(), n36, true);
        uint256 closeFee36 = Math.ceilDiv(n36 * FEE_RATE, WAD);
        uint256 openFee = Math.ceilDiv(n36 * FEE_RATE, 1e36 * SCALE);
        uint256 minCollateral = Math.ceilDiv(im36 + closeFee36, SCALE * WAD) + openFee;
        uint256 collateral = bound(levSeed, minCollateral, minCollateral + n36 * 12 / 10 / (SCALE * WAD));
        fund(who, collateral);
        depositFor(who, collateral);
        size = isLong ? int256(absSize) : -int256(absSize);
        openFor(who, ETH, size, collateral);
    }

    function _abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    function _hf(address who, uint256 price) internal view returns (uint256) {
        return lens.positionHealthAt(who, ETH, price).healthFactor;
    }

    /// @dev At `price` (inside the oracle bounds) the engine's predicate, the lens and liquidate() agree on `expected`.
    function _checkLiquidatableAt(address who, uint256 price, bool expected) internal {
        setPrice(ETH, price);
        assertEq(engine.isLiquidatable(who, ETH), expected, "engine.isLiquidatable");
        PositionHealth memory ph = lens.positionHealth(who, ETH);
        assertEq(ph.healthFactor < WAD, expected, "lens HF < 1");
        assertEq(ph.liquidatable, expected, "lens liquidatable flag");
    }

    /* -------------------------------------------------------------------- tests */

    /// @dev The engine really runs the linked libraries: ConfigLib rejects a bad tier table with its own error and
    /// RiskLib.planLiquidation sizes a liquidation.
    function test_x_externalLibrariesAreLinkedAndExecuted() public {
        Tier[] memory bad = tiers();
        bad[1].notionalFloor = 0; // floors must strictly increase
        vm.expectRevert(abi.encodeWithSelector(ITidemarkEngine.PerpInvalidTier.selector, 1));
        engine.setMarginTiers(ETH, bad);

        depositFor(alice, usd(1_000));
        openFor(alice, ETH, 10e18, usd(400)); // 30k notional at 3,000 USD
        uint256 L = lens.liquidationPrice(alice, ETH);
        setPrice(ETH, L - 1);
        assertTrue(engine.isLiquidatable(alice, ETH), "should be liquidatable");
        vm.prank(keeper);
        engine.liquidate(alice, ETH); // calls RiskLib.planLiquidation (external, linked)
        Position memory p = engine.getPosition(alice, ETH);
        assertTrue(p.size > 0 && p.size < 10e18, "expected a partial liquidation");
        assertGe(_hf(alice, L - 1), riskParams().targetHealthFactor, "partial below target");
    }

    /// @dev For random positions, at L the position is safe and one wei past L it is liquidatable (long: L - 1, short:
    /// L + 1), through the oracle, the engine's predicate, the lens and liquidate().
    function testFuzz_liquidationPrice_exactBoundaryThroughEngine(
        bool isLong,
        uint256 openPriceSeed,
        uint256 notionalSeed,
        uint256 levSeed
    ) public {
        uint256 openPrice = bound(openPriceSeed, 10e18, 200_000e18);
        _openRandom(alice, isLong, openPrice, notionalSeed, levSeed);
        uint256 L = lens.liquidationPrice(alice, ETH);
        assertEq(L, lens.positionHealthAt(alice, ETH, openPrice).liquidationPrice, "lens views disagree on L");

        if (isLong) {
            assertLt(L, openPrice, "long opened at or below its liquidation price");
            if (L == 0) {
                _checkLiquidatableAt(alice, MIN_PRICE, false);
                return;
            }
            // Outside the oracle bounds only the lens can evaluate (no feed price is accepted there).
            if (L <= MIN_PRICE) {
                assertLt(_hf(alice, L - 1), WAD, "long: safe at L - 1");
                assertGe(_hf(alice, L), WAD, "long: liquidatable at L");
                return;
            }
            _checkLiquidatableAt(alice, L, false);
            vm.prank(keeper);
            vm.expectPartialRevert(ITidemarkEngine.PerpPositionHealthy.selector);
            engine.liquidate(alice, ETH);
            _checkLiquidatableAt(alice, L - 1, true);
        } else {
            assertGt(L, openPrice, "short opened at or above its liquidation price");
            if (L >= MAX_PRICE) {
                assertGe(_hf(alice, L), WAD, "short: liquidatable at L");
                if (L < type(uint256).max) assertLt(_hf(alice, L + 1), WAD, "short: safe at L + 1");
                return;
            }
            _checkLiquidatableAt(alice, L, false);
            vm.prank(keeper);
            vm.expectPartialRevert(ITidemarkEngine.PerpPositionHealthy.selector);
            engine.liquidate(alice, ETH);
            _checkLiquidatableAt(alice, L + 1, true);
        }
        vm.prank(keeper);
        engine.liquidate(alice, ETH);
    }

    /// @dev At any fresh price: engine.isLiquidatable == (lens HF < 1) == lens flag, and liquidate() succeeds exactly
    /// then. A successful liquidation never takes from the trader's free balance; a partial one restores the target.
    function testFuzz_liquidate_succeedsIffHealthBelowOne(
        bool isLong,
        uint256 notionalSeed,
        uint256 levSeed,
        uint256 priceSeed
    ) public {
        _openRandom(alice, isLong, ETH_PRICE, notionalSeed, levSeed);
        uint256 L = lens.liquidationPrice(alice, ETH);
        // Half of the runs within 1% of the liquidation price, the rest anywhere in [0.5x, 2x] of the open price.
        uint256 price;
        if (priceSeed % 2 == 0 && L > MIN_PRICE && L < MAX_PRICE) price = bound(priceSeed >> 1, L - L / 100, L + L / 100);
        else price = bound(priceSeed >> 1, ETH_PRICE / 2, ETH_PRICE * 2);
        _checkLiquidatableAt(alice, price, lens.positionHealthAt(alice, ETH, price).healthFactor < WAD);
        bool liq = engine.isLiquidatable(alice, ETH);

        uint256 freeBefore = engine.freeBalance(alice);
        Position memory before = engine.getPosition(alice, ETH);
        vm.prank(keeper);
        try engine.liquidate(alice, ETH) {
            assertTrue(liq, "liquidated a healthy position");
        } catch (bytes memory err) {
            assertFalse(liq, "liquidation of an unhealthy position reverted");
            assertEq(bytes4(err), ITidemarkEngine.PerpPositionHealthy.selector, "unexpected revert");
            return;
        }
        assertGe(engine.freeBalance(alice), freeBefore, "liquidation took from the free balance");
        Position memory afterPos = engine.getPosition(alice, ETH);
        if (afterPos.size != 0) {
            assertLt(_abs(afterPos.size), _abs(before.size), "size not reduced");
            assertGe(_hf(alice, price), riskParams().targetHealthFactor, "partial liquidation below target HF");
        }
    }
}
