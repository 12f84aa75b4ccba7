/**
 * Chain utilities for the liquidation, lens and pool tests; the risk model itself is in risk-math.ts (re-exported).
 */
import { expect } from "chai";

import { MAX_UINT, type Ctx } from "./risk-math.js";

export * from "./risk-math.js";

/* ------------------------------------------------------------- chain access */

/** Reads the engine's risk context of a position into plain bigints. */
export async function readCtx(engine: any, account: string, market: string): Promise<Ctx> {
  const c = await engine.riskContext(account, market);
  return {
    size: c.size,
    entryPrice: c.entryPrice,
    collateral: c.collateral,
    fundingOwed: c.fundingOwed,
    scale: c.scale,
    tiers: c.tiers.map((t: any) => ({ notionalFloor: t.notionalFloor, imr: t.imr, mmr: t.mmr })),
    params: {
      takerFeeRate: c.params.takerFeeRate,
      liquidationFeeRate: c.params.liquidationFeeRate,
      liquidationPenaltyRate: c.params.liquidationPenaltyRate,
      targetHealthFactor: c.params.targetHealthFactor,
      minKeeperFee: c.params.minKeeperFee,
      maxKeeperFee: c.params.maxKeeperFee,
      minPositionNotional: c.params.minPositionNotional,
      fullLiquidationNotional: c.params.fullLiquidationNotional,
    },
  };
}

/**
 * Deposits `collateral` token units for `signer` and opens a position of `size` (WAD, signed) on `market`, moving the
 * whole deposit into the position.
 */
export async function openPosition(engine: any, signer: any, market: string, size: bigint, collateral: bigint) {
  await engine.connect(signer).deposit(collateral);
  await engine
    .connect(signer)
    .modifyPosition(market, size, collateral, size > 0n ? MAX_UINT : 0n);
}

/**
 * Solvency: the engine's token balance equals the sum of every account's free balance plus every position's
 * collateral (the engine holds nothing else). `accounts` must include every account that ever held funds.
 */
export async function expectSolvent(engine: any, token: any, accounts: string[], markets: string[]) {
  let owed = 0n;
  for (const a of accounts) {
    owed += await engine.freeBalance(a);
    for (const m of markets) owed += (await engine.getPosition(a, m)).collateral;
  }
  expect(await token.balanceOf(await engine.getAddress())).to.equal(owed);
}

/** The engine's events named `name` in the receipt of `tx`, decoded, in log order. */
export async function engineEvents(engine: any, tx: any, name: string): Promise<any[]> {
  const receipt = await tx.wait();
  return receipt.logs
    .map((l: any) => {
      try {
        return engine.interface.parseLog(l);
      } catch {
        return null;
      }
    })
    .filter((e: any) => e !== null && e.name === name);
}
