/**
 * A hostile price feed (docs/security.md, "Bad oracle answers"). engine.oracle.test.ts covers each oracle status for
 * opening, liquidation.test.ts for liquidate and a stale market in liquidateBatch, lens.test.ts the lens on stale,
 * out-of-bounds and zero answers. This file takes one market through every bad answer (stale, zero, negative, above the
 * maximum, absurdly large, a reverting feed) and checks, for each, the whole surface at once: every priced action
 * (open, increase, remove collateral, decrease, close, liquidate) is refused with the specific error, liquidateBatch
 * skips the market while liquidating another, isLiquidatable, the lens and the pool report it, no LP request can be
 * fulfilled (the pool's NAV needs a Chainlink reference for every market with open interest), adding collateral
 * still works, and nothing else changes.
 */
import { expect } from "chai";
import { network } from "hardhat";

import { BTC, BTC_PYTH_ID, ETH, ETH_PYTH_ID, HEARTBEAT, answer, deployProtocol, oracleConfig, usd, wad } from "../helpers/fixture.js";
import { OracleStatus, snapshot } from "../helpers/engine-helpers.js";
import { MAX_PRICE, MAX_UINT, engineEvents, expectSolvent, openPosition } from "../helpers/liquidation-helpers.js";
import { encodeUpdate, toPyth } from "../helpers/pyth.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const MIN_PRICE = wad(1);
const MAX_ACCEPTED = wad(1_000_000);
/** Largest answer a Chainlink OCR aggregator can report (answers are int192). */
const INT192_MAX = 2n ** 191n - 1n;
/** HostileAggregator.Mode */
const Mode = { Answer: 0, Revert: 1, ShortReturn: 2 } as const;

/**
 * ETH priced by a HostileAggregator (8 decimals). Alice: a healthy 10 ETH long with 985 USD collateral and 1,000 USD
 * free. Carol: a 3 ETH long with 150 USD, liquidatable at ETH 2,965. Bob: a 0.1 BTC long with 70 USD, liquidatable at
 * BTC 59,600, and 1,000 USD free to open with.
 */
async function hostileFixture() {
  const f = await deployProtocol(ethers);
  const feed = await ethers.deployContract("HostileAggregator", [8, answer(3_000)]);
  await f.engine.setOracleConfig(ETH, oracleConfig(await feed.getAddress()));
  await openPosition(f.engine, f.alice, ETH, wad(10), usd(1_000));
  await f.engine.connect(f.alice).deposit(usd(1_000));
  await openPosition(f.engine, f.carol, ETH, wad(3), usd(150));
  await openPosition(f.engine, f.bob, BTC, wad("0.1"), usd(70));
  await f.engine.connect(f.bob).deposit(usd(1_000));
  await feed.setAnswer(answer(2_965));
  await f.btcFeed.updateAnswer(answer(59_600));
  return { ...f, feed };
}

type F = Awaited<ReturnType<typeof hostileFixture>>;

type Bad = {
  name: string;
  /** Makes the feed misbehave; returns the error every priced action must revert with, and its arguments. */
  apply: (f: F) => Promise<{ error: string; args: unknown[] }>;
  status: bigint;
  /** Price the engine reports with the status (0: none). */
  price: bigint;
};

const BAD: Bad[] = [
  {
    name: "a stale round (one second past the heartbeat)",
    status: OracleStatus.Stale,
    price: wad(2_965),
    apply: async (f) => {
      const updatedAt = BigInt(await time.latest()) - BigInt(HEARTBEAT) - 1n;
      await f.feed.setRound(answer(2_965), updatedAt);
      return { error: "OracleStale", args: [ETH, updatedAt, HEARTBEAT] };
    },
  },
  {
    name: "a zero answer",
    status: OracleStatus.InvalidAnswer,
    price: 0n,
    apply: async (f) => {
      await f.feed.setAnswer(0);
      return { error: "OracleInvalidAnswer", args: [ETH, 0n] };
    },
  },
  {
    name: "a negative answer",
    status: OracleStatus.InvalidAnswer,
    price: 0n,
    apply: async (f) => {
      await f.feed.setAnswer(-answer(2_965));
      return { error: "OracleInvalidAnswer", args: [ETH, -answer(2_965)] };
    },
  },
  {
    name: "an answer just above the market's maximum",
    status: OracleStatus.OutOfBounds,
    price: MAX_ACCEPTED + 10n ** 10n,
    apply: async (f) => {
      await f.feed.setAnswer(answer(1_000_000) + 1n);
      return { error: "OracleOutOfBounds", args: [ETH, MAX_ACCEPTED + 10n ** 10n, MIN_PRICE, MAX_ACCEPTED] };
    },
  },
  {
    name: "an absurdly large answer (int192 max, the largest a Chainlink aggregator reports)",
    status: OracleStatus.OutOfBounds,
    price: INT192_MAX * 10n ** 10n,
    apply: async (f) => {
      await f.feed.setAnswer(INT192_MAX);
      return { error: "OracleOutOfBounds", args: [ETH, INT192_MAX * 10n ** 10n, MIN_PRICE, MAX_ACCEPTED] };
    },
  },
  {
    name: "a feed whose latestRoundData reverts",
    status: OracleStatus.InvalidAnswer,
    price: 0n,
    apply: async (f) => {
      await f.feed.setMode(Mode.Revert);
      return { error: "OracleInvalidAnswer", args: [ETH, 0n] };
    },
  },
];

/**
 * Pyth updates for `controller`'s pending LP request (deposit or `redeem`ption): every market with open interest at
 * the last good prices (ETH 2,965, BTC 59,600), published when the request became ready (minDelay 2 s).
 */
async function lpUpdates(f: F, controller: string, redeem: boolean) {
  const r = redeem ? await f.pool.redeemRequest(controller) : await f.pool.depositRequest(controller);
  const t = BigInt(r.requestedAt) + 2n;
  const out: string[] = [];
  for (const [m, id, price] of [
    [ETH, ETH_PYTH_ID, wad(2_965)],
    [BTC, BTC_PYTH_ID, wad(59_600)],
  ] as const) {
    const [long, short] = await f.engine.openInterest(m);
    if (long !== 0n || short !== 0n) out.push(encodeUpdate(id, toPyth(price), t, t - 1n));
  }
  return out;
}

/** Sends the fulfilment of the LP's pending deposit or redemption from the keeper. */
async function fulfilLp(f: F, redeem: boolean) {
  const updates = await lpUpdates(f, f.lp.address, redeem);
  const p = f.pool.connect(f.keeper);
  const value = BigInt(updates.length);
  return redeem ? p.fulfillRedeem(f.lp.address, updates, { value }) : p.fulfillDeposit(f.lp.address, updates, { value });
}

async function everyone(f: F) {
  return [f.alice.address, f.bob.address, f.carol.address, f.keeper.address];
}

async function bookState(f: F) {
  return {
    ...(await snapshot(f, await everyone(f), [ETH, BTC])),
    poolSupply: await f.pool.totalSupply(),
    lpShares: await f.pool.balanceOf(f.lp.address),
  };
}

describe("Adversarial oracle answers", function () {
  for (const bad of BAD) {
    it(`${bad.name}: every priced action refused with the specific error, the market skipped and reported, nothing changed`, async function () {
      const f = await networkHelpers.loadFixture(hostileFixture);
      const { engine, lens, pool, alice, bob, carol, keeper, lp } = f;
      expect(await engine.isLiquidatable(carol.address, ETH)).to.equal(true);
      // The LP's requests, made while the price was good.
      await pool.connect(lp).requestDeposit(usd(1_000), lp.address, lp.address);
      await pool.connect(lp).requestRedeem(10n ** 18n, lp.address, lp.address);
      const requested = BigInt(await time.latest());
      const { error, args } = await bad.apply(f);
      const before = await bookState(f);

      expect(await engine.oracleStatus(ETH)).to.deep.equal([bad.status, bad.price]);
      const refused: [string, () => Promise<unknown>][] = [
        ["open", () => engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), MAX_UINT)],
        ["increase", () => engine.connect(alice).modifyPosition(ETH, wad(1), usd(100), MAX_UINT)],
        ["remove collateral", () => engine.connect(alice).removeCollateral(ETH, usd(1))],
        ["decrease", () => engine.connect(alice).modifyPosition(ETH, -wad(1), 0n, 0n)],
        ["close", () => engine.connect(alice).closePosition(ETH, 0n)],
        ["liquidate", () => engine.connect(keeper).liquidate(carol.address, ETH)],
      ];
      for (const [action, send] of refused) {
        await expect(send(), action).to.be.revertedWithCustomError(engine, error).withArgs(...args);
      }
      await expect(engine.connect(keeper).liquidateBatch([carol.address], [ETH])).to.be.revertedWithCustomError(
        engine,
        "PerpNothingLiquidated",
      );
      expect(await engine.isLiquidatable(carol.address, ETH)).to.equal(false);

      // The lens reports the status; it evaluates at the price only when there is one the risk math can use.
      const [carolHealth, bobHealth] = await lens.healthBatch([
        { account: carol.address, market: ETH },
        { account: bob.address, market: BTC },
      ]);
      expect(carolHealth.oracleStatus).to.equal(bad.status);
      expect(bobHealth.oracleStatus).to.equal(OracleStatus.Ok);
      expect(bobHealth.liquidatable).to.equal(true);
      if (bad.price !== 0n && bad.price <= MAX_PRICE) {
        expect(carolHealth.price).to.equal(bad.price);
        expect((await lens.positionHealth(carol.address, ETH)).oracleStatus).to.equal(bad.status);
      } else {
        expect(carolHealth.price).to.equal(0n);
        expect(carolHealth.liquidatable).to.equal(false);
        expect(carolHealth.size).to.equal(wad(3));
        await expect(lens.positionHealth(carol.address, ETH)).to.be.revertedWithCustomError(lens, "LensNoPrice").withArgs(ETH);
        await expect(lens.quoteTrade(ETH, wad(1))).to.be.revertedWithCustomError(lens, "LensNoPrice").withArgs(ETH);
      }

      // A market with open interest and no Ok price closes the pool to entry and exit: fulfilling either request, at
      // Pyth prices close to the last good ones, reverts with the oracle's error (the deviation check has no
      // reference), and nothing is available to redeem (an answer above MAX_PRICE is marked at the last priced
      // action's price, so the pool's views do not overflow).
      expect(await pool.availableLiquidity()).to.equal(0n);
      expect(await pool.totalAssets()).to.be.a("bigint"); // answers, where an absurd price used to overflow it
      await time.setNextBlockTimestamp(requested + 10n); // both requests ready, their prices fresh
      await expect(fulfilLp(f, false), "fulfillDeposit").to.be.revertedWithCustomError(engine, error).withArgs(...args);
      await expect(fulfilLp(f, true), "fulfillRedeem").to.be.revertedWithCustomError(engine, error).withArgs(...args);
      expect(await bookState(f)).to.deep.equal(before);

      // What needs no price still works; the other market is unaffected: the batch liquidates Bob and skips Carol.
      await expect(engine.connect(alice).addCollateral(ETH, usd(5)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, usd(5), usd(990));
      const tx = await engine.connect(keeper).liquidateBatch([carol.address, bob.address], [ETH, BTC]);
      const liquidated = await engineEvents(engine, tx, "PositionLiquidated");
      expect(liquidated.map((e: any) => [e.args.account, e.args.market])).to.deep.equal([[bob.address, BTC]]);
      expect((await engine.getPosition(carol.address, ETH)).size).to.equal(wad(3));

      // Back to a good answer: Carol is liquidatable again and is liquidated at it.
      await f.feed.setMode(Mode.Answer);
      await f.feed.setAnswer(answer(2_965));
      expect(await engine.isLiquidatable(carol.address, ETH)).to.equal(true);
      await expect(engine.connect(keeper).liquidate(carol.address, ETH))
        .to.emit(engine, "PositionLiquidated")
        .withArgs(carol.address, ETH, keeper.address, wad(3), wad(2_965), -usd(105), usd("8.895"), usd("17.79"), 0n, usd("13.815"));
      // And the LP's requests are fulfilled.
      await expect(fulfilLp(f, false)).to.emit(pool, "DepositFulfilled");
      await expect(fulfilLp(f, true)).to.emit(pool, "RedeemFulfilled");
      await expectSolvent(engine, f.token, await everyone(f), [ETH, BTC]);
    });
  }

  it("answers beyond what normalisation can scale (above 1.16e67 at 8 decimals) read as OutOfBounds: every action refused with it, the batch skips the market", async function () {
    // OracleLib.normalize saturates at type(uint256).max instead of overflowing, so the answer is classified like
    // any other price above maxPrice.
    const f = await networkHelpers.loadFixture(hostileFixture);
    const { engine, alice, bob, carol, keeper } = f;
    await f.feed.setAnswer(2n ** 255n - 1n);
    expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.OutOfBounds, MAX_UINT]);
    expect(await engine.isLiquidatable(carol.address, ETH)).to.equal(false);
    const before = await bookState(f);
    for (const send of [
      () => engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), MAX_UINT),
      () => engine.connect(alice).modifyPosition(ETH, wad(1), usd(100), MAX_UINT),
      () => engine.connect(alice).removeCollateral(ETH, usd(1)),
      () => engine.connect(alice).closePosition(ETH, 0n),
      () => engine.connect(keeper).liquidate(carol.address, ETH),
    ]) {
      await expect(send()).to.be.revertedWithCustomError(engine, "OracleOutOfBounds");
    }
    expect(await bookState(f)).to.deep.equal(before);
    await expect(engine.connect(alice).addCollateral(ETH, usd(5))).to.emit(engine, "CollateralModified");
    // Bob's liquidatable BTC position is liquidated by a batch that also lists the unpriced market.
    const tx = await engine.connect(keeper).liquidateBatch([carol.address, bob.address], [ETH, BTC]);
    const liquidated = await engineEvents(engine, tx, "PositionLiquidated");
    expect(liquidated.map((e: any) => [e.args.account, e.args.market])).to.deep.equal([[bob.address, BTC]]);
  });

  describe("needs an engine change (skipped; see docs/security.md)", function () {
    // A feed that returns too few bytes: Solidity's try/catch does not catch a failure to decode the return data, so
    // the read reverts (without data) in the engine instead of classifying the feed as InvalidAnswer: every read of
    // the market reverts, and so does a liquidateBatch that lists it (nothing executes at a bad price). Needed: read
    // the feed with a low-level staticcall and check the return data length (at least 5 words) before decoding.
    it.skip("a feed returning undecodable data reads as InvalidAnswer [needs OracleLib change]", async function () {
      const f = await networkHelpers.loadFixture(hostileFixture);
      const { engine, bob, carol, keeper } = f;
      await f.feed.setMode(Mode.ShortReturn);
      expect(await engine.oracleStatus(ETH)).to.deep.equal([OracleStatus.InvalidAnswer, 0n]);
      const tx = await engine.connect(keeper).liquidateBatch([carol.address, bob.address], [ETH, BTC]);
      expect((await engineEvents(engine, tx, "PositionLiquidated")).length).to.equal(1);
    });
  });
});
