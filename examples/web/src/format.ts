/**
 * Display formatting for the page, pure (no DOM, no I/O) so the end-to-end test formats the lens's values exactly the
 * same way. Built on the SDK's formatters: every function truncates toward zero (never rounds up a health factor or a
 * balance for display), groups thousands, and never shows a nonzero value as zero (a tiny one gets the digits it
 * needs: "0.000042").
 */
import { type TokenUnits, formatDecimal, formatTokenAmount } from "@tidemark/sdk";

const MAX_UINT256 = 2n ** 256n - 1n;

/**
 * `value` with `decimals` decimals, truncated to `digits` fractional digits, with thousands separators: "3,000.00";
 * more digits only for a nonzero value that would otherwise show as zero.
 */
export function formatFixed(value: bigint, decimals: number, digits: number): string {
  return formatDecimal(value, decimals, { fractionDigits: digits });
}

/** A WAD (18-decimal) value: prices and USD amounts with 2 digits, sizes with 4. */
export const formatWad = (value: bigint, digits = 2): string => formatFixed(value, 18, digits);

/** A health factor (WAD, 1e18 = 1) with 4 digits; "∞" for the contract's "no requirement" value (max uint256). */
export const formatHealthFactor = (hf: bigint): string => (hf >= MAX_UINT256 ? "∞" : formatFixed(hf, 18, 4));

/**
 * A liquidation price (WAD) with 2 digits. A long is never liquidated by price when it is 0, a short when it is max
 * uint256: both show as "none".
 */
export const formatLiquidationPrice = (price: bigint): string =>
  price === 0n || price >= MAX_UINT256 ? "none" : formatFixed(price, 18, 2);

/** A signed WAD fraction per day as a percentage with 4 digits: "0.0012%/day". */
export const formatRatePerDay = (rate: bigint): string => `${formatFixed(rate * 100n, 18, 4)}%/day`;

/** A collateral token amount (token units) with its decimals and symbol: "1,000.00 USDC", "0.000001 USDC". */
export const formatToken = (amount: bigint, units: TokenUnits): string => formatTokenAmount(amount, units);
