// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IPyth} from "@pythnetwork/pyth-sdk-solidity/IPyth.sol";
import {PythStructs} from "@pythnetwork/pyth-sdk-solidity/PythStructs.sol";

import {TidemarkEngine} from "../../../contracts/core/TidemarkEngine.sol";
import {RiskLib} from "../../../contracts/libraries/RiskLib.sol";
import {ILiquidityPool} from "../../../contracts/interfaces/ILiquidityPool.sol";
import {ITidemarkEngine} from "../../../contracts/interfaces/ITidemarkEngine.sol";
import {TidemarkLens} from "../../../contracts/lens/TidemarkLens.sol";
import {LiquidityPool} from "../../../contracts/pool/LiquidityPool.sol";
import {InsuranceFund} from "../../../contracts/pool/InsuranceFund.sol";
import {MockERC20} from "../../../contracts/test/MockERC20.sol";
import {MarketId} from "../../../contracts/types/MarketId.sol";
import {OracleStatus, OrderParams, Position, PositionHealth} from "../../../contracts/types/DataTypes.sol";

import {TestUtils} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Drives the protocol with bounded random actions for the invariant suite and checks the per-action design
/// properties (liquidation only below HF 1 and always then, partial liquidations reach the target, losses capped at
/// the position's collateral with any shortfall covered) into ghost variables that the invariants read.
/// @dev failOnRevert is on: every engine call is wrapped in try/catch and only the custom errors the action can
/// legitimately hit are swallowed; anything else is re-thrown with its original data (like Liquity v2's
/// InvariantsTestHandler), failing the run.
/// Prices stay within [ref / 2, 2 * ref] and positions within a size cap, so the pool (5M USD, never withdrawn below
/// its base deposit) can always pay trader profits: a pool that cannot pay is then an unexpected failure, not noise.
/// LPs go through the pool's ERC-7540 flow: request a deposit or a redemption, fulfilment (by the handler, which pays
/// MockPyth's update fee in ETH and receives the execution fee) after the minimum delay at Pyth prices equal to
/// Chainlink's, claims by assets or by shares, and cancellation of expired requests; each step checks its exact
/// amounts.
contract TidemarkHandler is TestUtils {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant SCALE = 1e12; // 6-decimal collateral token
    uint256 internal constant N_TRADERS = 4;
    uint256 internal constant N_MARKETS = 2;

    // Property ids for violations.
    uint256 internal constant P_NO_HEALTHY_LIQ = 0; // liquidated only when HF < 1, always when HF < 1
    uint256 internal constant P_PARTIAL_TARGET = 1; // partial liquidation leaves HF >= target
    uint256 internal constant P_LOSS_CAPPED = 2; // free balance never decreases on liquidation/close; shortfall covered
    uint256 internal constant P_LIQ_PRICE = 3; // the lens liquidation price is the engine's exact boundary
    uint256 internal constant N_PROPS = 4;
    /// @dev The pool's virtual shares (decimals offset 6).
    uint256 internal constant VIRTUAL_SHARES = 1e6;

    TidemarkEngine public immutable engine;
    TidemarkLens public immutable lens;
    MockERC20 public immutable token;
    LiquidityPool public immutable pool;
    InsuranceFund public immutable insurance;
    address public immutable guardian;

    MarketId[N_MARKETS] internal _markets;
    MockV3Aggregator[N_MARKETS] internal _feeds;
    uint256[N_MARKETS] internal _feedUnit; // WAD per feed answer unit
    uint256[N_MARKETS] internal _refPrice; // prices move within [ref / 2, 2 * ref]
    uint256[N_MARKETS] internal _maxAbsSize; // per-position size cap: |size| * (2 ref - ref / 2) <= 450k USD

    address[N_TRADERS] internal _traders;
    address public keeper;
    address[2] internal _lps;

    /* ----------------------------------------------------------------- ghost state */

    // Actors and markets touched by a successful state-changing action.
    mapping(address => bool) public isTouchedActor;
    address[] internal _touchedActors;
    mapping(bytes32 => bool) public isTouchedMarket;
    MarketId[] internal _touchedMarkets;

    // Coverage counters (successful actions), to judge whether the campaign reaches the interesting states.
    mapping(bytes32 => uint256) public count;

    // First violation message and number of violations per property.
    string[N_PROPS] internal _firstViolation;
    uint256[N_PROPS] public violations;

    // Totals over successful liquidations and closes (token units).
    uint256 public ghost_badDebt;
    uint256 public ghost_keeperTopUp;
    uint256 public ghost_coveredByInsurance;
    uint256 public ghost_coveredByPool;
    uint256 public ghost_minted; // tokens minted to actors to keep them funded

    /// @dev State of one (trader, market) pair before a liquidation or close.
    struct Snap {
        int256 size;
        uint256 collateral;
        uint256 entry;
        uint256 free;
        uint256 wallet;
        uint256 hf;
        bool liquidatable; // engine.isLiquidatable
        int256 funding; // token units the position owes (received if negative) at the index accrued to this block
    }

    struct Flows {
        uint256 insuranceBefore;
        uint256 poolBefore;
        uint256 keeperFreeBefore;
        int256 penalties;
        int256 realizedPnl;
        int256 rewards;
        int256 fromInsurance;
        int256 fromPool;
    }

    constructor(
        TidemarkEngine engine_,
        TidemarkLens lens_,
        MockERC20 token_,
        LiquidityPool pool_,
        InsuranceFund insurance_,
        address guardian_,
        MarketId[N_MARKETS] memory markets_,
        MockV3Aggregator[N_MARKETS] memory feeds_,
        uint256[N_MARKETS] memory refPrices_
    ) {
        engine = engine_;
        lens = lens_;
        token = token_;
        pool = pool_;
        insurance = insurance_;
        guardian = guardian_;
        for (uint256 m; m < N_MARKETS; ++m) {
            _markets[m] = markets_[m];
            _feeds[m] = feeds_[m];
            _feedUnit[m] = 10 ** (18 - feeds_[m].decimals());
            _refPrice[m] = refPrices_[m];
            _maxAbsSize[m] = 450_000e18 * WAD / (2 * refPrices_[m] - refPrices_[m] / 2);
        }
        for (uint256 i; i < N_TRADERS; ++i) {
            _traders[i] = address(uint160(0x7000 + i));
            vm.label(_traders[i], string.concat("trader", _u(i)));
            _fundWallet(_traders[i], 1_000_000e6);
        }
        keeper = address(0x4EE9);
        vm.label(keeper, "keeper");
        _lps[0] = address(0x1900);
        _lps[1] = address(0x1901);
        for (uint256 i; i < 2; ++i) {
            vm.label(_lps[i], string.concat("lp", _u(i)));
            _fundWallet(_lps[i], 1_000_000e6);
        }
        // The engine pulls with transferFrom, the pool too.
        address[7] memory all = [_traders[0], _traders[1], _traders[2], _traders[3], keeper, _lps[0], _lps[1]];
        for (uint256 i; i < all.length; ++i) {
            vm.startPrank(all[i]);
            token.approve(address(engine), type(uint256).max);
            token.approve(address(pool), type(uint256).max);
            vm.stopPrank();
        }
        // MockPyth's update fees (1 wei per update) for the fulfilments the handler makes.
        vm.deal(address(this), 1_000 ether);
        vm.recordLogs();
    }

    /* =================================================================== actions */

    function deposit(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        amount = bound(amount, 1, 200_000e6);
        _ensureWallet(a, amount);
        vm.prank(a);
        try engine.deposit(amount) {
            _touch(a);
            ++count["deposit"];
        } catch (bytes memory err) {
            _rethrow(err);
        }
    }

    function withdraw(uint256 actorSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        uint256 free = engine.freeBalance(a);
        if (free == 0) return;
        amount = bound(amount, 1, free);
        uint256 walletBefore = token.balanceOf(a);
        vm.prank(a);
        try engine.withdraw(amount) {
            _touch(a);
            ++count["withdraw"];
            assertEq(token.balanceOf(a), walletBefore + amount, "withdraw: tokens not received");
        } catch (bytes memory err) {
            _rethrow(err);
        }
    }

    /// @dev Opens or increases. Leverage is near the maximum most of the time (so small moves liquidate), sometimes
    /// below the initial margin (expected PerpInsufficientMargin), sometimes low.
    function openOrIncrease(uint256 actorSeed, uint256 marketSeed, uint256 sizeSeed, uint256 levSeed, bool long)
        external
    {
        address a = _trader(actorSeed);
        uint256 m = marketSeed % N_MARKETS;
        MarketId id = _markets[m];
        uint256 price = _price(m);
        int256 size = engine.getPosition(a, id).size;
        if (size != 0) long = size > 0;
        uint256 room = _maxAbsSize[m] - _abs(size);
        uint256 minAdd = Math.ceilDiv(20e18 * WAD, price); // 20 USD: clear of the 10 USD minimum after a move
        if (room < minAdd) return;
        uint256 add = bound(sizeSeed, minAdd, room);
        uint256 n36 = add * price;
        // Initial margin of the whole position at this price (marginal tiers), plus open and close fees.
        uint256 newN36 = (_abs(size) + add) * price;
        uint256 fees = Math.ceilDiv(newN36 * 2 * engine.riskParams(id).takerFeeRate, 1e36 * SCALE); // open + close
        uint256 im = Math.ceilDiv(RiskLib.requirement36(engine.marginTiers(id), newN36, true), SCALE * WAD) + fees + 1;
        uint256 r = levSeed % 10;
        uint256 collateral;
        if (r < 6) collateral = bound(levSeed >> 8, im, im + im / 2); // near max leverage
        else if (r < 7) collateral = bound(levSeed >> 8, im / 2, im); // at or below IM
        else collateral = bound(levSeed >> 8, im, n36 / (SCALE * WAD) + im); // up to ~1x
        _ensureFree(a, collateral);
        int256 delta = long ? int256(add) : -int256(add);
        uint256 acceptable = long ? type(uint256).max : 0;
        vm.prank(a);
        try engine.modifyPosition(id, delta, int256(collateral), acceptable) {
            _touch(a);
            _touchMarket(id);
            ++count[size == 0 ? bytes32("open") : bytes32("increase")];
        } catch (bytes memory err) {
            bytes4[] memory ok = new bytes4[](3);
            ok[0] = ITidemarkEngine.PerpInsufficientMargin.selector;
            ok[1] = ITidemarkEngine.PerpMarketPaused.selector;
            ok[2] = ITidemarkEngine.PerpOpenInterestCapExceeded.selector;
            _expectOneOf(err, ok);
            ++count["openRejected"];
        }
    }

    /// @dev Partial decrease, optionally moving collateral out (needs IM) or in; occasionally an over-sized delta that
    /// must be rejected as a flip.
    function decrease(uint256 actorSeed, uint256 marketSeed, uint256 fractionSeed, uint256 collSeed) external {
        (bool found, address a, uint256 m, Position memory p) = _pickPosition(actorSeed, marketSeed);
        if (!found) return;
        MarketId id = _markets[m];
        uint256 absSize = _abs(p.size);
        if (absSize < 2) return;
        bool flip = fractionSeed % 16 == 0;
        uint256 cut = flip ? absSize + 1 + (fractionSeed >> 8) % absSize : bound(fractionSeed >> 8, 1, absSize - 1);
        int256 delta = p.size > 0 ? -int256(cut) : int256(cut);
        int256 collDelta;
        uint256 k = collSeed % 4;
        if (k == 1) collDelta = -int256(bound(collSeed >> 8, 1, uint256(p.collateral) / 2 + 1));
        else if (k == 2) {
            uint256 add = bound(collSeed >> 8, 1, 10_000e6);
            _ensureFree(a, add);
            collDelta = int256(add);
        }
        uint256 acceptable = delta > 0 ? type(uint256).max : 0;
        vm.prank(a);
        try engine.modifyPosition(id, delta, collDelta, acceptable) {
            assertFalse(flip, "decrease: a flip was accepted");
            _touch(a);
            ++count["decrease"];
        } catch (bytes memory err) {
            if (flip) {
                assertEq(bytes4(err), ITidemarkEngine.PerpPositionFlip.selector, "decrease: flip not rejected as flip");
                return;
            }
            bytes4[] memory ok = new bytes4[](3);
            ok[0] = ITidemarkEngine.PerpPositionTooSmall.selector;
            ok[1] = ITidemarkEngine.PerpHealthWorsened.selector;
            ok[2] = ITidemarkEngine.PerpInsufficientMargin.selector;
            _expectOneOf(err, ok);
            ++count["decreaseRejected"];
        }
    }

    /// @dev Full close, through closePosition or modifyPosition(-size). Must always succeed at a fresh price.
    function close(uint256 actorSeed, uint256 marketSeed, bool viaModify) external {
        (bool found, address a, uint256 m, Position memory p) = _pickPosition(actorSeed, marketSeed);
        if (!found) return;
        MarketId id = _markets[m];
        Snap memory pre = _snap(a, m, false);
        Flows memory f = _flowsBefore();
        // The close fills at the oracle price moved by the impact of removing this position's size from the skew.
        uint256 price = _fillPrice(m, -int256(p.size));
        uint256 acceptable = p.size > 0 ? 0 : type(uint256).max;
        vm.getRecordedLogs(); // clear
        vm.prank(a);
        if (viaModify) {
            // Success needs no action; a revert is rethrown below.
            // solhint-disable-next-line no-empty-blocks
            try engine.modifyPosition(id, -int256(p.size), 0, acceptable) {}
            catch (bytes memory err) {
                _rethrow(err);
            }
        } else {
            // Success needs no action; a revert is rethrown below.
            // solhint-disable-next-line no-empty-blocks
            try engine.closePosition(id, acceptable) {}
            catch (bytes memory err) {
                _rethrow(err);
            }
        }
        ++count["close"];
        _checkClose(a, m, pre, f, price);
    }

    function addCollateral(uint256 actorSeed, uint256 marketSeed, uint256 amount) external {
        (bool found, address a, uint256 m,) = _pickPosition(actorSeed, marketSeed);
        if (!found) return;
        MarketId id = _markets[m];
        amount = bound(amount, 1, 20_000e6);
        _ensureFree(a, amount);
        vm.prank(a);
        try engine.addCollateral(id, amount) {
            ++count["addCollateral"];
        } catch (bytes memory err) {
            _rethrow(err);
        }
    }

    function removeCollateral(uint256 actorSeed, uint256 marketSeed, uint256 amount) external {
        (bool found, address a, uint256 m, Position memory p) = _pickPosition(actorSeed, marketSeed);
        if (!found || p.collateral == 0) return;
        MarketId id = _markets[m];
        amount = bound(amount, 1, p.collateral);
        uint256 freeBefore = engine.freeBalance(a);
        vm.prank(a);
        try engine.removeCollateral(id, amount) {
            ++count["removeCollateral"];
            assertEq(engine.freeBalance(a), freeBefore + amount, "removeCollateral: free balance");
        } catch (bytes memory err) {
            bytes4[] memory ok = new bytes4[](1);
            ok[0] = ITidemarkEngine.PerpInsufficientMargin.selector;
            _expectOneOf(err, ok);
            ++count["removeRejected"];
        }
    }

    /// @dev Moves a market's price: mostly by up to +-1.5%, sometimes +-5%, rarely a gap of up to +-40%; always
    /// within [ref / 2, 2 * ref]. Amounts in 1e-6 (ppm) so small moves have resolution.
    function movePrice(uint256 marketSeed, uint256 moveSeed) external {
        uint256 m = marketSeed % N_MARKETS;
        uint256 r = moveSeed % 10;
        uint256 maxPpm = r < 6 ? 15_000 : (r < 9 ? 50_000 : 400_000);
        int256 ppm = bound(int256(moveSeed >> 8), -int256(maxPpm), int256(maxPpm));
        uint256 price = _price(m);
        _setClampedPrice(m, uint256(int256(price) + int256(price) * ppm / 1e6));
        ++count["movePrice"];
    }

    /// @dev Moves a market's price to just past one trader's liquidation price (overshoot 0 to 0.5% of the price,
    /// sometimes up to 3%, so partial, full and bad-debt liquidations all occur), or exactly onto it.
    /// Half of the time the keeper then liquidates that position right away.
    function movePriceToLiquidation(uint256 actorSeed, uint256 marketSeed, uint256 overshootSeed) external {
        (bool found, address a, uint256 m, Position memory p) = _pickPosition(actorSeed, marketSeed);
        if (!found) return;
        MarketId id = _markets[m];
        int256 size = p.size;
        uint256 L = lens.liquidationPrice(a, id);
        if (L == 0 || L == type(uint256).max) return;
        uint256 r = overshootSeed % 10;
        // 0, 2: exactly on L (safe); 1, 3: one wei past L (liquidatable); else past L by up to 0.5% (rarely 3%).
        uint256 over = r < 4 ? r % 2 : bound(overshootSeed >> 8, 1, L * (r < 9 ? 5 : 30) / 1_000 + 1);
        uint256 target = size > 0 ? (L > over ? L - over : 1) : L + over;
        bool exact = _setClampedPrice(m, target) && _feedUnit[m] == 1;
        ++count["moveToLiquidation"];
        // The liquidation price is the exact boundary of the engine's predicate for whatever position the history
        // produced (averaged entries, partial liquidations, collateral moves): at L safe, one wei past it liquidatable.
        if (exact && over < 2) {
            bool liq = engine.isLiquidatable(a, id);
            uint256 hf = lens.positionHealth(a, id).healthFactor;
            if (liq != (over == 1) || (hf < WAD) != liq) {
                _violate(
                    P_LIQ_PRICE,
                    string.concat(
                        _pair(_traderIndex(a), m), " at L", over == 1 ? (size > 0 ? " - 1" : " + 1") : "", " = ",
                        _u(target), ": isLiquidatable ", liq ? "true" : "false", ", lens HF ", _u(hf)
                    )
                );
            }
            ++count[over == 0 ? bytes32("boundaryAtL") : bytes32("boundaryPastL")];
        }
        uint256 follow = (overshootSeed >> 128) % 3;
        if (follow == 0) _liquidate(_traderIndex(a), m);
        else if (follow == 1) _liquidateBatch(overshootSeed >> 130, (overshootSeed >> 129) % 2 == 0, true);
    }

    /// @dev Warps by up to one heartbeat and re-posts any price that would go stale: liquidation properties are
    /// checked at fresh prices.
    function warp(uint256 dt) external {
        dt = bound(dt, 1, 3600);
        _advance(dt);
        ++count["warp"];
    }

    function _advance(uint256 dt) internal {
        vm.warp(block.timestamp + dt);
        vm.roll(block.number + 1 + dt / 12);
        for (uint256 m; m < N_MARKETS; ++m) {
            (,,, uint256 updatedAt,) = _feeds[m].latestRoundData();
            if (block.timestamp - updatedAt > 3000) _setPrice(m, _price(m));
        }
    }

    /// @dev Pauses a market (rarely) or unpauses it: opening is then rejected, everything else must still work.
    function togglePause(uint256 marketSeed) external {
        MarketId id = _markets[marketSeed % N_MARKETS];
        bool paused = engine.isMarketPaused(id);
        if (!paused && (marketSeed >> 8) % 4 != 0) return;
        vm.prank(guardian);
        engine.setMarketPaused(id, !paused);
        ++count["togglePause"];
    }

    /* --------------------------------------------------------- LP requests */

    /// @dev An LP requests a deposit of more than the execution fee (one pending request per LP: skipped otherwise).
    function lpRequestDeposit(uint256 lpSeed, uint256 amount) external {
        address lp = _lps[lpSeed % 2];
        if (pool.depositRequest(lp).amount != 0) return;
        amount = bound(amount, engine.requiredExecutionFee() + 1, 500_000e6);
        _ensureWallet(lp, amount);
        uint256 pending = pool.totalPendingDepositAssets();
        uint256 liquid = pool.liquidBalance();
        vm.prank(lp);
        try pool.requestDeposit(amount, lp, lp) {
            _touch(lp);
            ++count["lpRequestDeposit"];
        } catch (bytes memory err) {
            _rethrow(err);
        }
        assertEq(pool.totalPendingDepositAssets(), pending + amount, "requestDeposit: pending assets");
        assertEq(pool.liquidBalance(), liquid, "requestDeposit: a pending deposit entered the liquid balance");
    }

    /// @dev An LP requests the redemption of some of its shares (one pending request per LP: skipped otherwise).
    function lpRequestRedeem(uint256 lpSeed, uint256 shares) external {
        address lp = _lps[lpSeed % 2];
        uint256 held = pool.balanceOf(lp);
        if (held == 0 || pool.redeemRequest(lp).amount != 0) return;
        shares = bound(shares, 1, held);
        uint256 supply = pool.totalSupply();
        vm.prank(lp);
        try pool.requestRedeem(shares, lp, lp) {
            ++count["lpRequestRedeem"];
        } catch (bytes memory err) {
            _rethrow(err);
        }
        assertEq(pool.totalSupply(), supply, "requestRedeem: supply changed");
        assertEq(pool.balanceOf(lp), held - shares, "requestRedeem: shares not moved");
    }

    /// @dev Fulfils an LP's pending request, waiting out the minimum delay (and up to 30 s more) when needed. The
    /// handler fulfils, paying MockPyth's fee, with an update per market with open interest at its Chainlink price,
    /// published now as the first update at or after the request's ready time (its predecessor a second before it).
    /// Expired requests are left to lpCancel. A redemption may legitimately be refused for exceeding the liquidity
    /// above the reserve or for leaving the pool below what open interest needs under the caps; it then stays pending.
    /// The amounts are checked against the spec's formulas at the NAV the fulfilment reports.
    function lpFulfil(uint256 lpSeed, bool redeem, uint256 waitSeed) external {
        (bool found, address lp, bool isRedeem) = _pickRequest(lpSeed, redeem);
        if (!found) return;
        redeem = isRedeem;
        ILiquidityPool.Request memory r = redeem ? pool.redeemRequest(lp) : pool.depositRequest(lp);
        OrderParams memory p = engine.orderParams();
        uint256 readyAt = uint256(r.requestedAt) + p.minDelay;
        if (block.timestamp > uint256(r.requestedAt) + p.maxDelay) return;
        if (block.timestamp < readyAt) _advance(readyAt - block.timestamp + bound(waitSeed, 0, 30));
        bytes[] memory updates = _poolPriceUpdates(readyAt);
        uint256 value = IPyth(engine.pyth()).getUpdateFee(updates);
        uint256 supply = pool.totalSupply();
        uint256 liquid = pool.liquidBalance();
        uint256 wallet = token.balanceOf(address(this));
        ILiquidityPool.Claimable memory c0 = redeem ? pool.claimableRedeem(lp) : pool.claimableDeposit(lp);
        vm.getRecordedLogs(); // clear
        if (redeem) {
            try pool.fulfillRedeem{value: value}(lp, updates) returns (uint256 assets) {
                ++count["lpFulfilRedeem"];
                uint256 nav = _fulfilledNav(ILiquidityPool.RedeemFulfilled.selector);
                assertEq(assets, Math.mulDiv(r.amount, nav + 1, supply + VIRTUAL_SHARES), "fulfillRedeem: assets");
                uint256 fee = Math.min(r.fee, assets);
                ILiquidityPool.Claimable memory c1 = pool.claimableRedeem(lp);
                assertEq(c1.assets, c0.assets + assets - fee, "fulfillRedeem: claimable assets");
                assertEq(c1.shares, c0.shares + r.amount, "fulfillRedeem: claimable shares");
                assertEq(pool.totalSupply(), supply - r.amount, "fulfillRedeem: shares not burnt");
                assertEq(pool.liquidBalance(), liquid - assets, "fulfillRedeem: liquid balance");
                assertEq(token.balanceOf(address(this)), wallet + fee, "fulfillRedeem: fee not paid");
            } catch (bytes memory err) {
                bytes4[] memory ok = new bytes4[](2);
                ok[0] = ILiquidityPool.VaultInsufficientLiquidity.selector;
                ok[1] = ILiquidityPool.VaultCapacityBelowOpenInterest.selector;
                _expectOneOf(err, ok);
                ++count["lpFulfilRedeemRejected"];
            }
        } else {
            try pool.fulfillDeposit{value: value}(lp, updates) returns (uint256 shares) {
                ++count["lpFulfilDeposit"];
                uint256 nav = _fulfilledNav(ILiquidityPool.DepositFulfilled.selector);
                uint256 net = r.amount - r.fee;
                assertEq(shares, Math.mulDiv(net, supply + VIRTUAL_SHARES, nav + 1), "fulfillDeposit: shares");
                ILiquidityPool.Claimable memory c1 = pool.claimableDeposit(lp);
                assertEq(c1.assets, c0.assets + net, "fulfillDeposit: claimable assets");
                assertEq(c1.shares, c0.shares + shares, "fulfillDeposit: claimable shares");
                assertEq(pool.totalSupply(), supply + shares, "fulfillDeposit: shares not minted");
                assertEq(pool.liquidBalance(), liquid + net, "fulfillDeposit: liquid balance");
                assertEq(token.balanceOf(address(this)), wallet + r.fee, "fulfillDeposit: fee not paid");
            } catch (bytes memory err) {
                _rethrow(err);
            }
        }
        assertEq(address(pool).balance, 0, "the pool kept ETH");
    }

    /// @dev An LP claims part or all of a fulfilled deposit (shares) or redemption (assets), by assets or by shares;
    /// the other amount is the claimable's rate rounded for the pool (shares received and assets paid down, assets and
    /// shares used up), and exactly what is left when claiming everything.
    function lpClaim(uint256 lpSeed, bool redeem, bool byShares, uint256 amountSeed) external {
        address lp;
        ILiquidityPool.Claimable memory c;
        // The first LP and direction with something to claim, from the seeded one.
        for (uint256 k; k < 4; ++k) {
            lp = _lps[(lpSeed % 2 + k / 2) % 2];
            bool r = k % 2 == 0 ? redeem : !redeem;
            c = r ? pool.claimableRedeem(lp) : pool.claimableDeposit(lp);
            if (c.assets != 0 || c.shares != 0) {
                redeem = r;
                break;
            }
        }
        if (c.assets == 0 && c.shares == 0) return;
        if (c.assets == 0) byShares = true;
        if (c.shares == 0) byShares = false;
        uint256 max = byShares ? c.shares : c.assets;
        uint256 amount = amountSeed % 4 == 0 ? max : bound(amountSeed >> 2, 1, max);
        // Shares received (deposit by assets) and assets paid (redemption by shares) round down; assets used (deposit
        // by shares) and shares used (redemption by assets) round up.
        uint256 other;
        if (amount == max) other = byShares ? c.assets : c.shares;
        else if (byShares) other = Math.mulDiv(amount, c.assets, c.shares, redeem ? Math.Rounding.Floor : Math.Rounding.Ceil);
        else other = Math.mulDiv(amount, c.shares, c.assets, redeem ? Math.Rounding.Ceil : Math.Rounding.Floor);
        (uint256 assets, uint256 shares) = byShares ? (other, amount) : (amount, other);
        uint256 wallet = token.balanceOf(lp);
        uint256 held = pool.balanceOf(lp);
        vm.prank(lp);
        uint256 out;
        if (redeem && byShares) out = pool.redeem(shares, lp, lp);
        else if (redeem) out = pool.withdraw(assets, lp, lp);
        else if (byShares) out = pool.mint(shares, lp, lp);
        else out = pool.deposit(assets, lp, lp);
        assertEq(out, other, "claim: returned amount");
        ILiquidityPool.Claimable memory c1 = redeem ? pool.claimableRedeem(lp) : pool.claimableDeposit(lp);
        assertEq(c1.assets, c.assets - assets, "claim: claimable assets");
        assertEq(c1.shares, c.shares - shares, "claim: claimable shares");
        if (redeem) assertEq(token.balanceOf(lp), wallet + assets, "claim: assets not paid");
        else assertEq(pool.balanceOf(lp), held + shares, "claim: shares not received");
        ++count[redeem ? bytes32("lpClaimRedeem") : bytes32("lpClaimDeposit")];
    }

    /// @dev Cancels an LP's pending request once expired (warping past its expiry; the keeper cancels, anyone may):
    /// the assets or shares return to the LP.
    function lpCancel(uint256 lpSeed, bool redeem) external {
        (bool found, address lp, bool isRedeem) = _pickRequest(lpSeed, redeem);
        if (!found) return;
        redeem = isRedeem;
        ILiquidityPool.Request memory r = redeem ? pool.redeemRequest(lp) : pool.depositRequest(lp);
        uint256 expiresAt = uint256(r.requestedAt) + engine.orderParams().maxDelay;
        if (block.timestamp <= expiresAt) _advance(expiresAt + 1 - block.timestamp);
        uint256 wallet = token.balanceOf(lp);
        uint256 held = pool.balanceOf(lp);
        vm.prank(keeper);
        if (redeem) {
            try pool.cancelRedeemRequest(lp) {
                assertEq(pool.balanceOf(lp), held + r.amount, "cancelRedeemRequest: shares not returned");
            } catch (bytes memory err) {
                _rethrow(err);
            }
        } else {
            try pool.cancelDepositRequest(lp) {
                assertEq(token.balanceOf(lp), wallet + r.amount, "cancelDepositRequest: assets not returned");
            } catch (bytes memory err) {
                _rethrow(err);
            }
        }
        ++count[redeem ? bytes32("lpCancelRedeem") : bytes32("lpCancelDeposit")];
    }

    /// @dev Liquidates one position: most of the time a currently liquidatable one when there is any.
    function liquidate(uint256 actorSeed, uint256 marketSeed, bool pickLiquidatable) external {
        uint256 t = actorSeed % N_TRADERS;
        uint256 m = marketSeed % N_MARKETS;
        if (pickLiquidatable) {
            for (uint256 k; k < N_TRADERS * N_MARKETS; ++k) {
                uint256 j = (t * N_MARKETS + m + k) % (N_TRADERS * N_MARKETS);
                if (engine.isLiquidatable(_traders[j / N_MARKETS], _markets[j % N_MARKETS])) {
                    (t, m) = (j / N_MARKETS, j % N_MARKETS);
                    break;
                }
            }
        }
        _liquidate(t, m);
    }

    function _liquidate(uint256 t, uint256 m) internal {
        Snap[] memory pre = _snapAll();
        Snap memory s = pre[t * N_MARKETS + m];
        Flows memory f = _flowsBefore();
        address a = _traders[t];
        MarketId id = _markets[m];
        vm.getRecordedLogs(); // clear
        vm.prank(keeper);
        try engine.liquidate(a, id) {
            ++count["liquidate"];
        } catch (bytes memory err) {
            if (s.size != 0 && s.hf < WAD) {
                _violate(
                    P_NO_HEALTHY_LIQ,
                    string.concat("liquidation of ", _pair(t, m), " with HF ", _u(s.hf), " reverted: ", _hex(err))
                );
                return;
            }
            bytes4[] memory ok = new bytes4[](2);
            ok[0] = ITidemarkEngine.PerpPositionHealthy.selector;
            ok[1] = ITidemarkEngine.PerpNoPosition.selector;
            _expectOneOf(err, ok);
            ++count["liquidateRejected"];
            return;
        }
        if (_checkLiquidations(pre, f) != 1) _violate(P_NO_HEALTHY_LIQ, "liquidate(): not exactly one PositionLiquidated");
    }

    /// @dev Batch over a random subset of the (trader, market) pairs (half of the time with every liquidatable pair
    /// added), sometimes with a duplicate entry.
    function liquidateBatch(uint256 mask, bool duplicate) external {
        _liquidateBatch(mask, duplicate, (mask >> 128) % 2 == 0);
    }

    function _liquidateBatch(uint256 mask, bool duplicate, bool addLiquidatable) internal {
        uint256 pairs = N_TRADERS * N_MARKETS;
        mask = bound(mask, 1, 2 ** pairs - 1);
        if (addLiquidatable) {
            for (uint256 j; j < pairs; ++j) {
                if (engine.isLiquidatable(_traders[j / N_MARKETS], _markets[j % N_MARKETS])) mask |= 1 << j;
            }
        }
        uint256 n;
        for (uint256 j; j < pairs; ++j) {
            if (mask >> j & 1 == 1) ++n;
        }
        address[] memory accts = new address[](duplicate ? n + 1 : n);
        MarketId[] memory ids = new MarketId[](accts.length);
        Snap[] memory pre = _snapAll();
        uint256 expected;
        uint256 k;
        for (uint256 j; j < pairs; ++j) {
            if (mask >> j & 1 == 0) continue;
            accts[k] = _traders[j / N_MARKETS];
            ids[k++] = _markets[j % N_MARKETS];
            if (pre[j].size != 0 && pre[j].hf < WAD) ++expected;
        }
        if (duplicate) {
            accts[n] = accts[0];
            ids[n] = ids[0];
        }
        Flows memory f = _flowsBefore();
        vm.getRecordedLogs(); // clear
        vm.prank(keeper);
        uint256 liquidated;
        try engine.liquidateBatch(accts, ids) returns (uint256 n_) {
            liquidated = n_;
            ++count["liquidateBatch"];
        } catch (bytes memory err) {
            if (expected != 0) {
                _violate(
                    P_NO_HEALTHY_LIQ,
                    string.concat("batch with ", _u(expected), " liquidatable positions reverted: ", _hex(err))
                );
                return;
            }
            bytes4[] memory ok = new bytes4[](1);
            ok[0] = ITidemarkEngine.PerpNothingLiquidated.selector;
            _expectOneOf(err, ok);
            ++count["liquidateBatchRejected"];
            return;
        }
        // Property 2, second half: every requested pair below HF 1 is liquidated (none skipped), nothing else.
        uint256 events = _checkLiquidations(pre, f);
        if (liquidated != expected || events != expected) {
            _violate(
                P_NO_HEALTHY_LIQ,
                string.concat(
                    "batch liquidated ", _u(liquidated), " positions (", _u(events), " events), expected ", _u(expected)
                )
            );
        }
    }

    /* ======================================================= property checking */

    /// @dev Checks every PositionLiquidated of the last call against the state before it (properties 2, 3, 4) and the
    /// call's token flows (insurance, pool, keeper) against the events.
    function _checkLiquidations(Snap[] memory pre, Flows memory f) internal returns (uint256 events) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 liqTopic = ITidemarkEngine.PositionLiquidated.selector;
        uint256[] memory returned = new uint256[](N_TRADERS);
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(engine) || logs[i].topics[0] != liqTopic) continue;
            _processLiquidationLog(logs, i, pre, f, returned);
            ++events;
        }
        // Property 4: a liquidated trader's free balance only grows, by exactly what the liquidations returned, and
        // nothing is pulled from the wallet.
        for (uint256 t; t < N_TRADERS; ++t) {
            address a = _traders[t];
            Snap memory s0 = pre[t * N_MARKETS];
            uint256 freeAfter = engine.freeBalance(a);
            if (freeAfter < s0.free) {
                _violate(P_LOSS_CAPPED, string.concat("liquidation: trader", _u(t), " free balance decreased by ", _u(s0.free - freeAfter)));
            } else if (freeAfter != s0.free + returned[t]) {
                _violate(P_LOSS_CAPPED, string.concat("liquidation: trader", _u(t), " free balance != before + returned"));
            }
            if (token.balanceOf(a) != s0.wallet) _violate(P_LOSS_CAPPED, string.concat("liquidation: trader", _u(t), " wallet changed"));
        }
        _checkFlows(logs, f);
    }

    /// @dev Data of a PositionLiquidated event.
    struct Liq {
        uint256 closed;
        uint256 price;
        int256 pnl;
        uint256 reward;
        uint256 penalty;
        int256 remaining;
        uint256 returned;
    }

    function _processLiquidationLog(
        Vm.Log[] memory logs,
        uint256 i,
        Snap[] memory pre,
        Flows memory f,
        uint256[] memory returned
    ) internal {
        Vm.Log memory log = logs[i];
        (uint256 t, uint256 m) = _pairOf(address(uint160(uint256(log.topics[1]))), log.topics[2]);
        if (address(uint160(uint256(log.topics[3]))) != keeper) _violate(P_NO_HEALTHY_LIQ, "liquidator != caller");
        Liq memory e = abi.decode(log.data, (Liq));
        returned[t] += e.returned;
        _checkOneLiquidation(logs, e, t, m, pre[t * N_MARKETS + m], f);
    }

    function _checkOneLiquidation(Vm.Log[] memory logs, Liq memory e, uint256 t, uint256 m, Snap memory s, Flows memory f)
        internal
    {
        uint256 closed = e.closed;
        uint256 price = e.price;
        int256 pnl = e.pnl;
        uint256 reward = e.reward;
        uint256 penalty = e.penalty;
        int256 remaining = e.remaining;
        uint256 returned = e.returned;
        address a = _traders[t];
        MarketId id = _markets[m];
        string memory tag = _pair(t, m);
        f.penalties += int256(penalty);
        f.realizedPnl += pnl - s.funding; // the trader's result against the pool, funding included
        f.rewards += int256(reward);
        ++count["liquidated"];

        // Property 2: only below HF 1 (checked on the lens and the engine before the call), at the oracle price.
        if (s.size == 0 || s.hf >= WAD || !s.liquidatable) {
            _violate(P_NO_HEALTHY_LIQ, string.concat("liquidated ", tag, " that was not liquidatable, HF ", _u(s.hf)));
        }
        if (price != _price(m)) _violate(P_NO_HEALTHY_LIQ, string.concat("liquidated ", tag, " off the oracle price"));

        // Realised PnL on the closed size, floored to token units.
        int256 signedClose = s.size > 0 ? int256(closed) : -int256(closed);
        int256 expPnl = _floorDiv(signedClose * (int256(price) - int256(s.entry)), WAD * SCALE);
        if (pnl != expPnl) _violate(P_LOSS_CAPPED, string.concat("liquidation ", tag, ": realised PnL off"));

        Position memory post = engine.getPosition(a, id);
        (bool hasShortfall, uint256 badDebt, uint256 topUp) = _shortfallOf(logs, a, id);

        if (remaining != 0) {
            ++count["partialLiquidation"];
            // Property 3: a partial liquidation restores at least the target health factor at the same price.
            uint256 target = engine.riskParams(id).targetHealthFactor;
            uint256 hfAfter = lens.positionHealthAt(a, id, price).healthFactor;
            if (hfAfter < target) {
                _violate(P_PARTIAL_TARGET, string.concat("partial liquidation of ", tag, " left HF ", _u(hfAfter), " < target ", _u(target)));
            }
            if (post.size != remaining || _abs(remaining) >= _abs(s.size) || (remaining > 0) != (s.size > 0)) {
                _violate(P_PARTIAL_TARGET, string.concat("partial liquidation of ", tag, ": remaining size inconsistent"));
            }
            // Reward and penalty come out of the position's collateral, the rest stays with it.
            int256 expColl = int256(s.collateral) + pnl - s.funding - int256(reward) - int256(penalty);
            if (expColl < 0 || uint256(post.collateral) != uint256(expColl)) {
                _violate(P_LOSS_CAPPED, string.concat("partial liquidation of ", tag, ": collateral not collateral + pnl - funding - reward - penalty"));
            }
            if (returned != 0 || hasShortfall) {
                _violate(P_LOSS_CAPPED, string.concat("partial liquidation of ", tag, ": paid out or shortfall"));
            }
        } else {
            ++count["fullLiquidation"];
            if (post.size != 0 || closed != _abs(s.size)) _violate(P_LOSS_CAPPED, string.concat("full liquidation of ", tag, ": position left"));
            // Property 4: value = collateral + PnL - funding. Keeper first, then penalty, rest to the trader; a negative value
            // is bad debt covered by insurance then pool, never charged to the trader.
            int256 value = int256(s.collateral) + pnl - s.funding;
            uint256 left = value > 0 ? uint256(value) : 0;
            uint256 paid = reward < left ? reward : left;
            uint256 expBadDebt = value < 0 ? uint256(-value) : 0;
            uint256 expTopUp = reward - paid;
            if (penalty > left - paid || returned != left - paid - penalty) {
                _violate(P_LOSS_CAPPED, string.concat("full liquidation of ", tag, ": payout order broken"));
            }
            if (badDebt != expBadDebt || topUp != expTopUp || hasShortfall != (expBadDebt + expTopUp != 0)) {
                _violate(
                    P_LOSS_CAPPED,
                    string.concat(
                        "full liquidation of ", tag, ": shortfall event (badDebt ", _u(badDebt), ", topUp ", _u(topUp),
                        ") != expected (", _u(expBadDebt), ", ", _u(expTopUp), ")"
                    )
                );
            }
            if (expBadDebt != 0) ++count["badDebt"];
        }
    }

    /// @dev Reference fill price, written independently of PricingLib: the premium clamp(x / S, -1%, 1%) integrated
    /// along the trade's skew path, as a rational with denominator 2 S * 10_000 (at most one rounding per end point of
    /// the integral, then the division by the size rounded against the trader).
    function _fillPrice(uint256 m, int256 delta) internal view returns (uint256) {
        uint256 price = _price(m);
        uint256 scale = engine.exposureParams(_markets[m]).impactSkewScale;
        if (scale == 0) return price;
        (uint256 longOi, uint256 shortOi) = engine.openInterest(_markets[m]);
        int256 s0 = int256(longOi) - int256(shortOi);
        int256 cost = int256(_integral(price, s0 + delta, scale, true)) - int256(_integral(price, s0, scale, false));
        // fill = price + cost / delta: up for a buy, down for a sell.
        int256 q = cost / delta;
        if (q * delta != cost) {
            bool positive = (cost > 0) == (delta > 0);
            if (delta > 0 && positive) ++q;
            if (delta < 0 && !positive) --q;
        }
        int256 fill = int256(price) + q;
        return fill > 0 ? uint256(fill) : 0;
    }

    /// @dev price * integral_0^|x| clamp(t / S, 0, 1%) dt in WAD^2 USD: price x^2 / (2S) while 100 |x| <= S, else
    /// price (200 |x| - S) / 20_000.
    function _integral(uint256 price, int256 x, uint256 scale, bool up) internal pure returns (uint256) {
        uint256 a = _abs(x);
        if (a * 100 <= scale) {
            return Math.mulDiv(price * a, a, 2 * scale, up ? Math.Rounding.Ceil : Math.Rounding.Floor);
        }
        return Math.mulDiv(price, 200 * a - scale, 20_000, up ? Math.Rounding.Ceil : Math.Rounding.Floor);
    }

    /// @dev Close: value = collateral + PnL - fee - funding goes to the free balance; a negative value is covered as
    /// bad debt.
    /// `price` is the expected fill price.
    function _checkClose(address a, uint256 m, Snap memory s, Flows memory f, uint256 price) internal {
        MarketId id = _markets[m];
        string memory tag = string.concat("close of ", _pair(_traderIndex(a), m));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 absSize = _abs(s.size);
        int256 pnl = _floorDiv(s.size * (int256(price) - int256(s.entry)), WAD * SCALE);
        uint256 fee = Math.ceilDiv(absSize * price * engine.riskParams(id).takerFeeRate, 1e36 * SCALE);
        int256 value = int256(s.collateral) + pnl - int256(fee) - s.funding;
        if (s.funding != 0) ++count["closeWithFunding"];
        if (price != _price(m)) ++count["closeWithImpact"];
        uint256 freeAfter = engine.freeBalance(a);
        (bool hasShortfall, uint256 badDebt, uint256 topUp) = _shortfallOf(logs, a, id);
        if (freeAfter < s.free) _violate(P_LOSS_CAPPED, string.concat(tag, ": free balance decreased"));
        if (token.balanceOf(a) != s.wallet) _violate(P_LOSS_CAPPED, string.concat(tag, ": wallet changed"));
        if (freeAfter - s.free != (value > 0 ? uint256(value) : 0)) {
            _violate(P_LOSS_CAPPED, string.concat(tag, ": free balance != before + max(0, collateral + pnl - fee - funding)"));
        }
        uint256 expBadDebt = value < 0 ? uint256(-value) : 0;
        if (hasShortfall != (expBadDebt != 0) || badDebt != expBadDebt || topUp != 0) {
            _violate(P_LOSS_CAPPED, string.concat(tag, ": shortfall event != expected bad debt ", _u(expBadDebt)));
        }
        if (expBadDebt != 0) ++count["closeBadDebt"];
        if (engine.getPosition(a, id).size != 0) _violate(P_LOSS_CAPPED, string.concat(tag, ": position left"));
        // Flows: the pool gets fee - pnl less its share of the bad debt; insurance pays its share.
        f.realizedPnl = pnl - int256(fee) - s.funding;
        _checkFlows(logs, f);
    }

    /// @dev Token flows of the last call match its events: insurance += penalties - fromInsurance,
    /// pool += -realised PnL - fromPool, keeper free balance += rewards; each shortfall is covered in full.
    function _checkFlows(Vm.Log[] memory logs, Flows memory f) internal {
        bytes32 topic = ITidemarkEngine.ShortfallCovered.selector;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(engine) || logs[i].topics[0] != topic) continue;
            (uint256 badDebt, uint256 topUp, uint256 fromIns, uint256 fromPool) =
                abi.decode(logs[i].data, (uint256, uint256, uint256, uint256));
            if (fromIns + fromPool != badDebt + topUp) {
                _violate(P_LOSS_CAPPED, "shortfall not covered in full by insurance + pool");
            }
            f.fromInsurance += int256(fromIns);
            f.fromPool += int256(fromPool);
            ghost_badDebt += badDebt;
            ghost_keeperTopUp += topUp;
            ghost_coveredByInsurance += fromIns;
            ghost_coveredByPool += fromPool;
            ++count["shortfallCovered"];
            if (fromPool != 0) ++count[fromIns != 0 ? bytes32("coveredBySplit") : bytes32("coveredByPool")];
            if (topUp != 0) ++count["keeperTopUp"];
        }
        int256 dIns = int256(insurance.balance()) - int256(f.insuranceBefore);
        int256 dPool = int256(token.balanceOf(address(pool))) - int256(f.poolBefore);
        int256 dKeeper = int256(engine.freeBalance(keeper)) - int256(f.keeperFreeBefore);
        if (dIns != f.penalties - f.fromInsurance) _violate(P_LOSS_CAPPED, "insurance flow != penalties - covered");
        if (dPool != -f.realizedPnl - f.fromPool) _violate(P_LOSS_CAPPED, "pool flow != -realised PnL - covered");
        if (dKeeper != f.rewards) _violate(P_LOSS_CAPPED, "keeper credit != rewards");
    }

    /* ============================================================ invariant views */

    function firstViolation(uint256 prop) external view returns (string memory) {
        return _firstViolation[prop];
    }

    function traders() external view returns (address[N_TRADERS] memory) {
        return _traders;
    }

    function lps() external view returns (address[2] memory) {
        return _lps;
    }

    function markets() external view returns (MarketId[N_MARKETS] memory) {
        return _markets;
    }

    function touchedActors() external view returns (address[] memory) {
        return _touchedActors;
    }

    function touchedMarkets() external view returns (MarketId[] memory) {
        return _touchedMarkets;
    }

    /// @dev Every address that can hold an engine free balance (traders and keeper) or tokens (plus LPs).
    function accounts() public view returns (address[] memory all) {
        all = new address[](N_TRADERS + 3);
        for (uint256 i; i < N_TRADERS; ++i) {
            all[i] = _traders[i];
        }
        all[N_TRADERS] = keeper;
        all[N_TRADERS + 1] = _lps[0];
        all[N_TRADERS + 2] = _lps[1];
    }

    /* ================================================================= internals */

    function _snap(address a, uint256 m, bool withHealth) internal returns (Snap memory s) {
        MarketId id = _markets[m];
        Position memory p = engine.getPosition(a, id);
        s.size = p.size;
        s.collateral = p.collateral;
        s.entry = p.entryPrice;
        (int256 index,,) = engine.fundingState(id);
        // Owed rounds up, received toward zero (FundingLib.owed), computed here from the documented formula.
        s.funding = -_floorDiv(-(int256(p.size) * (index - int256(p.fundingIndex))), WAD * SCALE);
        s.free = engine.freeBalance(a);
        s.wallet = token.balanceOf(a);
        s.hf = type(uint256).max;
        if (withHealth && p.size != 0) {
            (OracleStatus st,) = engine.oracleStatus(id);
            PositionHealth memory h = lens.positionHealth(a, id);
            s.hf = h.healthFactor;
            s.liquidatable = engine.isLiquidatable(a, id);
            // The lens and the engine must agree on liquidatability at a fresh price (HF < 1 iff liquidatable).
            require(st == OracleStatus.Ok, "handler keeps prices fresh");
            if ((h.healthFactor < WAD) != s.liquidatable || h.liquidatable != s.liquidatable) {
                _violate(P_NO_HEALTHY_LIQ, string.concat("lens HF and engine.isLiquidatable disagree on ", _pair(_traderIndex(a), m)));
            }
        }
    }

    function _snapAll() internal returns (Snap[] memory pre) {
        pre = new Snap[](N_TRADERS * N_MARKETS);
        for (uint256 j; j < pre.length; ++j) {
            pre[j] = _snap(_traders[j / N_MARKETS], j % N_MARKETS, true);
        }
    }

    function _flowsBefore() internal view returns (Flows memory f) {
        f.insuranceBefore = insurance.balance();
        f.poolBefore = token.balanceOf(address(pool));
        f.keeperFreeBefore = engine.freeBalance(keeper);
    }

    /// @dev The ShortfallCovered event for (account, market) in `logs`, if any (at most one per call and pair).
    function _shortfallOf(Vm.Log[] memory logs, address a, MarketId id)
        internal
        view
        returns (bool found, uint256 badDebt, uint256 topUp)
    {
        bytes32 topic = ITidemarkEngine.ShortfallCovered.selector;
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(engine) || log.topics[0] != topic) continue;
            if (address(uint160(uint256(log.topics[1]))) != a || log.topics[2] != MarketId.unwrap(id)) continue;
            require(!found, "two shortfall events for one position");
            found = true;
            (badDebt, topUp,,) = abi.decode(log.data, (uint256, uint256, uint256, uint256));
        }
    }

    /// @dev The first LP and direction with a pending request, scanning from the seeded ones; found false if none.
    function _pickRequest(uint256 lpSeed, bool redeem) internal view returns (bool found, address lp, bool isRedeem) {
        for (uint256 k; k < 4; ++k) {
            lp = _lps[(lpSeed % 2 + k / 2) % 2];
            isRedeem = k % 2 == 0 ? redeem : !redeem;
            if ((isRedeem ? pool.redeemRequest(lp) : pool.depositRequest(lp)).amount != 0) return (true, lp, isRedeem);
        }
    }

    /// @dev MockPyth update data (abi.encode(PriceFeed, uint64 prevPublishTime)) for every market with open interest
    /// at its Chainlink price (exponent -8, truncated), published now, the first at or after `earliest`.
    function _poolPriceUpdates(uint256 earliest) internal view returns (bytes[] memory updates) {
        bytes[] memory all = new bytes[](N_MARKETS);
        uint256 n;
        for (uint256 m; m < N_MARKETS; ++m) {
            (uint256 longOi, uint256 shortOi) = engine.openInterest(_markets[m]);
            if (longOi == 0 && shortOi == 0) continue;
            PythStructs.Price memory p = PythStructs.Price({
                price: int64(uint64(_price(m) / 1e10)),
                conf: 0,
                expo: -8,
                publishTime: block.timestamp
            });
            all[n++] = abi.encode(
                PythStructs.PriceFeed({id: engine.pythPriceId(_markets[m]), price: p, emaPrice: p}), uint64(earliest - 1)
            );
        }
        updates = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            updates[i] = all[i];
        }
    }

    /// @dev The NAV reported by the pool's DepositFulfilled or RedeemFulfilled (`topic`) in the recorded logs.
    function _fulfilledNav(bytes32 topic) internal returns (uint256 nav) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(pool) || logs[i].topics[0] != topic) continue;
            (,,, nav) = abi.decode(logs[i].data, (uint256, uint256, uint256, uint256));
            return nav;
        }
        revert("no fulfilment event");
    }

    function _price(uint256 m) internal view returns (uint256 price) {
        (, price) = engine.oracleStatus(_markets[m]);
    }

    /// @dev Sets the price clamped to [ref / 2, 2 * ref]; false when clamping changed it.
    function _setClampedPrice(uint256 m, uint256 price) internal returns (bool unclamped) {
        uint256 lo = _refPrice[m] / 2;
        uint256 hi = _refPrice[m] * 2;
        _setPrice(m, price < lo ? lo : (price > hi ? hi : price));
        return price >= lo && price <= hi;
    }

    function _setPrice(uint256 m, uint256 price) internal {
        _feeds[m].updateAnswer(int256(price / _feedUnit[m]));
    }

    /// @dev The first (trader, market) pair with an open position, scanning from the seeded one; ok false if none.
    function _pickPosition(uint256 actorSeed, uint256 marketSeed)
        internal
        view
        returns (bool ok, address a, uint256 m, Position memory p)
    {
        uint256 start = (actorSeed % N_TRADERS) * N_MARKETS + marketSeed % N_MARKETS;
        for (uint256 k; k < N_TRADERS * N_MARKETS; ++k) {
            uint256 j = (start + k) % (N_TRADERS * N_MARKETS);
            a = _traders[j / N_MARKETS];
            m = j % N_MARKETS;
            p = engine.getPosition(a, _markets[m]);
            if (p.size != 0) return (true, a, m, p);
        }
    }

    function _actor(uint256 seed) internal view returns (address) {
        uint256 i = seed % (N_TRADERS + 1);
        return i < N_TRADERS ? _traders[i] : keeper;
    }

    function _trader(uint256 seed) internal view returns (address) {
        return _traders[seed % N_TRADERS];
    }

    function _traderIndex(address a) internal view returns (uint256) {
        for (uint256 i; i < N_TRADERS; ++i) {
            if (_traders[i] == a) return i;
        }
        revert("not a trader");
    }

    function _pairOf(address a, bytes32 marketTopic) internal view returns (uint256 t, uint256 m) {
        t = _traderIndex(a);
        for (m = 0; m < N_MARKETS; ++m) {
            if (MarketId.unwrap(_markets[m]) == marketTopic) return (t, m);
        }
        revert("unknown market in event");
    }

    function _fundWallet(address a, uint256 amount) internal {
        token.mint(a, amount);
        ghost_minted += amount;
    }

    function _ensureWallet(address a, uint256 amount) internal {
        uint256 bal = token.balanceOf(a);
        if (bal < amount) _fundWallet(a, amount - bal);
    }

    function _ensureFree(address a, uint256 amount) internal {
        uint256 free = engine.freeBalance(a);
        if (free >= amount) return;
        uint256 need = amount - free;
        _ensureWallet(a, need);
        vm.prank(a);
        engine.deposit(need);
        _touch(a);
    }

    function _touch(address a) internal {
        if (!isTouchedActor[a]) {
            isTouchedActor[a] = true;
            _touchedActors.push(a);
        }
    }

    function _touchMarket(MarketId id) internal {
        if (!isTouchedMarket[MarketId.unwrap(id)]) {
            isTouchedMarket[MarketId.unwrap(id)] = true;
            _touchedMarkets.push(id);
        }
    }

    function _violate(uint256 prop, string memory message) internal {
        if (violations[prop]++ == 0) _firstViolation[prop] = message;
    }

    /// @dev Swallows `err` only when its selector is one of `allowed`; otherwise re-throws it unchanged.
    function _expectOneOf(bytes memory err, bytes4[] memory allowed) internal pure {
        if (err.length >= 4) {
            bytes4 sel = bytes4(err);
            for (uint256 i; i < allowed.length; ++i) {
                if (sel == allowed[i]) return;
            }
        }
        _rethrow(err);
    }

    function _rethrow(bytes memory err) internal pure {
        // Re-raises the exact revert data (selector and arguments) so the invariant runner reports the engine's error;
        // Solidity has no statement that reverts with raw bytes.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            revert(add(err, 32), mload(err))
        }
    }

    function _abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    function _floorDiv(int256 x, uint256 y) internal pure returns (int256 z) {
        z = x / int256(y);
        if (x < 0 && z * int256(y) != x) --z;
    }

    function _pair(uint256 t, uint256 m) internal pure returns (string memory) {
        return string.concat("(trader", _u(t), ", market", _u(m), ")");
    }

    function _hex(bytes memory b) internal pure returns (string memory) {
        bytes memory out = new bytes(2 + 2 * b.length);
        out[0] = "0";
        out[1] = "x";
        bytes16 digits = "0123456789abcdef";
        for (uint256 i; i < b.length; ++i) {
            out[2 + 2 * i] = digits[uint8(b[i]) >> 4];
            out[3 + 2 * i] = digits[uint8(b[i]) & 15];
        }
        return string(out);
    }
}
