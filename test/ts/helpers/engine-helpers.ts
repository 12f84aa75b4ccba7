/**
 * Independent re-implementations of the engine's arithmetic (fees, realised PnL, entry averaging, tiered margin,
 * equity and health factor) plus small state-snapshot utilities for "nothing changed after a revert" checks, and
 * governInSteps, which moves a step-limited governed rate to a far target in calls of at most its max step, waiting out
 * the rate-change cooldown before each.
 * Nothing here reads the contracts' formulas: the tests compare the engine against these.
 */
import { RISK_PARAMS, SCALE, TIERS, WAD, wad } from "./fixture.js";
import {
  abs,
  divUp,
  equity36 as modelEquity36,
  floorDiv,
  max,
  requirement36,
  takerFee as modelTakerFee,
} from "./risk-math.js";

export { abs, floorDiv, healthFactor, requirement36, WAD2 } from "./risk-math.js";

/** OracleStatus enum values (DataTypes.sol). */
export const OracleStatus = {
  Ok: 0n,
  Stale: 1n,
  InvalidAnswer: 2n,
  OutOfBounds: 3n,
  SequencerDown: 4n,
  GracePeriod: 5n,
} as const;

export type TierLike = { notionalFloor: bigint; imr: bigint; mmr: bigint };

/** ceil(a / b) for a >= 0, b > 0. */
export const ceilDiv = divUp;

/** Feed answer with 8 decimals to a WAD price. */
export const priceFromAnswer8 = (a: bigint) => a * 10n ** 10n;

/** Taker fee in token units: ceil(|sizeDelta| * price * rate / 1e36 / 1e12). */
export function takerFee(sizeDelta: bigint, price: bigint, rate: bigint = RISK_PARAMS.takerFeeRate): bigint {
  return modelTakerFee(sizeDelta, price, rate, SCALE);
}

/** Realised PnL in token units of the part closed by `sizeDelta` (opposite sign to the position), floored. */
export function realizedPnl(sizeDelta: bigint, price: bigint, entry: bigint): bigint {
  return floorDiv(-sizeDelta * (price - entry), WAD * SCALE);
}

/** Size-weighted entry price after an increase: longs round up, shorts round down. */
export function averageEntry(size: bigint, entry: bigint, sizeDelta: bigint, price: bigint): bigint {
  if (size === 0n) return price;
  const a = abs(size);
  const b = abs(sizeDelta);
  const cost = a * entry + b * price;
  return size > 0n ? ceilDiv(cost, a + b) : cost / (a + b);
}

/** |size| * entry rounded up to WAD: a position's contribution to totalOpenNotional. */
export const openNotional = (size: bigint, entry: bigint) => ceilDiv(abs(size) * entry, WAD);

/** Initial margin in WAD USD as the engine reports it in PerpInsufficientMargin (ceil of the 1e36 value). */
export const initialMarginWad = (size: bigint, price: bigint, tiers: readonly TierLike[] = TIERS) =>
  ceilDiv(requirement36(tiers, abs(size) * price, true), WAD);

export type PositionLike = { size: bigint; entryPrice: bigint; collateral: bigint };

/** Exact equity at 1e36 scale: collateral + unrealised PnL - closing fee (rounded up). No funding yet. */
export function equity36(p: PositionLike, price: bigint, rate: bigint = RISK_PARAMS.takerFeeRate): bigint {
  const params = { ...RISK_PARAMS, takerFeeRate: rate };
  return modelEquity36({ ...p, fundingOwed: 0n, scale: SCALE, tiers: TIERS, params }, price);
}

/** Equity in WAD USD as the engine reports it in PerpInsufficientMargin (floor of the 1e36 value). */
export const equityWad = (p: PositionLike, price: bigint, rate?: bigint) => floorDiv(equity36(p, price, rate), WAD);

export function maintenance36(p: PositionLike, price: bigint, tiers: readonly TierLike[] = TIERS): bigint {
  return requirement36(tiers, abs(p.size) * price, false);
}

export function plain(x: unknown): unknown {
  if (Array.isArray(x)) return Array.from(x, plain);
  if (x !== null && typeof x === "object" && typeof (x as { toArray?: unknown }).toArray === "function") {
    return Array.from((x as { toArray: () => unknown[] }).toArray(), plain);
  }
  return x;
}

type Addressable = { getAddress(): Promise<string> } | { address: string };
async function addr(a: Addressable | string): Promise<string> {
  if (typeof a === "string") return a;
  if ("address" in a && typeof a.address === "string") return a.address;
  return (a as { getAddress(): Promise<string> }).getAddress();
}

/**
 * Every piece of engine state a trade or account action can touch, for the given accounts and markets, plus the
 * token balances of the accounts, engine, pool and insurance fund.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function snapshot(f: any, accounts: (Addressable | string)[], markets: string[]) {
  const engine = f.engine;
  const token = f.token;
  const out: Record<string, unknown> = {};
  const accountAddrs = await Promise.all(accounts.map(addr));
  for (const a of accountAddrs) {
    out[`free:${a}`] = await engine.freeBalance(a);
    out[`tok:${a}`] = await token.balanceOf(a);
    for (const m of markets) out[`pos:${a}:${m}`] = plain(await engine.getPosition(a, m));
  }
  for (const m of markets) {
    out[`oi:${m}`] = plain(await engine.openInterest(m));
    const n: bigint = await engine.openPositionCount(m);
    out[`count:${m}`] = n;
    const list: string[] = [];
    for (let i = 0n; i < n; i++) list.push(await engine.openPositionAt(m, i));
    out[`list:${m}`] = list;
  }
  out.totalOpenNotional = await engine.totalOpenNotional();
  out["tok:engine"] = await token.balanceOf(await engine.getAddress());
  out["tok:pool"] = await token.balanceOf(await f.pool.getAddress());
  out["tok:insurance"] = await token.balanceOf(await f.insurance.getAddress());
  return out;
}

/** Governed configuration of the given markets plus global settings, for "unchanged after revert" checks. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function configSnapshot(engine: any, markets: string[]) {
  const out: Record<string, unknown> = {};
  for (const m of markets) {
    out[`listed:${m}`] = await engine.isListed(m);
    out[`paused:${m}`] = await engine.isMarketPaused(m);
    out[`tiers:${m}`] = plain(await engine.marginTiers(m));
    out[`risk:${m}`] = plain(await engine.riskParams(m));
    out[`oracle:${m}`] = plain(await engine.oracleConfig(m));
  }
  out.sequencer = plain(await engine.sequencerConfig());
  out.reserveFactor = await engine.reserveFactor();
  out.globalPaused = await engine.globalPaused();
  return out;
}

/** Tier and RiskParams objects to the positional tuples events and views return. */
export const tierTuple = (t: TierLike) => [t.notionalFloor, t.imr, t.mmr];
export const riskTuple = (p: typeof RISK_PARAMS) => [
  p.takerFeeRate,
  p.liquidationFeeRate,
  p.liquidationPenaltyRate,
  p.targetHealthFactor,
  p.minKeeperFee,
  p.maxKeeperFee,
  p.minPositionNotional,
  p.fullLiquidationNotional,
];

/* ------------------------------------------------------------------ stepped governance */

// ConstantsLib: the largest change of each rate in one governance action.
/** imr and mmr, at every notional (compared over the floors of both the old and the new table). */
export const MAX_MARGIN_RATE_STEP = wad("0.01");
/** takerFeeRate and liquidationFeeRate. */
export const MAX_FEE_RATE_STEP = wad("0.001");
/** liquidationPenaltyRate. */
export const MAX_PENALTY_RATE_STEP = wad("0.005");
/** maxFundingRatePerDay. */
export const MAX_FUNDING_RATE_STEP = wad("0.01");
/** reserveFactor. */
export const MAX_RESERVE_FACTOR_STEP = wad("0.1");
/**
 * ConstantsLib.MIN_RATE_CHANGE_INTERVAL: seconds between two changes of stepped rates, per market (tiers, fee and
 * penalty rates, max funding rate: one timer) and globally for the reserve factor.
 */
export const MIN_RATE_CHANGE_INTERVAL = 86_400n;
/** ConstantsLib.MAX_TIERS. */
const MAX_TIERS = 8;

export type RiskParamsLike = typeof RISK_PARAMS;
export type FundingParamsLike = { skewScale: bigint; maxFundingRatePerDay: bigint };

/**
 * k/n of the way from a to b (a, b >= 0), rounded down; exactly b at k = n. Consecutive values differ by at most
 * ceil(|b - a| / n), so by at most the max step when n >= |b - a| / maxStep. Rounding every rate down keeps the order
 * between rates whose end values are ordered: non-decreasing stays non-decreasing, and mmr < imr stays strict (the
 * exact values are at least 1 wei apart, as the integer end values are).
 */
const lerp = (a: bigint, b: bigint, k: bigint, n: bigint) => (a * (n - k) + b * k) / n;
/** Calls needed to move a rate from a to b in changes of at most maxStep. */
const callsFor = (a: bigint, b: bigint, maxStep: bigint) => divUp(abs(b - a), maxStep);

/** Rates of the tier containing notional `n`, as the engine's step check reads a table. */
export function ratesAt(tiers: readonly TierLike[], n: bigint): { imr: bigint; mmr: bigint } {
  let r = { imr: 0n, mmr: 0n };
  for (const t of tiers) {
    if (t.notionalFloor > n) break;
    r = { imr: t.imr, mmr: t.mmr };
  }
  return r;
}

const sameTiers = (a: readonly TierLike[], b: readonly TierLike[]) =>
  a.length === b.length &&
  a.every((t, i) => t.notionalFloor === b[i].notionalFloor && t.imr === b[i].imr && t.mmr === b[i].mmr);

/**
 * Tables from `current` to `target` (the last one is `target`), each within MAX_MARGIN_RATE_STEP of the previous at
 * every notional. Intermediate tables have the floors of both tables (consecutive tiers with equal rates merged) and,
 * at each floor, rates interpolated between the two tables' rates there; both tables being valid, each intermediate
 * one is valid too (mmr < imr, non-decreasing, within the rate bounds, mmr0 between the two tables' mmr0).
 */
export function tierSteps(current: readonly TierLike[], target: readonly TierLike[]): TierLike[][] {
  const floors = [...new Set([...current, ...target].map((t) => t.notionalFloor))];
  floors.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ends = floors.map((f) => [ratesAt(current, f), ratesAt(target, f)] as const);
  const calls = ([a, b]: (typeof ends)[number]) =>
    max(callsFor(a.imr, b.imr, MAX_MARGIN_RATE_STEP), callsFor(a.mmr, b.mmr, MAX_MARGIN_RATE_STEP));
  const n = ends.map(calls).reduce(max, 0n);
  if (n === 0n) return sameTiers(current, target) ? [] : [target.map((t) => ({ ...t }))];
  const out: TierLike[][] = [];
  for (let k = 1n; k < n; k++) {
    const table: TierLike[] = [];
    floors.forEach((notionalFloor, i) => {
      const [a, b] = ends[i];
      const tier = { notionalFloor, imr: lerp(a.imr, b.imr, k, n), mmr: lerp(a.mmr, b.mmr, k, n) };
      const prev = table[table.length - 1];
      if (prev === undefined || prev.imr !== tier.imr || prev.mmr !== tier.mmr) table.push(tier);
    });
    if (table.length > MAX_TIERS) {
      throw new Error(`tierSteps: an intermediate table needs ${table.length} tiers (more than ${MAX_TIERS})`);
    }
    out.push(table);
  }
  out.push(target.map((t) => ({ ...t })));
  return out;
}

/**
 * Risk params from `current` to `target` (the last one is `target`). The three rates are interpolated in the fewest
 * calls that keep each within its step; the other fields are bounds-only and take their target values at the first
 * call, except targetHealthFactor, which stays at max(current, target) until the last call so that the liquidation
 * cost stays below target * mmr0 throughout (the cost is between its two valid end values).
 */
export function riskParamSteps(current: RiskParamsLike, target: RiskParamsLike): RiskParamsLike[] {
  const n = [
    callsFor(current.takerFeeRate, target.takerFeeRate, MAX_FEE_RATE_STEP),
    callsFor(current.liquidationFeeRate, target.liquidationFeeRate, MAX_FEE_RATE_STEP),
    callsFor(current.liquidationPenaltyRate, target.liquidationPenaltyRate, MAX_PENALTY_RATE_STEP),
  ].reduce(max);
  const same = (Object.keys(target) as (keyof RiskParamsLike)[]).every((key) => current[key] === target[key]);
  if (n === 0n) return same ? [] : [{ ...target }];
  const out: RiskParamsLike[] = [];
  for (let k = 1n; k < n; k++) {
    out.push({
      ...target,
      takerFeeRate: lerp(current.takerFeeRate, target.takerFeeRate, k, n),
      liquidationFeeRate: lerp(current.liquidationFeeRate, target.liquidationFeeRate, k, n),
      liquidationPenaltyRate: lerp(current.liquidationPenaltyRate, target.liquidationPenaltyRate, k, n),
      targetHealthFactor: max(current.targetHealthFactor, target.targetHealthFactor),
    });
  }
  out.push({ ...target });
  return out;
}

/** Funding params from `current` to `target`: the rate in steps, the skew scale (bounds-only) at the first call. */
export function fundingParamSteps(current: FundingParamsLike, target: FundingParamsLike): FundingParamsLike[] {
  const n = callsFor(current.maxFundingRatePerDay, target.maxFundingRatePerDay, MAX_FUNDING_RATE_STEP);
  if (n === 0n) return current.skewScale === target.skewScale ? [] : [{ ...target }];
  const out: FundingParamsLike[] = [];
  for (let k = 1n; k <= n; k++) {
    out.push({
      skewScale: target.skewScale,
      maxFundingRatePerDay: lerp(current.maxFundingRatePerDay, target.maxFundingRatePerDay, k, n),
    });
  }
  return out;
}

/** Values from `current` to `target` (the last one is `target`), consecutive ones at most `maxStep` apart. */
export function rateSteps(current: bigint, target: bigint, maxStep: bigint): bigint[] {
  const n = callsFor(current, target, maxStep);
  const out: bigint[] = [];
  for (let k = 1n; k <= n; k++) out.push(lerp(current, target, k, n));
  return out;
}

/** What governInSteps moves: one setter's argument, from its current on-chain value to this target. */
export type GovernTarget =
  | { market: string; riskParams: RiskParamsLike }
  | { market: string; marginTiers: readonly TierLike[] }
  | { market: string; fundingParams: FundingParamsLike }
  | { reserveFactor: bigint };

/** The type of one value of a target's path: what its setter takes. */
export type GovernStep<T extends GovernTarget> = T extends { reserveFactor: bigint }
  ? bigint
  : T extends { riskParams: RiskParamsLike }
    ? RiskParamsLike
    : T extends { marginTiers: readonly TierLike[] }
      ? TierLike[]
      : FundingParamsLike;

export type GovernOptions = {
  /**
   * Send every call but the last, leaving the target one allowed step away for the caller's own final call (and the
   * next block's timestamp set to when the cooldown allows that call, if it would block it now).
   */
  leaveLastStep?: boolean;
  /**
   * Awaited before each call is sent, after the helper has set the block timestamp the cooldown needs (a hook that
   * sets its own timestamp overrides it and must keep MIN_RATE_CHANGE_INTERVAL between steps); `i` indexes `steps`.
   */
  beforeStep?: (i: number) => Promise<unknown>;
};

/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * When `fn(...args)` (an engine setter) would now revert PerpRateChangeTooSoon, sets the next block's timestamp to
 * its `allowedAt`, the first second the cooldown accepts the change, and returns it; otherwise changes nothing and
 * returns undefined. Any other outcome of the call is left to the real transaction.
 */
export async function waitOutRateCooldown(engine: any, fn: any, args: unknown[]): Promise<bigint | undefined> {
  try {
    await fn.staticCall(...args);
    return undefined;
  } catch (e: any) {
    const err = typeof e?.data === "string" ? engine.interface.parseError(e.data) : null;
    if (err?.name !== "PerpRateChangeTooSoon") return undefined;
    const allowedAt: bigint = err.args[1];
    await engine.runner.provider.send("evm_setNextBlockTimestamp", [`0x${allowedAt.toString(16)}`]);
    return allowedAt;
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Moves a step-limited governed parameter from its current on-chain value to `target` in calls of at most the max
 * step each (the engine's signer must hold GOVERNOR_ROLE). Each call is sent at the first second the rate-change
 * cooldown allows (waitOutRateCooldown): MIN_RATE_CHANGE_INTERVAL after the previous step, or after an earlier change
 * the caller made; the first call goes at once when nothing blocks it. Returns every value of the path (`steps`,
 * ending at the target) and the transactions sent, each mined and successful; nothing is sent when the value is
 * already the target.
 */
export async function governInSteps<T extends GovernTarget>(
  engine: any,
  goal: T,
  opts: GovernOptions = {},
): Promise<{ steps: GovernStep<T>[]; txs: any[] }> {
  const target: GovernTarget = goal;
  let steps: unknown[];
  // The setter, and its arguments for one value of the path.
  let fn: any;
  let argsFor: (v: unknown) => unknown[];
  if ("reserveFactor" in target) {
    steps = rateSteps(await engine.reserveFactor(), target.reserveFactor, MAX_RESERVE_FACTOR_STEP);
    fn = engine.setReserveFactor;
    argsFor = (v) => [v];
  } else if ("riskParams" in target) {
    const r = await engine.riskParams(target.market);
    const current = Object.fromEntries(Object.keys(RISK_PARAMS).map((k) => [k, r[k] as bigint])) as RiskParamsLike;
    steps = riskParamSteps(current, target.riskParams);
    fn = engine.setRiskParams;
    argsFor = (v) => [target.market, v];
  } else if ("marginTiers" in target) {
    const current = Array.from(await engine.marginTiers(target.market), (t: TierLike) => ({
      notionalFloor: t.notionalFloor,
      imr: t.imr,
      mmr: t.mmr,
    }));
    steps = tierSteps(current, target.marginTiers);
    fn = engine.setMarginTiers;
    argsFor = (v) => [target.market, v];
  } else {
    const f = await engine.fundingParams(target.market);
    const current = { skewScale: f.skewScale, maxFundingRatePerDay: f.maxFundingRatePerDay };
    steps = fundingParamSteps(current, target.fundingParams);
    fn = engine.setFundingParams;
    argsFor = (v) => [target.market, v];
  }
  const txs: any[] = [];
  const count = opts.leaveLastStep ? steps.length - 1 : steps.length;
  for (let i = 0; i < count; i++) {
    await waitOutRateCooldown(engine, fn, argsFor(steps[i]));
    await opts.beforeStep?.(i);
    const tx: any = await fn(...argsFor(steps[i]));
    await tx.wait();
    txs.push(tx);
  }
  if (opts.leaveLastStep && steps.length > 0) await waitOutRateCooldown(engine, fn, argsFor(steps[steps.length - 1]));
  return { steps: steps as GovernStep<T>[], txs };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Names of a contract's state-changing functions (neither view nor pure), sorted: the surface a role could use. */
export function mutatingFunctions(contract: { interface: { fragments: readonly any[] } }): string[] {
  return contract.interface.fragments
    .filter((x) => x.type === "function" && x.stateMutability !== "view" && x.stateMutability !== "pure")
    .map((x) => x.name as string)
    .sort();
}
