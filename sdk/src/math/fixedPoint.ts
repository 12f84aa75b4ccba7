/**
 * Fixed-point helpers mirroring `contracts/libraries/FixedPointMathLib.sol` and OpenZeppelin's `Math.mulDiv`. Every
 * helper names its rounding direction. bigint only: arbitrary precision, so no intermediate overflows, and Solidity's
 * checked arithmetic would revert where these would go on (inputs come from the contracts, which bound them).
 */

/** 1e18: the unit of prices, sizes, rates and USD amounts. */
export const WAD = 10n ** 18n;
/** 1e36: the scale of exact products (size * price). */
export const WAD2 = 10n ** 36n;
/** type(uint256).max. */
export const MAX_UINT256 = 2n ** 256n - 1n;

/** |x|. */
export const abs = (x: bigint): bigint => (x < 0n ? -x : x);
export const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
export const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** ceil(x / y) for x >= 0, y > 0. */
export const divUp = (x: bigint, y: bigint): bigint => {
  const z = x / y;
  return z * y === x ? z : z + 1n;
};

/** floor(x / y) towards negative infinity, for y > 0. */
export const sDivDown = (x: bigint, y: bigint): bigint => {
  const z = x / y;
  return x < 0n && z * y !== x ? z - 1n : z;
};

/** floor(x * y / WAD). */
export const mulWadDown = (x: bigint, y: bigint): bigint => (x * y) / WAD;
/** ceil(x * y / WAD). */
export const mulWadUp = (x: bigint, y: bigint): bigint => divUp(x * y, WAD);
/** floor(x * WAD / y). */
export const divWadDown = (x: bigint, y: bigint): bigint => (x * WAD) / y;
/** ceil(x * WAD / y). */
export const divWadUp = (x: bigint, y: bigint): bigint => divUp(x * WAD, y);

/** floor(x * y / d) (OpenZeppelin `Math.mulDiv` rounding Floor), for non-negative operands. */
export const mulDivDown = (x: bigint, y: bigint, d: bigint): bigint => (x * y) / d;
/** ceil(x * y / d) (OpenZeppelin `Math.mulDiv` rounding Ceil), for non-negative operands. */
export const mulDivUp = (x: bigint, y: bigint, d: bigint): bigint => divUp(x * y, d);
