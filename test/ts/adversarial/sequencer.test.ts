/**
 * An L2 sequencer flapping around the grace period (docs/security.md, "Sequencer flapping"). The uptime feed goes
 * down, up, down, up, and down again inside a grace period; after every restart the actions are checked exactly at
 * gracePeriod - 1, gracePeriod and gracePeriod + 1 seconds. The rule (docs/decisions.md, "Oracle"): open, increase,
 * remove collateral and liquidate need status Ok; decrease and close also work in the grace period; while the
 * sequencer is down only what needs no price works (deposit, withdraw, add collateral). Each restart starts a new grace
 * window from its own startedAt. engine.oracle.test.ts and liquidation.test.ts check single transitions; this file
 * checks the sequence.
 */
import { expect } from "chai";
import { network } from "hardhat";

import { ETH, answer, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { OracleStatus, snapshot } from "../helpers/engine-helpers.js";
import { MAX_UINT, openPosition } from "../helpers/liquidation-helpers.js";
import { mineInOneBlock, outcomeOf } from "../helpers/mined.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const GRACE = 600;

/**
 * A sequencer uptime feed (up for a day) with a 600 s grace period. Alice: a healthy 10 ETH long and 1,000 USD free;
 * Carol: a 3 ETH long liquidatable at the current ETH price of 2,965; Bob: 1,000 USD free to open with.
 */
async function flappingFixture() {
  const f = await deployProtocol(ethers);
  const sequencer = await ethers.deployContract("MockV3Aggregator", [0, 0]);
  const now = await time.latest();
  await sequencer.updateRoundData(1, 0, now - 86_400, now - 86_400);
  await f.engine.setSequencerConfig(sequencer, GRACE);
  await openPosition(f.engine, f.alice, ETH, wad(10), usd(1_000));
  await f.engine.connect(f.alice).deposit(usd(1_000));
  await openPosition(f.engine, f.carol, ETH, wad(3), usd(150));
  await f.engine.connect(f.bob).deposit(usd(1_000));
  await f.ethFeed.updateAnswer(answer(2_965));
  return { ...f, sequencer };
}

type F = Awaited<ReturnType<typeof flappingFixture>>;

/** Expected engine status: Ok, in the grace period ending at `endsAt`, or sequencer down. */
type Expect = { status: "Ok" } | { status: "Grace"; endsAt: number } | { status: "Down" };

/** The actions, as static calls from their usual actors. */
const ACTIONS = {
  open: (f: F) => f.engine.connect(f.bob).modifyPosition.staticCall(ETH, wad(1), usd(100), MAX_UINT),
  increase: (f: F) => f.engine.connect(f.alice).modifyPosition.staticCall(ETH, wad(1), usd(100), MAX_UINT),
  removeCollateral: (f: F) => f.engine.connect(f.alice).removeCollateral.staticCall(ETH, usd(1)),
  liquidate: (f: F) => f.engine.connect(f.keeper).liquidate.staticCall(f.carol.address, ETH),
  decrease: (f: F) => f.engine.connect(f.alice).modifyPosition.staticCall(ETH, -wad(1), 0n, 0n),
  close: (f: F) => f.engine.connect(f.alice).closePosition.staticCall(ETH, 0n),
  addCollateral: (f: F) => f.engine.connect(f.alice).addCollateral.staticCall(ETH, usd(1)),
  deposit: (f: F) => f.engine.connect(f.bob).deposit.staticCall(usd(1)),
  withdraw: (f: F) => f.engine.connect(f.bob).withdraw.staticCall(usd(1)),
};
const NEEDS_OK = ["open", "increase", "removeCollateral", "liquidate"] as const;
const REDUCES = ["decrease", "close"] as const;
const NO_PRICE = ["addCollateral", "deposit", "withdraw"] as const;

/** A rejection handler that names the failing step. */
const fail = (step: string) => (e: Error) => {
  throw new Error(`${step} should succeed: ${e.message}`);
};

/**
 * Checks every action and view at timestamp `t` (a block is mined at t; static calls run in it), then rewinds the chain
 * to before that block, so the timeline can continue from where it was.
 */
async function checkAt(f: F, t: number, want: Expect) {
  const rewind = await networkHelpers.takeSnapshot();
  await time.increaseTo(t);
  const label = `at ${t} (${want.status})`;
  const statusCode = { Ok: OracleStatus.Ok, Grace: OracleStatus.GracePeriod, Down: OracleStatus.SequencerDown }[want.status];
  expect(await f.engine.oracleStatus(ETH), label).to.deep.equal([statusCode, want.status === "Down" ? 0n : wad(2_965)]);
  expect(await f.engine.isLiquidatable(f.carol.address, ETH), label).to.equal(want.status === "Ok");

  for (const name of NEEDS_OK) {
    const call = ACTIONS[name](f);
    if (want.status === "Ok") await call.catch(fail(`${name} ${label}`));
    else if (want.status === "Grace") {
      await expect(call, `${name} ${label}`).to.be.revertedWithCustomError(f.engine, "OracleGracePeriod").withArgs(ETH, want.endsAt);
    } else {
      await expect(call, `${name} ${label}`).to.be.revertedWithCustomError(f.engine, "OracleSequencerDown").withArgs(ETH);
    }
  }
  for (const name of REDUCES) {
    const call = ACTIONS[name](f);
    if (want.status === "Down") {
      await expect(call, `${name} ${label}`).to.be.revertedWithCustomError(f.engine, "OracleSequencerDown").withArgs(ETH);
    } else await call.catch(fail(`${name} ${label}`));
  }
  for (const name of NO_PRICE) await ACTIONS[name](f).catch(fail(`${name} ${label}`));

  const batch = f.engine.connect(f.keeper).liquidateBatch.staticCall([f.carol.address], [ETH]);
  if (want.status === "Ok") expect(await batch, label).to.equal(1n);
  else await expect(batch, `liquidateBatch ${label}`).to.be.revertedWithCustomError(f.engine, "PerpNothingLiquidated");
  await rewind.restore();
}

/**
 * Sends a real liquidation of Carol mined at exactly `t` and returns its outcome in that block, then rewinds: the
 * static checks above are what a mined transaction does.
 */
async function liquidationMinedAt(f: F, t: number) {
  const rewind = await networkHelpers.takeSnapshot();
  const [hash] = await mineInOneBlock(
    ethers.provider,
    [() => f.engine.connect(f.keeper).liquidate(f.carol.address, ETH, { gasLimit: 2_000_000 })],
    t,
  );
  const block = await ethers.provider.getBlock((await ethers.provider.getTransactionReceipt(hash))!.blockNumber);
  expect(block!.timestamp).to.equal(t);
  const outcome = await outcomeOf(ethers.provider, f.engine.interface, hash);
  await rewind.restore();
  return outcome;
}

/** Sets the uptime feed's next round at exactly `t`: answer 1 (down) or 0 (up), startedAt = t. */
async function sequencerAt(f: F, round: number, t: number, down: boolean) {
  await time.setNextBlockTimestamp(t);
  await f.sequencer.updateRoundData(round, down ? 1 : 0, t, t);
}

describe("Adversarial sequencer: flapping around the grace period", function () {
  it("down, up, down, up, and a restart inside a grace period: each restart starts its own grace window", async function () {
    const f = await networkHelpers.loadFixture(flappingFixture);
    const before = await snapshot(f, [f.alice.address, f.bob.address, f.carol.address, f.keeper.address], [ETH]);
    const t0 = await time.latest();
    await checkAt(f, t0 + 5, { status: "Ok" });

    // Down.
    const d1 = t0 + 10;
    await sequencerAt(f, 2, d1, true);
    await checkAt(f, d1 + 1, { status: "Down" });
    await checkAt(f, d1 + 2 * GRACE, { status: "Down" }); // however long it stays down

    // Up: grace until r1 + GRACE, exactly.
    const r1 = d1 + 100;
    await sequencerAt(f, 3, r1, false);
    await checkAt(f, r1 + 1, { status: "Grace", endsAt: r1 + GRACE });
    await checkAt(f, r1 + GRACE - 1, { status: "Grace", endsAt: r1 + GRACE });
    await checkAt(f, r1 + GRACE, { status: "Ok" });
    await checkAt(f, r1 + GRACE + 1, { status: "Ok" });
    expect(await liquidationMinedAt(f, r1 + GRACE - 1)).to.deep.equal({ error: "OracleGracePeriod", args: [ETH, BigInt(r1 + GRACE)] });
    expect(await liquidationMinedAt(f, r1 + GRACE)).to.equal("ok");

    // Down again after the grace period, then up: a new window from the new startedAt, not the first one.
    const d2 = r1 + GRACE + 50;
    await sequencerAt(f, 4, d2, true);
    await checkAt(f, d2 + 1, { status: "Down" });
    const r2 = d2 + 30;
    await sequencerAt(f, 5, r2, false);
    await checkAt(f, r2 + GRACE - 1, { status: "Grace", endsAt: r2 + GRACE });
    await checkAt(f, r2 + GRACE, { status: "Ok" });
    await checkAt(f, r2 + GRACE + 1, { status: "Ok" });

    // Up at r3, down again 300 s into its grace period, up at r4: at r3 + GRACE (Ok had it stayed up) it is in r4's
    // window, which runs its full length.
    const r3 = r2 + GRACE + 20;
    await sequencerAt(f, 6, r3, false);
    await checkAt(f, r3 + 299, { status: "Grace", endsAt: r3 + GRACE });
    const d4 = r3 + 300;
    await sequencerAt(f, 7, d4, true);
    await checkAt(f, d4 + 1, { status: "Down" });
    const r4 = d4 + 10;
    await sequencerAt(f, 8, r4, false);
    await checkAt(f, r3 + GRACE, { status: "Grace", endsAt: r4 + GRACE });
    await checkAt(f, r4 + GRACE - 1, { status: "Grace", endsAt: r4 + GRACE });
    await checkAt(f, r4 + GRACE, { status: "Ok" });
    await checkAt(f, r4 + GRACE + 1, { status: "Ok" });
    expect(await liquidationMinedAt(f, r4 + GRACE - 1)).to.deep.equal({ error: "OracleGracePeriod", args: [ETH, BigInt(r4 + GRACE)] });
    expect(await liquidationMinedAt(f, r4 + GRACE)).to.equal("ok");

    // The whole sequence was read-only: every position and balance is as it was (the price stayed fresh throughout).
    expect(await snapshot(f, [f.alice.address, f.bob.address, f.carol.address, f.keeper.address], [ETH])).to.deep.equal(before);
    expect(r4 + GRACE + 1 - Number((await f.ethFeed.latestRoundData())[3])).to.be.lessThan(3_600);
  });

  it("a sequencer that restarts every 599 s never lets a liquidation or an open through, while closes keep working", async function () {
    const f = await networkHelpers.loadFixture(flappingFixture);
    let t = (await time.latest()) + 10;
    let round = 2;
    // Five restarts, each 599 s after the previous one (one second short of a full grace period), with a one-second
    // outage between them.
    for (let i = 0; i < 5; i++) {
      await sequencerAt(f, round++, t, true);
      await sequencerAt(f, round++, t + 1, false);
      await checkAt(f, t + 1 + GRACE - 1, { status: "Grace", endsAt: t + 1 + GRACE });
      t += GRACE - 1;
    }
    // Once it stays up for a full grace period, everything works again.
    const lastRestart = t - (GRACE - 1) + 1;
    await checkAt(f, lastRestart + GRACE, { status: "Ok" });
  });
});
