import type { Address } from "viem";

import { liquidateCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type LiquidateParameters = AddressesParameter & WriteOptions & { account: Address; market: MarketId };
export type LiquidateReturnType = WriteResult<void>;

/**
 * Liquidates one position; the keeper reward goes to the signer's free balance. The simulation throws
 * `TidemarkContractError` PerpPositionHealthy or PerpNoPosition (already liquidated or closed) without sending.
 */
export function liquidate(client: WalletClient, parameters: LiquidateParameters): Promise<LiquidateReturnType> {
  return simulateAndWrite(client, liquidateCall(parameters), parameters);
}
