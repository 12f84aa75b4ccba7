// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ConstantsLib
/// @notice Hard bounds of every governed parameter and the protocol's fixed limits, in readable units.
/// Rates are WAD fractions (1e18 = 100%), money is WAD USD, prices are WAD USD per unit of base asset.
library ConstantsLib {
    /// @dev Maximum number of margin tiers per market.
    uint256 internal constant MAX_TIERS = 8;
    /// @dev Lowest maintenance margin rate a tier may have: 0.1%.
    uint256 internal constant MIN_MMR = 0.001e18;
    /// @dev Highest maintenance margin rate a tier may have: 50%. Keeps fee + MMR < 100%, which makes the liquidation
    /// check strictly monotone in price for longs.
    uint256 internal constant MAX_MMR = 0.5e18;
    /// @dev Highest initial margin rate a tier may have: 100% (1x leverage).
    uint256 internal constant MAX_IMR = 1e18;

    /// @dev Highest taker fee: 1% of notional.
    uint256 internal constant MAX_TAKER_FEE_RATE = 0.01e18;
    /// @dev Highest keeper reward rate: 1% of notional closed.
    uint256 internal constant MAX_LIQUIDATION_FEE_RATE = 0.01e18;
    /// @dev Highest liquidation penalty rate: 5% of notional closed.
    uint256 internal constant MAX_LIQUIDATION_PENALTY_RATE = 0.05e18;
    /// @dev Highest minimum keeper fee: 1,000 USD.
    uint256 internal constant MAX_MIN_KEEPER_FEE = 1_000e18;
    /// @dev Highest maximum keeper fee: 100,000 USD.
    uint256 internal constant MAX_MAX_KEEPER_FEE = 100_000e18;
    /// @dev Liquidation target health factor bounds: 1.05 to 3.
    uint256 internal constant MIN_TARGET_HEALTH_FACTOR = 1.05e18;
    uint256 internal constant MAX_TARGET_HEALTH_FACTOR = 3e18;
    /// @dev Minimum position notional bounds: 1 USD to 100,000 USD.
    uint256 internal constant MIN_MIN_POSITION_NOTIONAL = 1e18;
    uint256 internal constant MAX_MIN_POSITION_NOTIONAL = 100_000e18;
    /// @dev Highest notional below which a liquidation is always full: 10,000,000 USD.
    uint256 internal constant MAX_FULL_LIQUIDATION_NOTIONAL = 10_000_000e18;

    /// @dev Oracle heartbeat bounds: 1 minute to 2 days.
    uint256 internal constant MIN_HEARTBEAT = 60;
    uint256 internal constant MAX_HEARTBEAT = 2 days;
    /// @dev Sequencer grace period bounds: 0 (no grace) to 1 day.
    uint256 internal constant MAX_GRACE_PERIOD = 1 days;
    /// @dev Highest price a market may accept: 1e10 USD per unit. Together with MAX_POSITION_SIZE it keeps every
    /// risk product below 2**256 (|size| * price * rate <= 1e30 * 1e28 * 1e18 = 1e76).
    uint256 internal constant MAX_PRICE = 1e28;
    /// @dev Largest absolute position size: 1e12 units of base asset.
    uint256 internal constant MAX_POSITION_SIZE = 1e30;
    /// @dev Highest feed decimals accepted.
    uint256 internal constant MAX_FEED_DECIMALS = 36;

    /// @dev Funding: skew scale from 1 to 1e15 units of base asset; maximum rate up to 5% of notional per day.
    uint256 internal constant MIN_SKEW_SCALE = 1e18;
    uint256 internal constant MAX_SKEW_SCALE = 1e33;
    uint256 internal constant MAX_FUNDING_RATE_PER_DAY = 0.05e18;

    /// @dev Pool reserve factor bounds: withdrawals must leave 0% to 100% of open notional in the pool.
    uint256 internal constant MAX_RESERVE_FACTOR = 1e18;

    /// @dev Price impact: the marginal premium at any skew is clamped to 1% (PricingLib integrates the clamped premium
    /// along each trade's path), a rail against a mis-set skew scale; governance sets the scale so that normal
    /// premiums are a few basis points.
    uint256 internal constant MAX_PRICE_IMPACT = 0.01e18;
    /// @dev Impact skew scale bounds when enabled (0 disables impact): 1 to 1e15 units of base asset.
    uint256 internal constant MIN_IMPACT_SKEW_SCALE = 1e18;
    uint256 internal constant MAX_IMPACT_SKEW_SCALE = 1e33;
    /// @dev Highest open-interest cap per side: 10 times the pool's assets.
    uint256 internal constant MAX_OPEN_INTEREST_RATIO = 10e18;

    /// @dev Largest change of a rate in one setter call, so a mistaken or hostile proposal cannot reprice every
    /// position at once; MIN_RATE_CHANGE_INTERVAL below spaces the calls out. Bounds above still apply.
    /// IMR and MMR: 1 percentage point at any notional (compared tier by tier over both tables' breakpoints).
    uint256 internal constant MAX_MARGIN_RATE_STEP = 0.01e18;
    /// @dev Taker fee and keeper reward rate: 10 basis points per change.
    uint256 internal constant MAX_FEE_RATE_STEP = 0.001e18;
    /// @dev Liquidation penalty rate: 50 basis points per change.
    uint256 internal constant MAX_PENALTY_RATE_STEP = 0.005e18;
    /// @dev Maximum funding rate: 1 percentage point per day per change.
    uint256 internal constant MAX_FUNDING_RATE_STEP = 0.01e18;
    /// @dev Pool reserve factor: 10 percentage points per change.
    uint256 internal constant MAX_RESERVE_FACTOR_STEP = 0.1e18;
    /// @dev Shortest time between two changes of stepped rates: per market for margin tiers, fee and penalty rates and
    /// the maximum funding rate (one timer shared by the three setters), globally for the reserve factor. N steps then
    /// take at least N - 1 days after the first, however the timelock batches them (a batch of two reverts at the
    /// second).
    uint256 internal constant MIN_RATE_CHANGE_INTERVAL = 1 days;

    /// @dev Two-step execution (OrderParams). Minimum delay from request to the price's publish time: 1 second (so the
    /// price is always published after the request) to 1 minute.
    uint256 internal constant MIN_ORDER_MIN_DELAY = 1;
    uint256 internal constant MAX_ORDER_MIN_DELAY = 60;
    /// @dev Expiry of an unexecuted request: 30 seconds to 1 day after it, and after its minimum delay.
    uint256 internal constant MIN_ORDER_MAX_DELAY = 30;
    uint256 internal constant MAX_ORDER_MAX_DELAY = 1 days;
    /// @dev Age a Pyth price may have when used: 1 second to 5 minutes.
    uint256 internal constant MIN_PRICE_AGE = 1;
    uint256 internal constant MAX_PRICE_AGE = 5 minutes;
    /// @dev Largest accepted distance of the Pyth price from the Chainlink price: 0.1% to 10%.
    uint256 internal constant MIN_PRICE_DEVIATION = 0.001e18;
    uint256 internal constant MAX_PRICE_DEVIATION = 0.1e18;
    /// @dev Highest execution fee per order or LP request: 100 USD.
    uint256 internal constant MAX_EXECUTION_FEE = 100e18;
}
