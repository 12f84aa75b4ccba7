// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketId} from "../types/MarketId.sol";
import {
    Tier, RiskParams, RiskContext, OracleConfig, OracleStatus, Position, FundingParams, ExposureParams
} from "../types/DataTypes.sol";
import {SequencerConfig} from "../oracle/OracleLib.sol";
import {IOrders} from "./IOrders.sol";

/// @title ITidemarkEngine
/// @notice Accounts, isolated positions, tiered margin and liquidation. The engine is the only holder of trader funds.
/// Units: sizes and prices are WAD (18 decimals); USD money in views and parameters is WAD; token amounts passed to
/// deposit, withdraw and collateral functions are in the collateral token's own decimals.
/// @dev Warning: the collateral token is valued at exactly 1 USD; a depeg is not modelled.
interface ITidemarkEngine is IOrders {
    /* ------------------------------------------------------------------ errors */

    /// @notice Thrown when an amount or delta that must be non-zero is zero.
    error PerpZeroAmount();
    /// @notice Thrown when an address that must be set is zero.
    error PerpZeroAddress();
    /// @notice Thrown when the collateral token has more than 18 decimals.
    error PerpUnsupportedTokenDecimals(uint8 decimals);
    /// @notice Thrown when the pool or insurance fund does not hold the engine's collateral token.
    error PerpAssetMismatch(address vault, address asset);
    /// @notice Thrown when a token transfer in delivers less than asked (fee-on-transfer or rebasing tokens).
    error PerpTransferShortfall(uint256 expected, uint256 received);
    /// @notice Thrown when the market is not listed.
    error PerpUnknownMarket(MarketId market);
    /// @notice Thrown when listing a market id that is already listed.
    error PerpMarketAlreadyListed(MarketId market);
    /// @notice Thrown when the free balance cannot cover an amount.
    error PerpInsufficientFreeBalance(address account, uint256 balance, uint256 required);
    /// @notice Thrown when the account has no position on the market.
    error PerpNoPosition(address account, MarketId market);
    /// @notice Thrown when a size delta would flip a position from long to short or back; close it first.
    error PerpPositionFlip(int256 size, int256 sizeDelta);
    /// @notice Thrown when a position would be left with a notional below the market's minimum.
    error PerpPositionTooSmall(uint256 notional, uint256 minNotional);
    /// @notice Thrown when a position's absolute size would exceed the protocol maximum.
    error PerpPositionTooLarge(uint256 size, uint256 maxSize);
    /// @notice Thrown when equity after the action would be below the required margin (IM to open, increase or
    /// remove collateral). Equity and requirement in WAD USD. When the fee and realised loss alone exceed the
    /// collateral, `equity` is that negative collateral and `required` is 0.
    error PerpInsufficientMargin(address account, MarketId market, int256 equity, uint256 required);
    /// @notice Thrown when removing more collateral (token units) than the position holds.
    error PerpInsufficientCollateral(uint256 collateral, uint256 requested);
    /// @notice Thrown when a decrease would leave a liquidatable position with a lower health factor than before.
    error PerpHealthWorsened(uint256 healthBefore, uint256 healthAfter);
    /// @notice Thrown when a full close carries a collateral delta; the whole collateral is returned anyway.
    error PerpCollateralDeltaOnClose(int256 collateralDelta);
    /// @notice Thrown when the execution price is worse than the trader's bound.
    error PerpSlippage(uint256 executionPrice, uint256 acceptablePrice);
    /// @notice Thrown when an open or increase would take a side's open interest above its cap. Both in WAD USD at
    /// the oracle price: the side's notional after the trade (rounded up) and the cap (rounded down).
    error PerpOpenInterestCapExceeded(MarketId market, bool isLong, uint256 openInterestNotional, uint256 cap);
    /// @notice Thrown when opening or increasing on a paused market (or while globally paused).
    error PerpMarketPaused(MarketId market);
    /// @notice Thrown when liquidating a position whose health factor is at least 1.
    error PerpPositionHealthy(address account, MarketId market, uint256 healthFactor);
    /// @notice Thrown when a batch liquidation liquidates nothing.
    error PerpNothingLiquidated();
    /// @notice Thrown when two arrays that must pair up have different lengths.
    error PerpLengthMismatch(uint256 accounts, uint256 markets);
    /// @notice Thrown when a governed parameter is outside its hard bounds.
    error PerpParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);
    /// @notice Thrown when a rate would change by more than its maximum step in one governance action (ConstantsLib).
    error PerpParameterStepTooLarge(bytes32 parameter, uint256 current, uint256 proposed, uint256 maxStep);
    /// @notice Thrown when a setter would change a stepped rate less than ConstantsLib.MIN_RATE_CHANGE_INTERVAL after
    /// the previous such change (per market for "marginTiers", "riskParams" and "funding", which share one timer;
    /// globally for "reserveFactor"). `allowedAt` is the first timestamp at which the change is accepted.
    error PerpRateChangeTooSoon(bytes32 parameter, uint256 allowedAt);
    /// @notice Thrown when tier `index` breaks the tier rules: floors strictly increasing from 0, rates
    /// non-decreasing, MMR < IMR.
    error PerpInvalidTier(uint256 index);
    /// @notice Thrown when keeper reward plus penalty rates are not below target health times the lowest MMR, which
    /// a partial liquidation needs to be able to restore health.
    error PerpLiquidationCostTooHigh(uint256 costRate, uint256 targetMaintenanceRate);
    /// @notice Thrown when a setter would not change anything.
    error PerpParameterUnchanged();
    /// @notice Thrown when the feed's answer is zero or negative.
    error OracleInvalidAnswer(MarketId market, int256 answer);
    /// @notice Thrown when the feed's latest round is older than the heartbeat (or dated in the future).
    error OracleStale(MarketId market, uint256 updatedAt, uint256 heartbeat);
    /// @notice Thrown when the normalised price is outside the market's accepted bounds.
    error OracleOutOfBounds(MarketId market, uint256 price, uint256 minPrice, uint256 maxPrice);
    /// @notice Thrown when the L2 sequencer uptime feed reports the sequencer down.
    error OracleSequencerDown(MarketId market);
    /// @notice Thrown during the grace period after the sequencer restarted, for actions that need a settled price.
    error OracleGracePeriod(MarketId market, uint256 graceEndsAt);

    /* ------------------------------------------------------------------ events */

    /// @notice Emitted when collateral tokens enter an account's free balance (token units).
    event Deposited(address indexed account, uint256 amount);
    /// @notice Emitted when collateral tokens leave an account's free balance (token units).
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted on every open, increase, decrease and close. Money in collateral token units, prices WAD.
    /// `executionPrice` is the fill price after price impact; `oraclePrice` the feed's; `priceImpact` what the
    /// impact cost the trader (negative: gained), rounded towards negative infinity. Fee and PnL are at the fill
    /// price.
    event PositionModified(
        address indexed account,
        MarketId indexed market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 executionPrice,
        uint256 fee,
        int256 realizedPnl,
        int256 newSize,
        uint256 newCollateral,
        uint256 newEntryPrice,
        uint256 oraclePrice,
        int256 priceImpact
    );
    /// @notice Emitted when collateral moves between the free balance and a position (token units).
    event CollateralModified(address indexed account, MarketId indexed market, int256 delta, uint256 newCollateral);
    /// @notice Emitted for each liquidated position. Money in collateral token units.
    event PositionLiquidated(
        address indexed account,
        MarketId indexed market,
        address indexed liquidator,
        uint256 closedSize,
        uint256 price,
        int256 realizedPnl,
        uint256 keeperReward,
        uint256 penalty,
        int256 remainingSize,
        uint256 returnedToTrader
    );
    /// @notice Emitted when a position settles funding on a trade: positive paid to the pool, negative received from
    /// it (token units). Liquidations settle funding inside PositionLiquidated's amounts.
    event FundingSettled(address indexed account, MarketId indexed market, int256 amount);
    /// @notice Emitted when a shortfall is absorbed: bad debt of a position, or the part of a keeper's minimum reward
    /// that the position's equity could not pay. Token units.
    event ShortfallCovered(
        address indexed account, MarketId indexed market, uint256 badDebt, uint256 keeperTopUp, uint256 fromInsurance, uint256 fromPool
    );
    /// @notice Emitted when governance lists a market, with its full configuration.
    event MarketListed(MarketId indexed market, OracleConfig oracle, RiskParams params, Tier[] tiers);
    /// @notice Emitted with the new tiers after every tier change.
    event MarginTiersSet(MarketId indexed market, Tier[] tiers);
    /// @notice Emitted with the new parameters after every change.
    event RiskParamsSet(MarketId indexed market, RiskParams params);
    /// @notice Emitted with the new oracle settings (decimals as read from the feed).
    event OracleConfigSet(MarketId indexed market, OracleConfig oracle);
    /// @notice Emitted with the new funding settings.
    event FundingParamsSet(MarketId indexed market, FundingParams params);
    /// @notice Emitted with the new price-impact scale and open-interest caps.
    event ExposureParamsSet(MarketId indexed market, ExposureParams params);
    /// @notice Emitted with the new sequencer feed and grace period.
    event SequencerConfigSet(address feed, uint32 gracePeriod);
    /// @notice Emitted with the new pool reserve factor (WAD).
    event ReserveFactorSet(uint256 reserveFactor);
    /// @notice Emitted when the guardian pauses or unpauses opening and increasing on a market.
    event MarketPausedSet(MarketId indexed market, bool paused);
    /// @notice Emitted when the guardian pauses or unpauses opening and increasing everywhere.
    event GlobalPausedSet(bool paused);

    /* ------------------------------------------------------------------ trader */

    /// @notice Pulls `amount` collateral tokens from the caller into their free balance.
    function deposit(uint256 amount) external;

    /// @notice Sends `amount` collateral tokens from the caller's free balance to the caller. Always allowed.
    function withdraw(uint256 amount) external;

    /// @notice Opens, increases or decreases (or fully closes) the caller's position on `market`.
    /// @param sizeDelta Signed WAD base amount: positive buys, negative sells. Must be non-zero; may not flip sides.
    /// @param collateralDelta Signed token amount moved from (positive) or to (negative) the free balance.
    /// @param acceptablePrice Worst execution price accepted: a maximum when buying, a minimum when selling.
    function modifyPosition(MarketId market, int256 sizeDelta, int256 collateralDelta, uint256 acceptablePrice)
        external;

    /// @notice Closes the caller's whole position; its collateral plus PnL minus fee returns to the free balance.
    function closePosition(MarketId market, uint256 acceptablePrice) external;

    /// @notice Moves `amount` from the free balance into the position. Works when paused and on any oracle status.
    function addCollateral(MarketId market, uint256 amount) external;

    /// @notice Moves `amount` from the position to the free balance; equity must stay at or above initial margin.
    function removeCollateral(MarketId market, uint256 amount) external;

    /* -------------------------------------------------------------- liquidation */

    /// @notice Liquidates a position with health factor below 1 at a fresh oracle price. The keeper reward is
    /// credited to the caller's free balance. Partial when possible (see RiskLib.planLiquidation).
    function liquidate(address account, MarketId market) external;

    /// @notice Liquidates every liquidatable position of the list, skipping healthy, empty or unpriceable ones.
    /// Reverts with PerpNothingLiquidated when none was liquidated.
    /// @return liquidated How many positions were liquidated.
    function liquidateBatch(address[] calldata accounts, MarketId[] calldata markets)
        external
        returns (uint256 liquidated);

    /* --------------------------------------------------------------- governance */

    /// @notice Lists a market with its feed, fee and liquidation parameters and margin tiers. Governor only.
    /// Every value is checked against the hard bounds of ConstantsLib (see ConfigLib); the feed's decimals are read
    /// from the feed. Emits MarketListed.
    function listMarket(MarketId market, OracleConfig calldata oracle, RiskParams calldata params, Tier[] calldata tiers)
        external;
    /// @notice Replaces the market's margin tiers. Governor only. Applies to open positions at once. Rates move by at
    /// most their step, and at most once per MIN_RATE_CHANGE_INTERVAL per market (shared with the fee, penalty and
    /// funding rates; see ConfigLib).
    /// @dev Warning: raising MMR can make open positions liquidatable immediately; governance should announce it.
    function setMarginTiers(MarketId market, Tier[] calldata tiers) external;
    /// @notice Replaces the market's fee and liquidation parameters. Governor only. A change of the taker fee,
    /// keeper reward or penalty rate is stepped and subject to the market's rate-change cooldown.
    function setRiskParams(MarketId market, RiskParams calldata params) external;
    /// @notice Replaces the market's feed, heartbeat and price bounds. Governor only.
    function setOracleConfig(MarketId market, OracleConfig calldata oracle) external;
    /// @notice Replaces the market's funding settings (skew scale, maximum rate per day). Governor only. The index
    /// is accrued under the old settings first. A change of the maximum rate is stepped and subject to the market's
    /// rate-change cooldown.
    function setFundingParams(MarketId market, FundingParams calldata params) external;
    /// @notice Replaces the market's price-impact skew scale and per-side open-interest caps. Governor only. A market
    /// is listed with zero caps, so nothing can open on it until this is called.
    function setExposureParams(MarketId market, ExposureParams calldata params) external;
    /// @notice Sets the L2 sequencer uptime feed (zero address: none, for L1) and the grace period after a restart.
    /// Governor only.
    function setSequencerConfig(address feed, uint32 gracePeriod) external;
    /// @notice Sets the fraction of open entry notional the pool must keep against LP withdrawals. Governor only.
    /// Stepped, and at most one change per MIN_RATE_CHANGE_INTERVAL.
    function setReserveFactor(uint256 reserveFactor) external;
    /// @notice Pauses or unpauses opening and increasing on one market. Guardian only.
    function setMarketPaused(MarketId market, bool paused) external;
    /// @notice Pauses or unpauses opening and increasing on every market. Guardian only.
    function setGlobalPaused(bool paused) external;

    /* -------------------------------------------------------------------- views */

    /// @notice The collateral token (any ERC-20 with at most 18 decimals, valued at 1 USD).
    function collateralToken() external view returns (address);
    /// @notice The liquidity pool, counterparty to every trade.
    function pool() external view returns (address);
    /// @notice The insurance fund.
    function insuranceFund() external view returns (address);
    /// @notice Collateral token units the account can withdraw or move into positions.
    function freeBalance(address account) external view returns (uint256);
    /// @notice The raw stored position (collateral in token units).
    function getPosition(address account, MarketId market) external view returns (Position memory);
    /// @notice The market's margin tiers.
    function marginTiers(MarketId market) external view returns (Tier[] memory);
    /// @notice The market's fee and liquidation parameters.
    function riskParams(MarketId market) external view returns (RiskParams memory);
    /// @notice The market's oracle settings.
    function oracleConfig(MarketId market) external view returns (OracleConfig memory);
    /// @notice The market's funding settings.
    function fundingParams(MarketId market) external view returns (FundingParams memory);
    /// @notice The market's price-impact scale and open-interest caps.
    function exposureParams(MarketId market) external view returns (ExposureParams memory);
    /// @notice Every listed market, in listing order.
    function listedMarkets() external view returns (MarketId[] memory);
    /// @notice The pool's mark to market against open positions, in token units rounded down: funding owed to the
    /// pool minus traders' unrealised PnL at oracle prices, over every market. `fresh` is false when a market with
    /// open interest has no Ok price (it is then marked at its last known price); the pool then refuses deposits and
    /// withdrawals. See MarketLib.poolValue. Reverts ReentrancyGuardReentrantCall inside an engine transaction (from a
    /// token's transfer hook), where the books are half settled.
    function poolMarkToMarket() external view returns (int256 value, bool fresh);
    /// @notice The funding index accrued to now (WAD USD per unit of size, grows while longs pay), the current rate
    /// (signed WAD fraction of notional per day, positive: longs pay) and the price the index accrues at.
    function fundingState(MarketId market) external view returns (int256 index, int256 ratePerDay, uint256 price);
    /// @notice The L2 sequencer uptime feed settings (feed 0: none).
    function sequencerConfig() external view returns (SequencerConfig memory);
    /// @notice Whether the market is listed.
    function isListed(MarketId market) external view returns (bool);
    /// @notice Whether opening and increasing are paused on the market (see also globalPaused).
    function isMarketPaused(MarketId market) external view returns (bool);
    /// @notice Whether opening and increasing are paused on every market.
    function globalPaused() external view returns (bool);
    /// @notice Open interest of the market in WAD base units, per side.
    function openInterest(MarketId market) external view returns (uint256 long, uint256 short);
    /// @notice Number of open positions on the market.
    function openPositionCount(MarketId market) external view returns (uint256);
    /// @notice Account of the `index`-th open position on the market (order changes as positions close).
    function openPositionAt(MarketId market, uint256 index) external view returns (address);
    /// @notice Fraction of open entry notional the pool must keep (WAD).
    function reserveFactor() external view returns (uint256);
    /// @notice Sum over positions of |size| * entry price, WAD USD, rounded up once per market.
    function totalOpenNotional() external view returns (uint256);
    /// @notice Collateral token units the pool must keep against open interest.
    function reservedAssets() external view returns (uint256);
    /// @notice The market's oracle status and normalised price. The price is 0 when there is none: the answer is not
    /// positive or the feed reverted, or the sequencer is down (the price feed is then not read).
    function oracleStatus(MarketId market) external view returns (OracleStatus status, uint256 price);
    /// @notice Everything the risk math needs about a position: the position, the market's tiers and parameters.
    /// TidemarkLens and the SDK run RiskLib's exact functions on it, the same code as the liquidation check.
    function riskContext(address account, MarketId market) external view returns (RiskContext memory);
    /// @notice True when the position can be liquidated now: fresh price and health factor below 1.
    function isLiquidatable(address account, MarketId market) external view returns (bool);
}
