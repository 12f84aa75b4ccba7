// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {IPyth} from "@pythnetwork/pyth-sdk-solidity/IPyth.sol";

import {IOrders} from "../interfaces/IOrders.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {SequencerConfig} from "../oracle/OracleLib.sol";
import {PythLib} from "../oracle/PythLib.sol";
import {MarketId} from "../types/MarketId.sol";
import {Market, Order, OrderParams, OrderStatus, Position} from "../types/DataTypes.sol";
import {ConstantsLib as C} from "./ConstantsLib.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";
import {MarketLib} from "./MarketLib.sol";

/// @notice The engine's order storage.
struct OrderBook {
    mapping(uint256 id => Order) orders;
    mapping(MarketId market => mapping(address account => uint256 id)) pending;
    uint256 count; // ids issued; the next is count + 1
    uint256 escrow; // token units held by pending orders
    OrderParams params;
}

/// @title OrderLib
/// @notice Two-step orders (see IOrders): request with escrow, the checks before an order's trade runs (status,
/// expiry, pause, Chainlink, the Pyth price), settlement of the escrow after it ran or failed, expiry cancellation,
/// and the governed execution rules. The trade itself is TradeLib's, run by the engine.
/// @dev A linked library: its external functions run in the engine's context (DELEGATECALL) on the engine's storage
/// and emit the engine's events; `msg.sender` is the engine's caller. The engine holds the reentrancy lock.
library OrderLib {
    using FP for uint256;

    /* ---------------------------------------------------------------- request */

    /// @notice Records an order of `msg.sender` and escrows its collateral and execution fee. `close`: the whole
    /// position, reduce-only (`sizeDelta` and `collateralDelta` are ignored).
    function request(
        OrderBook storage book,
        Market storage m,
        mapping(address => Position) storage positions,
        mapping(address => uint256) storage freeBalances,
        MarketId market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 acceptablePrice,
        uint256 executionFee,
        uint256 scale,
        bool globalPaused,
        bool close
    ) external returns (uint256 id) {
        require(m.listed, ITidemarkEngine.PerpUnknownMarket(market));
        require(m.pythPriceId != 0, IOrders.OrderNoPythFeed(market));
        uint256 pendingId = book.pending[market][msg.sender];
        require(pendingId == 0, IOrders.OrderAlreadyPending(msg.sender, market, pendingId));
        uint256 requiredFee = executionFeeOf(book.params, scale);
        require(executionFee == requiredFee, IOrders.OrderWrongExecutionFee(requiredFee, executionFee));

        int256 size = positions[msg.sender].size;
        if (close) {
            require(size != 0, ITidemarkEngine.PerpNoPosition(msg.sender, market));
            (sizeDelta, collateralDelta) = (-size, 0);
        }
        require(sizeDelta != 0, ITidemarkEngine.PerpZeroAmount());
        uint256 absDelta = FP.abs(sizeDelta);
        require(absDelta <= C.MAX_POSITION_SIZE, ITidemarkEngine.PerpPositionTooLarge(absDelta, C.MAX_POSITION_SIZE));
        uint256 absCollateral = FP.abs(collateralDelta);
        // Fits the order's int128 field; no escrow or payout that large could exist anyway (token supply).
        uint256 maxCollateral = uint256(uint128(type(int128).max));
        require(
            absCollateral <= maxCollateral,
            ITidemarkEngine.PerpParameterOutOfBounds("collateralDelta", absCollateral, 0, maxCollateral)
        );
        bool reduceOnly = size != 0 && (size > 0) != (sizeDelta > 0);
        if (reduceOnly) {
            require(absDelta <= FP.abs(size), ITidemarkEngine.PerpPositionFlip(size, sizeDelta));
        } else {
            require(!m.paused && !globalPaused, ITidemarkEngine.PerpMarketPaused(market));
        }

        uint256 escrowed = executionFee + escrowedCollateral(collateralDelta);
        MarketLib.debitFree(freeBalances, msg.sender, escrowed);
        book.escrow += escrowed;
        id = ++book.count;
        book.pending[market][msg.sender] = id;
        uint256 bound = acceptablePrice > type(uint128).max ? type(uint128).max : acceptablePrice;
        book.orders[id] = Order({
            account: msg.sender,
            requestedAt: uint32(block.timestamp),
            status: OrderStatus.Pending,
            reduceOnly: reduceOnly,
            market: market,
            sizeDelta: int128(sizeDelta), // |sizeDelta| <= MAX_POSITION_SIZE < 2**127
            collateralDelta: int128(collateralDelta), // checked above
            acceptablePrice: uint128(bound),
            executionFee: uint128(executionFee) // <= MAX_EXECUTION_FEE in token units
        });
        emit IOrders.OrderRequested(id, msg.sender, market, sizeDelta, collateralDelta, bound, executionFee, reduceOnly);
    }

    /* -------------------------------------------------------------- execution */

    /// @notice Executes order `id` with `priceUpdate` (IOrders.executeOrder). `value` is the caller's msg.value, which
    /// must equal Pyth's fee for the update.
    function execute(
        OrderBook storage book,
        mapping(MarketId => Market) storage markets,
        mapping(address => uint256) storage freeBalances,
        SequencerConfig storage sequencer,
        IPyth pyth,
        uint256 id,
        bytes[] calldata priceUpdate,
        uint256 value,
        bool globalPaused
    ) external {
        uint256 fee = pyth.getUpdateFee(priceUpdate);
        require(value == fee, IOrders.OrderWrongUpdateFee(fee, value));
        _execute(book, markets, freeBalances, sequencer, pyth, id, priceUpdate, fee, globalPaused, true);
    }

    /// @notice Executes orders `ids`, each with its own update (IOrders.executeOrders). `value` must equal Pyth's fee
    /// for all updates; the fees of orders no longer pending are refunded to the caller, last.
    function executeBatch(
        OrderBook storage book,
        mapping(MarketId => Market) storage markets,
        mapping(address => uint256) storage freeBalances,
        SequencerConfig storage sequencer,
        IPyth pyth,
        uint256[] calldata ids,
        bytes[][] calldata priceUpdates,
        uint256 value,
        bool globalPaused
    ) external returns (uint256 executed) {
        uint256 n = ids.length;
        require(n == priceUpdates.length, IOrders.OrderLengthMismatch(n, priceUpdates.length));
        uint256[] memory fees = new uint256[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            total += fees[i] = pyth.getUpdateFee(priceUpdates[i]);
        }
        require(value == total, IOrders.OrderWrongUpdateFee(total, value));
        uint256 unspent;
        for (uint256 i; i < n; ++i) {
            if (_execute(book, markets, freeBalances, sequencer, pyth, ids[i], priceUpdates[i], fees[i], globalPaused, false)) {
                ++executed;
            } else {
                unspent += fees[i];
            }
        }
        if (unspent != 0) Address.sendValue(payable(msg.sender), unspent);
    }

    /// @dev Checks and prices order `id` (`_prepare`), runs its trade on the engine itself
    /// (IOrders.executeOrderCallback, an external call to `address(this)`, the engine) so that a failed bound can be
    /// caught, then settles the escrow (`_finish`). Returns false only without `strict`, for an order no longer
    /// pending.
    function _execute(
        OrderBook storage book,
        mapping(MarketId => Market) storage markets,
        mapping(address => uint256) storage freeBalances,
        SequencerConfig storage sequencer,
        IPyth pyth,
        uint256 id,
        bytes[] calldata priceUpdate,
        uint256 fee,
        bool globalPaused,
        bool strict
    ) private returns (bool) {
        (uint256 price, uint256 publishTime, uint256 chainlinkPrice) =
            _prepare(book, markets, sequencer, pyth, id, priceUpdate, fee, globalPaused, strict);
        if (price == 0) return false;
        bool ok;
        bytes memory reason;
        try IOrders(address(this)).executeOrderCallback(id, price, chainlinkPrice) {
            ok = true;
        } catch (bytes memory err) {
            // Out of gas leaves no revert data: the executor sent too little gas, and the order must not be cancelled
            // for it (that would let an executor cancel any order and take its fee).
            require(err.length != 0, IOrders.OrderExecutionOutOfGas(id));
            reason = err;
        }
        _finish(book, freeBalances, id, ok, reason, price, publishTime);
        return true;
    }

    /// @dev Checks that order `id` can execute now and returns the Pyth price it executes at, its publish time and the
    /// Chainlink price. An id never issued reverts OrderNotFound. With `strict`, an executed or cancelled order reverts
    /// (OrderAlreadyExecuted, OrderAlreadyCancelled); without, it returns price 0 and spends nothing. Then, reverting: expired, paused market (opening and increasing), no
    /// usable Chainlink price, no Pyth feed, and every Pyth rule (see PythLib.verifiedPrice). `updateFee` is the wei
    /// Pyth charges for `priceUpdate`, paid from the engine's balance (the caller's msg.value).
    function _prepare(
        OrderBook storage book,
        mapping(MarketId => Market) storage markets,
        SequencerConfig storage sequencer,
        IPyth pyth,
        uint256 id,
        bytes[] calldata priceUpdate,
        uint256 updateFee,
        bool globalPaused,
        bool strict
    ) private returns (uint256 price, uint256 publishTime, uint256 chainlinkPrice) {
        Order storage o = book.orders[id];
        OrderStatus status = o.status;
        if (status != OrderStatus.Pending) {
            if (status == OrderStatus.None) revert IOrders.OrderNotFound(id);
            if (!strict) return (0, 0, 0);
            if (status == OrderStatus.Executed) revert IOrders.OrderAlreadyExecuted(id);
            revert IOrders.OrderAlreadyCancelled(id);
        }
        OrderParams memory p = book.params;
        uint256 requestedAt = o.requestedAt;
        uint256 expiresAt = requestedAt + p.maxDelay;
        require(block.timestamp <= expiresAt, IOrders.OrderExpired(id, expiresAt));
        MarketId market = o.market;
        Market storage m = markets[market];
        bool increasing = !o.reduceOnly;
        if (increasing) require(!m.paused && !globalPaused, ITidemarkEngine.PerpMarketPaused(market));
        // The reference: decreasing and closing work in the sequencer grace period, as they always have.
        chainlinkPrice = MarketLib.requirePrice(m, sequencer, market, !increasing);
        bytes32 priceId = m.pythPriceId;
        require(priceId != 0, IOrders.OrderNoPythFeed(market));
        (price, publishTime) =
            PythLib.verifiedPrice(pyth, priceUpdate, priceId, requestedAt + p.minDelay, updateFee, p.maxPriceAge);
        PythLib.requireWithinDeviation(market, price, chainlinkPrice, p.maxDeviation);
    }

    /// @dev Settles order `id` after its trade ran (`ok`) or failed with `reason`: releases the escrow (the
    /// collateral went into the trade, or back to the trader), pays the execution fee to the executor, records the
    /// outcome and emits OrderExecuted or OrderCancelled.
    function _finish(
        OrderBook storage book,
        mapping(address => uint256) storage freeBalances,
        uint256 id,
        bool ok,
        bytes memory reason,
        uint256 price,
        uint256 publishTime
    ) private {
        Order storage o = book.orders[id];
        (address account, MarketId market, uint256 fee) = (o.account, o.market, o.executionFee);
        uint256 collateral = escrowedCollateral(o.collateralDelta);
        book.escrow -= fee + collateral;
        delete book.pending[market][account];
        freeBalances[msg.sender] += fee;
        if (ok) {
            // The trade credited the escrowed collateral to the free balance and debited it into the position.
            o.status = OrderStatus.Executed;
            emit IOrders.OrderExecuted(id, account, market, msg.sender, price, publishTime, fee);
        } else {
            o.status = OrderStatus.Cancelled;
            freeBalances[account] += collateral;
            emit IOrders.OrderCancelled(id, account, market, msg.sender, msg.sender, reason);
        }
    }

    /// @notice Cancels an expired order, returning its whole escrow to the trader. Anyone may call.
    function cancelExpired(OrderBook storage book, mapping(address => uint256) storage freeBalances, uint256 id)
        external
    {
        Order storage o = book.orders[id];
        OrderStatus status = o.status;
        if (status == OrderStatus.None) revert IOrders.OrderNotFound(id);
        if (status == OrderStatus.Executed) revert IOrders.OrderAlreadyExecuted(id);
        if (status == OrderStatus.Cancelled) revert IOrders.OrderAlreadyCancelled(id);
        uint256 expiresAt = uint256(o.requestedAt) + book.params.maxDelay;
        require(block.timestamp > expiresAt, IOrders.OrderNotExpired(id, expiresAt));
        (address account, MarketId market) = (o.account, o.market);
        uint256 escrowed = o.executionFee + escrowedCollateral(o.collateralDelta);
        book.escrow -= escrowed;
        delete book.pending[market][account];
        o.status = OrderStatus.Cancelled;
        freeBalances[account] += escrowed;
        emit IOrders.OrderCancelled(
            id, account, market, msg.sender, account, abi.encodeWithSelector(IOrders.OrderExpired.selector, id, expiresAt)
        );
    }

    /* ------------------------------------------------------------ LP requests */

    /// @notice The pool's mark to market at Pyth prices (IOrders.poolMarkToMarketAt): for every market with open
    /// interest, the first Pyth update published at or after `earliest`, fresh and within the deviation of an Ok
    /// Chainlink price. Token units, rounded down. `value` must equal Pyth's fee for `update`.
    function poolMarkToMarketAt(
        OrderBook storage book,
        mapping(MarketId => Market) storage markets,
        MarketId[] memory marketIds,
        SequencerConfig storage sequencer,
        IPyth pyth,
        bytes[] calldata update,
        uint256 earliest,
        uint256 value,
        uint256 scale
    ) external returns (int256) {
        uint256 fee = pyth.getUpdateFee(update);
        require(value == fee, IOrders.OrderWrongUpdateFee(fee, value));
        // The markets with open interest: only they move the pool's value.
        uint256 n = marketIds.length;
        uint256 k;
        for (uint256 i; i < n; ++i) {
            Market storage m = markets[marketIds[i]];
            if (m.longOpenInterest != 0 || m.shortOpenInterest != 0) marketIds[k++] = marketIds[i];
        }
        if (k == 0) {
            // Nothing to price, but the caller paid for its update data (a keeper's batch built while positions were
            // open): hand it to Pyth as paid for rather than keep the ETH in the engine, which cannot send it out.
            if (fee != 0) pyth.updatePriceFeeds{value: fee}(update);
            return 0;
        }
        bytes32[] memory priceIds = new bytes32[](k);
        for (uint256 i; i < k; ++i) {
            bytes32 priceId = markets[marketIds[i]].pythPriceId;
            require(priceId != 0, IOrders.OrderNoPythFeed(marketIds[i]));
            priceIds[i] = priceId;
        }
        OrderParams memory p = book.params;
        (uint256[] memory prices,) = PythLib.verifiedPrices(pyth, update, priceIds, earliest, fee, p.maxPriceAge);
        int256 total; // WAD^2 USD, exact
        for (uint256 i; i < k; ++i) {
            Market storage m = markets[marketIds[i]];
            uint256 chainlinkPrice = MarketLib.requirePrice(m, sequencer, marketIds[i], false);
            PythLib.requireWithinDeviation(marketIds[i], prices[i], chainlinkPrice, p.maxDeviation);
            total += MarketLib.poolValueAt(m, prices[i]);
        }
        // NAV rounds down.
        return FP.sDivDown(total, FP.WAD * scale);
    }

    /// @notice IOrders.requiredPoolCapacity: the largest open interest of any market side divided by its cap ratio,
    /// in token units rounded up (a requirement).
    function requiredPoolCapacity(
        mapping(MarketId => Market) storage markets,
        MarketId[] memory marketIds,
        SequencerConfig storage sequencer,
        uint256 scale
    ) external view returns (uint256 required) {
        uint256 n = marketIds.length;
        for (uint256 i; i < n; ++i) {
            Market storage m = markets[marketIds[i]];
            (uint256 long, uint256 short) = (m.longOpenInterest, m.shortOpenInterest);
            if (long == 0 && short == 0) continue;
            (uint256 price,) = MarketLib.markPrice(m, sequencer);
            (uint256 longRatio, uint256 shortRatio) = (m.exposure.maxLongOpenInterestRatio, m.exposure.maxShortOpenInterestRatio);
            if (longRatio != 0) required = FP.max(required, FP.divUp(long.mulWadUp(price).divWadUp(longRatio), scale));
            if (shortRatio != 0) required = FP.max(required, FP.divUp(short.mulWadUp(price).divWadUp(shortRatio), scale));
        }
    }

    /* ------------------------------------------------------------- governance */

    /// @notice Validates and stores the execution rules. Emits OrderParamsSet.
    function setParams(OrderBook storage book, OrderParams calldata p) external {
        validateParams(p);
        OrderParams memory current = book.params;
        require(keccak256(abi.encode(p)) != keccak256(abi.encode(current)), ITidemarkEngine.PerpParameterUnchanged());
        book.params = p;
        emit IOrders.OrderParamsSet(p);
    }

    /// @notice Reverts PerpParameterOutOfBounds unless every rule is within ConstantsLib's bounds and the expiry comes
    /// after the minimum delay plus the price age (so an order has a window in which it can execute).
    function validateParams(OrderParams memory p) internal pure {
        _bound("minDelay", p.minDelay, C.MIN_ORDER_MIN_DELAY, C.MAX_ORDER_MIN_DELAY);
        _bound("maxPriceAge", p.maxPriceAge, C.MIN_PRICE_AGE, C.MAX_PRICE_AGE);
        uint256 minMaxDelay = FP.max(C.MIN_ORDER_MAX_DELAY, uint256(p.minDelay) + p.maxPriceAge);
        _bound("maxDelay", p.maxDelay, minMaxDelay, C.MAX_ORDER_MAX_DELAY);
        _bound("maxDeviation", p.maxDeviation, C.MIN_PRICE_DEVIATION, C.MAX_PRICE_DEVIATION);
        _bound("executionFee", p.executionFee, 0, C.MAX_EXECUTION_FEE);
    }

    /// @notice The collateral an order holds in escrow for `collateralDelta`: the delta when positive, else nothing (a
    /// withdrawal from the position is paid at execution).
    function escrowedCollateral(int256 collateralDelta) internal pure returns (uint256) {
        return collateralDelta > 0 ? uint256(collateralDelta) : 0;
    }

    /// @notice The governed execution fee in token units, rounded up (a charge).
    function executionFeeOf(OrderParams memory p, uint256 scale) internal pure returns (uint256) {
        return FP.divUp(p.executionFee, scale);
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, ITidemarkEngine.PerpParameterOutOfBounds(name, value, min, max));
    }
}
