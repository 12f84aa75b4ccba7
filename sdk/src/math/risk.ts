/**
 * The protocol's risk model, mirroring `contracts/libraries/RiskLib.sol` line for line, rounding included. The
 * liquidation check runs on exact products at 1e36 scale (size * price) with one rounding up of the closing fee and
 * one of the tier sum, so health factor < 1 exactly when `equity36 < maintenance36`, and every quantity here equals
 * the engine's and the lens's to the wei.
 *
 * Units: a "36" suffix is 1e36 scale (WAD * WAD); otherwise WAD, unless named in token units.
 */
import { INT128_MAX, MAX_PRICE } from "./constants.js";
import { MAX_UINT256, WAD, abs, divUp, max, min, mulWadDown, sDivDown } from "./fixedPoint.js";
import type { RiskContext, Tier } from "./types.js";

/* ---------------------------------------------------------------------- margin */

/**
 * Tiered (marginal) margin requirement at 1e36 scale for an exact notional `n36` (= |size| * price), the tier sum
 * rounded up once. `initial` picks the initial margin rates, else maintenance.
 */
export function requirement36(tiers: readonly Tier[], n36: bigint, initial: boolean): bigint {
  let acc = 0n;
  const len = tiers.length;
  for (let i = 0; i < len; i++) {
    const lower = tiers[i].notionalFloor * WAD;
    if (n36 <= lower) break;
    const upper = i + 1 < len ? tiers[i + 1].notionalFloor * WAD : MAX_UINT256;
    const portion = (n36 < upper ? n36 : upper) - lower;
    acc += (initial ? tiers[i].imr : tiers[i].mmr) * portion;
  }
  return divUp(acc, WAD);
}

/** Tiered margin requirement in WAD USD for a WAD notional, rounded up. */
export const requirement = (tiers: readonly Tier[], notional: bigint, initial: boolean): bigint =>
  divUp(requirement36(tiers, notional * WAD, initial), WAD);

/** Maintenance margin (WAD USD, rounded up) of a WAD notional. */
export const maintenanceMargin = (tiers: readonly Tier[], notional: bigint): bigint => requirement(tiers, notional, false);

/** Initial margin (WAD USD, rounded up) of a WAD notional. */
export const initialMargin = (tiers: readonly Tier[], notional: bigint): bigint => requirement(tiers, notional, true);

/* ---------------------------------------------------------------------- equity */

/** Taker fee for closing notional `n36`, 1e36 scale, rounded up: equity is never overstated. */
export const closingFee36 = (ctx: RiskContext, n36: bigint): bigint => divUp(n36 * ctx.params.takerFeeRate, WAD);

/** Exact equity at `price`, 1e36 scale: collateral + unrealised PnL - funding owed - closing fee (rounded up). */
export function equity36(ctx: RiskContext, price: bigint): bigint {
  const fee36 = closingFee36(ctx, abs(ctx.size) * price);
  const pnl36 = ctx.size * (price - ctx.entryPrice);
  return ctx.collateral * ctx.scale * WAD + pnl36 - ctx.fundingOwed * WAD - fee36;
}

/** Exact equity and maintenance requirement at `price`, both 1e36 scale. */
export function health36(ctx: RiskContext, price: bigint): { e36: bigint; mm36: bigint } {
  return { e36: equity36(ctx, price), mm36: requirement36(ctx.tiers, abs(ctx.size) * price, false) };
}

/** True when the position's health factor is below 1 at `price`: the engine's liquidation predicate. */
export function isLiquidatable(ctx: RiskContext, price: bigint): boolean {
  const { e36, mm36 } = health36(ctx, price);
  return e36 < mm36;
}

/**
 * Health factor (WAD) from exact equity and maintenance requirement: floor(e / mm). 0 when equity <= 0; with no
 * requirement (empty position, price 0) the maximum uint256 unless equity is negative.
 */
export function healthFactor(e36: bigint, mm36: bigint): bigint {
  if (mm36 === 0n) return e36 < 0n ? 0n : MAX_UINT256;
  if (e36 <= 0n) return 0n;
  return (e36 * WAD) / mm36;
}

/* ----------------------------------------------------------- liquidation price */

/**
 * The liquidation price. A long is liquidatable exactly when the oracle price is below it (0: never); a short exactly
 * when the price is above it (max uint256: never below MAX_PRICE). Same search as the contract: a closed-form estimate,
 * then a gallop and bisection on the liquidation predicate, which is monotone in price, so the answer is exact.
 */
export function liquidationPrice(ctx: RiskContext): bigint {
  if (ctx.size === 0n) return 0n;
  const long = ctx.size > 0n;
  const estimate = liquidationPriceEstimate(ctx);
  // Long: first price that is safe. Short: first price that is liquidatable.
  const pred = long ? (p: bigint) => !isLiquidatable(ctx, p) : (p: bigint) => isLiquidatable(ctx, p);
  const { yes: b } = firstTrue(pred, estimate, 1n, MAX_PRICE, 1n);
  if (long) {
    if (b === 1n) return 0n; // safe at every accepted price
    return b > MAX_PRICE ? MAX_UINT256 : b;
  }
  return b > MAX_PRICE ? MAX_UINT256 : b - 1n;
}

/** Solves equity(n) = MM(n) tier by tier in WAD (an estimate; the search makes it exact). */
function liquidationPriceEstimate(ctx: RiskContext): bigint {
  const absSize = abs(ctx.size);
  const f = ctx.params.takerFeeRate;
  const entryValue = mulWadDown(absSize, ctx.entryPrice);
  const k = ctx.collateral * ctx.scale - ctx.fundingOwed + (ctx.size > 0n ? -entryValue : entryValue);
  let base = 0n; // MM at the tier floor, WAD
  const len = ctx.tiers.length;
  for (let i = 0; i < len; i++) {
    const lower = ctx.tiers[i].notionalFloor;
    const upper = i + 1 < len ? ctx.tiers[i + 1].notionalFloor : INT128_MAX;
    const m = ctx.tiers[i].mmr;
    // Signed division truncates toward zero, as in Solidity.
    const n = ctx.size > 0n ? ((base - k) * WAD - m * lower) / (WAD - f - m) : ((k - base) * WAD + m * lower) / (WAD + f + m);
    if (n < upper) return n <= 0n ? 1n : (n * WAD) / absSize + 1n;
    base += (m * (upper - lower)) / WAD;
  }
  return ctx.entryPrice;
}

/* ---------------------------------------------------------------------- search */

/**
 * First x in [lo, hi] with pred(x) true, for a predicate that is false then true, mirroring RiskLib's `_firstTrue`:
 * gallops outward from `estimate` (steps of tol, 2 tol, 4 tol, ...), then bisects until the bracket is at most `tol`
 * wide. Returns `yes`, a true point (the first one when tol = 1; hi + 1 when pred is false everywhere), and `no`, the
 * largest false point found below it. The contract's exact path is kept so that, where the predicate is monotone only
 * up to rounding (partial liquidation sizing), the SDK lands on the same point.
 */
export function firstTrue(
  pred: (x: bigint) => boolean,
  estimate: bigint,
  lo: bigint,
  hi: bigint,
  tol: bigint,
): { no: bigint; yes: bigint } {
  const x = min(max(estimate, lo), hi);
  let no: bigint;
  let yes: bigint;
  if (pred(x)) {
    yes = x;
    let step = tol;
    for (;;) {
      if (yes - lo < step) {
        if (pred(lo)) return { no: lo, yes: lo };
        no = lo;
        break;
      }
      const c = yes - step;
      if (!pred(c)) {
        no = c;
        break;
      }
      yes = c;
      step <<= 1n;
    }
  } else {
    no = x;
    let step = tol;
    for (;;) {
      if (hi - no < step) {
        if (!pred(hi)) return { no: hi, yes: hi + 1n };
        yes = hi;
        break;
      }
      const c = no + step;
      if (pred(c)) {
        yes = c;
        break;
      }
      no = c;
      step <<= 1n;
    }
  }
  while (yes - no > tol) {
    const mid = no + (yes - no) / 2n;
    if (pred(mid)) yes = mid;
    else no = mid;
  }
  return { no, yes };
}

/* ------------------------------------------------------------- display values */

/** Everything about one position at one price, as the lens's `PositionHealth` reports it. Money in WAD USD. */
export type PositionHealth = {
  size: bigint;
  entryPrice: bigint;
  /** WAD USD (token units * scale). */
  collateral: bigint;
  price: bigint;
  /** |size| * price, rounded up. */
  notional: bigint;
  /** Unrealised PnL, rounded down. */
  pnl: bigint;
  fundingOwed: bigint;
  /** Taker fee of closing now, rounded up. */
  closingFee: bigint;
  /** collateral + pnl - funding owed - closing fee, rounded down. */
  equity: bigint;
  maintenanceMargin: bigint;
  initialMargin: bigint;
  /** equity / maintenance margin, WAD, rounded down (see healthFactor). */
  healthFactor: bigint;
  liquidationPrice: bigint;
  /** Health factor below 1 at `price`. */
  liquidatable: boolean;
};

/**
 * Every field of the lens's `positionHealthAt(account, market, price)` from a risk context, rounded for display in the
 * protocol's favour exactly as the lens does.
 */
export function positionHealth(ctx: RiskContext, price: bigint): PositionHealth {
  const n36 = abs(ctx.size) * price;
  const { e36, mm36 } = health36(ctx, price);
  return {
    size: ctx.size,
    entryPrice: ctx.entryPrice,
    collateral: ctx.collateral * ctx.scale,
    price,
    notional: divUp(n36, WAD),
    pnl: sDivDown(ctx.size * (price - ctx.entryPrice), WAD),
    fundingOwed: ctx.fundingOwed,
    closingFee: divUp(closingFee36(ctx, n36), WAD),
    equity: sDivDown(e36, WAD),
    maintenanceMargin: divUp(mm36, WAD),
    initialMargin: divUp(requirement36(ctx.tiers, n36, true), WAD),
    healthFactor: healthFactor(e36, mm36),
    liquidationPrice: liquidationPrice(ctx),
    liquidatable: e36 < mm36,
  };
}

/** Notional of a size at a price, WAD USD: |size| * price rounded up (requirements) or down (the minimum-size check). */
export const notional = (size: bigint, price: bigint, rounding: "up" | "down" = "up"): bigint =>
  rounding === "up" ? divUp(abs(size) * price, WAD) : (abs(size) * price) / WAD;

/** Unrealised PnL of a position at `price`, WAD USD rounded down (towards negative infinity). */
export const unrealizedPnl = (size: bigint, entryPrice: bigint, price: bigint): bigint =>
  sDivDown(size * (price - entryPrice), WAD);
