// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ConstantsLib} from "../../../contracts/libraries/ConstantsLib.sol";
import {MarketId} from "../../../contracts/types/MarketId.sol";
import {Position, FundingParams, ExposureParams} from "../../../contracts/types/DataTypes.sol";

import {TidemarkBase} from "../utils/TidemarkBase.sol";
import {TidemarkHandler} from "./TidemarkHandler.sol";

/// @notice Invariant suite: random sequences of handler actions (deposits, trades, collateral moves, price moves,
/// liquidations, LP requests, fulfilments, claims and cancellations, pauses, time) on the full protocol, then the design
/// properties below.
/// Properties 2-4 are per-action properties: the handler checks them around every liquidation and close and records
/// violations in ghost state, which these invariants read (with the first counterexample as the failure message).
contract TidemarkInvariantsTest is TidemarkBase {
    TidemarkHandler internal handler;
    uint256 internal supplyBeforeHandler;

    function setUp() public override {
        super.setUp();
        // Funding on, at the maximum rate once the skew reaches a few positions' worth, so that within one run of
        // warps it moves collateral, liquidations and solvency measurably: solvency and loss caps include funding.
        // The rate moves at most MAX_FUNDING_RATE_STEP per governance action and at most once per
        // MIN_RATE_CHANGE_INTERVAL per market, so it is raised from 0 in steps a day apart; the feeds, stale after
        // those days, then re-post the reference prices (no position is open yet, so nothing accrues meanwhile).
        uint256 maxRate = 0.05e18;
        for (uint256 rate; rate < maxRate;) {
            if (rate != 0) vm.warp(block.timestamp + ConstantsLib.MIN_RATE_CHANGE_INTERVAL);
            rate = Math.min(rate + ConstantsLib.MAX_FUNDING_RATE_STEP, maxRate);
            engine.setFundingParams(ETH, FundingParams({skewScale: 50e18, maxFundingRatePerDay: uint64(rate)}));
            engine.setFundingParams(BTC, FundingParams({skewScale: 2e18, maxFundingRatePerDay: uint64(rate)}));
        }
        ethFeed.updateAnswer(int256(ETH_PRICE));
        btcFeed.updateAnswer(int256(BTC_PRICE / 1e10));
        // Price impact on, strong enough that closes fill measurably away from the oracle (tens of basis points at
        // the handler's position sizes) and the 1% clamp is reached: the close checks use the impacted fill price.
        engine.setExposureParams(ETH, ExposureParams({impactSkewScale: 20_000e18, maxLongOpenInterestRatio: 10e18, maxShortOpenInterestRatio: 10e18}));
        engine.setExposureParams(BTC, ExposureParams({impactSkewScale: 1_000e18, maxLongOpenInterestRatio: 10e18, maxShortOpenInterestRatio: 10e18}));
        MarketId[2] memory ids = [ETH, BTC];
        MockV3Aggregator[2] memory feeds = [ethFeed, btcFeed];
        uint256[2] memory refs = [ETH_PRICE, BTC_PRICE];
        supplyBeforeHandler = token.totalSupply();
        handler = new TidemarkHandler(engine, lens, token, pool, insurance, guardian, ids, feeds, refs);
        vm.label(address(handler), "TidemarkHandler");
        // The handler's LPs start with 100,000 USD of shares each (no position is open: no price update needed), so
        // that redemptions are reachable from the first call.
        address[2] memory lps = handler.lps();
        lpDeposit(lps[0], usd(100_000));
        lpDeposit(lps[1], usd(100_000));

        bytes4[] memory selectors = new bytes4[](18);
        selectors[0] = TidemarkHandler.deposit.selector;
        selectors[1] = TidemarkHandler.withdraw.selector;
        selectors[2] = TidemarkHandler.openOrIncrease.selector;
        selectors[3] = TidemarkHandler.decrease.selector;
        selectors[4] = TidemarkHandler.close.selector;
        selectors[5] = TidemarkHandler.addCollateral.selector;
        selectors[6] = TidemarkHandler.removeCollateral.selector;
        selectors[7] = TidemarkHandler.movePrice.selector;
        selectors[8] = TidemarkHandler.warp.selector;
        selectors[9] = TidemarkHandler.togglePause.selector;
        selectors[10] = TidemarkHandler.lpRequestDeposit.selector;
        selectors[11] = TidemarkHandler.lpRequestRedeem.selector;
        selectors[12] = TidemarkHandler.liquidate.selector;
        selectors[13] = TidemarkHandler.liquidateBatch.selector;
        selectors[14] = TidemarkHandler.movePriceToLiquidation.selector;
        selectors[15] = TidemarkHandler.lpFulfil.selector;
        selectors[16] = TidemarkHandler.lpClaim.selector;
        selectors[17] = TidemarkHandler.lpCancel.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev A small insurance fund, so that within a run it is exhausted and shortfalls are split between insurance
    /// and pool, then paid by the pool alone (the fixture's 100k USD would never run out at this depth).
    function insuranceSeed() internal pure override returns (uint256) {
        return 250e6;
    }

    /* -------------------------------------------------------------- invariants */

    /// @dev The engine holds exactly what it owes (free balances + position collateral + the escrow of pending orders;
    /// every amount is an integer token flow, so there is no dust either way), the pool holds the assets of pending
    /// deposits and of claimable redemptions on top of its own (liquid) balance, and the requests and claims add up to
    /// the pool's totals; the insurance fund's book is its token balance, and no token leaves the known set of holders.
    function invariant_Solvency() public view {
        uint256 owed;
        address[] memory accts = _allHolders();
        for (uint256 i; i < accts.length; ++i) {
            owed += engine.freeBalance(accts[i]);
        }
        MarketId[2] memory ids = [ETH, BTC];
        for (uint256 m; m < 2; ++m) {
            uint256 n = engine.openPositionCount(ids[m]);
            for (uint256 i; i < n; ++i) {
                owed += engine.getPosition(engine.openPositionAt(ids[m], i), ids[m]).collateral;
            }
        }
        owed += engine.totalOrderEscrow();
        uint256 held = token.balanceOf(address(engine));
        assertGe(held, owed, "engine holds less than it owes");
        assertEq(held, owed, "engine balance != free balances + collateral + order escrow");
        assertEq(token.balanceOf(address(insurance)), insurance.balance(), "insurance balance != balance()");

        // LP requests: the pool holds what it owes LPs, and the totals are the sums over controllers.
        uint256 poolHeld = token.balanceOf(address(pool));
        uint256 lpOwed = pool.totalPendingDepositAssets() + pool.totalClaimableRedeemAssets();
        assertGe(poolHeld, lpOwed, "pool holds less than pending deposits + claimable redemptions");
        assertEq(pool.liquidBalance(), poolHeld - lpOwed, "liquid balance != balance - pending deposits - claimable redemptions");
        uint256 pendingAssets;
        uint256 pendingShares;
        uint256 claimableAssets;
        uint256 unclaimedShares;
        for (uint256 i; i < accts.length; ++i) {
            pendingAssets += pool.depositRequest(accts[i]).amount;
            pendingShares += pool.redeemRequest(accts[i]).amount;
            claimableAssets += pool.claimableRedeem(accts[i]).assets;
            unclaimedShares += pool.claimableDeposit(accts[i]).shares;
        }
        assertEq(pendingAssets, pool.totalPendingDepositAssets(), "pending deposit assets != sum of requests");
        assertEq(pendingShares, pool.totalPendingRedeemShares(), "pending redemption shares != sum of requests");
        assertEq(claimableAssets, pool.totalClaimableRedeemAssets(), "claimable redemption assets != sum of claims");
        // The pool's own shares: those pending redemption and those of fulfilled deposits not yet claimed.
        assertEq(pool.balanceOf(address(pool)), pendingShares + unclaimedShares, "pool's shares != pending + unclaimed");
        assertEq(address(pool).balance, 0, "pool holds ETH");
        assertEq(address(engine).balance, 0, "engine holds ETH");

        uint256 sum = token.balanceOf(address(engine)) + token.balanceOf(address(pool)) + token.balanceOf(address(insurance));
        for (uint256 i; i < accts.length; ++i) {
            sum += token.balanceOf(accts[i]);
        }
        assertEq(sum, token.totalSupply(), "tokens left the known holders");
        assertEq(token.totalSupply(), supplyBeforeHandler + handler.ghost_minted(), "tokens minted or burned");
    }

    /// @dev The pool's NAV is its liquid balance (its tokens less pending deposits and claimable redemptions) plus,
    /// over every open position, the funding it owes minus its unrealised PnL at the oracle price (recomputed here
    /// position by position, exactly, floored once), and the liquidity a redemption may take is min(NAV, liquid
    /// balance) - reserve (0 while a price is not fresh).
    function invariant_PoolNavMarksPositionsToMarket() public view {
        MarketId[2] memory ids = [ETH, BTC];
        int256 total; // WAD^2
        for (uint256 m; m < 2; ++m) {
            (, uint256 price) = engine.oracleStatus(ids[m]);
            (int256 index,, uint256 lastPrice) = engine.fundingState(ids[m]);
            if (price == 0) price = lastPrice;
            uint256 n = engine.openPositionCount(ids[m]);
            int256 skew;
            for (uint256 i; i < n; ++i) {
                Position memory p = engine.getPosition(engine.openPositionAt(ids[m], i), ids[m]);
                int256 size = p.size;
                skew += size;
                total += size * (index - p.fundingIndex) - size * (int256(price) - int256(uint256(p.entryPrice)));
            }
            total -= int256(_unwindPremium(price, skew, engine.exposureParams(ids[m]).impactSkewScale));
        }
        int256 d = int256(WAD * SCALE);
        int256 value = total / d;
        if (total < 0 && value * d != total) --value;
        uint256 balance =
            token.balanceOf(address(pool)) - pool.totalPendingDepositAssets() - pool.totalClaimableRedeemAssets();
        assertEq(pool.liquidBalance(), balance, "liquid balance");
        int256 nav = int256(balance) + value;
        assertEq(pool.totalAssets(), nav > 0 ? uint256(nav) : 0, "pool NAV != liquid balance + mark to market");
        (int256 engineValue, bool fresh) = engine.poolMarkToMarket();
        assertEq(engineValue, value, "engine mark to market != sum over positions");
        uint256 cap = Math.min(pool.totalAssets(), balance);
        uint256 reserved = engine.reservedAssets();
        uint256 expected = fresh && cap > reserved ? cap - reserved : 0;
        assertEq(pool.availableLiquidity(), expected, "available liquidity != min(NAV, liquid balance) - reserve");
        // The caps' base: the liquid balance times the share of the supply not pending redemption.
        uint256 supply = pool.totalSupply();
        uint256 capacity = supply == 0 ? 0 : Math.mulDiv(balance, supply - pool.totalPendingRedeemShares(), supply);
        assertEq(pool.capacity(), capacity, "capacity != liquid balance * (supply - pending redemptions) / supply");
    }

    /// @dev Property 2: every successful liquidation was of a position with HF < 1 (lens and engine, checked before
    /// the call), and every attempted liquidation of a position with HF < 1 at a fresh price succeeded.
    function invariant_NoHealthyLiquidation() public view {
        assertEq(handler.violations(0), 0, handler.firstViolation(0));
    }

    /// @dev Property 3: after each partial liquidation the lens health factor at the same price is >= target.
    function invariant_PartialReachesTarget() public view {
        assertEq(handler.violations(1), 0, handler.firstViolation(1));
    }

    /// @dev Property 4: on every liquidation and close the trader's free balance never decreases (nothing beyond the
    /// position's collateral is taken), a negative position value shows up as exactly that bad debt in
    /// ShortfallCovered, covered in full by insurance then pool, and the token flows match the events.
    function invariant_LossCappedAtCollateral() public view {
        assertEq(handler.violations(2), 0, handler.firstViolation(2));
        assertEq(
            handler.ghost_coveredByInsurance() + handler.ghost_coveredByPool(),
            handler.ghost_badDebt() + handler.ghost_keeperTopUp(),
            "covered != bad debt + keeper top-ups"
        );
    }

    /// @dev For positions produced by arbitrary histories, with the 18-decimal feed set exactly to the lens
    /// liquidation price L the engine does not liquidate, and one wei past it (long: L - 1, short: L + 1) it does.
    function invariant_LiquidationPriceIsExactBoundary() public view {
        assertEq(handler.violations(3), 0, handler.firstViolation(3));
    }

    /// @dev Open interest, position count and list, total open notional and the pool reserve match the positions.
    function invariant_PositionBookkeeping() public view {
        address[4] memory traders = handler.traders();
        MarketId[2] memory ids = [ETH, BTC];
        uint256 notional;
        for (uint256 m; m < 2; ++m) {
            uint256 longOI;
            uint256 shortOI;
            uint256 exactNotional;
            uint256 open;
            for (uint256 t; t < 4; ++t) {
                Position memory p = engine.getPosition(traders[t], ids[m]);
                if (p.size == 0) {
                    assertEq(p.collateral, 0, "empty position with collateral");
                    continue;
                }
                ++open;
                // Ghost sets: every open position belongs to a touched actor on a touched market.
                assertTrue(handler.isTouchedActor(traders[t]), "position of an untouched actor");
                assertTrue(handler.isTouchedMarket(MarketId.unwrap(ids[m])), "position on an untouched market");
                uint256 abs = p.size > 0 ? uint256(int256(p.size)) : uint256(-int256(p.size));
                if (p.size > 0) longOI += abs;
                else shortOI += abs;
                exactNotional += abs * p.entryPrice;
                assertEq(engine.openPositionAt(ids[m], p.index - 1), traders[t], "position index does not point back");
            }
            notional += Math.ceilDiv(exactNotional, WAD); // rounded up once per market
            (uint256 engineLongOI, uint256 engineShortOI) = engine.openInterest(ids[m]);
            assertEq(engineLongOI, longOI, "long open interest");
            assertEq(engineShortOI, shortOI, "short open interest");
            assertEq(engine.openPositionCount(ids[m]), open, "open position count");
        }
        assertEq(engine.totalOpenNotional(), notional, "total open notional");
        assertEq(
            engine.reservedAssets(),
            Math.ceilDiv(Math.mulDiv(notional, engine.reserveFactor(), WAD, Math.Rounding.Ceil), SCALE),
            "reserved assets"
        );
    }

    /* ----------------------------------------------------------------- helpers */

    /// @dev Impact premium that unwinding `skew` to zero pays back, WAD^2 USD rounded up, written independently:
    /// price * min(|s|, c)^2 / (2 S) + price * m * max(|s| - c, 0) with c = m S (m = 1%), as one rational.
    function _unwindPremium(uint256 price, int256 skew, uint256 scale) internal pure returns (uint256) {
        if (scale == 0) return 0;
        uint256 s = skew >= 0 ? uint256(skew) : uint256(-skew);
        // In units of 1 / (200 * S * WAD): inner = 100 s^2 * WAD ... kept exact via mulDiv on the two regimes.
        if (s * 100 <= scale) return Math.mulDiv(price * s, s, 2 * scale, Math.Rounding.Ceil);
        // c = S / 100 may be fractional: price * (c^2 / (2S) + (s - c) / 100) = price * (s / 100 - S / 20000).
        return Math.mulDiv(price, 200 * s - scale, 20_000, Math.Rounding.Ceil);
    }

    function _allHolders() internal view returns (address[] memory all) {
        address[] memory h = handler.accounts();
        address[5] memory base = [alice, bob, carol, keeper, lp];
        all = new address[](h.length + base.length + 1);
        for (uint256 i; i < h.length; ++i) {
            all[i] = h[i];
        }
        for (uint256 i; i < base.length; ++i) {
            all[h.length + i] = base[i];
        }
        all[all.length - 1] = address(handler);
    }
}
