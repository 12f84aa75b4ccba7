/**
 * The trade path's arithmetic, mirroring `contracts/libraries/TradeLib.sol`: funding settlement, fill price, taker
 * fee, realised PnL, the new collateral and entry price, and the margin rules an open, increase, decrease or close
 * must pass, plus the largest size a given collateral supports. Exact for the block whose state is passed in (the
 * funding index moves with every second, the price with every oracle update).
 */
import { MAX_POSITION_SIZE } from "./constants.js";
import { WAD, abs, divUp, mulWadDown, sDivDown } from "./fixedPoint.js";
import { fundingOwed } from "./funding.js";
import { fillPrice, impactCost, takerFee } from "./pricing.js";
import { equity36, health36, healthFactor, requirement36 } from "./risk.js";
import type { RiskContext, RiskParams, Tier } from "./types.js";

/** A position as stored by the engine (`getPosition`): collateral in token units, the rest WAD. */
export type StoredPosition = { size: bigint; collateral: bigint; entryPrice: bigint; fundingIndex: bigint };

/** Market state a trade reads. */
export type TradeMarket = {
  /** Oracle price. */
  price: bigint;
  /** Pending funding index (`fundingState(market).index`). */
  fundingIndex: bigint;
  /** Long minus short open interest before the trade. */
  skew: bigint;
  impactSkewScale: bigint;
  tiers: readonly Tier[];
  params: RiskParams;
  /** 10 ** (18 - collateral token decimals). */
  scale: bigint;
};

/** Why the engine would refuse a trade on margin or size grounds (the engine's error name). */
export type TradeRejection =
  | "PerpPositionFlip"
  | "PerpCollateralDeltaOnClose"
  | "PerpInsufficientMargin"
  | "PerpPositionTooSmall"
  | "PerpPositionTooLarge"
  | "PerpHealthWorsened";

export type TradePreview = {
  increasing: boolean;
  fillPrice: bigint;
  /** Token units, rounded up. */
  fee: bigint;
  /** Token units, on the closed part, rounded down. */
  realizedPnl: bigint;
  /** Funding settled by the trade, token units (positive: paid by the position). */
  funding: bigint;
  /** Token units, positive when the impact cost the trader. */
  priceImpact: bigint;
  newSize: bigint;
  /** Token units; for a close, what returns to the free balance (negative: a shortfall the insurance fund covers). */
  newCollateral: bigint;
  newEntryPrice: bigint;
  /** The first rule the trade breaks, or null when the engine would accept it (oracle, pause, caps, slippage and the
   * free balance a positive collateralDelta draws on aside). */
  rejection: TradeRejection | null;
};

/** Previews `modifyPosition(market, sizeDelta, collateralDelta, ·)` on `position` against `market`. */
export function previewTrade(
  position: StoredPosition,
  market: TradeMarket,
  sizeDelta: bigint,
  collateralDelta: bigint,
): TradePreview {
  const { price, scale } = market;
  const size = position.size;
  const newSize = size + sizeDelta;
  const increasing = size === 0n || size > 0n === sizeDelta > 0n;
  const funding = fundingOwed(size, market.fundingIndex, position.fundingIndex, WAD * scale);
  const fill = fillPrice(price, market.skew, sizeDelta, market.impactSkewScale);
  const fee = takerFee(abs(sizeDelta), fill, market.params.takerFeeRate, scale);
  const realizedPnl = increasing ? 0n : sDivDown(-sizeDelta * (fill - position.entryPrice), WAD * scale);
  const newCollateral = position.collateral + realizedPnl - fee - funding + collateralDelta;
  let newEntryPrice = position.entryPrice;
  if (increasing) newEntryPrice = averageEntry(size, position.entryPrice, sizeDelta, fill);
  if (newSize === 0n) newEntryPrice = 0n;
  const preview: TradePreview = {
    increasing,
    fillPrice: fill,
    fee,
    realizedPnl,
    funding,
    priceImpact: impactCost(sizeDelta, fill, price, scale),
    newSize,
    newCollateral,
    newEntryPrice,
    rejection: null,
  };
  preview.rejection = rejectionOf(position, market, preview, sizeDelta, collateralDelta);
  return preview;
}

function rejectionOf(
  position: StoredPosition,
  market: TradeMarket,
  p: TradePreview,
  sizeDelta: bigint,
  collateralDelta: bigint,
): TradeRejection | null {
  const size = position.size;
  if (abs(sizeDelta) > MAX_POSITION_SIZE) return "PerpPositionTooLarge";
  if (!(p.increasing || p.newSize === 0n || p.newSize > 0n === size > 0n)) return "PerpPositionFlip";
  if (p.newSize === 0n) return collateralDelta === 0n ? null : "PerpCollateralDeltaOnClose";
  if (p.newCollateral < 0n) return "PerpInsufficientMargin";
  const absNew = abs(p.newSize);
  if (absNew > MAX_POSITION_SIZE) return "PerpPositionTooLarge";
  // Minimum size on notional rounded down.
  if (mulWadDown(absNew, market.price) < market.params.minPositionNotional) return "PerpPositionTooSmall";
  const before: RiskContext = {
    size,
    entryPrice: position.entryPrice,
    collateral: position.collateral,
    fundingOwed: fundingOwed(size, market.fundingIndex, position.fundingIndex),
    scale: market.scale,
    tiers: market.tiers,
    params: market.params,
  };
  const after: RiskContext = { ...before, size: p.newSize, collateral: p.newCollateral, entryPrice: p.newEntryPrice, fundingOwed: 0n };
  if (p.increasing || collateralDelta < 0n) {
    const e36 = equity36(after, market.price);
    const im36 = requirement36(after.tiers, absNew * market.price, true);
    return e36 >= im36 ? null : "PerpInsufficientMargin";
  }
  // A decrease may leave the position liquidatable only if its health factor did not fall.
  const h1 = health36(after, market.price);
  if (h1.e36 >= h1.mm36) return null;
  const h0 = health36(before, market.price);
  return healthFactor(h1.e36, h1.mm36) >= healthFactor(h0.e36, h0.mm36) ? null : "PerpHealthWorsened";
}

/** Size-weighted entry price, rounded against the trader: up for longs, down for shorts. */
export function averageEntry(size: bigint, entry: bigint, sizeDelta: bigint, fill: bigint): bigint {
  if (size === 0n) return fill;
  const a = abs(size);
  const b = abs(sizeDelta);
  const cost = a * entry + b * fill;
  return size > 0n ? divUp(cost, a + b) : cost / (a + b);
}

/**
 * The largest size (absolute, WAD) by which `position` can be opened or increased on the side `isLong`, adding
 * `collateralDelta` token units from the free balance, that the engine's margin and size rules accept against
 * `market`: the last size s with previewTrade(s) accepted and previewTrade(s + 1) refused, found by bisection.
 * `openInterestCap`, when given, also bounds it: the side's open interest plus s, at the oracle price (rounded up),
 * may not exceed `capNotional` (WAD USD; the engine's PerpOpenInterestCapExceeded check).
 * Returns 0 when no size is accepted (for instance below the minimum notional).
 */
export function maxTradeSize(
  position: StoredPosition,
  market: TradeMarket,
  isLong: boolean,
  collateralDelta: bigint,
  openInterestCap?: { sideOpenInterest: bigint; capNotional: bigint },
): bigint {
  if (position.size !== 0n && position.size > 0n !== isLong) {
    throw new RangeError("maxTradeSize: the side must match the open position's side (a decrease has no maximum)");
  }
  const preview = (s: bigint) => previewTrade(position, market, isLong ? s : -s, collateralDelta);
  const ok = (s: bigint) => preview(s).rejection === null;
  let hi = MAX_POSITION_SIZE - abs(position.size);
  if (openInterestCap) {
    // Largest s with ceil((oi + s) * price / WAD) <= cap, i.e. (oi + s) * price <= cap * WAD.
    const room = (openInterestCap.capNotional * WAD) / market.price - openInterestCap.sideOpenInterest;
    if (room < hi) hi = room;
  }
  if (hi <= 0n) return 0n;
  // The fee comes out of the collateral, which may not go negative: a bound that falls with the size.
  if (preview(hi).newCollateral < 0n) {
    if (preview(1n).newCollateral < 0n) return 0n;
    hi = lastTrue((s) => preview(s).newCollateral >= 0n, 1n, hi);
  }
  if (ok(hi)) return hi;
  // Smallest accepted size: the minimum notional rounded down must reach the floor.
  let lo = divUp(market.params.minPositionNotional * WAD, market.price) - abs(position.size);
  if (lo < 1n) lo = 1n;
  if (lo > hi) return 0n;
  if (!ok(lo)) {
    // Within those bounds the margin rule accepts an interval of sizes that need not start at the smallest: equity minus
    // initial margin is concave in the size, and while a trade reduces a skew beyond the impact clamp each unit earns
    // back up to 1% of the price, more than it adds in margin and fees where the initial margin rate is below 1% minus
    // twice the fee rate. Its peak is where the premium earned per unit equals one tier's rate plus the fees: try there.
    const inside = peakCandidates(market, isLong)
      .map((s) => (s < lo ? lo : s > hi ? hi : s))
      .find(ok);
    if (inside === undefined) return 0n;
    lo = inside;
  }
  return lastTrue(ok, lo, hi);
}

/** The last x in [lo, hi] with pred(x) true, for pred(lo) true and pred false from some point on (bisection). */
function lastTrue(pred: (x: bigint) => boolean, lo: bigint, hi: bigint): bigint {
  if (pred(hi)) return hi;
  while (hi - lo > 1n) {
    const mid = lo + (hi - lo) / 2n;
    if (pred(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Sizes at which a trade's equity minus initial margin may peak (see maxTradeSize): the trade moves the skew to where the
 * premium earned back per unit equals one tier's initial margin rate plus twice the taker fee rate (opening and closing).
 */
function peakCandidates(market: TradeMarket, isLong: boolean): bigint[] {
  if (market.impactSkewScale === 0n) return [];
  return market.tiers.map((t) => {
    // Skew after the trade: -(rate) * skewScale for a buy, +(rate) * skewScale for a sell.
    const target = ((t.imr + 2n * market.params.takerFeeRate) * market.impactSkewScale) / WAD;
    return isLong ? -target - market.skew : market.skew - target;
  });
}
