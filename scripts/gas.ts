/**
 * Gas benchmark: measures each core operation on an in-process Hardhat network, with the contracts built by the
 * production profile (`npm run gas`), and writes gas-snapshot.json at the repository root: a flat object of integers.
 * Each figure is the gasUsed of one representative transaction (a warm account, a market already in use);
 * liquidateBatchPerPosition is one batch of 50 liquidatable positions divided by 50. The order figures include the
 * Pyth verification on Pyth's MockPyth (abi-decoding the update; the real Pyth contract also verifies a Wormhole
 * signature, roughly 100-200k gas more per update on a live chain).
 */
import { writeFile } from "node:fs/promises";

import { Wallet, keccak256, toUtf8Bytes, type ContractTransactionResponse } from "ethers";
import { network } from "hardhat";

import { BTC, ETH, ETH_PYTH_ID, EXPOSURE_PARAMS, PYTH_UPDATE_FEE, answer, deployProtocol, usd, wad } from "../test/ts/helpers/fixture.js";
import { fulfil } from "../test/ts/helpers/flows.js";
import { PriceTape } from "../test/ts/helpers/pyth.js";

const BATCH = 50;
const { ethers, networkHelpers } = await network.connect();
const p = await deployProtocol(ethers);
const { engine, alice, bob, carol, keeper, ethFeed, btcFeed, token } = p;

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await tx).wait();
  if (receipt === null || receipt.status !== 1) throw new Error("benchmark transaction failed");
  return Number(receipt.gasUsed);
}

const snapshot: Record<string, number> = {};

// Price impact on, as on a live market (premiums of a few basis points at these sizes).
await engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, impactSkewScale: wad(1_000_000) });
await engine.setExposureParams(BTC, { ...EXPOSURE_PARAMS, impactSkewScale: wad(50_000) });

// Accounts: alice already holds a free balance, as a returning trader would.
await engine.connect(alice).deposit(usd(100_000));
snapshot.deposit = await gasOf(engine.connect(alice).deposit(usd(10_000)));
snapshot.withdraw = await gasOf(engine.connect(alice).withdraw(usd(1_000)));

// Trading on ETH at 3,000 in a market already in use on both sides (bob short, carol long), so alice's position is
// not the first of its side: the first position of a side ever opened on a market also pays for creating its
// aggregate slots (about 20k gas more, once per market).
await engine.connect(bob).deposit(usd(100_000));
await engine.connect(bob).modifyPosition(ETH, wad(-5), usd(5_000), wad(2_990));
await engine.connect(carol).deposit(usd(10_000));
await engine.connect(carol).modifyPosition(ETH, wad(1), usd(1_000), wad(3_010));
snapshot.openPosition = await gasOf(engine.connect(alice).modifyPosition(ETH, wad(10), usd(3_000), wad(3_010)));
snapshot.increasePosition = await gasOf(engine.connect(alice).modifyPosition(ETH, wad(5), 0, wad(3_010)));
snapshot.decreasePosition = await gasOf(engine.connect(alice).modifyPosition(ETH, wad(-5), 0, wad(2_990)));
snapshot.addCollateral = await gasOf(engine.connect(alice).addCollateral(ETH, usd(500)));
snapshot.closePosition = await gasOf(engine.connect(alice).closePosition(ETH, wad(2_990)));

// Two-step orders on ETH at 3,000. A warm-up order first, so the figures are those of a market and an order book in
// use (the first order ever also creates the order counter and escrow slots). The keeper executes with a MockPyth
// update published 2 seconds after the request (the minimum delay), the first one after it.
const tape = new PriceTape();
async function executeNext(id: bigint) {
  const order = await engine.getOrder(id);
  const { minDelay } = await engine.orderParams();
  await networkHelpers.time.increaseTo(order.requestedAt + minDelay);
  const update = tape.publish(ETH_PYTH_ID, wad(3_000), order.requestedAt + minDelay);
  return gasOf(engine.connect(keeper).executeOrder(id, [update], { value: PYTH_UPDATE_FEE }));
}
const fee = await engine.requiredExecutionFee();
await engine.connect(carol).requestOrder(ETH, wad("0.5"), usd(500), wad(3_010), fee);
await executeNext(await engine.orderCount());
snapshot.requestOrder = await gasOf(engine.connect(alice).requestOrder(ETH, wad(10), usd(3_000), wad(3_010), fee));
snapshot.executeOpenOrder = await executeNext(await engine.orderCount());
await engine.connect(alice).requestClose(ETH, wad(2_990), fee);
snapshot.executeCloseOrder = await executeNext(await engine.orderCount());
if ((await engine.getPosition(alice.address, ETH)).size !== 0n) throw new Error("benchmark close order did not close");

// LP requests (ERC-7540), from the LP that seeded the pool (its request and claim slots were used before). The
// request is the whole on-chain cost an LP pays to enter or leave; fulfilment and claim follow.
const { pool, lp } = p;
snapshot.requestDeposit = await gasOf(pool.connect(lp).requestDeposit(usd(10_000), lp.address, lp.address));
await networkHelpers.time.increase(2);
await (await fulfil(ethers, pool, engine, keeper, lp.address, false)).wait();
await pool.connect(lp)["mint(uint256,address,address)"](await pool.maxMint(lp.address), lp.address, lp.address);
snapshot.requestRedeem = await gasOf(pool.connect(lp).requestRedeem(10n ** 12n, lp.address, lp.address));

// The keeper already holds a free balance from earlier rewards, as a keeper in service does: its first reward ever
// also pays for creating its balance slot (about 17k gas more, once per keeper).
await engine.connect(keeper).deposit(usd(1));

// Liquidations on BTC at 60,000. Full: notional 6,000 USD (below the 10,000 USD full-liquidation threshold).
// Partial: notional 120,000 USD, which a partial liquidation brings back to the 1.25 target.
await engine.connect(alice).modifyPosition(BTC, wad("0.1"), usd(80), wad(60_100));
await engine.connect(bob).modifyPosition(BTC, wad(2), usd(2_400), wad(60_100));
await btcFeed.updateAnswer(answer(59_300));
if (!(await engine.isLiquidatable(alice.address, BTC)) || !(await engine.isLiquidatable(bob.address, BTC))) {
  throw new Error("benchmark positions are not liquidatable");
}
snapshot.liquidateFull = await gasOf(engine.connect(keeper).liquidate(alice.address, BTC));
const sizeBefore = (await engine.getPosition(bob.address, BTC)).size;
snapshot.liquidatePartial = await gasOf(engine.connect(keeper).liquidate(bob.address, BTC));
const sizeAfter = (await engine.getPosition(bob.address, BTC)).size;
if (!(sizeAfter > 0n && sizeAfter < sizeBefore)) throw new Error("benchmark liquidation was not partial");

// Batch: 50 traders with small ETH longs, all made liquidatable by one price move.
await ethFeed.updateAnswer(answer(3_000));
const traders: Wallet[] = [];
for (let i = 0; i < BATCH; i++) {
  const w = new Wallet(keccak256(toUtf8Bytes(`tidemark-gas-trader-${i}`)), ethers.provider);
  await networkHelpers.setBalance(w.address, 10n ** 20n);
  await token.mint(w.address, usd(1_000));
  await token.connect(w).approve(engine, usd(1_000));
  await engine.connect(w).deposit(usd(1_000));
  await engine.connect(w).modifyPosition(ETH, wad(1), usd(40), wad(3_010));
  traders.push(w);
}
await ethFeed.updateAnswer(answer(2_975));
const accounts = traders.map((w) => w.address);
const markets = accounts.map(() => ETH);
const batchGas = await gasOf(engine.connect(keeper).liquidateBatch(accounts, markets));
if ((await engine.openPositionCount(ETH)) !== 2n) throw new Error("batch did not liquidate all 50 positions");
snapshot.liquidateBatchPerPosition = Math.round(batchGas / BATCH);

await writeFile(new URL("../gas-snapshot.json", import.meta.url), JSON.stringify(snapshot, null, 2) + "\n");
console.table(snapshot);
