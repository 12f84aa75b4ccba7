// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketId} from "../types/MarketId.sol";
import {Order, OrderParams} from "../types/DataTypes.sol";

/// @title IOrders
/// @notice Two-step orders: a trader requests a size change, anyone executes it later at a Pyth price published after
/// the request, so no one trades at a price they could see when deciding.
/// The execution price is the first Pyth update published at or after `requestedAt + minDelay` (Pyth's uniqueness
/// check: its previous update was published before that time), no older than `maxPriceAge` when used, and within
/// `maxDeviation` of the Chainlink price; price impact, fees, funding and margin checks apply at that price (initial
/// margin also at the Chainlink price, so that no order opens a position liquidations would find underwater). The
/// executor cannot choose among prices, and neither can a trader who executes their own order.
/// An order whose own bounds fail at execution (slippage, margin, open-interest cap, minimum size, the position it
/// reduced is gone, ...) is cancelled with the revert data as its reason: the escrowed collateral returns to the
/// trader and the execution fee goes to the executor, who did the work. An order that cannot execute for reasons
/// outside it (paused market, no fresh Chainlink price, a bad price update) reverts and stays pending. An order not
/// executed within `maxDelay` may be cancelled by anyone, and then its whole escrow returns to the trader.
/// Money in token units unless stated; prices WAD.
interface IOrders {
    /* ------------------------------------------------------------------ errors */

    /// @notice Thrown when no order was ever issued with this id.
    error OrderNotFound(uint256 orderId);
    /// @notice Thrown when executing or cancelling an order that has already executed (a replayed execution).
    error OrderAlreadyExecuted(uint256 orderId);
    /// @notice Thrown when executing or cancelling an order that was cancelled.
    error OrderAlreadyCancelled(uint256 orderId);
    /// @notice Thrown when requesting while the account has a pending order on the market (one per position).
    error OrderAlreadyPending(address account, MarketId market, uint256 orderId);
    /// @notice Thrown when the execution fee offered differs from the one governance set (token units).
    error OrderWrongExecutionFee(uint256 required, uint256 offered);
    /// @notice Thrown when the ETH sent differs from what Pyth charges for the price updates (wei).
    error OrderWrongUpdateFee(uint256 required, uint256 sent);
    /// @notice Thrown when the market has no Pyth price feed id set.
    error OrderNoPythFeed(MarketId market);
    /// @notice Thrown when executing an order after its expiry.
    error OrderExpired(uint256 orderId, uint256 expiredAt);
    /// @notice Thrown when cancelling an order before its expiry (only expired orders can be cancelled).
    error OrderNotExpired(uint256 orderId, uint256 expiresAt);
    /// @notice Thrown when the price update was published before the request plus the minimum delay.
    error OrderPriceTooEarly(uint256 publishTime, uint256 earliest);
    /// @notice Thrown when the price update is dated after the current block.
    error OrderPriceFromFuture(uint256 publishTime, uint256 blockTime);
    /// @notice Thrown when the price update is older than the maximum price age.
    error OrderPriceStale(uint256 publishTime, uint256 maxAge);
    /// @notice Thrown when the price update is not the first one published at or after `earliest` (a later update
    /// was offered: executing at it would let the executor pick a price).
    error OrderPriceNotFirst(uint256 publishTime, uint256 earliest);
    /// @notice Thrown when the Pyth price is not positive or its exponent is out of range.
    error OrderPriceInvalid(bytes32 priceId, int64 price, int32 expo);
    /// @notice Thrown when Pyth rejects the update data (malformed, unsigned, or lacking the market's feed).
    error OrderPriceUpdateInvalid(bytes32 priceId);
    /// @notice Thrown when the Pyth price lies further from the Chainlink price than the governed deviation (WAD).
    error OrderPriceDeviation(MarketId market, uint256 pythPrice, uint256 chainlinkPrice, uint256 maxDeviation);
    /// @notice Thrown when the order's trade ran out of gas: the executor must send more, the order stays pending.
    error OrderExecutionOutOfGas(uint256 orderId);
    /// @notice Thrown when anyone but the engine itself calls executeOrderCallback.
    error OrderOnlySelf(address caller);
    /// @notice Thrown when anyone but the liquidity pool calls poolMarkToMarketAt.
    error OrderOnlyPool(address caller);
    /// @notice Thrown when a batch's order ids and price updates do not pair up.
    error OrderLengthMismatch(uint256 orders, uint256 updates);

    /* ------------------------------------------------------------------ events */

    /// @notice Emitted when an order is requested. `collateralDelta` (if positive) and `executionFee` are escrowed.
    event OrderRequested(
        uint256 indexed orderId,
        address indexed account,
        MarketId indexed market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 acceptablePrice,
        uint256 executionFee,
        bool reduceOnly
    );
    /// @notice Emitted when an order executes, after the engine's PositionModified. `price` is the Pyth price before
    /// impact (WAD), published at `publishTime`; the executor's free balance received `executionFee`.
    event OrderExecuted(
        uint256 indexed orderId,
        address indexed account,
        MarketId indexed market,
        address executor,
        uint256 price,
        uint256 publishTime,
        uint256 executionFee
    );
    /// @notice Emitted when an order is cancelled. `reason` is the ABI-encoded custom error that stopped it (the trade's
    /// revert data, or OrderExpired). `feeTo` received the execution fee: the executor when the order's bounds failed
    /// at execution, the trader when it expired.
    event OrderCancelled(
        uint256 indexed orderId, address indexed account, MarketId indexed market, address caller, address feeTo, bytes reason
    );
    /// @notice Emitted with the new two-step execution rules.
    event OrderParamsSet(OrderParams params);
    /// @notice Emitted when a market's Pyth price feed id is set.
    event PythPriceIdSet(MarketId indexed market, bytes32 priceId);

    /* ------------------------------------------------------------------ orders */

    /// @notice Requests a size change of the caller's position on `market`: open, increase or decrease. Escrows
    /// `collateralDelta` (if positive) and the execution fee from the free balance. A request against an open position
    /// in the opposite direction is reduce-only and may not exceed the position.
    /// @param sizeDelta Signed WAD base amount: positive buys, negative sells. Non-zero.
    /// @param collateralDelta Signed token amount moved from (positive, escrowed now) or to (negative, at execution) the
    /// free balance.
    /// @param acceptablePrice Worst execution price accepted: a maximum when buying, a minimum when selling.
    /// @param executionFee Must equal requiredExecutionFee(): the caller's consent to the fee in force.
    /// @return orderId The new order's id.
    function requestOrder(
        MarketId market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 acceptablePrice,
        uint256 executionFee
    ) external returns (uint256 orderId);

    /// @notice Requests closing the caller's whole position on `market` (reduce-only): at execution, collateral plus PnL
    /// minus fees returns to the free balance.
    function requestClose(MarketId market, uint256 acceptablePrice, uint256 executionFee)
        external
        returns (uint256 orderId);

    /// @notice Executes a pending order with `priceUpdate`, Pyth update data holding the market's feed. `msg.value`
    /// must equal Pyth's fee for it. Anyone may call; the execution fee is credited to the caller's free balance.
    function executeOrder(uint256 orderId, bytes[] calldata priceUpdate) external payable;

    /// @notice Executes several orders, each with its own update data. `msg.value` must equal Pyth's fee for all of
    /// them. Orders no longer pending (executed or cancelled by someone else) are skipped and their update fee refunded;
    /// any other failure, a never-issued id included, reverts the batch.
    /// @return executed How many orders were executed or cancelled for their bounds.
    function executeOrders(uint256[] calldata orderIds, bytes[][] calldata priceUpdates)
        external
        payable
        returns (uint256 executed);

    /// @notice Cancels an expired order; anyone may call. The whole escrow returns to the trader's free balance.
    function cancelOrder(uint256 orderId) external;

    /// @notice The trade of an order at Pyth `price`, run by the engine on itself so that a failed bound can be caught
    /// and the order cancelled; an opening or increasing order must meet initial margin at both `price` and the
    /// Chainlink `referencePrice`. Reverts OrderOnlySelf for any other caller.
    function executeOrderCallback(uint256 orderId, uint256 price, uint256 referencePrice) external;

    /// @notice The pool's mark to market against open positions (as ITidemarkEngine.poolMarkToMarket) at Pyth prices:
    /// for each market with open interest, the first update in `priceUpdate` published at or after `earliest`, no
    /// older than maxPriceAge and within maxDeviation of an Ok Chainlink price. Token units, rounded down. The price
    /// an LP request is fulfilled at (ERC-7540). Pool only; `msg.value` must equal Pyth's fee for the update.
    function poolMarkToMarketAt(bytes[] calldata priceUpdate, uint256 earliest) external payable returns (int256 value);

    /// @notice The pool capacity (ILiquidityPool.capacity, token units, rounded up) that open interest needs: over every
    /// market and side with a non-zero cap ratio, open interest at the Chainlink price (the last priced action's price
    /// when there is none) divided by the ratio. A redemption may not take the pool's capacity below it, so no LP can
    /// leave a position standing against a pool its cap did not allow.
    function requiredPoolCapacity() external view returns (uint256);

    /* -------------------------------------------------------------- governance */

    /// @notice Sets the two-step execution rules for orders and LP requests. Governor only. Applies to pending
    /// requests too.
    function setOrderParams(OrderParams calldata params) external;

    /// @notice Sets the market's Pyth price feed id (non-zero). Governor only.
    function setPythPriceId(MarketId market, bytes32 priceId) external;

    /* ------------------------------------------------------------------- views */

    /// @notice The Pyth contract that verifies price updates.
    function pyth() external view returns (address);
    /// @notice The market's Pyth price feed id (0: none, no orders).
    function pythPriceId(MarketId market) external view returns (bytes32);
    /// @notice The two-step execution rules.
    function orderParams() external view returns (OrderParams memory);
    /// @notice The execution fee an order or LP request must escrow now, in token units (the governed USD fee, rounded
    /// up).
    function requiredExecutionFee() external view returns (uint256);
    /// @notice The order with this id (status None when never issued; executed and cancelled orders keep their
    /// status and fields).
    function getOrder(uint256 orderId) external view returns (Order memory);
    /// @notice The account's pending order id on the market, 0 when none.
    function pendingOrderId(address account, MarketId market) external view returns (uint256);
    /// @notice Number of orders ever requested; ids run from 1 to this.
    function orderCount() external view returns (uint256);
    /// @notice Token units held in escrow by pending orders (collateral and execution fees).
    function totalOrderEscrow() external view returns (uint256);
}
