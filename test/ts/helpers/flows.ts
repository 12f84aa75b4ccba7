/**
 * The two-step flows of the protocol, each run to completion by one party on a local chain: an LP's deposit or
 * redemption (request, wait out the minimum delay, fulfil at Pyth prices equal to Chainlink's, claim), for tests and
 * scripts whose subject is not the flow itself. The party fulfils its own request, so the execution fee comes back to
 * it and its token balance moves exactly as with a synchronous ERC-4626 call.
 */
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";

import { encodeUpdate, toPyth } from "./pyth.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Contract = any;
type Signer = { address: string };

/** Mines nothing: the next transaction's block is `seconds` later than the last one. */
async function advance(ethers: HardhatEthers, seconds: bigint) {
  const block = await ethers.provider.getBlock("latest");
  await ethers.provider.send("evm_setNextBlockTimestamp", [Number(BigInt(block!.timestamp) + seconds)]);
}

/**
 * MockPyth update data for every listed market with open interest at its Chainlink price, published at
 * `publishTime` (each claimed to be the first update at or after it: its previous one a second earlier).
 */
export async function poolPriceUpdates(engine: Contract, publishTime: bigint): Promise<string[]> {
  const out: string[] = [];
  for (const m of await engine.listedMarkets()) {
    const [long, short] = await engine.openInterest(m);
    if (long === 0n && short === 0n) continue;
    const [, price] = await engine.oracleStatus(m);
    out.push(encodeUpdate(await engine.pythPriceId(m), toPyth(price), publishTime, publishTime - 1n));
  }
  return out;
}

/** Fulfils `controller`'s pending request (`redeem`: the redemption) from `by`, waiting out the minimum delay. */
export async function fulfil(ethers: HardhatEthers, pool: Contract, engine: Contract, by: Signer, controller: string, redeem: boolean) {
  const r = redeem ? await pool.redeemRequest(controller) : await pool.depositRequest(controller);
  const { minDelay } = await engine.orderParams();
  const readyAt = BigInt(r.requestedAt) + BigInt(minDelay);
  const latest = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
  if (latest < readyAt) await advance(ethers, readyAt - latest);
  const updates = await poolPriceUpdates(engine, readyAt);
  const pyth = await ethers.getContractAt("MockPyth", await engine.pyth());
  const value = await pyth.getUpdateFee(updates);
  const p = pool.connect(by);
  return redeem ? p.fulfillRedeem(controller, updates, { value }) : p.fulfillDeposit(controller, updates, { value });
}

/**
 * `lp` deposits `assets` token units into the pool: requests `assets` plus the execution fee, fulfils the request
 * itself (the fee comes back) and claims every share. Returns the shares received.
 */
export async function lpDeposit(ethers: HardhatEthers, pool: Contract, engine: Contract, lp: Signer, assets: bigint) {
  const fee: bigint = await engine.requiredExecutionFee();
  const p = pool.connect(lp);
  await (await p.requestDeposit(assets + fee, lp.address, lp.address)).wait();
  await (await fulfil(ethers, pool, engine, lp, lp.address, false)).wait();
  const shares: bigint = await pool.maxMint(lp.address);
  await (await p["mint(uint256,address,address)"](shares, lp.address, lp.address)).wait();
  return shares;
}

/**
 * `lp` redeems `shares`: requests, fulfils itself (the execution fee comes back) and claims every asset. Returns the
 * assets received (fee included).
 */
export async function lpRedeem(ethers: HardhatEthers, pool: Contract, engine: Contract, lp: Signer, shares: bigint) {
  const p = pool.connect(lp);
  await (await p.requestRedeem(shares, lp.address, lp.address)).wait();
  const receipt = await (await fulfil(ethers, pool, engine, lp, lp.address, true)).wait();
  const fulfilled = receipt.logs.map((l: never) => pool.interface.parseLog(l)).find((e: { name: string } | null) => e?.name === "RedeemFulfilled");
  const assets: bigint = await pool.maxWithdraw(lp.address);
  await (await p.withdraw(assets, lp.address, lp.address)).wait();
  return fulfilled.args.assets as bigint;
}
