import { withdrawCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type WithdrawParameters = AddressesParameter & WriteOptions & { /** Token units. */ amount: bigint };
export type WithdrawReturnType = WriteResult<void>;

/** Withdraws collateral from the signer's free balance to its wallet (simulated first). */
export async function withdraw(client: WalletClient, parameters: WithdrawParameters): Promise<WithdrawReturnType> {
  return simulateAndWrite(client, withdrawCall(parameters), parameters);
}
