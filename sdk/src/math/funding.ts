/** Funding, mirroring `contracts/libraries/FundingLib.sol`. */
import { SECONDS_PER_DAY } from "./constants.js";
import { WAD, abs, min, mulDivUp, sDivDown } from "./fixedPoint.js";

/**
 * Funding owed by a position of `size` last settled at `positionIndex`, at market index `index`, divided by
 * `divisor` (WAD for WAD USD, WAD * scale for token units). Owed rounds up, received rounds toward zero.
 */
export const fundingOwed = (size: bigint, index: bigint, positionIndex: bigint, divisor: bigint = WAD): bigint =>
  -sDivDown(-(size * (index - positionIndex)), divisor);

/** Market state the funding index accrues from. */
export type FundingAccrual = {
  /** Cumulative index at the last accrual. */
  index: bigint;
  /** Long minus short open interest (constant since the last accrual). */
  skew: bigint;
  skewScale: bigint;
  maxFundingRatePerDay: bigint;
  /** Oracle price of the last priced action: the index accrues at it. */
  price: bigint;
  /** Seconds since the last accrual. */
  elapsed: bigint;
};

/** The funding index after `elapsed` seconds (FundingLib's `pendingIndex`); each increment rounds away from zero. */
export function accrueFundingIndex(a: FundingAccrual): bigint {
  if (a.elapsed === 0n || a.skew === 0n || a.maxFundingRatePerDay === 0n) return a.index;
  const delta = mulDivUp(
    min(abs(a.skew), a.skewScale) * a.maxFundingRatePerDay,
    a.price * a.elapsed,
    a.skewScale * WAD * SECONDS_PER_DAY,
  );
  return a.skew > 0n ? a.index + delta : a.index - delta;
}

/** Funding rate, signed WAD fraction of notional per day (positive: longs pay). */
export function fundingRatePerDay(skew: bigint, skewScale: bigint, maxFundingRatePerDay: bigint): bigint {
  if (skew === 0n || maxFundingRatePerDay === 0n) return 0n;
  const rate = (min(abs(skew), skewScale) * maxFundingRatePerDay) / skewScale;
  return skew > 0n ? rate : -rate;
}
