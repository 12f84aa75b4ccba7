// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketId} from "./MarketId.sol";

/// @notice One margin tier. A tier applies to the part of a position's notional at or above `notionalFloor` and below
/// the next tier's floor (the last tier is unbounded). Rates are marginal, like tax brackets.
/// @dev Packs into one slot.
struct Tier {
    uint128 notionalFloor; // WAD USD; the first tier's floor is 0
    uint64 imr; // initial margin rate, WAD
    uint64 mmr; // maintenance margin rate, WAD
}

/// @notice Per-market fee and liquidation parameters, each within the bounds of ConstantsLib.
/// @dev Packs into three slots.
struct RiskParams {
    uint64 takerFeeRate; // WAD fraction of notional traded, paid to the pool
    uint64 liquidationFeeRate; // WAD fraction of notional closed, keeper reward before clamping
    uint64 liquidationPenaltyRate; // WAD fraction of notional closed, paid to the insurance fund
    uint64 targetHealthFactor; // WAD; a partial liquidation restores at least this health factor
    uint128 minKeeperFee; // WAD USD
    uint128 maxKeeperFee; // WAD USD
    uint128 minPositionNotional; // WAD USD; no position (or partial-liquidation remainder) may be smaller
    uint128 fullLiquidationNotional; // WAD USD; positions at or below this notional are always fully liquidated
}

/// @notice Per-market funding settings. Funding rate = clamp(skew / skewScale, -1, 1) * maxFundingRatePerDay, as a
/// fraction of notional per day; longs pay when skew > 0, shorts when skew < 0; the pool takes the net.
/// @dev Packs into one slot. A zero maxFundingRatePerDay (the default at listing) disables funding.
struct FundingParams {
    uint128 skewScale; // WAD base units
    uint64 maxFundingRatePerDay; // WAD fraction of notional per day
}

/// @notice Per-market price impact and open-interest caps: how much skew and exposure the pool takes on.
/// Price impact: fill price = oracle * (1 + (skewBefore + skewAfter) / (2 * impactSkewScale)), the premium clamped to
/// +-ConstantsLib.MAX_PRICE_IMPACT. Caps: a side's open interest at the oracle price may not exceed its ratio times
/// the pool's token balance after an open or increase.
/// @dev Packs into one slot. At listing all three are zero: no impact, and no opening until governance sets caps.
struct ExposureParams {
    uint128 impactSkewScale; // WAD base units; 0 disables price impact
    uint64 maxLongOpenInterestRatio; // WAD multiple of pool assets
    uint64 maxShortOpenInterestRatio; // WAD multiple of pool assets
}

/// @notice Per-market Chainlink feed settings. Bounds are in normalised WAD prices.
struct OracleConfig {
    address feed;
    uint32 heartbeat; // seconds a round may age before the price counts as stale
    uint8 decimals; // the feed's decimals(), read at configuration
    uint128 minPrice; // WAD
    uint128 maxPrice; // WAD
}

/// @notice An isolated position of one account on one market.
/// @dev Packs into two slots. `entryPrice` fits in 96 bits because prices are capped at ConstantsLib.MAX_PRICE.
struct Position {
    int128 size; // WAD base units, positive long, negative short
    uint128 collateral; // collateral token units
    uint96 entryPrice; // WAD
    int128 fundingIndex; // market funding index at last settlement (market-dynamics issue)
    uint32 index; // position in the market's open-position list, plus one
}

/// @notice Oracle status of a market. Only Ok allows opening, increasing, removing collateral and liquidating.
enum OracleStatus {
    Ok,
    Stale,
    InvalidAnswer,
    OutOfBounds,
    SequencerDown,
    GracePeriod
}

/// @notice Everything a keeper or frontend needs about one position at one price. Money in WAD USD.
struct PositionHealth {
    int256 size;
    uint256 entryPrice;
    uint256 collateral;
    uint256 price;
    uint256 notional;
    int256 pnl;
    int256 fundingOwed;
    uint256 closingFee;
    int256 equity;
    uint256 maintenanceMargin;
    uint256 initialMargin;
    uint256 healthFactor;
    uint256 liquidationPrice;
    bool liquidatable; // health factor below 1 at `price` (the oracle status is reported separately)
    OracleStatus oracleStatus; // status of the price used (Ok when the caller supplied the price)
}

/// @notice A position together with the market parameters its risk depends on, loaded once into memory.
struct RiskContext {
    int256 size; // WAD base units
    uint256 entryPrice; // WAD
    uint256 collateral; // collateral token units
    int256 fundingOwed; // WAD USD owed by the position (positive) or to it (negative)
    uint256 scale; // 10 ** (18 - token decimals): token units to WAD
    Tier[] tiers;
    RiskParams params;
}

/// @notice Storage of one market in the engine.
struct Market {
    // slot: feed settings and flags, read together on every priced action, and the rate-change timer (ConfigLib)
    address feed;
    uint32 heartbeat;
    uint8 feedDecimals;
    bool listed;
    bool paused;
    uint32 lastRateChangeAt; // seconds; last change of a tier table, fee or penalty rate or max funding rate; 0: none
    uint128 minPrice;
    uint128 maxPrice;
    uint128 longOpenInterest;
    uint128 shortOpenInterest;
    RiskParams params;
    Tier[] tiers;
    address[] accounts; // open positions, for enumeration by keepers and the lens
    // funding accrual state (FundingLib), one slot: read and written together on every priced action
    int128 fundingIndex; // cumulative funding per unit of size, WAD USD; grows while longs pay
    uint32 lastFundingTime; // seconds; fits until the year 2106
    uint96 fundingPrice; // oracle price at the last accrual (<= MAX_PRICE < 2**94); the index accrues at it
    FundingParams funding;
    ExposureParams exposure;
    // Exact aggregates over open positions (WAD^2, no rounding). They mark the pool to market without enumerating
    // positions (traders' unrealised PnL = skew * price - (longEntrySum - shortEntrySum); funding owed =
    // skew * index - sizeFundingSum) and give the open entry notional the pool reserve is based on. A trade writes
    // its own side's entry sum only.
    uint256 longEntrySum; // sum over longs of |size| * entryPrice
    uint256 shortEntrySum; // sum over shorts of |size| * entryPrice
    int256 sizeFundingSum; // sum of size * position funding index
    bytes32 pythPriceId; // Pyth price feed id of the market's base asset; orders need it set (setPythPriceId)
}

/// @notice Token flows netted over one engine transaction, settled last. Positive: the engine pays; negative: it
/// receives.
struct Settlement {
    int256 toPool;
    int256 toInsurance;
    uint256 insuranceAvailable; // insurance balance as seen by this transaction (valid when loaded)
    bool insuranceLoaded;
    uint256 keeperReward;
}

/// @notice Lifecycle of a two-step order. An id that was never issued reads as None.
enum OrderStatus {
    None,
    Pending,
    Executed,
    Cancelled
}

/// @notice A requested size change, executed later by anyone at a Pyth price published after the request.
/// @dev Four slots. `collateralDelta` > 0 and `executionFee` are held in escrow (token units) until the order executes
/// or is cancelled. `reduceOnly`: the order decreases or closes the position it was requested against; it never
/// opens the other side (at execution it closes at most what is left, and is cancelled if nothing is).
struct Order {
    address account;
    uint32 requestedAt; // seconds
    OrderStatus status;
    bool reduceOnly;
    MarketId market;
    int128 sizeDelta; // WAD base units
    int128 collateralDelta; // token units
    uint128 acceptablePrice; // WAD; a buy's maximum, a sell's minimum (larger bounds are stored as uint128 max)
    uint128 executionFee; // token units, paid to the executor
}

/// @notice Rules of two-step execution, shared by trader orders and LP requests. Each within ConstantsLib's bounds.
/// @dev One slot.
struct OrderParams {
    uint32 minDelay; // seconds from the request to the earliest publish time of the price it executes at
    uint32 maxDelay; // seconds from the request after which it can no longer execute and anyone may cancel it
    uint32 maxPriceAge; // seconds a Pyth price may have aged when it is used
    uint64 maxDeviation; // WAD fraction: how far the Pyth price may lie from the Chainlink price
    uint96 executionFee; // WAD USD per order or LP request, paid to whoever executes it
}
