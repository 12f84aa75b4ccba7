import { expect } from "chai";
import { network } from "hardhat";

import { BTC, ETH, answer, deployProtocol, usd, wad } from "./helpers/fixture.js";
import {
  type Ctx,
  MAX_UINT,
  WAD,
  abs,
  closingFee36,
  divUp,
  floorDiv,
  health36,
  healthFactor,
  liquidationPrice as modelLiquidationPrice,
  openPosition,
  readCtx,
  requirement36,
} from "./helpers/liquidation-helpers.js";

const { ethers, networkHelpers } = await network.create();

const OK = 0n;
const STALE = 1n;
const INVALID_ANSWER = 2n;
const OUT_OF_BOUNDS = 3n;

async function protocolFixture() {
  const p = await deployProtocol(ethers);
  const signers = await ethers.getSigners();
  const extra = signers.slice(7, 10);
  for (const s of extra) {
    await p.token.mint(s.address, usd(1_000_000));
    await p.token.connect(s).approve(p.engine, ethers.MaxUint256);
  }
  return { ...p, extra };
}

/** Four positions: alice long ETH, bob short ETH (fractional), carol long BTC (two tiers), x long ETH. */
async function positionsFixture() {
  const f = await protocolFixture();
  const [x] = f.extra;
  await openPosition(f.engine, f.alice, ETH, wad(2), usd(100));
  await openPosition(f.engine, f.bob, ETH, -wad("0.333333333333333333"), usd(20));
  await openPosition(f.engine, f.carol, BTC, wad(1), usd(1000));
  await openPosition(f.engine, x, ETH, wad("0.5"), usd(50));
  return { ...f, x };
}

/** The health record the lens must produce for `ctx` at `price`, from the independent model. */
function expectedHealth(ctx: Ctx, price: bigint, status: bigint) {
  const n36 = abs(ctx.size) * price;
  const { e36, mm36 } = health36(ctx, price);
  return {
    size: ctx.size,
    entryPrice: ctx.entryPrice,
    collateral: ctx.collateral * ctx.scale,
    price,
    notional: divUp(n36, WAD),
    pnl: floorDiv(ctx.size * (price - ctx.entryPrice), WAD),
    fundingOwed: ctx.fundingOwed,
    closingFee: divUp(closingFee36(ctx, n36), WAD),
    equity: floorDiv(e36, WAD),
    maintenanceMargin: divUp(mm36, WAD),
    initialMargin: divUp(requirement36(ctx.tiers, n36, true), WAD),
    healthFactor: healthFactor(e36, mm36),
    liquidationPrice: modelLiquidationPrice(ctx),
    liquidatable: e36 < mm36,
    oracleStatus: status,
  };
}

const asObject = (h: any) => ({
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
  oracleStatus: h.oracleStatus,
});

describe("TidemarkLens", function () {
  describe("positionHealth", function () {
    it("reports a two-tier long computed by hand", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, carol } = f;
      await f.btcFeed.updateAnswer(answer(61_000));
      // 1 BTC bought at 60,000 with 1,000 USD; fee 30 -> collateral 970
      // notional 61,000; pnl +1,000; closing fee 30.5; equity 1,939.5
      // MM = 0.5% * 50,000 + 1% * 11,000 = 360; IM = 1% * 50,000 + 2% * 11,000 = 720
      const h = await lens.positionHealth(carol.address, BTC);
      expect(h.size).to.equal(wad(1));
      expect(h.entryPrice).to.equal(wad(60_000));
      expect(h.collateral).to.equal(wad(970));
      expect(h.price).to.equal(wad(61_000));
      expect(h.notional).to.equal(wad(61_000));
      expect(h.pnl).to.equal(wad(1000));
      expect(h.fundingOwed).to.equal(0n);
      expect(h.closingFee).to.equal(wad("30.5"));
      expect(h.equity).to.equal(wad("1939.5"));
      expect(h.maintenanceMargin).to.equal(wad(360));
      expect(h.initialMargin).to.equal(wad(720));
      expect(h.healthFactor).to.equal(wad("5.3875")); // 1,939.5 / 360
      expect(h.liquidatable).to.equal(false);
      expect(h.oracleStatus).to.equal(OK);
      // liquidation price: 970 + (p - 60,000) - 0.0005 p = 250 + 0.01 (p - 50,000)  =>  p = 58,780 / 0.9895
      const ctx = await readCtx(f.engine, carol.address, BTC);
      expect(h.liquidationPrice).to.equal(modelLiquidationPrice(ctx));
      expect(h.liquidationPrice).to.equal(divUp(wad(58_780) * WAD, wad("0.9895")));

      expect(await lens.equity(carol.address, BTC)).to.equal(wad("1939.5"));
      expect(await lens.maintenanceMargin(carol.address, BTC)).to.equal(wad(360));
      expect(await lens.initialMargin(carol.address, BTC)).to.equal(wad(720));
      expect(await lens.healthFactor(carol.address, BTC)).to.equal(wad("5.3875"));
      expect(await lens.liquidationPrice(carol.address, BTC)).to.equal(h.liquidationPrice);
    });

    it("rounds every field in the protocol's favour (fractional short with a loss)", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, engine, bob } = f;
      const price = wad("3000.12345678");
      await f.ethFeed.updateAnswer(answer("3000.12345678"));
      const ctx = await readCtx(engine, bob.address, ETH);
      // open fee ceil(0.333.. * 3000 * 0.0005) = ceil(0.4999999...) = 0.5 USD -> collateral 19.5
      expect(ctx.collateral).to.equal(usd("19.5"));
      const h = asObject(await lens.positionHealth(bob.address, ETH));
      expect(h).to.deep.equal(expectedHealth(ctx, price, OK));
      // the loss is not a whole number of wei: pnl rounds down (more negative), equity down, fee and margins up
      const exactPnl36 = ctx.size * (price - ctx.entryPrice);
      expect(exactPnl36 % WAD).to.not.equal(0n);
      expect(h.pnl).to.equal(exactPnl36 / WAD - 1n);
      expect(h.notional).to.equal((abs(ctx.size) * price) / WAD + 1n);
      expect(h.maintenanceMargin * WAD).to.be.greaterThan((abs(ctx.size) * price * wad("0.005")) / WAD);
      const { e36 } = health36(ctx, price);
      expect(e36 % WAD).to.not.equal(0n);
      expect(h.equity).to.equal(floorDiv(e36, WAD));
      expect(h.equity * WAD).to.be.lessThan(e36);
    });

    it("matches positionHealthAt and the engine's liquidation predicate at arbitrary prices", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, engine, alice, bob, carol, x } = f;
      for (const [acct, market] of [
        [alice, ETH],
        [bob, ETH],
        [carol, BTC],
        [x, ETH],
      ] as const) {
        const ctx = await readCtx(engine, acct.address, market);
        for (const price of [wad(1), wad("2950.5"), wad(3000), wad("3050.123456789"), wad(59_000), wad(61_234)]) {
          const h = asObject(await lens.positionHealthAt(acct.address, market, price));
          expect(h).to.deep.equal(expectedHealth(ctx, price, OK));
          expect(h.healthFactor < WAD).to.equal(h.liquidatable);
        }
      }
    });

    it("reports an empty position", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const h = asObject(await f.lens.positionHealth(f.keeper.address, ETH));
      expect(h).to.deep.equal({
        size: 0n,
        entryPrice: 0n,
        collateral: 0n,
        price: wad(3000),
        notional: 0n,
        pnl: 0n,
        fundingOwed: 0n,
        closingFee: 0n,
        equity: 0n,
        maintenanceMargin: 0n,
        initialMargin: 0n,
        healthFactor: MAX_UINT,
        liquidationPrice: 0n,
        liquidatable: false,
        oracleStatus: OK,
      });
      expect(await f.lens.healthFactor(f.keeper.address, ETH)).to.equal(MAX_UINT);
      expect(await f.lens.liquidationPrice(f.keeper.address, ETH)).to.equal(0n);
    });

    it("reverts LensNoPrice when the answer is zero or negative; other views keep working", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, alice } = f;
      const liq = await lens.liquidationPrice(alice.address, ETH);
      for (const a of [0n, -1n, -answer(3000)]) {
        await f.ethFeed.updateAnswer(a);
        for (const view of [lens.positionHealth, lens.equity, lens.maintenanceMargin, lens.initialMargin, lens.healthFactor]) {
          await expect(view(alice.address, ETH)).to.be.revertedWithCustomError(lens, "LensNoPrice").withArgs(ETH);
        }
        expect(await lens.liquidationPrice(alice.address, ETH)).to.equal(liq);
        expect((await lens.positionHealthAt(alice.address, ETH, wad(3000))).price).to.equal(wad(3000));
      }
      // the other market is unaffected
      expect((await lens.positionHealth(f.carol.address, BTC)).price).to.equal(wad(60_000));
    });

    it("reports a stale or out-of-bounds oracle status with the price it read", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, engine, alice } = f;
      const ctx = await readCtx(engine, alice.address, ETH);
      await f.ethFeed.updateAnswer(answer(2960));
      await networkHelpers.time.increase(3601);
      const stale = asObject(await lens.positionHealth(alice.address, ETH));
      expect(stale).to.deep.equal(expectedHealth(ctx, wad(2960), STALE));
      expect(stale.liquidatable).to.equal(true); // at that price, although the engine cannot liquidate now
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(false);

      await f.ethFeed.updateAnswer(answer("0.5"));
      expect(asObject(await lens.positionHealth(alice.address, ETH))).to.deep.equal(
        expectedHealth(ctx, wad("0.5"), OUT_OF_BOUNDS),
      );
    });

    it("a long evaluated at price 0 has health factor 0 and is liquidatable (HF < 1 exactly when liquidatable)", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const h = await f.lens.positionHealthAt(f.alice.address, ETH, 0n);
      // 2 ETH bought at 3,000 with collateral 97: equity at 0 is 97 - 6,000
      expect(h.equity).to.equal(wad(97) - wad(6000));
      expect(h.maintenanceMargin).to.equal(0n);
      expect(h.liquidatable).to.equal(true);
      expect(h.healthFactor).to.equal(0n);
    });

    it("liquidation price is 0 for a long that is safe at every price", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      await openPosition(f.engine, f.alice, ETH, wad("0.01"), usd(100)); // 30 USD notional, 100 USD collateral
      expect(await f.lens.liquidationPrice(f.alice.address, ETH)).to.equal(0n);
      const h = await f.lens.positionHealthAt(f.alice.address, ETH, 1n);
      expect(h.liquidatable).to.equal(false);
    });
  });

  describe("tiered margin continuity", function () {
    it("MM and IM are continuous across tier floors and step by the marginal rates", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, carol } = f; // 1 BTC: notional == price
      const at = async (price: bigint) => {
        const h = await lens.positionHealthAt(carol.address, BTC, price);
        return [h.maintenanceMargin, h.initialMargin];
      };
      // exactly at 50k: all in tier 0
      expect(await at(wad(50_000))).to.deep.equal([wad(250), wad(500)]);
      // one wei of notional either side: rounded up to the next wei at most
      expect(await at(wad(50_000) - 1n)).to.deep.equal([wad(250), wad(500)]);
      expect(await at(wad(50_000) + 1n)).to.deep.equal([wad(250) + 1n, wad(500) + 1n]);
      // one USD either side: 0.5% below the floor, 1% (MM) / 2% (IM) above it
      const [mmBelow, imBelow] = await at(wad(49_999));
      const [mmAbove, imAbove] = await at(wad(50_001));
      expect([mmBelow, imBelow]).to.deep.equal([wad("249.995"), wad("499.99")]);
      expect([mmAbove, imAbove]).to.deep.equal([wad("250.01"), wad("500.02")]);
      expect(mmAbove - mmBelow).to.equal(wad("0.005") + wad("0.01"));
      expect(imAbove - imBelow).to.equal(wad("0.01") + wad("0.02"));
      // further floors: the requirement at a floor is the sum of the tiers below it
      expect(await at(wad(250_000))).to.deep.equal([wad(2250), wad(4500)]);
      expect(await at(wad(250_000) + 1n)).to.deep.equal([wad(2250) + 1n, wad(4500) + 1n]);
      expect(await at(wad(1_000_000))).to.deep.equal([wad(11_625), wad(23_250)]);
      expect(await at(wad(2_000_000))).to.deep.equal([wad(36_625), wad(73_250)]);
    });
  });

  describe("healthBatch", function () {
    it("matches positionHealth across two markets, including an empty position", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, alice, bob, carol, keeper } = f;
      await f.ethFeed.updateAnswer(answer(2960));
      await f.btcFeed.updateAnswer(answer(59_500));
      const keys = [
        { account: alice.address, market: ETH },
        { account: carol.address, market: BTC },
        { account: bob.address, market: ETH },
        { account: keeper.address, market: ETH },
        { account: alice.address, market: ETH },
      ];
      const batch = await lens.healthBatch(keys);
      expect(batch.length).to.equal(keys.length);
      for (let i = 0; i < keys.length; i++) {
        expect(asObject(batch[i])).to.deep.equal(asObject(await lens.positionHealth(keys[i].account, keys[i].market)));
        expect(batch[i].liquidatable).to.equal(await f.engine.isLiquidatable(keys[i].account, keys[i].market));
      }
      expect(batch[0].liquidatable).to.equal(true); // alice: 2 ETH, 97 collateral, at 2,960
      expect(batch[3].healthFactor).to.equal(MAX_UINT);
      expect(await lens.healthBatch([])).to.deep.equal([]);
    });

    it("entries on a market whose answer is 0 come back with price 0 and liquidatable false", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, engine, alice, carol } = f;
      await f.ethFeed.updateAnswer(answer(2960)); // alice liquidatable on ETH
      await f.btcFeed.updateAnswer(0);
      const ctx = await readCtx(engine, carol.address, BTC);
      const batch = await lens.healthBatch([
        { account: carol.address, market: BTC },
        { account: alice.address, market: ETH },
        { account: f.keeper.address, market: BTC },
      ]);
      expect(asObject(batch[0])).to.deep.equal({
        size: wad(1),
        entryPrice: wad(60_000),
        collateral: wad(970),
        price: 0n,
        notional: 0n,
        pnl: 0n,
        fundingOwed: 0n,
        closingFee: 0n,
        equity: 0n,
        maintenanceMargin: 0n,
        initialMargin: 0n,
        healthFactor: 0n,
        liquidationPrice: modelLiquidationPrice(ctx),
        liquidatable: false,
        oracleStatus: INVALID_ANSWER,
      });
      expect(batch[0].liquidationPrice).to.equal(await lens.liquidationPrice(carol.address, BTC));
      expect(asObject(batch[1])).to.deep.equal(asObject(await lens.positionHealth(alice.address, ETH)));
      expect(batch[1].liquidatable).to.equal(true);
      expect(batch[2].size).to.equal(0n);
      expect(batch[2].price).to.equal(0n);
      expect(batch[2].oracleStatus).to.equal(INVALID_ANSWER);
      await expect(lens.positionHealth(carol.address, BTC)).to.be.revertedWithCustomError(lens, "LensNoPrice").withArgs(BTC);
    });
  });

  describe("openPositions", function () {
    it("paginates, including offsets and limits beyond the total", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const { lens, alice, bob, x } = f;
      const all = [alice.address, bob.address, x.address];
      const page = async (offset: number, limit: number) => {
        const [accounts, total] = await lens.openPositions(ETH, offset, limit);
        return [[...accounts], total];
      };
      expect(await page(0, 10)).to.deep.equal([all, 3n]);
      expect(await page(0, 2)).to.deep.equal([all.slice(0, 2), 3n]);
      expect(await page(2, 2)).to.deep.equal([all.slice(2), 3n]);
      expect(await page(1, 1)).to.deep.equal([[bob.address], 3n]);
      expect(await page(0, 0)).to.deep.equal([[], 3n]);
      expect(await page(3, 1)).to.deep.equal([[], 3n]);
      expect(await page(10, 5)).to.deep.equal([[], 3n]);
      expect(await page(0, 3)).to.deep.equal([all, 3n]);
      const [btc, btcTotal] = await lens.openPositions(BTC, 0, 10);
      expect([[...btc], btcTotal]).to.deep.equal([[f.carol.address], 1n]);

      // closing the first position moves the last one into its slot
      await f.engine.connect(alice).closePosition(ETH, 0n);
      expect(await page(0, 10)).to.deep.equal([[x.address, bob.address], 2n]);
    });

    it("accepts a limit of type(uint256).max (\"all from offset\")", async function () {
      const f = await networkHelpers.loadFixture(positionsFixture);
      const [accounts, total] = await f.lens.openPositions(ETH, 1, ethers.MaxUint256);
      expect([[...accounts], total]).to.deep.equal([[f.bob.address, f.x.address], 3n]);
    });
  });
});
