/**
 * Display formatting of the protocol's fixed-point numbers for people: USD values (WAD), token amounts, percentages,
 * durations and sizes. Pure bigint and string arithmetic (no floating point), browser-safe. The decoded errors use
 * these for their messages; frontends can use them for the same figures.
 *
 * Every function truncates toward zero (a balance or a requirement is never rounded up for display), groups
 * thousands with commas, and never prints a nonzero value as zero: a value too small for the usual digits gets as
 * many fraction digits as it needs to show its leading significant digits ("0.000042 USD").
 */
import type { MarketId } from "./types.js";

/** How to print a collateral token's amounts: its symbol and decimals (USDC: `{ symbol: "USDC", decimals: 6 }`). */
export type TokenUnits = { symbol: string; decimals: number };

export type FormatDecimalOptions = {
  /** Fraction digits of a value that is not tiny, zero-padded (default 2; never more than the value's decimals). */
  fractionDigits?: number | undefined;
  /**
   * Significant digits of a nonzero value that would print as zero with `fractionDigits` (default 2): 0.0000421
   * prints as "0.000042".
   */
  significantDigits?: number | undefined;
  /**
   * Another value the reader compares this one with ("have X, need Y"): when the two differ but would print the
   * same, both print with the fewest extra fraction digits that tell them apart. Pass each as the other's
   * `distinctFrom` (with the same other options) and they print with the same number of digits.
   */
  distinctFrom?: bigint | undefined;
};

const group = (digits: string): string => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** `value` scaled by 10^decimals, truncated toward zero to `digits` fraction digits, with thousands separators. */
function fixed(value: bigint, decimals: number, digits: number): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const unit = 10n ** BigInt(decimals);
  const whole = group((abs / unit).toString());
  const fraction = decimals === 0 ? "" : (abs % unit).toString().padStart(decimals, "0").slice(0, digits).padEnd(digits, "0");
  const text = digits > 0 ? `${whole}.${fraction}` : whole;
  return negative && /[1-9]/.test(text) ? `-${text}` : text;
}

function checkDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) throw new RangeError(`decimals must be an integer from 0 to 255, got ${decimals}`);
}

/** The value alone, without the `distinctFrom` adjustment. */
function formatAlone(value: bigint, decimals: number, fractionDigits: number, significantDigits: number): string {
  const digits = Math.min(fractionDigits, decimals);
  const text = fixed(value, decimals, digits);
  if (value === 0n || /[1-9]/.test(text)) return text;
  // Tiny: |value| < 10^-digits. Show its first significant digits, without trailing zeros.
  const abs = value < 0n ? -value : value;
  const leadingZeros = decimals - abs.toString().length; // fraction digits before the first nonzero one
  const needed = Math.min(decimals, leadingZeros + Math.max(1, significantDigits));
  return fixed(value, decimals, needed).replace(/0+$/, "");
}

/**
 * A fixed-point integer as decimal text: `formatDecimal(1234567n, 6)` is "1.23", `formatDecimal(42n * 10n ** 12n, 18)`
 * is "0.000042", `formatDecimal(3_000n * 10n ** 18n, 18)` is "3,000.00". Truncates toward zero; a nonzero value never
 * prints as zero (see {@link FormatDecimalOptions}).
 */
export function formatDecimal(value: bigint, decimals: number, options: FormatDecimalOptions = {}): string {
  checkDecimals(decimals);
  const fractionDigits = Math.max(0, Math.floor(options.fractionDigits ?? 2));
  const significantDigits = Math.max(1, Math.floor(options.significantDigits ?? 2));
  const text = formatAlone(value, decimals, fractionDigits, significantDigits);
  const other = options.distinctFrom;
  if (other === undefined || other === value || formatAlone(other, decimals, fractionDigits, significantDigits) !== text) return text;
  // The two differ but read the same: the first precision (at least the usual one) at which they differ. At full
  // precision they always do, so both come out exact at worst.
  for (let d = Math.min(fractionDigits, decimals) + 1; d <= decimals; d++) {
    if (fixed(value, decimals, d) !== fixed(other, decimals, d)) return fixed(value, decimals, d);
  }
  return fixed(value, decimals, decimals);
}

/** The exact decimal value, trailing fraction zeros removed, with thousands separators: "0.025", "1,000". */
export function formatExact(value: bigint, decimals: number): string {
  checkDecimals(decimals);
  const text = fixed(value, decimals, decimals);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** A USD value in WAD (18 decimals): "1,234.56 USD", "0.000042 USD" (see {@link formatDecimal} for the options). */
export function formatUsd(wad: bigint, options: FormatDecimalOptions = {}): string {
  return `${formatDecimal(wad, 18, options)} USD`;
}

/**
 * A collateral token amount in the token's own units: with its units, "12.34 USDC" (see {@link formatDecimal} for
 * the options); without them, the raw integer said to be so: "12340000 raw token units (decimals unknown)".
 */
export function formatTokenAmount(amount: bigint, units?: TokenUnits | undefined, options: FormatDecimalOptions = {}): string {
  if (units === undefined) return `${amount} raw token units (decimals unknown)`;
  return `${formatDecimal(amount, units.decimals, options)} ${units.symbol}`;
}

/**
 * Decimals the pool's shares add to the collateral token's: the pool is an OpenZeppelin ERC-4626 vault with a
 * decimals offset of 6 (LiquidityPool's DECIMALS_OFFSET, against the inflation attack), so a USDC pool's shares have
 * 12 decimals and 1 USDC deposited into a fresh pool buys 1.00 pool share.
 */
export const POOL_SHARE_DECIMALS_OFFSET = 6;

/**
 * An amount of pool shares: with the collateral token's units, "5.00 pool shares" (the shares have the token's
 * decimals plus {@link POOL_SHARE_DECIMALS_OFFSET}; see {@link formatDecimal} for the options); without them, the raw
 * integer said to be so: "5000000 raw pool share units (decimals unknown)".
 */
export function formatPoolShares(shares: bigint, units?: TokenUnits | undefined, options: FormatDecimalOptions = {}): string {
  if (units === undefined) return `${shares} raw pool share units (decimals unknown)`;
  return `${formatDecimal(shares, Math.min(255, units.decimals + POOL_SHARE_DECIMALS_OFFSET), options)} pool shares`;
}

/** A WAD fraction (1e18 = 100%) as an exact percentage: 0.0005e18 is "0.05%", 0.00025e18 is "0.025%". */
export function formatPercent(wad: bigint): string {
  return `${formatExact(wad * 100n, 18)}%`;
}

const DURATION_UNITS: readonly [bigint, string][] = [
  [86_400n, "d"],
  [3_600n, "h"],
  [60n, "min"],
  [1n, "s"],
];

/**
 * A duration in seconds, exact, with its two largest units as a hint from a minute up: "45 seconds",
 * "3,600 seconds (1 h)", "90,061 seconds (1 d 1 h)".
 */
export function formatDuration(seconds: bigint): string {
  const text = `${fixed(seconds, 0, 0)} ${seconds === 1n ? "second" : "seconds"}`;
  if (seconds < 60n || seconds >= 2n ** 64n) return text;
  let rest = seconds;
  const parts = DURATION_UNITS.map(([size, unit]) => {
    const n = rest / size;
    rest %= size;
    return { n, unit };
  });
  const first = parts.findIndex((p) => p.n > 0n);
  const hint = parts
    .slice(first, first + 2)
    .filter((p) => p.n > 0n)
    .map((p) => `${fixed(p.n, 0, 0)} ${p.unit}`);
  return `${text} (${hint.join(" ")})`;
}

/**
 * The base asset of a market id whose symbol reads BASE-QUOTE or BASE/QUOTE: "ETH" for "ETH-USD"; undefined when
 * the id is not such text.
 */
export function marketBaseSymbol(market: MarketId): string | undefined {
  const text = bytes32Text(market);
  const match = text === undefined ? null : /^([^\s/-]+)[/-][^\s/-]+$/.exec(text);
  return match?.[1];
}

/** A bytes32 as printable ASCII text (right zero padding removed), or undefined when it is not. */
function bytes32Text(x: `0x${string}`): string | undefined {
  if (!/^0x[0-9a-fA-F]{64}$/.test(x)) return undefined;
  let text = "";
  let end = 66;
  while (end > 2 && x.slice(end - 2, end) === "00") end -= 2;
  for (let i = 2; i < end; i += 2) {
    const code = Number.parseInt(x.slice(i, i + 2), 16);
    if (code < 0x20 || code > 0x7e) return undefined;
    text += String.fromCharCode(code);
  }
  return text.length > 0 ? text : undefined;
}
