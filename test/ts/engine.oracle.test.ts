import { expect } from "chai";
import { network } from "hardhat";

import {
  deployProtocol,
  ETH,
  BTC,
  HEARTBEAT,
  RISK_PARAMS,
  EXPOSURE_PARAMS,
  TIERS,
  oracleConfig,
  usd,
  wad,
  answer,
} from "./helpers/fixture.js";
import { OracleStatus, snapshot } from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const MIN_PRICE = wad(1);
const MAX_PRICE = wad(1_000_000);
const GRACE = 600;

async function protocolFixture() {
  return deployProtocol(ethers);
}

/** Alice holds 10,000 USD free and a long of 10 ETH at 3,000 with 985 USD collateral; Bob has 1,000 USD free. */
async function aliceLongFixture() {
  const f = await deployProtocol(ethers);
  await f.engine.connect(f.alice).deposit(usd(10_000));
  await f.engine.connect(f.alice).modifyPosition(ETH, wad(10), usd(1_000), wad(3_000));
  await f.engine.connect(f.bob).deposit(usd(1_000));
  return f;
}

/** aliceLongFixture plus an L2 sequencer uptime feed (up, status unchanged for a day) and a 600 s grace period. */
async function sequencerFixture() {
  const f = await aliceLongFixture();
  const sequencer = await ethers.deployContract("MockV3Aggregator", [0, 0]);
  const now = await time.latest();
  await sequencer.updateRoundData(1, 0, now - 86_400, now - 86_400);
  await f.engine.setSequencerConfig(sequencer, GRACE);
  return { ...f, sequencer };
}

type Fixture = Awaited<ReturnType<typeof sequencerFixture>>;

async function feedUpdatedAt(feed: Fixture["ethFeed"]): Promise<bigint> {
  return (await feed.latestRoundData())[3];
}

/** Puts the sequencer back up at `startedAt` (so the grace period runs until startedAt + GRACE). */
async function sequencerRestartedAt(f: Fixture, startedAt: number) {
  await f.sequencer.updateRoundData(2, 0, startedAt, startedAt);
}

describe("TidemarkEngine: oracle", function () {
  describe("oracleStatus view", function () {
    it("Ok with the normalised price on a fresh in-bounds answer", async function () {
      const { engine } = await networkHelpers.loadFixture(protocolFixture);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Ok, wad(3_000)]);
      expect(await engine.oracleStatus(BTC)).to.deep.equal([OracleStatus.Ok, wad(60_000)]);
    });

    it("Stale once the round is more than a heartbeat old, at a future or zero timestamp", async function () {
      const { engine, ethFeed } = await networkHelpers.loadFixture(protocolFixture);
      const updatedAt = await feedUpdatedAt(ethFeed);
      await time.increaseTo(updatedAt + BigInt(HEARTBEAT));
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Ok, wad(3_000)]);
      await time.increaseTo(updatedAt + BigInt(HEARTBEAT) + 1n);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Stale, wad(3_000)]);

      const now = await time.latest();
      await ethFeed.updateRoundData(10, answer(3_100), now + 100, now + 100);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Stale, wad(3_100)]);
      await ethFeed.updateRoundData(11, answer(3_100), 0, 0);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Stale, wad(3_100)]);
    });

    it("InvalidAnswer with price 0 for a zero or negative answer", async function () {
      const { engine, ethFeed } = await networkHelpers.loadFixture(protocolFixture);
      await ethFeed.updateAnswer(0);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.InvalidAnswer, 0n]);
      await ethFeed.updateAnswer(-answer(5));
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.InvalidAnswer, 0n]);
      // The other market is unaffected.
      expect(await engine.oracleStatus(BTC)).to.deep.equal([OracleStatus.Ok, wad(60_000)]);
    });

    it("OutOfBounds outside [minPrice, maxPrice], Ok on both bounds", async function () {
      const { engine, ethFeed } = await networkHelpers.loadFixture(protocolFixture);
      await ethFeed.updateAnswer(answer(1_000_000));
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Ok, MAX_PRICE]);
      await ethFeed.updateAnswer(answer(1_000_000) + 1n);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.OutOfBounds, MAX_PRICE + 10n ** 10n]);
      await ethFeed.updateAnswer(answer(1));
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Ok, MIN_PRICE]);
      await ethFeed.updateAnswer(answer(1) - 1n);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.OutOfBounds, MIN_PRICE - 10n ** 10n]);
    });

    it("SequencerDown when the uptime feed answers 1, has no start time, or cannot be read", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, sequencer, token } = f;
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Ok, wad(3_000)]);
      const now = await time.latest();
      await sequencer.updateRoundData(2, 1, now, now);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.SequencerDown, 0n]);
      expect(await engine.oracleStatus(BTC)).to.deep.equal([OracleStatus.SequencerDown, 0n]);
      await sequencer.updateRoundData(3, 0, now, 0);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.SequencerDown, 0n]);
      // A feed address that does not implement latestRoundData.
      await engine.setSequencerConfig(token, GRACE);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.SequencerDown, 0n]);
    });

    it("GracePeriod (with the price) until startedAt + gracePeriod, then Ok; a bad price wins over the grace period", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, ethFeed } = f;
      const restart = (await time.latest()) + 1;
      await sequencerRestartedAt(f, restart);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.GracePeriod, wad(3_000)]);
      await ethFeed.updateAnswer(answer(3_001));
      await time.increaseTo(restart + GRACE - 1);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.GracePeriod, wad(3_001)]);
      await time.increaseTo(restart + GRACE);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Ok, wad(3_001)]);

      // During a grace period, a stale, invalid or out-of-bounds price reports the price problem.
      await sequencerRestartedAt(f, await time.latest());
      await ethFeed.updateAnswer(0);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.InvalidAnswer, 0n]);
      await ethFeed.updateAnswer(answer(2_000_000));
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.OutOfBounds, wad(2_000_000)]);
      const now = await time.latest();
      await ethFeed.updateRoundData(50, answer(3_000), now - HEARTBEAT - 1, now - HEARTBEAT - 1);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.Stale, wad(3_000)]);
    });

    it("reverts PerpUnknownMarket for an unlisted market", async function () {
      const { engine } = await networkHelpers.loadFixture(protocolFixture);
      const id = ethers.encodeBytes32String("NOPE");
      await expect(engine.oracleStatus(id)).to.be.revertedWithCustomError(engine, "PerpUnknownMarket").withArgs(id);
    });
  });

  describe("opening reverts with the oracle error", function () {
    it("OracleStale(market, updatedAt, heartbeat) one second after the heartbeat; at the heartbeat it opens", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, ethFeed, bob, alice } = f;
      const updatedAt = await feedUpdatedAt(ethFeed);

      await time.setNextBlockTimestamp(updatedAt + BigInt(HEARTBEAT));
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000))).to.emit(engine, "PositionModified");

      const before = await snapshot(f, [alice, bob], [ETH]);
      await time.setNextBlockTimestamp(updatedAt + BigInt(HEARTBEAT) + 1n);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(ETH, updatedAt, HEARTBEAT);
      expect(await snapshot(f, [alice, bob], [ETH])).to.deep.equal(before);
    });

    it("OracleInvalidAnswer(market, answer) for a zero and a negative answer", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, ethFeed, bob } = f;
      const before = await snapshot(f, [bob], [ETH]);
      await ethFeed.updateAnswer(0);
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "OracleInvalidAnswer")
        .withArgs(ETH, 0n);
      await ethFeed.updateAnswer(-1n);
      await expect(engine.connect(bob).modifyPosition(ETH, -wad(1), usd(100), 0))
        .to.be.revertedWithCustomError(engine, "OracleInvalidAnswer")
        .withArgs(ETH, -1n);
      expect(await snapshot(f, [bob], [ETH])).to.deep.equal(before);
    });

    it("OracleOutOfBounds(market, price, min, max) above the maximum and below the minimum", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, ethFeed, bob } = f;
      const before = await snapshot(f, [bob], [ETH]);
      await ethFeed.updateAnswer(answer(1_000_001));
      await expect(engine.connect(bob).modifyPosition(ETH, wad("0.001"), usd(100), MAX_PRICE * 2n))
        .to.be.revertedWithCustomError(engine, "OracleOutOfBounds")
        .withArgs(ETH, wad(1_000_001), MIN_PRICE, MAX_PRICE);
      await ethFeed.updateAnswer(answer("0.5"));
      await expect(engine.connect(bob).modifyPosition(ETH, wad(100), usd(100), wad(1)))
        .to.be.revertedWithCustomError(engine, "OracleOutOfBounds")
        .withArgs(ETH, wad("0.5"), MIN_PRICE, MAX_PRICE);
      expect(await snapshot(f, [bob], [ETH])).to.deep.equal(before);
    });

    it("OracleSequencerDown(market) while the sequencer is down, even with a stale price", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, sequencer, bob } = f;
      const now = await time.latest();
      await sequencer.updateRoundData(2, 1, now, now);
      const before = await snapshot(f, [bob], [ETH, BTC]);
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "OracleSequencerDown")
        .withArgs(ETH);
      await time.increase(HEARTBEAT + 1);
      await expect(engine.connect(bob).modifyPosition(BTC, wad("0.01"), usd(100), wad(60_000)))
        .to.be.revertedWithCustomError(engine, "OracleSequencerDown")
        .withArgs(BTC);
      expect(await snapshot(f, [bob], [ETH, BTC])).to.deep.equal(before);
    });

    it("OracleGracePeriod(market, graceEndsAt) within the grace period; opens exactly when it ends", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, bob, alice } = f;
      const restart = (await time.latest()) + 1;
      await sequencerRestartedAt(f, restart);
      const before = await snapshot(f, [alice, bob], [ETH]);
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "OracleGracePeriod")
        .withArgs(ETH, restart + GRACE);
      await time.setNextBlockTimestamp(restart + GRACE - 1);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "OracleGracePeriod")
        .withArgs(ETH, restart + GRACE);
      expect(await snapshot(f, [alice, bob], [ETH])).to.deep.equal(before);

      await time.setNextBlockTimestamp(restart + GRACE);
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000))).to.emit(engine, "PositionModified");
    });
  });

  describe("which actions need which status", function () {
    it("in the grace period: decrease, close and addCollateral work; increase and removeCollateral do not", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, alice } = f;
      const restart = await time.latest();
      await sequencerRestartedAt(f, restart);
      const endsAt = restart + GRACE;

      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "OracleGracePeriod")
        .withArgs(ETH, endsAt);
      await expect(engine.connect(alice).removeCollateral(ETH, usd(1)))
        .to.be.revertedWithCustomError(engine, "OracleGracePeriod")
        .withArgs(ETH, endsAt);

      await expect(engine.connect(alice).addCollateral(ETH, usd(15)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, usd(15), usd(1_000));
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(4), 0, 0))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(4), 0n, wad(3_000), usd(6), 0n, wad(6), usd(994), wad(3_000), wad(3_000), 0n);
      await expect(engine.connect(alice).closePosition(ETH, 0))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(6), 0n, wad(3_000), usd(9), 0n, 0n, 0n, 0n, wad(3_000), 0n);
      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_000) - usd(15) + usd(985));
      expect(await time.latest()).to.be.lessThan(endsAt);
    });

    it("with a stale price: close and decrease revert OracleStale, also during a grace period", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, ethFeed, alice } = f;
      const updatedAt = await feedUpdatedAt(ethFeed);
      await time.increaseTo(updatedAt + BigInt(HEARTBEAT) + 1n);
      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).closePosition(ETH, 0))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(ETH, updatedAt, HEARTBEAT);
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(1), 0, 0))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(ETH, updatedAt, HEARTBEAT);
      await expect(engine.connect(alice).removeCollateral(ETH, usd(1)))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(ETH, updatedAt, HEARTBEAT);

      await sequencerRestartedAt(f, await time.latest());
      await expect(engine.connect(alice).closePosition(ETH, 0))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(ETH, updatedAt, HEARTBEAT);
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });

    it("close reverts OracleSequencerDown while the sequencer is down", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, sequencer, alice } = f;
      const now = await time.latest();
      await sequencer.updateRoundData(2, 1, now, now);
      await expect(engine.connect(alice).closePosition(ETH, 0))
        .to.be.revertedWithCustomError(engine, "OracleSequencerDown")
        .withArgs(ETH);
    });

    it("addCollateral, deposit and withdraw need no price: they work when stale, invalid or sequencer-down", async function () {
      const f = await networkHelpers.loadFixture(sequencerFixture);
      const { engine, token, ethFeed, sequencer, alice } = f;
      const updatedAt = await feedUpdatedAt(ethFeed);
      await time.increaseTo(updatedAt + BigInt(HEARTBEAT) + 1n);
      expect((await engine.oracleStatus(ETH))[0]).to.equal(OracleStatus.Stale);
      await expect(engine.connect(alice).addCollateral(ETH, usd(10)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, usd(10), usd(995));
      await expect(engine.connect(alice).withdraw(usd(100))).to.changeTokenBalance(ethers, token, alice, usd(100));
      await expect(engine.connect(alice).deposit(usd(50))).to.emit(engine, "Deposited").withArgs(alice.address, usd(50));

      await ethFeed.updateAnswer(-1n);
      await expect(engine.connect(alice).addCollateral(ETH, usd(5)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, usd(5), usd(1_000));

      const now = await time.latest();
      await sequencer.updateRoundData(2, 1, now, now);
      await expect(engine.connect(alice).addCollateral(ETH, usd(1)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, usd(1), usd(1_001));
      await expect(engine.connect(alice).withdraw(usd(44))).to.emit(engine, "Withdrawn").withArgs(alice.address, usd(44));
      // 9,000 - 10 - 100 + 50 - 5 - 1 - 44.
      expect(await engine.freeBalance(alice.address)).to.equal(usd(8_890));
    });
  });

  describe("feed decimals", function () {
    const M18 = ethers.encodeBytes32String("ETH18-USD");
    const M6 = ethers.encodeBytes32String("ETH6-USD");
    const M0 = ethers.encodeBytes32String("ETH0-USD");
    const M20 = ethers.encodeBytes32String("ETH20-USD");
    const M36 = ethers.encodeBytes32String("ETH36-USD");

    async function decimalsFixture() {
      const f = await deployProtocol(ethers);
      const feeds = {
        f18: await ethers.deployContract("MockV3Aggregator", [18, 3_000n * 10n ** 18n]),
        f6: await ethers.deployContract("MockV3Aggregator", [6, 3_000n * 10n ** 6n]),
        f0: await ethers.deployContract("MockV3Aggregator", [0, 3_000n]),
        // 3000.000000000000000000 99: two digits beyond WAD are truncated.
        f20: await ethers.deployContract("MockV3Aggregator", [20, 3_000n * 10n ** 20n + 99n]),
        f36: await ethers.deployContract("MockV3Aggregator", [36, 3_000n * 10n ** 36n]),
      };
      // oracleConfig() passes decimals 0: the engine must read the feed's own decimals.
      await f.engine.listMarket(M18, oracleConfig(await feeds.f18.getAddress()), RISK_PARAMS, TIERS);
      await f.engine.listMarket(M6, oracleConfig(await feeds.f6.getAddress()), RISK_PARAMS, TIERS);
      await f.engine.listMarket(M0, { ...oracleConfig(await feeds.f0.getAddress()), decimals: 8 }, RISK_PARAMS, TIERS);
      await f.engine.listMarket(M20, oracleConfig(await feeds.f20.getAddress()), RISK_PARAMS, TIERS);
      await f.engine.listMarket(M36, oracleConfig(await feeds.f36.getAddress()), RISK_PARAMS, TIERS);
      for (const m of [M18, M6, M0, M20, M36]) await f.engine.setExposureParams(m, EXPOSURE_PARAMS);
      return { ...f, feeds };
    }

    it("18-, 8-, 6-, 0-, 20- and 36-decimal feeds answering 3,000 give the same WAD price", async function () {
      const { engine } = await networkHelpers.loadFixture(decimalsFixture);
      for (const m of [ETH, M18, M6, M0, M20, M36]) {
        expect(await engine.oracleStatus(m)).to.deep.equal([OracleStatus.Ok, wad(3_000)]);
      }
    });

    it("stores the feed's own decimals whatever the config says", async function () {
      const { engine } = await networkHelpers.loadFixture(decimalsFixture);
      const decimalsOf = async (m: string) => (await engine.oracleConfig(m)).decimals;
      expect(await decimalsOf(ETH)).to.equal(8n);
      expect(await decimalsOf(M18)).to.equal(18n);
      expect(await decimalsOf(M6)).to.equal(6n);
      expect(await decimalsOf(M0)).to.equal(0n);
      expect(await decimalsOf(M20)).to.equal(20n);
      expect(await decimalsOf(M36)).to.equal(36n);
    });

    it("trades at the normalised price on 18- and 6-decimal markets identically", async function () {
      const { engine, alice } = await networkHelpers.loadFixture(decimalsFixture);
      await engine.connect(alice).deposit(usd(10_000));
      for (const m of [M18, M6]) {
        await expect(engine.connect(alice).modifyPosition(m, wad(10), usd(1_000), wad(3_000)))
          .to.emit(engine, "PositionModified")
          .withArgs(alice.address, m, wad(10), usd(1_000), wad(3_000), usd(15), 0n, wad(10), usd(985), wad(3_000), wad(3_000), 0n);
      }
    });

    it("applies the WAD bounds to the normalised price of a 6-decimal feed", async function () {
      const { engine, feeds, alice } = await networkHelpers.loadFixture(decimalsFixture);
      await feeds.f6.updateAnswer(999_999n); // 0.999999 USD
      expect(await engine.oracleStatus(M6)).to.deep.equal([OracleStatus.OutOfBounds, wad("0.999999")]);
      await engine.connect(alice).deposit(usd(100));
      await expect(engine.connect(alice).modifyPosition(M6, wad(100), usd(50), wad(1)))
        .to.be.revertedWithCustomError(engine, "OracleOutOfBounds")
        .withArgs(M6, wad("0.999999"), MIN_PRICE, MAX_PRICE);
    });
  });
});
