/**
 * Market dynamics: price impact from skew, per-side open-interest caps, their governance, and the pool's net asset
 * value marked to market against open positions. Every expected value comes from the independent model in
 * helpers/risk-math.ts (fillPrice, impactCost, takerFee, ...) or from the ERC-4626 formulas written out below; the
 * tests compare the contracts against them to the wei. LPs enter and leave through the pool's ERC-7540 requests
 * (helpers/flows.ts: request, fulfil after the minimum delay at Pyth prices equal to Chainlink's, claim), which price
 * at the NAV of the fulfilment with the same formulas.
 */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { network } from "hardhat";

import {
  BTC,
  ETH,
  ETH_PYTH_ID,
  EXPOSURE_PARAMS,
  RISK_PARAMS,
  SCALE,
  TIERS,
  WAD,
  answer,
  deployProtocol,
  oracleConfig,
  usd,
  wad,
} from "./helpers/fixture.js";
import {
  MAX_PRICE_IMPACT,
  MAX_UINT,
  abs,
  beyondClamp,
  clampSkew,
  divUp,
  engineEvents,
  expectSolvent,
  fillPrice,
  floorDiv,
  impactCost,
  min,
  phi36,
  planLiquidation,
  readCtx,
  takerFee as modelTakerFee,
  unwindPremium36,
} from "./helpers/liquidation-helpers.js";
import { averageEntry, governInSteps, realizedPnl } from "./helpers/engine-helpers.js";
import { fulfil, lpDeposit, lpRedeem } from "./helpers/flows.js";
import { encodeUpdate, toPyth } from "./helpers/pyth.js";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

const MARKETS = [ETH, BTC];
const TST = encodeBytes32String("TST-USD");
const UNLISTED = encodeBytes32String("DOGE-USD");
const b32 = encodeBytes32String;

/** ETH feed answer with every digit significant, so that impact divisions round. */
const P_ODD = "3000.12345678";
const P = wad(P_ODD);
const P3000 = wad(3000);
/** Impact skew scale of the impact fixture: the marginal premium skew / K reaches the 1% clamp at the clamp point
 * |skew| = 10 ETH; beyond it each further unit of skew pays (or earns back) the flat 1%. Not a limit on the skew. */
const K = wad(1000);
const CLAMP = clampSkew(K);
/** TST price (18-decimal feed): not a multiple of 100 wei, so a 1% impact rounds. */
const P_TST = wad(2000) + 12_345n;
/** OpenZeppelin ERC-4626 virtual offset used by the pool: 10 ** 6 virtual shares, 1 virtual asset. */
const VIRTUAL_SHARES = 10n ** 6n;
const DAY = 86_400n;
const M = MAX_PRICE_IMPACT;
/** WAD USD per token unit: the NAV's one rounding. */
const WS = WAD * SCALE;

const fee = (sizeDelta: bigint, price: bigint) => modelTakerFee(sizeDelta, price, RISK_PARAMS.takerFeeRate, SCALE);
const impact = (sizeDelta: bigint, fill: bigint, price: bigint) => impactCost(sizeDelta, fill, price, SCALE);
/** ERC-4626 conversions with the pool's virtual offset, rounded down (the pool's fulfilments at NAV `total`). */
const toShares = (assets: bigint, supply: bigint, total: bigint) => (assets * (supply + VIRTUAL_SHARES)) / (total + 1n);
const toAssets = (shares: bigint, supply: bigint, total: bigint) => (shares * (total + 1n)) / (supply + VIRTUAL_SHARES);
/** Open-interest cap in WAD USD: ratio times the pool's capacity (its token balance while no LP request is pending
 * or claimable), rounded down. */
const capOf = (poolBalance: bigint, ratio: bigint) => (poolBalance * SCALE * ratio) / WAD;
/** The fewest shares a redemption of exactly `assets` at NAV `total` needs (then assets for shares is `assets`). */
const sharesForExactly = (assets: bigint, supply: bigint, total: bigint) => divUp(assets * (supply + VIRTUAL_SHARES), total + 1n);
/** Notional of a side's open interest at `price`, rounded up. */
const notionalOf = (sideInterest: bigint, price: bigint) => divUp(sideInterest * price, WAD);
/** 1% of `price`, rounded up (a premium charged) and down (a premium paid out). */
const onePctUp = (price: bigint) => divUp(price * M, WAD);
const onePctDown = (price: bigint) => (price * M) / WAD;
/**
 * The two pieces of Phi written out (price * Phi(s) as the exact fraction [numerator, denominator], WAD^2 USD) for a
 * skew s >= 0: s^2 / (2 S) up to the clamp point, m * s - m^2 * S / 2 beyond it.
 */
const phiInside = (price: bigint, s: bigint, S: bigint): [bigint, bigint] => [price * s * s, 2n * S];
const phiBeyond = (price: bigint, s: bigint, S: bigint): [bigint, bigint] => [
  price * (2n * M * s * WAD - M * M * S),
  2n * WAD * WAD,
];
/** Fill of a buy of d > 0 from skew 0 by the formula for its end point: price + ceil(price * Phi(d) / d). */
const buyFromZero = (price: bigint, d: bigint, S: bigint, beyond: boolean) => {
  const [num, den] = beyond ? phiBeyond(price, d, S) : phiInside(price, d, S);
  return price + divUp(num, den * d);
};

/* ---------------------------------------------------------------- fixtures */

async function protocolFixture() {
  const p = await deployProtocol(ethers);
  const signers = await ethers.getSigners();
  const extra = signers.slice(7, 10);
  for (const s of extra) {
    await p.token.mint(s.address, usd(10_000_000));
    await p.token.connect(s).approve(p.engine, ethers.MaxUint256);
    await p.token.connect(s).approve(p.pool, ethers.MaxUint256);
  }
  return { ...p, extra, everyone: signers.map((s) => s.address) };
}
type F = Awaited<ReturnType<typeof protocolFixture>>;

/** ETH with price impact at skew scale K and an oracle price whose digits all matter. */
async function impactFixture() {
  const f = await protocolFixture();
  await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: K });
  await f.ethFeed.updateAnswer(answer(P_ODD));
  for (const s of [f.alice, f.bob, f.carol, ...f.extra]) await f.engine.connect(s).deposit(usd(100_000));
  return f;
}

/** Skew built by the mirror fixtures: 6.1 ETH and 3 wei, so that impact divisions round. */
const S6 = wad("6.1") + 3n;

/** impactFixture plus Alice long S6: skew +6.1. */
async function mirrorLongFixture() {
  const f = await impactFixture();
  await f.engine.connect(f.alice).modifyPosition(ETH, S6, usd(5_000), MAX_UINT);
  return f;
}

/** impactFixture plus Alice short S6: skew -6.1, the mirror image of mirrorLongFixture. */
async function mirrorShortFixture() {
  const f = await impactFixture();
  await f.engine.connect(f.alice).modifyPosition(ETH, -S6, usd(5_000), 0n);
  return f;
}

/** TST positions opened by clampFixture at skew scale K: skew 4, 9, 6, then 0. */
const TST_BOOK: [string, bigint][] = [
  ["alice", wad(4)],
  ["bob", wad(5)],
  ["carol", -wad(3)],
  ["dave", -wad(6)],
];

/** A TST market on an 18-decimal feed at P_TST. Positions are opened at skew scale K (TST_BOOK: Alice long 4, Bob
 * long 5, Carol short 3, Dave short 6, skew 0); then governance lowers the scale to the minimum (1 unit, clamp point
 * 0.01 TST), so every unit of a trade whose path lies beyond +-0.01 TST pays or earns the flat 1%. */
async function clampFixture() {
  const f = await impactFixture();
  const feed = await ethers.deployContract("MockV3Aggregator", [18, P_TST]);
  await f.engine.listMarket(TST, { ...oracleConfig(await feed.getAddress()), maxPrice: wad(1_000_000) }, RISK_PARAMS, TIERS);
  await f.engine.setExposureParams(TST, { ...EXPOSURE_PARAMS, impactSkewScale: K });
  const who: Record<string, any> = { alice: f.alice, bob: f.bob, carol: f.carol, dave: f.extra[0] };
  for (const [name, size] of TST_BOOK) {
    await f.engine.connect(who[name]).modifyPosition(TST, size, usd(5_000), size > 0n ? MAX_UINT : 0n);
  }
  await f.engine.setExposureParams(TST, { ...EXPOSURE_PARAMS, impactSkewScale: wad(1) });
  return { ...f, tstFeed: feed };
}

/** clampFixture with the TST scale at 200 TST instead (clamp point 2 TST): from skew 0, the marginal premium
 * reaches 1% after a trade of 2 TST. */
async function clampBoundaryFixture() {
  const f = await clampFixture();
  await f.engine.setExposureParams(TST, { ...EXPOSURE_PARAMS, impactSkewScale: wad(200) });
  return f;
}

/** A freshly listed TST market: no exposure parameters set. */
async function freshMarketFixture() {
  const f = await protocolFixture();
  const feed = await ethers.deployContract("MockV3Aggregator", [18, wad(2000)]);
  await f.engine.listMarket(TST, oracleConfig(await feed.getAddress()), RISK_PARAMS, TIERS);
  return { ...f, tstFeed: feed };
}

/** Carol holds 1,000,000 USD of pool shares next to the fixture LP; Bob has 1,000,000 USD in the engine. */
async function twoLpFixture() {
  const f = await protocolFixture();
  await lpDeposit(ethers, f.pool, f.engine, f.carol, usd(1_000_000));
  await f.engine.connect(f.bob).deposit(usd(1_000_000));
  return f;
}

/* ------------------------------------------------------------------ utils */

/** Sends a modifyPosition and returns the decoded PositionModified arguments. */
async function trade(f: F, signer: any, sizeDelta: bigint, collateralDelta = 0n, acceptable?: bigint, market = ETH) {
  const tx = await f.engine
    .connect(signer)
    .modifyPosition(market, sizeDelta, collateralDelta, acceptable ?? (sizeDelta > 0n ? MAX_UINT : 0n));
  const [ev] = await engineEvents(f.engine, tx, "PositionModified");
  expect(ev, "PositionModified emitted").to.not.equal(undefined);
  return ev.args;
}

async function closeTrade(f: F, signer: any, acceptable: bigint, market = ETH) {
  const tx = await f.engine.connect(signer).closePosition(market, acceptable);
  const [ev] = await engineEvents(f.engine, tx, "PositionModified");
  return ev.args;
}

async function skewOf(f: F, market = ETH): Promise<bigint> {
  const [long, short] = await f.engine.openInterest(market);
  return long - short;
}

async function quote(f: F, sizeDelta: bigint, market = ETH) {
  const q = await f.lens.quoteTrade(market, sizeDelta);
  return { oraclePrice: q.oraclePrice, fillPrice: q.fillPrice, priceImpact: q.priceImpact, fee: q.fee };
}

async function poolBalance(f: F): Promise<bigint> {
  return f.token.balanceOf(await f.pool.getAddress());
}

/**
 * What open positions owe the pool, exact (WAD^2 USD), by enumerating every position of `f.everyone`:
 * sum of size * (index - positionIndex) (funding owed) - size * (price - entryPrice) (unrealised PnL), less per market
 * the impact premium that unwinding its skew (the enumerated sizes' sum) would pay back to traders, unwindPremium36 at
 * the market's impact skew scale (rounded up, once per market). `marks` gives each market's price and funding index.
 */
async function positionsOwe36(f: F, marks: { market: string; price: bigint; index: bigint }[]): Promise<bigint> {
  let total = 0n;
  for (const { market, price, index } of marks) {
    let skew = 0n;
    for (const a of f.everyone) {
      const pos = await f.engine.getPosition(a, market);
      if (pos.size === 0n) continue;
      skew += pos.size;
      total += pos.size * (index - pos.fundingIndex) - pos.size * (price - pos.entryPrice);
    }
    total -= unwindPremium36(price, skew, (await f.engine.exposureParams(market)).impactSkewScale);
  }
  return total;
}

/** Expected NAV: token balance plus the positions' debt to the pool, rounded down once, floored at 0. */
async function expectedNav(f: F, owe36: bigint): Promise<bigint> {
  const nav = (await poolBalance(f)) + floorDiv(owe36, WAD * SCALE);
  return nav > 0n ? nav : 0n;
}

/** Expected reservedAssets: ceil(ceil(sum of ceil(|size| * entry)) * reserveFactor) in token units. */
async function expectedReserve(f: F): Promise<bigint> {
  let notional = 0n;
  for (const m of MARKETS) {
    for (const a of f.everyone) {
      const pos = await f.engine.getPosition(a, m);
      if (pos.size !== 0n) notional += divUp(abs(pos.size) * pos.entryPrice, WAD);
    }
  }
  return divUp(divUp(notional * (await f.engine.reserveFactor()), WAD), SCALE);
}

async function solvent(f: F) {
  await expectSolvent(f.engine, f.token, f.everyone, [...MARKETS, TST]);
}

/**
 * Sends a trade of `step` (a size delta, or "close" for closePosition) by `signer` on `market`, whose oracle price is
 * `price` and whose funding is off, and checks it against the reference alone: the fill, fee, realised PnL and new
 * entry price (fillPrice, takerFee, averageEntry, realizedPnl), the pool's token balance (+ fee - PnL) and the pool
 * NAV afterwards, predicted exactly from the positions before the trade: what they owed the pool (positionsOwe36)
 * changed by the trader's marked PnL and by the unwind premium, U(skew after) - U(skew before), floored once. Only
 * `market` may hold positions. Returns the PositionModified arguments with `navMove`, the NAV's change, and
 * `rounding` = navMove - fee: the pool gains the fee plus rounding in its favour only (at most one token unit).
 */
async function navTrade(f: F, signer: any, step: bigint | "close", price: bigint, collateral = 0n, market = ETH) {
  const S = (await f.engine.exposureParams(market)).impactSkewScale;
  expect((await f.engine.fundingState(market))[0], "funding off").to.equal(0n);
  const pos = await f.engine.getPosition(signer.address, market);
  const d = step === "close" ? -pos.size : step;
  const s0 = await skewOf(f, market);
  const fill = fillPrice(price, s0, d, S);
  const increasing = pos.size === 0n || pos.size > 0n === d > 0n;
  const entry = increasing ? averageEntry(pos.size, pos.entryPrice, d, fill) : pos.entryPrice;
  const pnl = increasing ? 0n : realizedPnl(d, fill, pos.entryPrice);
  const charged = fee(d, fill);
  const size1 = pos.size + d;
  const owe0 = await positionsOwe36(f, [{ market, price, index: 0n }]);
  const marked = (size: bigint, e: bigint) => (size === 0n ? 0n : size * (price - e));
  const owe1 =
    owe0 -
    (marked(size1, entry) - marked(pos.size, pos.entryPrice)) -
    (unwindPremium36(price, s0 + d, S) - unwindPremium36(price, s0, S));
  const balance0 = await poolBalance(f);
  const nav0 = await f.pool.totalAssets();
  const navOf = (b: bigint, owe36: bigint) => max0(b + floorDiv(owe36, WS));
  expect(nav0, "NAV before").to.equal(navOf(balance0, owe0));
  const a =
    step === "close"
      ? await closeTrade(f, signer, d > 0n ? MAX_UINT : 0n, market)
      : await trade(f, signer, d, collateral, undefined, market);
  const label = `${signer.address.slice(0, 8)} ${d} at skew ${s0}`;
  expect(a.sizeDelta, label).to.equal(d);
  expect(a.oraclePrice, label).to.equal(price);
  expect(a.executionPrice, label).to.equal(fill);
  expect(a.fee, label).to.equal(charged);
  expect(a.realizedPnl, label).to.equal(pnl);
  expect(a.newEntryPrice, label).to.equal(size1 === 0n ? 0n : entry);
  expect(await skewOf(f, market), label).to.equal(s0 + d);
  expect(await poolBalance(f), label).to.equal(balance0 + charged - pnl);
  const nav1 = await f.pool.totalAssets();
  expect(nav1, label).to.equal(navOf(balance0 + charged - pnl, owe1));
  const navMove = nav1 - nav0;
  expect(navMove - charged, label).to.be.within(0n, 1n);
  return { ...a.toObject(), navMove, rounding: navMove - charged, d, s0 };
}

const max0 = (x: bigint) => (x > 0n ? x : 0n);

/* ================================================================== tests */

describe("Market dynamics", function () {
  /* ============================================================ price impact */
  describe("price impact", function () {
    it("fills at the reference price to the wei: longs and shorts, adding to and reducing the skew", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave, erin] = f.extra;
      const book = new Map<string, { size: bigint; entry: bigint }>();
      let skew = 0n;
      // [trader, sizeDelta ("cancel": minus twice the skew), collateral, fill relative to the oracle price]. Sizes
      // carry odd wei so that the impact divisions round (checked below), both up and down. Every skew stays within
      // the 10 ETH clamp point, so every premium is the linear one, P * (2 skew + d) / (2 K), rounded against the
      // trader (up for a buy, down for a sell).
      const steps: [any, bigint | "cancel", bigint, string][] = [
        [alice, wad(8) + 7n, usd(5_000), ">"], // buy from skew 0: premium, rounded up
        [bob, -wad("4.123456789012345678"), usd(5_000), ">"], // sell reducing a long skew: above the oracle, rounded down
        [carol, -wad(12), usd(5_000), "<"], // sell through zero to skew ~-8.1: discount rounded up
        [alice, wad("3.3"), 0n, "<"], // increase a long against a short skew: below the oracle, rounded down
        [dave, wad("3.654321098765432109"), usd(5_000), "<"], // new long against a short skew, rounded down
        [bob, -wad("2.5"), 0n, "<"], // increase a short into a short skew: pays the discount, rounded up
        [carol, wad(5) + 1n, 0n, "<"], // decrease a short (buy) against a short skew: realised PnL at the fill
        [erin, "cancel", usd(5_000), "="], // skew +s to -s: ideal premium 0; one wei of rounding against the seller
      ];
      let inexact = 0;
      for (const [signer, step, collateral, rel] of steps) {
        const d = step === "cancel" ? -2n * skew : step;
        const fill = fillPrice(P, skew, d, K);
        expect(abs(skew), "within the clamp point").to.be.lessThanOrEqual(CLAMP);
        expect(abs(skew + d), "within the clamp point").to.be.lessThanOrEqual(CLAMP);
        // The linear premium as an exact fraction over 2K, rounded against the trader.
        const lin = P * (2n * skew + d);
        if (lin % (2n * K) !== 0n) inexact++;
        const linear = d > 0n ? -floorDiv(-lin, 2n * K) : floorDiv(lin, 2n * K);
        const label = `${signer.address.slice(0, 8)} ${d} at skew ${skew}`;
        if (rel === "=") {
          // Phi(s) rounded up at the end point exceeds Phi(-s) = Phi(s) rounded down at the start by one wei of WAD^2:
          // the seller's fill is one wei under the oracle price.
          expect(lin, label).to.equal(0n);
          expect(phi36(P, skew, K, true) - phi36(P, skew, K, false), label).to.equal(1n);
          expect(d, label).to.be.lessThan(0n);
          expect(fill, label).to.equal(P - 1n);
        } else {
          expect(fill - P, label).to.equal(linear); // exactly the linear premium, rounded against the trader
        }
        const a = await trade(f, signer, d, collateral);
        expect(a.oraclePrice, label).to.equal(P);
        expect(a.executionPrice, label).to.equal(fill);
        expect(a.priceImpact, label).to.equal(impact(d, fill, P));
        expect(a.fee, label).to.equal(fee(d, fill));
        if (rel === ">") expect(fill, label).to.be.greaterThan(P);
        if (rel === "<") expect(fill, label).to.be.lessThan(P);

        const old = book.get(signer.address) ?? { size: 0n, entry: 0n };
        const increasing = old.size === 0n || old.size > 0n === d > 0n;
        const entry = increasing ? averageEntry(old.size, old.entry, d, fill) : old.entry;
        expect(a.realizedPnl, label).to.equal(increasing ? 0n : realizedPnl(d, fill, old.entry));
        expect(a.newEntryPrice, label).to.equal(entry);
        const pos = await f.engine.getPosition(signer.address, ETH);
        expect(pos.entryPrice, label).to.equal(entry);
        expect(pos.size, label).to.equal(old.size + d);
        book.set(signer.address, { size: old.size + d, entry });
        skew += d;
        expect(await skewOf(f), label).to.equal(skew);
      }
      expect(inexact).to.equal(7); // every linear premium but the cancelling one rounds
      // Alice closes ~11.3 at skew ~-1.33: a sell that lowers the price, to ~-12.6, beyond the clamp point. Past
      // -10 ETH each unit pays the flat 1% instead of the growing linear premium, so the discount is smaller than
      // the linear formula's, and still under 1%.
      const aliceBook = book.get(alice.address)!;
      const fill = fillPrice(P, skew, -aliceBook.size, K);
      expect(beyondClamp(skew - aliceBook.size, K)).to.equal(true);
      const linear = floorDiv(P * (2n * skew - aliceBook.size), 2n * K);
      expect(fill).to.be.lessThan(P);
      expect(fill - P).to.be.greaterThan(linear);
      expect(P - fill).to.be.lessThan(onePctDown(P));
      const c = await closeTrade(f, alice, 0n);
      expect(c.executionPrice).to.equal(fill);
      expect(c.priceImpact).to.equal(impact(-aliceBook.size, fill, P));
      expect(c.realizedPnl).to.equal(realizedPnl(-aliceBook.size, fill, aliceBook.entry));
      expect(c.fee).to.equal(fee(aliceBook.size, fill));
      // Spot values: 3000.12345678 * (1 + 10 / 2000) is exact; one more wei of size adds P / 2000e18 = 1.50006 wei
      // to the premium, rounded up to 2.
      expect(fillPrice(P, 0n, wad(10), K)).to.equal(P + P / 200n);
      expect(fillPrice(P, 0n, wad(10) + 1n, K)).to.equal(P + P / 200n + 2n);
      // A seller's premium (in their favour) rounds down: 16 / 2000 of P less 1.50006 wei, floored.
      expect(fillPrice(P, wad(10), -wad(4) - 1n, K)).to.equal(P + (P * 16n) / 2000n - 2n);
      await solvent(f);
    });

    it("is symmetric: fill(P, s, d) - P == P - fill(P, -s, -d), quoted and executed on mirrored markets", async function () {
      const deltas = [wad(1) + 1n, -wad(1), wad("2.5"), -wad("2.5") - 5n, -2n * S6, wad("0.123456789012345678"), wad(15), -wad(40)];
      // Executed on each market: a trade within the clamp point (6.1 -> 8.6), then one far beyond it (8.6 -> 23.6).
      const execs = [wad("2.5") + 9n, wad(15) + 11n];
      const fa = await loadFixture(mirrorLongFixture);
      const entryA = (await fa.engine.getPosition(fa.alice.address, ETH)).entryPrice;
      const quotesA = [];
      for (const d of deltas) quotesA.push(await quote(fa, d));
      const execA = [await trade(fa, fa.bob, execs[0], usd(5_000)), await trade(fa, fa.carol, execs[1], usd(5_000))];

      const fb = await loadFixture(mirrorShortFixture);
      const entryB = (await fb.engine.getPosition(fb.alice.address, ETH)).entryPrice;
      const quotesB = [];
      for (const d of deltas) quotesB.push(await quote(fb, -d));
      const execB = [await trade(fb, fb.bob, -execs[0], usd(5_000)), await trade(fb, fb.carol, -execs[1], usd(5_000))];

      // Building the skews: 0 -> +S6 and 0 -> -S6.
      expect(entryA - P).to.equal(P - entryB);
      expect(entryA).to.equal(fillPrice(P, 0n, S6, K));
      // The mirrored fills round: the premium is not a whole number of wei (so a rounding asymmetry would show).
      expect((P * (2n * S6 + wad(1) + 1n)) % (2n * K)).to.not.equal(0n);
      expect((P * S6) % (2n * K)).to.not.equal(0n);
      for (let i = 0; i < deltas.length; i++) {
        const d = deltas[i];
        const [qa, qb] = [quotesA[i], quotesB[i]];
        expect(qa.fillPrice, `d=${d}`).to.equal(fillPrice(P, S6, d, K));
        expect(qb.fillPrice, `d=${-d}`).to.equal(fillPrice(P, -S6, -d, K));
        expect(qa.fillPrice - P, `d=${d}`).to.equal(P - qb.fillPrice);
        expect(qa.priceImpact, `d=${d}`).to.equal(qb.priceImpact);
      }
      // -2 * S6 takes the skew from +s to -s: the ideal premium is 0, but Phi(S6) rounded up exceeds it rounded down
      // by one wei of WAD^2, so each mirrored fill is one wei worse than the oracle price for its trader.
      expect(phi36(P, S6, K, true) - phi36(P, S6, K, false)).to.equal(1n);
      expect(quotesA[4].fillPrice).to.equal(P - 1n);
      expect(quotesB[4].fillPrice).to.equal(P + 1n);
      // 15 and -40 cross the clamp point: their average premium stays under 1%.
      for (const i of [6, 7]) {
        expect(beyondClamp(S6 + deltas[i], K), `d=${deltas[i]}`).to.equal(true);
        expect(abs(quotesA[i].fillPrice - P), `d=${deltas[i]}`).to.be.lessThan(onePctDown(P));
      }
      let skew = S6;
      for (let i = 0; i < execs.length; i++) {
        expect(execA[i].executionPrice, `exec ${i}`).to.equal(fillPrice(P, skew, execs[i], K));
        expect(execA[i].executionPrice - P, `exec ${i}`).to.equal(P - execB[i].executionPrice);
        expect(execA[i].executionPrice, `exec ${i}`).to.be.greaterThan(P);
        expect(execA[i].priceImpact, `exec ${i}`).to.equal(execB[i].priceImpact);
        expect(execA[i].priceImpact, `exec ${i}`).to.be.greaterThan(0n);
        skew += execs[i];
      }
      expect(beyondClamp(skew, K)).to.equal(true);
      expect(await skewOf(fa)).to.equal(skew);
      expect(await skewOf(fb)).to.equal(-skew);
    });

    it("is monotone: buys fill higher with size and with skew (flat at 1% beyond the clamp point); skew-reducing trades beat the oracle price", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave, erin, frank] = f.extra;
      // Size, at skew 0 (quoted): strictly increasing. Past the 10 ETH clamp point each further unit pays the flat 1%,
      // so the average premium 1% - 0.5% * 10 / d keeps rising towards 1%, never reaching it.
      const sizes = [1n, wad("0.001"), wad("0.1"), wad(1), wad(5), wad(10), wad("19.99"), wad(20), wad(25), wad(100), wad(10_000)];
      let prev = 0n;
      for (const d of sizes) {
        const q = await quote(f, d);
        expect(q.fillPrice, `d=${d}`).to.equal(fillPrice(P, 0n, d, K));
        expect(q.fillPrice, `d=${d}`).to.equal(buyFromZero(P, d, K, beyondClamp(d, K)));
        expect(q.fillPrice, `d=${d}`).to.be.greaterThan(prev);
        expect(q.fillPrice, `d=${d}`).to.be.lessThan(P + onePctDown(P));
        prev = q.fillPrice;
      }
      // 20 ETH (where the old average-premium clamp started) now pays 0.75% on average; 10,000 ETH 0.9995%.
      expect(fillPrice(P, 0n, wad(20), K)).to.equal(P + divUp(P * 75n, 10_000n));
      expect(fillPrice(P, 0n, wad(10_000), K)).to.equal(P + divUp(P * 9_995n, 1_000_000n));
      // An open beyond the clamp point executes at the quote (there is no skew limit), and its close gives the
      // premium back, rounded against the trader.
      const o = await navTrade(f, frank, wad(25), P, usd(5_000));
      expect(o.executionPrice).to.equal(fillPrice(P, 0n, wad(25), K));
      const oc = await navTrade(f, frank, "close", P);
      expect(oc.executionPrice).to.equal(o.executionPrice); // 25 -> 0 pays back exactly what 0 -> 25 cost
      expect(oc.realizedPnl).to.equal(0n);
      expect(await skewOf(f)).to.equal(0n);

      // Skew: -25, -10, -3, 0, 4, 10, 25 (beyond and at the clamp point on both sides). A buy of 1 and a sell of 1
      // fill higher as the skew rises: strictly, except where the unit's whole path lies beyond the clamp point on
      // both skews compared (buys at 10 and 25: P + 1%; sells at -25 and -10: P - 1%).
      const builds: [any, bigint][] = [
        [carol, -wad(25)],
        [alice, wad(15)],
        [bob, wad(7)],
        [dave, wad(3)],
        [erin, wad(4)],
        [frank, wad(6)],
        [frank, wad(15)],
      ];
      let [prevBuy, prevSell, prevSkew] = [0n, 0n, 0n];
      let against = 0;
      for (const [i, [signer, d]] of builds.entries()) {
        const before = await skewOf(f);
        const exec = await trade(f, signer, d, usd(5_000));
        const skew = before + d;
        expect(exec.executionPrice).to.equal(fillPrice(P, before, d, K));
        if (before < 0n && d > 0n && 2n * before + d < 0n) {
          // A buy against a short skew fills below the oracle price: the trader gains from the impact.
          expect(exec.executionPrice).to.be.lessThan(P);
          expect(exec.priceImpact).to.be.lessThan(0n);
          against++;
        }
        const buy = await quote(f, wad(1));
        const sell = await quote(f, -wad(1));
        expect(buy.fillPrice).to.equal(fillPrice(P, skew, wad(1), K));
        expect(sell.fillPrice).to.equal(fillPrice(P, skew, -wad(1), K));
        if (skew >= CLAMP) expect(buy.fillPrice, `skew ${skew}`).to.equal(P + onePctUp(P));
        if (skew <= -CLAMP) expect(sell.fillPrice, `skew ${skew}`).to.equal(P - onePctUp(P));
        if (i > 0) {
          if (prevSkew >= CLAMP) expect(buy.fillPrice, `skew ${skew}`).to.equal(prevBuy);
          else expect(buy.fillPrice, `skew ${skew}`).to.be.greaterThan(prevBuy);
          if (skew <= -CLAMP) expect(sell.fillPrice, `skew ${skew}`).to.equal(prevSell);
          else expect(sell.fillPrice, `skew ${skew}`).to.be.greaterThan(prevSell);
        }
        [prevBuy, prevSell, prevSkew] = [buy.fillPrice, sell.fillPrice, skew];
      }
      expect(prevSkew).to.equal(wad(25));
      expect(against).to.equal(3); // Alice's +15 at -25, Bob's +7 at -10 and Dave's +3 at -3
      // At skew +25 a sell reduces the skew and fills above the oracle price, at the flat 1% in the seller's favour
      // (rounded down); executed by Bob (long 7, decrease 1).
      const dec = await trade(f, bob, -wad(1));
      expect(dec.executionPrice).to.equal(prevSell);
      expect(dec.executionPrice).to.equal(P + onePctDown(P));
      expect(dec.priceImpact).to.be.lessThan(0n);
    });

    it("beyond the clamp point every unit pays or earns exactly the flat 1%, rounded against the trader; opens there are allowed", async function () {
      // Positions were opened at scale K; governance then lowered the scale to 1 unit (clampFixture): clamp point
      // 0.01 TST. Every step is executed through navTrade (fill, fee, PnL, entry and the NAV to the wei).
      const f = await loadFixture(clampFixture);
      const { alice, bob, carol } = f;
      const [dave, erin] = f.extra;
      const S1 = wad(1);
      expect(clampSkew(S1)).to.equal(wad("0.01"));
      expect(await skewOf(f, TST)).to.equal(0n);
      expect(P_TST % 100n).to.not.equal(0n); // so that 1% of it rounds
      const up = onePctUp(P_TST);
      const down = onePctDown(P_TST);
      expect(up).to.equal(down + 1n);
      // A new long from skew 0 (0 -> 1): the first 0.01 TST is linear, the rest flat. The outer piece of Phi gives
      // the average premium 1% - 1%^2 * S / (2 * 1 TST) = 0.995%, rounded up.
      const first = buyFromZero(P_TST, wad(1), S1, true);
      expect(first).to.equal(P_TST + divUp(P_TST * 995n, 100_000n));
      // [trader, sizeDelta ("close": the whole position), fill, skew after].
      const steps: [any, bigint | "close", bigint, bigint, string][] = [
        [erin, wad(1), first, wad(1), "a new long from skew 0 across the clamp point: 0.995% rounded up"],
        [carol, "close", P_TST + up, wad(4), "short closes (buy) into a long skew beyond the clamp point: premium rounded up"],
        [alice, -wad(1), P_TST + down, wad(3), "long decreases into a long skew: premium in the seller's favour, rounded down"],
        [bob, "close", P_TST + P_TST / 500n, -wad(2), "long closes from +3 to -2: Phi(3) - Phi(2) = 1% of 1 TST over 5: +0.2%, rounded down"],
        [dave, wad(1), P_TST - down, -wad(1), "short decreases against a short skew: discount in the buyer's favour, rounded down"],
        [carol, -wad(1), P_TST - up, -wad(2), "a new short growing |skew| beyond the clamp point: discount rounded up"],
      ];
      for (const [signer, step, expected, after, label] of steps) {
        const skew = await skewOf(f, TST);
        const pos = await f.engine.getPosition(signer.address, TST);
        const d = step === "close" ? -pos.size : step;
        expect(skew + d, label).to.equal(after);
        expect(fillPrice(P_TST, skew, d, S1), label).to.equal(expected);
        if (skew !== 0n) {
          // Both ends beyond the clamp point (on either side): only the flat pieces of Phi are involved.
          expect(beyondClamp(skew, S1) && beyondClamp(skew + d, S1), label).to.equal(true);
        }
        const a = await navTrade(f, signer, step, P_TST, pos.size === 0n ? usd(5_000) : 0n, TST);
        expect(a.executionPrice, label).to.equal(expected);
        expect(a.priceImpact, label).to.equal(impact(d, expected, P_TST));
        if (pos.size === 0n) expect(a.newEntryPrice, label).to.equal(expected);
        expect(a.newSize, label).to.equal(pos.size + d);
      }
      await solvent(f);
    });

    it("the marginal premium reaches 1% exactly at the clamp point and stays there; the two pieces of Phi meet there", async function () {
      const f = await loadFixture(clampFixture);
      await f.engine.setExposureParams(TST, { ...EXPOSURE_PARAMS, impactSkewScale: K });
      // From skew 0 at scale K (clamp point 10 TST): up to 10 TST the fill is P (1 + d / (2 K)); beyond, each further
      // unit pays 1%: P (1 + 1% - 1%^2 K / (2 d)). Compared exactly: 10 TST is inside, 10 TST + 1 wei beyond.
      expect(beyondClamp(CLAMP, K)).to.equal(false);
      expect(beyondClamp(CLAMP + 1n, K)).to.equal(true);
      // At the clamp point both pieces give the same value: 0.5% on average.
      expect(buyFromZero(P_TST, CLAMP, K, false)).to.equal(buyFromZero(P_TST, CLAMP, K, true));
      expect(buyFromZero(P_TST, CLAMP, K, false)).to.equal(P_TST + divUp(P_TST, 200n));
      for (const d of [CLAMP - 1n, CLAMP, CLAMP + 1n, 2n * CLAMP, wad(1_000_000)]) {
        const expected = buyFromZero(P_TST, d, K, beyondClamp(d, K));
        const q = await quote(f, d, TST);
        expect(q.fillPrice, `d=${d}`).to.equal(expected);
        expect(q.fillPrice).to.equal(fillPrice(P_TST, 0n, d, K));
        expect(q.fillPrice).to.be.lessThan(P_TST + onePctDown(P_TST));
        const qs = await quote(f, -d, TST);
        expect(P_TST - qs.fillPrice, `d=${-d}`).to.equal(expected - P_TST);
      }
      expect(fillPrice(P_TST, 0n, 2n * CLAMP, K)).to.equal(P_TST + divUp(P_TST * 75n, 10_000n)); // 0.75%

      // Executed on a scale of 200 TST (clamp point 2 TST) from skew 0: 2 TST - 1 wei, 2 TST, 2 TST + 1 wei and
      // 4 TST, each from the same state, as a new long by Erin and as a decrease by Dave (short 6) on the same path:
      // the fill depends on the path only, not on who trades or how.
      const S200 = wad(200);
      const at = clampSkew(S200);
      expect(at).to.equal(wad(2));
      for (const d of [at - 1n, at, at + 1n, 2n * at]) {
        const expected = buyFromZero(P_TST, d, S200, beyondClamp(d, S200));
        expect(fillPrice(P_TST, 0n, d, S200), `d=${d}`).to.equal(expected);
        for (const who of ["erin", "dave"] as const) {
          const g = await loadFixture(clampBoundaryFixture);
          const [dave, erin] = g.extra;
          expect(await skewOf(g, TST)).to.equal(0n);
          const a = await navTrade(g, who === "erin" ? erin : dave, d, P_TST, who === "erin" ? usd(5_000) : 0n, TST);
          expect(a.executionPrice, `${who} d=${d}`).to.equal(expected);
          expect(a.newSize, `${who} d=${d}`).to.equal(who === "erin" ? d : -wad(6) + d);
        }
      }
      expect(fillPrice(P_TST, 0n, 2n * at, S200)).to.equal(P_TST + divUp(P_TST * 75n, 10_000n));

      // The kink: from skew exactly at the clamp point, a buy of 1e-6 TST pays the flat 1% (rounded up), while a sell
      // of 1e-6 TST earns the linear premium (2 - 0.000001 / 2) / 200, just under 1% (rounded down).
      const g = await loadFixture(clampBoundaryFixture);
      const [, erin] = g.extra;
      await navTrade(g, erin, at, P_TST, usd(5_000), TST);
      const tiny = 10n ** 12n;
      const qb = await quote(g, tiny, TST);
      const qs = await quote(g, -tiny, TST);
      expect(qb.fillPrice).to.equal(P_TST + onePctUp(P_TST));
      expect(qs.fillPrice).to.equal(P_TST + (P_TST * (2n * at - tiny)) / (2n * S200));
      expect(qs.fillPrice).to.be.lessThan(P_TST + onePctDown(P_TST));
      expect(qb.fillPrice).to.equal(fillPrice(P_TST, at, tiny, S200));
      expect(qs.fillPrice).to.equal(fillPrice(P_TST, at, -tiny, S200));
    });

    it("acceptablePrice applies to the impacted fill: one wei worse than the fill reverts PerpSlippage", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave] = f.extra;
      await trade(f, alice, wad(4), usd(5_000)); // skew +4
      const cases: [any, bigint, string][] = [
        [bob, wad(2), "buy adding to the skew"], // to +6
        [carol, -wad(3), "sell reducing the skew"], // to +3
        [dave, -wad(9), "sell through zero"], // to -6
        [carol, -wad(7) - 3n, "sell increasing a short far beyond the clamp point"], // to ~-13
        [dave, wad(3) + 3n, "buy reducing a short skew from beyond the clamp point"], // back to -10
      ];
      for (const [signer, d, label] of cases) {
        const skew = await skewOf(f);
        const fill = fillPrice(P, skew, d, K);
        const worse = d > 0n ? fill - 1n : fill + 1n;
        await expect(f.engine.connect(signer).modifyPosition(ETH, d, usd(5_000), worse), label)
          .to.be.revertedWithCustomError(f.engine, "PerpSlippage")
          .withArgs(fill, worse);
        const a = await trade(f, signer, d, usd(5_000), fill);
        expect(a.executionPrice, label).to.equal(fill);
      }
      // The oracle price is not enough for a buy that pays a premium: from skew -10 a buy of 23 ends at +13, so it
      // pays 1% on the 3 ETH past +10 net (Phi(13) > Phi(-10)).
      expect(await skewOf(f)).to.equal(-wad(10));
      const fillUp = fillPrice(P, -wad(10), wad(23), K);
      expect(fillUp).to.be.greaterThan(P);
      await expect(f.engine.connect(bob).modifyPosition(ETH, wad(23), 0n, P))
        .to.be.revertedWithCustomError(f.engine, "PerpSlippage")
        .withArgs(fillUp, P);
      // closePosition too: Alice sells 4 at skew -10 (discount, the flat 1%), down to -14.
      const closeFill = fillPrice(P, await skewOf(f), -wad(4), K);
      expect(closeFill).to.equal(P - onePctUp(P));
      await expect(f.engine.connect(alice).closePosition(ETH, closeFill + 1n))
        .to.be.revertedWithCustomError(f.engine, "PerpSlippage")
        .withArgs(closeFill, closeFill + 1n);
      const c = await closeTrade(f, alice, closeFill);
      expect(c.executionPrice).to.equal(closeFill);
      expect(await skewOf(f)).to.equal(-wad(14));
    });

    it("a round trip at one oracle price never gains from impact: final balance = start - fees + pnl, pnl <= 0", async function () {
      // Bob builds the skew `pre`, Alice opens and closes `size` at one oracle price, each trade checked by navTrade
      // (exact fill, PnL and NAV: the pool gains the fees plus rounding only). `flat`: both legs lie beyond the clamp
      // point on one side, so both fill at exactly the flat 1% (P_ODD / 100 is a whole number of wei).
      const cases: { label: string; pre: bigint; size: bigint; scale: bigint; flat?: boolean }[] = [
        { label: "long at zero skew", pre: 0n, size: wad(9) + 7n, scale: K },
        { label: "short at zero skew", pre: 0n, size: -wad(9) - 7n, scale: K },
        { label: "long into a long skew", pre: wad(4), size: wad("5.5") + 1n, scale: K },
        { label: "long against a short skew", pre: -wad(9), size: wad("5.5") + 1n, scale: K },
        { label: "short against a long skew", pre: wad(9), size: -wad("7.3") - 3n, scale: K },
        { label: "short into a short skew", pre: -wad(2), size: -wad("7.3") - 3n, scale: K },
        { label: "long up to exactly the clamp point", pre: wad(3), size: wad(7), scale: K },
        { label: "long from inside across the clamp point", pre: wad(4), size: wad(25) + 3n, scale: K },
        { label: "long entirely beyond the clamp point", pre: wad(12), size: wad(5) + 1n, scale: K, flat: true },
        { label: "short from beyond on the long side to beyond on the short side", pre: wad(15), size: -wad("33.333333333333333333"), scale: K },
        { label: "short entirely beyond the clamp point (scale 1 unit)", pre: -wad(9), size: -wad("7.777777777777777777"), scale: wad(1), flat: true },
        { label: "odd size, odd scale", pre: -wad("0.3"), size: wad("1.000000000000000001"), scale: wad("1234.5678") },
      ];
      for (const { label, pre, size, scale, flat = false } of cases) {
        const f = await loadFixture(impactFixture);
        if (scale !== K) await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: scale });
        if (pre !== 0n) await navTrade(f, f.bob, pre, P, usd(20_000));
        const nav0 = await f.pool.totalAssets();
        const start = await f.engine.freeBalance(f.alice.address);
        const o = await navTrade(f, f.alice, size, P, usd(10_000));
        const c = await navTrade(f, f.alice, "close", P);
        const fillOpen = fillPrice(P, pre, size, scale);
        const fillClose = fillPrice(P, pre + size, -size, scale);
        expect(o.executionPrice, label).to.equal(fillOpen);
        expect(c.executionPrice, label).to.equal(fillClose);
        if (flat) {
          expect(beyondClamp(pre, scale) && beyondClamp(pre + size, scale) && pre > 0n === size > 0n, label).to.equal(true);
          expect(fillOpen, label).to.equal(size > 0n ? P + P / 100n : P - P / 100n);
          expect(fillClose, label).to.equal(fillOpen);
        }
        const fees = fee(size, fillOpen) + fee(size, fillClose);
        const pnl = realizedPnl(-size, fillClose, fillOpen);
        expect(c.realizedPnl, label).to.equal(pnl);
        expect(pnl, label).to.be.lessThanOrEqual(0n);
        // The close fills no better than the open: the same premium, rounded against the trader both times.
        if (size > 0n) expect(fillClose, label).to.be.lessThanOrEqual(fillOpen);
        else expect(fillClose, label).to.be.greaterThanOrEqual(fillOpen);
        const end = await f.engine.freeBalance(f.alice.address);
        expect(end, label).to.equal(start - fees + pnl);
        expect(end, label).to.be.lessThanOrEqual(start - fees);
        // What Alice lost beyond the fees is exactly what the pool gained beyond them.
        expect((await f.pool.totalAssets()) - nav0 - fees, label).to.equal(-pnl);
      }
    });

    it("lens.quoteTrade returns exactly the executed price, impact and fee", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave, erin] = f.extra;
      // The first three stay within the 10 ETH clamp point; the rest start or end beyond it (`beyond`).
      const steps: [any, bigint | "close", boolean][] = [
        [alice, wad("8.345") + 1n, false], // skew +8.345
        [bob, -wad("4.2") - 3n, false], // +4.145
        [carol, -wad(14), false], // through zero to -9.855
        [alice, -wad(2) - 5n, true], // decrease to -11.855, beyond the clamp point
        [dave, wad("0.5") + 7n, true], // an open shrinking |skew| from beyond: -11.355
        [erin, -wad(5) - 1n, true], // an open growing |skew| beyond: -16.355
        [bob, "close", true], // -12.155
        [alice, "close", true], // out to -18.5
      ];
      for (const [signer, step, beyond] of steps) {
        const d = step === "close" ? -(await f.engine.getPosition(signer.address, ETH)).size : step;
        const skew = await skewOf(f);
        expect(beyondClamp(skew, K) || beyondClamp(skew + d, K), `d=${d}`).to.equal(beyond);
        const q = await quote(f, d);
        expect(q.fillPrice, `d=${d}`).to.equal(fillPrice(P, skew, d, K));
        const a = step === "close" ? await closeTrade(f, signer, d > 0n ? MAX_UINT : 0n) : await trade(f, signer, d, usd(5_000));
        expect(a.sizeDelta).to.equal(d);
        expect(a.oraclePrice, `d=${d}`).to.equal(q.oraclePrice);
        expect(a.executionPrice, `d=${d}`).to.equal(q.fillPrice);
        expect(a.priceImpact, `d=${d}`).to.equal(q.priceImpact);
        expect(a.fee, `d=${d}`).to.equal(q.fee);
        expect(q.oraclePrice).to.equal(P);
        expect(q.fillPrice).to.not.equal(P);
      }
    });

    it("liquidation executes at the oracle price, without impact", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, keeper } = f;
      await trade(f, bob, wad(4), usd(20_000)); // long skew: a liquidation sell would get a premium under impact
      const a = await trade(f, alice, wad(3), usd(300));
      expect(a.executionPrice).to.equal(fillPrice(P, wad(4), wad(3), K));
      const down = wad(2930);
      await f.ethFeed.updateAnswer(answer(2930));
      expect(await f.engine.isLiquidatable(alice.address, ETH)).to.equal(true);
      const ctx = await readCtx(f.engine, alice.address, ETH);
      const plan = planLiquidation(ctx, down);
      const tx = await f.engine.connect(keeper).liquidate(alice.address, ETH);
      const [ev] = await engineEvents(f.engine, tx, "PositionLiquidated");
      expect(ev.args.price).to.equal(down);
      expect(plan.full).to.equal(true); // 8,790 USD: below the full-liquidation notional
      expect(ev.args.closedSize).to.equal(wad(3));
      expect(ev.args.realizedPnl).to.equal(plan.realizedPnl);
      expect(ev.args.realizedPnl).to.equal(floorDiv(plan.closeSize * (down - a.executionPrice), WAD * SCALE));
      expect(ev.args.keeperReward).to.equal(plan.keeperReward);
      expect(ev.args.penalty).to.equal(plan.penalty);
      expect(plan.remainingCollateral).to.be.greaterThan(plan.keeperReward + plan.penalty);
      expect(ev.args.returnedToTrader).to.equal(plan.remainingCollateral - plan.keeperReward - plan.penalty);
      // Under impact the same sell would have filled elsewhere.
      expect(fillPrice(down, wad(7), -plan.closeSize, K)).to.be.greaterThan(down);
      expect(await f.engine.openInterest(ETH)).to.deep.equal([wad(4), 0n]);
      expect(await engineEvents(f.engine, tx, "PositionModified")).to.have.length(0);
      await solvent(f);
    });
  });

  /* ============================================================ clamp point */
  describe("clamp point and path-independent impact", function () {
    /** A scale whose clamp point (1% of it) is not a whole number of wei: clampSkew rounds down. */
    const S_ODD = wad("1234.5678") + 37n;
    const R_ODD = clampSkew(S_ODD);

    it("opens and increases past the clamp point succeed at the reference fill (the skew has no limit): long side", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob } = f;
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S_ODD });
      // clampSkew = floor(1e16 * S / 1e18); the comparison itself is exact: R_ODD is inside, R_ODD + 1 beyond.
      expect(R_ODD).to.equal(wad("12.345678"));
      expect(beyondClamp(R_ODD, S_ODD)).to.equal(false);
      expect(beyondClamp(R_ODD + 1n, S_ODD)).to.equal(true);
      // From skew 0: exactly at the clamp point the inside piece of Phi, one wei past it the outer piece.
      expect((await quote(f, R_ODD)).fillPrice).to.equal(buyFromZero(P, R_ODD, S_ODD, false));
      expect(buyFromZero(P, R_ODD, S_ODD, false)).to.equal(P + divUp(P * R_ODD, 2n * S_ODD));
      // One wei past the clamp point (this open reverted PerpSkewCapExceeded under the old skew rail).
      const a = await navTrade(f, alice, R_ODD + 1n, P, usd(5_000));
      expect(a.executionPrice).to.equal(buyFromZero(P, R_ODD + 1n, S_ODD, true));
      expect(a.newSize).to.equal(R_ODD + 1n);
      // Then, entirely beyond the clamp point, each unit pays the flat 1%: an increase, another trader's open, and a
      // large increase. With an odd scale Phi rounds, which may add one wei (against the buyer).
      for (const [signer, d] of [
        [alice, wad(5)],
        [bob, wad("0.01")],
        [alice, wad(100) + 3n],
      ] as [any, bigint][]) {
        const skew = await skewOf(f);
        const t = await navTrade(f, signer, d, P, usd(5_000));
        expect(beyondClamp(skew, S_ODD), `d=${d}`).to.equal(true);
        expect(t.executionPrice - P - onePctUp(P), `d=${d}`).to.be.within(0n, 1n);
      }
      expect(await skewOf(f)).to.equal(R_ODD + 1n + wad(105) + wad("0.01") + 3n);
      // Exactly at the clamp point from a skew of 5: the linear premium (5 + R) / (2 S), rounded up.
      const g = await loadFixture(impactFixture);
      await g.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S_ODD });
      await navTrade(g, g.carol, wad(5), P, usd(5_000));
      const fill = fillPrice(P, wad(5), R_ODD - wad(5), S_ODD);
      expect(fill).to.equal(P + divUp(P * (R_ODD + wad(5)), 2n * S_ODD));
      const b = await navTrade(g, g.carol, R_ODD - wad(5), P);
      expect(b.executionPrice).to.equal(fill);
      expect(b.newSize).to.equal(R_ODD);
    });

    it("short side past the clamp point at the mirrored fill; a trade from -s to +s fills at the oracle price (up to one wei)", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S_ODD });
      const a = await navTrade(f, bob, -R_ODD - 1n, P, usd(5_000));
      expect(P - a.executionPrice).to.equal(buyFromZero(P, R_ODD + 1n, S_ODD, true) - P);
      // A new short further beyond: the flat 1% discount (rounded up, possibly by one more wei from Phi's rounding).
      const c = await navTrade(f, carol, -wad("0.01"), P, usd(5_000));
      expect(P - c.executionPrice - onePctUp(P)).to.be.within(0n, 1n);
      // From -s, a long of 2 s ends at +s: Phi is even, so the impact is only Phi(s) rounded up less Phi(s) rounded
      // down (0 or 1 wei of WAD^2), charged as one wei of fill when not 0.
      const s = R_ODD + 1n + wad("0.01");
      expect(await skewOf(f)).to.equal(-s);
      const b = await navTrade(f, alice, 2n * s, P, usd(5_000));
      expect(b.executionPrice).to.equal(P + (phi36(P, s, S_ODD, true) - phi36(P, s, S_ODD, false) === 0n ? 0n : 1n));
      expect(b.executionPrice).to.equal(P); // here Phi(s) is a whole number of WAD^2 wei
      expect(await skewOf(f)).to.equal(s);
    });

    it("after governance lowers the scale under the skew, opens that grow |skew| pay the flat 1% and those that shrink it earn it", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave, erin] = f.extra;
      await navTrade(f, alice, wad(9), P, usd(5_000)); // within the 10 ETH clamp point of K
      const S500 = wad(500); // clamp point 5 ETH: skew 9 is now beyond it
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S500 });
      expect(clampSkew(S500)).to.equal(wad(5));
      const flatUp = P + P / 100n; // P_ODD / 100 is exact, as are Phi's values here: no rounding at all
      // [trader, sizeDelta, skew after, expected fill or null (crossing the clamp point or zero: the reference only)]
      const steps: [any, bigint, bigint, bigint | null, string][] = [
        [bob, wad("0.01"), wad("9.01"), flatUp, "a new long growing a long skew beyond the clamp point: pays 1%"],
        [alice, wad("0.01"), wad("9.02"), flatUp, "an increase growing it: pays 1%"],
        [carol, -wad(2), wad("7.02"), flatUp, "a new short shrinking it: earns 1%"],
        [carol, -wad(13), -wad("5.98"), null, "an increase crossing zero, beyond on both ends: Phi(7.02) - Phi(5.98) over 13"],
        [dave, wad(1), -wad("4.98"), null, "a new long shrinking a short skew across the clamp point"],
        [erin, -wad(3), -wad("7.98"), null, "a new short growing it back across the clamp point"],
        [erin, -wad(2), -wad("9.98"), P - P / 100n, "an increase growing it beyond: pays the 1% discount"],
      ];
      for (const [signer, d, after, expected, label] of steps) {
        const skew = await skewOf(f);
        expect(skew + d, label).to.equal(after);
        const a = await navTrade(f, signer, d, P, usd(5_000));
        if (expected !== null) expect(a.executionPrice, label).to.equal(expected);
      }
      // The crossing trade from +7.02 to -5.98 nets 1% on 1.04 ETH of skew it removes, spread over 13 ETH.
      expect(fillPrice(P, wad("7.02"), -wad(13), S500)).to.equal(P + (P * 104n) / 130_000n);
      await solvent(f);
    });

    it("decreases, closes and opens beyond the clamp point all fill at the flat 1%; the market unwinds normally", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [, erin] = f.extra;
      // Skew 10 (the clamp point), 0, 10.
      await navTrade(f, alice, wad(10), P, usd(5_000));
      await navTrade(f, bob, -wad(10), P, usd(5_000));
      await navTrade(f, carol, wad(10), P, usd(5_000));
      const up = onePctUp(P);
      const down = onePctDown(P);
      // [trader, sizeDelta ("close"), fill]: every path lies beyond +10 ETH.
      const steps: [any, bigint | "close", bigint][] = [
        [bob, wad(4), P + up], // short decreases (a buy) from 10 to 14: the 1% premium, rounded up
        [bob, "close", P + up], // short closes from 14 to 20
        [alice, -wad(3), P + down], // long decreases from 20 to 17: 1% in the seller's favour, rounded down
        [alice, wad("0.01"), P + up], // an increase growing the skew (refused under the old skew rail)
        [erin, wad(1), P + up], // a new long growing it: 18.01
      ];
      for (const [i, [signer, step]] of steps.entries()) {
        const skew = await skewOf(f);
        const a = await navTrade(f, signer, step, P, usd(5_000));
        expect(a.executionPrice, `step ${i}`).to.equal(steps[i][2]);
        expect(beyondClamp(skew, K) && beyondClamp(skew + a.d, K), `step ${i}`).to.equal(i > 0);
      }
      expect(await skewOf(f)).to.equal(wad("18.01"));
      // Closing the rest takes the skew to 0 through the linear part; every close at the reference fill.
      await navTrade(f, carol, "close", P);
      await navTrade(f, alice, "close", P);
      await navTrade(f, erin, "close", P);
      expect(await skewOf(f)).to.equal(0n);
      await navTrade(f, bob, CLAMP, P, usd(5_000));
      await solvent(f);
    });

    it("impact is path-independent: N split buys cost what one buy costs up to rounding, within and across the clamp point", async function () {
      // Scale 2000 ETH (clamp point 20 ETH): 20 buys of 1 ETH stay within it. Scale 1000 ETH (clamp point 10 ETH):
      // the 11th to 20th buys lie beyond it. Exact at 3000 USD; at the odd price with 1 ETH - 1 wei per buy Phi and
      // every premium round (against the buyer).
      for (const [label, answerPx, price, d, S] of [
        ["within, 3000 USD, 1 ETH", answer(3000), P3000, wad(1), wad(2_000)],
        ["within, odd price, 1 ETH - 1 wei", answer(P_ODD), P, wad(1) - 1n, wad(2_000)],
        ["across, 3000 USD, 1 ETH", answer(3000), P3000, wad(1), K],
        ["across, odd price, 1 ETH - 1 wei", answer(P_ODD), P, wad(1) - 1n, K],
      ] as [string, bigint, bigint, bigint, bigint][]) {
        const N = 20n;
        const D = N * d;
        const across = beyondClamp(D, S);
        expect(across, label).to.equal(S === K);
        const run = async (sizes: bigint[]) => {
          const f = await loadFixture(impactFixture);
          if (S !== K) await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S });
          await f.ethFeed.updateAnswer(answerPx);
          const start = await f.engine.freeBalance(f.alice.address);
          const nav0 = await f.pool.totalAssets();
          let impact36 = 0n;
          let fees = 0n;
          let skew = 0n;
          for (const [i, s] of sizes.entries()) {
            const a = await navTrade(f, f.alice, s, price, i === 0 ? usd(10_000) : 0n);
            impact36 += s * (a.executionPrice - price);
            fees += a.fee;
            skew += s;
          }
          expect(skew).to.equal(D);
          const c = await navTrade(f, f.alice, "close", price);
          expect(c.executionPrice).to.equal(fillPrice(price, D, -D, S)); // the same close on both paths
          fees += c.fee;
          const end = await f.engine.freeBalance(f.alice.address);
          const navGain = (await f.pool.totalAssets()) - nav0;
          return { impact36, fees, pnl: c.realizedPnl as bigint, start, end, navGain };
        };
        const single = await run([D]);
        const split = await run(Array(Number(N)).fill(d));
        // Exact WAD^2 impact of the buys vs the ideal price * Phi(D) (a fraction num / den): each trade overstates it
        // by less than 2 wei of WAD^2 (Phi's two roundings) plus less than its size (the fill's rounding up).
        const [num, den] = across ? phiBeyond(price, D, S) : phiInside(price, D, S);
        for (const [name, x, trades] of [["single", single.impact36, 1n], ["split", split.impact36, N]] as const) {
          expect(x * den, `${label}: ${name} >= ideal`).to.be.greaterThanOrEqual(num);
          expect(x * den, `${label}: ${name} - ideal < D + 2 trades`).to.be.lessThan(num + (D + 2n * trades) * den);
        }
        expect(abs(split.impact36 - single.impact36), label).to.be.lessThan(D + 2n * N); // < 1e-16 USD
        // In token units: the round trip's impact (start - end - fees = -pnl) is >= 0 on both paths and the split path
        // pays at most one unit more (entry averaging and the PnL floor); fees differ only by their 20 roundings.
        const paid = (r: typeof single) => r.start - r.end - r.fees;
        expect(paid(single), label).to.equal(-single.pnl);
        expect(paid(split), label).to.equal(-split.pnl);
        expect(paid(single), label).to.be.greaterThanOrEqual(0n);
        expect(paid(split) - paid(single), label).to.be.within(0n, 1n);
        expect(split.fees - single.fees, label).to.be.within(0n, N);
        // So splitting never profits: the final free balance is at most start - fees, and the pool gained exactly the
        // fees plus what the trader paid.
        expect(split.end, label).to.be.lessThanOrEqual(split.start - split.fees);
        for (const r of [single, split]) expect(r.navGain, label).to.equal(r.fees + paid(r));
      }
    });

    it("the split-trade exploit (20 x 1 ETH buys across the clamp point, then one close; scale 1000 ETH, 3000 USD) no longer profits", async function () {
      const f = await loadFixture(impactFixture);
      const { alice } = f;
      await f.ethFeed.updateAnswer(answer(3000));
      const start = await f.engine.freeBalance(alice.address);
      const nav0 = await f.pool.totalAssets();
      let fees = 0n;
      for (let k = 1n; k <= 20n; k++) {
        // Buys 1 to 10 (within the 10 ETH clamp point) fill at 3000 * (1 + (2k - 1) / 2000); buys 11 to 20 (refused
        // under the old skew rail) each pay the flat 1%: 3030.
        const expected = k <= 10n ? P3000 + (wad("1.5") * (2n * k - 1n)) : wad(3030);
        const a = await navTrade(f, alice, wad(1), P3000, k === 1n ? usd(10_000) : 0n);
        expect(a.executionPrice, `buy ${k}`).to.equal(expected);
        expect(a.rounding, `buy ${k}`).to.equal(0n);
        fees += a.fee;
      }
      expect(await skewOf(f)).to.equal(wad(20));
      // Paid 150 USD inside and 300 USD beyond: 450 USD = 3000 * Phi(20) = 3000 * (0.2 - 0.05). The average entry is
      // 3022.5 rounded up over the 19 increases: 3 wei above.
      const pos = await f.engine.getPosition(alice.address, ETH);
      expect(pos.entryPrice).to.equal(wad("3022.5") + 3n);
      const c = await navTrade(f, alice, "close", P3000);
      fees += c.fee;
      // The close from 20 to 0 gets exactly 450 USD back: 3022.5 = 3000 + 450 / 20.
      expect(c.executionPrice).to.equal(wad("3022.5"));
      expect(c.realizedPnl).to.equal(-1n); // the 3 wei of entry rounding, floored: one token unit against Alice
      const end = await f.engine.freeBalance(alice.address);
      expect(end).to.equal(start - fees - 1n);
      expect(end).to.be.lessThanOrEqual(start - fees);
      expect((await f.pool.totalAssets()) - nav0).to.equal(fees + 1n);

      // One buy of 20 ETH instead: the same 3022.5 in and out, no rounding at all. Split and single impact differ by
      // that one token unit, against the splitter.
      const g = await loadFixture(impactFixture);
      await g.ethFeed.updateAnswer(answer(3000));
      const start1 = await g.engine.freeBalance(g.alice.address);
      const o1 = await navTrade(g, g.alice, wad(20), P3000, usd(10_000));
      const c1 = await navTrade(g, g.alice, "close", P3000);
      expect(o1.executionPrice).to.equal(wad("3022.5"));
      expect(c1.executionPrice).to.equal(wad("3022.5"));
      expect(c1.realizedPnl).to.equal(0n);
      expect(start1 - (await g.engine.freeBalance(g.alice.address))).to.equal(o1.fee + c1.fee);
      expect(c.realizedPnl - c1.realizedPnl).to.equal(-1n);
    });

    it("two accounts cannot profit by pushing the skew beyond the clamp point with a close, then closing from beyond it", async function () {
      // A buys 10, B sells 10, A buys 10 (A long 20), B closes (skew 10 -> 20, beyond the 10 ETH clamp point), A
      // closes all 20 from beyond it. Under the old clamp of each trade's average premium B's close paid 1% (3030)
      // and A's close got 1% too (average skew 10 / 1000), netting the two accounts +150 USD of impact (+59.325 USD
      // after fees) per cycle at 3000 USD, taken from the pool. Now each fill is the path integral of the premium,
      // so the cycle pays back exactly what it was charged.
      for (const [label, answerPx, price, R] of [
        ["3000 USD, 10 ETH", answer(3000), P3000, CLAMP],
        ["odd price, 10 ETH + 7 wei", answer(P_ODD), P, CLAMP + 7n],
      ] as [string, bigint, bigint, bigint][]) {
        const f = await loadFixture(impactFixture);
        const { alice, bob } = f;
        await f.ethFeed.updateAnswer(answerPx);
        const free = async () => (await f.engine.freeBalance(alice.address)) + (await f.engine.freeBalance(bob.address));
        const start = await free();
        const nav0 = await f.pool.totalAssets();
        let fees = 0n;
        let rounding = 0n;
        const steps: [any, bigint | "close"][] = [
          [alice, R], // 0 -> R
          [bob, -R], // R -> 0
          [alice, R], // 0 -> R: Alice long 2R
          [bob, "close"], // R -> 2R: beyond the clamp point, the flat 1% on R
          [alice, "close"], // 2R -> 0: gets back price * Phi(2R) / 2R
        ];
        const fills: bigint[] = [];
        for (const [i, [signer, step]] of steps.entries()) {
          const a = await navTrade(f, signer, step, price, i < 2 ? usd(20_000) : 0n);
          fills.push(a.executionPrice);
          fees += a.fee;
          rounding += a.rounding;
        }
        expect(await skewOf(f), label).to.equal(0n);
        const end = await free();
        // No profit: the two accounts together end at most at start - fees, and whatever they lost beyond the fees is
        // exactly what the pool gained beyond them (its rounding only).
        expect(end, label).to.be.lessThanOrEqual(start - fees);
        const nav1 = await f.pool.totalAssets();
        expect(nav1 - nav0 - fees, label).to.equal(start - fees - end);
        expect(nav1 - nav0 - fees, label).to.equal(rounding);
        expect(nav1, label).to.be.greaterThanOrEqual(nav0 + fees);
        if (price === P3000) {
          // Exactly: 3015 three times, 3030 for B's close beyond the clamp point, 3022.5 = 3000 + 450 / 20 for A's.
          expect(fills, label).to.deep.equal([wad(3015), wad(3015), wad(3015), wad(3030), wad("3022.5")]);
          expect(end, label).to.equal(start - fees);
          expect(nav1, label).to.equal(nav0 + fees);
        } else {
          expect(start - fees - end, label).to.be.within(0n, 2n);
        }
      }
    });
  });

  /* ==================================================== open-interest caps */
  describe("open-interest caps", function () {
    it("long cap: success at exactly the cap, one wei over reverts with the exact notional and cap", async function () {
      const f = await loadFixture(protocolFixture);
      // 1.08% of 5,000,000 = 54,000 USD = 18 ETH at 3,000.
      const ratio = wad("0.0108");
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: ratio });
      const cap = capOf(await poolBalance(f), ratio);
      expect(cap).to.equal(wad(54_000));
      await f.engine.connect(f.alice).deposit(usd(10_000));
      await f.engine.connect(f.bob).deposit(usd(10_000));
      await expect(f.engine.connect(f.alice).modifyPosition(ETH, wad(18) + 1n, usd(5_000), MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, notionalOf(wad(18) + 1n, P3000), cap);
      expect(notionalOf(wad(18), P3000)).to.equal(cap);
      await trade(f, f.alice, wad(18), usd(5_000));
      // A short of any size does not use the long cap (and adds 45 USD of fee to the pool).
      await trade(f, f.bob, -wad(30), usd(5_000));
      // The fees raised the pool balance by 27 + 45 USD: the cap by 0.0108 * 72. Any further long counts Alice's 18.
      const cap2 = capOf(await poolBalance(f), ratio);
      expect(cap2).to.equal(cap + wad("0.7776"));
      await expect(f.engine.connect(f.carol).modifyPosition(ETH, wad("0.01"), usd(0), MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, notionalOf(wad("18.01"), P3000), cap2);
    });

    it("short cap uses the short ratio; the notional rounds up and the cap down", async function () {
      const f = await loadFixture(protocolFixture);
      await f.ethFeed.updateAnswer(answer(P_ODD));
      // An odd pool balance so the cap has a fractional part.
      await lpDeposit(ethers, f.pool, f.engine, f.carol, 123_457n);
      const balance = await poolBalance(f);
      expect(await f.pool.capacity()).to.equal(balance);
      // Find the first ratio >= 1% at which the largest admissible short s has: notional of s + 1 wei rounded DOWN
      // still <= cap (so a rounding-down implementation would accept it), and cap * WAD/ratio not exact.
      let ratio = wad("0.01");
      for (;; ratio++) {
        const exact = balance * SCALE * ratio;
        const cap = exact / WAD;
        const s = (cap * WAD) / P;
        if (exact % WAD !== 0n && ((s + 1n) * P) / WAD <= cap) break;
      }
      const cap = capOf(balance, ratio);
      const sMax = (cap * WAD) / P;
      await f.engine.setExposureParams(ETH, {
        ...EXPOSURE_PARAMS,
        maxLongOpenInterestRatio: 0n,
        maxShortOpenInterestRatio: ratio,
      });
      await f.engine.connect(f.bob).deposit(usd(10_000));
      await expect(f.engine.connect(f.bob).modifyPosition(ETH, -(sMax + 1n), usd(5_000), 0n))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, false, notionalOf(sMax + 1n, P), cap);
      // The cap is the short ratio's: the long side (ratio 0) rejects even a small long.
      await f.engine.connect(f.alice).deposit(usd(10_000));
      await expect(f.engine.connect(f.alice).modifyPosition(ETH, wad(1), usd(5_000), MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, P, 0n);
      const a = await trade(f, f.bob, -sMax, usd(5_000));
      expect(a.newSize).to.equal(-sMax);
      expect(notionalOf(sMax, P)).to.be.lessThanOrEqual(cap);
    });

    it("decreasing and closing still work after governance lowers the caps below the open interest", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, bob, carol } = f;
      for (const s of [alice, bob, carol]) await f.engine.connect(s).deposit(usd(10_000));
      await trade(f, alice, wad(10), usd(5_000));
      await trade(f, bob, -wad(10), usd(5_000));
      await f.engine.setExposureParams(ETH, { impactSkewScale: 0n, maxLongOpenInterestRatio: 0n, maxShortOpenInterestRatio: wad("0.001") });
      const shortCap = capOf(await poolBalance(f), wad("0.001")); // 5,000.03 USD < 30,000 USD of shorts
      await expect(f.engine.connect(alice).modifyPosition(ETH, wad(1), 0n, MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(33_000), 0n);
      await expect(f.engine.connect(bob).modifyPosition(ETH, -wad(1), 0n, 0n))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, false, wad(33_000), shortCap);
      await expect(f.engine.connect(carol).modifyPosition(ETH, wad("0.01"), usd(100), MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(30_030), 0n);
      // Decrease, then close at a profit and at a loss.
      expect((await trade(f, alice, -wad(5))).newSize).to.equal(wad(5));
      expect((await trade(f, bob, wad(4))).newSize).to.equal(-wad(6));
      await f.ethFeed.updateAnswer(answer(3030));
      const ca = await closeTrade(f, alice, 0n);
      expect(ca.realizedPnl).to.equal(usd(150));
      const cb = await closeTrade(f, bob, MAX_UINT);
      expect(cb.realizedPnl).to.equal(-usd(180));
      expect(await f.engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      await solvent(f);
    });

    it("LP redemptions may shrink the pool to the cap's base and no further; decreasing and closing still work once a price move puts the open interest above its cap", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, lp, keeper } = f;
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: wad(1) });
      await f.engine.connect(alice).deposit(usd(50_000));
      await trade(f, alice, wad(100), usd(20_000)); // 300,000 USD long
      // 300,000 USD of longs at a ratio of 1 need a pool of 300,000 USD: the LP may take everything else (the reserve,
      // 60,000 USD, is not what binds).
      expect(await f.engine.requiredPoolCapacity()).to.equal(usd(300_000));
      const nav = await f.pool.totalAssets();
      const supply = await f.pool.totalSupply();
      const leave = nav - usd(300_000);
      expect(leave).to.be.lessThan(await f.pool.availableLiquidity());
      const exact = sharesForExactly(leave, supply, nav);
      expect(toAssets(exact, supply, nav)).to.equal(leave);
      expect(await lpRedeem(ethers, f.pool, f.engine, lp, exact)).to.equal(leave);
      const balance = await poolBalance(f);
      expect(balance).to.equal(usd(300_000));
      // One share's worth more would leave the open interest above its cap: refused.
      const more = 10n ** 12n;
      await f.pool.connect(lp).requestRedeem(more, lp.address, lp.address);
      const moreAssets = toAssets(more, supply - exact, balance);
      await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, true))
        .to.be.revertedWithCustomError(f.pool, "VaultCapacityBelowOpenInterest")
        .withArgs(balance - moreAssets, usd(300_000));
      // The pending redemption's share is out of the capacity the caps measure.
      const capacity = (balance * (supply - exact - more)) / (supply - exact);
      expect(await f.pool.capacity()).to.equal(capacity);
      await f.ethFeed.updateAnswer(answer(3030));
      const cap = capOf(capacity, wad(1));
      expect(cap).to.be.lessThan(wad(303_000));
      await expect(f.engine.connect(alice).modifyPosition(ETH, wad(1), 0n, MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(306_030), cap);
      const d = await trade(f, alice, -wad(50));
      expect(d.newSize).to.equal(wad(50));
      expect(d.realizedPnl).to.equal(usd(1_500));
      const before = await poolBalance(f);
      const c = await closeTrade(f, alice, 0n);
      expect(c.realizedPnl).to.equal(usd(1_500));
      expect(await poolBalance(f)).to.equal(before - usd(1_500) + c.fee);
      expect(await f.engine.openPositionCount(ETH)).to.equal(0n);
      await solvent(f);
    });

    it("an LP deposit raises the capacity", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, bob, carol } = f;
      const ratio = wad("0.01");
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: ratio });
      await f.engine.connect(alice).deposit(usd(10_000));
      await f.engine.connect(bob).deposit(usd(10_000));
      await trade(f, alice, wad(16), usd(5_000)); // 48,000 of a 50,000 cap
      const cap1 = capOf(await poolBalance(f), ratio);
      await expect(f.engine.connect(bob).modifyPosition(ETH, wad(1), usd(5_000), MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(51_000), cap1);
      await lpDeposit(ethers, f.pool, f.engine, carol, usd(1_000_000));
      const cap2 = capOf(await f.pool.capacity(), ratio);
      expect(cap2).to.equal(cap1 + wad(10_000));
      await trade(f, bob, wad(1), usd(5_000));
      // The new capacity is exactly the new cap: 20 ETH in all fits 60,000.24 + fees, 20.1 does not.
      const cap3 = capOf(await poolBalance(f), ratio);
      await expect(f.engine.connect(bob).modifyPosition(ETH, wad("3.1"), 0n, MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(60_300), cap3);
      await trade(f, bob, wad(3));
      expect(await f.engine.openInterest(ETH)).to.deep.equal([wad(20), 0n]);
    });

    it("a freshly listed market rejects every open until governance sets its exposure parameters", async function () {
      const f = await loadFixture(freshMarketFixture);
      const { alice } = f;
      expect(await f.engine.exposureParams(TST)).to.deep.equal([0n, 0n, 0n]);
      await f.engine.connect(alice).deposit(usd(10_000));
      await expect(f.engine.connect(alice).modifyPosition(TST, wad(1), usd(1_000), MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(TST, true, wad(2_000), 0n);
      await expect(f.engine.connect(alice).modifyPosition(TST, -wad("0.5"), usd(1_000), 0n))
        .to.be.revertedWithCustomError(f.engine, "PerpOpenInterestCapExceeded")
        .withArgs(TST, false, wad(1_000), 0n);
      await f.engine.setExposureParams(TST, EXPOSURE_PARAMS);
      const a = await trade(f, alice, wad(1), usd(1_000), undefined, TST);
      expect(a.newSize).to.equal(wad(1));
      expect(a.executionPrice).to.equal(wad(2_000)); // impact 0: oracle price
    });
  });

  /* ======================================================= governance */
  describe("setExposureParams", function () {
    it("is governor-only: AccessControlUnauthorizedAccount(caller, GOVERNOR_ROLE)", async function () {
      const f = await loadFixture(protocolFixture);
      const role = await f.engine.GOVERNOR_ROLE();
      const params = { ...EXPOSURE_PARAMS, impactSkewScale: K };
      for (const caller of [f.alice, f.guardian, f.lp]) {
        await expect(f.engine.connect(caller).setExposureParams(ETH, params))
          .to.be.revertedWithCustomError(f.engine, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, role);
      }
      expect(await f.engine.exposureParams(ETH)).to.deep.equal([0n, wad(10), wad(10)]);
    });

    it("enforces each bound with PerpParameterOutOfBounds(name, value, min, max); the bounds are inclusive", async function () {
      const f = await loadFixture(protocolFixture);
      const MIN_S = wad(1);
      const MAX_S = 10n ** 33n;
      const MAX_R = wad(10);
      const bad: [Partial<typeof EXPOSURE_PARAMS>, string, bigint, bigint, bigint][] = [
        [{ impactSkewScale: 1n }, "impactSkewScale", 1n, MIN_S, MAX_S],
        [{ impactSkewScale: MIN_S - 1n }, "impactSkewScale", MIN_S - 1n, MIN_S, MAX_S],
        [{ impactSkewScale: MAX_S + 1n }, "impactSkewScale", MAX_S + 1n, MIN_S, MAX_S],
        [{ maxLongOpenInterestRatio: MAX_R + 1n }, "maxLongOpenInterestRatio", MAX_R + 1n, 0n, MAX_R],
        [{ maxShortOpenInterestRatio: MAX_R + 1n }, "maxShortOpenInterestRatio", MAX_R + 1n, 0n, MAX_R],
        [{ maxShortOpenInterestRatio: 2n ** 64n - 1n }, "maxShortOpenInterestRatio", 2n ** 64n - 1n, 0n, MAX_R],
      ];
      for (const [change, name, value, lo, hi] of bad) {
        await expect(f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, ...change }), name)
          .to.be.revertedWithCustomError(f.engine, "PerpParameterOutOfBounds")
          .withArgs(b32(name), value, lo, hi);
      }
      // Inclusive bounds, and 0 disables impact.
      for (const p of [
        { impactSkewScale: MIN_S, maxLongOpenInterestRatio: MAX_R, maxShortOpenInterestRatio: 0n },
        { impactSkewScale: MAX_S, maxLongOpenInterestRatio: 0n, maxShortOpenInterestRatio: MAX_R },
        { impactSkewScale: 0n, maxLongOpenInterestRatio: 1n, maxShortOpenInterestRatio: 1n },
      ]) {
        await expect(f.engine.setExposureParams(ETH, p))
          .to.emit(f.engine, "ExposureParamsSet")
          .withArgs(ETH, [p.impactSkewScale, p.maxLongOpenInterestRatio, p.maxShortOpenInterestRatio]);
      }
    });

    it("rejects a no-op with PerpParameterUnchanged and an unlisted market with PerpUnknownMarket", async function () {
      const f = await loadFixture(protocolFixture);
      await expect(f.engine.setExposureParams(ETH, EXPOSURE_PARAMS)).to.be.revertedWithCustomError(
        f.engine,
        "PerpParameterUnchanged",
      );
      await expect(f.engine.setExposureParams(UNLISTED, EXPOSURE_PARAMS))
        .to.be.revertedWithCustomError(f.engine, "PerpUnknownMarket")
        .withArgs(UNLISTED);
      // Each field alone is a change.
      for (const change of [{ impactSkewScale: K }, { maxLongOpenInterestRatio: wad(2) }, { maxShortOpenInterestRatio: wad(3) }]) {
        await expect(f.engine.setExposureParams(BTC, { ...EXPOSURE_PARAMS, ...change })).to.emit(f.engine, "ExposureParamsSet");
        await f.engine.setExposureParams(BTC, EXPOSURE_PARAMS);
      }
    });

    it("emits ExposureParamsSet and reads back per market; listedMarkets() lists in listing order", async function () {
      const f = await loadFixture(protocolFixture);
      const p = { impactSkewScale: wad(12_345), maxLongOpenInterestRatio: wad("0.25"), maxShortOpenInterestRatio: wad("0.5") };
      await expect(f.engine.setExposureParams(ETH, p))
        .to.emit(f.engine, "ExposureParamsSet")
        .withArgs(ETH, [p.impactSkewScale, p.maxLongOpenInterestRatio, p.maxShortOpenInterestRatio]);
      const e = await f.engine.exposureParams(ETH);
      expect([e.impactSkewScale, e.maxLongOpenInterestRatio, e.maxShortOpenInterestRatio]).to.deep.equal([
        wad(12_345),
        wad("0.25"),
        wad("0.5"),
      ]);
      expect(await f.engine.exposureParams(BTC)).to.deep.equal([0n, wad(10), wad(10)]);
      expect(await f.engine.listedMarkets()).to.deep.equal([ETH, BTC]);
      const feed = await ethers.deployContract("MockV3Aggregator", [8, answer(10)]);
      await f.engine.listMarket(TST, oracleConfig(await feed.getAddress()), RISK_PARAMS, TIERS);
      expect(await f.engine.listedMarkets()).to.deep.equal([ETH, BTC, TST]);
      // The new scale takes effect on the next trade.
      expect((await quote(f, wad(1))).fillPrice).to.equal(fillPrice(P3000, 0n, wad(1), wad(12_345)));
    });
  });

  /* ============================================================ pool NAV */
  describe("pool NAV marked to market", function () {
    it("totalAssets = balance + floor(sum(funding owed - unrealised PnL) - unwind premium), positions in profit and in loss", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave] = f.extra;
      await f.engine.setFundingParams(ETH, { skewScale: wad(100), maxFundingRatePerDay: wad("0.01") });
      await trade(f, alice, wad(10), usd(10_000));
      await time.increase(600);
      await trade(f, bob, -wad("4.4"), usd(10_000));
      await time.increase(900);
      await trade(f, alice, wad("1.5")); // position funding index settled again
      await time.increase(300);
      await trade(f, bob, -wad("0.6")); // Bob's non-zero funding index replaced in the aggregates
      await trade(f, carol, -wad(1), usd(10_000)); // a third ETH position, opened at the current index
      await time.increase(300);
      await closeTrade(f, carol, MAX_UINT); // and closed again: its contribution leaves the aggregates
      await trade(f, carol, wad("0.5"), usd(10_000), undefined, BTC);
      await trade(f, dave, -wad("0.2"), usd(10_000), undefined, BTC);
      await time.increase(1_200);
      await f.ethFeed.updateAnswer(answer("3100.87654321"));
      await f.btcFeed.updateAnswer(answer("59000.5"));
      const [ethIndex] = await f.engine.fundingState(ETH);
      const [btcIndex] = await f.engine.fundingState(BTC);
      expect(ethIndex).to.not.equal(0n);
      const owe36 = await positionsOwe36(f, [
        { market: ETH, price: wad("3100.87654321"), index: ethIndex },
        { market: BTC, price: wad("59000.5"), index: btcIndex },
      ]);
      // ETH has impact (scale K) and a long skew of 6.5 within the clamp point: the mark subtracts the premium unwinding it
      // would pay back, 3100.87654321 * 6.5^2 / 2000 USD, rounded up. BTC has no impact.
      expect(await skewOf(f)).to.equal(wad("6.5"));
      const unwind36 = unwindPremium36(wad("3100.87654321"), wad("6.5"), K);
      expect(unwind36).to.equal(divUp(wad("3100.87654321") * wad("6.5") ** 2n, 2n * K));
      expect(floorDiv(unwind36, WAD * SCALE)).to.equal(65_506_016n); // 65.506016 USD
      const [value, fresh] = await f.engine.poolMarkToMarket();
      expect(fresh).to.equal(true);
      expect(value).to.equal(floorDiv(owe36, WAD * SCALE));
      expect(await f.pool.totalAssets()).to.equal(await expectedNav(f, owe36));
      // Alice (long ETH) and Dave (short BTC) are in profit, Bob and Carol at a loss; the pool is net short ETH.
      expect(value).to.be.lessThan(0n);
      await solvent(f);
    });

    it("with impact ON an LP entering right before a large open and leaving right after gains nothing but the fee share", async function () {
      // Scale 100,000 ETH (clamp point 1,000 ETH): a 3,000,000 USD long up to the clamp point pays ~15,000 USD of
      // impact, a 6,000,000 USD long across it ~45,000 USD. Without the unwind premium in the mark, that premium would
      // jump into the NAV at the open (and out again at the close).
      const S = wad(100_000);
      for (const [label, size, stake] of [
        ["up to the clamp point", clampSkew(S) - 7n, usd(15_000)],
        ["across the clamp point", 2n * clampSkew(S) + 11n, usd(45_000)],
      ] as [string, bigint, bigint][]) {
        const f = await loadFixture(twoLpFixture);
        const { alice, bob } = f;
        await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S });
        await f.ethFeed.updateAnswer(answer(P_ODD));
        expect(beyondClamp(size, S), label).to.equal(size > clampSkew(S)); // odd wei: the premium and the mark round
        const nav0 = await f.pool.totalAssets();
        const supply0 = await f.pool.totalSupply();
        const deposit = usd(6_000_000);
        const tokens0 = await f.token.balanceOf(alice.address);
        await lpDeposit(ethers, f.pool, f.engine, alice, deposit);
        const shares = toShares(deposit, supply0, nav0);
        expect(await f.pool.balanceOf(alice.address), label).to.equal(shares);
        const before = await f.pool.totalAssets();
        expect(before, label).to.equal(nav0 + deposit);

        // navTrade: the NAV after the open is predicted exactly; it moves by the fee, the only other term being the
        // rounding of the premium (up, paid by the trader) against that of the unwind premium (up, reserved): at
        // most one token unit, and never against the pool.
        const a = await navTrade(f, bob, size, P, usd(600_000));
        expect(a.executionPrice, label).to.equal(fillPrice(P, 0n, size, S));
        expect(a.priceImpact, label).to.be.greaterThan(stake); // what is at stake
        const after = await f.pool.totalAssets();
        expect(after - before, label).to.equal(a.fee + a.rounding);

        // Redeemed at the NAV after the open (Bob's position still open: its price update is needed).
        await lpRedeem(ethers, f.pool, f.engine, alice, shares);
        const gain = (await f.token.balanceOf(alice.address)) - tokens0;
        expect(gain, label).to.equal(toAssets(shares, supply0 + shares, after) - deposit);
        expect(gain, label).to.be.lessThanOrEqual(divUp((after - before) * shares, supply0 + shares));
        expect(gain, label).to.be.lessThan(a.fee);
      }
    });

    it("with impact ON the NAV moves only by the fee across an increase beyond the clamp point, decreases and closes", async function () {
      const f = await loadFixture(twoLpFixture);
      const { alice, bob, carol } = f;
      const S = wad(100_000);
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S });
      await f.ethFeed.updateAnswer(answer(P_ODD));
      await f.engine.connect(alice).deposit(usd(1_000_000));
      await navTrade(f, bob, wad(700) + 3n, P, usd(400_000));
      await navTrade(f, alice, -wad("123.456789") - 1n, P, usd(100_000));
      await navTrade(f, bob, wad(300), P); // skew ~ 876.5, within the 1,000 ETH clamp point
      expect(beyondClamp(await skewOf(f), S)).to.equal(false);
      // Carol (an LP) is in across each step; the LP exits at the marked NAV afterwards.
      const steps: [any, bigint | "close"][] = [
        [bob, wad(400) + 1n], // an increase across the clamp point to ~1,276.5: pays 1% past 1,000
        [bob, -wad(400) - 9n], // a long decrease back: gets that premium back
        [bob, -wad(400) - 9n], // and more of the linear part
        [alice, wad(23)], // a short decrease
        [bob, "close"], // through zero to ~ -100.5
        [alice, "close"],
      ];
      for (const [i, [signer, step]] of steps.entries()) {
        const skew = await skewOf(f);
        const a = await navTrade(f, signer, step, P);
        expect(a.executionPrice, `step ${i}`).to.equal(fillPrice(P, skew, a.d, S));
        expect(abs(a.priceImpact), `step ${i}`).to.be.greaterThan(usd(100)); // real premium flows
        if (i === 0) expect(beyondClamp(skew + a.d, S)).to.equal(true);
      }
      expect(await f.engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      const shares = await f.pool.balanceOf(carol.address);
      const out = toAssets(shares, await f.pool.totalSupply(), await f.pool.totalAssets());
      expect(await lpRedeem(ethers, f.pool, f.engine, carol, shares)).to.equal(out);
      await solvent(f);
    });

    it("with impact ON every trade at one oracle price moves the NAV by the fee plus the predicted rounding (several accounts, within and beyond the clamp point); an LP in across them gains only the fee share", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const [dave, erin, frank] = f.extra;
      // Frank is the LP: he deposits before the trades and redeems after all of them.
      const nav0 = await f.pool.totalAssets();
      const supply0 = await f.pool.totalSupply();
      const deposit = usd(2_000_000) + 7n;
      const tokens0 = await f.token.balanceOf(frank.address);
      await lpDeposit(ethers, f.pool, f.engine, frank, deposit);
      const shares = toShares(deposit, supply0, nav0);
      expect(await f.pool.balanceOf(frank.address)).to.equal(shares);
      const start = await f.pool.totalAssets();
      expect(start).to.equal(nav0 + deposit);
      const traders = [alice, bob, carol, dave, erin];
      const free0 = await Promise.all(traders.map((t) => f.engine.freeBalance(t.address)));
      // [trader, sizeDelta or "close"]: skew after each step in the comment (clamp point 10 ETH).
      const steps: [any, bigint | "close"][] = [
        [alice, wad(6) + 3n], // open within: 6
        [bob, wad(7) + 1n], // open across the clamp point: 13
        [alice, wad(2)], // increase beyond: 15
        [carol, -wad(31) - 1n], // open through zero to far beyond on the short side: -16
        [alice, wad(2) - 5n], // increase shrinking |skew| beyond: -14
        [dave, -wad(4)], // open growing |skew| beyond: -18
        [carol, wad(11)], // short decrease across the clamp point: -7
        [bob, -wad(3)], // long decrease to exactly the clamp point: -10
        [erin, wad(25) + 9n], // open from the clamp point across the whole interior: 15
        [bob, "close"], // long close beyond: 11
        [alice, -wad(5)], // long decrease across the clamp point: 6
        [carol, "close"], // short close (a buy) across the clamp point: 26
        [dave, "close"], // 30
        [alice, "close"], // 25
        [erin, "close"], // back to 0 across the whole interior
      ];
      let fees = 0n;
      let rounding = 0n;
      let beyond = 0;
      for (const [i, [signer, step]] of steps.entries()) {
        const skew = await skewOf(f);
        const a = await navTrade(f, signer, step, P, step === "close" ? 0n : usd(20_000));
        if (beyondClamp(skew, K) || beyondClamp(skew + a.d, K)) beyond++;
        expect(a.navMove, `step ${i}`).to.equal(a.fee + a.rounding);
        fees += a.fee;
        rounding += a.rounding;
      }
      expect(beyond).to.equal(14); // every step but the first starts or ends beyond the clamp point
      expect(await skewOf(f)).to.equal(0n);
      expect(await f.engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      const end = await f.pool.totalAssets();
      expect(end - start).to.equal(fees + rounding);
      expect(rounding).to.be.within(0n, BigInt(steps.length));
      // What the traders lost beyond the fees is exactly the pool's rounding: no one gained from impact.
      const free1 = await Promise.all(traders.map((t) => f.engine.freeBalance(t.address)));
      const traded = free1.reduce((x, y) => x + y, 0n) - free0.reduce((x, y) => x + y, 0n);
      expect(traded).to.equal(-fees - rounding);
      // The LP leaves with his share of the fees and rounding, rounded down: nothing from the premium flows.
      await lpRedeem(ethers, f.pool, f.engine, frank, shares);
      const gain = (await f.token.balanceOf(frank.address)) - tokens0;
      expect(gain).to.equal(toAssets(shares, supply0 + shares, end) - deposit);
      expect(gain).to.be.lessThanOrEqual(divUp((fees + rounding) * shares, supply0 + shares));
      expect(gain).to.be.lessThan(fees);
      await solvent(f);
    });

    it("beyond the clamp point (scale lowered under the skew) the NAV subtracts the flat-premium unwind formula, to the wei", async function () {
      const f = await loadFixture(impactFixture);
      const { alice, bob, carol } = f;
      const PX = wad("3100.87654321");
      // Skew 6 built within the 10 ETH clamp point of K.
      await trade(f, alice, wad(10), usd(10_000));
      await trade(f, bob, -wad(10), usd(10_000));
      await trade(f, carol, wad(6) + 5n, usd(10_000));
      await f.ethFeed.updateAnswer(answer("3100.87654321"));
      const index = async () => (await f.engine.fundingState(ETH))[0];
      const check = async (S: bigint, beyond: boolean, label: string) => {
        const skew = await skewOf(f);
        expect(beyondClamp(skew, S), label).to.equal(beyond);
        const s = abs(skew);
        const unwind36 = unwindPremium36(PX, skew, S);
        // The two formulas written out; the reference picks the one for the side of the clamp point.
        const inside36 = divUp(PX * s * s, 2n * S);
        const flat36 = divUp(PX * (2n * MAX_PRICE_IMPACT * s * WAD - MAX_PRICE_IMPACT ** 2n * S), 2n * WAD * WAD);
        expect(unwind36, label).to.equal(beyond ? flat36 : inside36);
        const owe36 = await positionsOwe36(f, [{ market: ETH, price: PX, index: await index() }]);
        const [value, fresh] = await f.engine.poolMarkToMarket();
        expect(fresh, label).to.equal(true);
        expect(value, label).to.equal(floorDiv(owe36, WAD * SCALE));
        expect(await f.pool.totalAssets(), label).to.equal(await expectedNav(f, owe36));
        return { inside36, flat36 };
      };
      await check(K, false, "within the clamp point");
      // Governance lowers the scale to ~300.12 ETH (clamp point ~3.0012 ETH): the long skew ~6 is beyond it. The
      // inside formula would overstate the unwind premium: the marginal premium is flat at 1% past the clamp point.
      const S1 = wad("300.123456789") + 1n;
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S1 });
      let r = await check(S1, true, "long skew beyond the clamp point");
      expect(r.inside36 - r.flat36).to.be.greaterThan(usd(1) * WAD * SCALE);
      // Alice's close pushes the skew to ~-4: beyond on the short side.
      await closeTrade(f, alice, 0n);
      expect(await skewOf(f)).to.equal(-wad(4) + 5n);
      r = await check(S1, true, "short skew beyond the clamp point");
      expect(r.inside36 - r.flat36).to.be.greaterThan(usd(1) * WAD * SCALE);
      // At exactly the clamp point both formulas agree (the integral is continuous); one wei of scale less is beyond.
      const S2 = (abs(await skewOf(f)) * WAD) / MAX_PRICE_IMPACT; // |skew| = 1% of S2 exactly
      expect(S2 * MAX_PRICE_IMPACT).to.equal(abs(await skewOf(f)) * WAD);
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S2 });
      r = await check(S2, false, "exactly at the clamp point");
      expect(r.inside36).to.equal(r.flat36);
      await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: S2 - 1n });
      await check(S2 - 1n, true, "one wei of scale under the clamp point");
    });

    it("pending funding raises NAV over time while longs pay, exactly per the index model", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, bob } = f;
      const SKEW_SCALE = wad(100);
      const RATE = wad("0.01");
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const indexDelta = (skew: bigint, elapsed: bigint) =>
        divUp(min(abs(skew), SKEW_SCALE) * RATE * P3000 * elapsed, SKEW_SCALE * WAD * DAY);
      await f.engine.connect(alice).deposit(usd(10_000));
      await f.engine.connect(bob).deposit(usd(10_000));
      const t0 = BigInt(await time.latest()) + 10n;
      await f.ethFeed.updateAnswer(answer(3000));
      await time.setNextBlockTimestamp(t0);
      await trade(f, alice, wad(10), usd(5_000));
      await time.setNextBlockTimestamp(t0 + 300n);
      await trade(f, bob, -wad(4), usd(5_000));
      const i1 = indexDelta(wad(10), 300n);
      expect((await f.engine.getPosition(bob.address, ETH)).fundingIndex).to.equal(i1);
      let prevNav = await f.pool.totalAssets();
      for (const n of [1n, 60n, 1_000n, 3_000n]) {
        await time.setNextBlockTimestamp(t0 + 300n + n);
        await f.ethFeed.updateAnswer(answer(3000)); // keeps the price fresh; touches no engine state
        const index = i1 + indexDelta(wad(6), n);
        // Alice owes from index 0, Bob from i1; both entered at 3,000, so no PnL.
        const owe36 = wad(10) * index - wad(4) * (index - i1);
        const [value, fresh] = await f.engine.poolMarkToMarket();
        expect(fresh).to.equal(true);
        expect(value, `+${n}s`).to.equal(floorDiv(owe36, WAD * SCALE));
        const nav = await f.pool.totalAssets();
        expect(nav, `+${n}s`).to.equal((await poolBalance(f)) + floorDiv(owe36, WAD * SCALE));
        expect(nav, `+${n}s`).to.be.greaterThanOrEqual(prevNav);
        prevNav = nav;
      }
      // Over the 3,000 s the pool earned ~6 ETH * 1e-3 / 864 * 3000 * 3000 USD of funding: strictly more NAV.
      expect(prevNav).to.be.greaterThan(usd(5_000_000) + fee(wad(10), P3000) + fee(wad(4), P3000));
    });

    it("an LP depositing just before a losing trader closes and redeeming just after gains at most the fee share", async function () {
      const f = await loadFixture(twoLpFixture);
      const { bob, alice } = f; // Alice is the attacker LP
      await trade(f, bob, wad(1_000), usd(400_000)); // 3,000,000 USD long
      await f.ethFeed.updateAnswer(answer("2950.5"));
      const loss = usd(49_500);
      const nav0 = await f.pool.totalAssets();
      const bal0 = await poolBalance(f);
      expect(nav0).to.equal(bal0 + loss); // the loss is already in the NAV
      const supply0 = await f.pool.totalSupply();

      const deposit = usd(6_000_000);
      const aliceTokens0 = await f.token.balanceOf(alice.address);
      await lpDeposit(ethers, f.pool, f.engine, alice, deposit);
      const shares = toShares(deposit, supply0, nav0);
      expect(await f.pool.balanceOf(alice.address)).to.equal(shares);

      const c = await closeTrade(f, bob, 0n);
      const closeFee = fee(wad(1_000), wad("2950.5"));
      expect(c.fee).to.equal(closeFee);
      expect(c.realizedPnl).to.equal(-loss);
      const nav1 = nav0 + deposit + closeFee; // the loss was exact in token units: no rounding between mark and close
      expect(await f.pool.totalAssets()).to.equal(nav1);

      await lpRedeem(ethers, f.pool, f.engine, alice, shares);
      const out = toAssets(shares, supply0 + shares, nav1);
      const gain = (await f.token.balanceOf(alice.address)) - aliceTokens0;
      expect(gain).to.equal(out - deposit);
      // The only gain is Alice's share of the closing fee (rounded down); without the mark to market she would have
      // taken about half of Bob's 49,500 USD loss.
      expect(gain).to.be.lessThanOrEqual(divUp(closeFee * shares, supply0 + shares));
      expect(gain).to.be.lessThan(closeFee);
    });

    it("an LP withdrawing just before a profitable trader closes gets only the NAV share; NAV moves by the fee", async function () {
      const f = await loadFixture(twoLpFixture);
      const { bob, carol } = f;
      await trade(f, bob, wad(1_000), usd(400_000));
      await f.ethFeed.updateAnswer(answer(3050));
      const nav0 = await f.pool.totalAssets();
      const profit = usd(50_000);
      expect(nav0).to.equal((await poolBalance(f)) - profit);

      // Carol exits at the marked NAV: she bears her share of Bob's unrealised profit.
      const shares = await f.pool.balanceOf(carol.address);
      const supply = await f.pool.totalSupply();
      const expectedOut = toAssets(shares, supply, nav0);
      const carolTokens0 = await f.token.balanceOf(carol.address);
      expect(await lpRedeem(ethers, f.pool, f.engine, carol, shares)).to.equal(expectedOut);
      expect((await f.token.balanceOf(carol.address)) - carolTokens0).to.equal(expectedOut);
      expect(expectedOut).to.be.lessThan(usd(1_000_000));

      // Bob closes in three steps; each time the NAV moves by the fee plus the rounding difference between the mark
      // and the settlement. The mark rounds the pool's claim on the whole position once (NAV = balance -
      // ceil(profit)); the trade pays floor(closed profit) and the remainder is marked at -ceil(remaining profit).
      // So the NAV moves by exactly the fee when the whole position's profit is a whole token unit (steps 0 and 1:
      // the closed and remaining parts' fractions cancel), and by the fee + 1 unit when it is not (step 2: the close
      // pays floor(profit) where the mark had counted ceil(profit)).
      const WS = WAD * SCALE;
      const steps = [-wad(500), -wad("333.333333333333333333"), 0n];
      const rounding = [0n, 0n, 1n];
      for (let i = 0; i < steps.length; i++) {
        const pos = await f.engine.getPosition(bob.address, ETH);
        const d = steps[i] === 0n ? -pos.size : steps[i];
        const balance = await poolBalance(f);
        const before = await f.pool.totalAssets();
        const supplyBefore = await f.pool.totalSupply();
        const a = steps[i] === 0n ? await closeTrade(f, bob, 0n) : await trade(f, bob, d);
        const closed36 = -d * (wad(3050) - pos.entryPrice);
        const remaining36 = (pos.size + d) * (wad(3050) - pos.entryPrice);
        expect(before, `step ${i}`).to.equal(balance + floorDiv(-(closed36 + remaining36), WS));
        expect(a.fee).to.equal(fee(d, wad(3050)));
        expect(a.realizedPnl).to.equal(floorDiv(closed36, WS));
        const after = await f.pool.totalAssets();
        expect(after, `step ${i}`).to.equal(balance + a.fee - floorDiv(closed36, WS) + floorDiv(-remaining36, WS));
        expect(after - before, `step ${i}`).to.equal(a.fee + rounding[i]);
        expect(await f.pool.totalSupply()).to.equal(supplyBefore);
      }
    });

    it("a stale price on a market with open interest freezes LP entry and exit: requests wait, their fulfilment reverts with the oracle error", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, lp, keeper } = f;
      await f.engine.connect(alice).deposit(usd(10_000));
      await trade(f, alice, wad(1), usd(1_000));
      const balance = await poolBalance(f);
      await time.increase(3_601);
      const [ethStatus] = await f.engine.oracleStatus(ETH);
      expect(ethStatus).to.equal(1n); // Stale
      const [, fresh] = await f.engine.poolMarkToMarket();
      expect(fresh).to.equal(false);
      expect(await f.pool.availableLiquidity()).to.equal(0n);
      // Requests take no price: accepted. Fulfilling them, at a Pyth price as fresh as can be, needs a Chainlink
      // reference for every market with open interest.
      await f.pool.connect(lp).requestDeposit(usd(1), lp.address, lp.address);
      await f.pool.connect(lp).requestRedeem(10n ** 12n, lp.address, lp.address);
      const [, , , updatedAt] = await f.ethFeed.latestRoundData();
      for (const redeem of [false, true]) {
        await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, redeem), redeem ? "redeem" : "deposit")
          .to.be.revertedWithCustomError(f.engine, "OracleStale")
          .withArgs(ETH, updatedAt, 3600n);
      }
      expect(await f.pool.totalPendingDepositAssets()).to.equal(usd(1));
      expect(await f.pool.totalPendingRedeemShares()).to.equal(10n ** 12n);

      // Still marked: at the stale answer when positive, else at the price of the last priced action (3,000).
      const old = BigInt(await time.latest()) - 4_000n;
      await f.ethFeed.updateRoundData(7, answer(2_900), old, old);
      expect(await f.pool.totalAssets()).to.equal(balance + usd(100));
      await f.ethFeed.updateRoundData(8, 0, old, old);
      expect(await f.pool.totalAssets()).to.equal(balance);
      expect((await f.engine.poolMarkToMarket())[1]).to.equal(false);
      // (The Pyth update at 3,000: the engine reports no Chainlink price to build one from.)
      const ready = BigInt((await f.pool.depositRequest(lp.address)).requestedAt) + 2n;
      const update = [encodeUpdate(ETH_PYTH_ID, toPyth(P3000), ready, ready - 1n)];
      await expect(f.pool.connect(keeper).fulfillDeposit(lp.address, update, { value: 1n }))
        .to.be.revertedWithCustomError(f.engine, "OracleInvalidAnswer")
        .withArgs(ETH, 0n);

      // A fresh ETH price reopens the pool although BTC (no open interest) is still stale: both requests are fulfilled
      // at the NAV (no PnL at 3,000), the deposit's 1 USD less the 0.5 USD fee claimable.
      await f.ethFeed.updateAnswer(answer(3_000));
      const [btcStatus] = await f.engine.oracleStatus(BTC);
      expect(btcStatus).to.equal(1n);
      expect(await f.engine.poolMarkToMarket()).to.deep.equal([0n, true]);
      expect(await f.pool.availableLiquidity()).to.equal(balance - (await f.engine.reservedAssets()));
      const supply = await f.pool.totalSupply();
      await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, false))
        .to.emit(f.pool, "DepositFulfilled")
        .withArgs(lp.address, keeper.address, usd(1), toShares(usd("0.5"), supply, balance), usd("0.5"), balance);
      expect(await f.pool.maxDeposit(lp.address)).to.equal(usd("0.5"));
      const out = toAssets(10n ** 12n, supply + toShares(usd("0.5"), supply, balance), balance + usd("0.5"));
      await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, true))
        .to.emit(f.pool, "RedeemFulfilled")
        .withArgs(lp.address, keeper.address, 10n ** 12n, out, usd("0.5"), balance + usd("0.5"));
      expect(await f.pool.maxWithdraw(lp.address)).to.equal(out - usd("0.5"));
    });

    it("redemptions respect the reserve: availableLiquidity = min(NAV, balance) - reservedAssets bounds every fulfilment", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, bob, lp, keeper } = f;
      await governInSteps(f.engine, { reserveFactor: wad(1) }); // 20% to 100% in allowed steps, a day apart
      // Fresh prices after those seven days, unchanged.
      await f.ethFeed.updateAnswer(answer(3000));
      await f.btcFeed.updateAnswer(answer(60_000));
      await f.engine.connect(alice).deposit(usd(400_000));
      await f.engine.connect(bob).deposit(usd(400_000));
      await trade(f, alice, wad(500), usd(200_000), undefined, ETH);
      await trade(f, bob, wad(10), usd(100_000), undefined, BTC);
      const reserved = await f.engine.reservedAssets();
      expect(reserved).to.equal(await expectedReserve(f));
      expect(reserved).to.equal(usd(2_100_000));

      // The LP asks for all its shares, worth more than may leave at either price.
      const all = await f.pool.balanceOf(lp.address);
      const t = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(t);
      await f.pool.connect(lp).requestRedeem(all, lp.address, lp.address);
      const supply = await f.pool.totalSupply();
      for (const [ethPx, btcPx, label] of [
        ["2900.5", "59000", "traders at a loss: NAV above the balance"],
        ["3100.25", "61234.5", "traders in profit: NAV below the balance"],
      ] as const) {
        await f.ethFeed.updateAnswer(answer(ethPx));
        await f.btcFeed.updateAnswer(answer(btcPx));
        const owe36 = await positionsOwe36(f, [
          { market: ETH, price: wad(ethPx), index: 0n },
          { market: BTC, price: wad(btcPx), index: 0n },
        ]);
        const nav = await expectedNav(f, owe36);
        const balance = await poolBalance(f);
        expect(await f.pool.totalAssets(), label).to.equal(nav);
        if (label.includes("loss")) expect(nav).to.be.greaterThan(balance);
        else expect(nav).to.be.lessThan(balance);
        const available = min(nav, balance) - reserved;
        expect(await f.pool.availableLiquidity(), label).to.equal(available);
        // Fulfilled at Pyth prices equal to Chainlink's: the same NAV.
        const worth = toAssets(all, supply, nav);
        expect(worth, label).to.be.greaterThan(available);
        await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, true), label)
          .to.be.revertedWithCustomError(f.pool, "VaultInsufficientLiquidity")
          .withArgs(available, worth);
      }
      // Once expired, the request is cancelled; redeeming exactly the available liquidity leaves the reserve plus the
      // traders' unrealised profit, and nothing more.
      await time.setNextBlockTimestamp(t + 301n);
      await f.pool.cancelRedeemRequest(lp.address);
      const nav = await f.pool.totalAssets();
      const available = await f.pool.availableLiquidity();
      const exact = sharesForExactly(available, supply, nav);
      expect(await lpRedeem(ethers, f.pool, f.engine, lp, exact)).to.equal(available);
      expect(await f.pool.availableLiquidity()).to.equal(0n);
      expect(await f.pool.totalAssets()).to.equal(reserved);
      // Not one more unit.
      await f.pool.connect(lp).requestRedeem(10n ** 12n, lp.address, lp.address);
      await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, true))
        .to.be.revertedWithCustomError(f.pool, "VaultInsufficientLiquidity")
        .withArgs(0n, toAssets(10n ** 12n, supply - exact, reserved));
    });

    it("refuses deposits when traders' profits wipe out the NAV while shares are outstanding (VaultInsolvent)", async function () {
      const f = await loadFixture(protocolFixture);
      const { alice, carol, lp, keeper } = f;
      await f.engine.connect(alice).deposit(usd(5_000_000));
      await trade(f, alice, wad(15_000), usd(3_000_000)); // 45,000,000 USD long on a 5,000,000 USD pool
      await f.ethFeed.updateAnswer(answer(3_400)); // Alice is up 6,000,000 USD
      const [value, fresh] = await f.engine.poolMarkToMarket();
      expect(fresh).to.equal(true);
      expect(value).to.equal(-usd(6_000_000));
      expect(await f.pool.totalAssets()).to.equal(0n);
      expect(await f.pool.availableLiquidity()).to.equal(0n);
      await f.pool.connect(carol).requestDeposit(usd(1_000), carol.address, carol.address);
      await expect(fulfil(ethers, f.pool, f.engine, keeper, carol.address, false)).to.be.revertedWithCustomError(
        f.pool,
        "VaultInsolvent",
      );
      // A redemption at a NAV of 0 would pay nothing; it is refused anyway, as the pool left (5,022,500 USD with the
      // 22,500 USD opening fee) is below the 5,100,000 USD that 51,000,000 USD of longs (at 3,400) need at a ratio of 10.
      expect(await f.engine.requiredPoolCapacity()).to.equal(usd(5_100_000));
      await f.pool.connect(lp).requestRedeem(10n ** 12n, lp.address, lp.address);
      await expect(fulfil(ethers, f.pool, f.engine, keeper, lp.address, true))
        .to.be.revertedWithCustomError(f.pool, "VaultCapacityBelowOpenInterest")
        .withArgs(usd(5_022_500), usd(5_100_000));
    });
  });
});
