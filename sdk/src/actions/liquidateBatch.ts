import type { Address } from "viem";

import { liquidateBatchCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type LiquidateBatchParameters = AddressesParameter &
  WriteOptions & { positions: readonly { account: Address; market: MarketId }[] };
/** `result`: how many positions the simulation liquidated. */
export type LiquidateBatchReturnType = WriteResult<bigint>;

/**
 * Liquidates every liquidatable position of the list in one transaction, skipping healthy, closed and unpriced ones.
 * The simulation throws PerpNothingLiquidated (nothing sent) when none is liquidatable.
 */
export async function liquidateBatch(client: WalletClient, parameters: LiquidateBatchParameters): Promise<LiquidateBatchReturnType> {
  return simulateAndWrite(client, liquidateBatchCall(parameters), parameters);
}
