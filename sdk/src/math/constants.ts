/** Hard bounds of `contracts/libraries/ConstantsLib.sol` that the SDK's math depends on. */

/** Highest accepted oracle price (WAD). */
export const MAX_PRICE = 10n ** 28n;
/** Largest position size (WAD base units). */
export const MAX_POSITION_SIZE = 10n ** 30n;
/** Largest premium of a fill price over or under the oracle price: 1% (WAD). */
export const MAX_PRICE_IMPACT = 10n ** 16n;
/** type(int128).max: the open upper bound of the last margin tier in the liquidation estimates. */
export const INT128_MAX = 2n ** 127n - 1n;
/** Seconds per day: funding rates are per day. */
export const SECONDS_PER_DAY = 86_400n;
