/**
 * The tests' independent TypeScript model of Tidemark's exact risk math (RiskLib and the engine's trade arithmetic),
 * written from the specification: 1e36 products, one rounding per quantity in the protocol's favour. Tests compare
 * the contracts against it. It is deliberately not the SDK: an independent model catches a bug both could share.
 */
export const WAD = 10n ** 18n;
export const WAD2 = 10n ** 36n;
export const MAX_PRICE = 10n ** 28n;
export const MAX_UINT = 2n ** 256n - 1n;

export type Tier = { notionalFloor: bigint; imr: bigint; mmr: bigint };
export type Params = {
  takerFeeRate: bigint;
  liquidationFeeRate: bigint;
  liquidationPenaltyRate: bigint;
  targetHealthFactor: bigint;
  minKeeperFee: bigint;
  maxKeeperFee: bigint;
  minPositionNotional: bigint;
  fullLiquidationNotional: bigint;
};
/** A position and its market's parameters. Collateral in token units, everything else WAD. */
export type Ctx = {
  size: bigint;
  entryPrice: bigint;
  collateral: bigint;
  fundingOwed: bigint;
  scale: bigint;
  tiers: readonly Tier[];
  params: Params;
};

export type Plan = {
  full: boolean;
  closeSize: bigint;
  realizedPnl: bigint;
  keeperReward: bigint;
  penalty: bigint;
  remainingCollateral: bigint;
};

/* ------------------------------------------------------------------ arithmetic */

export const abs = (x: bigint) => (x < 0n ? -x : x);
export const min = (a: bigint, b: bigint) => (a < b ? a : b);
export const max = (a: bigint, b: bigint) => (a > b ? a : b);
/** ceil(a / b) for a >= 0, b > 0. */
export const divUp = (a: bigint, b: bigint) => (a + b - 1n) / b;
/** floor(a / b) towards -infinity, b > 0. */
export const floorDiv = (a: bigint, b: bigint) => {
  const q = a / b;
  return a < 0n && q * b !== a ? q - 1n : q;
};

/* --------------------------------------------------------------------- model */

/** Marginal tiered requirement of exact notional n36 (1e36 scale), tier sum rounded up once. */
export function requirement36(tiers: readonly Tier[], n36: bigint, initial: boolean): bigint {
  let acc = 0n;
  for (let i = 0; i < tiers.length; i++) {
    const lower = tiers[i].notionalFloor * WAD;
    if (n36 <= lower) break;
    const upper = i + 1 < tiers.length ? tiers[i + 1].notionalFloor * WAD : null;
    const portion = (upper === null || n36 < upper ? n36 : upper) - lower;
    acc += (initial ? tiers[i].imr : tiers[i].mmr) * portion;
  }
  return divUp(acc, WAD);
}

export const closingFee36 = (ctx: Ctx, n36: bigint) => divUp(n36 * ctx.params.takerFeeRate, WAD);

export function equity36(ctx: Ctx, price: bigint): bigint {
  const fee36 = closingFee36(ctx, abs(ctx.size) * price);
  return ctx.collateral * ctx.scale * WAD + ctx.size * (price - ctx.entryPrice) - ctx.fundingOwed * WAD - fee36;
}

export function health36(ctx: Ctx, price: bigint): { e36: bigint; mm36: bigint } {
  return { e36: equity36(ctx, price), mm36: requirement36(ctx.tiers, abs(ctx.size) * price, false) };
}

export function isLiquidatable(ctx: Ctx, price: bigint): boolean {
  const { e36, mm36 } = health36(ctx, price);
  return e36 < mm36;
}

export function healthFactor(e36: bigint, mm36: bigint): bigint {
  if (mm36 === 0n) return e36 < 0n ? 0n : MAX_UINT;
  if (e36 <= 0n) return 0n;
  return (e36 * WAD) / mm36;
}

/**
 * Liquidation price by plain bisection on the predicate over [1, MAX_PRICE] (no estimate): long -> first safe price
 * (0 if safe everywhere), short -> last safe price (max uint if safe everywhere).
 */
export function liquidationPrice(ctx: Ctx): bigint {
  if (ctx.size === 0n) return 0n;
  const long = ctx.size > 0n;
  const pred = (p: bigint) => (long ? !isLiquidatable(ctx, p) : isLiquidatable(ctx, p));
  let lo = 1n;
  let hi = MAX_PRICE;
  if (pred(lo)) return long ? 0n : 0n; // long safe everywhere; short liquidatable at every price
  if (!pred(hi)) return MAX_UINT;
  // invariant: pred(lo) false, pred(hi) true
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (pred(mid)) hi = mid;
    else lo = mid;
  }
  return long ? hi : hi - 1n;
}

/** Amounts of closing `closeSize` at `price` (token units for money). */
export function planFor(ctx: Ctx, price: bigint, closeSize: bigint): Plan {
  const absSize = abs(ctx.size);
  const signedClose = ctx.size > 0n ? closeSize : -closeSize;
  const realizedPnl = floorDiv(signedClose * (price - ctx.entryPrice), WAD * ctx.scale);
  const closed36 = closeSize * price;
  let reward = (closed36 * ctx.params.liquidationFeeRate) / WAD2;
  reward = max(ctx.params.minKeeperFee, min(reward, ctx.params.maxKeeperFee));
  const keeperReward = reward / ctx.scale;
  const penalty = divUp(divUp(closed36 * ctx.params.liquidationPenaltyRate, WAD2), ctx.scale);
  // Funding settles on every liquidation, full or partial: owed rounds up to token units, received toward zero.
  const value = ctx.collateral + realizedPnl + floorDiv(-ctx.fundingOwed, ctx.scale);
  const full = closeSize === absSize;
  return { full, closeSize, realizedPnl, keeperReward, penalty, remainingCollateral: value };
}

/** The position left after closing down to `remaining` (funding settled), or null when its collateral would be negative. */
export function remainderCtx(ctx: Ctx, price: bigint, remaining: bigint): Ctx | null {
  const p = planFor(ctx, price, abs(ctx.size) - remaining);
  const c = p.remainingCollateral - p.keeperReward - p.penalty;
  if (c < 0n) return null;
  return { ...ctx, size: ctx.size > 0n ? remaining : -remaining, collateral: c, fundingOwed: 0n };
}

/** Exact post-liquidation health of a remainder is at least the target health factor. */
export function meetsTarget(ctx: Ctx, price: bigint, remaining: bigint): boolean {
  const r = remainderCtx(ctx, price, remaining);
  if (r === null) return false;
  const { e36, mm36 } = health36(r, price);
  // e36 / mm36 >= T  <=>  e36 * WAD >= T * mm36
  return e36 * WAD >= ctx.params.targetHealthFactor * mm36;
}

/** Liquidation sizing per the specification; the partial remainder found by bisection over the target predicate. */
export function planLiquidation(ctx: Ctx, price: bigint): Plan {
  const absSize = abs(ctx.size);
  const notional = divUp(absSize * price, WAD);
  if (notional > ctx.params.fullLiquidationNotional && equity36(ctx, price) > 0n) {
    const minRemaining = divUp(ctx.params.minPositionNotional * WAD, price);
    if (minRemaining < absSize && meetsTarget(ctx, price, minRemaining)) {
      // largest remaining in [minRemaining, absSize - 1] meeting the target (monotone up to rounding)
      let lo = minRemaining; // meets
      let hi = absSize; // misses (HF < 1 before)
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        if (meetsTarget(ctx, price, mid)) lo = mid;
        else hi = mid;
      }
      return planFor(ctx, price, absSize - lo);
    }
  }
  return planFor(ctx, price, absSize);
}

/** Taker fee in token units for trading |sizeDelta| at `price`: ceil(|size| * price * rate / (1e36 * scale)). */
export const takerFee = (sizeDelta: bigint, price: bigint, rate: bigint, scale: bigint) =>
  divUp(abs(sizeDelta) * price * rate, WAD2 * scale);

/* -------------------------------------------------------------- price impact */

/** Largest premium of a fill price over or under the oracle price: 1% (WAD). */
export const MAX_PRICE_IMPACT = 10n ** 16n;

/**
 * Fill price of a trade of `sizeDelta` at oracle `price` from `skew`: the clamped premium min(|x| / S, 1%) integrated
 * along the skew path, price + price * (Phi(skew + sizeDelta) - Phi(skew)) / sizeDelta, with Phi as in
 * unwindPremium36 rounded up at the end point and down at the start, then the division rounded up for a buy and down
 * for a sell (against the trader). While the whole path stays within the clamp point (clampSkew) this equals
 * price * (1 + (2 skew + sizeDelta) / (2 S)) up to rounding. A fill that would round below zero is 0.
 */
export function fillPrice(price: bigint, skew: bigint, sizeDelta: bigint, skewScale: bigint): bigint {
  if (skewScale === 0n || sizeDelta === 0n) return price;
  const cost = phi36(price, skew + sizeDelta, skewScale, true) - phi36(price, skew, skewScale, false);
  const premium = sizeDelta > 0n ? -floorDiv(-cost, sizeDelta) : floorDiv(-cost, -sizeDelta);
  const fill = price + premium;
  return fill > 0n ? fill : 0n;
}

/** What the impact cost a trade (token units): sizeDelta * (fill - price) / (WAD * scale), towards -infinity. */
export const impactCost = (sizeDelta: bigint, fill: bigint, price: bigint, scale: bigint) =>
  floorDiv(sizeDelta * (fill - price), WAD * scale);

/* ------------------------------------------------------ clamp point and unwind premium */

/**
 * The clamp point: the |skew| (WAD base units) at which the marginal premium |skew| / skewScale reaches the 1% clamp,
 * MAX_PRICE_IMPACT * skewScale / WAD rounded down. Up to it the premium is linear in the skew; beyond it each further
 * unit of skew pays (or earns back) the flat 1%. Not a limit: opens may take the skew anywhere.
 */
export const clampSkew = (skewScale: bigint) => (MAX_PRICE_IMPACT * skewScale) / WAD;

/** |skew| is beyond the clamp point, compared exactly: |skew| / skewScale > 1%. Never with impact disabled (scale 0). */
export const beyondClamp = (skew: bigint, skewScale: bigint) =>
  skewScale !== 0n && abs(skew) * WAD > MAX_PRICE_IMPACT * skewScale;

/**
 * What unwinding a market's whole `skew` to zero at `price` pays back to traders through price impact, WAD^2 USD
 * rounded up once: price times the integral over x in [0, |skew|] of the clamped marginal premium min(x / S, m), with
 * m = MAX_PRICE_IMPACT / WAD = 1% and S = skewScale, kept as one exact fraction. With the clamp point r = m * S:
 *   |skew| <= r:  price * skew^2 / (2 S)
 *   |skew| >  r:  price * (r^2 / (2 S) + m * (|skew| - r)) = price * (m * |skew| - m^2 * S / 2)
 * `skewScale` 0 (impact disabled) or a zero skew: 0.
 */
export function unwindPremium36(price: bigint, skew: bigint, skewScale: bigint): bigint {
  if (skewScale === 0n) return 0n;
  return phi36(price, skew, skewScale, true);
}

/** price * Phi(x) in WAD^2 USD, rounded up or down once (see unwindPremium36 for the two pieces). */
export function phi36(price: bigint, x: bigint, skewScale: bigint, up: boolean): bigint {
  const s = abs(x);
  const m = MAX_PRICE_IMPACT;
  const [num, den] =
    s * WAD <= m * skewScale ? [price * s * s, 2n * skewScale] : [price * (2n * m * s * WAD - m * m * skewScale), 2n * WAD * WAD];
  return up ? divUp(num, den) : num / den;
}
