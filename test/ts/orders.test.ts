/**
 * Two-step orders (IOrders): request with escrow, execution by anyone at the first Pyth price published at or after
 * `requestedAt + minDelay`, cancellation of orders whose own bounds fail, expiry, batches, governance, and the
 * front-running property the two steps exist for.
 *
 * Every block timestamp that matters is set with setNextBlockTimestamp, so publish times, ages and expiries are exact.
 * Expected amounts come from the independent models in helpers/engine-helpers.ts (taker fee, realised PnL, entry
 * averaging, margin) or are worked out by hand in the comments; nothing expected is read back from the engine.
 */
import { expect } from "chai";
import { network } from "hardhat";

import {
  answer,
  BTC,
  BTC_PYTH_ID,
  deployProtocol,
  ETH,
  ETH_PYTH_ID,
  EXPOSURE_PARAMS,
  oracleConfig,
  PYTH_UPDATE_FEE,
  RISK_PARAMS,
  TIERS,
  usd,
  wad,
} from "./helpers/fixture.js";
import {
  averageEntry,
  equityWad,
  initialMarginWad,
  plain,
  realizedPnl,
  snapshot,
  takerFee,
} from "./helpers/engine-helpers.js";
import { encodeUpdate, PriceTape, PYTH_EXPO, toPyth } from "./helpers/pyth.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

/* ------------------------------------------------------------------ constants */

/** The default execution fee, 0.5 USD, in token units. */
const FEE = usd("0.5");
/** Default OrderParams set by the engine's constructor. */
const MIN_DELAY = 2n;
const MAX_DELAY = 300n;
const MAX_PRICE_AGE = 60n;
const MAX_DEVIATION = wad("0.02");
const EXECUTION_FEE_WAD = wad("0.5");
const DEFAULT_PARAMS = {
  minDelay: MIN_DELAY,
  maxDelay: MAX_DELAY,
  maxPriceAge: MAX_PRICE_AGE,
  maxDeviation: MAX_DEVIATION,
  executionFee: EXECUTION_FEE_WAD,
};
/** ConstantsLib.MAX_POSITION_SIZE. */
const MAX_SIZE = 10n ** 30n;
const MAX_UINT128 = 2n ** 128n - 1n;
const MAX_INT128 = 2n ** 127n - 1n;
const MAX_UINT = ethers.MaxUint256;
/** OrderStatus (DataTypes.sol). */
const Status = { None: 0n, Pending: 1n, Executed: 2n, Cancelled: 3n } as const;
const UNKNOWN = ethers.encodeBytes32String("DOGE-USD");
const SOL = ethers.encodeBytes32String("SOL-USD");
const b32 = (s: string) => ethers.encodeBytes32String(s);

/* ------------------------------------------------------------------ helpers */

type F = Awaited<ReturnType<typeof deployProtocol>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Signer = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tx = any;

const feedOf = (market: string) => (market === ETH ? ETH_PYTH_ID : BTC_PYTH_ID);
const at = (t: bigint) => time.setNextBlockTimestamp(t);
const latest = async () => BigInt(await time.latest());

async function minedAt(tx: Tx): Promise<bigint> {
  const receipt = await tx.wait();
  return BigInt((await ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}

/** Engine logs of a mined transaction, decoded, in log order. */
async function engineLogs(f: F, tx: Tx) {
  const receipt = await tx.wait();
  const engineAddr = (await f.engine.getAddress()).toLowerCase();
  return receipt.logs
    .filter((l: { address: string }) => l.address.toLowerCase() === engineAddr)
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    .map((l: any) => f.engine.interface.parseLog(l))
    .filter((e: unknown) => e !== null) as { name: string; args: unknown[] }[];
}

/** The custom error as the engine ABI-encodes it (the `reason` of OrderCancelled). */
const reasonOf = (f: F, name: string, args: unknown[]) => f.engine.interface.encodeErrorResult(name, args);

/** The order's fields as a plain object. */
async function orderOf(f: F, id: bigint) {
  const o = await f.engine.getOrder(id);
  return {
    account: o.account,
    requestedAt: o.requestedAt,
    status: o.status,
    reduceOnly: o.reduceOnly,
    market: o.market,
    sizeDelta: o.sizeDelta,
    collateralDelta: o.collateralDelta,
    acceptablePrice: o.acceptablePrice,
    executionFee: o.executionFee,
  };
}

async function positionOf(f: F, who: Signer, market = ETH) {
  const p = await f.engine.getPosition(who.address, market);
  return { size: p.size, collateral: p.collateral, entryPrice: p.entryPrice };
}

/**
 * Requests an order with the default fee, at `when` if given; returns its id (from OrderRequested) and the block
 * timestamp it was requested at.
 */
async function request(
  f: F,
  signer: Signer,
  market: string,
  sizeDelta: bigint,
  collateralDelta: bigint,
  acceptablePrice: bigint,
  when?: bigint,
) {
  if (when !== undefined) await at(when);
  const tx = await f.engine.connect(signer).requestOrder(market, sizeDelta, collateralDelta, acceptablePrice, FEE);
  return { tx, id: await requestedId(f, tx), requestedAt: await minedAt(tx) };
}

async function requestClose(f: F, signer: Signer, market: string, acceptablePrice: bigint, when?: bigint) {
  if (when !== undefined) await at(when);
  const tx = await f.engine.connect(signer).requestClose(market, acceptablePrice, FEE);
  return { tx, id: await requestedId(f, tx), requestedAt: await minedAt(tx) };
}

async function requestedId(f: F, tx: Tx): Promise<bigint> {
  const ev = (await engineLogs(f, tx)).find((e) => e.name === "OrderRequested");
  return ev!.args[0] as bigint;
}

/**
 * An update of `market`'s feed at WAD `price` published at `publishTime` that is the first one at or after the
 * earliest time of an order requested at `requestedAt`: the feed's previous update was published the second before.
 */
const firstUpdate = (market: string, price: bigint, publishTime: bigint, requestedAt: bigint) =>
  encodeUpdate(feedOf(market), toPyth(price), publishTime, requestedAt + MIN_DELAY - 1n);

/** executeOrder in a block at `when`, sending Pyth's fee for the updates unless `value` says otherwise. */
async function executeAt(
  f: F,
  id: bigint,
  update: string | string[],
  when: bigint,
  signer: Signer = f.keeper,
  value?: bigint,
) {
  const updates = Array.isArray(update) ? update : [update];
  await at(when);
  return f.engine
    .connect(signer)
    .executeOrder(id, updates, { value: value ?? PYTH_UPDATE_FEE * BigInt(updates.length) });
}

/** Requests and executes at once (at the earliest time) an order of `signer` at Pyth `price`. */
async function trade(
  f: F,
  signer: Signer,
  market: string,
  sizeDelta: bigint,
  collateralDelta: bigint,
  price: bigint,
) {
  const { id, requestedAt } = await request(f, signer, market, sizeDelta, collateralDelta, sizeDelta > 0n ? MAX_UINT : 0n);
  const t = requestedAt + MIN_DELAY;
  await (await executeAt(f, id, firstUpdate(market, price, t, requestedAt), t)).wait();
  expect((await f.engine.getOrder(id)).status).to.equal(Status.Executed);
  return id;
}

/** Everything an order action may touch: snapshot() plus the order book, the engine's ETH and Pyth's ETH. */
async function orderState(f: F, ids: bigint[] = []) {
  const accounts = [f.alice, f.bob, f.carol, f.keeper, f.lp];
  const out: Record<string, unknown> = await snapshot(f, accounts, [ETH, BTC]);
  out.escrow = await f.engine.totalOrderEscrow();
  out.count = await f.engine.orderCount();
  for (const id of ids) out[`order:${id}`] = await orderOf(f, id);
  for (const a of accounts) {
    for (const m of [ETH, BTC]) out[`pending:${a.address}:${m}`] = await f.engine.pendingOrderId(a.address, m);
  }
  out.ethEngine = await ethers.provider.getBalance(await f.engine.getAddress());
  out.ethPyth = await ethers.provider.getBalance(await f.pyth.getAddress());
  out.openInterest = plain(await f.engine.openInterest(ETH));
  return out;
}

/** Runs `action` (which expects a revert) and checks that no order, balance or position changed. */
async function expectNothingChanged(f: F, ids: bigint[], action: () => Promise<unknown>) {
  const before = await orderState(f, ids);
  await action();
  expect(await orderState(f, ids)).to.deep.equal(before);
}

/** The engine holds exactly the free balances, the positions' collateral and the order escrow. */
async function expectSolvent(f: F) {
  let owed = await f.engine.totalOrderEscrow();
  for (const a of [f.alice, f.bob, f.carol, f.keeper, f.lp, f.deployer]) {
    owed += await f.engine.freeBalance(a.address);
    for (const m of [ETH, BTC]) owed += (await f.engine.getPosition(a.address, m)).collateral;
  }
  expect(await f.token.balanceOf(await f.engine.getAddress())).to.equal(owed);
}

/* ------------------------------------------------------------------ fixtures */

const DEPOSIT = usd(10_000);

/** The protocol; Alice, Bob and Carol have each deposited 10,000 USD. */
async function fundedFixture() {
  const f = await deployProtocol(ethers);
  for (const s of [f.alice, f.bob, f.carol]) await f.engine.connect(s).deposit(DEPOSIT);
  return f;
}

/**
 * Alice's pending order 1: buy 1 ETH with 1,000 USD collateral, at most 3,100, requested at `requestedAt` (the last
 * block of the fixture). Her free balance is 10,000 - 1,000 - 0.5 = 8,999.5.
 */
async function pendingFixture() {
  const f = await fundedFixture();
  const r = await request(f, f.alice, ETH, wad(1), usd(1_000), wad(3_100));
  return { ...f, id: r.id, requestedAt: r.requestedAt };
}

/**
 * Alice long 10 ETH opened by order 1 at Pyth 3,000 with 1,000 USD collateral (985 after the 15 USD fee); free
 * balance 8,999.5; the keeper holds the 0.5 USD execution fee.
 */
async function aliceLongFixture() {
  const f = await fundedFixture();
  await trade(f, f.alice, ETH, wad(10), usd(1_000), wad(3_000));
  return f;
}

/** aliceLongFixture plus Bob short 10 ETH by order 2 at Pyth 3,000 with 1,000 USD collateral (985 after the fee). */
async function longAndShortFixture() {
  const f = await aliceLongFixture();
  await trade(f, f.bob, ETH, -wad(10), usd(1_000), wad(3_000));
  return f;
}

/** fundedFixture plus a SOL-USD market listed by governance with a Chainlink feed but no Pyth price id. */
async function noPythFeedFixture() {
  const f = await fundedFixture();
  const solFeed = await ethers.deployContract("MockV3Aggregator", [8, answer(150)]);
  await f.engine.listMarket(SOL, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, TIERS);
  return f;
}

/* ======================================================================== tests */

describe("TidemarkEngine: two-step orders", function () {
  describe("views and defaults", function () {
    it("exposes Pyth, the markets' feed ids and the constructor's order params; fee 0.5 USD = 500,000 units", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, pyth } = f;
      expect(await engine.pyth()).to.equal(await pyth.getAddress());
      expect(await engine.pythPriceId(ETH)).to.equal(ETH_PYTH_ID);
      expect(await engine.pythPriceId(BTC)).to.equal(BTC_PYTH_ID);
      expect(await engine.pythPriceId(UNKNOWN)).to.equal(ethers.ZeroHash);
      expect(plain(await engine.orderParams())).to.deep.equal([2n, 300n, 60n, wad("0.02"), wad("0.5")]);
      expect(await engine.requiredExecutionFee()).to.equal(500_000n);
      expect(await engine.orderCount()).to.equal(0n);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      expect(await orderOf(f, 1n)).to.deep.equal({
        account: ethers.ZeroAddress,
        requestedAt: 0n,
        status: Status.None,
        reduceOnly: false,
        market: ethers.ZeroHash,
        sizeDelta: 0n,
        collateralDelta: 0n,
        acceptablePrice: 0n,
        executionFee: 0n,
      });
    });
  });

  /* -------------------------------------------------------------------- request */

  describe("request", function () {
    it("escrows collateral plus fee from the free balance, records the order and emits OrderRequested", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, token, pool, alice, bob } = f;
      expect(await engine.connect(alice).requestOrder.staticCall(ETH, wad(1), usd(1_000), wad(3_100), FEE)).to.equal(1n);

      const tx = await engine.connect(alice).requestOrder(ETH, wad(1), usd(1_000), wad(3_100), FEE);
      const t = await minedAt(tx);
      await expect(tx)
        .to.emit(engine, "OrderRequested")
        .withArgs(1n, alice.address, ETH, wad(1), usd(1_000), wad(3_100), FEE, false);
      // Escrow stays in the engine: no token moves.
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, alice], [0n, 0n, 0n]);

      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999.5"));
      expect(await engine.totalOrderEscrow()).to.equal(usd("1000.5"));
      expect(await orderOf(f, 1n)).to.deep.equal({
        account: alice.address,
        requestedAt: t,
        status: Status.Pending,
        reduceOnly: false,
        market: ETH,
        sizeDelta: wad(1),
        collateralDelta: usd(1_000),
        acceptablePrice: wad(3_100),
        executionFee: FEE,
      });
      expect(await engine.pendingOrderId(alice.address, ETH)).to.equal(1n);
      expect(await engine.pendingOrderId(alice.address, BTC)).to.equal(0n);
      expect(await engine.pendingOrderId(bob.address, ETH)).to.equal(0n);
      expect(await engine.orderCount()).to.equal(1n);
      // The escrow cannot be withdrawn.
      await expect(engine.connect(alice).withdraw(usd(9_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
        .withArgs(alice.address, usd("8999.5"), usd(9_000));
      // Nothing traded yet.
      expect(await positionOf(f, alice)).to.deep.equal({ size: 0n, collateral: 0n, entryPrice: 0n });
      expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      await expectSolvent(f);
    });

    it("numbers orders from 1 across accounts and markets and sums their escrows", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice, bob } = f;
      const a = await request(f, alice, ETH, wad(1), usd(1_000), wad(3_100));
      const b = await request(f, bob, BTC, -wad("0.1"), usd(500), wad(59_000));
      const c = await request(f, alice, BTC, wad("0.05"), 0n, wad(61_000)); // no collateral: only the fee escrowed
      expect([a.id, b.id, c.id]).to.deep.equal([1n, 2n, 3n]);
      await expect(b.tx)
        .to.emit(engine, "OrderRequested")
        .withArgs(2n, bob.address, BTC, -wad("0.1"), usd(500), wad(59_000), FEE, false);
      expect(await engine.orderCount()).to.equal(3n);
      expect(await engine.totalOrderEscrow()).to.equal(usd("1000.5") + usd("500.5") + FEE);
      expect(await engine.freeBalance(alice.address)).to.equal(usd(10_000) - usd("1000.5") - FEE);
      expect(await engine.freeBalance(bob.address)).to.equal(usd(10_000) - usd("500.5"));
      expect(await engine.pendingOrderId(alice.address, ETH)).to.equal(1n);
      expect(await engine.pendingOrderId(bob.address, BTC)).to.equal(2n);
      expect(await engine.pendingOrderId(alice.address, BTC)).to.equal(3n);
      expect((await orderOf(f, 2n)).sizeDelta).to.equal(-wad("0.1"));
      expect((await orderOf(f, 3n)).collateralDelta).to.equal(0n);
      expect((await orderOf(f, 4n)).status).to.equal(Status.None);
      await expectSolvent(f);
    });

    it("requestClose stores the position's size negated, reduce-only, no collateral, and escrows only the fee", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      const free = usd("8999.5");
      expect(await engine.freeBalance(alice.address)).to.equal(free);
      const { tx, id, requestedAt } = await requestClose(f, alice, ETH, wad(2_900));
      expect(id).to.equal(2n);
      await expect(tx)
        .to.emit(engine, "OrderRequested")
        .withArgs(2n, alice.address, ETH, -wad(10), 0n, wad(2_900), FEE, true);
      expect(await orderOf(f, 2n)).to.deep.equal({
        account: alice.address,
        requestedAt,
        status: Status.Pending,
        reduceOnly: true,
        market: ETH,
        sizeDelta: -wad(10),
        collateralDelta: 0n,
        acceptablePrice: wad(2_900),
        executionFee: FEE,
      });
      expect(await engine.freeBalance(alice.address)).to.equal(free - FEE);
      expect(await engine.totalOrderEscrow()).to.equal(FEE);
      expect(await engine.pendingOrderId(alice.address, ETH)).to.equal(2n);
      // The position itself is untouched until execution.
      expect(await positionOf(f, alice)).to.deep.equal({ size: wad(10), collateral: usd(985), entryPrice: wad(3_000) });
    });

    it("a request opposite to the position is reduce-only (a negative collateral delta is not escrowed); same side or no position is not", async function () {
      const f = await networkHelpers.loadFixture(longAndShortFixture);
      const { engine, alice, bob, carol } = f;
      const escrow0 = await engine.totalOrderEscrow();
      expect(escrow0).to.equal(0n);

      // Alice long 10 sells 4 and withdraws 100: reduce-only, only the fee escrowed.
      const a = await request(f, alice, ETH, -wad(4), -usd(100), wad(2_950));
      await expect(a.tx).to.emit(engine, "OrderRequested").withArgs(a.id, alice.address, ETH, -wad(4), -usd(100), wad(2_950), FEE, true);
      expect((await orderOf(f, a.id)).reduceOnly).to.equal(true);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999.5") - FEE);

      // Bob short 10 buys 3 adding 50: reduce-only, 50.5 escrowed.
      const b = await request(f, bob, ETH, wad(3), usd(50), wad(3_050));
      expect((await orderOf(f, b.id)).reduceOnly).to.equal(true);
      expect(await engine.freeBalance(bob.address)).to.equal(usd("8999.5") - usd("50.5"));

      // Carol, no position, sells: opening, not reduce-only.
      const c = await request(f, carol, ETH, -wad(1), usd(100), wad(2_950));
      expect((await orderOf(f, c.id)).reduceOnly).to.equal(false);
      expect(await engine.totalOrderEscrow()).to.equal(FEE + usd("50.5") + usd("100.5"));
    });

    it("a request in the position's direction (an increase) is not reduce-only", async function () {
      const f = await networkHelpers.loadFixture(longAndShortFixture);
      const a = await request(f, f.alice, ETH, wad(2), usd(100), wad(3_100));
      const b = await request(f, f.bob, ETH, -wad(2), 0n, wad(2_900));
      expect((await orderOf(f, a.id)).reduceOnly).to.equal(false);
      expect((await orderOf(f, b.id)).reduceOnly).to.equal(false);
    });

    it("stores an acceptable price above uint128 max as uint128 max (and emits the stored bound)", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { tx, id } = await request(f, f.alice, ETH, wad(1), usd(100), MAX_UINT);
      await expect(tx).to.emit(f.engine, "OrderRequested").withArgs(id, f.alice.address, ETH, wad(1), usd(100), MAX_UINT128, FEE, false);
      expect((await orderOf(f, id)).acceptablePrice).to.equal(MAX_UINT128);
    });

    it("accepts a decrease of exactly the position's size, and the largest allowed size", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const a = await request(f, f.alice, ETH, -wad(10), 0n, 0n);
      expect((await orderOf(f, a.id)).reduceOnly).to.equal(true);
      const c = await request(f, f.carol, BTC, MAX_SIZE, 0n, MAX_UINT);
      expect((await orderOf(f, c.id)).sizeDelta).to.equal(MAX_SIZE);
    });
  });

  describe("request: bad inputs revert with their own error and change nothing", function () {
    it("PerpUnknownMarket for an unlisted market (requestOrder and requestClose)", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      await expectNothingChanged(f, [], async () => {
        await expect(engine.connect(alice).requestOrder(UNKNOWN, wad(1), usd(100), MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "PerpUnknownMarket")
          .withArgs(UNKNOWN);
        await expect(engine.connect(alice).requestClose(UNKNOWN, 0n, FEE))
          .to.be.revertedWithCustomError(engine, "PerpUnknownMarket")
          .withArgs(UNKNOWN);
      });
    });

    it("PerpZeroAmount for a zero size", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      await expectNothingChanged(f, [], async () => {
        await expect(f.engine.connect(f.alice).requestOrder(ETH, 0n, usd(100), MAX_UINT, FEE)).to.be.revertedWithCustomError(
          f.engine,
          "PerpZeroAmount",
        );
      });
    });

    it("PerpPositionTooLarge for a size above 1e30, either sign", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice } = f;
      await expectNothingChanged(f, [], async () => {
        await expect(engine.connect(alice).requestOrder(ETH, MAX_SIZE + 1n, usd(100), MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "PerpPositionTooLarge")
          .withArgs(MAX_SIZE + 1n, MAX_SIZE);
        await expect(engine.connect(alice).requestOrder(ETH, -(MAX_SIZE + 1n), usd(100), 0n, FEE))
          .to.be.revertedWithCustomError(engine, "PerpPositionTooLarge")
          .withArgs(MAX_SIZE + 1n, MAX_SIZE);
      });
    });

    it("PerpParameterOutOfBounds for a collateral delta beyond int128, either sign", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice } = f;
      await expectNothingChanged(f, [], async () => {
        for (const delta of [MAX_INT128 + 1n, -(MAX_INT128 + 1n)]) {
          await expect(engine.connect(alice).requestOrder(ETH, wad(1), delta, MAX_UINT, FEE))
            .to.be.revertedWithCustomError(engine, "PerpParameterOutOfBounds")
            .withArgs(b32("collateralDelta"), MAX_INT128 + 1n, 0n, MAX_INT128);
        }
      });
    });

    it("OrderWrongExecutionFee(required, offered) for a fee lower or higher than required", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice } = f;
      await expectNothingChanged(f, [], async () => {
        for (const offered of [FEE - 1n, FEE + 1n, 0n]) {
          await expect(engine.connect(alice).requestOrder(ETH, wad(1), usd(100), MAX_UINT, offered))
            .to.be.revertedWithCustomError(engine, "OrderWrongExecutionFee")
            .withArgs(FEE, offered);
        }
      });
    });

    it("OrderAlreadyPending(account, market, id) for a second request on the same market; other markets and accounts are free", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob } = f;
      const { id } = await request(f, alice, ETH, wad(1), usd(100), MAX_UINT);
      await expectNothingChanged(f, [id], async () => {
        await expect(engine.connect(alice).requestOrder(ETH, -wad(1), 0n, 0n, FEE))
          .to.be.revertedWithCustomError(engine, "OrderAlreadyPending")
          .withArgs(alice.address, ETH, id);
        await expect(engine.connect(alice).requestClose(ETH, 0n, FEE))
          .to.be.revertedWithCustomError(engine, "OrderAlreadyPending")
          .withArgs(alice.address, ETH, id);
      });
      expect((await request(f, alice, BTC, wad("0.01"), usd(100), MAX_UINT)).id).to.equal(id + 1n);
      expect((await request(f, bob, ETH, wad(1), usd(100), MAX_UINT)).id).to.equal(id + 2n);
    });

    it("PerpInsufficientFreeBalance(account, balance, collateral + fee); exactly the balance is accepted", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, carol, lp } = f;
      await expectNothingChanged(f, [], async () => {
        await expect(engine.connect(carol).requestOrder(ETH, wad(1), DEPOSIT, MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
          .withArgs(carol.address, DEPOSIT, DEPOSIT + FEE);
        // Without collateral the fee alone must be covered.
        await expect(engine.connect(lp).requestOrder(ETH, wad(1), 0n, MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
          .withArgs(lp.address, 0n, FEE);
      });
      await request(f, carol, ETH, wad(1), DEPOSIT - FEE, MAX_UINT);
      expect(await engine.freeBalance(carol.address)).to.equal(0n);
      expect(await engine.totalOrderEscrow()).to.equal(DEPOSIT);
    });

    it("PerpMarketPaused for an increase on a paused market (or when globally paused); a reduce-only request is accepted", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, guardian, alice, carol } = f;
      await engine.connect(guardian).setMarketPaused(ETH, true);
      await expectNothingChanged(f, [], async () => {
        await expect(engine.connect(alice).requestOrder(ETH, wad(1), usd(100), MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
          .withArgs(ETH);
        await expect(engine.connect(carol).requestOrder(ETH, -wad(1), usd(100), 0n, FEE))
          .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
          .withArgs(ETH);
      });
      const { id } = await request(f, alice, ETH, -wad(1), 0n, 0n);
      expect((await orderOf(f, id)).reduceOnly).to.equal(true);

      await engine.connect(guardian).setGlobalPaused(true);
      await expectNothingChanged(f, [id], async () => {
        await expect(engine.connect(carol).requestOrder(BTC, wad("0.1"), usd(100), MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
          .withArgs(BTC);
      });
    });

    it("PerpPositionFlip for a decrease larger than the position", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      await expectNothingChanged(f, [], async () => {
        await expect(f.engine.connect(f.alice).requestOrder(ETH, -wad(11), 0n, 0n, FEE))
          .to.be.revertedWithCustomError(f.engine, "PerpPositionFlip")
          .withArgs(wad(10), -wad(11));
        await expect(f.engine.connect(f.alice).requestOrder(ETH, -wad(10) - 1n, 0n, 0n, FEE))
          .to.be.revertedWithCustomError(f.engine, "PerpPositionFlip")
          .withArgs(wad(10), -wad(10) - 1n);
      });
    });

    it("PerpNoPosition for requestClose without a position", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      await expectNothingChanged(f, [], async () => {
        await expect(f.engine.connect(f.carol).requestClose(ETH, 0n, FEE))
          .to.be.revertedWithCustomError(f.engine, "PerpNoPosition")
          .withArgs(f.carol.address, ETH);
        await expect(f.engine.connect(f.alice).requestClose(BTC, 0n, FEE))
          .to.be.revertedWithCustomError(f.engine, "PerpNoPosition")
          .withArgs(f.alice.address, BTC);
      });
    });

    it("OrderNoPythFeed for a listed market without a Pyth price id", async function () {
      const f = await networkHelpers.loadFixture(noPythFeedFixture);
      const { engine, alice } = f;
      expect(await engine.isListed(SOL)).to.equal(true);
      expect(await engine.pythPriceId(SOL)).to.equal(ethers.ZeroHash);
      await expectNothingChanged(f, [], async () => {
        await expect(engine.connect(alice).requestOrder(SOL, wad(1), usd(100), MAX_UINT, FEE))
          .to.be.revertedWithCustomError(engine, "OrderNoPythFeed")
          .withArgs(SOL);
        await expect(engine.connect(alice).requestClose(SOL, 0n, FEE))
          .to.be.revertedWithCustomError(engine, "OrderNoPythFeed")
          .withArgs(SOL);
      });
    });
  });

  /* -------------------------------------------------------------------- execute */

  describe("execute", function () {
    it("opens at the Pyth price: taker fee at that price, fee to the executor, escrow released, PositionModified then OrderExecuted", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, token, pool, pyth, alice, keeper, id, requestedAt } = f;
      const price = wad(3_010); // Chainlink says 3,000: the order trades at Pyth's price
      const fee = takerFee(wad(1), price);
      expect(fee).to.equal(usd("1.505")); // 1 * 3,010 * 5 bp
      const pythEth = await ethers.provider.getBalance(await pyth.getAddress());

      const t = requestedAt + MIN_DELAY;
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, wad(1), usd(1_000), price, fee, 0n, wad(1), usd(1_000) - fee, price, price, 0n);
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(id, alice.address, ETH, keeper.address, price, t, FEE);
      await expect(tx).to.not.emit(engine, "OrderCancelled");
      const names = (await engineLogs(f, tx)).map((e) => e.name);
      expect(names.indexOf("PositionModified")).to.be.greaterThanOrEqual(0);
      expect(names.indexOf("PositionModified")).to.be.lessThan(names.indexOf("OrderExecuted"));
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, alice, keeper], [-fee, fee, 0n, 0n]);

      expect(await positionOf(f, alice)).to.deep.equal({ size: wad(1), collateral: usd(1_000) - fee, entryPrice: price });
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(1), 0n]);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999.5"));
      expect(await engine.freeBalance(keeper.address)).to.equal(FEE);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      expect((await orderOf(f, id)).status).to.equal(Status.Executed);
      expect(await engine.pendingOrderId(alice.address, ETH)).to.equal(0n);
      // The update fee went to Pyth, which stored the update.
      expect(await ethers.provider.getBalance(await engine.getAddress())).to.equal(0n);
      expect(await ethers.provider.getBalance(await pyth.getAddress())).to.equal(pythEth + PYTH_UPDATE_FEE);
      const stored = await pyth.getPriceUnsafe(ETH_PYTH_ID);
      expect([stored.price, stored.publishTime]).to.deep.equal([toPyth(price), t]);
      await expectSolvent(f);

      // The account may request again on the market.
      expect((await request(f, alice, ETH, wad(1), usd(100), MAX_UINT)).id).to.equal(2n);
    });

    it("a trader executing their own order receives the execution fee", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, alice, id, requestedAt } = f;
      const t = requestedAt + MIN_DELAY;
      const price = wad(2_990);
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t, alice);
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(id, alice.address, ETH, alice.address, price, t, FEE);
      expect(await engine.freeBalance(alice.address)).to.equal(DEPOSIT - usd(1_000));
      expect(await engine.freeBalance(f.keeper.address)).to.equal(0n);
    });

    it("increases at the Pyth price: entry averaged (rounded up for a long) with the added collateral", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      const { id, requestedAt } = await request(f, alice, ETH, wad(5), usd(200), wad(3_040));
      const t = requestedAt + MIN_DELAY;
      const price = wad(3_031);
      const fee = takerFee(wad(5), price);
      expect(fee).to.equal(usd("7.5775"));
      // (10 * 3,000 + 5 * 3,031) / 15 = 3,010.333..., rounded up.
      const entry = averageEntry(wad(10), wad(3_000), wad(5), price);
      expect(entry).to.equal(3_010_333_333_333_333_333_334n);
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, wad(5), usd(200), price, fee, 0n, wad(15), usd(1_185) - fee, entry, price, 0n);
      expect(await positionOf(f, alice)).to.deep.equal({ size: wad(15), collateral: usd(1_185) - fee, entryPrice: entry });
      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999.5") - usd("200.5"));
      await expectSolvent(f);
    });

    it("requestClose returns collateral + PnL - fee to the free balance; the pool pays the PnL net of the fee", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice, keeper } = f;
      const { id, requestedAt } = await requestClose(f, alice, ETH, wad(3_000));
      const price = wad(3_050);
      const pnl = realizedPnl(-wad(10), price, wad(3_000));
      const fee = takerFee(wad(10), price);
      expect([pnl, fee]).to.deep.equal([usd(500), usd("15.25")]);

      const t = requestedAt + MIN_DELAY;
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(10), 0n, price, fee, pnl, 0n, 0n, 0n, price, 0n);
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(id, alice.address, ETH, keeper.address, price, t, FEE);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [pnl - fee, fee - pnl]);

      // 8,999.5 - 0.5 escrowed + 985 + 500 - 15.25
      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999") + usd(985) + pnl - fee);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("10468.75"));
      expect(await positionOf(f, alice)).to.deep.equal({ size: 0n, collateral: 0n, entryPrice: 0n });
      expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      expect(await engine.openPositionCount(ETH)).to.equal(0n);
      expect(await engine.freeBalance(keeper.address)).to.equal(2n * FEE);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      await expectSolvent(f);
    });

    it("a decrease order realises PnL on the part closed, withdraws its negative collateral delta and keeps the rest open", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice } = f;
      const { id, requestedAt } = await request(f, alice, ETH, -wad(4), -usd(100), wad(2_950));
      const price = wad(2_980);
      const pnl = realizedPnl(-wad(4), price, wad(3_000));
      const fee = takerFee(wad(4), price);
      expect([pnl, fee]).to.deep.equal([-usd(80), usd("5.96")]);
      const collateral = usd(985) + pnl - fee - usd(100);
      expect(collateral).to.equal(usd("799.04"));

      const t = requestedAt + MIN_DELAY;
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(4), -usd(100), price, fee, pnl, wad(6), collateral, wad(3_000), price, 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [pnl - fee, fee - pnl]);
      expect(await positionOf(f, alice)).to.deep.equal({ size: wad(6), collateral, entryPrice: wad(3_000) });
      // 8,999.5 - 0.5 escrowed + 100 withdrawn from the position.
      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_099));
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(6), 0n]);
      await expectSolvent(f);
    });

    it("a reduce-only order whose position was partly liquidated after the request closes what is left", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, token, pool, ethFeed, alice, keeper, carol } = f;
      // Long 10 ETH at 3,000 with 400 USD (385 after the fee): partially liquidatable at 2,977.
      await trade(f, alice, ETH, wad(10), usd(400), wad(3_000));
      const { id, requestedAt } = await requestClose(f, alice, ETH, 0n);
      await ethFeed.updateAnswer(answer(2_977));
      await expect(engine.connect(keeper).liquidate(alice.address, ETH)).to.emit(engine, "PositionLiquidated");
      const left = await positionOf(f, alice);
      expect(left.size).to.be.greaterThan(0n);
      expect(left.size).to.be.lessThan(wad(10));
      expect(left.entryPrice).to.equal(wad(3_000));

      const price = wad(2_977);
      const pnl = realizedPnl(-left.size, price, wad(3_000));
      const fee = takerFee(left.size, price);
      const returned = BigInt(left.collateral) + pnl - fee;
      expect(returned).to.be.greaterThan(0n);
      const free = await engine.freeBalance(alice.address);

      const t = (await latest()) + 1n;
      expect(t).to.be.greaterThanOrEqual(requestedAt + MIN_DELAY);
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t, carol);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -left.size, 0n, price, fee, pnl, 0n, 0n, 0n, price, 0n);
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(id, alice.address, ETH, carol.address, price, t, FEE);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [pnl - fee, fee - pnl]);
      expect(await engine.freeBalance(alice.address)).to.equal(free + returned);
      expect(await positionOf(f, alice)).to.deep.equal({ size: 0n, collateral: 0n, entryPrice: 0n });
      expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      expect((await orderOf(f, id)).status).to.equal(Status.Executed);
      await expectSolvent(f);
    });

    it("a reduce-only order whose position was liquidated in full is cancelled with PerpNoPosition; the executor is paid", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, token, pool, ethFeed, alice, keeper, carol } = f;
      // Long 1 ETH (3,000 notional: liquidated in full) with 100 USD (98.5 after the fee).
      await trade(f, alice, ETH, wad(1), usd(100), wad(3_000));
      const { id, requestedAt } = await requestClose(f, alice, ETH, 0n);
      await ethFeed.updateAnswer(answer(2_910));
      await engine.connect(keeper).liquidate(alice.address, ETH);
      expect((await positionOf(f, alice)).size).to.equal(0n);
      const aliceFree = await engine.freeBalance(alice.address);
      const carolFree = await engine.freeBalance(carol.address);

      const t = (await latest()) + 1n;
      expect(t).to.be.greaterThanOrEqual(requestedAt + MIN_DELAY);
      const tx = await executeAt(f, id, firstUpdate(ETH, wad(2_910), t, requestedAt), t, carol);
      await expect(tx)
        .to.emit(engine, "OrderCancelled")
        .withArgs(id, alice.address, ETH, carol.address, carol.address, reasonOf(f, "PerpNoPosition", [alice.address, ETH]));
      await expect(tx).to.not.emit(engine, "PositionModified");
      await expect(tx).to.not.emit(engine, "OrderExecuted");
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [0n, 0n]);
      expect(await engine.freeBalance(alice.address)).to.equal(aliceFree);
      expect(await engine.freeBalance(carol.address)).to.equal(carolFree + FEE);
      expect((await orderOf(f, id)).status).to.equal(Status.Cancelled);
      expect(await engine.pendingOrderId(alice.address, ETH)).to.equal(0n);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      await expectSolvent(f);
    });

    it("a reduce-only order executes on a paused market", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, guardian, alice } = f;
      const { id, requestedAt } = await request(f, alice, ETH, -wad(4), 0n, 0n);
      await at(requestedAt + 1n);
      await engine.connect(guardian).setMarketPaused(ETH, true);
      const t = requestedAt + MIN_DELAY;
      await expect(executeAt(f, id, firstUpdate(ETH, wad(3_000), t, requestedAt), t)).to.emit(engine, "OrderExecuted");
      expect((await positionOf(f, alice)).size).to.equal(wad(6));
    });

    it("converts a Pyth price with another exponent (-5) exactly", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, alice, id, requestedAt } = f;
      const t = requestedAt + MIN_DELAY;
      // 3,012.34567 with exponent -5.
      const update = encodeUpdate(ETH_PYTH_ID, 301_234_567n, t, requestedAt + 1n, -5);
      await expect(executeAt(f, id, update, t))
        .to.emit(engine, "OrderExecuted")
        .withArgs(id, alice.address, ETH, f.keeper.address, wad("3012.34567"), t, FEE);
      expect((await positionOf(f, alice)).entryPrice).to.equal(wad("3012.34567"));
    });

    it("converts exponents 0 and -15 exactly", async function () {
      for (const [price, expo, expected] of [
        [3_001n, 0, wad(3_001)],
        [2_999n * 10n ** 15n, -15, wad(2_999)],
      ] as const) {
        const f = await networkHelpers.loadFixture(pendingFixture);
        const t = f.requestedAt + MIN_DELAY;
        const update = encodeUpdate(ETH_PYTH_ID, price, t, f.requestedAt + 1n, expo);
        await expect(executeAt(f, f.id, update, t))
          .to.emit(f.engine, "OrderExecuted")
          .withArgs(f.id, f.alice.address, ETH, f.keeper.address, expected, t, FEE);
      }
    });
  });

  describe("execute: an order whose own bounds fail is cancelled, collateral back, fee to the executor", function () {
    /** Executes order `id` at Pyth `price` and checks the cancellation with `reason`; returns the tx. */
    async function expectCancelled(f: F, id: bigint, requestedAt: bigint, price: bigint, reason: string, trader: Signer) {
      const { engine, token, pool, keeper } = f;
      const o = await orderOf(f, id);
      const collateral = o.collateralDelta > 0n ? BigInt(o.collateralDelta) : 0n;
      const traderFree = await engine.freeBalance(trader.address);
      const keeperFree = await engine.freeBalance(keeper.address);
      const escrow = await engine.totalOrderEscrow();
      const position = await positionOf(f, trader);
      const oi = plain(await engine.openInterest(ETH));

      const t = requestedAt + MIN_DELAY;
      const tx = await executeAt(f, id, firstUpdate(ETH, price, t, requestedAt), t);
      await expect(tx)
        .to.emit(engine, "OrderCancelled")
        .withArgs(id, trader.address, ETH, keeper.address, keeper.address, reason);
      await expect(tx).to.not.emit(engine, "PositionModified");
      await expect(tx).to.not.emit(engine, "OrderExecuted");
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [0n, 0n]);
      expect(await engine.freeBalance(trader.address)).to.equal(traderFree + collateral);
      expect(await engine.freeBalance(keeper.address)).to.equal(keeperFree + FEE);
      expect(await engine.totalOrderEscrow()).to.equal(escrow - collateral - FEE);
      expect(await positionOf(f, trader)).to.deep.equal(position);
      expect(plain(await engine.openInterest(ETH))).to.deep.equal(oi);
      expect(await orderOf(f, id)).to.deep.equal({ ...o, status: Status.Cancelled });
      expect(await engine.pendingOrderId(trader.address, ETH)).to.equal(0n);
      // The update fee still went to Pyth.
      expect(await ethers.provider.getBalance(await engine.getAddress())).to.equal(0n);
      await expectSolvent(f);
      return tx;
    }

    it("slippage on a buy: PerpSlippage(execution price, acceptable maximum); exactly the maximum executes", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice } = f;
      const a = await request(f, alice, ETH, wad(1), usd(1_000), wad(3_009));
      await expectCancelled(f, a.id, a.requestedAt, wad(3_010), reasonOf(f, "PerpSlippage", [wad(3_010), wad(3_009)]), alice);
      expect(await engine.freeBalance(alice.address)).to.equal(DEPOSIT - FEE);
      // A new order at exactly its bound executes.
      const b = await request(f, alice, ETH, wad(1), usd(1_000), wad(3_010));
      expect(b.id).to.equal(2n);
      const t = b.requestedAt + MIN_DELAY;
      await expect(executeAt(f, b.id, firstUpdate(ETH, wad(3_010), t, b.requestedAt), t)).to.emit(engine, "OrderExecuted");
    });

    it("slippage on a sell: PerpSlippage(execution price, acceptable minimum)", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const b = await request(f, f.bob, ETH, -wad(1), usd(500), wad(3_000));
      await expectCancelled(f, b.id, b.requestedAt, wad(2_990), reasonOf(f, "PerpSlippage", [wad(2_990), wad(3_000)]), f.bob);
    });

    it("slippage on a close (reduce-only sell): PerpSlippage, the position stays open", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const c = await requestClose(f, f.alice, ETH, wad(3_001));
      await expectCancelled(f, c.id, c.requestedAt, wad(3_000), reasonOf(f, "PerpSlippage", [wad(3_000), wad(3_001)]), f.alice);
      expect((await positionOf(f, f.alice)).size).to.equal(wad(10));
    });

    it("insufficient margin at the Pyth price: PerpInsufficientMargin(account, market, equity, initial margin)", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { alice } = f;
      const price = wad(3_010);
      // 10 ETH with 100 USD: after the 15.05 fee 84.95 left, equity 84.95 - 15.05 closing fee = 69.9 < 301 (1%).
      const collateral = usd(100) - takerFee(wad(10), price);
      const equity = equityWad({ size: wad(10), entryPrice: price, collateral }, price);
      const im = initialMarginWad(wad(10), price);
      expect([equity, im]).to.deep.equal([wad("69.9"), wad(301)]);
      const a = await request(f, alice, ETH, wad(10), usd(100), MAX_UINT);
      await expectCancelled(f, a.id, a.requestedAt, price, reasonOf(f, "PerpInsufficientMargin", [alice.address, ETH, equity, im]), alice);
      expect(await f.engine.freeBalance(alice.address)).to.equal(DEPOSIT - FEE);
    });

    it("initial margin also at the Chainlink price: a Pyth price 2% above cannot open a long liquidations find bankrupt", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice } = f;
      // Chainlink 3,000, Pyth 3,060 (exactly the 2% allowed). 10 ETH with 337 USD meets initial margin at 3,060
      // (equity 306.4 after both fees, IM 306) but at 3,000 the position is 600 USD under water.
      const pyth = wad(3_060);
      const collateral = usd(337) - takerFee(wad(10), pyth);
      const position = { size: wad(10), entryPrice: pyth, collateral };
      expect(equityWad(position, pyth) >= initialMarginWad(wad(10), pyth)).to.equal(true);
      const equity = equityWad(position, wad(3_000));
      const im = initialMarginWad(wad(10), wad(3_000));
      expect(equity < 0n).to.equal(true);
      const a = await request(f, alice, ETH, wad(10), usd(337), MAX_UINT);
      await expectCancelled(f, a.id, a.requestedAt, pyth, reasonOf(f, "PerpInsufficientMargin", [alice.address, ETH, equity, im]), alice);
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(false);
      expect((await positionOf(f, alice)).size).to.equal(0n);
    });

    it("initial margin at the Chainlink price too: a short opened at a Pyth price 2% below is cancelled", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { alice } = f;
      const pyth = wad(2_940);
      const collateral = usd(330) - takerFee(wad(10), pyth);
      const position = { size: -wad(10), entryPrice: pyth, collateral };
      expect(equityWad(position, pyth) >= initialMarginWad(wad(10), pyth)).to.equal(true);
      const equity = equityWad(position, wad(3_000));
      const im = initialMarginWad(wad(10), wad(3_000));
      const a = await request(f, alice, ETH, -wad(10), usd(330), 0n);
      await expectCancelled(f, a.id, a.requestedAt, pyth, reasonOf(f, "PerpInsufficientMargin", [alice.address, ETH, equity, im]), alice);
    });

    it("open-interest cap at the Pyth price: PerpOpenInterestCapExceeded(market, isLong, notional, cap)", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, token, pool, alice } = f;
      await engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: wad("0.001") });
      expect(await token.balanceOf(await pool.getAddress())).to.equal(usd(5_000_000));
      // Cap 0.1% of 5,000,000 = 5,000 USD; 2 ETH at 3,010 = 6,020 USD.
      const a = await request(f, alice, ETH, wad(2), usd(1_000), MAX_UINT);
      await expectCancelled(
        f,
        a.id,
        a.requestedAt,
        wad(3_010),
        reasonOf(f, "PerpOpenInterestCapExceeded", [ETH, true, wad(6_020), wad(5_000)]),
        alice,
      );
    });

    it("minimum size at the Pyth price: PerpPositionTooSmall(notional, minimum)", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      // 0.003 ETH at 3,010 = 9.03 USD < 10.
      const a = await request(f, f.alice, ETH, wad("0.003"), usd(100), MAX_UINT);
      await expectCancelled(f, a.id, a.requestedAt, wad(3_010), reasonOf(f, "PerpPositionTooSmall", [wad("9.03"), wad(10)]), f.alice);
    });

    it("a full close carrying escrowed collateral: PerpCollateralDeltaOnClose, the escrowed collateral returns", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      const c = await request(f, alice, ETH, -wad(10), usd(50), 0n);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999.5") - usd("50.5"));
      await expectCancelled(f, c.id, c.requestedAt, wad(3_000), reasonOf(f, "PerpCollateralDeltaOnClose", [usd(50)]), alice);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("8999.5") - FEE);
    });
  });

  describe("execute: bad inputs revert, the order stays pending and nothing changes", function () {
    it("OrderNotFound for an id never issued (0 and count + 1)", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const t = f.requestedAt + MIN_DELAY;
      const update = firstUpdate(ETH, wad(3_000), t, f.requestedAt);
      await expectNothingChanged(f, [f.id], async () => {
        for (const id of [0n, 2n]) {
          await expect(executeAt(f, id, update, t)).to.be.revertedWithCustomError(f.engine, "OrderNotFound").withArgs(id);
        }
      });
    });

    it("OrderAlreadyExecuted when the same update is replayed", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const t = f.requestedAt + MIN_DELAY;
      const update = firstUpdate(ETH, wad(3_000), t, f.requestedAt);
      await (await executeAt(f, f.id, update, t)).wait();
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, update, t + 1n, f.bob))
          .to.be.revertedWithCustomError(f.engine, "OrderAlreadyExecuted")
          .withArgs(f.id);
      });
    });

    it("OrderAlreadyCancelled for an order cancelled for its bounds or for expiry", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, bob } = f;
      // Bob's order fails its slippage bound and is cancelled.
      const b = await request(f, bob, ETH, wad(1), usd(100), wad(2_999));
      const tb = b.requestedAt + MIN_DELAY;
      const ub = firstUpdate(ETH, wad(3_000), tb, b.requestedAt);
      await expect(executeAt(f, b.id, ub, tb)).to.emit(engine, "OrderCancelled");
      // Alice's order expires and is cancelled.
      await at(f.requestedAt + MAX_DELAY + 1n);
      await engine.connect(f.carol).cancelOrder(f.id);
      await expectNothingChanged(f, [f.id, b.id], async () => {
        await expect(executeAt(f, b.id, ub, tb + MAX_DELAY + 2n))
          .to.be.revertedWithCustomError(engine, "OrderAlreadyCancelled")
          .withArgs(b.id);
        await expect(executeAt(f, f.id, ub, tb + MAX_DELAY + 2n))
          .to.be.revertedWithCustomError(engine, "OrderAlreadyCancelled")
          .withArgs(f.id);
      });
    });

    it("OrderWrongUpdateFee(required, sent) for 0 or 2 wei with one update, and 1 wei with two", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const t = f.requestedAt + MIN_DELAY;
      const update = firstUpdate(ETH, wad(3_000), t, f.requestedAt);
      await expectNothingChanged(f, [f.id], async () => {
        for (const value of [0n, 2n]) {
          await expect(executeAt(f, f.id, update, t, f.keeper, value))
            .to.be.revertedWithCustomError(f.engine, "OrderWrongUpdateFee")
            .withArgs(1n, value);
        }
        await expect(executeAt(f, f.id, [update, update], t, f.keeper, 1n))
          .to.be.revertedWithCustomError(f.engine, "OrderWrongUpdateFee")
          .withArgs(2n, 1n);
      });
      await expect(executeAt(f, f.id, update, t)).to.emit(f.engine, "OrderExecuted");
    });

    it("OrderPriceTooEarly(publishTime, earliest) for a price published before requestedAt + minDelay", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const earliest = R + MIN_DELAY;
      await expectNothingChanged(f, [f.id], async () => {
        // One second short of the delay, at the request's own second, and a price the trader saw before requesting.
        for (const publishTime of [R + 1n, R, R - 30n]) {
          const update = encodeUpdate(ETH_PYTH_ID, toPyth(wad(3_000)), publishTime, publishTime - 1n);
          await expect(executeAt(f, f.id, update, earliest))
            .to.be.revertedWithCustomError(f.engine, "OrderPriceTooEarly")
            .withArgs(publishTime, earliest);
        }
      });
    });

    it("OrderPriceFromFuture(publishTime, blockTime) for an update dated after the block", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const update = firstUpdate(ETH, wad(3_000), R + 10n, R);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, update, R + 5n))
          .to.be.revertedWithCustomError(f.engine, "OrderPriceFromFuture")
          .withArgs(R + 10n, R + 5n);
      });
      // Once its time has come, it executes.
      await expect(executeAt(f, f.id, update, R + 10n)).to.emit(f.engine, "OrderExecuted");
    });

    it("OrderPriceStale(publishTime, maxAge) for the first update used more than maxPriceAge after it; exactly maxPriceAge passes", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const t = R + MIN_DELAY;
      const update = firstUpdate(ETH, wad(3_000), t, R);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, update, t + MAX_PRICE_AGE + 1n))
          .to.be.revertedWithCustomError(f.engine, "OrderPriceStale")
          .withArgs(t, MAX_PRICE_AGE);
      });
      await expect(executeAt(f, f.id, update, t + MAX_PRICE_AGE))
        .to.emit(f.engine, "OrderExecuted")
        .withArgs(f.id, f.alice.address, ETH, f.keeper.address, wad(3_000), t, FEE);
    });

    it("OrderPriceNotFirst(publishTime, earliest) for a later update than the first; the first still executes", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const earliest = R + MIN_DELAY;
      const tape = new PriceTape();
      tape.publish(ETH_PYTH_ID, wad(3_000), R - 1n);
      const first = tape.publish(ETH_PYTH_ID, wad(3_001), earliest);
      const second = tape.publish(ETH_PYTH_ID, wad(3_020), earliest + 1n);
      const third = tape.publish(ETH_PYTH_ID, wad(3_040), earliest + 5n);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, second, earliest + 6n))
          .to.be.revertedWithCustomError(f.engine, "OrderPriceNotFirst")
          .withArgs(earliest + 1n, earliest);
        await expect(executeAt(f, f.id, third, earliest + 6n))
          .to.be.revertedWithCustomError(f.engine, "OrderPriceNotFirst")
          .withArgs(earliest + 5n, earliest);
      });
      await expect(executeAt(f, f.id, first, earliest + 6n))
        .to.emit(f.engine, "OrderExecuted")
        .withArgs(f.id, f.alice.address, ETH, f.keeper.address, wad(3_001), earliest, FEE);
    });

    it("the first update may be published after the earliest time (a gap in the feed); the one before it is too early", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const tape = new PriceTape();
      const before = tape.publish(ETH_PYTH_ID, wad(3_000), R + 1n);
      const first = tape.publish(ETH_PYTH_ID, wad(3_005), R + 20n); // previous: R + 1 < earliest
      await expect(executeAt(f, f.id, before, R + 21n))
        .to.be.revertedWithCustomError(f.engine, "OrderPriceTooEarly")
        .withArgs(R + 1n, R + MIN_DELAY);
      await expect(executeAt(f, f.id, first, R + 21n))
        .to.emit(f.engine, "OrderExecuted")
        .withArgs(f.id, f.alice.address, ETH, f.keeper.address, wad(3_005), R + 20n, FEE);
    });

    it("OrderPriceDeviation(market, pyth, chainlink, maxDeviation) one step beyond 2% up and down", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const t = f.requestedAt + MIN_DELAY;
      await expectNothingChanged(f, [f.id], async () => {
        for (const price of [wad("3060.00000001"), wad("2939.99999999")]) {
          await expect(executeAt(f, f.id, firstUpdate(ETH, price, t, f.requestedAt), t))
            .to.be.revertedWithCustomError(f.engine, "OrderPriceDeviation")
            .withArgs(ETH, price, wad(3_000), MAX_DEVIATION);
        }
      });
    });

    for (const price of [wad(3_060), wad(2_940)]) {
      it(`exactly 2% from Chainlink (${ethers.formatEther(price)}) executes`, async function () {
        const f = await networkHelpers.loadFixture(pendingFixture);
        const t = f.requestedAt + MIN_DELAY;
        await expect(executeAt(f, f.id, firstUpdate(ETH, price, t, f.requestedAt), t))
          .to.emit(f.engine, "OrderExecuted")
          .withArgs(f.id, f.alice.address, ETH, f.keeper.address, price, t, FEE);
        expect((await positionOf(f, f.alice)).entryPrice).to.equal(price);
      });
    }

    it("OrderPriceUpdateInvalid(feed) for garbage bytes, no update, or only the other market's feed", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const t = f.requestedAt + MIN_DELAY;
      const btc = firstUpdate(BTC, wad(60_000), t, f.requestedAt);
      await expectNothingChanged(f, [f.id], async () => {
        for (const updates of [["0xdeadbeef"], [], [btc]]) {
          await expect(executeAt(f, f.id, updates, t))
            .to.be.revertedWithCustomError(f.engine, "OrderPriceUpdateInvalid")
            .withArgs(ETH_PYTH_ID);
        }
      });
      // Both feeds in one update list: the market's own one is found.
      await expect(executeAt(f, f.id, [btc, firstUpdate(ETH, wad(3_000), t, f.requestedAt)], t)).to.emit(f.engine, "OrderExecuted");
    });

    it("OrderPriceInvalid(feed, price, expo) for a negative or zero price, an exponent out of range, a price rounding to 0", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const t = R + MIN_DELAY;
      const cases: [bigint, number][] = [
        [-toPyth(wad(3_000)), PYTH_EXPO],
        [0n, PYTH_EXPO],
        [3_000n, 1],
        [3_000n, -37],
        [999_999_999_999_999_999n, -36], // 0.999... * 1e-18: rounds to 0 WAD
      ];
      await expectNothingChanged(f, [f.id], async () => {
        for (const [price, expo] of cases) {
          await expect(executeAt(f, f.id, encodeUpdate(ETH_PYTH_ID, price, t, R + 1n, expo), t))
            .to.be.revertedWithCustomError(f.engine, "OrderPriceInvalid")
            .withArgs(ETH_PYTH_ID, price, expo);
        }
      });
    });

    it("OrderExpired(id, requestedAt + maxDelay) one second after expiry; at expiry it executes", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const R = f.requestedAt;
      const update = firstUpdate(ETH, wad(3_000), R + 250n, R);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, update, R + MAX_DELAY + 1n))
          .to.be.revertedWithCustomError(f.engine, "OrderExpired")
          .withArgs(f.id, R + MAX_DELAY);
      });
      await expect(executeAt(f, f.id, update, R + MAX_DELAY)).to.emit(f.engine, "OrderExecuted");
    });

    it("PerpMarketPaused for an increase on a market paused (or globally) after the request; it executes once unpaused", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, guardian } = f;
      const R = f.requestedAt;
      const update = firstUpdate(ETH, wad(3_000), R + MIN_DELAY, R);
      await at(R + 1n);
      await engine.connect(guardian).setMarketPaused(ETH, true);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, update, R + 3n))
          .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
          .withArgs(ETH);
      });
      await at(R + 4n);
      await engine.connect(guardian).setMarketPaused(ETH, false);
      await at(R + 5n);
      await engine.connect(guardian).setGlobalPaused(true);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(executeAt(f, f.id, update, R + 6n))
          .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
          .withArgs(ETH);
      });
      await at(R + 7n);
      await engine.connect(guardian).setGlobalPaused(false);
      await expect(executeAt(f, f.id, update, R + 8n))
        .to.emit(engine, "OrderExecuted")
        .withArgs(f.id, f.alice.address, ETH, f.keeper.address, wad(3_000), R + MIN_DELAY, FEE);
    });

    it("OracleStale when Chainlink is past its heartbeat; it executes after a fresh Chainlink answer", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, ethFeed, alice } = f;
      const updatedAt = (await ethFeed.latestRoundData())[3];
      const R = updatedAt + 3_590n;
      const { id } = await request(f, alice, ETH, wad(1), usd(1_000), wad(3_100), R);
      const t = updatedAt + 3_601n; // R + 11: one second past the heartbeat
      const update = firstUpdate(ETH, wad(3_000), t, R);
      await expectNothingChanged(f, [id], async () => {
        await expect(executeAt(f, id, update, t))
          .to.be.revertedWithCustomError(engine, "OracleStale")
          .withArgs(ETH, updatedAt, 3_600n);
      });
      await at(t + 1n);
      await ethFeed.updateAnswer(answer(3_000));
      await expect(executeAt(f, id, update, t + 2n)).to.emit(engine, "OrderExecuted");
    });

    it("OrderExecutionOutOfGas when the trade runs out of gas: the order stays pending, not cancelled", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, keeper } = f;
      const t = f.requestedAt + MIN_DELAY;
      const update = firstUpdate(ETH, wad(3_000), t, f.requestedAt);
      // Find a gas limit at which the checks pass but the trade's call runs out of gas.
      let limit: bigint | undefined;
      for (let g = 120_000n; g <= 600_000n && limit === undefined; g += 4_000n) {
        await at(t);
        try {
          await engine.connect(keeper).executeOrder.staticCall(f.id, [update], { value: 1n, gasLimit: g, blockTag: "pending" });
          break; // enough gas: no limit below this one starves only the trade
        } catch (e: unknown) {
          const data = (e as { data?: string }).data;
          if (typeof data === "string" && data.length > 2) {
            const err = engine.interface.parseError(data);
            if (err?.name === "OrderExecutionOutOfGas") limit = g;
          }
        }
      }
      expect(limit !== undefined, "a gas limit that starves only the trade").to.equal(true);
      await expectNothingChanged(f, [f.id], async () => {
        await at(t);
        await expect(engine.connect(keeper).executeOrder(f.id, [update], { value: 1n, gasLimit: limit! }))
          .to.be.revertedWithCustomError(engine, "OrderExecutionOutOfGas")
          .withArgs(f.id);
      });
      await expect(executeAt(f, f.id, update, t + 1n)).to.emit(engine, "OrderExecuted");
    });
  });

  /* ---------------------------------------------------------------------- batch */

  describe("executeOrders", function () {
    /**
     * Alice buys 1 ETH (order 1, at base), Bob sells 0.1 BTC (order 2, base + 1), Carol sells 2 ETH (order 3,
     * base + 2). One ETH update at base + 4 is the first for both ETH orders (previous at base + 1), one BTC update at
     * base + 4 the first for Bob's (previous at base).
     */
    async function batchFixture() {
      const f = await fundedFixture();
      const base = (await latest()) + 10n;
      await request(f, f.alice, ETH, wad(1), usd(1_000), wad(3_100), base);
      await request(f, f.bob, BTC, -wad("0.1"), usd(1_000), wad(59_000), base + 1n);
      await request(f, f.carol, ETH, -wad(2), usd(1_000), wad(2_950), base + 2n);
      const eth = encodeUpdate(ETH_PYTH_ID, toPyth(wad(3_010)), base + 4n, base + 1n);
      const btc = encodeUpdate(BTC_PYTH_ID, toPyth(wad(59_900)), base + 4n, base);
      return { ...f, base, eth, btc };
    }

    it("executes orders of several accounts and markets, each with its own update, for the sum of their fees", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, pyth, alice, bob, carol, keeper, base, eth, btc } = f;
      const when = base + 5n;
      const args: [bigint[], string[][]] = [[1n, 2n, 3n], [[eth], [btc], [eth]]];
      await at(when);
      expect(await engine.connect(keeper).executeOrders.staticCall(...args, { value: 3n, blockTag: "pending" })).to.equal(3n);
      const pythEth = await ethers.provider.getBalance(await pyth.getAddress());

      await at(when);
      const tx = await engine.connect(keeper).executeOrders(...args, { value: 3n });
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(1n, alice.address, ETH, keeper.address, wad(3_010), base + 4n, FEE);
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(2n, bob.address, BTC, keeper.address, wad(59_900), base + 4n, FEE);
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(3n, carol.address, ETH, keeper.address, wad(3_010), base + 4n, FEE);
      expect(await positionOf(f, alice)).to.deep.equal({
        size: wad(1),
        collateral: usd(1_000) - takerFee(wad(1), wad(3_010)),
        entryPrice: wad(3_010),
      });
      expect(await positionOf(f, bob, BTC)).to.deep.equal({
        size: -wad("0.1"),
        collateral: usd(1_000) - takerFee(wad("0.1"), wad(59_900)),
        entryPrice: wad(59_900),
      });
      expect(await positionOf(f, carol)).to.deep.equal({
        size: -wad(2),
        collateral: usd(1_000) - takerFee(wad(2), wad(3_010)),
        entryPrice: wad(3_010),
      });
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(1), wad(2)]);
      expect(await engine.openInterest(BTC)).to.deep.equal([0n, wad("0.1")]);
      expect(await engine.freeBalance(keeper.address)).to.equal(3n * FEE);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      expect(await ethers.provider.getBalance(await engine.getAddress())).to.equal(0n);
      expect(await ethers.provider.getBalance(await pyth.getAddress())).to.equal(pythEth + 3n);
      for (const id of [1n, 2n, 3n]) expect((await orderOf(f, id)).status).to.equal(Status.Executed);
      await expectSolvent(f);
    });

    it("OrderNotFound for a never-issued id in the batch: a mistyped id is not skipped silently", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, base, eth, btc } = f;
      await expectNothingChanged(f, [1n, 2n, 3n], async () => {
        await at(base + 5n);
        await expect(engine.connect(keeper).executeOrders([1n, 2n, 9n], [[eth], [btc], [eth]], { value: 3n }))
          .to.be.revertedWithCustomError(engine, "OrderNotFound")
          .withArgs(9n);
      });
    });

    it("OrderWrongUpdateFee(sum, sent) unless msg.value is the sum of the updates' fees", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, base, eth, btc } = f;
      await expectNothingChanged(f, [1n, 2n, 3n], async () => {
        for (const value of [0n, 2n, 4n]) {
          await at(base + 5n);
          await expect(engine.connect(keeper).executeOrders([1n, 2n, 3n], [[eth], [btc], [eth]], { value }))
            .to.be.revertedWithCustomError(engine, "OrderWrongUpdateFee")
            .withArgs(3n, value);
        }
      });
    });

    it("skips orders already executed by someone else and refunds their update fees", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, pyth, bob, carol, keeper, lp, base, eth, btc } = f;
      // The keeper executes orders 1 and 3 on their own first.
      await expect(executeAt(f, 1n, eth, base + 5n)).to.emit(engine, "OrderExecuted");
      await expect(executeAt(f, 3n, eth, base + 6n)).to.emit(engine, "OrderExecuted");
      const args: [bigint[], string[][]] = [[1n, 2n, 3n], [[eth], [btc], [eth]]];

      await at(base + 7n);
      expect(await engine.connect(lp).executeOrders.staticCall(...args, { value: 3n })).to.equal(1n);
      const lpEth = await ethers.provider.getBalance(lp.address);
      const pythEth = await ethers.provider.getBalance(await pyth.getAddress());
      await at(base + 7n);
      const tx = await engine.connect(lp).executeOrders(...args, { value: 3n });
      const receipt = await tx.wait();
      const gas = receipt!.gasUsed * receipt!.gasPrice;
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(2n, bob.address, BTC, lp.address, wad(59_900), base + 4n, FEE);
      const executed = (await engineLogs(f, tx)).filter((e) => e.name === "OrderExecuted" || e.name === "OrderCancelled");
      expect(executed.length).to.equal(1);
      // One update used, two refunded; the engine keeps nothing.
      expect(await ethers.provider.getBalance(lp.address)).to.equal(lpEth - gas - 1n);
      expect(await ethers.provider.getBalance(await pyth.getAddress())).to.equal(pythEth + 1n);
      expect(await ethers.provider.getBalance(await engine.getAddress())).to.equal(0n);
      expect(await engine.freeBalance(lp.address)).to.equal(FEE);
      expect(await engine.freeBalance(keeper.address)).to.equal(2n * FEE);
      expect((await positionOf(f, carol)).size).to.equal(-wad(2));
      await expectSolvent(f);
    });

    it("skips a cancelled order and refunds its fee", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, base, eth, btc } = f;
      // Carol's order 3 cancelled for slippage at a price below her minimum.
      const low = encodeUpdate(ETH_PYTH_ID, toPyth(wad(2_940)), base + 4n, base + 1n);
      await expect(executeAt(f, 3n, low, base + 5n)).to.emit(engine, "OrderCancelled");
      await at(base + 6n);
      expect(await engine.connect(keeper).executeOrders.staticCall([3n, 2n], [[eth], [btc]], { value: 2n })).to.equal(1n);
      await at(base + 6n);
      await expect(engine.connect(keeper).executeOrders([3n, 2n], [[eth], [btc]], { value: 2n }))
        .to.emit(engine, "OrderExecuted")
        .withArgs(2n, f.bob.address, BTC, keeper.address, wad(59_900), base + 4n, FEE);
      expect(await ethers.provider.getBalance(await engine.getAddress())).to.equal(0n);
      expect((await orderOf(f, 3n)).status).to.equal(Status.Cancelled);
    });

    it("an order cancelled for its bounds inside a batch counts as executed", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, carol, keeper, base, btc } = f;
      const low = encodeUpdate(ETH_PYTH_ID, toPyth(wad(2_940)), base + 4n, base + 1n); // below Carol's 2,950 minimum
      const args: [bigint[], string[][]] = [[3n, 2n], [[low], [btc]]];
      await at(base + 5n);
      expect(await engine.connect(keeper).executeOrders.staticCall(...args, { value: 2n, blockTag: "pending" })).to.equal(2n);
      await at(base + 5n);
      const tx = await engine.connect(keeper).executeOrders(...args, { value: 2n });
      await expect(tx)
        .to.emit(engine, "OrderCancelled")
        .withArgs(3n, carol.address, ETH, keeper.address, keeper.address, reasonOf(f, "PerpSlippage", [wad(2_940), wad(2_950)]));
      await expect(tx).to.emit(engine, "OrderExecuted").withArgs(2n, f.bob.address, BTC, keeper.address, wad(59_900), base + 4n, FEE);
      expect(await engine.freeBalance(carol.address)).to.equal(DEPOSIT - FEE);
      expect(await engine.freeBalance(keeper.address)).to.equal(2n * FEE);
    });

    it("any other failure reverts the whole batch", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, base, eth } = f;
      const early = encodeUpdate(BTC_PYTH_ID, toPyth(wad(60_000)), base + 2n, base + 1n); // Bob's earliest: base + 3
      await expectNothingChanged(f, [1n, 2n, 3n], async () => {
        await at(base + 5n);
        await expect(engine.connect(keeper).executeOrders([1n, 2n], [[eth], [early]], { value: 2n }))
          .to.be.revertedWithCustomError(engine, "OrderPriceTooEarly")
          .withArgs(base + 2n, base + 3n);
      });
    });

    it("OrderLengthMismatch(orders, updates) when ids and updates do not pair up", async function () {
      const f = await networkHelpers.loadFixture(batchFixture);
      const { engine, keeper, base, eth } = f;
      await expectNothingChanged(f, [1n, 2n, 3n], async () => {
        await at(base + 5n);
        await expect(engine.connect(keeper).executeOrders([1n, 3n], [[eth]], { value: 1n }))
          .to.be.revertedWithCustomError(engine, "OrderLengthMismatch")
          .withArgs(2n, 1n);
        await expect(engine.connect(keeper).executeOrders([1n], [[eth], [eth]], { value: 2n }))
          .to.be.revertedWithCustomError(engine, "OrderLengthMismatch")
          .withArgs(1n, 2n);
      });
    });
  });

  /* --------------------------------------------------------------------- cancel */

  describe("cancelOrder", function () {
    it("OrderNotExpired(id, expiresAt) up to and at requestedAt + maxDelay", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const expiresAt = f.requestedAt + MAX_DELAY;
      await expectNothingChanged(f, [f.id], async () => {
        for (const when of [f.requestedAt + 1n, expiresAt]) {
          await at(when);
          await expect(f.engine.connect(f.carol).cancelOrder(f.id))
            .to.be.revertedWithCustomError(f.engine, "OrderNotExpired")
            .withArgs(f.id, expiresAt);
        }
        // Not even the trader may cancel early.
        await at(expiresAt);
        await expect(f.engine.connect(f.alice).cancelOrder(f.id))
          .to.be.revertedWithCustomError(f.engine, "OrderNotExpired")
          .withArgs(f.id, expiresAt);
      });
    });

    it("after expiry anyone cancels: the whole escrow (collateral + fee) returns to the trader", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, token, pool, alice, carol } = f;
      const expiresAt = f.requestedAt + MAX_DELAY;
      const o = await orderOf(f, f.id);
      await at(expiresAt + 1n);
      const tx = await engine.connect(carol).cancelOrder(f.id);
      await expect(tx)
        .to.emit(engine, "OrderCancelled")
        .withArgs(f.id, alice.address, ETH, carol.address, alice.address, reasonOf(f, "OrderExpired", [f.id, expiresAt]));
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, alice, carol], [0n, 0n, 0n, 0n]);
      expect(await engine.freeBalance(alice.address)).to.equal(DEPOSIT);
      expect(await engine.freeBalance(carol.address)).to.equal(DEPOSIT);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      expect(await orderOf(f, f.id)).to.deep.equal({ ...o, status: Status.Cancelled });
      expect(await engine.pendingOrderId(alice.address, ETH)).to.equal(0n);
      await expectSolvent(f);
      // A new request is possible.
      expect((await request(f, alice, ETH, wad(1), usd(1_000), MAX_UINT)).id).to.equal(2n);
    });

    it("OrderAlreadyCancelled when cancelling twice", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      await at(f.requestedAt + MAX_DELAY + 1n);
      await f.engine.connect(f.carol).cancelOrder(f.id);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(f.engine.connect(f.alice).cancelOrder(f.id))
          .to.be.revertedWithCustomError(f.engine, "OrderAlreadyCancelled")
          .withArgs(f.id);
      });
    });

    it("OrderNotFound for an id never issued", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      await at(f.requestedAt + MAX_DELAY + 1n);
      await expectNothingChanged(f, [f.id], async () => {
        for (const id of [0n, 2n]) {
          await expect(f.engine.connect(f.carol).cancelOrder(id)).to.be.revertedWithCustomError(f.engine, "OrderNotFound").withArgs(id);
        }
      });
    });

    it("OrderAlreadyExecuted for an executed order", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const t = f.requestedAt + MIN_DELAY;
      await (await executeAt(f, f.id, firstUpdate(ETH, wad(3_000), t, f.requestedAt), t)).wait();
      await at(f.requestedAt + MAX_DELAY + 1n);
      await expectNothingChanged(f, [f.id], async () => {
        await expect(f.engine.connect(f.carol).cancelOrder(f.id))
          .to.be.revertedWithCustomError(f.engine, "OrderAlreadyExecuted")
          .withArgs(f.id);
      });
    });
  });

  describe("poolMarkToMarketAt", function () {
    it("OrderOnlyPool(caller) for anyone but the pool, and nothing changes", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      await expectNothingChanged(f, [f.id], async () => {
        for (const caller of [f.alice, f.keeper, f.deployer]) {
          await expect(f.engine.connect(caller).poolMarkToMarketAt([], 0n))
            .to.be.revertedWithCustomError(f.engine, "OrderOnlyPool")
            .withArgs(caller.address);
        }
      });
    });
  });

  describe("executeOrderCallback", function () {
    it("OrderOnlySelf(caller) for anyone but the engine, even with a pending order", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      await expectNothingChanged(f, [f.id], async () => {
        for (const caller of [f.alice, f.keeper, f.deployer]) {
          await expect(f.engine.connect(caller).executeOrderCallback(f.id, wad(3_000), wad(3_000)))
            .to.be.revertedWithCustomError(f.engine, "OrderOnlySelf")
            .withArgs(caller.address);
        }
      });
    });
  });

  /* ----------------------------------------------------------------- governance */

  describe("governance", function () {
    const withParams = (p: Partial<typeof DEFAULT_PARAMS>) => ({ ...DEFAULT_PARAMS, ...p });
    const tuple = (p: typeof DEFAULT_PARAMS) => [p.minDelay, p.maxDelay, p.maxPriceAge, p.maxDeviation, p.executionFee];

    it("setOrderParams: AccessControlUnauthorizedAccount for a non-governor (guardian included)", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const role = await f.engine.GOVERNOR_ROLE();
      for (const s of [f.alice, f.guardian]) {
        await expect(f.engine.connect(s).setOrderParams(withParams({ minDelay: 3n })))
          .to.be.revertedWithCustomError(f.engine, "AccessControlUnauthorizedAccount")
          .withArgs(s.address, role);
      }
      expect(plain(await f.engine.orderParams())).to.deep.equal(tuple(DEFAULT_PARAMS));
    });

    const outOfBounds: [string, Partial<typeof DEFAULT_PARAMS>, string, bigint, bigint, bigint][] = [
      ["minDelay 0", { minDelay: 0n }, "minDelay", 0n, 1n, 60n],
      ["minDelay 61", { minDelay: 61n, maxDelay: 1_000n }, "minDelay", 61n, 1n, 60n],
      ["maxPriceAge 0", { maxPriceAge: 0n }, "maxPriceAge", 0n, 1n, 300n],
      ["maxPriceAge 301", { maxPriceAge: 301n, maxDelay: 1_000n }, "maxPriceAge", 301n, 1n, 300n],
      ["maxDelay 29 (minimum 30)", { minDelay: 1n, maxPriceAge: 1n, maxDelay: 29n }, "maxDelay", 29n, 30n, 86_400n],
      ["maxDelay below minDelay + maxPriceAge", { maxDelay: 61n }, "maxDelay", 61n, 62n, 86_400n],
      ["maxDelay above 1 day", { maxDelay: 86_401n }, "maxDelay", 86_401n, 62n, 86_400n],
      ["maxDeviation below 0.1%", { maxDeviation: wad("0.001") - 1n }, "maxDeviation", wad("0.001") - 1n, wad("0.001"), wad("0.1")],
      ["maxDeviation above 10%", { maxDeviation: wad("0.1") + 1n }, "maxDeviation", wad("0.1") + 1n, wad("0.001"), wad("0.1")],
      ["executionFee above 100 USD", { executionFee: wad(100) + 1n }, "executionFee", wad(100) + 1n, 0n, wad(100)],
    ];
    for (const [label, change, name, value, lo, hi] of outOfBounds) {
      it(`setOrderParams: PerpParameterOutOfBounds for ${label}`, async function () {
        const f = await networkHelpers.loadFixture(fundedFixture);
        await expect(f.engine.setOrderParams(withParams(change)))
          .to.be.revertedWithCustomError(f.engine, "PerpParameterOutOfBounds")
          .withArgs(b32(name), value, lo, hi);
        expect(plain(await f.engine.orderParams())).to.deep.equal(tuple(DEFAULT_PARAMS));
      });
    }

    it("setOrderParams accepts every bound's edge values", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const lowest = { minDelay: 1n, maxDelay: 30n, maxPriceAge: 1n, maxDeviation: wad("0.001"), executionFee: 0n };
      const highest = { minDelay: 60n, maxDelay: 86_400n, maxPriceAge: 300n, maxDeviation: wad("0.1"), executionFee: wad(100) };
      const tightest = { ...DEFAULT_PARAMS, maxDelay: 62n }; // maxDelay = minDelay + maxPriceAge
      for (const p of [lowest, highest, tightest]) {
        await expect(f.engine.setOrderParams(p)).to.emit(f.engine, "OrderParamsSet").withArgs(tuple(p));
        expect(plain(await f.engine.orderParams())).to.deep.equal(tuple(p));
      }
    });

    it("setOrderParams: PerpParameterUnchanged for the current params", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      await expect(f.engine.setOrderParams(DEFAULT_PARAMS)).to.be.revertedWithCustomError(f.engine, "PerpParameterUnchanged");
    });

    it("a valid change emits OrderParamsSet and sets requiredExecutionFee, rounded up to token units", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice } = f;
      for (const [feeWad, units] of [
        [wad("0.0000015"), 2n], // 1.5 units -> 2
        [wad("0.000001"), 1n],
        [wad("0.000001") + 1n, 2n],
        [0n, 0n],
        [wad(100), usd(100)],
      ] as const) {
        const p = withParams({ executionFee: feeWad });
        await expect(engine.setOrderParams(p)).to.emit(engine, "OrderParamsSet").withArgs(tuple(p));
        expect(await engine.requiredExecutionFee()).to.equal(units);
      }
      // A request must offer the fee in force.
      await engine.setOrderParams(withParams({ executionFee: wad("0.0000015") }));
      await expect(engine.connect(alice).requestOrder(ETH, wad(1), usd(100), MAX_UINT, FEE))
        .to.be.revertedWithCustomError(engine, "OrderWrongExecutionFee")
        .withArgs(2n, FEE);
      await engine.connect(alice).requestOrder(ETH, wad(1), usd(100), MAX_UINT, 2n);
      expect(await engine.freeBalance(alice.address)).to.equal(DEPOSIT - usd(100) - 2n);
      expect((await orderOf(f, 1n)).executionFee).to.equal(2n);
    });

    it("new params apply to pending orders: expiry and minimum delay; the escrowed fee stays the one requested", async function () {
      const f = await networkHelpers.loadFixture(pendingFixture);
      const { engine, keeper } = f;
      const R = f.requestedAt;
      await at(R + 1n);
      await engine.setOrderParams(withParams({ minDelay: 10n, maxDelay: 70n, executionFee: wad(1) }));
      // The price at R + 2 is now too early.
      await expect(executeAt(f, f.id, firstUpdate(ETH, wad(3_000), R + 2n, R), R + 3n))
        .to.be.revertedWithCustomError(engine, "OrderPriceTooEarly")
        .withArgs(R + 2n, R + 10n);
      // Expiry moved to R + 70.
      await at(R + 70n);
      await expect(engine.cancelOrder(f.id)).to.be.revertedWithCustomError(engine, "OrderNotExpired").withArgs(f.id, R + 70n);
      await expect(executeAt(f, f.id, encodeUpdate(ETH_PYTH_ID, toPyth(wad(3_000)), R + 71n, R + 9n), R + 71n))
        .to.be.revertedWithCustomError(engine, "OrderExpired")
        .withArgs(f.id, R + 70n);
      // Executed in time, the executor receives the 0.5 USD escrowed, not the new 1 USD.
      await expect(executeAt(f, f.id, encodeUpdate(ETH_PYTH_ID, toPyth(wad(3_000)), R + 10n, R + 9n), R + 70n))
        .to.emit(engine, "OrderExecuted")
        .withArgs(f.id, f.alice.address, ETH, keeper.address, wad(3_000), R + 10n, FEE);
      expect(await engine.freeBalance(keeper.address)).to.equal(FEE);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
      await expectSolvent(f);
    });

    it("a zero fee: orders escrow only collateral and the executor earns nothing", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice, keeper } = f;
      await engine.setOrderParams(withParams({ executionFee: 0n }));
      const tx = await engine.connect(alice).requestOrder(ETH, wad(1), usd(1_000), MAX_UINT, 0n);
      const R = await minedAt(tx);
      expect(await engine.totalOrderEscrow()).to.equal(usd(1_000));
      const t = R + MIN_DELAY;
      await expect(executeAt(f, 1n, firstUpdate(ETH, wad(3_000), t, R), t))
        .to.emit(engine, "OrderExecuted")
        .withArgs(1n, alice.address, ETH, keeper.address, wad(3_000), t, 0n);
      expect(await engine.freeBalance(keeper.address)).to.equal(0n);
      expect(await engine.totalOrderEscrow()).to.equal(0n);
    });

    it("setPythPriceId: non-governor, zero id, same id and unknown market revert with their errors", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, alice, guardian } = f;
      const id = ethers.keccak256(ethers.toUtf8Bytes("Crypto.ETH/USD.v2"));
      const role = await engine.GOVERNOR_ROLE();
      for (const s of [alice, guardian]) {
        await expect(engine.connect(s).setPythPriceId(ETH, id))
          .to.be.revertedWithCustomError(engine, "AccessControlUnauthorizedAccount")
          .withArgs(s.address, role);
      }
      await expect(engine.setPythPriceId(ETH, ethers.ZeroHash)).to.be.revertedWithCustomError(engine, "PerpZeroAmount");
      await expect(engine.setPythPriceId(ETH, ETH_PYTH_ID)).to.be.revertedWithCustomError(engine, "PerpParameterUnchanged");
      await expect(engine.setPythPriceId(UNKNOWN, id)).to.be.revertedWithCustomError(engine, "PerpUnknownMarket").withArgs(UNKNOWN);
      expect(await engine.pythPriceId(ETH)).to.equal(ETH_PYTH_ID);
    });

    it("setPythPriceId emits PythPriceIdSet; orders then need the new feed; a new market becomes tradable", async function () {
      const f = await networkHelpers.loadFixture(noPythFeedFixture);
      const { engine, alice } = f;
      const id = ethers.keccak256(ethers.toUtf8Bytes("Crypto.ETH/USD.v2"));
      await expect(engine.setPythPriceId(ETH, id)).to.emit(engine, "PythPriceIdSet").withArgs(ETH, id);
      expect(await engine.pythPriceId(ETH)).to.equal(id);
      const { id: orderId, requestedAt } = await request(f, alice, ETH, wad(1), usd(1_000), MAX_UINT);
      const t = requestedAt + MIN_DELAY;
      await expect(executeAt(f, orderId, firstUpdate(ETH, wad(3_000), t, requestedAt), t))
        .to.be.revertedWithCustomError(engine, "OrderPriceUpdateInvalid")
        .withArgs(id);
      await expect(executeAt(f, orderId, encodeUpdate(id, toPyth(wad(3_000)), t, requestedAt + 1n), t)).to.emit(engine, "OrderExecuted");

      const solId = ethers.keccak256(ethers.toUtf8Bytes("Crypto.SOL/USD"));
      await expect(engine.setPythPriceId(SOL, solId)).to.emit(engine, "PythPriceIdSet").withArgs(SOL, solId);
      await expect(engine.connect(f.bob).requestOrder(SOL, wad(1), usd(100), MAX_UINT, FEE)).to.emit(engine, "OrderRequested");
    });
  });

  /* ------------------------------------------------------------- front-running */

  describe("front-running", function () {
    it("a trader who requests just before a +1% move trades at the post-move price: opening then closing earns nothing", async function () {
      const f = await networkHelpers.loadFixture(fundedFixture);
      const { engine, token, pool, ethFeed, alice, keeper } = f;
      const tape = new PriceTape();
      const poolBalance = await token.balanceOf(await pool.getAddress());
      const R = (await latest()) + 10n;
      tape.publish(ETH_PYTH_ID, wad(3_000), R - 5n);

      // Alice sees the move coming and buys 10 ETH at R, while both oracles still say 3,000.
      const open = await request(f, alice, ETH, wad(10), usd(1_000), MAX_UINT, R);
      const preMove = tape.publish(ETH_PYTH_ID, wad(3_000), R + 1n);
      // The move: Chainlink and Pyth to 3,030.
      await at(R + 1n);
      await ethFeed.updateAnswer(answer(3_030));
      const postMove = tape.publish(ETH_PYTH_ID, wad(3_030), R + 2n);

      // The price she saw cannot be used: it was published before requestedAt + minDelay.
      await expect(executeAt(f, open.id, preMove, R + 2n, alice))
        .to.be.revertedWithCustomError(engine, "OrderPriceTooEarly")
        .withArgs(R + 1n, R + 2n);
      await (await executeAt(f, open.id, postMove, R + 2n)).wait();
      expect((await positionOf(f, alice)).entryPrice).to.equal(wad(3_030));

      // She closes at once; no further move.
      const close = await requestClose(f, alice, ETH, 0n, R + 3n);
      const afterClose = tape.publish(ETH_PYTH_ID, wad(3_030), R + 5n);
      await (await executeAt(f, close.id, afterClose, R + 5n)).wait();

      // No PnL: she paid two taker fees of 10 * 3,030 * 5 bp = 15.15 and two execution fees of 0.5.
      const takerFees = 2n * takerFee(wad(10), wad(3_030));
      expect(takerFees).to.equal(usd("30.3"));
      expect(await engine.freeBalance(alice.address)).to.equal(DEPOSIT - takerFees - 2n * FEE);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("9968.7"));
      expect(await engine.freeBalance(keeper.address)).to.equal(2n * FEE);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(poolBalance + takerFees);
      expect(await positionOf(f, alice)).to.deep.equal({ size: 0n, collateral: 0n, entryPrice: 0n });
      await expectSolvent(f);
    });
  });
});
