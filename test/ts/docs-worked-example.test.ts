/**
 * The worked example of docs/risk.md, checked against the contracts: a 10x long (one tier, IMR 10%, MMR 0.5%, no
 * taker fee, no funding, no price impact) of 1 unit opened at 2,000 USD with 200 USD of collateral. The liquidation
 * price the lens computes must be the exact figure printed in the doc, so the doc and the contracts cannot drift apart.
 */
import { readFile } from "node:fs/promises";

import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { network } from "hardhat";

import { liquidationPrice as sdkLiquidationPrice } from "../../sdk/src/math/index.js";
import { EXPOSURE_PARAMS, FEED_DECIMALS, WAD, answer, deployProtocol, oracleConfig, usd, wad } from "./helpers/fixture.js";

const { ethers, networkHelpers } = await network.create();

/** The example's own market, so its parameters do not depend on the fixture's ETH and BTC markets. */
const EXAMPLE = encodeBytes32String("EXAMPLE-USD");
const ENTRY = wad(2_000);
const SIZE = wad(1);
const COLLATERAL = usd(200);

/** One tier for every notional: IMR 10% (10x), MMR 0.5%. */
const EXAMPLE_TIERS = [{ notionalFloor: 0n, imr: wad("0.1"), mmr: wad("0.005") }];
/** No taker fee. Keeper reward and penalty do not enter the health check; they only have to pass the listing rules
 * (reward + penalty rates below target health × MMR: 0.1% + 0.2% < 1.25 × 0.5%). */
const EXAMPLE_RISK_PARAMS = {
  takerFeeRate: 0n,
  liquidationFeeRate: wad("0.001"),
  liquidationPenaltyRate: wad("0.002"),
  targetHealthFactor: wad("1.25"),
  minKeeperFee: wad(5),
  maxKeeperFee: wad(1_000),
  minPositionNotional: wad(10),
  fullLiquidationNotional: wad(10_000),
};

/** The figure docs/risk.md prints: the first price (WAD) at which the position is safe. */
const DOC_LIQUIDATION_PRICE = 1809045226130653266332n;

async function exampleFixture() {
  const p = await deployProtocol(ethers);
  const feed = await ethers.deployContract("MockV3Aggregator", [FEED_DECIMALS, answer(2_000)]);
  // The fixture's deployer holds GOVERNOR_ROLE.
  await p.engine.listMarket(EXAMPLE, oracleConfig(await feed.getAddress()), EXAMPLE_RISK_PARAMS, EXAMPLE_TIERS);
  await p.engine.setExposureParams(EXAMPLE, EXPOSURE_PARAMS);
  const trader = p.alice;
  await p.engine.connect(trader).deposit(COLLATERAL);
  // Exactly the initial margin: equity 200 = 10% of 2,000 notional.
  await p.engine.connect(trader).modifyPosition(EXAMPLE, SIZE, COLLATERAL, ENTRY);
  return { ...p, feed, trader };
}

describe("docs/risk.md worked example", function () {
  it("opens at exactly the initial margin: 1 unit at 2,000 USD with 200 USD, no fee", async function () {
    const { engine, lens, trader } = await networkHelpers.loadFixture(exampleFixture);
    const pos = await engine.getPosition(trader.address, EXAMPLE);
    expect(pos.size).to.equal(SIZE);
    expect(pos.entryPrice).to.equal(ENTRY);
    expect(pos.collateral).to.equal(COLLATERAL);
    const h = await lens.positionHealth(trader.address, EXAMPLE);
    expect(h.notional).to.equal(wad(2_000));
    expect(h.equity).to.equal(wad(200));
    expect(h.initialMargin).to.equal(wad(200));
    expect(h.maintenanceMargin).to.equal(wad(10));
    expect(h.closingFee).to.equal(0n);
    expect(h.fundingOwed).to.equal(0n);
    expect(h.healthFactor).to.equal(wad(20)); // 200 / 10
  });

  it("has the liquidation price the doc prints, about 9.5% below entry, and the SDK agrees", async function () {
    const { engine, lens, trader } = await networkHelpers.loadFixture(exampleFixture);
    const liq = await lens.liquidationPrice(trader.address, EXAMPLE);
    expect(liq).to.equal(DOC_LIQUIDATION_PRICE);
    // Closed form: p = (entry − collateral) / (1 − MMR) = 1,800 / 0.995, rounded up to the first safe wei.
    const exact = (wad(1_800) * WAD) / wad("0.995");
    expect(liq).to.equal(exact + 1n);
    // (2,000 − p) / 2,000 = 0.095 / 0.995 = 9.5477...%: within 9.5% ± 0.1%.
    const belowBps = ((ENTRY - liq) * 100_000n) / ENTRY; // thousandths of a percent
    expect(belowBps).to.be.within(9_400n, 9_600n);
    expect(belowBps).to.equal(9_547n);
    // The SDK's math on the engine's own risk context gives the same wei.
    const ctx = await engine.riskContext(trader.address, EXAMPLE);
    const sdkCtx = {
      size: ctx.size,
      entryPrice: ctx.entryPrice,
      collateral: ctx.collateral,
      fundingOwed: ctx.fundingOwed,
      scale: ctx.scale,
      tiers: ctx.tiers.map((t: any) => ({ notionalFloor: t.notionalFloor, imr: t.imr, mmr: t.mmr })),
      params: {
        takerFeeRate: ctx.params.takerFeeRate,
        liquidationFeeRate: ctx.params.liquidationFeeRate,
        liquidationPenaltyRate: ctx.params.liquidationPenaltyRate,
        targetHealthFactor: ctx.params.targetHealthFactor,
        minKeeperFee: ctx.params.minKeeperFee,
        maxKeeperFee: ctx.params.maxKeeperFee,
        minPositionNotional: ctx.params.minPositionNotional,
        fullLiquidationNotional: ctx.params.fullLiquidationNotional,
      },
    };
    expect(sdkLiquidationPrice(sdkCtx)).to.equal(DOC_LIQUIDATION_PRICE);
  });

  it("is safe (HF ≥ 1) at the liquidation price and liquidatable one wei below it", async function () {
    const { lens, trader } = await networkHelpers.loadFixture(exampleFixture);
    const at = await lens.positionHealthAt(trader.address, EXAMPLE, DOC_LIQUIDATION_PRICE);
    expect(at.healthFactor >= WAD).to.equal(true);
    expect(at.liquidatable).to.equal(false);
    expect(at.maintenanceMargin).to.equal(wad("9.045226130653266332")); // 0.5% of the notional, rounded up
    const below = await lens.positionHealthAt(trader.address, EXAMPLE, DOC_LIQUIDATION_PRICE - 1n);
    expect(below.healthFactor < WAD).to.equal(true);
    expect(below.liquidatable).to.equal(true);
  });

  it("the engine itself agrees at feed prices either side, and liquidates below", async function () {
    const { engine, feed, trader, keeper } = await networkHelpers.loadFixture(exampleFixture);
    // The feed has 8 decimals: 1,809.04522614 is just above the figure, 1,809.04522613 just below.
    await feed.updateAnswer(answer("1809.04522614"));
    expect(await engine.isLiquidatable(trader.address, EXAMPLE)).to.equal(false);
    await expect(engine.connect(keeper).liquidate(trader.address, EXAMPLE)).to.be.revertedWithCustomError(
      engine,
      "PerpPositionHealthy",
    );
    await feed.updateAnswer(answer("1809.04522613"));
    expect(await engine.isLiquidatable(trader.address, EXAMPLE)).to.equal(true);
    // Full liquidation (notional below 10,000 USD), amounts in USDC units as docs/risk.md lists them.
    await expect(engine.connect(keeper).liquidate(trader.address, EXAMPLE))
      .to.emit(engine, "PositionLiquidated")
      .withArgs(
        trader.address,
        EXAMPLE,
        keeper.address,
        SIZE, // closed size
        wad("1809.04522613"), // price
        -usd("190.954774"), // realised PnL, rounded down
        usd(5), // keeper reward: 0.1% of 1,809.05 = 1.81 USD, clamped up to the 5 USD minimum
        usd("3.618091"), // penalty: 0.2%, rounded up
        0n, // remaining size
        usd("0.427135"), // returned to the trader: 9.045226 - 5 - 3.618091
      );
    expect((await engine.getPosition(trader.address, EXAMPLE)).size).to.equal(0n);
  });

  it("docs/risk.md prints the contract's exact figure", async function () {
    const doc = await readFile(new URL("../../docs/risk.md", import.meta.url), "utf8");
    expect(doc).to.contain(DOC_LIQUIDATION_PRICE.toString());
    expect(doc).to.contain("1,809.045226130653266332");
    expect(doc).to.contain("9.548");
  });
});
