import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { network } from "hardhat";

import { BTC, ETH, EXPOSURE_PARAMS, RISK_PARAMS, TIERS, answer, deployProtocol, oracleConfig, usd, wad } from "./helpers/fixture.js";
import {
  type Ctx,
  MAX_UINT,
  WAD,
  expectSolvent,
  health36,
  healthFactor,
  isLiquidatable as modelLiquidatable,
  liquidationPrice as modelLiquidationPrice,
  meetsTarget,
  openPosition,
  planFor,
  planLiquidation,
  readCtx,
  takerFee,
  engineEvents,
} from "./helpers/liquidation-helpers.js";

const { ethers, networkHelpers } = await network.create();

/** Extra market priced by an 18-decimal feed, so feed answers are WAD prices exactly. */
const TST = encodeBytes32String("TST-USD");
const UNLISTED = encodeBytes32String("DOGE-USD");
const MARKETS = [ETH, BTC, TST];
const SCALE = 10n ** 12n;

async function protocolFixture() {
  const p = await deployProtocol(ethers);
  const signers = await ethers.getSigners();
  const extra = signers.slice(7, 14);
  for (const s of extra) {
    await p.token.mint(s.address, usd(10_000_000));
    await p.token.connect(s).approve(p.engine, ethers.MaxUint256);
  }
  return { ...p, extra, everyone: signers.map((s) => s.address) };
}

async function testMarketFixture() {
  const p = await protocolFixture();
  const feed = await ethers.deployContract("MockV3Aggregator", [18, wad(2000)]);
  await p.engine.listMarket(
    TST,
    { ...oracleConfig(await feed.getAddress()), maxPrice: wad(1_000_000_000) },
    RISK_PARAMS,
    TIERS,
  );
  await p.engine.setExposureParams(TST, EXPOSURE_PARAMS);
  return { ...p, feed };
}

type F = Awaited<ReturnType<typeof protocolFixture>>;

async function solvent(f: F) {
  await expectSolvent(f.engine, f.token, f.everyone, MARKETS);
}

async function liquidatedEvents(f: F, tx: any) {
  return engineEvents(f.engine, tx, "PositionLiquidated");
}

/**
 * Checks a PositionLiquidated event against the specification for the position `ctx` (read before the liquidation)
 * at `price`: full or partial as specified, a partial remainder that meets the target health factor and the minimum
 * notional, and every amount exact for the closed size. Returns the event's arguments.
 */
async function expectLiquidationPerSpec(f: F, tx: any, ctx: Ctx, account: string, market: string, price: bigint) {
  const events = await liquidatedEvents(f, tx);
  const ev = events.find((e: any) => e.args.account === account && e.args.market === market);
  expect(ev, "PositionLiquidated").to.not.equal(undefined);
  const a = ev.args;
  const absSize = ctx.size < 0n ? -ctx.size : ctx.size;
  const spec = planLiquidation(ctx, price);
  expect(a.price).to.equal(price);
  if (spec.full) {
    expect(a.closedSize).to.equal(absSize);
  } else {
    expect(a.closedSize).to.be.greaterThan(0n);
    expect(a.closedSize).to.be.lessThan(absSize);
    const remaining = absSize - a.closedSize;
    expect(meetsTarget(ctx, price, remaining), "remainder meets the target").to.equal(true);
    expect((remaining * price) / WAD).to.be.greaterThanOrEqual(ctx.params.minPositionNotional);
  }
  const p = planFor(ctx, price, a.closedSize);
  expect(a.realizedPnl).to.equal(p.realizedPnl);
  expect(a.keeperReward).to.equal(p.keeperReward);
  if (p.full) {
    const value = p.remainingCollateral > 0n ? p.remainingCollateral : 0n;
    const paid = value < p.keeperReward ? value : p.keeperReward;
    const penalty = value - paid < p.penalty ? value - paid : p.penalty;
    expect(a.penalty).to.equal(penalty);
    expect(a.returnedToTrader).to.equal(value - paid - penalty);
    expect(a.remainingSize).to.equal(0n);
  } else {
    expect(a.penalty).to.equal(p.penalty);
    expect(a.returnedToTrader).to.equal(0n);
    expect(a.remainingSize).to.equal(ctx.size > 0n ? ctx.size - a.closedSize : ctx.size + a.closedSize);
    expect((await f.engine.getPosition(account, market)).collateral).to.equal(
      p.remainingCollateral - p.keeperReward - p.penalty,
    );
  }
  return { args: a, plan: p };
}

describe("Liquidation", function () {
  describe("liquidation price boundary (18-decimal feed, exact WAD prices)", function () {
    // [label, size (WAD, signed), collateral (USD)]
    const cases: [string, bigint, string][] = [
      ["long 1 @ 40x", wad(1), "50"],
      ["long fractional", wad("7.123456789123456789"), "321.654321"],
      ["long 40 (80k notional: crosses the 50k tier)", wad(40), "1500"],
      ["short 2", wad(-2), "100"],
      ["short fractional", -wad("0.5") - 7n, "20"],
      ["short 30 (60k notional: crosses the 50k tier)", wad(-30), "1000"],
    ];

    for (const [label, size, collateral] of cases) {
      it(`${label}: safe at the liquidation price, liquidatable one wei past it`, async function () {
        const f = await networkHelpers.loadFixture(testMarketFixture);
        const [trader] = f.extra;
        await openPosition(f.engine, trader, TST, size, usd(collateral));
        const ctx = await readCtx(f.engine, trader.address, TST);
        expect(ctx.collateral).to.equal(usd(collateral) - takerFee(size, wad(2000), RISK_PARAMS.takerFeeRate, SCALE));

        const liq = await f.lens.liquidationPrice(trader.address, TST);
        expect(liq).to.equal(modelLiquidationPrice(ctx));
        if (size > 0n) expect(liq).to.be.lessThan(wad(2000));
        else expect(liq).to.be.greaterThan(wad(2000));
        if (label.includes("tier")) {
          // the boundary lies in the second tier: notional at the liquidation price is above 50k
          expect((liq * (size < 0n ? -size : size)) / WAD).to.be.greaterThan(wad(50_000));
        }

        // Safe side: exactly at the liquidation price.
        await f.feed.updateAnswer(liq);
        expect(await f.engine.isLiquidatable(trader.address, TST)).to.equal(false);
        const hfSafe = await f.lens.healthFactor(trader.address, TST);
        const mSafe = health36(ctx, liq);
        expect(hfSafe).to.equal(healthFactor(mSafe.e36, mSafe.mm36));
        expect(hfSafe).to.be.greaterThanOrEqual(WAD);
        expect((await f.lens.positionHealth(trader.address, TST)).liquidatable).to.equal(false);
        await expect(f.engine.connect(f.keeper).liquidate(trader.address, TST))
          .to.be.revertedWithCustomError(f.engine, "PerpPositionHealthy")
          .withArgs(trader.address, TST, hfSafe);

        // One wei past it.
        const past = size > 0n ? liq - 1n : liq + 1n;
        await f.feed.updateAnswer(past);
        expect(modelLiquidatable(ctx, past)).to.equal(true);
        expect(await f.engine.isLiquidatable(trader.address, TST)).to.equal(true);
        const hfPast = await f.lens.healthFactor(trader.address, TST);
        const mPast = health36(ctx, past);
        expect(hfPast).to.equal(healthFactor(mPast.e36, mPast.mm36));
        expect(hfPast).to.be.lessThan(WAD);
        expect((await f.lens.positionHealth(trader.address, TST)).liquidatable).to.equal(true);

        const before = await f.engine.freeBalance(f.keeper.address);
        const tx = await f.engine.connect(f.keeper).liquidate(trader.address, TST);
        const { plan } = await expectLiquidationPerSpec(f, tx, ctx, trader.address, TST, past);
        expect(await f.engine.freeBalance(f.keeper.address)).to.equal(before + plan.keeperReward);
        await expectSolvent(f.engine, f.token, f.everyone, MARKETS);
      });
    }

    it("lens health factor < 1e18 exactly when the engine would liquidate, around every boundary", async function () {
      const f = await networkHelpers.loadFixture(testMarketFixture);
      const traders = f.extra.slice(0, cases.length);
      for (let i = 0; i < cases.length; i++) await openPosition(f.engine, traders[i], TST, cases[i][1], usd(cases[i][2]));
      const liqs = await Promise.all(traders.map((t) => f.lens.liquidationPrice(t.address, TST)));
      const prices = liqs.flatMap((l) => [l - 1n, l, l + 1n]);
      for (const p of prices) {
        await f.feed.updateAnswer(p);
        for (let i = 0; i < traders.length; i++) {
          const liquidatable = await f.engine.isLiquidatable(traders[i].address, TST);
          const hf = await f.lens.healthFactor(traders[i].address, TST);
          expect(hf < WAD).to.equal(liquidatable, `trader ${i} at ${p}`);
          // and the side of the boundary matches the liquidation price semantics
          const long = cases[i][1] > 0n;
          expect(liquidatable).to.equal(long ? p < liqs[i] : p > liqs[i], `trader ${i} at ${p}`);
        }
      }
    });
  });

  describe("full liquidation", function () {
    it("small position: exact keeper reward, penalty, remainder to trader; position and OI removed", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, lens, token, pool, insurance, alice, bob, keeper } = f;
      await openPosition(engine, alice, ETH, wad(3), usd(150)); // fee 4.5 -> collateral 145.5
      await openPosition(engine, bob, ETH, wad(1), usd(300));
      expect((await engine.getPosition(alice.address, ETH)).collateral).to.equal(usd("145.5"));
      expect(await engine.openPositionCount(ETH)).to.equal(2n);
      expect(await engine.totalOpenNotional()).to.equal(wad(12_000));
      expect((await engine.openInterest(ETH))[0]).to.equal(wad(4));

      await f.ethFeed.updateAnswer(answer(2965));
      // equity 145.5 - 105 - 4.4475 (closing fee) = 36.0525 < MM 44.475
      expect(await lens.equity(alice.address, ETH)).to.equal(wad("36.0525"));
      expect(await lens.maintenanceMargin(alice.address, ETH)).to.equal(wad("44.475"));
      expect(await lens.healthFactor(alice.address, ETH)).to.equal((wad("36.0525") * WAD) / wad("44.475"));

      // pnl -105; reward 0.1% of 8,895 = 8.895; penalty 0.2% = 17.79; trader keeps 40.5 - 8.895 - 17.79 = 13.815
      const tx = engine.connect(keeper).liquidate(alice.address, ETH);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(3), wad(2965), -usd(105), usd("8.895"), usd("17.79"), 0n, usd("13.815"));
      await expect(tx).to.not.emit(engine, "ShortfallCovered");
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance, keeper, alice],
        [-(usd(105) + usd("17.79")), usd(105), usd("17.79"), 0n, 0n],
      );
      expect(await engine.freeBalance(keeper.address)).to.equal(usd("8.895"));
      expect(await engine.freeBalance(alice.address)).to.equal(usd("13.815"));

      const pos = await engine.getPosition(alice.address, ETH);
      expect([pos.size, pos.collateral, pos.entryPrice, pos.index]).to.deep.equal([0n, 0n, 0n, 0n]);
      expect(await engine.openPositionCount(ETH)).to.equal(1n);
      expect(await engine.openPositionAt(ETH, 0)).to.equal(bob.address);
      expect((await engine.getPosition(bob.address, ETH)).index).to.equal(1n);
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(1), 0n]);
      expect(await engine.totalOpenNotional()).to.equal(wad(3000));
      expect(await engine.reservedAssets()).to.equal(usd(600));
      await expect(engine.connect(keeper).liquidate(alice.address, ETH))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(alice.address, ETH);
      await solvent(f);
    });

    it("short position: full liquidation with exact amounts", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, carol, keeper } = f;
      await openPosition(engine, carol, BTC, wad("-0.1"), usd(70)); // fee 3 -> 67
      await f.btcFeed.updateAnswer(answer(60_600));
      // pnl -60; value 7; reward max(5, 6.06) = 6.06; penalty ceil(12.12) capped at 0.94; nothing back
      const tx = engine.connect(keeper).liquidate(carol.address, BTC);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(carol.address, BTC, keeper.address, wad("0.1"), wad(60_600), -usd(60), usd("6.06"), usd("0.94"), 0n, 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, insurance], [-usd("60.94"), usd(60), usd("0.94")]);
      expect(await engine.freeBalance(keeper.address)).to.equal(usd("6.06"));
      expect(await engine.freeBalance(carol.address)).to.equal(0n);
      expect(await engine.openInterest(BTC)).to.deep.equal([0n, 0n]);
      expect(await engine.openPositionCount(BTC)).to.equal(0n);
      expect(await engine.totalOpenNotional()).to.equal(0n);
      await solvent(f);
    });

    it("minimum keeper fee: insurance tops up what the tiny position's equity cannot pay", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, alice, keeper } = f;
      await openPosition(engine, alice, ETH, wad("0.01"), usd(1)); // 30 USD notional, fee 0.015 -> 0.985
      await f.ethFeed.updateAnswer(answer(2910));
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(true);
      // pnl -0.9 leaves 0.085: the keeper gets it all and 4.915 from insurance to reach 5 USD; no penalty
      const tx = engine.connect(keeper).liquidate(alice.address, ETH);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad("0.01"), wad(2910), -usd("0.9"), usd(5), 0n, 0n, 0n);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(alice.address, ETH, 0n, usd("4.915"), usd("4.915"), 0n);
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance],
        [usd("4.915") - usd("0.9"), usd("0.9"), -usd("4.915")],
      );
      expect(await engine.freeBalance(keeper.address)).to.equal(usd(5));
      expect(await engine.freeBalance(alice.address)).to.equal(0n);
      expect(await insurance.balance()).to.equal(usd(100_000) - usd("4.915"));
      await solvent(f);
    });

    it("bad debt: insurance pays it, the trader loses exactly the position's collateral", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, alice, keeper } = f;
      await engine.connect(alice).deposit(usd(1000)); // stays free
      await openPosition(engine, alice, ETH, wad(3), usd(150)); // collateral 145.5
      await f.ethFeed.updateAnswer(answer(2900));
      // value 145.5 - 300 = -154.5; reward 8.7 entirely topped up
      const tx = engine.connect(keeper).liquidate(alice.address, ETH);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(3), wad(2900), -usd(300), usd("8.7"), 0n, 0n, 0n);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(alice.address, ETH, usd("154.5"), usd("8.7"), usd("163.2"), 0n);
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance, alice],
        [-usd("136.8"), usd(300), -usd("163.2"), 0n],
      );
      expect(await engine.freeBalance(alice.address)).to.equal(usd(1000));
      expect(await engine.freeBalance(keeper.address)).to.equal(usd("8.7"));
      await solvent(f);
    });

    it("bad debt beyond the insurance fund: the pool covers the rest", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, alice, keeper } = f;
      // 3M USD notional: IM 123,250; fee 1,500 -> collateral 128,500
      await openPosition(engine, alice, ETH, wad(1000), usd(130_000));
      expect((await engine.getPosition(alice.address, ETH)).collateral).to.equal(usd(128_500));
      await f.ethFeed.updateAnswer(answer(2700));
      // value 128,500 - 300,000 = -171,500; reward capped at 1,000; shortfall 172,500 = 100,000 + 72,500
      const tx = engine.connect(keeper).liquidate(alice.address, ETH);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(1000), wad(2700), -usd(300_000), usd(1000), 0n, 0n, 0n);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(alice.address, ETH, usd(171_500), usd(1000), usd(100_000), usd(72_500));
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance],
        [-usd(127_500), usd(300_000) - usd(72_500), -usd(100_000)],
      );
      expect(await insurance.balance()).to.equal(0n);
      expect(await engine.freeBalance(alice.address)).to.equal(0n);
      expect(await engine.freeBalance(keeper.address)).to.equal(usd(1000));
      await solvent(f);
    });

    it("notional exactly at the full-liquidation threshold is closed in full; one wei more is partial", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice, bob, keeper } = f;
      await f.ethFeed.updateAnswer(answer(2520));
      await openPosition(engine, alice, ETH, wad(4), usd(120));
      await openPosition(engine, bob, ETH, wad(4) + 1n, usd(120));
      await f.ethFeed.updateAnswer(answer(2500)); // alice: notional exactly 10,000
      const ctxA = await readCtx(engine, alice.address, ETH);
      const ctxB = await readCtx(engine, bob.address, ETH);
      const planA = planLiquidation(ctxA, wad(2500));
      const planB = planLiquidation(ctxB, wad(2500));
      expect(planA.full).to.equal(true);
      expect(planB.full).to.equal(false);

      await expect(engine.connect(keeper).liquidate(alice.address, ETH))
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(4), wad(2500), -usd(80), usd(10), usd(20), 0n, ctxA.collateral - usd(80) - usd(30));
      const txB = await engine.connect(keeper).liquidate(bob.address, ETH);
      const { args } = await expectLiquidationPerSpec(f, txB, ctxB, bob.address, ETH, wad(2500));
      expect(args.remainingSize).to.be.greaterThan(0n);
      expect((await engine.getPosition(bob.address, ETH)).size).to.equal(args.remainingSize);
      await solvent(f);
    });

    it("large position with positive equity but no remainder able to reach the target is closed in full", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, alice, keeper } = f;
      await openPosition(engine, alice, ETH, wad(10), usd(400)); // 30k notional, collateral 385
      await f.ethFeed.updateAnswer(answer(2965));
      expect(await f.lens.equity(alice.address, ETH)).to.equal(wad("20.175")); // > 0
      // value 35: reward 29.65, penalty capped at 5.35, nothing left for the trader
      const tx = engine.connect(keeper).liquidate(alice.address, ETH);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(10), wad(2965), -usd(350), usd("29.65"), usd("5.35"), 0n, 0n);
      await expect(tx).to.not.emit(engine, "ShortfallCovered");
      await expect(tx).to.changeTokenBalances(ethers, token, [pool, insurance], [usd(350), usd("5.35")]);
      await solvent(f);
    });

    it("deep shortfall on a large position is a full liquidation with bad debt", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice, keeper } = f;
      await openPosition(engine, alice, ETH, wad(10), usd(400)); // collateral 385
      await f.ethFeed.updateAnswer(answer(2900));
      const tx = engine.connect(keeper).liquidate(alice.address, ETH);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(10), wad(2900), -usd(1000), usd(29), 0n, 0n, 0n);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(alice.address, ETH, usd(615), usd(29), usd(644), 0n);
      expect((await engine.getPosition(alice.address, ETH)).size).to.equal(0n);
      expect(await engine.openPositionCount(ETH)).to.equal(0n);
      await solvent(f);
    });
  });

  describe("partial liquidation", function () {
    async function longPartialFixture() {
      const f = await protocolFixture();
      await openPosition(f.engine, f.alice, ETH, wad(10), usd(400)); // 30k notional, collateral 385
      await f.ethFeed.updateAnswer(answer(2977));
      return { ...f, trader: f.alice, market: ETH, price: wad(2977) };
    }

    async function shortPartialFixture() {
      const f = await protocolFixture();
      await openPosition(f.engine, f.carol, BTC, wad(-1), usd(1000)); // 60k notional (two tiers), collateral 970
      await f.btcFeed.updateAnswer(answer(60_600));
      return { ...f, trader: f.carol, market: BTC, price: wad(60_600) };
    }

    async function checkPartial(f: F, trader: any, market: string, price: bigint) {
      const { engine, lens, token, pool, insurance, keeper } = f;
      const ctx = await readCtx(engine, trader.address, market);
      const hfBefore = await lens.healthFactor(trader.address, market);
      expect(hfBefore).to.be.lessThan(WAD);
      expect(hfBefore).to.be.greaterThan(wad("0.9"));
      expect(planLiquidation(ctx, price).full).to.equal(false);
      const absSize = ctx.size < 0n ? -ctx.size : ctx.size;
      const [oiLong, oiShort] = await engine.openInterest(market);
      const ton = await engine.totalOpenNotional();

      const tx = await engine.connect(keeper).liquidate(trader.address, market);
      const { args, plan } = await expectLiquidationPerSpec(f, tx, ctx, trader.address, market, price);
      await expect(tx).to.not.emit(engine, "ShortfallCovered");
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance],
        [plan.realizedPnl - plan.penalty, -plan.realizedPnl, plan.penalty],
      );
      const remaining = absSize - args.closedSize;
      const pos = await engine.getPosition(trader.address, market);
      expect(pos.size).to.equal(args.remainingSize);
      expect(pos.collateral).to.equal(plan.remainingCollateral - plan.keeperReward - plan.penalty);
      expect(pos.entryPrice).to.equal(ctx.entryPrice);
      expect(remaining).to.be.greaterThan(0n);
      expect((remaining * price) / WAD).to.be.greaterThanOrEqual(RISK_PARAMS.minPositionNotional);
      // Health restored to the target at the same price, and no more than needed closed.
      const hf = await lens.healthFactor(trader.address, market);
      expect(hf).to.be.greaterThanOrEqual(wad("1.25"));
      expect(hf).to.be.lessThan(wad("1.26"));
      expect(await engine.isLiquidatable(trader.address, market)).to.equal(false);
      expect(await engine.freeBalance(keeper.address)).to.equal(plan.keeperReward);
      expect(await engine.freeBalance(trader.address)).to.equal(0n);
      if (ctx.size > 0n) expect(await engine.openInterest(market)).to.deep.equal([oiLong - args.closedSize, oiShort]);
      else expect(await engine.openInterest(market)).to.deep.equal([oiLong, oiShort - args.closedSize]);
      const up = (x: bigint) => (x + WAD - 1n) / WAD;
      expect(await engine.totalOpenNotional()).to.equal(ton - up(absSize * ctx.entryPrice) + up(remaining * ctx.entryPrice));
      // a second call finds the position healthy
      await expect(engine.connect(keeper).liquidate(trader.address, market)).to.be.revertedWithCustomError(
        engine,
        "PerpPositionHealthy",
      );
      await solvent(f);
      return { args, plan };
    }

    it("long above the full-liquidation notional slightly below HF 1 is reduced to the target", async function () {
      const f = await networkHelpers.loadFixture(longPartialFixture);
      const { args, plan } = await checkPartial(f, f.trader, f.market, f.price);
      // hand check: 23 USD lost per ETH closed (floor), reward 0.1% of 2,977 per ETH (floor), penalty 0.2% (ceil)
      const q = 10n ** 12n;
      expect(plan.realizedPnl).to.equal(-((args.closedSize * 23n + q - 1n) / q));
      expect(plan.keeperReward).to.equal((args.closedSize * 2977n) / 1000n / q);
      expect(plan.penalty).to.equal((args.closedSize * 2977n * 2n + 1000n * q - 1n) / (1000n * q));
    });

    it("short crossing the 50k tier is reduced to the target", async function () {
      const f = await networkHelpers.loadFixture(shortPartialFixture);
      await checkPartial(f, f.trader, f.market, f.price);
    });

    for (const [label, fixture] of [
      ["long", longPartialFixture],
      ["short", shortPartialFixture],
    ] as const) {
      it(`${label}: the remainder is the largest meeting the target, to within one token unit of notional`, async function () {
        const f = await networkHelpers.loadFixture(fixture);
        const ctx = await readCtx(f.engine, f.trader.address, f.market);
        const absSize = ctx.size < 0n ? -ctx.size : ctx.size;
        const tx = await f.engine.connect(f.keeper).liquidate(f.trader.address, f.market);
        const [ev] = await liquidatedEvents(f, tx);
        const remaining = absSize - ev.args.closedSize;
        // RiskLib stops the search at the size worth one collateral-token unit of notional (docs/decisions.md).
        const tolerance = (SCALE * WAD) / f.price > 1n ? (SCALE * WAD) / f.price : 1n;
        expect(meetsTarget(ctx, f.price, remaining), "remainder meets the target").to.equal(true);
        expect(
          meetsTarget(ctx, f.price, remaining + tolerance),
          `remainder ${remaining} + ${tolerance} must miss the target (closed ${ev.args.closedSize} at ${f.price})`,
        ).to.equal(false);
      });
    }
  });

  describe("batch", function () {
    async function batchFixture() {
      const f = await protocolFixture();
      const [x] = f.extra;
      await openPosition(f.engine, f.alice, ETH, wad(3), usd(150)); // liquidatable at 2965
      await openPosition(f.engine, f.bob, ETH, wad(1), usd(300)); // healthy
      await openPosition(f.engine, f.carol, BTC, wad("-0.1"), usd(70)); // liquidatable at 60,600
      await openPosition(f.engine, x, BTC, wad("-0.1"), usd(500)); // healthy
      return { ...f, x };
    }

    it("liquidates only the unhealthy positions across two markets and sums the keeper rewards", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, alice, bob, carol, x } = f;
      await f.ethFeed.updateAnswer(answer(2965));
      await f.btcFeed.updateAnswer(answer(60_600));
      const accounts = [alice.address, bob.address, carol.address, x.address, keeper.address, alice.address];
      const markets = [ETH, ETH, BTC, BTC, ETH, UNLISTED];
      expect(await engine.connect(keeper).liquidateBatch.staticCall(accounts, markets)).to.equal(2n);
      const tx = await engine.connect(keeper).liquidateBatch(accounts, markets);
      const events = await liquidatedEvents(f, tx);
      expect(events.map((e: any) => e.args.account)).to.deep.equal([alice.address, carol.address]);
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(3), wad(2965), -usd(105), usd("8.895"), usd("17.79"), 0n, usd("13.815"));
      await expect(tx)
        .to.emit(engine, "PositionLiquidated")
        .withArgs(carol.address, BTC, keeper.address, wad("0.1"), wad(60_600), -usd(60), usd("6.06"), usd("0.94"), 0n, 0n);
      await expect(tx).to.changeTokenBalances(
        ethers,
        f.token,
        [f.pool, f.insurance],
        [usd(105) + usd(60), usd("17.79") + usd("0.94")],
      );
      expect(await engine.freeBalance(keeper.address)).to.equal(usd("8.895") + usd("6.06"));
      expect((await engine.getPosition(bob.address, ETH)).size).to.equal(wad(1));
      expect((await engine.getPosition(x.address, BTC)).size).to.equal(-wad("0.1"));
      expect(await engine.openPositionCount(ETH)).to.equal(1n);
      expect(await engine.openPositionCount(BTC)).to.equal(1n);
      await solvent(f);
    });

    it("a duplicate entry is liquidated once", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      await f.ethFeed.updateAnswer(answer(2965));
      const accounts = [f.alice.address, f.alice.address];
      const tx = await f.engine.connect(f.keeper).liquidateBatch(accounts, [ETH, ETH]);
      expect((await liquidatedEvents(f, tx)).length).to.equal(1);
      expect(await f.engine.freeBalance(f.keeper.address)).to.equal(usd("8.895"));
      await solvent(f);
    });

    it("batch shortfalls draw on insurance (including penalties collected earlier in the batch), then the pool", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, alice, bob, keeper } = f;
      await openPosition(engine, alice, ETH, wad(3), usd(150));
      await openPosition(engine, bob, ETH, wad(1000), usd(130_000)); // bad debt at 2700
      await f.ethFeed.updateAnswer(answer(2700));
      // at 2700 alice is underwater too: value 145.5 - 900 = -754.5, reward 8.1
      const tx = engine.connect(keeper).liquidateBatch([alice.address, bob.address], [ETH, ETH]);
      await expect(tx).to.emit(engine, "ShortfallCovered").withArgs(alice.address, ETH, usd("754.5"), usd("8.1"), usd("762.6"), 0n);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(bob.address, ETH, usd(171_500), usd(1000), usd(100_000) - usd("762.6"), usd(72_500) + usd("762.6"));
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [insurance, pool],
        [-usd(100_000), usd(900) + usd(300_000) - usd(72_500) - usd("762.6")],
      );
      expect(await engine.freeBalance(keeper.address)).to.equal(usd("8.1") + usd(1000));
      await solvent(f);
    });

    it("reverts PerpNothingLiquidated when every position is healthy, empty or unpriceable", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, alice, bob, carol, x } = f;
      await expect(
        engine.connect(keeper).liquidateBatch([alice.address, bob.address, carol.address, x.address], [ETH, ETH, BTC, BTC]),
      ).to.be.revertedWithCustomError(engine, "PerpNothingLiquidated");
      await expect(engine.connect(keeper).liquidateBatch([], [])).to.be.revertedWithCustomError(
        engine,
        "PerpNothingLiquidated",
      );
      await expect(
        engine.connect(keeper).liquidateBatch([keeper.address, alice.address], [ETH, UNLISTED]),
      ).to.be.revertedWithCustomError(engine, "PerpNothingLiquidated");
    });

    it("reverts PerpLengthMismatch on unequal arrays", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      await expect(f.engine.connect(f.keeper).liquidateBatch([f.alice.address, f.bob.address], [ETH]))
        .to.be.revertedWithCustomError(f.engine, "PerpLengthMismatch")
        .withArgs(2n, 1n);
      await expect(f.engine.connect(f.keeper).liquidateBatch([f.alice.address], [ETH, BTC]))
        .to.be.revertedWithCustomError(f.engine, "PerpLengthMismatch")
        .withArgs(1n, 2n);
    });

    it("skips a market whose oracle is stale", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, alice, carol } = f;
      await f.btcFeed.updateAnswer(answer(60_600));
      await networkHelpers.time.increase(3601);
      await f.ethFeed.updateAnswer(answer(2965)); // ETH fresh, BTC stale
      const btcUpdatedAt = (await f.btcFeed.latestRoundData())[3];
      expect(await engine.isLiquidatable(carol.address, BTC)).to.equal(false);
      const tx = await engine.connect(keeper).liquidateBatch([carol.address, alice.address], [BTC, ETH]);
      const events = await liquidatedEvents(f, tx);
      expect(events.map((e: any) => e.args.account)).to.deep.equal([alice.address]);
      expect((await engine.getPosition(carol.address, BTC)).size).to.equal(-wad("0.1"));
      await expect(engine.connect(keeper).liquidate(carol.address, BTC))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(BTC, btcUpdatedAt, 3600);
      await expect(engine.connect(keeper).liquidateBatch([carol.address], [BTC])).to.be.revertedWithCustomError(
        engine,
        "PerpNothingLiquidated",
      );
      await solvent(f);
    });
  });

  describe("oracle conditions", function () {
    async function liquidatableFixture() {
      const f = await protocolFixture();
      await openPosition(f.engine, f.alice, ETH, wad(3), usd(150));
      await f.ethFeed.updateAnswer(answer(2965));
      return f;
    }

    it("reverts on a stale price", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      const updatedAt = (await f.ethFeed.latestRoundData())[3];
      await networkHelpers.time.increaseTo(updatedAt + 3600n);
      // age == heartbeat is still fresh
      expect(await f.engine.isLiquidatable(f.alice.address, ETH)).to.equal(true);
      await networkHelpers.time.increaseTo(updatedAt + 3601n);
      expect(await f.engine.isLiquidatable(f.alice.address, ETH)).to.equal(false);
      await expect(f.engine.connect(f.keeper).liquidate(f.alice.address, ETH))
        .to.be.revertedWithCustomError(f.engine, "OracleStale")
        .withArgs(ETH, updatedAt, 3600);
    });

    it("reverts on an invalid or out-of-bounds answer", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      await f.ethFeed.updateAnswer(0);
      await expect(f.engine.connect(f.keeper).liquidate(f.alice.address, ETH))
        .to.be.revertedWithCustomError(f.engine, "OracleInvalidAnswer")
        .withArgs(ETH, 0n);
      await f.ethFeed.updateAnswer(-1);
      await expect(f.engine.connect(f.keeper).liquidate(f.alice.address, ETH))
        .to.be.revertedWithCustomError(f.engine, "OracleInvalidAnswer")
        .withArgs(ETH, -1n);
      await f.ethFeed.updateAnswer(answer("0.5")); // below minPrice 1 USD: deeply liquidatable but unpriceable
      await expect(f.engine.connect(f.keeper).liquidate(f.alice.address, ETH))
        .to.be.revertedWithCustomError(f.engine, "OracleOutOfBounds")
        .withArgs(ETH, wad("0.5"), wad(1), wad(1_000_000));
    });

    it("reverts while the sequencer is down and during the grace period, works after it", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      const { engine, keeper, alice } = f;
      const seq = await ethers.deployContract("MockV3Aggregator", [0, 0]);
      await engine.setSequencerConfig(seq, 3600);
      const now = BigInt(await networkHelpers.time.latest());
      await seq.updateRoundData(2, 0, now, now); // restarted now
      await f.ethFeed.updateAnswer(answer(2965));
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(false);
      await expect(engine.connect(keeper).liquidate(alice.address, ETH))
        .to.be.revertedWithCustomError(engine, "OracleGracePeriod")
        .withArgs(ETH, now + 3600n);
      await expect(engine.connect(keeper).liquidateBatch([alice.address], [ETH])).to.be.revertedWithCustomError(
        engine,
        "PerpNothingLiquidated",
      );

      await seq.updateRoundData(3, 1, now, now); // down
      await expect(engine.connect(keeper).liquidate(alice.address, ETH))
        .to.be.revertedWithCustomError(engine, "OracleSequencerDown")
        .withArgs(ETH);

      await seq.updateRoundData(4, 0, now, now); // up again since `now`
      await networkHelpers.time.increaseTo(now + 3600n);
      await f.ethFeed.updateAnswer(answer(2965));
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(true);
      await expect(engine.connect(keeper).liquidate(alice.address, ETH)).to.emit(engine, "PositionLiquidated");
      await solvent(f);
    });

    it("works while the market and the protocol are paused", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      const { engine, guardian, keeper, alice, bob } = f;
      await engine.connect(guardian).setMarketPaused(ETH, true);
      await engine.connect(guardian).setGlobalPaused(true);
      await engine.connect(bob).deposit(usd(100));
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), MAX_UINT))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(ETH);
      await expect(engine.connect(keeper).liquidate(alice.address, ETH))
        .to.emit(engine, "PositionLiquidated")
        .withArgs(alice.address, ETH, keeper.address, wad(3), wad(2965), -usd(105), usd("8.895"), usd("17.79"), 0n, usd("13.815"));
      await solvent(f);
    });

    it("reverts for an empty position and an unknown market", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      await expect(f.engine.connect(f.keeper).liquidate(f.bob.address, ETH))
        .to.be.revertedWithCustomError(f.engine, "PerpNoPosition")
        .withArgs(f.bob.address, ETH);
      await expect(f.engine.connect(f.keeper).liquidate(f.alice.address, UNLISTED))
        .to.be.revertedWithCustomError(f.engine, "PerpUnknownMarket")
        .withArgs(UNLISTED);
    });
  });
});
