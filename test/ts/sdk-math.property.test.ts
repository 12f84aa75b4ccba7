/**
 * Property tests: the SDK's pure bigint math (sdk/src/math) equals the contracts bit for bit.
 *
 * 1. Pure functions. Seeded random cases are evaluated by the SDK and by the libraries themselves through the test-only
 *    contracts/test/RiskHarness.sol, many cases per eth_call. At least 1,000 cases per property (SDK_PROPERTY_CASES
 *    raises it) from the fixed SEED, so a failure reproduces. Inputs stay inside what ConfigLib and ConstantsLib allow
 *    and lean on the edges where an off-by-one rounding shows: prices at and one wei around the liquidation price,
 *    notionals at tier floors, skews around the 1% impact clamp, funding owed both ways and by a wei.
 * 2. The real engine and lens: random positions, oracle moves and time jumps (positionHealth and liquidationPrice
 *    against the lens, and the liquidation check flipping at the liquidation price), quotes, executed trades
 *    (previewTrade against PositionModified), maxTradeSize against the engine's own acceptance, and the funding index.
 *    These draw from the same seed; the chain states follow it up to the timestamps of blocks the tests do not time
 *    themselves (Hardhat's clock), which only shifts funding by seconds: every comparison is exact either way.
 */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { network } from "hardhat";

import {
  type LiquidationPlan,
  type RiskContext,
  type RiskParams,
  type StoredPosition,
  type Tier,
  type TradeMarket,
  MAX_POSITION_SIZE,
  MAX_PRICE,
  MAX_PRICE_IMPACT,
  MAX_UINT256,
  WAD,
  abs,
  accrueFundingIndex,
  equity36,
  fillPrice,
  fundingOwed,
  fundingRatePerDay,
  health36,
  healthFactor,
  impactCost,
  isLiquidatable,
  liquidationPrice,
  max,
  maxTradeSize,
  min,
  planLiquidation,
  positionHealth,
  previewTrade,
  requirement,
  requirement36,
  takerFee,
  unwindPremium36,
} from "../../sdk/src/math/index.js";
import {
  BTC,
  ETH,
  EXPOSURE_PARAMS,
  FEED_DECIMALS,
  HEARTBEAT,
  RISK_PARAMS,
  SCALE,
  TIERS,
  deployProtocol,
  usd,
  wad,
} from "./helpers/fixture.js";
import { engineEvents, readCtx } from "./helpers/liquidation-helpers.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

/* ================================================================== random cases */

/** Fixed seed: every run draws the same cases. Each property draws from its own stream (seed ^ hash of its name). */
const SEED = 0x7469_6465_6d61_726bn;
/** Cases per property: 1,000, or more with SDK_PROPERTY_CASES. */
const N = Math.max(1000, Number(process.env.SDK_PROPERTY_CASES ?? 0) || 0);

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 over bigints, with helpers for the ranges the generators need. */
class Rng {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = seed & MASK64;
  }
  u64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
  /** Uniform in [0, n), n > 0 (64 spare bits: bias below 2^-64). */
  below(n: bigint): bigint {
    const need = n.toString(2).length + 64;
    let x = 0n;
    for (let bits = 0; bits < need; bits += 64) x = (x << 64n) | this.u64();
    return x % n;
  }
  /** Uniform in [lo, hi]. */
  range(lo: bigint, hi: bigint): bigint {
    return lo + this.below(hi - lo + 1n);
  }
  int(n: number): number {
    return Number(this.below(BigInt(n)));
  }
  chance(p: number): boolean {
    return Number(this.u64() >> 11n) / 2 ** 53 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  sign(): bigint {
    return this.chance(0.5) ? 1n : -1n;
  }
  /** Log-uniform in [lo, hi] (lo >= 1): a uniform number of decimal digits, then uniform among those numbers. */
  log(lo: bigint, hi: bigint): bigint {
    const dlo = lo.toString().length;
    const d = dlo + this.int(hi.toString().length - dlo + 1);
    return this.range(max(lo, 10n ** BigInt(d - 1)), min(hi, 10n ** BigInt(d) - 1n));
  }
}

function rngFor(name: string): Rng {
  let h = 0xcbf29ce484222325n; // FNV-1a 64
  for (const c of name) h = ((h ^ BigInt(c.charCodeAt(0))) * 0x100000001b3n) & MASK64;
  return new Rng(SEED ^ h);
}

// ConstantsLib bounds the generators respect.
const MIN_MMR = 10n ** 15n;
const MAX_MMR = 5n * 10n ** 17n;
const MAX_IMR = WAD;
const MAX_TAKER_FEE_RATE = 10n ** 16n;
const MAX_LIQUIDATION_FEE_RATE = 10n ** 16n;
const MAX_LIQUIDATION_PENALTY_RATE = 5n * 10n ** 16n;
const MIN_TARGET_HEALTH_FACTOR = 105n * 10n ** 16n;
const MAX_TARGET_HEALTH_FACTOR = 3n * WAD;
const MAX_MIN_KEEPER_FEE = 1_000n * WAD;
const MAX_MAX_KEEPER_FEE = 100_000n * WAD;
const MAX_MIN_POSITION_NOTIONAL = 100_000n * WAD;
const MAX_FULL_LIQUIDATION_NOTIONAL = 10_000_000n * WAD;
const MIN_SKEW_SCALE = WAD;
const MAX_SKEW_SCALE = 10n ** 33n;
const MAX_FUNDING_RATE_STEP = 10n ** 16n;
const UINT128_MAX = (1n << 128n) - 1n;
const TOKEN_SCALES = [10n ** 12n, 1n] as const; // 6- and 18-decimal collateral tokens

const clampPrice = (p: bigint) => min(max(p, 1n), MAX_PRICE);
/** A realistic price (0.001 to 1,000,000 USD) most of the time, anywhere in 1..MAX_PRICE otherwise. */
const genPrice = (r: Rng) => (r.chance(0.85) ? r.log(10n ** 15n, 10n ** 24n) : r.log(1n, MAX_PRICE));

/**
 * A tier table ConfigLib.validateTiers accepts: 1..8 tiers, floors strictly rising from 0 (sometimes by a few wei),
 * MIN_MMR <= mmr < imr <= 1, mmr <= 0.5, both non-decreasing (often equal from one tier to the next).
 */
function genTiers(r: Rng): Tier[] {
  const count = r.chance(0.2) ? 1 : 1 + r.int(8);
  let mmr = r.chance(0.8) ? r.range(MIN_MMR, 5n * 10n ** 16n) : r.range(MIN_MMR, MAX_MMR);
  let imr = r.range(mmr + 1n, r.chance(0.8) ? min(MAX_IMR, mmr * 4n) : MAX_IMR);
  const tiers: Tier[] = [{ notionalFloor: 0n, imr, mmr }];
  let floor = 0n;
  for (let i = 1; i < count; i++) {
    floor += r.chance(0.1) ? r.range(1n, 1000n) : r.log(WAD, 10n ** 26n);
    if (!r.chance(0.25)) mmr = r.range(mmr, min(MAX_MMR, mmr * 3n));
    const lo = max(imr, mmr + 1n);
    if (!r.chance(0.25) || imr <= mmr) imr = r.range(lo, r.chance(0.8) ? max(lo, min(MAX_IMR, mmr * 4n)) : MAX_IMR);
    tiers.push({ notionalFloor: floor, imr, mmr });
  }
  return tiers;
}

/** Risk parameters ConfigLib accepts, including reward + penalty rate < target * mmr of the first tier. */
function genParams(r: Rng, mmr0: bigint): RiskParams {
  const targetHealthFactor = r.range(MIN_TARGET_HEALTH_FACTOR, MAX_TARGET_HEALTH_FACTOR);
  const freed = (targetHealthFactor * mmr0) / WAD;
  const liquidationFeeRate = r.chance(0.1) ? 0n : r.range(0n, min(MAX_LIQUIDATION_FEE_RATE, freed - 1n));
  const liquidationPenaltyRate = r.chance(0.1)
    ? 0n
    : r.range(0n, min(MAX_LIQUIDATION_PENALTY_RATE, freed - 1n - liquidationFeeRate));
  const minKeeperFee = r.chance(0.1) ? 0n : r.log(1n, MAX_MIN_KEEPER_FEE);
  return {
    takerFeeRate: r.chance(0.1) ? 0n : r.range(0n, MAX_TAKER_FEE_RATE),
    liquidationFeeRate,
    liquidationPenaltyRate,
    targetHealthFactor,
    minKeeperFee,
    maxKeeperFee: r.chance(0.1) ? minKeeperFee : max(minKeeperFee, r.log(1n, MAX_MAX_KEEPER_FEE)),
    minPositionNotional: r.log(WAD, MAX_MIN_POSITION_NOTIONAL),
    fullLiquidationNotional: r.chance(0.2) ? 0n : r.log(1n, MAX_FULL_LIQUIDATION_NOTIONAL),
  };
}

/**
 * A position with market parameters. Sizes: mostly 10 USD to 100M USD of notional at entry, some exactly at a tier
 * floor (+-2 wei), some anywhere up to MAX_POSITION_SIZE. Collateral: mostly 0.8 to 3 times the initial margin
 * (leverage near the maximum), sometimes arbitrary. Funding owed: zero, a few wei either way, or up to 5% of notional
 * either way.
 */
function genContext(r: Rng): RiskContext {
  const tiers = genTiers(r);
  const params = genParams(r, tiers[0].mmr);
  const scale = r.pick(TOKEN_SCALES);
  const entryPrice = genPrice(r);
  let size: bigint;
  const k = r.int(10);
  if (k < 2 && tiers.length > 1) {
    const floor = tiers[1 + r.int(tiers.length - 1)].notionalFloor;
    size = (floor * WAD) / entryPrice + r.range(-2n, 2n);
  } else if (k < 9) {
    size = (r.log(10n * WAD, 10n ** 26n) * WAD) / entryPrice;
  } else {
    size = r.log(1n, MAX_POSITION_SIZE);
  }
  size = r.sign() * min(max(size, 1n), MAX_POSITION_SIZE);
  const notional = (abs(size) * entryPrice) / WAD;
  const collateralWad = r.chance(0.85)
    ? (requirement(tiers, notional, true) * r.range(80n, 300n)) / 100n + r.range(0n, 10n * scale)
    : r.log(1n, 10n ** 40n);
  const f = r.int(6);
  const fundingOwed = f < 3 ? 0n : f === 3 ? r.range(-3n, 3n) : r.sign() * r.log(1n, notional / 20n + 1n);
  return { size, entryPrice, collateral: min(collateralWad / scale, UINT128_MAX), fundingOwed, scale, tiers, params };
}

/** A price for a context: at or near its liquidation price, near its entry, at a tier floor, or anywhere. */
function genPriceFor(r: Rng, ctx: RiskContext): bigint {
  const k = r.int(20);
  if (k < 8) {
    const lp = liquidationPrice(ctx);
    if (lp >= 1n && lp <= MAX_PRICE)
      return clampPrice(k < 4 ? lp + r.range(-2n, 2n) : lp + r.sign() * r.log(1n, lp / 50n + 1n));
  }
  if (k < 15) return clampPrice((ctx.entryPrice * r.range(50n, 150n)) / 100n + r.range(-1000n, 1000n));
  if (k < 17 && ctx.tiers.length > 1) {
    const floor = ctx.tiers[1 + r.int(ctx.tiers.length - 1)].notionalFloor;
    return clampPrice((floor * WAD) / abs(ctx.size) + r.range(-1n, 1n));
  }
  return r.log(1n, MAX_PRICE);
}

/** A skew scale (0: impact off), a skew and a trade, crowding the 1% clamp point, zero and single wei. */
function genImpactCase(r: Rng): { price: bigint; skew: bigint; sizeDelta: bigint; skewScale: bigint } {
  const skewScale = r.chance(0.05) ? 0n : r.log(MIN_SKEW_SCALE, MAX_SKEW_SCALE);
  const clamp = max((MAX_PRICE_IMPACT * skewScale) / WAD, 1n); // |skew| where the premium reaches 1%
  const near = (x: bigint) => x + r.range(-2n, 2n);
  const k = r.int(10);
  const skew =
    k === 0
      ? 0n
      : k < 5
      ? r.sign() * near(clamp)
      : k < 8
      ? r.sign() * r.range(0n, 3n * clamp)
      : r.sign() * r.log(1n, MAX_POSITION_SIZE);
  const j = r.int(12);
  let sizeDelta: bigint;
  if (j === 0) sizeDelta = 0n;
  else if (j < 4) sizeDelta = r.sign() * near(clamp) - skew; // ends at the clamp point, either side
  else if (j < 5) sizeDelta = near(-skew); // ends at (or next to) zero skew
  else if (j < 6) sizeDelta = r.sign() * r.range(1n, 3n);
  else if (j < 9) sizeDelta = r.sign() * r.range(0n, 3n * clamp);
  else sizeDelta = r.sign() * r.log(1n, MAX_POSITION_SIZE);
  sizeDelta = sizeDelta < 0n ? max(sizeDelta, -MAX_POSITION_SIZE) : min(sizeDelta, MAX_POSITION_SIZE);
  return { price: genPrice(r), skew, sizeDelta, skewScale };
}

/* ============================================================= comparison helpers */

const show = (x: unknown): string => JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));

/**
 * Compares SDK and contract results case by case and fails on the first difference, naming the case's inputs (the
 * seed makes it reproducible).
 */
function expectSame(label: string, inputs: readonly unknown[], sdkOut: readonly unknown[], solOut: readonly unknown[]) {
  expect(solOut.length, `${label}: number of contract results`).to.equal(sdkOut.length);
  for (let i = 0; i < sdkOut.length; i++) {
    const a = show(sdkOut[i]);
    const b = show(solOut[i]);
    if (a !== b) expect(a, `${label}, case ${i}: ${show(inputs[i])}`).to.equal(b);
  }
}

/**
 * Runs `call` on the cases in chunks of `size`, all chunks at once, and concatenates the results. If a chunk reverts,
 * its cases are retried one by one to name the one the contract reverts on.
 */
async function batched<I, O>(cases: readonly I[], size: number, call: (chunk: I[]) => Promise<O[]>): Promise<O[]> {
  const chunks: I[][] = [];
  for (let i = 0; i < cases.length; i += size) chunks.push(cases.slice(i, i + size));
  const outs = await Promise.all(
    chunks.map(async (chunk) => {
      try {
        return await call(chunk);
      } catch (e) {
        for (const c of chunk) {
          try {
            await call([c]);
          } catch (inner) {
            throw new Error(`the contract reverted on ${show(c)}: ${(inner as Error).message}`);
          }
        }
        throw e;
      }
    }),
  );
  return outs.flat();
}

/** A context as the ABI encoder takes it (mutable arrays). */
const sol = (c: RiskContext) => ({ ...c, tiers: c.tiers.map((t) => ({ ...t })), params: { ...c.params } });
const big = (xs: Iterable<bigint>) => Array.from(xs, (x) => BigInt(x));

/* ================================================================== chain helpers */

type Signer = Awaited<ReturnType<typeof ethers.getSigners>>[number];
type BlockTag = "latest" | "pending";

/** The fixture protocol with 16 traders, each holding 2M USD of free balance in the engine. */
async function protocolFixture() {
  const p = await deployProtocol(ethers);
  const extra = (await ethers.getSigners()).slice(7);
  for (const s of extra) {
    await p.token.mint(s.address, usd(10_000_000));
    await p.token.connect(s).approve(p.engine, ethers.MaxUint256);
  }
  const traders: Signer[] = [p.alice, p.bob, p.carol, ...extra];
  for (const s of traders) await p.engine.connect(s).deposit(usd(2_000_000));
  return { ...p, traders };
}
type Protocol = Awaited<ReturnType<typeof protocolFixture>>;

/* eslint-disable @typescript-eslint/no-explicit-any */
const toTiers = (ts: any): Tier[] =>
  Array.from(ts, (t: any) => ({ notionalFloor: t.notionalFloor, imr: t.imr, mmr: t.mmr }));
const toParams = (p: any): RiskParams => ({
  takerFeeRate: p.takerFeeRate,
  liquidationFeeRate: p.liquidationFeeRate,
  liquidationPenaltyRate: p.liquidationPenaltyRate,
  targetHealthFactor: p.targetHealthFactor,
  minKeeperFee: p.minKeeperFee,
  maxKeeperFee: p.maxKeeperFee,
  minPositionNotional: p.minPositionNotional,
  fullLiquidationNotional: p.fullLiquidationNotional,
});

type MarketState = TradeMarket & { long: bigint; short: bigint; maxLongRatio: bigint; maxShortRatio: bigint };

/**
 * What previewTrade and maxTradeSize read from a market, as the engine sees it at `blockTag`. At "pending" (after
 * time.setNextBlockTimestamp(t)) that is the block the next transaction is mined in: Hardhat runs an eth_call at the
 * pending block with the timestamp set for it, so `fundingState(market).index` there is exactly the index
 * FundingLib.accrue computes inside a trade sent next (the trade tests check it against the position's stored index).
 * At "latest" the index would lag by the seconds between the two blocks.
 */
async function marketState(f: Protocol, market: string, blockTag: BlockTag = "latest"): Promise<MarketState> {
  const o = { blockTag };
  const [[, price], [index], [long, short], exposure, tiers, params] = await Promise.all([
    f.engine.oracleStatus(market, o),
    f.engine.fundingState(market, o),
    f.engine.openInterest(market, o),
    f.engine.exposureParams(market, o),
    f.engine.marginTiers(market, o),
    f.engine.riskParams(market, o),
  ]);
  return {
    price,
    fundingIndex: index,
    skew: long - short,
    impactSkewScale: exposure.impactSkewScale,
    tiers: toTiers(tiers),
    params: toParams(params),
    scale: SCALE,
    long,
    short,
    maxLongRatio: exposure.maxLongOpenInterestRatio,
    maxShortRatio: exposure.maxShortOpenInterestRatio,
  };
}

async function storedPosition(
  f: Protocol,
  account: string,
  market: string,
  blockTag: BlockTag = "latest",
): Promise<StoredPosition> {
  const p = await f.engine.getPosition(account, market, { blockTag });
  return { size: p.size, collateral: p.collateral, entryPrice: p.entryPrice, fundingIndex: p.fundingIndex };
}

/** The engine error a call reverts with, or null when it succeeds. */
async function revertOf(engine: any, call: Promise<unknown>): Promise<string | null> {
  try {
    await call;
    return null;
  } catch (e: any) {
    const data = typeof e?.data === "string" ? e.data : e?.error?.data;
    const parsed = typeof data === "string" ? engine.interface.parseError(data) : null;
    if (parsed === null) throw e;
    return parsed.name;
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** The least collateralDelta (token units, at most `cap`) with which previewTrade accepts the trade; null if none. */
function leastCollateral(position: StoredPosition, market: TradeMarket, sizeDelta: bigint, cap: bigint): bigint | null {
  const ok = (c: bigint) => previewTrade(position, market, sizeDelta, c).rejection === null;
  if (ok(0n)) return 0n;
  if (!ok(cap)) return null;
  let lo = 0n;
  let hi = cap;
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

const acceptable = (sizeDelta: bigint) => (sizeDelta > 0n ? MAX_UINT256 : 0n);
const FREE = usd(2_000_000);

/**
 * Opens or increases `trader`'s position by a random notional (`lo` to `hi` USD) on the given side with the least
 * collateral the SDK says the engine accepts, plus 0-`headroomPct`% (so leverage at or near the maximum). The engine
 * must accept it.
 */
async function openNearMaxLeverage(
  f: Protocol,
  r: Rng,
  trader: Signer,
  market: string,
  side: bigint,
  headroomPct: bigint,
  lo = 100n,
  hi = 2_000_000n,
) {
  const m = await marketState(f, market);
  const pos = await storedPosition(f, trader.address, market);
  const sizeDelta = side * ((r.log(lo * WAD, hi * WAD) * WAD) / m.price);
  const least = leastCollateral(pos, m, sizeDelta, FREE / 2n);
  if (least === null) return false;
  const collateral = least + (least * r.range(0n, headroomPct)) / 100n;
  await f.engine.connect(trader).modifyPosition(market, sizeDelta, collateral, acceptable(sizeDelta));
  return true;
}

type Feed = { updateAnswer(answer: bigint): Promise<unknown> };

/** Sets a feed with 8 decimals to a WAD price (rounded down to the feed's precision). */
async function setPrice(feed: Feed, price: bigint) {
  await feed.updateAnswer(price / 10n ** BigInt(18 - FEED_DECIMALS));
}

const latest = async () => BigInt(await time.latest());

/* ============================================================ pure functions vs harness */

const deployHarness = () => ethers.deployContract("RiskHarness");

describe("SDK math against the contracts (seeded property tests)", function () {
  let harness: Awaited<ReturnType<typeof deployHarness>>;

  before(async function () {
    harness = await deployHarness();
  });

  describe("pure functions against RiskHarness", function () {
    it(`requirement36 equals RiskLib's for initial and maintenance rates (${N} cases each)`, async function () {
      const r = rngFor("requirement36");
      const cases: { tiers: Tier[]; n36: bigint; initial: boolean }[] = [];
      for (const initial of [true, false]) {
        for (let i = 0; i < N; i++) {
          const tiers = genTiers(r);
          const k = r.int(10);
          let n36: bigint;
          if (k === 0) n36 = 0n;
          else if (k < 5) n36 = r.pick(tiers).notionalFloor * WAD + r.range(-2n, 2n); // at a tier floor
          else if (k < 9) n36 = r.log(1n, 10n ** 50n); // up to 1e14 USD
          else n36 = r.log(1n, MAX_POSITION_SIZE * MAX_PRICE); // the largest |size| * price the bounds allow
          cases.push({ tiers, n36: max(n36, 0n), initial });
        }
      }
      const sdkOut = cases.map((c) => requirement36(c.tiers, c.n36, c.initial));
      const solOut = await batched(cases, 200, async (chunk) =>
        big(
          await harness.requirement36(
            chunk.map((c) => c.tiers.map((t) => ({ ...t }))),
            chunk.map((c) => c.n36),
            chunk.map((c) => c.initial),
          ),
        ),
      );
      expectSame("requirement36", cases, sdkOut, solOut);
      // The floors were hit: some requirements sit exactly on a floor between two rates.
      expect(
        cases.filter((c) => c.tiers.some((t) => t.notionalFloor > 0n && t.notionalFloor * WAD === c.n36)).length,
      ).to.be.greaterThan(N / 20);
    });

    it(`equity36 and health36 equal RiskLib's (${N} cases)`, async function () {
      const r = rngFor("health36");
      const cases: { ctx: RiskContext; price: bigint }[] = [];
      for (let i = 0; i < N; i++) {
        const ctx = genContext(r);
        cases.push({ ctx, price: genPriceFor(r, ctx) });
      }
      const sdkOut = cases.map(({ ctx, price }) => {
        const h = health36(ctx, price);
        return [equity36(ctx, price), h.e36, h.mm36];
      });
      const solOut = await batched(cases, 100, async (chunk) => {
        const ctxs = chunk.map((c) => sol(c.ctx));
        const prices = chunk.map((c) => c.price);
        const [eq, [e36, mm36]] = await Promise.all([harness.equity36(ctxs, prices), harness.health36(ctxs, prices)]);
        return chunk.map((_, i) => [BigInt(eq[i]), BigInt(e36[i]), BigInt(mm36[i])]);
      });
      expectSame("equity36/health36", cases, sdkOut, solOut);
      // Both sides of the liquidation boundary, and negative equity, were exercised.
      const liq = cases.filter(({ ctx, price }) => isLiquidatable(ctx, price)).length;
      expect(liq).to.be.within(N / 10, N - N / 10);
      expect(sdkOut.filter((o) => o[0] < 0n).length).to.be.greaterThan(N / 50);
    });

    it(`healthFactor equals RiskLib's (${N} cases)`, async function () {
      const r = rngFor("healthFactor");
      const cases: { e36: bigint; mm36: bigint }[] = [];
      for (let i = 0; i < N; i++) {
        let e36: bigint;
        let mm36: bigint;
        if (r.chance(0.5)) {
          // From a real context at a real price.
          const ctx = genContext(r);
          ({ e36, mm36 } = health36(ctx, genPriceFor(r, ctx)));
        } else {
          mm36 = r.chance(0.1) ? 0n : r.log(1n, 10n ** 58n);
          const k = r.int(6);
          e36 =
            k === 0
              ? mm36 + r.range(-2n, 2n)
              : k === 1
              ? 0n
              : k === 2
              ? -r.log(1n, 10n ** 58n)
              : (mm36 * r.range(0n, 300n)) / 100n + r.range(-3n, 3n);
        }
        // RiskLib.healthFactor reverts (mulDiv overflow) when e / mm >= 2^256 / 1e18; contexts within bounds and
        // at realistic collateral stay far below, the generator's extremes are dropped here.
        if (mm36 !== 0n && e36 > 0n && e36 / mm36 >= 10n ** 58n) continue;
        cases.push({ e36, mm36 });
      }
      while (cases.length < N) cases.push({ e36: r.range(-5n, 5n), mm36: r.range(0n, 3n) });
      const sdkOut = cases.map((c) => healthFactor(c.e36, c.mm36));
      const solOut = await batched(cases, 500, async (chunk) =>
        big(
          await harness.healthFactor(
            chunk.map((c) => c.e36),
            chunk.map((c) => c.mm36),
          ),
        ),
      );
      expectSame("healthFactor", cases, sdkOut, solOut);
      expect(sdkOut.filter((h) => h === WAD - 1n || h === WAD).length).to.be.greaterThan(0);
    });

    it(`liquidationPrice equals RiskLib's (${N} cases)`, async function () {
      const r = rngFor("liquidationPrice");
      const cases = Array.from({ length: N }, () => genContext(r));
      const sdkOut = cases.map((c) => liquidationPrice(c));
      const solOut = await batched(cases, 25, async (chunk) => big(await harness.liquidationPrice(chunk.map(sol))));
      expectSame("liquidationPrice", cases, sdkOut, solOut);
      // Finite prices for most positions, and both "never" values occur.
      expect(sdkOut.filter((p) => p > 0n && p <= MAX_PRICE).length).to.be.greaterThan(N / 2);
      expect(sdkOut.filter((p) => p === 0n || p === MAX_UINT256).length).to.be.greaterThan(0);
    });

    it(`planLiquidation equals RiskLib's in all six fields (${N} liquidatable cases plus healthy ones)`, async function () {
      const r = rngFor("planLiquidation");
      const cases: { ctx: RiskContext; price: bigint }[] = [];
      let liquidatable = 0;
      let healthy = 0;
      while (liquidatable < N || healthy < N / 5) {
        const ctx = genContext(r);
        const lp = liquidationPrice(ctx);
        const long = ctx.size > 0n;
        // Distance past (or, for a healthy case, before) the liquidation price: one wei, a few, a little, anywhere.
        const k = r.int(4);
        const dist = (room: bigint) =>
          room <= 0n
            ? 0n
            : k === 0
            ? 0n
            : k === 1
            ? r.range(0n, min(3n, room))
            : k === 2
            ? r.log(1n, max(room / 20n, 1n))
            : r.range(0n, room);
        let price: bigint;
        if (r.chance(0.8)) {
          // Liquidatable prices: a long's below lp (all of them when lp is max uint), a short's above lp.
          if (long ? lp <= 1n : lp >= MAX_PRICE) continue; // none within bounds
          const top = min(lp - 1n, MAX_PRICE);
          price = long ? top - dist(top - 1n) : lp + 1n + dist(MAX_PRICE - lp - 1n);
        } else {
          if (long ? lp > MAX_PRICE : lp === 0n) continue; // no healthy price within bounds
          price = long
            ? max(lp, 1n) + dist(MAX_PRICE - max(lp, 1n))
            : min(lp, MAX_PRICE) - dist(min(lp, MAX_PRICE) - 1n);
        }
        if (isLiquidatable(ctx, price)) liquidatable++;
        else healthy++;
        cases.push({ ctx, price });
      }
      const sdkOut = cases.map(({ ctx, price }) => planLiquidation(ctx, price));
      // A partial liquidation's search costs up to ~1.2M gas: few cases per call.
      const solOut = await batched(cases, 10, async (chunk) => {
        const plans = await harness.planLiquidation(
          chunk.map((c) => sol(c.ctx)),
          chunk.map((c) => c.price),
        );
        return Array.from(
          plans,
          (p: LiquidationPlan): LiquidationPlan => ({
            full: p.full,
            closeSize: p.closeSize,
            realizedPnl: p.realizedPnl,
            keeperReward: p.keeperReward,
            penalty: p.penalty,
            remainingCollateral: p.remainingCollateral,
          }),
        );
      });
      expectSame("planLiquidation", cases, sdkOut, solOut);
      // The partial-liquidation search ran in a good share of the liquidatable cases.
      const partial = sdkOut.filter((p, i) => !p.full && isLiquidatable(cases[i].ctx, cases[i].price)).length;
      expect(partial).to.be.greaterThan(N / 10);
    });

    it(`fillPrice equals PricingLib's around the 1% clamp (${N} cases)`, async function () {
      const r = rngFor("fillPrice");
      const cases = Array.from({ length: N }, () => genImpactCase(r));
      const sdkOut = cases.map((c) => fillPrice(c.price, c.skew, c.sizeDelta, c.skewScale));
      const solOut = await batched(cases, 250, async (chunk) =>
        big(
          await harness.fillPrice(
            chunk.map((c) => c.price),
            chunk.map((c) => c.skew),
            chunk.map((c) => c.sizeDelta),
            chunk.map((c) => c.skewScale),
          ),
        ),
      );
      expectSame("fillPrice", cases, sdkOut, solOut);
      // Trades starting inside and ending beyond the clamp, and the reverse, occurred.
      const beyond = (s: bigint, scale: bigint) => abs(s) * WAD > MAX_PRICE_IMPACT * scale;
      const crossing = cases.filter(
        (c) => c.skewScale > 0n && beyond(c.skew, c.skewScale) !== beyond(c.skew + c.sizeDelta, c.skewScale),
      );
      expect(crossing.length).to.be.greaterThan(N / 20);
    });

    it(`unwindPremium36 equals PricingLib's (${N} cases)`, async function () {
      const r = rngFor("unwindPremium36");
      const cases = Array.from({ length: N }, () => {
        const c = genImpactCase(r);
        return { price: c.price, skew: r.chance(0.5) ? c.skew : c.skew + c.sizeDelta, skewScale: c.skewScale };
      });
      const sdkOut = cases.map((c) => unwindPremium36(c.price, c.skew, c.skewScale));
      const solOut = await batched(cases, 250, async (chunk) =>
        big(
          await harness.unwindPremium36(
            chunk.map((c) => c.price),
            chunk.map((c) => c.skew),
            chunk.map((c) => c.skewScale),
          ),
        ),
      );
      expectSame("unwindPremium36", cases, sdkOut, solOut);
    });

    it(`takerFee equals PricingLib's (${N} cases)`, async function () {
      const r = rngFor("takerFee");
      const cases = Array.from({ length: N }, () => {
        const c = genImpactCase(r);
        return {
          absSize: r.chance(0.05) ? 0n : r.chance(0.8) ? abs(c.sizeDelta) : r.log(1n, MAX_POSITION_SIZE),
          fill: fillPrice(c.price, c.skew, c.sizeDelta, c.skewScale),
          feeRate: r.chance(0.1) ? 0n : r.chance(0.1) ? MAX_TAKER_FEE_RATE : r.range(0n, MAX_TAKER_FEE_RATE),
          scale: r.pick(TOKEN_SCALES),
        };
      });
      const sdkOut = cases.map((c) => takerFee(c.absSize, c.fill, c.feeRate, c.scale));
      const solOut = await batched(cases, 250, async (chunk) =>
        big(
          await harness.takerFee(
            chunk.map((c) => c.absSize),
            chunk.map((c) => c.fill),
            chunk.map((c) => c.feeRate),
            chunk.map((c) => c.scale),
          ),
        ),
      );
      expectSame("takerFee", cases, sdkOut, solOut);
    });

    it(`impactCost equals PricingLib's, gains and costs (${N} cases)`, async function () {
      const r = rngFor("impactCost");
      const cases = Array.from({ length: N }, () => {
        const c = genImpactCase(r);
        const fill = r.chance(0.8)
          ? fillPrice(c.price, c.skew, c.sizeDelta, c.skewScale)
          : max(c.price + r.range(-5n, 5n), 0n);
        return { sizeDelta: c.sizeDelta, fill, price: c.price, scale: r.pick(TOKEN_SCALES) };
      });
      const sdkOut = cases.map((c) => impactCost(c.sizeDelta, c.fill, c.price, c.scale));
      const solOut = await batched(cases, 250, async (chunk) =>
        big(
          await harness.impactCost(
            chunk.map((c) => c.sizeDelta),
            chunk.map((c) => c.fill),
            chunk.map((c) => c.price),
            chunk.map((c) => c.scale),
          ),
        ),
      );
      expectSame("impactCost", cases, sdkOut, solOut);
      expect(sdkOut.filter((x) => x < 0n).length).to.be.greaterThan(N / 20);
      expect(sdkOut.filter((x) => x > 0n).length).to.be.greaterThan(N / 20);
    });

    it(`fundingOwed equals FundingLib.owed, owed and received (${N} cases)`, async function () {
      const r = rngFor("fundingOwed");
      const cases = Array.from({ length: N }, () => {
        const size = r.chance(0.05)
          ? 0n
          : r.sign() * (r.chance(0.8) ? r.log(1n, 10n ** 24n) : r.log(1n, MAX_POSITION_SIZE));
        const positionIndex = r.chance(0.2) ? 0n : r.sign() * r.log(1n, 10n ** 30n);
        const k = r.int(4);
        const delta = k === 0 ? 0n : k === 1 ? r.range(-3n, 3n) : r.sign() * r.log(1n, 10n ** 24n);
        return { size, index: positionIndex + delta, positionIndex, divisor: WAD * r.pick(TOKEN_SCALES) };
      });
      const sdkOut = cases.map((c) => fundingOwed(c.size, c.index, c.positionIndex, c.divisor));
      const solOut = await batched(cases, 250, async (chunk) =>
        big(
          await harness.owed(
            chunk.map((c) => c.size),
            chunk.map((c) => c.index),
            chunk.map((c) => c.positionIndex),
            chunk.map((c) => c.divisor),
          ),
        ),
      );
      expectSame("fundingOwed", cases, sdkOut, solOut);
      expect(sdkOut.filter((x) => x < 0n).length).to.be.greaterThan(N / 10);
      expect(sdkOut.filter((x) => x > 0n).length).to.be.greaterThan(N / 10);
    });
  });

  describe("the engine and the lens", function () {
    it("positionHealth and liquidationPrice equal the lens's for random positions, prices and times", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const r = rngFor("lens");
      // Funding on (from 0, one step, no cooldown yet), so positions owe or are owed funding as time passes.
      await f.engine.setFundingParams(ETH, { skewScale: wad(40), maxFundingRatePerDay: MAX_FUNDING_RATE_STEP });
      await f.engine.setFundingParams(BTC, { skewScale: wad(2), maxFundingRatePerDay: MAX_FUNDING_RATE_STEP / 3n });
      const feeds = [
        { market: ETH, feed: f.ethFeed, price: wad(3000) },
        { market: BTC, feed: f.btcFeed, price: wad(60_000) },
      ];
      const keys: { trader: Signer; market: string }[] = [];
      for (const { market } of feeds) {
        for (const trader of f.traders) {
          if (await openNearMaxLeverage(f, r, trader, market, r.sign(), 30n)) keys.push({ trader, market });
        }
      }
      expect(keys.length).to.equal(2 * f.traders.length);

      let compared = 0;
      let flips = 0;
      for (let round = 0; round < 4; round++) {
        if (round > 0) {
          for (const x of feeds) {
            x.price = (x.price * r.range(88n, 112n)) / 100n;
            await setPrice(x.feed, x.price);
          }
          await time.increase(r.range(1n, 3n * 86_400n));
        }
        // Read every position, then draw the prices in a fixed order: the draws must not depend on RPC timing.
        const states = await Promise.all(
          keys.map(async ({ trader, market }) => ({
            trader,
            market,
            ctx: (await readCtx(f.engine, trader.address, market)) as RiskContext,
            lp: await f.lens.liquidationPrice(trader.address, market),
          })),
        );
        const checks = states.map((x) => {
          const { ctx, lp } = x;
          const prices = [
            lp,
            lp - 1n,
            lp + 1n,
            lp + r.range(-1000n, 1000n),
            lp + r.sign() * r.log(1n, lp / 100n + 1n),
            (ctx.entryPrice * r.range(80n, 120n)) / 100n,
            ...ctx.tiers.slice(1).map((t) => (t.notionalFloor * WAD) / abs(ctx.size) + r.range(-1n, 1n)), // tier floors
            r.log(1n, MAX_PRICE),
          ].filter((p) => p >= 1n && p <= MAX_PRICE);
          return { ...x, prices };
        });
        await Promise.all(
          checks.map(async ({ trader, market, ctx, lp, prices }) => {
            expect(liquidationPrice(ctx), `liquidationPrice of ${show(ctx)}`).to.equal(lp);
            const got = await Promise.all(prices.map((p) => f.lens.positionHealthAt(trader.address, market, p)));
            for (let i = 0; i < prices.length; i++) {
              const h = got[i];
              const lens = {
                size: h.size,
                entryPrice: h.entryPrice,
                collateral: h.collateral,
                price: h.price,
                notional: h.notional,
                pnl: h.pnl,
                fundingOwed: h.fundingOwed,
                closingFee: h.closingFee,
                equity: h.equity,
                maintenanceMargin: h.maintenanceMargin,
                initialMargin: h.initialMargin,
                healthFactor: h.healthFactor,
                liquidationPrice: h.liquidationPrice,
                liquidatable: h.liquidatable,
              };
              expect(show(positionHealth(ctx, prices[i])), `positionHealth of ${show(ctx)} at ${prices[i]}`).to.equal(
                show(lens),
              );
              expect(h.oracleStatus).to.equal(0n); // Ok: the caller supplied the price
              compared++;
            }
            // The liquidation check flips exactly at the liquidation price: a long is safe at lp and liquidatable one
            // wei below, a short safe at lp and liquidatable one wei above.
            const long = ctx.size > 0n;
            if (long ? lp > 1n && lp <= MAX_PRICE : lp < MAX_PRICE) {
              const past = long ? lp - 1n : lp + 1n;
              const [at, beyond] = await Promise.all([
                f.lens.positionHealthAt(trader.address, market, lp),
                f.lens.positionHealthAt(trader.address, market, past),
              ]);
              expect(at.liquidatable, `safe at lp ${lp}`).to.equal(false);
              expect(beyond.liquidatable, `liquidatable at ${past}`).to.equal(true);
              expect(isLiquidatable(ctx, lp)).to.equal(false);
              expect(isLiquidatable(ctx, past)).to.equal(true);
              flips++;
            }
          }),
        );
      }
      expect(compared).to.be.at.least(1000);
      expect(flips).to.be.at.least(keys.length * 3);
    });

    it("the engine's isLiquidatable flips at the SDK's liquidation price on an 18-decimal feed", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const r = rngFor("flip");
      // A feed with 18 decimals can be set to any wei price, so the engine's own check runs at lp and one wei past it.
      // Funding stays off on this market: each feed update mines a block, and nothing may move between them.
      const feed = await ethers.deployContract("MockV3Aggregator", [18, wad(2500)]);
      const market = encodeBytes32String("FLIP-USD");
      const oracle = {
        feed: await feed.getAddress(),
        heartbeat: HEARTBEAT,
        decimals: 0,
        minPrice: 1n,
        maxPrice: MAX_PRICE,
      };
      await f.engine.listMarket(market, oracle, RISK_PARAMS, TIERS);
      await f.engine.setExposureParams(market, { ...EXPOSURE_PARAMS, impactSkewScale: wad(500) });
      const traders = f.traders.slice(0, 10);
      for (const trader of traders)
        expect(await openNearMaxLeverage(f, r, trader, market, r.sign(), 20n)).to.equal(true);
      let flips = 0;
      for (const trader of traders) {
        const ctx: RiskContext = await readCtx(f.engine, trader.address, market);
        const lp = liquidationPrice(ctx);
        expect(await f.lens.liquidationPrice(trader.address, market)).to.equal(lp);
        const past = ctx.size > 0n ? lp - 1n : lp + 1n;
        for (const [price, expected] of [
          [lp, false],
          [past, true],
        ] as const) {
          await feed.updateAnswer(price);
          expect(
            await f.engine.isLiquidatable(trader.address, market),
            `isLiquidatable at ${price}, lp ${lp}`,
          ).to.equal(expected);
          expect(isLiquidatable(ctx, price)).to.equal(expected);
        }
        flips++;
      }
      expect(flips).to.equal(traders.length);
    });

    it("fillPrice, takerFee and impactCost equal lens.quoteTrade with open skew and price impact", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const r = rngFor("quote");
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: wad(2_000) }); // 1% at 20 ETH of skew
      await f.engine.setExposureParams(BTC, { ...EXPOSURE_PARAMS, impactSkewScale: wad(50) }); // 1% at 0.5 BTC
      const feeds = new Map([
        [ETH, f.ethFeed],
        [BTC, f.btcFeed],
      ]);
      const inputs: unknown[] = [];
      const sdkOut: unknown[] = [];
      const lensOut: unknown[] = [];
      const skews = { inside: 0, beyond: 0 }; // states with the skew inside / beyond the clamp point
      for (let state = 0; state < 10; state++) {
        const market = state % 2 === 0 ? ETH : BTC;
        // Move the skew towards a random target around the clamp point, then the oracle.
        let m = await marketState(f, market);
        const clamp = (MAX_PRICE_IMPACT * m.impactSkewScale) / WAD;
        const delta = r.sign() * r.range(0n, 3n * clamp) - m.skew;
        for (const trader of f.traders) {
          const pos = await storedPosition(f, trader.address, market);
          if (pos.size !== 0n && pos.size > 0n !== delta > 0n) continue;
          const least = leastCollateral(pos, m, delta, FREE);
          if (least !== null) {
            await f.engine.connect(trader).modifyPosition(market, delta, (least * 3n) / 2n, acceptable(delta));
          }
          break;
        }
        const price = (m.price * r.range(95n, 105n)) / 100n;
        await setPrice(feeds.get(market)!, price);
        m = await marketState(f, market);
        if (abs(m.skew) < clamp) skews.inside++;
        else skews.beyond++;
        const sizes: bigint[] = [];
        for (let i = 0; i < 80; i++) {
          const k = r.int(6);
          let s =
            k === 0
              ? r.sign() * clamp - m.skew + r.range(-2n, 2n) // ends at the clamp point
              : k === 1
              ? -m.skew + r.range(-2n, 2n) // ends at zero skew
              : k === 2
              ? r.sign() * r.range(1n, 3n)
              : k < 5
              ? r.sign() * r.range(1n, 4n * clamp)
              : r.sign() * r.log(1n, MAX_POSITION_SIZE);
          if (s === 0n) s = 1n;
          sizes.push(s);
        }
        const quotes = await Promise.all(sizes.map((s) => f.lens.quoteTrade(market, s)));
        for (let i = 0; i < sizes.length; i++) {
          const s = sizes[i];
          const fill = fillPrice(m.price, m.skew, s, m.impactSkewScale);
          inputs.push({ market, price: m.price, skew: m.skew, sizeDelta: s, skewScale: m.impactSkewScale });
          sdkOut.push([
            m.price,
            fill,
            impactCost(s, fill, m.price, SCALE),
            takerFee(abs(s), fill, m.params.takerFeeRate, SCALE),
          ]);
          const q = quotes[i];
          lensOut.push([q.oraclePrice, q.fillPrice, q.priceImpact, q.fee]);
        }
      }
      expectSame("quoteTrade", inputs, sdkOut, lensOut);
      expect(inputs.length).to.equal(800);
      expect(skews.inside).to.be.at.least(3);
      expect(skews.beyond).to.be.at.least(3);
    });

    it("previewTrade equals the PositionModified event of executed trades, funding and impact included", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const r = rngFor("trades");
      await f.engine.setFundingParams(ETH, { skewScale: wad(30), maxFundingRatePerDay: MAX_FUNDING_RATE_STEP });
      // 1% of impact at 500 ETH of skew: the trades below move the skew inside and across the clamp point.
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: wad(50_000) });
      const traders = f.traders.slice(0, 8);
      let price = wad(3000);
      const executed = new Map<string, number>();
      const rejected = new Map<string, number>();
      let unclamped = 0; // trades that start or end where the impact premium is below its 1% clamp
      for (let i = 0; i < 80; i++) {
        const trader = r.pick(traders);
        // An oracle move (which also keeps the feed fresh), then the trade 1 s to 50 min later in a block whose
        // timestamp is fixed in advance, and the state that block starts from (see marketState).
        price = (price * r.range(97n, 103n)) / 100n;
        await setPrice(f.ethFeed, price);
        const t = (await latest()) + r.range(1n, 3000n);
        await time.setNextBlockTimestamp(t);
        const m = await marketState(f, ETH, "pending");
        const pos = await storedPosition(f, trader.address, ETH, "pending");

        let kind: string;
        let sizeDelta: bigint;
        let collateralDelta = 0n;
        const notional = (lo: bigint, hi: bigint) => (r.log(lo * WAD, hi * WAD) * WAD) / m.price;
        const least = (sd: bigint) => leastCollateral(pos, m, sd, FREE) ?? 0n;
        const k = r.int(10);
        if (pos.size === 0n) {
          kind = "open";
          sizeDelta = r.sign() * notional(20n, 500_000n);
          const c = least(sizeDelta);
          // At the least collateral, one unit below it (the SDK rejects it; the engine must agree), or with headroom.
          collateralDelta = k === 0 ? c : k === 1 ? c - 1n : c + (c * r.range(0n, 100n)) / 100n;
        } else if (k < 3) {
          kind = "increase";
          sizeDelta = (pos.size > 0n ? 1n : -1n) * notional(10n, 300_000n);
          const c = least(sizeDelta);
          collateralDelta = r.chance(0.2) ? max(c - 1n, 0n) : c + (c * r.range(0n, 50n)) / 100n;
        } else if (k < 6) {
          kind = "decrease";
          sizeDelta = -(pos.size > 0n ? 1n : -1n) * r.range(1n, abs(pos.size) - 1n);
        } else if (k < 8) {
          kind = "decrease and remove collateral";
          sizeDelta = -(pos.size > 0n ? 1n : -1n) * r.range(1n, abs(pos.size) - 1n);
          collateralDelta = -r.range(1n, pos.collateral / 2n + 1n);
        } else {
          kind = "close";
          sizeDelta = -pos.size;
        }
        const preview = previewTrade(pos, m, sizeDelta, collateralDelta);
        const engine = f.engine.connect(trader);
        if (preview.rejection !== null) {
          const call = engine.modifyPosition.staticCall(ETH, sizeDelta, collateralDelta, acceptable(sizeDelta), {
            blockTag: "pending",
          });
          expect(
            await revertOf(f.engine, call),
            `${kind} ${sizeDelta} with ${collateralDelta} on ${show(pos)}`,
          ).to.equal(preview.rejection);
          rejected.set(preview.rejection, (rejected.get(preview.rejection) ?? 0) + 1);
          continue;
        }
        const freeBefore = await f.engine.freeBalance(trader.address);
        const tx = await engine.modifyPosition(ETH, sizeDelta, collateralDelta, acceptable(sizeDelta));
        const receipt = await tx.wait();
        expect(BigInt((await ethers.provider.getBlock(receipt!.blockNumber))!.timestamp)).to.equal(t);
        const [ev] = await engineEvents(f.engine, tx, "PositionModified");
        const closed = preview.newSize === 0n;
        const label = `${kind} ${sizeDelta} with ${collateralDelta} on ${show(pos)} in ${show(m)}`;
        expect(
          show({
            executionPrice: ev.args.executionPrice,
            fee: ev.args.fee,
            realizedPnl: ev.args.realizedPnl,
            newSize: ev.args.newSize,
            newCollateral: ev.args.newCollateral,
            newEntryPrice: ev.args.newEntryPrice,
            priceImpact: ev.args.priceImpact,
            oraclePrice: ev.args.oraclePrice,
          }),
          label,
        ).to.equal(
          show({
            executionPrice: preview.fillPrice,
            fee: preview.fee,
            realizedPnl: preview.realizedPnl,
            newSize: preview.newSize,
            // The event reports a closed position's collateral as 0; what it returned is checked below.
            newCollateral: closed ? 0n : preview.newCollateral,
            newEntryPrice: preview.newEntryPrice,
            priceImpact: preview.priceImpact,
            oraclePrice: m.price,
          }),
        );
        const settled = await engineEvents(f.engine, tx, "FundingSettled");
        expect(
          settled.map((e) => e.args.amount),
          label,
        ).to.deep.equal(preview.funding === 0n ? [] : [preview.funding]);
        if (closed) {
          // A close returns its collateral (or nothing: a shortfall is covered) to the free balance.
          expect((await f.engine.freeBalance(trader.address)) - freeBefore, label).to.equal(
            max(preview.newCollateral, 0n),
          );
        } else {
          // The trade settled at the index read at the pending block: the method above is the engine's own timing.
          expect((await f.engine.getPosition(trader.address, ETH)).fundingIndex, label).to.equal(m.fundingIndex);
        }
        executed.set(kind, (executed.get(kind) ?? 0) + 1);
        const inside = (skew: bigint) => abs(skew) * WAD < MAX_PRICE_IMPACT * m.impactSkewScale;
        if (inside(m.skew) || inside(m.skew + sizeDelta)) unclamped++;
      }
      // Every kind of trade executed, funding and impact were non-trivial, and rejections matched the engine's.
      for (const kind of ["open", "increase", "decrease", "decrease and remove collateral", "close"]) {
        expect(executed.get(kind) ?? 0, kind).to.be.at.least(3);
      }
      expect(rejected.get("PerpInsufficientMargin") ?? 0).to.be.at.least(2);
      expect(unclamped).to.be.at.least(20);
      expect((await f.engine.fundingState(ETH))[0]).to.not.equal(0n);
    });

    it("maxTradeSize is the largest size the engine accepts: s passes and s + 1 wei is rejected as predicted", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const r = rngFor("maxTradeSize");
      await f.engine.setFundingParams(ETH, { skewScale: wad(50), maxFundingRatePerDay: MAX_FUNDING_RATE_STEP });
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: wad(20_000) }); // 1% at 200 ETH
      await f.engine.setExposureParams(BTC, { ...EXPOSURE_PARAMS, impactSkewScale: wad(500) }); // 1% at 5 BTC
      const feeds = [
        { market: ETH, feed: f.ethFeed, price: wad(3000) },
        { market: BTC, feed: f.btcFeed, price: wad(60_000) },
      ];
      // Open interest on both sides, so the skew and its impact differ between the sides.
      for (const { market } of feeds) {
        for (const trader of f.traders.slice(10)) await openNearMaxLeverage(f, r, trader, market, r.sign(), 50n);
      }
      const limitedBy = new Map<string, number>();
      let positive = 0;
      for (let i = 0; i < 36; i++) {
        const x = r.pick(feeds);
        const market = x.market;
        const trader = r.pick(f.traders.slice(0, 10));
        x.price = (x.price * r.range(95n, 105n)) / 100n;
        await setPrice(x.feed, x.price);
        const held = await storedPosition(f, trader.address, market);
        const isLong = held.size !== 0n ? held.size > 0n : r.chance(0.5);
        // Sometimes an open-interest cap a little above the side's open interest, so that the cap limits the size.
        const before = await marketState(f, market);
        let ratio = 10n * WAD;
        if (r.chance(0.35)) {
          const poolValue = (await f.token.balanceOf(await f.pool.getAddress())) * SCALE;
          const sideNotional = ((isLong ? before.long : before.short) * before.price) / WAD;
          ratio = min(10n * WAD, ((sideNotional + r.log(WAD, 300_000n * WAD)) * WAD) / poolValue + 1n);
        }
        if (ratio !== before.maxLongRatio || ratio !== before.maxShortRatio) {
          await f.engine.setExposureParams(market, {
            impactSkewScale: before.impactSkewScale,
            maxLongOpenInterestRatio: ratio,
            maxShortOpenInterestRatio: ratio,
          });
        }
        const t = (await latest()) + r.range(1n, 1000n);
        await time.setNextBlockTimestamp(t);
        const m = await marketState(f, market, "pending"); // the block the calls below run in
        const pos = await storedPosition(f, trader.address, market, "pending");
        const collateralDelta = pos.size === 0n || r.chance(0.6) ? r.log(usd(5), usd(200_000)) : 0n;
        const poolBalance = await f.token.balanceOf(await f.pool.getAddress());
        const capNotional = (poolBalance * SCALE * (isLong ? m.maxLongRatio : m.maxShortRatio)) / WAD;
        const sideOpenInterest = isLong ? m.long : m.short;
        const s = maxTradeSize(pos, m, isLong, collateralDelta, { sideOpenInterest, capNotional });
        const sign = isLong ? 1n : -1n;
        const engine = f.engine.connect(trader);
        const staticTrade = (size: bigint) =>
          engine.modifyPosition.staticCall(market, sign * size, collateralDelta, acceptable(sign), {
            blockTag: "pending",
          });
        const label = `${isLong ? "long" : "short"} with ${collateralDelta} on ${show(pos)} in ${show(m)}: s = ${s}`;
        if (s > 0n) {
          expect(await revertOf(f.engine, staticTrade(s)), label).to.equal(null);
          positive++;
        }
        // One wei more: the engine's first failing check, as the SDK's model predicts it.
        const room = (capNotional * WAD) / m.price - sideOpenInterest;
        const expected =
          s + 1n > room
            ? "PerpOpenInterestCapExceeded"
            : abs(pos.size) + s + 1n > MAX_POSITION_SIZE
            ? "PerpPositionTooLarge"
            : previewTrade(pos, m, sign * (s + 1n), collateralDelta).rejection;
        expect(expected, label).to.not.equal(null);
        expect(await revertOf(f.engine, staticTrade(s + 1n)), label).to.equal(expected);
        limitedBy.set(expected!, (limitedBy.get(expected!) ?? 0) + 1);
        // Half the time, take the maximum for real: it must go through, and the state moves on.
        if (s > 0n && r.chance(0.5)) {
          await engine.modifyPosition(market, sign * s, collateralDelta, acceptable(sign));
        }
      }
      expect(positive).to.be.at.least(25);
      expect(limitedBy.get("PerpInsufficientMargin") ?? 0).to.be.at.least(10);
      expect(limitedBy.get("PerpOpenInterestCapExceeded") ?? 0).to.be.at.least(5);
    });

    it("maxTradeSize finds the accepted sizes where a skew-reducing trade's rebate outweighs a low initial margin", async function () {
      // Initial margin 0.5% plus twice the 0.05% fee is below the 1% impact clamp: buying into a short skew beyond the
      // clamp earns back more per unit than it adds in margin. A long below its initial margin then cannot add a wei,
      // yet can add tens of ETH: acceptance is an interval that does not start at the smallest size.
      const f = await networkHelpers.loadFixture(protocolFixture);
      const id = encodeBytes32String("LOWIM-USD");
      const feed = await ethers.deployContract("MockV3Aggregator", [FEED_DECIMALS, 3000n * 10n ** 8n]);
      const oracle = { feed: await feed.getAddress(), heartbeat: HEARTBEAT, decimals: 0, minPrice: 1n, maxPrice: MAX_PRICE };
      await f.engine.listMarket(id, oracle, RISK_PARAMS, [{ notionalFloor: 0n, imr: wad("0.005"), mmr: wad("0.0025") }]);
      await f.engine.setExposureParams(id, { ...EXPOSURE_PARAMS, impactSkewScale: wad(1_000) }); // 1% at 10 ETH of skew
      await f.engine.connect(f.traders[3]).modifyPosition(id, -wad(1_000), usd(100_000), 0n);
      const [alice] = f.traders;
      const m0 = await marketState(f, id);
      const least = leastCollateral(await storedPosition(f, alice.address, id), m0, wad(10), FREE / 2n);
      await f.engine.connect(alice).modifyPosition(id, wad(10), least!, MAX_UINT256);
      // At 2,965 with 100 USD more the fee (paid from the collateral) binds first; at 2,600 with 2,000 USD more the
      // margin rule does, beyond the peak of equity minus margin, which maxTradeSize must search from.
      for (const { price, collateralDelta, accepted, binds } of [
        { price: wad(2_965), collateralDelta: usd(100), accepted: wad(50), binds: "collateral" },
        { price: wad(2_600), collateralDelta: usd(2_000), accepted: wad(1_000), binds: "margin" },
      ]) {
        await setPrice(feed, price);
        const m = await marketState(f, id);
        const pos = await storedPosition(f, alice.address, id);
        const trade = (size: bigint) => f.engine.connect(alice).modifyPosition.staticCall(id, size, collateralDelta, MAX_UINT256);
        expect(await revertOf(f.engine, trade(1n)), "one wei more is refused").to.equal("PerpInsufficientMargin");
        expect(await revertOf(f.engine, trade(accepted)), "a larger increase is accepted").to.equal(null);
        const s = maxTradeSize(pos, m, true, collateralDelta);
        expect(s).to.be.greaterThan(accepted);
        expect(await revertOf(f.engine, trade(s))).to.equal(null);
        const next = previewTrade(pos, m, s + 1n, collateralDelta);
        expect(next.rejection).to.equal("PerpInsufficientMargin");
        expect(await revertOf(f.engine, trade(s + 1n))).to.equal(next.rejection);
        expect(next.newCollateral < 0n ? "collateral" : "margin").to.equal(binds);
      }
    });

    it("accrueFundingIndex equals the engine's funding index after trades and random time jumps", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const r = rngFor("funding");
      // Fresh markets, each with its own funding parameters (from rate 0, one step, no cooldown yet).
      const markets: { id: string; feed: Feed; skewScale: bigint; maxRate: bigint }[] = [];
      for (const name of ["FUND-A-USD", "FUND-B-USD", "FUND-C-USD"]) {
        const feed = await ethers.deployContract("MockV3Aggregator", [FEED_DECIMALS, 10n ** 8n * r.log(1n, 100_000n)]);
        const id = encodeBytes32String(name);
        const oracle = {
          feed: await feed.getAddress(),
          heartbeat: HEARTBEAT,
          decimals: 0,
          minPrice: 1n,
          maxPrice: MAX_PRICE,
        };
        await f.engine.listMarket(id, oracle, RISK_PARAMS, TIERS);
        await f.engine.setExposureParams(id, EXPOSURE_PARAMS);
        const skewScale = r.log(MIN_SKEW_SCALE, 10n ** 21n);
        const maxRate = r.range(1n, MAX_FUNDING_RATE_STEP);
        await f.engine.setFundingParams(id, { skewScale, maxFundingRatePerDay: maxRate });
        markets.push({ id, feed, skewScale, maxRate });
      }
      // The market state at the last accrual, tracked from the chain: index, time, skew and price of the last trade.
      const last = new Map<string, { index: bigint; time: bigint; skew: bigint; price: bigint }>();
      for (const { id } of markets) last.set(id, { index: 0n, time: 0n, skew: 0n, price: 0n });
      const expectedIndex = (id: string, now: bigint) => {
        const s = last.get(id)!;
        const { skewScale, maxRate } = markets.find((x) => x.id === id)!;
        return accrueFundingIndex({
          index: s.index,
          skew: s.skew,
          skewScale,
          maxFundingRatePerDay: maxRate,
          price: s.price,
          elapsed: now - s.time,
        });
      };
      let trades = 0;
      let compared = 0;
      let negative = 0;
      let positive = 0;
      for (let epoch = 0; epoch < 6; epoch++) {
        for (const { id, feed, skewScale, maxRate } of markets) {
          // A trade: fresh oracle price, then a random open, increase, decrease or close, at a timestamp fixed in
          // advance so the index it accrues to is predicted before it is sent.
          const [, oldPrice] = await f.engine.oracleStatus(id);
          await setPrice(feed, (oldPrice * r.range(80n, 125n)) / 100n);
          const t = (await latest()) + r.range(1n, 3000n);
          await time.setNextBlockTimestamp(t);
          const m = await marketState(f, id, "pending");
          const trader = r.pick(f.traders);
          const pos = await storedPosition(f, trader.address, id, "pending");
          let sizeDelta: bigint;
          let collateralDelta = 0n;
          const units = r.log(skewScale / 100n + 1n, skewScale * 3n); // often past skewScale: the rate clamps
          if (pos.size === 0n || r.chance(0.5)) {
            sizeDelta = (pos.size === 0n ? r.sign() : pos.size > 0n ? 1n : -1n) * units;
            collateralDelta = leastCollateral(pos, m, sizeDelta, FREE) ?? 0n;
            collateralDelta += collateralDelta / 2n;
          } else {
            sizeDelta = r.chance(0.5) ? -pos.size : -pos.size / 2n;
          }
          if (previewTrade(pos, m, sizeDelta, collateralDelta).rejection === null) {
            const predicted = expectedIndex(id, t);
            expect(m.fundingIndex, "pending-block index").to.equal(predicted);
            await f.engine.connect(trader).modifyPosition(id, sizeDelta, collateralDelta, acceptable(sizeDelta));
            expect(await latest()).to.equal(t);
            const [index, , price] = await f.engine.fundingState(id);
            expect(index, "index accrued by the trade").to.equal(predicted);
            if (pos.size + sizeDelta !== 0n)
              expect((await f.engine.getPosition(trader.address, id)).fundingIndex).to.equal(predicted);
            const [long, short] = await f.engine.openInterest(id);
            last.set(id, { index: predicted, time: t, skew: long - short, price });
            trades++;
          }
          // Time jumps from the last accrual: mined blocks, and pending blocks at a chosen timestamp.
          for (let j = 0; j < 8; j++) {
            let now: bigint;
            let blockTag: BlockTag;
            if (r.chance(0.5)) {
              await time.increase(r.log(1n, 30n * 86_400n));
              now = await latest();
              blockTag = "latest";
            } else {
              now = (await latest()) + r.log(1n, 400n * 86_400n);
              await time.setNextBlockTimestamp(now);
              blockTag = "pending";
            }
            const [index, rate, price] = await f.engine.fundingState(id, { blockTag });
            const s = last.get(id)!;
            expect(index, `index of ${id} ${now - s.time}s after ${show(s)}`).to.equal(expectedIndex(id, now));
            expect(rate).to.equal(fundingRatePerDay(s.skew, skewScale, maxRate));
            expect(price).to.equal(s.price);
            if (index < s.index) negative++;
            if (index > s.index) positive++;
            compared++;
          }
        }
      }
      expect(trades).to.be.at.least(15);
      expect(compared).to.equal(6 * 3 * 8);
      expect(negative).to.be.at.least(10);
      expect(positive).to.be.at.least(10);
    });
  });
});
