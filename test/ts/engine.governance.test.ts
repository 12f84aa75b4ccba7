import { expect } from "chai";
import { network } from "hardhat";

import {
  deployProtocol,
  ETH,
  BTC,
  RISK_PARAMS,
  TIERS,
  HEARTBEAT,
  answer,
  oracleConfig,
  usd,
  wad,
} from "./helpers/fixture.js";
import {
  MAX_FEE_RATE_STEP,
  MAX_FUNDING_RATE_STEP,
  MAX_MARGIN_RATE_STEP,
  MAX_PENALTY_RATE_STEP,
  MAX_RESERVE_FACTOR_STEP,
  MIN_RATE_CHANGE_INTERVAL,
  configSnapshot,
  governInSteps,
  plain,
  riskTuple,
  tierTuple,
  type TierLike,
} from "./helpers/engine-helpers.js";

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

/** Lets the rate-change cooldown pass: the next stepped change after this is allowed. */
const waitOutCooldown = () => networkHelpers.time.increase(MIN_RATE_CHANGE_INTERVAL);

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
      // Rates move at most MAX_MARGIN_RATE_STEP per call: approach the table in allowed steps, then the last call.
      await governInSteps(engine, { market: ETH, marginTiers: tiers }, { leaveLastStep: true });
      await expect(engine.setMarginTiers(ETH, tiers)).to.emit(engine, "MarginTiersSet").withArgs(ETH, tiers.map(tierTuple));
      expect(await engine.marginTiers(ETH)).to.deep.equal(tiers.map(tierTuple));
      expect(await engine.marginTiers(BTC)).to.deep.equal(TIERS.map(tierTuple));
    });

    it("a new tier table changes the initial margin of new positions", async function () {
      const { engine, alice, ethFeed } = await networkHelpers.loadFixture(governanceFixture);
      const tiers = [{ notionalFloor: 0n, imr: wad("0.1"), mmr: wad("0.05") }];
      await governInSteps(engine, { market: ETH, marginTiers: tiers }); // 1% IMR to 10%: nine calls, a day apart
      expect(await engine.marginTiers(ETH)).to.deep.equal(tiers.map(tierTuple));
      await ethFeed.updateAnswer(answer(3_000)); // the price went stale over those eight days
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
      // The factor moves at most MAX_RESERVE_FACTOR_STEP per call: each large move approaches in allowed steps first.
      await governInSteps(engine, { reserveFactor: wad("0.5") }, { leaveLastStep: true });
      await expect(engine.setReserveFactor(wad("0.5"))).to.emit(engine, "ReserveFactorSet").withArgs(wad("0.5"));
      expect(await engine.reserveFactor()).to.equal(wad("0.5"));
      expect(await engine.reservedAssets()).to.equal(usd(15_000));
      await governInSteps(engine, { reserveFactor: 0n }, { leaveLastStep: true });
      await expect(engine.setReserveFactor(0)).to.emit(engine, "ReserveFactorSet").withArgs(0);
      expect(await engine.reservedAssets()).to.equal(0n);
      await governInSteps(engine, { reserveFactor: wad(1) }, { leaveLastStep: true });
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
      await governInSteps(engine, { market: BTC, marginTiers: tiers }); // 5% IMR above 1M to 2%: in steps
      expect(await engine.marginTiers(BTC)).to.deep.equal(tiers.map(tierTuple));
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
        // Fee rates move at most MAX_FEE_RATE_STEP per call: approach in allowed steps, then the last call.
        await governInSteps(engine, { market: ETH, riskParams: p }, { leaveLastStep: true });
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
      // Listing is not step-limited: the cost check is reached directly.
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

      // setRiskParams moves the keeper rate at most MAX_FEE_RATE_STEP per call (0.1% to 0.425% is 3.25 steps):
      // approach the limit in allowed steps, each leaving the cost below target * mmr0, then the last step reaches it.
      await governInSteps(engine, { market: ETH, riskParams: atLimit }, { leaveLastStep: true });
      const approached = await configSnapshot(engine, ALL);
      expect((await engine.riskParams(ETH)).liquidationFeeRate >= wad("0.00425") - MAX_FEE_RATE_STEP).to.equal(true);
      await expect(engine.setRiskParams(ETH, atLimit))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(freed, freed);
      expect(await configSnapshot(engine, ALL)).to.deep.equal(approached);

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
      // The 5% IMR above 1M falls to 2%: approach in steps of MAX_MARGIN_RATE_STEP, then the last call.
      await governInSteps(engine, { market: ETH, marginTiers: eight }, { leaveLastStep: true });
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
      // Rates move at most MAX_MARGIN_RATE_STEP per call at every notional: approach in steps, then the last call.
      await governInSteps(engine, { market: ETH, marginTiers: tiers }, { leaveLastStep: true });
      await expect(engine.setMarginTiers(ETH, tiers)).to.emit(engine, "MarginTiersSet").withArgs(ETH, tiers.map(tierTuple));
      expect(await engine.marginTiers(ETH)).to.deep.equal(tiers.map(tierTuple));
    });
  });

  describe("rate steps", function () {
    const STEP = "PerpParameterStepTooLarge";
    const fundingOf = async (engine: any, market: string) => {
      const f = await engine.fundingParams(market);
      return [f.skewScale, f.maxFundingRatePerDay];
    };

    // setRiskParams: each rate is compared with the market's current value. The target health factor is raised to 3
    // first (bounds-only, one call), so a full step up of any rate keeps the liquidation cost below 3 * 0.5%.
    const riskRates: [keyof Risk, bigint, string][] = [
      ["takerFeeRate", MAX_FEE_RATE_STEP, "MAX_FEE_RATE_STEP"],
      ["liquidationFeeRate", MAX_FEE_RATE_STEP, "MAX_FEE_RATE_STEP"],
      ["liquidationPenaltyRate", MAX_PENALTY_RATE_STEP, "MAX_PENALTY_RATE_STEP"],
    ];
    for (const [field, step, stepName] of riskRates) {
      it(`${field} moves exactly ${stepName} either way; one wei more reverts and changes nothing`, async function () {
        const { engine } = await networkHelpers.loadFixture(governanceFixture);
        const base: Risk = { ...RISK_PARAMS, targetHealthFactor: wad(3) };
        await engine.setRiskParams(ETH, base);
        const v0 = base[field];
        expect(v0 > 0n).to.equal(true); // one wei past a full step down stays in bounds
        const name = b32(field);

        let before = await configSnapshot(engine, ALL);
        await expect(engine.setRiskParams(ETH, { ...base, [field]: v0 + step + 1n }))
          .to.be.revertedWithCustomError(engine, STEP)
          .withArgs(name, v0, v0 + step + 1n, step);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

        const up = { ...base, [field]: v0 + step };
        await expect(engine.setRiskParams(ETH, up)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(up));
        expect(await engine.riskParams(ETH)).to.deep.equal(riskTuple(up));

        before = await configSnapshot(engine, ALL);
        await expect(engine.setRiskParams(ETH, { ...base, [field]: v0 - 1n }))
          .to.be.revertedWithCustomError(engine, STEP)
          .withArgs(name, v0 + step, v0 - 1n, step);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

        // The step is checked before the cooldown (above); the next change back waits it out.
        await waitOutCooldown();
        await expect(engine.setRiskParams(ETH, base)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(base));
        expect(await engine.riskParams(ETH)).to.deep.equal(riskTuple(base));
        // The step is per market: BTC kept its own values throughout.
        expect(await engine.riskParams(BTC)).to.deep.equal(riskTuple(RISK_PARAMS));
      });
    }

    it("the three risk rates are limited each on its own: all may move a full step in one call", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const base: Risk = { ...RISK_PARAMS, targetHealthFactor: wad(3) };
      await engine.setRiskParams(ETH, base);
      const up: Risk = {
        ...base,
        takerFeeRate: base.takerFeeRate + MAX_FEE_RATE_STEP,
        liquidationFeeRate: base.liquidationFeeRate + MAX_FEE_RATE_STEP,
        liquidationPenaltyRate: base.liquidationPenaltyRate + MAX_PENALTY_RATE_STEP,
      };
      await expect(engine.setRiskParams(ETH, up)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(up));
      await waitOutCooldown();
      await expect(engine.setRiskParams(ETH, base)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(base));
      expect(await engine.riskParams(ETH)).to.deep.equal(riskTuple(base));
    });

    it("maxFundingRatePerDay moves exactly MAX_FUNDING_RATE_STEP either way; one wei more reverts and changes nothing", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const name = b32("maxFundingRatePerDay");
      const step = MAX_FUNDING_RATE_STEP;
      const S = wad(100);
      const set = (rate: bigint) => engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: rate });
      // A listed market starts with funding off: the first rate is a step from 0.
      await expect(set(step + 1n)).to.be.revertedWithCustomError(engine, STEP).withArgs(name, 0n, step + 1n, step);
      expect(await fundingOf(engine, ETH)).to.deep.equal([0n, 0n]);
      await expect(set(step)).to.emit(engine, "FundingParamsSet").withArgs(ETH, [S, step]);
      await waitOutCooldown();
      await expect(set(2n * step)).to.emit(engine, "FundingParamsSet").withArgs(ETH, [S, 2n * step]);
      expect(await fundingOf(engine, ETH)).to.deep.equal([S, 2n * step]);

      await expect(set(3n * step + 1n))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(name, 2n * step, 3n * step + 1n, step);
      await expect(set(step - 1n))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(name, 2n * step, step - 1n, step);
      // A skew scale change in the same call does not excuse the rate's step.
      await expect(engine.setFundingParams(ETH, { skewScale: wad(5), maxFundingRatePerDay: 0n }))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(name, 2n * step, 0n, step);
      expect(await fundingOf(engine, ETH)).to.deep.equal([S, 2n * step]);

      // The steps were checked before the cooldown (above); each change waits it out.
      await waitOutCooldown();
      await expect(set(step)).to.emit(engine, "FundingParamsSet").withArgs(ETH, [S, step]);
      await waitOutCooldown();
      await expect(set(0n)).to.emit(engine, "FundingParamsSet").withArgs(ETH, [S, 0n]);
      expect(await fundingOf(engine, ETH)).to.deep.equal([S, 0n]);
      expect(await fundingOf(engine, BTC)).to.deep.equal([0n, 0n]);
    });

    it("reserveFactor moves exactly MAX_RESERVE_FACTOR_STEP either way; one wei more reverts and changes nothing", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const name = b32("reserveFactor");
      const step = MAX_RESERVE_FACTOR_STEP;
      const r0 = wad("0.2");
      expect(await engine.reserveFactor()).to.equal(r0);
      await expect(engine.setReserveFactor(r0 + step + 1n))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(name, r0, r0 + step + 1n, step);
      await expect(engine.setReserveFactor(r0 - step - 1n))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(name, r0, r0 - step - 1n, step);
      expect(await engine.reserveFactor()).to.equal(r0);

      await expect(engine.setReserveFactor(r0 + step)).to.emit(engine, "ReserveFactorSet").withArgs(r0 + step);
      expect(await engine.reserveFactor()).to.equal(r0 + step);
      await expect(engine.setReserveFactor(r0 - 1n))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(name, r0 + step, r0 - 1n, step);
      expect(await engine.reserveFactor()).to.equal(r0 + step);
      await waitOutCooldown();
      await expect(engine.setReserveFactor(r0)).to.emit(engine, "ReserveFactorSet").withArgs(r0);
      await waitOutCooldown();
      await expect(engine.setReserveFactor(r0 - step)).to.emit(engine, "ReserveFactorSet").withArgs(r0 - step);
      expect(await engine.reserveFactor()).to.equal(r0 - step);
    });

    // setMarginTiers, same floors: the 1M tier (5% / 2.5%) moves on its own; the lower tiers keep the table valid.
    for (const field of ["imr", "mmr"] as const) {
      it(`a tier's ${field} moves exactly MAX_MARGIN_RATE_STEP either way; one wei more reverts ("${field}", current, proposed)`, async function () {
        const { engine } = await networkHelpers.loadFixture(governanceFixture);
        const last = TIERS.length - 1;
        const withLast = (v: bigint) => TIERS.map((t, i) => (i === last ? { ...t, [field]: v } : t));
        const v0 = TIERS[last][field];
        const step = MAX_MARGIN_RATE_STEP;

        let before = await configSnapshot(engine, ALL);
        await expect(engine.setMarginTiers(ETH, withLast(v0 + step + 1n)))
          .to.be.revertedWithCustomError(engine, STEP)
          .withArgs(b32(field), v0, v0 + step + 1n, step);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

        const up = withLast(v0 + step);
        await expect(engine.setMarginTiers(ETH, up)).to.emit(engine, "MarginTiersSet").withArgs(ETH, up.map(tierTuple));
        expect(await engine.marginTiers(ETH)).to.deep.equal(up.map(tierTuple));

        before = await configSnapshot(engine, ALL);
        await expect(engine.setMarginTiers(ETH, withLast(v0 - 1n)))
          .to.be.revertedWithCustomError(engine, STEP)
          .withArgs(b32(field), v0 + step, v0 - 1n, step);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);

        await waitOutCooldown();
        await expect(engine.setMarginTiers(ETH, TIERS))
          .to.emit(engine, "MarginTiersSet")
          .withArgs(ETH, TIERS.map(tierTuple));
        expect(await engine.marginTiers(ETH)).to.deep.equal(TIERS.map(tierTuple));
        expect(await engine.marginTiers(BTC)).to.deep.equal(TIERS.map(tierTuple));
      });
    }

    it("every tier's imr and mmr may move a full step in one call", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const up = TIERS.map((t) => ({ ...t, imr: t.imr + MAX_MARGIN_RATE_STEP, mmr: t.mmr + MAX_MARGIN_RATE_STEP }));
      await expect(engine.setMarginTiers(ETH, up)).to.emit(engine, "MarginTiersSet").withArgs(ETH, up.map(tierTuple));
      await waitOutCooldown();
      await expect(engine.setMarginTiers(ETH, TIERS))
        .to.emit(engine, "MarginTiersSet")
        .withArgs(ETH, TIERS.map(tierTuple));
      expect(await engine.marginTiers(ETH)).to.deep.equal(TIERS.map(tierTuple));
    });

    describe("tier tables with different floors are compared at every floor of both", function () {
      const tier = (floor: number, imr: string, mmr: string): TierLike => ({
        notionalFloor: wad(floor),
        imr: wad(imr),
        mmr: wad(mmr),
      });
      // 1% / 2% / 3% IMR from 0, 100k and 200k; listed on SOL directly (listing is not step-limited).
      const BASE = [tier(0, "0.01", "0.005"), tier(100_000, "0.02", "0.01"), tier(200_000, "0.03", "0.015")];

      async function solFixture() {
        const f = await governanceFixture();
        await f.engine.listMarket(SOL, oracleConfig(await f.solFeed.getAddress()), RISK_PARAMS, BASE);
        return f;
      }

      /** setMarginTiers(SOL, tiers) reverts PerpParameterStepTooLarge(name, current, proposed) and changes nothing. */
      async function expectStep(engine: any, tiers: TierLike[], name: string, current: bigint, proposed: bigint) {
        const before = await configSnapshot(engine, ALL);
        await expect(engine.setMarginTiers(SOL, tiers))
          .to.be.revertedWithCustomError(engine, STEP)
          .withArgs(b32(name), current, proposed, MAX_MARGIN_RATE_STEP);
        expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
      }

      it("moving floors down so that notional 50k jumps two tiers (1% to 3%) reverts at the new floor", async function () {
        const { engine } = await networkHelpers.loadFixture(solFixture);
        // Every tier keeps its rates, and at the old floors (0, 100k, 200k) no rate moves more than a step; at the new
        // floor 50k, the rate goes from tier 0's 1% to tier 2's 3%.
        const lower = [tier(0, "0.01", "0.005"), tier(10_000, "0.02", "0.01"), tier(50_000, "0.03", "0.015")];
        await expectStep(engine, lower, "imr", wad("0.01"), wad("0.03"));
        // Moving them one tier's worth is accepted: 10k and 100k each rise by one step.
        const oneTier = [tier(0, "0.01", "0.005"), tier(10_000, "0.02", "0.01"), tier(100_000, "0.03", "0.015")];
        await expect(engine.setMarginTiers(SOL, oneTier))
          .to.emit(engine, "MarginTiersSet")
          .withArgs(SOL, oneTier.map(tierTuple));
        expect(await engine.marginTiers(SOL)).to.deep.equal(oneTier.map(tierTuple));
      });

      it("moving floors up so that notional 200k falls two tiers (3% to 1%) reverts at the old floor", async function () {
        const { engine } = await networkHelpers.loadFixture(solFixture);
        // At the new floors (250k, 300k) and at 100k the change is at most a step; at the old floor 200k it is two.
        const higher = [tier(0, "0.01", "0.005"), tier(250_000, "0.02", "0.01"), tier(300_000, "0.03", "0.015")];
        await expectStep(engine, higher, "imr", wad("0.03"), wad("0.01"));
        const oneTier = [tier(0, "0.01", "0.005"), tier(200_000, "0.02", "0.01"), tier(300_000, "0.03", "0.015")];
        await expect(engine.setMarginTiers(SOL, oneTier))
          .to.emit(engine, "MarginTiersSet")
          .withArgs(SOL, oneTier.map(tierTuple));
      });

      it("an added tier is checked at its own floor (imr and mmr)", async function () {
        const { engine } = await networkHelpers.loadFixture(solFixture);
        // From 1M the old table's rates are tier 2's (3% / 1.5%).
        const mmrTooFar = [...BASE, { notionalFloor: wad(1_000_000), imr: wad("0.04"), mmr: wad("0.025") + 1n }];
        await expectStep(engine, mmrTooFar, "mmr", wad("0.015"), wad("0.025") + 1n);
        const imrTooFar = [...BASE, { notionalFloor: wad(1_000_000), imr: wad("0.04") + 1n, mmr: wad("0.02") }];
        await expectStep(engine, imrTooFar, "imr", wad("0.03"), wad("0.04") + 1n);
        const added = [...BASE, tier(1_000_000, "0.04", "0.025")];
        await expect(engine.setMarginTiers(SOL, added))
          .to.emit(engine, "MarginTiersSet")
          .withArgs(SOL, added.map(tierTuple));
        expect(await engine.marginTiers(SOL)).to.deep.equal(added.map(tierTuple));
      });

      it("a removed tier is checked at its old floor", async function () {
        const { engine } = await networkHelpers.loadFixture(solFixture);
        // Dropping the 100k and 200k tiers: at 200k the rate would fall from 3% to 1%.
        await expectStep(engine, [tier(0, "0.01", "0.005")], "imr", wad("0.03"), wad("0.01"));
        // Dropping only the 100k tier: 2% to 1% there, one step.
        const removed = [tier(0, "0.01", "0.005"), tier(200_000, "0.03", "0.015")];
        await expect(engine.setMarginTiers(SOL, removed))
          .to.emit(engine, "MarginTiersSet")
          .withArgs(SOL, removed.map(tierTuple));
        expect(await engine.marginTiers(SOL)).to.deep.equal(removed.map(tierTuple));
      });
    });

    it("bounds and tier shape are checked before the step, the step before the liquidation cost", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      await engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, [
        { notionalFloor: 0n, imr: wad("0.1"), mmr: wad("0.05") },
      ]);
      const before = await configSnapshot(engine, ALL);
      // Out of bounds and too far: the bound.
      await expect(engine.setRiskParams(ETH, { ...RISK_PARAMS, takerFeeRate: wad("0.01") + 1n }))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("takerFeeRate"), wad("0.01") + 1n, 0n, wad("0.01"));
      await expect(engine.setFundingParams(ETH, { skewScale: wad(100), maxFundingRatePerDay: wad("0.05") + 1n }))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("maxFundingRatePerDay"), wad("0.05") + 1n, 0n, wad("0.05"));
      await expect(engine.setReserveFactor(wad(1) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("reserveFactor"), wad(1) + 1n, 0n, wad(1));
      // An invalid table far from the current one: the tier rule.
      await expect(engine.setMarginTiers(ETH, [{ notionalFloor: 0n, imr: wad("0.5"), mmr: wad("0.5") }]))
        .to.be.revertedWithCustomError(engine, "PerpInvalidTier")
        .withArgs(0n);
      // Too far and too costly (keeper 1% + penalty 0.2% >= 1.25 * 0.5%): the step.
      await expect(engine.setRiskParams(ETH, { ...RISK_PARAMS, liquidationFeeRate: wad("0.01") }))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(b32("liquidationFeeRate"), wad("0.001"), wad("0.01"), MAX_FEE_RATE_STEP);
      // mmr0 5% to 0.1% (cost 0.3% >= 1.25 * 0.1%): the step.
      await expect(engine.setMarginTiers(SOL, [{ notionalFloor: 0n, imr: wad("0.1"), mmr: MIN_MMR }]))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(b32("mmr"), wad("0.05"), MIN_MMR, MAX_MARGIN_RATE_STEP);
      expect(await configSnapshot(engine, ALL)).to.deep.equal(before);
    });

    it("listMarket accepts any in-bounds values, however far from other markets'; later changes step from them", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      const feed = await solFeed.getAddress();
      const XRP = b32("XRP-USD");
      const highest: Risk = {
        takerFeeRate: wad("0.01"),
        liquidationFeeRate: wad("0.01"),
        liquidationPenaltyRate: wad("0.05"),
        targetHealthFactor: wad(3),
        minKeeperFee: wad(1_000),
        maxKeeperFee: wad(100_000),
        minPositionNotional: wad(100_000),
        fullLiquidationNotional: wad(10_000_000),
      };
      const steepest = [{ notionalFloor: 0n, imr: MAX_IMR, mmr: MAX_MMR }];
      const lowest: Risk = {
        takerFeeRate: 0n,
        liquidationFeeRate: 0n,
        liquidationPenaltyRate: 0n,
        targetHealthFactor: wad("1.05"),
        minKeeperFee: 0n,
        maxKeeperFee: 0n,
        minPositionNotional: wad(1),
        fullLiquidationNotional: 0n,
      };
      const flattest = [{ notionalFloor: 0n, imr: MIN_MMR + 1n, mmr: MIN_MMR }];
      const others = await configSnapshot(engine, [ETH, BTC]);
      await expect(engine.listMarket(SOL, oracleConfig(feed), highest, steepest))
        .to.emit(engine, "MarketListed")
        .withArgs(SOL, oracleTuple({ ...oracleConfig(feed), decimals: 8 }), riskTuple(highest), steepest.map(tierTuple));
      await expect(engine.listMarket(XRP, oracleConfig(feed), lowest, flattest))
        .to.emit(engine, "MarketListed")
        .withArgs(XRP, oracleTuple({ ...oracleConfig(feed), decimals: 8 }), riskTuple(lowest), flattest.map(tierTuple));
      expect(await engine.riskParams(SOL)).to.deep.equal(riskTuple(highest));
      expect(await engine.marginTiers(SOL)).to.deep.equal(steepest.map(tierTuple));
      expect(await engine.riskParams(XRP)).to.deep.equal(riskTuple(lowest));
      expect(await engine.marginTiers(XRP)).to.deep.equal(flattest.map(tierTuple));
      expect(await configSnapshot(engine, [ETH, BTC])).to.deep.equal(others);

      // From then on each market steps from its own listed values.
      const lowerFee = highest.takerFeeRate - MAX_FEE_RATE_STEP - 1n;
      await expect(engine.setRiskParams(SOL, { ...highest, takerFeeRate: lowerFee }))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(b32("takerFeeRate"), highest.takerFeeRate, lowerFee, MAX_FEE_RATE_STEP);
      const higherImr = MIN_MMR + 1n + MAX_MARGIN_RATE_STEP + 1n;
      await expect(engine.setMarginTiers(XRP, [{ ...flattest[0], imr: higherImr }]))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(b32("imr"), MIN_MMR + 1n, higherImr, MAX_MARGIN_RATE_STEP);
      // Funding starts off on a new market: its first rate is a step from 0.
      const firstRate = MAX_FUNDING_RATE_STEP + 1n;
      await expect(engine.setFundingParams(SOL, { skewScale: wad(100), maxFundingRatePerDay: firstRate }))
        .to.be.revertedWithCustomError(engine, STEP)
        .withArgs(b32("maxFundingRatePerDay"), 0n, firstRate, MAX_FUNDING_RATE_STEP);
    });

    it("non-rate parameters jump between their bounds in one call", async function () {
      const { engine, ethFeed } = await networkHelpers.loadFixture(governanceFixture);
      // Risk params: every non-rate field from one bound to the other, rates unchanged.
      const high: Risk = {
        ...RISK_PARAMS,
        targetHealthFactor: wad(3),
        minKeeperFee: wad(1_000),
        maxKeeperFee: wad(100_000),
        minPositionNotional: wad(100_000),
        fullLiquidationNotional: wad(10_000_000),
      };
      const low: Risk = {
        ...RISK_PARAMS,
        targetHealthFactor: wad("1.05"), // 1.05 * 0.5% > 0.1% + 0.2%
        minKeeperFee: 0n,
        maxKeeperFee: 0n,
        minPositionNotional: wad(1),
        fullLiquidationNotional: 0n,
      };
      for (const p of [high, low]) {
        await expect(engine.setRiskParams(ETH, p)).to.emit(engine, "RiskParamsSet").withArgs(ETH, riskTuple(p));
        expect(await engine.riskParams(ETH)).to.deep.equal(riskTuple(p));
      }
      // Funding skew scale across its whole range, the rate unchanged.
      for (const skewScale of [wad(1), 10n ** 33n, wad(1)]) {
        await expect(engine.setFundingParams(ETH, { skewScale, maxFundingRatePerDay: 0n }))
          .to.emit(engine, "FundingParamsSet")
          .withArgs(ETH, [skewScale, 0n]);
      }
      // Exposure: impact scale and open-interest caps from one bound to the other.
      for (const e of [
        { impactSkewScale: 10n ** 33n, maxLongOpenInterestRatio: 0n, maxShortOpenInterestRatio: 0n },
        { impactSkewScale: wad(1), maxLongOpenInterestRatio: wad(10), maxShortOpenInterestRatio: wad(10) },
      ]) {
        await expect(engine.setExposureParams(ETH, e))
          .to.emit(engine, "ExposureParamsSet")
          .withArgs(ETH, [e.impactSkewScale, e.maxLongOpenInterestRatio, e.maxShortOpenInterestRatio]);
      }
      // Oracle heartbeat from its maximum to its minimum.
      const feed = await ethFeed.getAddress();
      for (const heartbeat of [MAX_HEARTBEAT, MIN_HEARTBEAT]) {
        await expect(engine.setOracleConfig(ETH, { ...oracleConfig(feed), heartbeat })).to.emit(
          engine,
          "OracleConfigSet",
        );
        expect((await engine.oracleConfig(ETH)).heartbeat).to.equal(heartbeat);
      }
    });
  });

  describe("rate change cooldown", function () {
    const TOO_SOON = "PerpRateChangeTooSoon";
    const STEP_ERROR = "PerpParameterStepTooLarge";
    const I = MIN_RATE_CHANGE_INTERVAL;
    /** With a gas limit, a reverting call is mined (in the block whose timestamp the test set), not just estimated. */
    const MINED = { gasLimit: 3_000_000 };
    const S = wad(100); // funding skew scale

    const latestTime = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const timeOf = async (tx: any) => {
      const receipt = await tx.wait();
      return BigInt((await ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
    };
    const at = (t: bigint) => networkHelpers.time.setNextBlockTimestamp(t);
    /** Every governed value of both markets, funding and exposure included, plus the globals. */
    const governedState = async (engine: any) => {
      const out: Record<string, unknown> = await configSnapshot(engine, ALL);
      for (const m of [ETH, BTC]) {
        out[`funding:${m}`] = plain(await engine.fundingParams(m));
        out[`exposure:${m}`] = plain(await engine.exposureParams(m));
      }
      return out;
    };

    // One allowed step of each stepped rate from the fixture's values, and back.
    const tiersUp = TIERS.map((t, i) => (i === TIERS.length - 1 ? { ...t, imr: t.imr + MAX_MARGIN_RATE_STEP } : t));
    const feeUp: Risk = { ...RISK_PARAMS, takerFeeRate: RISK_PARAMS.takerFeeRate + MAX_FEE_RATE_STEP };

    /** Per setter: three consecutive changes, each one allowed step from the previous value. */
    const setters: [string, string, (engine: any, k: number, overrides?: object) => Promise<any>][] = [
      [
        "marginTiers",
        "MarginTiersSet",
        (engine, k, o = {}) => engine.setMarginTiers(ETH, k % 2 === 1 ? tiersUp : TIERS, o),
      ],
      [
        "riskParams",
        "RiskParamsSet",
        (engine, k, o = {}) => engine.setRiskParams(ETH, k % 2 === 1 ? feeUp : RISK_PARAMS, o),
      ],
      [
        "funding",
        "FundingParamsSet",
        (engine, k, o = {}) => {
          const maxFundingRatePerDay = [0n, 1n, 2n, 1n][k] * MAX_FUNDING_RATE_STEP;
          return engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay }, o);
        },
      ],
      [
        "reserveFactor",
        "ReserveFactorSet",
        (engine, k, o = {}) => engine.setReserveFactor(wad("0.2") + [0n, 1n, 2n, 1n][k] * MAX_RESERVE_FACTOR_STEP, o),
      ],
    ];
    for (const [name, event, change] of setters) {
      it(`${name}: a second change one second before the interval reverts ${TOO_SOON}("${name}", allowedAt) and changes nothing; at the interval it passes and restarts the timer`, async function () {
        const { engine } = await networkHelpers.loadFixture(governanceFixture);
        // The first change after deployment or listing is not restricted.
        const t1 = await timeOf(await change(engine, 1));
        const allowedAt = t1 + I;
        const before = await governedState(engine);

        await at(allowedAt - 1n);
        await expect(change(engine, 2, MINED))
          .to.be.revertedWithCustomError(engine, TOO_SOON)
          .withArgs(b32(name), allowedAt);
        expect(await latestTime()).to.equal(allowedAt - 1n); // the revert was mined at that second
        expect(await governedState(engine)).to.deep.equal(before);

        await at(allowedAt);
        const tx = await change(engine, 2);
        await expect(tx).to.emit(engine, event);
        expect(await timeOf(tx)).to.equal(allowedAt);
        expect(await governedState(engine)).to.not.deep.equal(before);

        // The accepted change restarted the timer.
        await expect(change(engine, 3))
          .to.be.revertedWithCustomError(engine, TOO_SOON)
          .withArgs(b32(name), allowedAt + I);
      });
    }

    it("the three market setters share one timer per market, each naming itself; other markets and the reserve factor have their own", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      const t1 = await timeOf(await engine.setMarginTiers(ETH, tiersUp));
      const allowedAt = t1 + I;
      const before = await governedState(engine);
      await expect(engine.setRiskParams(ETH, feeUp))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("riskParams"), allowedAt);
      await expect(engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: MAX_FUNDING_RATE_STEP }))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("funding"), allowedAt);
      await expect(engine.setMarginTiers(ETH, TIERS))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("marginTiers"), allowedAt);
      expect(await governedState(engine)).to.deep.equal(before);

      // BTC is not blocked by ETH's change; its own first change then blocks BTC only.
      await expect(engine.setRiskParams(BTC, feeUp)).to.emit(engine, "RiskParamsSet");
      const tBtc = await latestTime();
      await expect(engine.setMarginTiers(BTC, tiersUp))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("marginTiers"), tBtc + I);
      // The reserve factor is not blocked by the markets' changes, and does not block them.
      await expect(engine.setReserveFactor(wad("0.3"))).to.emit(engine, "ReserveFactorSet").withArgs(wad("0.3"));
      await expect(engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: MAX_FUNDING_RATE_STEP }))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("funding"), allowedAt);

      // At ETH's allowedAt, any one of its setters may change a rate.
      await at(allowedAt);
      await expect(engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: MAX_FUNDING_RATE_STEP })).to.emit(
        engine,
        "FundingParamsSet",
      );
      await expect(engine.setRiskParams(ETH, feeUp))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("riskParams"), allowedAt + I);
    });

    it("listing starts no timer: a new market's first rate change is accepted at once", async function () {
      const { engine, solFeed } = await networkHelpers.loadFixture(governanceFixture);
      await engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, TIERS);
      const t = await timeOf(await engine.setMarginTiers(SOL, tiersUp));
      await expect(engine.setRiskParams(SOL, feeUp))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("riskParams"), t + I);
    });

    it("changes of non-rate fields are not blocked and do not restart the timer", async function () {
      const { engine, ethFeed } = await networkHelpers.loadFixture(governanceFixture);
      const firstRate = { skewScale: S, maxFundingRatePerDay: MAX_FUNDING_RATE_STEP };
      const t1 = await timeOf(await engine.setFundingParams(ETH, firstRate));
      const tRf = await timeOf(await engine.setReserveFactor(wad("0.3")));
      const allowedAt = t1 + I;

      // Within the cooldown: every field but the stepped rates, one setter after another.
      const keeperFee: Risk = { ...RISK_PARAMS, minKeeperFee: wad(6) };
      await expect(engine.setRiskParams(ETH, keeperFee))
        .to.emit(engine, "RiskParamsSet")
        .withArgs(ETH, riskTuple(keeperFee));
      const targetHealth: Risk = { ...keeperFee, targetHealthFactor: wad(2), fullLiquidationNotional: wad(20_000) };
      await expect(engine.setRiskParams(ETH, targetHealth)).to.emit(engine, "RiskParamsSet");
      await expect(engine.setFundingParams(ETH, { skewScale: wad(5), maxFundingRatePerDay: MAX_FUNDING_RATE_STEP }))
        .to.emit(engine, "FundingParamsSet")
        .withArgs(ETH, [wad(5), MAX_FUNDING_RATE_STEP]);
      const exposure = {
        impactSkewScale: wad(1_000),
        maxLongOpenInterestRatio: wad(1),
        maxShortOpenInterestRatio: wad(2),
      };
      await expect(engine.setExposureParams(ETH, exposure)).to.emit(engine, "ExposureParamsSet");
      const oracle = { ...oracleConfig(await ethFeed.getAddress()), heartbeat: 7_200 };
      await expect(engine.setOracleConfig(ETH, oracle)).to.emit(engine, "OracleConfigSet");
      expect((await engine.riskParams(ETH)).minKeeperFee).to.equal(wad(6));
      expect((await engine.fundingParams(ETH)).skewScale).to.equal(wad(5));
      // The reserve factor keeps its own timer, from its own change.
      await expect(engine.setReserveFactor(wad("0.4")))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("reserveFactor"), tRf + I);

      // The rates are still due at allowedAt from the first change, not later: nothing above restarted the timer.
      const feeAndHealth: Risk = { ...targetHealth, takerFeeRate: feeUp.takerFeeRate };
      await at(allowedAt - 1n);
      await expect(engine.setRiskParams(ETH, feeAndHealth, MINED))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("riskParams"), allowedAt);
      await at(allowedAt);
      await expect(engine.setRiskParams(ETH, feeAndHealth))
        .to.emit(engine, "RiskParamsSet")
        .withArgs(ETH, riskTuple(feeAndHealth));
      await at(tRf + I); // after allowedAt: the reserve factor changed a block after the funding rate
      await expect(engine.setReserveFactor(wad("0.4"))).to.emit(engine, "ReserveFactorSet").withArgs(wad("0.4"));
    });

    it("within the cooldown a no-op still reverts PerpParameterUnchanged; bounds and steps come first, the liquidation cost after", async function () {
      const { engine } = await networkHelpers.loadFixture(governanceFixture);
      await engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: 0n }); // skew scale only: no timer
      const t1 = await timeOf(await engine.setMarginTiers(ETH, tiersUp));
      await engine.setReserveFactor(wad("0.3"));
      const allowedAt = t1 + I;
      const before = await governedState(engine);

      // No-ops: no rate would change, so the cooldown does not apply.
      for (const call of [
        () => engine.setMarginTiers(ETH, tiersUp),
        () => engine.setRiskParams(ETH, RISK_PARAMS),
        () => engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: 0n }),
        () => engine.setReserveFactor(wad("0.3")),
      ]) {
        await expect(call()).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
      }
      // Bounds, tier rules and steps are checked before the cooldown.
      await expect(engine.setRiskParams(ETH, { ...RISK_PARAMS, takerFeeRate: wad("0.01") + 1n }))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("takerFeeRate"), wad("0.01") + 1n, 0n, wad("0.01"));
      await expect(engine.setReserveFactor(wad(1) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
        .withArgs(b32("reserveFactor"), wad(1) + 1n, 0n, wad(1));
      await expect(engine.setMarginTiers(ETH, [{ notionalFloor: 0n, imr: wad("0.01"), mmr: wad("0.01") }]))
        .to.be.revertedWithCustomError(engine, "PerpInvalidTier")
        .withArgs(0n);
      const farFee = RISK_PARAMS.takerFeeRate + MAX_FEE_RATE_STEP + 1n;
      await expect(engine.setRiskParams(ETH, { ...RISK_PARAMS, takerFeeRate: farFee }))
        .to.be.revertedWithCustomError(engine, STEP_ERROR)
        .withArgs(b32("takerFeeRate"), RISK_PARAMS.takerFeeRate, farFee, MAX_FEE_RATE_STEP);
      await expect(engine.setFundingParams(ETH, { skewScale: S, maxFundingRatePerDay: MAX_FUNDING_RATE_STEP + 1n }))
        .to.be.revertedWithCustomError(engine, STEP_ERROR)
        .withArgs(b32("maxFundingRatePerDay"), 0n, MAX_FUNDING_RATE_STEP + 1n, MAX_FUNDING_RATE_STEP);
      await expect(engine.setReserveFactor(wad("0.4") + 1n))
        .to.be.revertedWithCustomError(engine, STEP_ERROR)
        .withArgs(b32("reserveFactor"), wad("0.3"), wad("0.4") + 1n, MAX_RESERVE_FACTOR_STEP);
      // The cooldown before the liquidation cost: penalty 0.7% + keeper 0.1% >= 1.25 * 0.5%, and mmr0 0.24% (cost
      // 0.3% = 1.25 * 0.24%), both within a step.
      const costly = {
        ...RISK_PARAMS,
        liquidationPenaltyRate: RISK_PARAMS.liquidationPenaltyRate + MAX_PENALTY_RATE_STEP,
      };
      const lowMmr = [{ ...tiersUp[0], mmr: wad("0.0024") }, ...tiersUp.slice(1)];
      await expect(engine.setRiskParams(ETH, costly))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("riskParams"), allowedAt);
      await expect(engine.setMarginTiers(ETH, lowMmr))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("marginTiers"), allowedAt);
      expect(await governedState(engine)).to.deep.equal(before);

      await at(allowedAt);
      await expect(engine.setRiskParams(ETH, costly))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(wad("0.008"), wad("0.00625"));
      await expect(engine.setMarginTiers(ETH, lowMmr))
        .to.be.revertedWithCustomError(engine, "PerpLiquidationCostTooHigh")
        .withArgs(wad("0.003"), wad("0.003"));
      expect(await governedState(engine)).to.deep.equal(before);
    });

    it("a TimelockController batch of two reserve-factor steps reverts on the second; as two operations a day apart they pass", async function () {
      const { engine, deployer } = await networkHelpers.loadFixture(governanceFixture);
      const [, , , , , , , proposer, executor] = await ethers.getSigners();
      const DELAY = 2n * 86_400n;
      const timelock = await ethers.deployContract("TimelockController", [
        DELAY,
        [proposer.address],
        [executor.address],
        ethers.ZeroAddress,
      ]);
      await engine.grantRole(await engine.GOVERNOR_ROLE(), timelock);
      await engine.renounceRole(await engine.GOVERNOR_ROLE(), deployer.address);
      const target = await engine.getAddress();
      const step = (v: string) => engine.interface.encodeFunctionData("setReserveFactor", [wad(v)]);

      // Two steps of 10 points, each within MAX_RESERVE_FACTOR_STEP, in one operation after a single delay.
      const batch: [string[], bigint[], string[], string, string] = [
        [target, target],
        [0n, 0n],
        [step("0.3"), step("0.4")],
        ethers.ZeroHash,
        ethers.id("batch"),
      ];
      await timelock.connect(proposer).scheduleBatch(...batch, DELAY);
      const id = await timelock.hashOperationBatch(...batch);
      const readyAt = await timelock.getTimestamp(id);
      await at(readyAt);
      await expect(timelock.connect(executor).executeBatch(...batch, MINED))
        .to.be.revertedWithCustomError(engine, TOO_SOON)
        .withArgs(b32("reserveFactor"), readyAt + I);
      expect(await latestTime()).to.equal(readyAt);
      expect(await engine.reserveFactor()).to.equal(wad("0.2"));
      expect(await timelock.isOperationDone(id)).to.equal(false);

      // The same steps as two operations, the second scheduled to become ready a day after the first: both pass.
      const first = [target, 0n, step("0.3"), ethers.ZeroHash, ethers.id("first")] as const;
      const second = [target, 0n, step("0.4"), ethers.ZeroHash, ethers.id("second")] as const;
      await timelock.connect(proposer).schedule(...first, DELAY);
      await timelock.connect(proposer).schedule(...second, DELAY + I);
      const firstAt = await timelock.getTimestamp(await timelock.hashOperation(...first));
      const secondAt = await timelock.getTimestamp(await timelock.hashOperation(...second));
      await at(firstAt);
      await timelock.connect(executor).execute(...first);
      expect(await engine.reserveFactor()).to.equal(wad("0.3"));
      expect(secondAt >= firstAt + I).to.equal(true);
      await at(secondAt);
      await timelock.connect(executor).execute(...second);
      expect(await engine.reserveFactor()).to.equal(wad("0.4"));
    });
  });
});
