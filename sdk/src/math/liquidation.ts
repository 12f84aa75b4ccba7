/**
 * Liquidation sizing, mirroring RiskLib's `planLiquidation` and LiquidationLib's distribution: what a liquidation at a
 * given price closes, realises, pays the keeper and the insurance fund, and leaves or returns to the trader.
 */
import { WAD, WAD2, abs, divUp, divWadUp, max, min, mulDivDown, mulDivUp, mulWadDown, mulWadUp, sDivDown } from "./fixedPoint.js";
import { INT128_MAX } from "./constants.js";
import { equity36, firstTrue, health36 } from "./risk.js";
import type { RiskContext } from "./types.js";

/** Result of a liquidation sizing (RiskLib's `LiquidationPlan`). Money in collateral token units. */
export type LiquidationPlan = {
  full: boolean;
  /** Absolute size closed. */
  closeSize: bigint;
  /** On the closed size, rounded down. */
  realizedPnl: bigint;
  /** Paid to the liquidator's free balance in the engine. */
  keeperReward: bigint;
  /** To the insurance fund (for a full liquidation, before capping by what is left; see `liquidationOutcome`). */
  penalty: bigint;
  /** Left in the position (partial) or for the trader before reward and penalty (full; negative is bad debt). */
  remainingCollateral: bigint;
};

/**
 * Sizes a liquidation at `price`: partial when the position is large enough and a remainder of at least the minimum
 * notional can reach the target health factor, full otherwise. Call it only for a liquidatable position (the engine
 * reverts otherwise).
 */
export function planLiquidation(ctx: RiskContext, price: bigint): LiquidationPlan {
  const absSize = abs(ctx.size);
  const notional = mulWadUp(absSize, price);
  if (notional > ctx.params.fullLiquidationNotional && equity36(ctx, price) > 0n) {
    // Smallest remainder with notional >= minimum: ceil(minNotional / price).
    const minRemaining = divWadUp(ctx.params.minPositionNotional, price);
    if (minRemaining < absSize && meetsTarget(ctx, price, minRemaining)) {
      const estimate = remainingEstimate(ctx, price, absSize);
      const tolerance = max(1n, (ctx.scale * WAD) / price);
      const { no: meets } = firstTrue((r) => !meetsTarget(ctx, price, r), estimate, minRemaining, absSize, tolerance);
      return planClose(ctx, price, absSize - meets);
    }
  }
  return planClose(ctx, price, absSize);
}

/** Amounts of closing `closeSize` at `price`, funding settled (RiskLib's `_plan`). */
export function planClose(ctx: RiskContext, price: bigint, closeSize: bigint): LiquidationPlan {
  const absSize = abs(ctx.size);
  const signedClose = ctx.size > 0n ? closeSize : -closeSize;
  const realizedPnl = sDivDown(signedClose * (price - ctx.entryPrice), WAD * ctx.scale);
  const closed36 = closeSize * price;
  let reward = mulDivDown(closed36, ctx.params.liquidationFeeRate, WAD2);
  reward = max(ctx.params.minKeeperFee, min(reward, ctx.params.maxKeeperFee));
  return {
    full: closeSize === absSize,
    closeSize,
    realizedPnl,
    keeperReward: reward / ctx.scale,
    penalty: divUp(mulDivUp(closed36, ctx.params.liquidationPenaltyRate, WAD2), ctx.scale),
    remainingCollateral: ctx.collateral + realizedPnl + sDivDown(-ctx.fundingOwed, ctx.scale),
  };
}

function meetsTarget(ctx: RiskContext, price: bigint, remaining: bigint): boolean {
  const p = planClose(ctx, price, abs(ctx.size) - remaining);
  const c = p.remainingCollateral - p.keeperReward - p.penalty;
  if (c < 0n) return false;
  const rest: RiskContext = { ...ctx, size: ctx.size > 0n ? remaining : -remaining, collateral: c, fundingOwed: 0n };
  const { e36, mm36 } = health36(rest, price);
  return e36 >= mulDivUp(ctx.params.targetHealthFactor, mm36, WAD);
}

/** Solves the target condition in WAD assuming a proportional keeper reward (an estimate, as in the contract). */
function remainingEstimate(ctx: RiskContext, price: bigint, absSize: bigint): bigint {
  const w = WAD;
  const bigN = mulWadDown(absSize, price);
  const kq = ctx.params.liquidationFeeRate + ctx.params.liquidationPenaltyRate;
  const c = kq - ctx.params.takerFeeRate;
  const t = ctx.params.targetHealthFactor;
  const x = ctx.collateral * ctx.scale - ctx.fundingOwed + (ctx.size * (price - ctx.entryPrice)) / w;
  const b = x - (kq * bigN) / w;
  let base = 0n;
  const len = ctx.tiers.length;
  for (let i = 0; i < len; i++) {
    const lower = ctx.tiers[i].notionalFloor;
    // Only the tiers below the position's notional, as the contract (it loads no tier beyond them).
    const next = i + 1 < len ? ctx.tiers[i + 1].notionalFloor : INT128_MAX;
    const upper = next < bigN ? next : INT128_MAX;
    const m = ctx.tiers[i].mmr;
    const a = (t * m) / w;
    if (a <= c) break;
    const n = ((b - (t * base) / w + (a * lower) / w) * w) / (a - c);
    if (n < upper) return n <= 0n ? 0n : (n * WAD) / price;
    base += (m * (upper - lower)) / w;
  }
  return absSize / 2n;
}

/** What a liquidation pays out, after LiquidationLib's distribution of a full close. Token units. */
export type LiquidationOutcome = LiquidationPlan & {
  /** Size left open (signed), 0 after a full liquidation. */
  remainingSize: bigint;
  /** Returned to the trader's free balance (full liquidation). */
  returnedToTrader: bigint;
  /** Uncovered loss of a full liquidation, paid by the insurance fund, then the pool. */
  badDebt: bigint;
  /** Part of the keeper's minimum reward the position could not pay (covered like bad debt). */
  keeperTopUp: bigint;
};

/** The full effect of liquidating the position at `price`: the plan plus the distribution of a full close. */
export function liquidationOutcome(ctx: RiskContext, price: bigint): LiquidationOutcome {
  const plan = planLiquidation(ctx, price);
  if (!plan.full) {
    const remainingSize = ctx.size > 0n ? ctx.size - plan.closeSize : ctx.size + plan.closeSize;
    return { ...plan, remainingSize, returnedToTrader: 0n, badDebt: 0n, keeperTopUp: 0n };
  }
  const value = plan.remainingCollateral;
  const badDebt = value < 0n ? -value : 0n;
  let left = value < 0n ? 0n : value;
  const paid = min(plan.keeperReward, left);
  left -= paid;
  const penalty = min(plan.penalty, left);
  left -= penalty;
  return { ...plan, penalty, remainingSize: 0n, returnedToTrader: left, badDebt, keeperTopUp: plan.keeperReward - paid };
}
