/**
 * Funding: per-market cumulative index accrued at the price of the last priced action, settled into a position's
 * collateral on every trade and liquidation, reported as pending in the views. Every expected value is computed
 * here from the documented formula and the block timestamps read from the chain.
 */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { network } from "hardhat";

import { BTC, ETH, RISK_PARAMS, SCALE, TIERS, WAD, answer, deployProtocol, usd, wad } from "./helpers/fixture.js";
import {
  type Ctx,
  MAX_UINT,
  abs,
  divUp,
  equity36,
  expectSolvent,
  floorDiv,
  health36,
  healthFactor,
  isLiquidatable as modelLiquidatable,
  liquidationPrice as modelLiquidationPrice,
  meetsTarget,
  min,
  planFor,
  planLiquidation,
  takerFee as modelTakerFee,
  engineEvents,
} from "./helpers/liquidation-helpers.js";
import { MAX_FUNDING_RATE_STEP, governInSteps } from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const DAY = 86_400n;
const UNLISTED = encodeBytes32String("DOGE-USD");
const MARKETS = [ETH, BTC];
const P3000 = wad(3000);

async function protocolFixture() {
  const p = await deployProtocol(ethers);
  const signers = await ethers.getSigners();
  return { ...p, everyone: signers.map((s) => s.address) };
}
type F = Awaited<ReturnType<typeof protocolFixture>>;

/* ------------------------------------------------------------------ model */

/** Index increment over `elapsed` seconds at constant skew, rounded away from zero. */
function indexDelta(skew: bigint, skewScale: bigint, maxRate: bigint, price: bigint, elapsed: bigint): bigint {
  if (skew === 0n || maxRate === 0n || elapsed === 0n) return 0n;
  const d = divUp(min(abs(skew), skewScale) * maxRate * price * elapsed, skewScale * WAD * DAY);
  return skew > 0n ? d : -d;
}

/** Funding owed by a position, at `divisor` (WAD: WAD USD, WAD*SCALE: token units). Owed up, received toward zero. */
const owedBy = (size: bigint, index: bigint, positionIndex: bigint, divisor: bigint) =>
  -floorDiv(-(size * (index - positionIndex)), divisor);
const owedToken = (size: bigint, index: bigint, positionIndex: bigint) => owedBy(size, index, positionIndex, WAD * SCALE);
const owedWad = (size: bigint, index: bigint, positionIndex: bigint) => owedBy(size, index, positionIndex, WAD);

/** Signed rate per day: min(|skew|, scale) * maxRate / scale, floored, sign of skew. */
function ratePerDay(skew: bigint, skewScale: bigint, maxRate: bigint): bigint {
  if (skew === 0n || maxRate === 0n) return 0n;
  const r = (min(abs(skew), skewScale) * maxRate) / skewScale;
  return skew > 0n ? r : -r;
}

/* -------------------------------------------------------------- chain utils */

async function blockTime(tx: any): Promise<bigint> {
  const receipt = await tx.wait();
  return BigInt((await ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}
async function latestTime(): Promise<bigint> {
  return BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
}
/** Sends the next transaction at exactly `t`. */
async function at(t: bigint) {
  await time.setNextBlockTimestamp(t);
}
/** Refreshes the ETH feed (same or new answer) at exactly `t`; the feed update touches no engine state. */
async function refreshFeed(f: F, t: bigint, price: string | number = 3000) {
  await at(t);
  await f.ethFeed.updateAnswer(answer(price));
}
async function solvent(f: F) {
  await expectSolvent(f.engine, f.token, f.everyone, MARKETS);
}
async function fundingEvents(f: F, tx: any) {
  return engineEvents(f.engine, tx, "FundingSettled");
}
async function eventArgs(f: F, tx: any, name: string) {
  const [ev] = await engineEvents(f.engine, tx, name);
  expect(ev, `${name} emitted`).to.not.equal(undefined);
  return ev.args;
}

/** Deposits and opens `size` with `collateral` at the next block; returns the block timestamp. */
async function open(f: F, signer: any, size: bigint, collateral: bigint, market = ETH): Promise<bigint> {
  await f.engine.connect(signer).deposit(collateral);
  const tx = await f.engine.connect(signer).modifyPosition(market, size, collateral, size > 0n ? MAX_UINT : 0n);
  return blockTime(tx);
}

/** Context of `size`/`entry`/`collateral` with the fixture's tiers and params and the given funding owed (WAD). */
const ctxOf = (size: bigint, entryPrice: bigint, collateral: bigint, fundingOwed: bigint): Ctx => ({
  size,
  entryPrice,
  collateral,
  fundingOwed,
  scale: SCALE,
  tiers: TIERS,
  params: RISK_PARAMS,
});

/** Taker fee in token units at the fixture's 5 bp, rounded up. */
const takerFee = (sizeDelta: bigint, price: bigint) => modelTakerFee(sizeDelta, price, RISK_PARAMS.takerFeeRate, SCALE);

const SKEW_SCALE = wad(100);
const RATE = wad("0.01");

describe("Funding", function () {
  /* ========================================================== governance */
  describe("setFundingParams", function () {
    it("is off by default: zero params, zero index and rate, no FundingSettled on trades", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const fp = await f.engine.fundingParams(ETH);
      expect(fp.skewScale).to.equal(0n);
      expect(fp.maxFundingRatePerDay).to.equal(0n);
      await open(f, f.alice, wad(10), usd(10_000));
      await time.increase(5 * 86_400);
      await f.ethFeed.updateAnswer(answer(3000));
      const [index, rate, price] = await f.engine.fundingState(ETH);
      expect(index).to.equal(0n);
      expect(rate).to.equal(0n);
      expect(price).to.equal(P3000);
      const tx = await f.engine.connect(f.alice).closePosition(ETH, 0n);
      expect(await fundingEvents(f, tx)).to.have.length(0);
      expect(await f.engine.freeBalance(f.alice.address)).to.equal(usd(10_000) - 2n * takerFee(wad(10), P3000));
    });

    it("is governor-only", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const role = await f.engine.GOVERNOR_ROLE();
      for (const s of [f.alice, f.guardian]) {
        await expect(f.engine.connect(s).setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE }))
          .to.be.revertedWithCustomError(f.engine, "AccessControlUnauthorizedAccount")
          .withArgs(s.address, role);
      }
    });

    it("rejects an unknown market (setter and fundingState)", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await expect(f.engine.setFundingParams(UNLISTED, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE }))
        .to.be.revertedWithCustomError(f.engine, "PerpUnknownMarket")
        .withArgs(UNLISTED);
      await expect(f.engine.fundingState(UNLISTED))
        .to.be.revertedWithCustomError(f.engine, "PerpUnknownMarket")
        .withArgs(UNLISTED);
    });

    it("enforces the bounds (skewScale in [1e18, 1e33], maxFundingRatePerDay in [0, 0.05e18])", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const SS = encodeBytes32String("skewScale");
      const MR = encodeBytes32String("maxFundingRatePerDay");
      const minS = 10n ** 18n;
      const maxS = 10n ** 33n;
      const maxR = wad("0.05");
      for (const bad of [0n, minS - 1n, maxS + 1n, 2n ** 128n - 1n]) {
        await expect(f.engine.setFundingParams(ETH, { skewScale: bad, maxFundingRatePerDay: RATE }))
          .to.be.revertedWithCustomError(f.engine, "PerpParameterOutOfBounds")
          .withArgs(SS, bad, minS, maxS);
      }
      for (const bad of [maxR + 1n, 2n ** 64n - 1n]) {
        await expect(f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: bad }))
          .to.be.revertedWithCustomError(f.engine, "PerpParameterOutOfBounds")
          .withArgs(MR, bad, 0n, maxR);
      }
      // Both bounds inclusive. The rate moves at most MAX_FUNDING_RATE_STEP per call: each end is approached in
      // allowed steps, then reached by the asserted call.
      const toBound = (skewScale: bigint, maxFundingRatePerDay: bigint) =>
        governInSteps(f.engine, { market: ETH, fundingParams: { skewScale, maxFundingRatePerDay } }, { leaveLastStep: true });
      await toBound(minS, maxR);
      await expect(f.engine.setFundingParams(ETH, { skewScale: minS, maxFundingRatePerDay: maxR }))
        .to.emit(f.engine, "FundingParamsSet")
        .withArgs(ETH, [minS, maxR]);
      await toBound(maxS, 0n);
      await expect(f.engine.setFundingParams(ETH, { skewScale: maxS, maxFundingRatePerDay: 0n }))
        .to.emit(f.engine, "FundingParamsSet")
        .withArgs(ETH, [maxS, 0n]);
      const fp = await f.engine.fundingParams(ETH);
      expect([fp.skewScale, fp.maxFundingRatePerDay]).to.deep.equal([maxS, 0n]);
    });

    it("emits FundingParamsSet, reads back per market, and rejects a no-op", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await expect(f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE }))
        .to.emit(f.engine, "FundingParamsSet")
        .withArgs(ETH, [SKEW_SCALE, RATE]);
      const fp = await f.engine.fundingParams(ETH);
      expect([fp.skewScale, fp.maxFundingRatePerDay]).to.deep.equal([SKEW_SCALE, RATE]);
      const other = await f.engine.fundingParams(BTC);
      expect([other.skewScale, other.maxFundingRatePerDay]).to.deep.equal([0n, 0n]);
      await expect(
        f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE }),
      ).to.be.revertedWithCustomError(f.engine, "PerpParameterUnchanged");
      // Changing either field alone is a change. The skew scale is not a stepped rate: it changes at once; the rate
      // waits out the cooldown since its last change (ConstantsLib.MIN_RATE_CHANGE_INTERVAL, one day).
      await expect(f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE + 1n, maxFundingRatePerDay: RATE })).to.emit(
        f.engine,
        "FundingParamsSet",
      );
      await time.increase(DAY);
      await expect(f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE + 1n, maxFundingRatePerDay: RATE + 1n })).to.emit(
        f.engine,
        "FundingParamsSet",
      );
    });
  });

  /* ============================================================= accrual */
  describe("accrual", function () {
    it("accrues the exact index at the price recorded at the last priced action", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const size = wad(10);
      const t1 = await open(f, f.alice, size, usd(10_000));
      let [index, rate, price] = await f.engine.fundingState(ETH);
      expect(index).to.equal(0n); // skew was 0 before the trade
      expect(price).to.equal(P3000);
      expect(rate).to.equal(RATE / 10n); // 10 / 100 * 1% per day
      expect(rate).to.equal(ratePerDay(size, SKEW_SCALE, RATE));

      for (const n of [1n, 777n, 3599n]) {
        await at(t1 + n);
        await networkHelpers.mine();
        [index] = await f.engine.fundingState(ETH);
        expect(index, `after ${n}s`).to.equal(indexDelta(size, SKEW_SCALE, RATE, P3000, n));
      }
      // 1 s of 10 ETH at 0.1%/day of 3000: ceil(3e56 / 8.64e42) = 34722222222223.
      expect(indexDelta(size, SKEW_SCALE, RATE, P3000, 1n)).to.equal(34_722_222_222_223n);

      // An oracle move with no action does not change the accrual price.
      const t2 = t1 + 10_000n;
      await refreshFeed(f, t2, 4000);
      [index, , price] = await f.engine.fundingState(ETH);
      expect(price).to.equal(P3000);
      expect(index).to.equal(indexDelta(size, SKEW_SCALE, RATE, P3000, t2 - t1));

      // A trade (bob short 2) accrues at 3000 up to its block, then records 4000 and the new skew.
      const t3 = t2 + 100n;
      await f.engine.connect(f.bob).deposit(usd(10_000));
      await at(t3);
      await f.engine.connect(f.bob).modifyPosition(ETH, -wad(2), usd(10_000), 0n);
      const i3 = indexDelta(size, SKEW_SCALE, RATE, P3000, t3 - t1);
      [index, rate, price] = await f.engine.fundingState(ETH);
      expect(index).to.equal(i3);
      expect(price).to.equal(wad(4000));
      expect(rate).to.equal(ratePerDay(wad(8), SKEW_SCALE, RATE));
      expect((await f.engine.getPosition(f.bob.address, ETH)).fundingIndex).to.equal(i3);

      const t4 = t3 + 5_000n;
      await at(t4);
      await networkHelpers.mine();
      [index] = await f.engine.fundingState(ETH);
      expect(index).to.equal(i3 + indexDelta(wad(8), SKEW_SCALE, RATE, wad(4000), t4 - t3));
    });

    it("clamps the rate at the maximum when |skew| exceeds skewScale", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const scale = wad(4);
      await f.engine.setFundingParams(ETH, { skewScale: scale, maxFundingRatePerDay: RATE });
      const t1 = await open(f, f.alice, wad(10), usd(10_000));
      const [, rate] = await f.engine.fundingState(ETH);
      expect(rate).to.equal(RATE);
      const t2 = t1 + 3_333n;
      await at(t2);
      await networkHelpers.mine();
      const [index] = await f.engine.fundingState(ETH);
      // Same as a skew of exactly skewScale: rate * price * elapsed / day.
      expect(index).to.equal(divUp(RATE * P3000 * 3_333n, WAD * DAY));
      expect(index).to.equal(indexDelta(wad(10), scale, RATE, P3000, 3_333n));
    });

    it("accrues negatively when shorts dominate", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const t1 = await open(f, f.carol, -wad(7), usd(10_000));
      const [, rate] = await f.engine.fundingState(ETH);
      expect(rate).to.equal(-(wad(7) * RATE) / SKEW_SCALE);
      await at(t1 + 1_234n);
      await networkHelpers.mine();
      const [index] = await f.engine.fundingState(ETH);
      const expected = indexDelta(-wad(7), SKEW_SCALE, RATE, P3000, 1_234n);
      expect(expected < 0n).to.equal(true);
      expect(index).to.equal(expected);
    });
  });

  /* ========================================================== settlement */
  describe("settlement on trades", function () {
    it("a long pays exact funding on an increase, then on a decrease (accrued at the recorded price)", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const poolAddr = await f.pool.getAddress();
      const c0 = usd(10_000);
      const t1 = await open(f, f.alice, wad(10), c0);
      const collateral1 = c0 - takerFee(wad(10), P3000);
      expect((await f.engine.getPosition(f.alice.address, ETH)).collateral).to.equal(collateral1);

      // Increase by 1 ETH after a day and a bit.
      const t2 = t1 + DAY + 12_345n;
      await refreshFeed(f, t2 - 10n);
      const pool2 = await f.token.balanceOf(poolAddr);
      await at(t2);
      const tx2 = await f.engine.connect(f.alice).modifyPosition(ETH, wad(1), 0n, MAX_UINT);
      const i2 = indexDelta(wad(10), SKEW_SCALE, RATE, P3000, t2 - t1);
      const fund2 = owedToken(wad(10), i2, 0n);
      expect(fund2 > usd(30)).to.equal(true); // ~30 USD/day
      const fee2 = takerFee(wad(1), P3000);
      await expect(tx2).to.emit(f.engine, "FundingSettled").withArgs(f.alice.address, ETH, fund2);
      let pos = await f.engine.getPosition(f.alice.address, ETH);
      const collateral2 = collateral1 - fund2 - fee2;
      expect(pos.collateral).to.equal(collateral2);
      expect(pos.fundingIndex).to.equal(i2);
      expect(pos.size).to.equal(wad(11));
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool2 + fund2 + fee2);
      await solvent(f);

      // Price moves to 3300 (no action on the market): the index keeps accruing at 3000 until the decrease.
      const t3 = t2 + 2n * DAY + 999n;
      await refreshFeed(f, t3 - 10n, 3300);
      const pool3 = await f.token.balanceOf(poolAddr);
      await at(t3);
      const tx3 = await f.engine.connect(f.alice).modifyPosition(ETH, -wad(5), 0n, 0n);
      const i3 = i2 + indexDelta(wad(11), SKEW_SCALE, RATE, P3000, t3 - t2);
      const fund3 = owedToken(wad(11), i3, i2);
      const fee3 = takerFee(wad(5), wad(3300));
      const pnl3 = floorDiv(wad(5) * (wad(3300) - P3000), WAD * SCALE);
      expect(pnl3).to.equal(usd(1500));
      await expect(tx3).to.emit(f.engine, "FundingSettled").withArgs(f.alice.address, ETH, fund3);
      await expect(tx3)
        .to.emit(f.engine, "PositionModified")
        .withArgs(f.alice.address, ETH, -wad(5), 0n, wad(3300), fee3, pnl3, wad(6), collateral2 - fund3 - fee3 + pnl3, P3000, wad(3300), 0n);
      pos = await f.engine.getPosition(f.alice.address, ETH);
      expect(pos.collateral).to.equal(collateral2 - fund3 - fee3 + pnl3);
      expect(pos.fundingIndex).to.equal(i3);
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool3 + fund3 + fee3 - pnl3);
      const [, , price] = await f.engine.fundingState(ETH);
      expect(price).to.equal(wad(3300));
      await solvent(f);
    });

    it("owed funding rounds up to the token unit", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const t1 = await open(f, f.alice, wad(10), usd(10_000));
      await at(t1 + 1n);
      const tx = await f.engine.connect(f.alice).modifyPosition(ETH, wad(1), 0n, MAX_UINT);
      const i = indexDelta(wad(10), SKEW_SCALE, RATE, P3000, 1n);
      // 10e18 * 34722222222223 / 1e30 = 347.22... token units: owed rounds up to 348.
      expect(i).to.equal(34_722_222_222_223n);
      expect(owedToken(wad(10), i, 0n)).to.equal(348n);
      await expect(tx).to.emit(f.engine, "FundingSettled").withArgs(f.alice.address, ETH, 348n);
    });

    it("shorts receive when skew is positive, paid by the pool; longs pay", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const poolAddr = await f.pool.getAddress();
      const t1 = await open(f, f.alice, wad(10), usd(10_000));
      const t2 = t1 + 600n;
      await f.engine.connect(f.bob).deposit(usd(5_000));
      await at(t2);
      await f.engine.connect(f.bob).modifyPosition(ETH, -wad(4), usd(5_000), 0n);
      const i2 = indexDelta(wad(10), SKEW_SCALE, RATE, P3000, t2 - t1);
      expect((await f.engine.getPosition(f.bob.address, ETH)).fundingIndex).to.equal(i2);
      const bobCollateral = usd(5_000) - takerFee(wad(4), P3000);

      // Bob closes after ~1.5 days at an unchanged price.
      const t3 = t2 + DAY + DAY / 2n + 17n;
      await refreshFeed(f, t3 - 5n);
      const pool3 = await f.token.balanceOf(poolAddr);
      const free3 = await f.engine.freeBalance(f.bob.address);
      await at(t3);
      const tx3 = await f.engine.connect(f.bob).closePosition(ETH, MAX_UINT);
      const i3 = i2 + indexDelta(wad(6), SKEW_SCALE, RATE, P3000, t3 - t2);
      const bobFunding = owedToken(-wad(4), i3, i2);
      // Received rounds toward zero: floor of the exact credit.
      expect(bobFunding).to.equal(-((wad(4) * (i3 - i2)) / (WAD * SCALE)));
      expect(bobFunding < -usd(10)).to.equal(true); // ~4 * 3000 * 0.06%/day * 1.5 days ~ 10.8 USD
      const fee3 = takerFee(wad(4), P3000);
      await expect(tx3).to.emit(f.engine, "FundingSettled").withArgs(f.bob.address, ETH, bobFunding);
      expect(await f.engine.freeBalance(f.bob.address)).to.equal(free3 + bobCollateral - bobFunding - fee3);
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool3 + fee3 + bobFunding); // pool pays the credit
      await solvent(f);

      // Alice (long) pays for the whole period: skew 10 then 6, then 10 again after bob closed.
      const t4 = t3 + 3_000n;
      const pool4 = await f.token.balanceOf(poolAddr);
      const free4 = await f.engine.freeBalance(f.alice.address);
      await at(t4);
      const tx4 = await f.engine.connect(f.alice).closePosition(ETH, 0n);
      const i4 = i3 + indexDelta(wad(10), SKEW_SCALE, RATE, P3000, t4 - t3);
      const aliceFunding = owedToken(wad(10), i4, 0n);
      expect(aliceFunding > 0n).to.equal(true);
      const fee4 = takerFee(wad(10), P3000);
      await expect(tx4).to.emit(f.engine, "FundingSettled").withArgs(f.alice.address, ETH, aliceFunding);
      expect(await f.engine.freeBalance(f.alice.address)).to.equal(
        free4 + usd(10_000) - takerFee(wad(10), P3000) - aliceFunding - fee4,
      );
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool4 + fee4 + aliceFunding);
      // The pool netted more than it paid out.
      expect(aliceFunding + bobFunding > 0n).to.equal(true);
      await solvent(f);
    });

    it("longs receive and shorts pay when skew is negative", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const poolAddr = await f.pool.getAddress();
      const t1 = await open(f, f.carol, -wad(20), usd(20_000));
      const t2 = t1 + 100n;
      await f.engine.connect(f.alice).deposit(usd(5_000));
      await at(t2);
      await f.engine.connect(f.alice).modifyPosition(ETH, wad(5), usd(5_000), MAX_UINT);
      const i2 = indexDelta(-wad(20), SKEW_SCALE, RATE, P3000, t2 - t1);
      const t3 = t2 + DAY;
      await refreshFeed(f, t3 - 5n);
      const pool3 = await f.token.balanceOf(poolAddr);
      await at(t3);
      const tx = await f.engine.connect(f.alice).closePosition(ETH, 0n);
      const i3 = i2 + indexDelta(-wad(15), SKEW_SCALE, RATE, P3000, t3 - t2);
      const aliceFunding = owedToken(wad(5), i3, i2);
      expect(aliceFunding < 0n).to.equal(true);
      await expect(tx).to.emit(f.engine, "FundingSettled").withArgs(f.alice.address, ETH, aliceFunding);
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool3 + takerFee(wad(5), P3000) + aliceFunding);

      const t4 = t3 + 50n;
      await at(t4);
      const tx4 = await f.engine.connect(f.carol).modifyPosition(ETH, wad(1), 0n, MAX_UINT);
      const i4 = i3 + indexDelta(-wad(20), SKEW_SCALE, RATE, P3000, t4 - t3);
      const carolFunding = owedToken(-wad(20), i4, 0n);
      expect(carolFunding > 0n).to.equal(true);
      await expect(tx4).to.emit(f.engine, "FundingSettled").withArgs(f.carol.address, ETH, carolFunding);
      await solvent(f);
    });
  });

  /* =============================================================== views */
  describe("views", function () {
    it("lens.positionHealth and engine.riskContext include pending funding", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const size = wad(10);
      const c = usd(10_000) - takerFee(size, P3000);
      const t1 = await open(f, f.alice, size, usd(10_000));

      const h0 = await f.lens.positionHealth(f.alice.address, ETH);
      expect(h0.fundingOwed).to.equal(0n);
      const eq0 = h0.equity;

      const t2 = t1 + 2n * DAY + 321n;
      await refreshFeed(f, t2);
      expect(await latestTime()).to.equal(t2);
      const i2 = indexDelta(size, SKEW_SCALE, RATE, P3000, t2 - t1);
      const owed = owedWad(size, i2, 0n);
      expect(owed).to.equal(divUp(size * i2, WAD));

      const rc = await f.engine.riskContext(f.alice.address, ETH);
      expect(rc.fundingOwed).to.equal(owed);
      expect(rc.collateral).to.equal(c); // not settled by a view

      const h = await f.lens.positionHealth(f.alice.address, ETH);
      expect(h.fundingOwed).to.equal(owed);
      const ctx = ctxOf(size, P3000, c, owed);
      const { e36, mm36 } = health36(ctx, P3000);
      expect(h.equity).to.equal(floorDiv(e36, WAD));
      expect(h.equity).to.equal(eq0 - owed);
      expect(h.healthFactor).to.equal(healthFactor(e36, mm36));
      expect(await f.lens.equity(f.alice.address, ETH)).to.equal(floorDiv(equity36(ctx, P3000), WAD));

      // A short receives: negative fundingOwed (toward zero) and equity rises.
      await f.engine.connect(f.bob).deposit(usd(5_000));
      const t3 = t2 + 10n;
      await at(t3);
      await f.engine.connect(f.bob).modifyPosition(ETH, -wad(3), usd(5_000), 0n);
      // refreshFeed does not accrue: the trade accrues t1 -> t3 in one step (one rounding).
      const i3 = indexDelta(size, SKEW_SCALE, RATE, P3000, t3 - t1);
      const t4 = t3 + DAY / 3n;
      await refreshFeed(f, t4);
      const i4 = i3 + indexDelta(wad(7), SKEW_SCALE, RATE, P3000, t4 - t3);
      const bobOwed = owedWad(-wad(3), i4, i3);
      expect(bobOwed).to.equal(-((wad(3) * (i4 - i3)) / WAD));
      expect((await f.engine.riskContext(f.bob.address, ETH)).fundingOwed).to.equal(bobOwed);
      const hb = await f.lens.positionHealth(f.bob.address, ETH);
      expect(hb.fundingOwed).to.equal(bobOwed);
      const bobCtx = ctxOf(-wad(3), P3000, usd(5_000) - takerFee(wad(3), P3000), bobOwed);
      expect(hb.equity).to.equal(floorDiv(equity36(bobCtx, P3000), WAD));
      expect((await f.engine.riskContext(f.alice.address, ETH)).fundingOwed).to.equal(owedWad(size, i4, 0n));
    });
  });

  /* ========================================================= liquidation */
  describe("funding-driven liquidation", function () {
    const MAXR = wad("0.05");

    /** Alice long `size` at 3000 with `collateral`, funding at the maximum rate (skewScale 1 ETH). */
    async function setup(size: bigint, collateral: bigint) {
      const f = await networkHelpers.loadFixture(protocolFixture);
      // 0 to 5% per day in steps of MAX_FUNDING_RATE_STEP, a day apart; no open interest yet, so nothing accrues
      // meanwhile. The feed is refreshed after those four days.
      await governInSteps(f.engine, { market: ETH, fundingParams: { skewScale: WAD, maxFundingRatePerDay: MAXR } });
      expect((await f.engine.fundingState(ETH))[0]).to.equal(0n);
      await f.ethFeed.updateAnswer(answer(3000));
      const t1 = await open(f, f.alice, size, collateral);
      const c = collateral - takerFee(size, P3000);
      const ctxAt = (t: bigint) => ctxOf(size, P3000, c, owedWad(size, indexDelta(size, WAD, MAXR, P3000, t - t1), 0n));
      // First second at which the position is liquidatable at 3000.
      let lo = t1; // safe
      let hi = t1 + 100n * DAY;
      expect(modelLiquidatable(ctxAt(lo), P3000)).to.equal(false);
      expect(modelLiquidatable(ctxAt(hi), P3000)).to.equal(true);
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        if (modelLiquidatable(ctxAt(mid), P3000)) hi = mid;
        else lo = mid;
      }
      return { f, t1, c, ctxAt, tLiq: hi };
    }

    it("a healthy long becomes liquidatable through time alone and is fully liquidated with funding settled", async function () {
      const size = wad(3); // 9,000 USD notional: at most fullLiquidationNotional, always a full liquidation
      const { f, t1, c, ctxAt, tLiq } = await setup(size, usd(200));
      expect(tLiq - t1 > 3_600n).to.equal(true);
      const [, rate] = await f.engine.fundingState(ETH);
      expect(rate).to.equal(MAXR); // clamped: skew 3 > skewScale 1

      // Before tLiq: healthy (fresh feed, same price); a liquidation one second before tLiq reverts.
      await refreshFeed(f, tLiq - 2n);
      expect(await f.engine.isLiquidatable(f.alice.address, ETH)).to.equal(false);
      expect((await f.lens.positionHealth(f.alice.address, ETH)).liquidatable).to.equal(false);
      await at(tLiq - 1n);
      await expect(f.engine.connect(f.keeper).liquidate(f.alice.address, ETH)).to.be.revertedWithCustomError(
        f.engine,
        "PerpPositionHealthy",
      );

      // At tLiq: liquidatable, with no price change.
      await at(tLiq);
      await networkHelpers.mine();
      expect(await f.engine.isLiquidatable(f.alice.address, ETH)).to.equal(true);
      expect((await f.lens.positionHealth(f.alice.address, ETH)).liquidatable).to.equal(true);

      const tL = tLiq + 1n; // the liquidation block
      const ctx = ctxAt(tL);
      const plan = planLiquidation(ctx, P3000);
      expect(plan.full).to.equal(true);
      const owedTok = owedToken(size, indexDelta(size, WAD, MAXR, P3000, tL - t1), 0n);
      // Token-unit funding settled by the plan equals the direct token-unit formula.
      expect(plan.remainingCollateral).to.equal(c - owedTok);
      const reward = usd(9); // 10 bp of 9,000, within [5, 1000]
      const penalty = usd(18); // 20 bp of 9,000
      expect(plan.keeperReward).to.equal(reward);
      expect(plan.penalty).to.equal(penalty);
      const returned = c - owedTok - reward - penalty;
      expect(returned > 0n).to.equal(true);

      const poolAddr = await f.pool.getAddress();
      const insAddr = await f.insurance.getAddress();
      const pool0 = await f.token.balanceOf(poolAddr);
      const ins0 = await f.token.balanceOf(insAddr);
      const free0 = await f.engine.freeBalance(f.alice.address);
      const keeper0 = await f.engine.freeBalance(f.keeper.address);
      await at(tL);
      const tx = await f.engine.connect(f.keeper).liquidate(f.alice.address, ETH);
      await expect(tx)
        .to.emit(f.engine, "PositionLiquidated")
        .withArgs(f.alice.address, ETH, f.keeper.address, size, P3000, 0n, reward, penalty, 0n, returned);
      expect(await fundingEvents(f, tx)).to.have.length(0); // settled inside PositionLiquidated's amounts
      expect(await f.engine.freeBalance(f.alice.address)).to.equal(free0 + returned);
      expect(await f.engine.freeBalance(f.keeper.address)).to.equal(keeper0 + reward);
      expect(await f.token.balanceOf(insAddr)).to.equal(ins0 + penalty);
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool0 + owedTok); // the pool receives the funding
      expect((await f.engine.getPosition(f.alice.address, ETH)).size).to.equal(0n);
      const [index, rate2] = await f.engine.fundingState(ETH);
      expect(index).to.equal(indexDelta(size, WAD, MAXR, P3000, tL - t1));
      expect(rate2).to.equal(0n); // no open interest left
      await solvent(f);
    });

    it("a larger long is partially liquidated per the model, funding settled and the index reset", async function () {
      const size = wad(10); // 30,000 USD notional, above fullLiquidationNotional
      const { f, t1, ctxAt, tLiq } = await setup(size, usd(1_000));
      const tL = tLiq + 60n;
      await refreshFeed(f, tL - 1n);
      expect(await f.engine.isLiquidatable(f.alice.address, ETH)).to.equal(true);
      const ctx = ctxAt(tL);
      const iL = indexDelta(size, WAD, MAXR, P3000, tL - t1);
      const owedTok = owedToken(size, iL, 0n);
      expect(owedTok > usd(500)).to.equal(true);
      const poolAddr = await f.pool.getAddress();
      const pool0 = await f.token.balanceOf(poolAddr);
      const alice0 = await f.engine.freeBalance(f.alice.address);
      await at(tL);
      const tx = await f.engine.connect(f.keeper).liquidate(f.alice.address, ETH);
      const ev = await eventArgs(f, tx, "PositionLiquidated");
      expect(ev.closedSize > 0n && ev.closedSize < size, "partial").to.equal(true);
      const remaining = size - ev.closedSize;
      // The remainder meets the target with the funding settled, and is the largest such to within the search
      // tolerance (one token unit of notional).
      expect(meetsTarget(ctx, P3000, remaining), "remainder meets the target").to.equal(true);
      const tolerance = (SCALE * WAD) / P3000 > 1n ? (SCALE * WAD) / P3000 : 1n;
      expect(meetsTarget(ctx, P3000, remaining + tolerance), "near-maximal remainder").to.equal(false);
      const plan = planFor(ctx, P3000, ev.closedSize);
      expect(plan.remainingCollateral).to.equal(ctx.collateral + plan.realizedPnl - owedTok);
      await expect(tx)
        .to.emit(f.engine, "PositionLiquidated")
        .withArgs(
          f.alice.address,
          ETH,
          f.keeper.address,
          ev.closedSize,
          P3000,
          plan.realizedPnl,
          plan.keeperReward,
          plan.penalty,
          remaining,
          0n,
        );
      expect(await f.engine.freeBalance(f.alice.address)).to.equal(alice0);
      const pos = await f.engine.getPosition(f.alice.address, ETH);
      expect(pos.size).to.equal(remaining);
      expect(pos.collateral).to.equal(plan.remainingCollateral - plan.keeperReward - plan.penalty);
      expect(pos.fundingIndex).to.equal(iL);
      expect(await f.token.balanceOf(poolAddr)).to.equal(pool0 + owedTok - plan.realizedPnl);
      // Nothing pending right after; the remainder then accrues from iL at the smaller (still clamped) skew.
      expect((await f.engine.riskContext(f.alice.address, ETH)).fundingOwed).to.equal(0n);
      const t3 = tL + 1_000n;
      await at(t3);
      await networkHelpers.mine();
      const [index] = await f.engine.fundingState(ETH);
      expect(index).to.equal(iL + indexDelta(remaining, WAD, MAXR, P3000, 1_000n));
      await solvent(f);
    });

    it("the liquidation price of a long rises strictly as funding accrues", async function () {
      const size = wad(3);
      const { f, t1, ctxAt } = await setup(size, usd(2_000));
      let prev = await f.lens.liquidationPrice(f.alice.address, ETH);
      expect(prev).to.equal(modelLiquidationPrice(ctxAt(t1)));
      for (const dt of [600n, 3_600n, DAY / 2n, DAY]) {
        const t = t1 + dt;
        await refreshFeed(f, t);
        const lp = await f.lens.liquidationPrice(f.alice.address, ETH);
        expect(lp > prev, `liquidation price rises after ${dt}s`).to.equal(true);
        expect(lp).to.equal(modelLiquidationPrice(ctxAt(t)));
        expect((await f.lens.positionHealth(f.alice.address, ETH)).liquidationPrice).to.equal(lp);
        prev = lp;
      }
    });
  });

  /* ===================================================== params change */
  describe("changing parameters", function () {
    it("accrues under the old rate up to the change, then under the new one", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      const size = wad(10);
      const t1 = await open(f, f.alice, size, usd(10_000));

      // RATE (1%) to RATE2 (4%) takes three calls of at most MAX_FUNDING_RATE_STEP, one cooldown (a day) apart, the
      // last at t2. Each call accrues under the rate in force before it: RATE up to the first, then each intermediate
      // rate for a day. The first call is more than a day after the change to RATE at listing time.
      const t2 = t1 + 3n * DAY + 4_321n;
      const RATE2 = wad("0.04");
      const up = await governInSteps(
        f.engine,
        { market: ETH, fundingParams: { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE2 } },
        { leaveLastStep: true, beforeStep: (i) => at(t2 - 2n * DAY + BigInt(i) * DAY) },
      );
      const R_2 = RATE + MAX_FUNDING_RATE_STEP;
      const R_3 = RATE + 2n * MAX_FUNDING_RATE_STEP;
      expect(up.steps.map((s) => s.maxFundingRatePerDay)).to.deep.equal([R_2, R_3, RATE2]);
      await at(t2);
      await expect(f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE2 }))
        .to.emit(f.engine, "FundingParamsSet")
        .withArgs(ETH, [SKEW_SCALE, RATE2]);
      const i2 =
        indexDelta(size, SKEW_SCALE, RATE, P3000, t2 - 2n * DAY - t1) +
        indexDelta(size, SKEW_SCALE, R_2, P3000, DAY) +
        indexDelta(size, SKEW_SCALE, R_3, P3000, DAY);
      let [index, rate, price] = await f.engine.fundingState(ETH);
      expect(await latestTime()).to.equal(t2);
      expect(index).to.equal(i2);
      expect(index).to.not.equal(indexDelta(size, SKEW_SCALE, RATE2, P3000, t2 - t1));
      expect(rate).to.equal(ratePerDay(size, SKEW_SCALE, RATE2));
      expect(price).to.equal(P3000); // no price recorded by governance

      // Then the skew scale (not a stepped rate: no cooldown): accrues under RATE2 first.
      const t3 = t2 + 7_777n;
      const SCALE2 = wad(5);
      await at(t3);
      await f.engine.setFundingParams(ETH, { skewScale: SCALE2, maxFundingRatePerDay: RATE2 });
      const i3 = i2 + indexDelta(size, SKEW_SCALE, RATE2, P3000, t3 - t2);
      [index, rate] = await f.engine.fundingState(ETH);
      expect(index).to.equal(i3);
      expect(rate).to.equal(RATE2); // clamped: 10 > 5

      // Disabling freezes the index. RATE2 to 0 takes four calls, a day apart, the last at t4, the first more than a
      // day after the change at t2; each accrues under the rate before it (clamped skew: the rate is the maximum).
      const t4 = t3 + 4n * DAY + 999n;
      const down = await governInSteps(
        f.engine,
        { market: ETH, fundingParams: { skewScale: SCALE2, maxFundingRatePerDay: 0n } },
        { beforeStep: (i) => at(t4 - 3n * DAY + BigInt(i) * DAY) },
      );
      expect(down.steps.map((s) => s.maxFundingRatePerDay)).to.deep.equal([R_3, R_2, RATE, 0n]);
      expect(await latestTime()).to.equal(t4);
      const i4 =
        i3 +
        indexDelta(size, SCALE2, RATE2, P3000, t4 - 3n * DAY - t3) +
        indexDelta(size, SCALE2, R_3, P3000, DAY) +
        indexDelta(size, SCALE2, R_2, P3000, DAY) +
        indexDelta(size, SCALE2, RATE, P3000, DAY);
      [index, rate] = await f.engine.fundingState(ETH);
      expect(index).to.equal(i4);
      expect(rate).to.equal(0n);
      await time.increase(DAY);
      [index] = await f.engine.fundingState(ETH);
      expect(index).to.equal(i4);

      // Alice settles exactly the piecewise total on her next trade.
      await f.ethFeed.updateAnswer(answer(3000));
      const tx = await f.engine.connect(f.alice).closePosition(ETH, 0n);
      await expect(tx).to.emit(f.engine, "FundingSettled").withArgs(f.alice.address, ETH, owedToken(size, i4, 0n));
      await solvent(f);
    });

    it("does not affect other markets' funding", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await f.engine.setFundingParams(ETH, { skewScale: SKEW_SCALE, maxFundingRatePerDay: RATE });
      await open(f, f.alice, wad(1), usd(10_000), BTC);
      await time.increase(3_000);
      const [index, rate] = await f.engine.fundingState(BTC);
      expect(index).to.equal(0n);
      expect(rate).to.equal(0n);
    });
  });
});
