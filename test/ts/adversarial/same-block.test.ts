/**
 * A keeper's liquidation and the trader's addCollateral in the same block (docs/security.md, "Keeper and trader in the
 * same block"). Automine is off; both transactions are sent with explicit gas limits and ordered by priority fee (the
 * node puts the higher tip first), then one block is mined. Each transaction's outcome is read from the node's trace of
 * that block, not replayed afterwards.
 *
 *   order         | full liquidation (10 USD ... 10,000 USD notional)  | partial liquidation (above 10,000 USD)
 *   trader first  | add lands, liquidation reverts PerpPositionHealthy; the keeper pays gas only           (both)
 *   keeper first  | position closed; add reverts PerpNoPosition,        | position reduced to the target; the add
 *                 | the amount stays in the free balance                | lands on the remainder
 *   trader first, | the add lands but does not restore health: the liquidation goes through and the added
 *   too little    | amount comes back to the trader with the rest of the position's value
 */
import { expect } from "chai";
import { network } from "hardhat";

import { ETH, answer, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { engineEvents, expectSolvent, openPosition } from "../helpers/liquidation-helpers.js";
import { mineInOneBlock, outcomeOf } from "../helpers/mined.js";

const { ethers, networkHelpers } = await network.create();

const GWEI = 10n ** 9n;
const HIGH_TIP = { maxPriorityFeePerGas: 3n * GWEI, maxFeePerGas: 100n * GWEI };
const LOW_TIP = { maxPriorityFeePerGas: 1n * GWEI, maxFeePerGas: 100n * GWEI };

/** Alice: a 3 ETH long with 150 USD (notional 8,895 USD at 2,965: a full liquidation) and 100 USD free. */
async function fullFixture() {
  const f = await deployProtocol(ethers);
  await openPosition(f.engine, f.alice, ETH, wad(3), usd(150));
  await f.engine.connect(f.alice).deposit(usd(100));
  await f.ethFeed.updateAnswer(answer(2_965));
  return f;
}

/** Alice: a 10 ETH long with 400 USD (notional 29,770 USD at 2,977: a partial liquidation) and 100 USD free. */
async function partialFixture() {
  const f = await deployProtocol(ethers);
  await openPosition(f.engine, f.alice, ETH, wad(10), usd(400));
  await f.engine.connect(f.alice).deposit(usd(100));
  await f.ethFeed.updateAnswer(answer(2_977));
  return f;
}

type F = Awaited<ReturnType<typeof fullFixture>>;

/**
 * Sends Alice's addCollateral(amount) and the keeper's liquidation of her position with the tips that put `first`
 * first, mines them in one block, and returns each one's receipt and in-block outcome.
 */
async function race(f: F, first: "trader" | "keeper", amount: bigint) {
  const add = () =>
    f.engine.connect(f.alice).addCollateral(ETH, amount, { gasLimit: 300_000, ...(first === "trader" ? HIGH_TIP : LOW_TIP) });
  const liquidate = () =>
    f.engine.connect(f.keeper).liquidate(f.alice.address, ETH, { gasLimit: 2_000_000, ...(first === "keeper" ? HIGH_TIP : LOW_TIP) });
  // Sent in the losing order, so the block's order comes from the fees, not from arrival.
  const hashes = await mineInOneBlock(ethers.provider, first === "trader" ? [liquidate, add] : [add, liquidate]);
  const [liqHash, addHash] = first === "trader" ? hashes : [hashes[1], hashes[0]];
  const addReceipt = (await ethers.provider.getTransactionReceipt(addHash))!;
  const liqReceipt = (await ethers.provider.getTransactionReceipt(liqHash))!;
  expect(addReceipt.blockNumber).to.equal(liqReceipt.blockNumber);
  expect(addReceipt.index < liqReceipt.index).to.equal(first === "trader");
  return {
    add: { receipt: addReceipt, outcome: await outcomeOf(ethers.provider, f.engine.interface, addHash) },
    liquidation: { receipt: liqReceipt, outcome: await outcomeOf(ethers.provider, f.engine.interface, liqHash) },
  };
}

describe("Adversarial: keeper and trader in the same block", function () {
  for (const [label, fixture] of [
    ["full", fullFixture],
    ["partial", partialFixture],
  ] as const) {
    it(`trader first (${label} case): the collateral lands, the liquidation reverts PerpPositionHealthy, the keeper loses only gas`, async function () {
      const f = await networkHelpers.loadFixture(fixture);
      const { engine, keeper, alice } = f;
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(true);
      const collateral = (await engine.getPosition(alice.address, ETH)).collateral;
      const keeperEth = await ethers.provider.getBalance(keeper.address);
      const keeperFree = await engine.freeBalance(keeper.address);

      const r = await race(f, "trader", usd(100));
      expect(r.add.outcome).to.equal("ok");
      expect(r.liquidation.outcome).to.not.equal("ok");
      const { error, args } = r.liquidation.outcome as { error: string; args: unknown[] };
      expect(error).to.equal("PerpPositionHealthy");
      expect(args.slice(0, 2)).to.deep.equal([alice.address, ETH]);
      expect(args[2] as bigint).to.be.greaterThanOrEqual(10n ** 18n);

      expect((await engine.getPosition(alice.address, ETH)).collateral).to.equal(collateral + usd(100));
      expect(await engine.freeBalance(alice.address)).to.equal(0n);
      expect(await engine.freeBalance(keeper.address)).to.equal(keeperFree);
      const gas = r.liquidation.receipt.gasUsed * r.liquidation.receipt.gasPrice;
      expect(await ethers.provider.getBalance(keeper.address)).to.equal(keeperEth - gas);
    });
  }

  it("keeper first (full case): the position is closed; addCollateral reverts PerpNoPosition and the amount stays free", async function () {
    const f = await networkHelpers.loadFixture(fullFixture);
    const { engine, keeper, alice } = f;
    const r = await race(f, "keeper", usd(100));
    expect(r.liquidation.outcome).to.equal("ok");
    expect(r.add.outcome).to.deep.equal({ error: "PerpNoPosition", args: [alice.address, ETH] });
    // Liquidation of 3 ETH bought at 3,000 with 150 USD at 2,965 (as liquidation.test.ts): 13.815 USD back to Alice.
    const tx = await ethers.provider.getTransaction(r.liquidation.receipt.hash);
    const [ev] = await engineEvents(engine, tx, "PositionLiquidated");
    expect(ev.args.closedSize).to.equal(wad(3));
    expect(ev.args.returnedToTrader).to.equal(usd("13.815"));
    expect((await engine.getPosition(alice.address, ETH)).size).to.equal(0n);
    expect(await engine.freeBalance(alice.address)).to.equal(usd(100) + usd("13.815"));
    expect(await engine.freeBalance(keeper.address)).to.equal(usd("8.895"));
    await expectSolvent(engine, f.token, [alice.address, keeper.address], [ETH]);
  });

  it("keeper first (partial case): the position is reduced to the target and the collateral lands on the remainder", async function () {
    const f = await networkHelpers.loadFixture(partialFixture);
    const { engine, alice } = f;
    const r = await race(f, "keeper", usd(100));
    expect(r.liquidation.outcome).to.equal("ok");
    expect(r.add.outcome).to.equal("ok");
    const tx = await ethers.provider.getTransaction(r.liquidation.receipt.hash);
    const [ev] = await engineEvents(engine, tx, "PositionLiquidated");
    expect(ev.args.remainingSize).to.be.greaterThan(0n);
    expect(ev.args.remainingSize).to.be.lessThan(wad(10));
    const addTx = await ethers.provider.getTransaction(r.add.receipt.hash);
    const [added] = await engineEvents(engine, addTx, "CollateralModified");
    const pos = await engine.getPosition(alice.address, ETH);
    expect(pos.size).to.equal(ev.args.remainingSize);
    expect(added.args.newCollateral).to.equal(pos.collateral);
    expect(await engine.freeBalance(alice.address)).to.equal(0n);
    await expectSolvent(engine, f.token, [alice.address, f.keeper.address], [ETH]);
  });

  it("trader first with too little collateral: the liquidation still goes through and the amount added comes back with the rest", async function () {
    const f = await networkHelpers.loadFixture(fullFixture);
    const { engine, alice } = f;
    const r = await race(f, "trader", usd(1));
    expect(r.add.outcome).to.equal("ok");
    expect(r.liquidation.outcome).to.equal("ok");
    const tx = await ethers.provider.getTransaction(r.liquidation.receipt.hash);
    const [ev] = await engineEvents(engine, tx, "PositionLiquidated");
    // One USD more collateral than the keeper-first case: returned in full (reward and penalty do not depend on it).
    expect(ev.args.returnedToTrader).to.equal(usd("14.815"));
    expect(ev.args.keeperReward).to.equal(usd("8.895"));
    expect(await engine.freeBalance(alice.address)).to.equal(usd(99) + usd("14.815"));
  });
});
