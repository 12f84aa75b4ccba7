import { readFile } from "node:fs/promises";

import { expect } from "chai";
import { network } from "hardhat";

import TidemarkModule from "../../ignition/modules/Tidemark.js";
import TidemarkLocalModule, { LOCAL_RISK_PARAMS, LOCAL_TIERS } from "../../ignition/modules/TidemarkLocal.js";
import { ROLES, marketId } from "../../ignition/modules/tidemark-system.js";
import { usd, wad } from "./helpers/fixture.js";
import { lpDeposit } from "./helpers/flows.js";
import { riskTuple, tierTuple } from "./helpers/engine-helpers.js";

const { ethers, ignition, networkHelpers } = await network.create();

const ETH = marketId("ETH-USD");
const BTC = marketId("BTC-USD");

/** Parses an Ignition parameters file the way Ignition does: strings like "123n" are bigints. */
async function readParameters(path: string) {
  const text = await readFile(new URL(path, import.meta.url), "utf8");
  return JSON.parse(text, (_k, v) => (typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v));
}

async function deployLocal() {
  return ignition.deploy(TidemarkLocalModule);
}

describe("Ignition deployment", function () {
  describe("TidemarkLocal", function () {
    it("deploys the full system and hands every privileged role to the timelock", async function () {
      const d = await networkHelpers.loadFixture(deployLocal);
      const [deployer] = await ethers.getSigners();
      const { engine, timelock, pool, insurance, lens } = d;
      expect(await engine.hasRole(ROLES.admin, timelock)).to.equal(true);
      expect(await engine.hasRole(ROLES.governor, timelock)).to.equal(true);
      expect(await engine.hasRole(ROLES.admin, deployer.address)).to.equal(false);
      expect(await engine.hasRole(ROLES.governor, deployer.address)).to.equal(false);
      expect(await engine.hasRole(ROLES.guardian, deployer.address)).to.equal(true);
      expect(await timelock.getMinDelay()).to.equal(60n);
      expect(await timelock.hasRole(await timelock.PROPOSER_ROLE(), deployer.address)).to.equal(true);
      expect(await pool.engine()).to.equal(await engine.getAddress());
      expect(await insurance.engine()).to.equal(await engine.getAddress());
      expect(await lens.engine()).to.equal(await engine.getAddress());
      expect(await engine.listedMarkets()).to.deep.equal([ETH, BTC]);
      for (const m of [ETH, BTC]) {
        expect((await engine.marginTiers(m)).map((t: any) => [t[0], t[1], t[2]])).to.deep.equal(LOCAL_TIERS.map(tierTuple));
        expect([...(await engine.riskParams(m))]).to.deep.equal(riskTuple(LOCAL_RISK_PARAMS));
        expect((await engine.exposureParams(m)).maxLongOpenInterestRatio).to.equal(wad(2));
      }
      expect(await engine.oracleStatus(ETH)).to.deep.equal([0n, wad(3_000)]);
      expect(await engine.oracleStatus(BTC)).to.deep.equal([0n, wad(60_000)]);
    });

    it("works end to end: LP deposit, a trade, and a parameter change through the timelock after its delay", async function () {
      const d = await networkHelpers.loadFixture(deployLocal);
      const [deployer, trader] = await ethers.getSigners();
      const { engine, timelock, pool, token } = d;
      // The LP deposit is an ERC-7540 request, fulfilled (by the LP itself, which gets the execution fee back) after
      // the minimum delay, then claimed.
      const fee = await engine.requiredExecutionFee();
      await token.mint(deployer.address, usd(1_000_000) + fee);
      await token.approve(pool, usd(1_000_000) + fee);
      const shares = await lpDeposit(ethers, pool, engine, deployer, usd(1_000_000));
      expect(await pool.balanceOf(deployer.address)).to.equal(shares);
      expect(shares).to.equal(usd(1_000_000) * 10n ** 6n);
      expect(await pool.totalAssets()).to.equal(usd(1_000_000));
      expect(await token.balanceOf(deployer.address)).to.equal(fee);
      await token.mint(trader.address, usd(10_000));
      await (token.connect(trader) as typeof token).approve(engine, usd(10_000));
      const asTrader = engine.connect(trader) as typeof engine;
      await asTrader.deposit(usd(10_000));
      await expect(asTrader.modifyPosition(ETH, wad(1), usd(500), wad(3_100))).to.emit(
        engine,
        "PositionModified",
      );

      const data = engine.interface.encodeFunctionData("setReserveFactor", [wad("0.3")]);
      const salt = ethers.ZeroHash;
      await timelock.schedule(engine, 0, data, ethers.ZeroHash, salt, 60);
      await expect(timelock.execute(engine, 0, data, ethers.ZeroHash, salt)).to.be.revertedWithCustomError(
        timelock,
        "TimelockUnexpectedOperationState",
      );
      await networkHelpers.time.increase(60);
      await timelock.execute(engine, 0, data, ethers.ZeroHash, salt);
      expect(await engine.reserveFactor()).to.equal(wad("0.3"));
    });
  });

  describe("Tidemark (real network) with the example parameters file", function () {
    it("deploys with every value of ignition/parameters/arbitrum-one.example.json, addresses swapped for local mocks", async function () {
      const file = await readParameters("../../ignition/parameters/arbitrum-one.example.json");
      const p = file.Tidemark;
      const [, proposer, executor, guardian] = await ethers.getSigners();
      const token = await ethers.deployContract("MockERC20", ["USD Coin", "USDC", 6]);
      const ethFeed = await ethers.deployContract("MockV3Aggregator", [8, 3_000n * 10n ** 8n]);
      const btcFeed = await ethers.deployContract("MockV3Aggregator", [8, 60_000n * 10n ** 8n]);
      const sequencer = await ethers.deployContract("MockV3Aggregator", [0, 0]);
      const parameters = {
        Tidemark: {
          ...p,
          collateralToken: await token.getAddress(),
          ethFeed: await ethFeed.getAddress(),
          btcFeed: await btcFeed.getAddress(),
          sequencerFeed: await sequencer.getAddress(),
          proposers: [proposer.address],
          executors: [executor.address],
          guardian: guardian.address,
        },
      };
      const { engine, timelock } = await ignition.deploy(TidemarkModule, { parameters });
      expect(await timelock.getMinDelay()).to.equal(BigInt(p.minDelay));
      expect(await timelock.hasRole(await timelock.PROPOSER_ROLE(), proposer.address)).to.equal(true);
      expect(await timelock.hasRole(await timelock.EXECUTOR_ROLE(), executor.address)).to.equal(true);
      expect(await engine.hasRole(ROLES.guardian, guardian.address)).to.equal(true);
      expect(await engine.hasRole(ROLES.governor, timelock)).to.equal(true);
      const seq = await engine.sequencerConfig();
      expect([seq[0], seq[1]]).to.deep.equal([await sequencer.getAddress(), BigInt(p.gracePeriod)]);
      for (const [m, prefix] of [
        [ETH, "eth"],
        [BTC, "btc"],
      ] as const) {
        expect([...(await engine.riskParams(m))]).to.deep.equal(riskTuple(p[`${prefix}RiskParams`]));
        expect((await engine.marginTiers(m)).map((t: any) => [t[0], t[1], t[2]])).to.deep.equal(
          p[`${prefix}Tiers`].map(tierTuple),
        );
        const o = await engine.oracleConfig(m);
        expect([o.heartbeat, o.decimals, o.minPrice, o.maxPrice]).to.deep.equal([
          BigInt(p[`${prefix}Heartbeat`]),
          8n,
          p[`${prefix}MinPrice`],
          p[`${prefix}MaxPrice`],
        ]);
        const x = await engine.exposureParams(m);
        expect([x[0], x[1], x[2]]).to.deep.equal([
          p[`${prefix}Exposure`].impactSkewScale,
          p[`${prefix}Exposure`].maxLongOpenInterestRatio,
          p[`${prefix}Exposure`].maxShortOpenInterestRatio,
        ]);
        const fp = await engine.fundingParams(m);
        expect([fp[0], fp[1]]).to.deep.equal([p[`${prefix}Funding`].skewScale, p[`${prefix}Funding`].maxFundingRatePerDay]);
      }
    });
  });
});
