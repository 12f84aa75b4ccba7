/**
 * Independent re-implementations of the engine's arithmetic (fees, realised PnL, entry averaging, tiered margin,
 * equity and health factor) plus small state-snapshot utilities for "nothing changed after a revert" checks.
 * Nothing here reads the contracts' formulas: the tests compare the engine against these.
 */
import { RISK_PARAMS, SCALE, TIERS, WAD } from "./fixture.js";
import { abs, divUp, equity36 as modelEquity36, floorDiv, requirement36, takerFee as modelTakerFee } from "./risk-math.js";

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
