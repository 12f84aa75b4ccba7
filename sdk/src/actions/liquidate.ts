import type { Address } from "viem";

import { liquidateCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";

/** `account` is the position's owner; the signer is always the client's account (WriteOptions' `account` would clash). */
export type LiquidateParameters = AddressesParameter & Omit<WriteOptions, "account"> & { account: Address; market: MarketId };
export type LiquidateReturnType = WriteResult<void>;

/**
 * Liquidates one position; the keeper reward goes to the signer's free balance. The simulation throws
 * `TidemarkContractError` PerpPositionHealthy or PerpNoPosition (already liquidated or closed) without sending.
 */
export async function liquidate(client: WalletClient, parameters: LiquidateParameters): Promise<LiquidateReturnType> {
  return simulateAndWrite(client, liquidateCall(parameters), { ...parameters, account: undefined });
}
