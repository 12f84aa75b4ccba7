/**
 * Price impact, fees and slippage, mirroring `contracts/libraries/PricingLib.sol`. The premium at skew x is
 * clamp(x / skewScale, -1%, +1%); a trade moving the skew from s0 to s1 pays price * (Phi(s1) - Phi(s0)), Phi the
 * integral of the premium, and fills at price + impact / sizeDelta, rounded against the trader.
 */
import { MAX_PRICE_IMPACT } from "./constants.js";
import { WAD, abs, divUp, mulDivDown, mulDivUp, sDivDown } from "./fixedPoint.js";

/** price * Phi(x) in WAD^2 USD with one rounding (PricingLib's `_phi36`). */
export function phi36(price: bigint, x: bigint, skewScale: bigint, rounding: "up" | "down"): bigint {
  const s = abs(x);
  const m = MAX_PRICE_IMPACT;
  const mulDiv = rounding === "up" ? mulDivUp : mulDivDown;
  if (s * WAD <= m * skewScale) return mulDiv(price * s, s, 2n * skewScale);
  return mulDiv(price, 2n * m * s * WAD - m * m * skewScale, 2n * WAD * WAD);
}

/**
 * Fill price of a trade of `sizeDelta` (positive buys) at oracle `price` on a market whose skew (long minus short open
 * interest) is `skew` before the trade. `skewScale` 0 disables impact.
 */
export function fillPrice(price: bigint, skew: bigint, sizeDelta: bigint, skewScale: bigint): bigint {
  if (skewScale === 0n || sizeDelta === 0n) return price;
  const impact36 = phi36(price, skew + sizeDelta, skewScale, "up") - phi36(price, skew, skewScale, "down");
  const premium = sizeDelta > 0n ? -sDivDown(-impact36, sizeDelta) : sDivDown(-impact36, -sizeDelta);
  const fill = price + premium;
  return fill > 0n ? fill : 0n;
}

/** The premium unwinding the whole `skew` at `price` would pay back to traders, WAD^2 USD rounded up. */
export const unwindPremium36 = (price: bigint, skew: bigint, skewScale: bigint): bigint =>
  skewScale === 0n ? 0n : phi36(price, skew, skewScale, "up");

/** Taker fee in token units on `absSize` filled at `fill`: a charge, rounded up in one step. */
export const takerFee = (absSize: bigint, fill: bigint, feeRate: bigint, scale: bigint): bigint =>
  divUp(absSize * fill * feeRate, WAD * WAD * scale);

/** What the impact cost a trade, token units: positive when the trader paid, rounded towards negative infinity. */
export const impactCost = (sizeDelta: bigint, fill: bigint, price: bigint, scale: bigint): bigint =>
  sDivDown(sizeDelta * (fill - price), WAD * scale);

/** Basis points in one: slippage is given in basis points. */
export const BPS = 10_000n;

/**
 * The `acceptablePrice` bound for a trade expected to fill at `expectedFill` with at most `slippageBps` of slippage:
 * a buy accepts up to expected * (1 + bps), rounded down; a sell down to expected * (1 - bps), rounded up. Both
 * roundings keep the bound at least as tight as asked.
 */
export function acceptablePrice(expectedFill: bigint, isBuy: boolean, slippageBps: bigint): bigint {
  if (slippageBps < 0n || slippageBps > BPS) throw new RangeError(`slippageBps must be within 0..10000, got ${slippageBps}`);
  return isBuy ? (expectedFill * (BPS + slippageBps)) / BPS : divUp(expectedFill * (BPS - slippageBps), BPS);
}
