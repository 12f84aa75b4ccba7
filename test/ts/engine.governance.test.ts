import { expect } from "chai";
import { network } from "hardhat";

import { deployProtocol, ETH, BTC, RISK_PARAMS, TIERS, HEARTBEAT, oracleConfig, usd, wad } from "./helpers/fixture.js";
import { configSnapshot, riskTuple, tierTuple, type TierLike } from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();

const b32 = ethers.encodeBytes32String;
const SOL = b32("SOL-USD");
const UNKNOWN = b32("NOPE-USD");

// ConstantsLib bounds.
const MAX_TIERS = 8n;
const MIN_MMR = wad("0.001");
const MAX_MMR = wad("0.5");
const MAX_IMR = wad(1);
const MIN_HEARTBEAT = 60n;
const MAX_HEARTBEAT = 2n * 86_400n;
const MAX_GRACE_PERIOD = 86_400n;
const MAX_PRICE = 10n ** 28n;
const MAX_FEED_DECIMALS = 36n;

type Risk = typeof RISK_PARAMS;

/** The fixture plus an unlisted 8-decimal SOL feed. */
async function governanceFixture() {
  const f = await deployProtocol(ethers);
  const solFeed = await ethers.deployContract("MockV3Aggregator", [8, 150n * 10n ** 8n]);
  return { ...f, solFeed };
}

const oracleTuple = (o: {
  feed: string;
  heartbeat: number | bigint;
  decimals: number | bigint;
  minPrice: bigint;
  maxPrice: bigint;
}) => [o.feed, BigInt(o.heartbeat), BigInt(o.decimals), o.minPrice, o.maxPrice];

const ALL = [ETH, BTC, SOL];

describe("TidemarkEngine: governance", function () {
  describe("access control", function () {
    it("every governor setter reverts AccessControlUnauthorizedAccount(caller, GOVERNOR_ROLE) for others", async function () {
      const { engine, alice, guardian, solFeed, ethFeed } = await networkHelpers.loadFixture(governanceFixture);
      const role = await engine.GOVERNOR_ROLE();
      const before = await configSnapshot(engine, ALL);
      const newTiers = [{ notionalFloor: 0n, imr: wad("0.02"), mmr: wad("0.01") }];
      const newRisk = { ...RISK_PARAMS, takerFeeRate: wad("0.001") };
      for (const caller of [alice, guardian]) {
        const e = engine.connect(caller);
        const calls = [
          () => e.listMarket(SOL, oracleConfig(solFeed.target as string), RISK_PARAMS, TIERS),
          () => e.setMarginTiers(ETH, newTiers),
          () => e.setRiskParams(ETH, newRisk),
          () => e.setOracleConfig(ETH, { ...oracleConfig(ethFeed.target as string), heartbeat: 120 }),
          () => e.setSequencerConfig(solFeed.target as string, 60),
          () => e.setReserveFactor(wad("0.5")),
        ];
        for (const call of calls) {
          await expect(call())
            .to.be.revertedWithCustomError(engine, "AccessControlUnauthorizedAccount")
            .withArgs(caller.address, role);
        }
      }
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
    });

    it("pause setters revert AccessControlUnauthorizedAccount(caller, GUARDIAN_ROLE) for others, the governor included", async function () {
      const { engine, alice, deployer } = await networkHelpers.loadFixture(governanceFixture);
      const role = await engine.GUARDIAN_ROLE();
      const before = await configSnapshot(engine, ALL);
      for (const caller of [alice, deployer]) {
        await expect(engine.connect(caller).setMarketPaused(ETH, true))
          .to.be.revertedWithCustomError(engine, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, role);
        await expect(engine.connect(caller).setGlobalPaused(true))
          .to.be.revertedWithCustomError(engine, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, role);
      }
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
    });
  });

  describe("setters: events and state", function () {
    it("listMarket stores everything, reads the feed's decimals and emits MarketListed", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const feed = await solFeed.getAddress();
      const cfg = { ...oracleConfig(feed), decimals: 3 }; // ignored: the feed has 8
      const stored = oracleTuple({ ...cfg, decimals: 8 });
      expect(await engine.isListed(SOL)).to.equal(false);
      await expect(engine.listMarket(SOL, cfg, RISK_PARAMS, TIERS))
        .to.emit(engine, "MarketListed")
        .withArgs(SOL, stored, riskTuple(RISK_PARAMS), TIERS.map(tierTuple));
      expect(await engine.isListed(SOL)).to.equal(true);
      expect(await engine.isMarketPaused(SOL)).to.equal(false);
      expect(await engine.oracleConfig(SOL)).to.deep.equal(stored);
      expect(await engine.riskParams(SOL)).to.deep.equal(riskTuple(RISK_PARAMS));
      expect(await engine.marginTiers(SOL)).to.deep.equal(TIERS.map(tierTuple));
      expect(await engine.oracleStatus(SOL)).to.deep.equal([0n, wad(150)]);
    });

    it("setMarginTiers replaces the table and emits MarginTiersSet", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const tiers = [
        { notionalFloor: 0n, imr: wad("0.02"), mmr: wad("0.01") },
        { notionalFloor: wad(100_000), imr: wad("0.1"), mmr: wad("0.05") },
      ];
      await expect(engine.setMarginTiers(ETH, tiers)).to.emit(engine, "MarginTiersSet").withArgs(ETH, tiers.map(tierTuple));
      expect(await engine.marginTiers(ETH)).to.deep.equal(tiers.map(tierTuple));
      expect(await engine.marginTiers(BTC)).to.deep.equal(TIERS.map(tierTuple));
    });

    it("a new tier table changes the initial margin of new positions", async function () {
      const { engine, alice } = await networkHelpers.loadFixture(governanceFixture);
      await engine.setMarginTiers(ETH, [{ notionalFloor: 0n, imr: wad("0.1"), mmr: wad("0.05") }]);
      await engine.connect(alice).deposit(usd(10_000));
      // 10 ETH at 3,000: IM 10% = 3,000 USD; 3,030 - 15 fee - 15 closing fee = 3,000 passes, one unit less fails.
      await expect(engine.connect(alice).modifyPosition(ETH, wad(10), usd(3_030) - 1n, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, wad(3_000) - 10n ** 12n, wad(3_000));
      await expect(engine.connect(alice).modifyPosition(ETH, wad(10), usd(3_030), wad(3_000))).to.emit(
        engine,
        "PositionModified",
      );
    });

    it("setRiskParams stores the params and emits RiskParamsSet", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const p: Risk = {
        takerFeeRate: wad("0.001"),
        liquidationFeeRate: wad("0.0015"),
        liquidationPenaltyRate: wad("0.0025"),
        targetHealthFactor: wad("1.5"),
        minKeeperFee: wad(2),
        maxKeeperFee: wad(500),
        minPositionNotional: wad(25),
        fullLiquidationNotional: wad(50_000),
      };
      await expect(engine.setRiskParams(ETH, p)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(p));
      expect(await engine.riskParams(ETH)).to.deep.equal(riskTuple(p));
      expect(await engine.riskParams(BTC)).to.deep.equal(riskTuple(RISK_PARAMS));
    });

    it("setOracleConfig switches the feed, reads its decimals and emits OracleConfigSet", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const feed18 = await ethers.deployContract("MockV3Aggregator", [18, wad(3_210)]);
      const cfg = {
        feed: await feed18.getAddress(),
        heartbeat: 7_200,
        decimals: 0,
        minPrice: wad(2),
        maxPrice: wad(5_000_000),
      };
      await expect(engine.setOracleConfig(ETH, cfg))
        .to.emit(engine, "OracleConfigSet")
        .withArgs(ETH, oracleTuple({ ...cfg, decimals: 18 }));
      expect(await engine.oracleConfig(ETH)).to.deep.equal(oracleTuple({ ...cfg, decimals: 18 }));
      expect(await engine.oracleStatus(ETH)).to.deep.equal([0n, wad(3_210)]);
    });

    it("setSequencerConfig stores the feed and grace period and emits SequencerConfigSet", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      expect(await engine.sequencerConfig()).to.deep.equal([ethers.ZeroAddress, 0n]);
      const feed = await solFeed.getAddress();
      await expect(engine.setSequencerConfig(feed, 3_600)).to.emit(engine, "SequencerConfigSet").withArgs(feed, 3_600);
      expect(await engine.sequencerConfig()).to.deep.equal([feed, 3_600n]);
      // Changing only the grace period is a change.
      await expect(engine.setSequencerConfig(feed, 0)).to.emit(engine, "SequencerConfigSet").withArgs(feed, 0);
      await expect(engine.setSequencerConfig(ethers.ZeroAddress, 0))
        .to.emit(engine, "SequencerConfigSet")
        .withArgs(ethers.ZeroAddress, 0);
      expect(await engine.sequencerConfig()).to.deep.equal([ethers.ZeroAddress, 0n]);
    });

    it("setReserveFactor stores the factor, emits ReserveFactorSet and changes reservedAssets", async function () {
      const { engine, alice } = await networkHelpers.loadFixture(governanceFixture);
      await engine.connect(alice).deposit(usd(1_000));
      await engine.connect(alice).modifyPosition(ETH, wad(10), usd(1_000), wad(3_000));
      expect(await engine.reservedAssets()).to.equal(usd(6_000));
      await expect(engine.setReserveFactor(wad("0.5"))).to.emit(engine, "ReserveFactorSet").withArgs(wad("0.5"));
      expect(await engine.reserveFactor()).to.equal(wad("0.5"));
      expect(await engine.reservedAssets()).to.equal(usd(15_000));
      await expect(engine.setReserveFactor(0)).to.emit(engine, "ReserveFactorSet").withArgs(0);
      expect(await engine.reservedAssets()).to.equal(0n);
      await expect(engine.setReserveFactor(wad(1))).to.emit(engine, "ReserveFactorSet").withArgs(wad(1));
      expect(await engine.reservedAssets()).to.equal(usd(30_000));
    });

    it("setMarketPaused and setGlobalPaused toggle and emit their events", async function () {
      const { engine, guardian } = await networkHelpers.loadFixture(governanceFixture);
      const g = engine.connect(guardian);
      await expect(g.setMarketPaused(ETH, true)).to.emit(engine, "MarketPausedSet").withArgs(ETH, true);
      expect(await engine.isMarketPaused(ETH)).to.equal(true);
      expect(await engine.isMarketPaused(BTC)).to.equal(false);
      await expect(g.setMarketPaused(ETH, false)).to.emit(engine, "MarketPausedSet").withArgs(ETH, false);
      expect(await engine.isMarketPaused(ETH)).to.equal(false);

      await expect(g.setGlobalPaused(true)).to.emit(engine, "GlobalPausedSet").withArgs(true);
      expect(await engine.globalPaused()).to.equal(true);
      // The global flag does not rewrite the per-market flags.
      expect(await engine.isMarketPaused(ETH)).to.equal(false);
      await expect(g.setGlobalPaused(false)).to.emit(engine, "GlobalPausedSet").withArgs(false);
      expect(await engine.globalPaused()).to.equal(false);
    });
  });

  describe("no-op setters revert PerpParameterUnchanged", function () {
    it("for every setter, leaving the configuration unchanged", async function () {
      const { engine, guardian, ethFeed, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      const g = engine.connect(guardian);
      const ethFeedAddr = await ethFeed.getAddress();
      const unchanged = [
        () => engine.setMarginTiers(ETH, TIERS),
        () => engine.setRiskParams(ETH, RISK_PARAMS),
        // The decimals field is ignored: 0 here, 8 stored, still the same config.
        () => engine.setOracleConfig(ETH, oracleConfig(ethFeedAddr)),
        () => engine.setOracleConfig(ETH, { ...oracleConfig(ethFeedAddr), decimals: 8 }),
        () => engine.setSequencerConfig(ethers.ZeroAddress, 0),
        () => engine.setReserveFactor(wad("0.2")),
        () => g.setMarketPaused(ETH, false),
        () => g.setGlobalPaused(false),
      ];
      for (const call of unchanged) {
        await expect(call()).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
      }
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

      // After a change, repeating it is a no-op.
      const feed = await solFeed.getAddress();
      await engine.setSequencerConfig(feed, 60);
      await expect(engine.setSequencerConfig(feed, 60)).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
      await g.setMarketPaused(BTC, true);
      await expect(g.setMarketPaused(BTC, true)).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
      await g.setGlobalPaused(true);
      await expect(g.setGlobalPaused(true)).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
      const tiers = [{ notionalFloor: 0n, imr: wad("0.02"), mmr: wad("0.01") }];
      await engine.setMarginTiers(BTC, tiers);
      await expect(engine.setMarginTiers(BTC, tiers)).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
    });
  });

  describe("market existence", function () {
    it("listing an already listed market reverts PerpMarketAlreadyListed", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      await expect(engine.listMarket(ETH, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, TIERS))
        .to.be.revertedWithCustomError(engine, "PerpMarketAlreadyListed")
        .withArgs(ETH);
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
    });

    it("a zero feed reverts PerpZeroAddress on listMarket and setOracleConfig", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      await expect(
        engine.listMarket(SOL, oracleConfig(ethers.ZeroAddress), RISK_PARAMS, TIERS),
      ).to.be.revertedWithCustomError(engine, "PerpZeroAddress");
      await expect(engine.setOracleConfig(ETH, oracleConfig(ethers.ZeroAddress))).to.be.revertedWithCustomError(
        engine,
        "PerpZeroAddress",
      );
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
    });

    it("market setters on an unlisted market revert PerpUnknownMarket", async function () {
      const { engine, guardian, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, [...ALL, UNKNOWN]);
      const solFeedAddr = await solFeed.getAddress();
      const calls = [
        () => engine.setMarginTiers(UNKNOWN, TIERS),
        () => engine.setRiskParams(UNKNOWN, RISK_PARAMS),
        () => engine.setOracleConfig(UNKNOWN, oracleConfig(solFeedAddr)),
        () => engine.connect(guardian).setMarketPaused(UNKNOWN, true),
      ];
      for (const call of calls) {
        await expect(call()).to.be.revertedWithCustomError(engine, "PerpUnknownMarket").withArgs(UNKNOWN);
      }
      expect(await configSnapshot(engine, [...ALL, UNKNOWN])).to.deep.equal(before);
    });
  });

  describe("risk parameter bounds", function () {
    // [field, bad value, min, max]
    const cases: [keyof Risk, bigint, bigint, bigint][] = [
      ["takerFeeRate", wad("0.01") + 1n, 0n, wad("0.01")],
      ["liquidationFeeRate", wad("0.01") + 1n, 0n, wad("0.01")],
      ["liquidationPenaltyRate", wad("0.05") + 1n, 0n, wad("0.05")],
      ["targetHealthFactor", wad("1.05") - 1n, wad("1.05"), wad(3)],
      ["targetHealthFactor", wad(3) + 1n, wad("1.05"), wad(3)],
      ["minKeeperFee", wad(1_000) + 1n, 0n, wad(1_000)],
      // maxKeeperFee is bounded below by minKeeperFee (5 USD in the fixture).
      ["maxKeeperFee", wad(5) - 1n, wad(5), wad(100_000)],
      ["maxKeeperFee", wad(100_000) + 1n, wad(5), wad(100_000)],
      ["minPositionNotional", wad(1) - 1n, wad(1), wad(100_000)],
      ["minPositionNotional", wad(100_000) + 1n, wad(1), wad(100_000)],
      ["fullLiquidationNotional", wad(10_000_000) + 1n, 0n, wad(10_000_000)],
    ];
    for (const [field, value, min, max] of cases) {
      it(`${field} = ${value} reverts PerpParameterOutOfBounds("${field}", ${value}, ${min}, ${max})`, async function () {
        const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
        const before = await configSnapshot(engine, ALL);
        const params = { ...RISK_PARAMS, [field]: value };
        await expect(engine.setRiskParams(ETH, params))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32(field), value, min, max);
        await expect(engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), params, TIERS))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32(field), value, min, max);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
      });
    }

    it("accepts every bound itself", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const accepted: Partial<Risk>[] = [
        { takerFeeRate: wad("0.01") },
        { takerFeeRate: 0n },
        { targetHealthFactor: wad("1.05") },
        { targetHealthFactor: wad(3) },
        { minKeeperFee: wad(1_000), maxKeeperFee: wad(1_000) },
        { minKeeperFee: 0n, maxKeeperFee: 0n },
        { maxKeeperFee: wad(100_000) },
        { minPositionNotional: wad(1) },
        { minPositionNotional: wad(100_000) },
        { fullLiquidationNotional: wad(10_000_000) },
        { fullLiquidationNotional: 0n },
        { liquidationFeeRate: 0n, liquidationPenaltyRate: 0n },
      ];
      for (const change of accepted) {
        const p = { ...RISK_PARAMS, ...change };
        await expect(engine.setRiskParams(ETH, p)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(p));
        expect(await engine.riskParams(ETH)).to.deep.equal(riskTuple(p));
      }
    });

    it("reverts PerpLiquidationCostTooHigh(cost, target * mmr0) when keeper + penalty rates reach it", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      // target 1.25 * mmr0 0.5% = 0.625%; 0.425% + 0.2% = 0.625% is not strictly below.
      const freed = wad("0.00625");
      const atLimit = { ...RISK_PARAMS, liquidationFeeRate: wad("0.00425") };
      await expect(engine.setRiskParams(ETH, atLimit))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(freed, freed);
      await expect(engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), atLimit, TIERS))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(freed, freed);
      // Lowering the target: 1.05 * 0.5% = 0.525% < 0.1% + 0.45%.
      const lowTarget = { ...RISK_PARAMS, liquidationPenaltyRate: wad("0.0045"), targetHealthFactor: wad("1.05") };
      await expect(engine.setRiskParams(ETH, lowTarget))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(wad("0.0055"), wad("0.00525"));
      // Lowering mmr0 through setMarginTiers: 1.25 * 0.24% = 0.3% = cost.
      const lowMmr: TierLike[] = [{ notionalFloor: 0n, imr: wad("0.01"), mmr: wad("0.0024") }, ...TIERS.slice(1)];
      await expect(engine.setMarginTiers(ETH, lowMmr))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(wad("0.003"), wad("0.003"));
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

      // One wei below the limit is accepted.
      const below = { ...RISK_PARAMS, liquidationFeeRate: wad("0.00425") - 1n };
      await expect(engine.setRiskParams(ETH, below)).to.emit(engine, "RiskParamsSet");
    });
  });

  describe("oracle and global bounds", function () {
    it('heartbeat outside [60, 2 days] reverts PerpParameterOutOfBounds("heartbeat")', async function () {
      const { engine, ethFeed, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      const ethFeedAddr = await ethFeed.getAddress();
      const solFeedAddr = await solFeed.getAddress();
      for (const hb of [0n, MIN_HEARTBEAT - 1n, MAX_HEARTBEAT + 1n]) {
        await expect(engine.setOracleConfig(ETH, { ...oracleConfig(ethFeedAddr), heartbeat: hb }))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32("heartbeat"), hb, MIN_HEARTBEAT, MAX_HEARTBEAT);
        await expect(engine.listMarket(SOL, { ...oracleConfig(solFeedAddr), heartbeat: hb }, RISK_PARAMS, TIERS))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32("heartbeat"), hb, MIN_HEARTBEAT, MAX_HEARTBEAT);
      }
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
      for (const hb of [MIN_HEARTBEAT, MAX_HEARTBEAT]) {
        await expect(engine.setOracleConfig(ETH, { ...oracleConfig(ethFeedAddr), heartbeat: hb })).to.emit(
          engine,
          "OracleConfigSet",
        );
        expect((await engine.oracleConfig(ETH)).heartbeat).to.equal(hb);
      }
    });

    it('a feed with more than 36 decimals reverts PerpParameterOutOfBounds("feedDecimals")', async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      const feed37 = await ethers.deployContract("MockV3Aggregator", [37, 1n]);
      const cfg = oracleConfig(await feed37.getAddress());
      await expect(engine.setOracleConfig(ETH, cfg))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("feedDecimals"), 37n, 0n, MAX_FEED_DECIMALS);
      await expect(engine.listMarket(SOL, cfg, RISK_PARAMS, TIERS))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("feedDecimals"), 37n, 0n, MAX_FEED_DECIMALS);
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
    });

    it('prices outside their bounds revert PerpParameterOutOfBounds("maxPrice" / "minPrice")', async function () {
      const { engine, ethFeed, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      const base = oracleConfig(await ethFeed.getAddress());
      const solFeedAddr = await solFeed.getAddress();
      const cases: [Partial<typeof base>, string, bigint, bigint, bigint][] = [
        [{ maxPrice: 1n, minPrice: 1n }, "maxPrice", 1n, 2n, MAX_PRICE],
        [{ maxPrice: MAX_PRICE + 1n }, "maxPrice", MAX_PRICE + 1n, 2n, MAX_PRICE],
        [{ minPrice: 0n }, "minPrice", 0n, 1n, wad(1_000_000) - 1n],
        [{ minPrice: wad(1_000_000) }, "minPrice", wad(1_000_000), 1n, wad(1_000_000) - 1n],
        [{ minPrice: wad(2_000_000) }, "minPrice", wad(2_000_000), 1n, wad(1_000_000) - 1n],
      ];
      for (const [change, name, value, min, max] of cases) {
        await expect(engine.setOracleConfig(ETH, { ...base, ...change }))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32(name), value, min, max);
        await expect(engine.listMarket(SOL, { ...base, feed: solFeedAddr, ...change }, RISK_PARAMS, TIERS))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32(name), value, min, max);
      }
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

      // The bounds themselves: [1, 2] and [MAX_PRICE - 1, MAX_PRICE].
      await expect(engine.setOracleConfig(ETH, { ...base, minPrice: 1n, maxPrice: 2n })).to.emit(engine, "OracleConfigSet");
      await expect(engine.setOracleConfig(ETH, { ...base, minPrice: MAX_PRICE - 1n, maxPrice: MAX_PRICE })).to.emit(
        engine,
        "OracleConfigSet",
      );
      expect(await engine.oracleConfig(ETH)).to.deep.equal([
        await ethFeed.getAddress(),
        BigInt(HEARTBEAT),
        8n,
        MAX_PRICE - 1n,
        MAX_PRICE,
      ]);
    });

    it('gracePeriod above 1 day reverts PerpParameterOutOfBounds("gracePeriod")', async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const feed = await solFeed.getAddress();
      await expect(engine.setSequencerConfig(feed, MAX_GRACE_PERIOD + 1n))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("gracePeriod"), MAX_GRACE_PERIOD + 1n, 0n, MAX_GRACE_PERIOD);
      expect(await engine.sequencerConfig()).to.deep.equal([ethers.ZeroAddress, 0n]);
      await expect(engine.setSequencerConfig(feed, MAX_GRACE_PERIOD))
        .to.emit(engine, "SequencerConfigSet")
        .withArgs(feed, MAX_GRACE_PERIOD);
      expect(await engine.sequencerConfig()).to.deep.equal([feed, MAX_GRACE_PERIOD]);
    });

    it('reserveFactor above 100% reverts PerpParameterOutOfBounds("reserveFactor")', async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      await expect(engine.setReserveFactor(wad(1) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("reserveFactor"), wad(1) + 1n, 0n, wad(1));
      expect(await engine.reserveFactor()).to.equal(wad("0.2"));
    });
  });

  describe("tier rules", function () {
    const t = (notionalFloor: bigint, imr: string, mmr: string): TierLike => ({
      notionalFloor,
      imr: wad(imr),
      mmr: wad(mmr),
    });
    // [description, tiers, failing index]
    const invalid: [string, TierLike[], bigint][] = [
      ["first floor not 0", [t(1n, "0.01", "0.005")], 0n],
      ["equal floors", [t(0n, "0.01", "0.005"), t(wad(50_000), "0.02", "0.01"), t(wad(50_000), "0.03", "0.015")], 2n],
      ["decreasing floors", [t(0n, "0.01", "0.005"), t(wad(50_000), "0.02", "0.01"), t(wad(40_000), "0.03", "0.015")], 2n],
      ["mmr equal to imr", [t(0n, "0.01", "0.005"), t(wad(50_000), "0.02", "0.02")], 1n],
      ["mmr above imr", [t(0n, "0.01", "0.011")], 0n],
      ["decreasing imr", [...TIERS.slice(0, 3), t(wad(1_000_000), "0.024", "0.0125")], 3n],
      ["decreasing mmr", [...TIERS.slice(0, 3), t(wad(1_000_000), "0.05", "0.012")], 3n],
      ["mmr below MIN_MMR", [{ notionalFloor: 0n, imr: wad("0.01"), mmr: MIN_MMR - 1n }], 0n],
      ["mmr above MAX_MMR", [t(0n, "0.01", "0.005"), { notionalFloor: wad(1), imr: wad("0.9"), mmr: MAX_MMR + 1n }], 1n],
      ["imr above MAX_IMR", [t(0n, "0.01", "0.005"), { notionalFloor: wad(1), imr: MAX_IMR + 1n, mmr: wad("0.5") }], 1n],
    ];
    for (const [what, tiers, index] of invalid) {
      it(`${what} reverts PerpInvalidTier(${index})`, async function () {
        const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
        const before = await configSnapshot(engine, ALL);
        await expect(engine.setMarginTiers(ETH, tiers))
          .to.be.revertedWithCustomError(engine, "PerpInvalidTier")
          .withArgs(index);
        await expect(engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, tiers))
          .to.be.revertedWithCustomError(engine, "PerpInvalidTier")
          .withArgs(index);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
      });
    }

    it('0 or 9 tiers revert PerpParameterOutOfBounds("tierCount", n, 1, 8)', async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const before = await configSnapshot(engine, ALL);
      const nine = Array.from({ length: 9 }, (_, i) => ({
        notionalFloor: wad(i * 10_000),
        imr: wad("0.02"),
        mmr: wad("0.01"),
      }));
      for (const tiers of [[], nine]) {
        const n = BigInt(tiers.length);
        await expect(engine.setMarginTiers(ETH, tiers))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32("tierCount"), n, 1n, MAX_TIERS);
        await expect(engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, tiers))
          .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
          .withArgs(b32("tierCount"), n, 1n, MAX_TIERS);
      }
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

      // Eight tiers with equal rates (non-decreasing) are accepted.
      const eight = nine.slice(0, 8);
      await expect(engine.setMarginTiers(ETH, eight)).to.emit(engine, "MarginTiersSet").withArgs(ETH, eight.map(tierTuple));
      expect(await engine.marginTiers(ETH)).to.deep.equal(eight.map(tierTuple));
    });

    it("accepts mmr = MIN_MMR, mmr = MAX_MMR and imr = MAX_IMR when the liquidation cost allows", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      // 0.05% + 0.05% < 1.25 * 0.1%.
      await engine.setRiskParams(ETH, {
        ...RISK_PARAMS,
        liquidationFeeRate: wad("0.0005"),
        liquidationPenaltyRate: wad("0.0005"),
      });
      const tiers = [
        { notionalFloor: 0n, imr: wad("0.002"), mmr: MIN_MMR },
        { notionalFloor: wad(1_000), imr: MAX_IMR, mmr: MAX_MMR },
      ];
      await expect(engine.setMarginTiers(ETH, tiers)).to.emit(engine, "MarginTiersSet").withArgs(ETH, tiers.map(tierTuple));
      expect(await engine.marginTiers(ETH)).to.deep.equal(tiers.map(tierTuple));
    });
  });
});
