import type { Address, BlockNumber, Client } from "viem";

import { readEngine } from "../internal/read.js";
import type { AddressesParameter } from "../types.js";

export type GetFreeBalanceParameters = AddressesParameter & { account: Address; blockNumber?: BlockNumber | undefined };
/** Token units. */
export type GetFreeBalanceReturnType = bigint;

/** An account's free balance in the engine: deposited collateral not in any position, withdrawable. */
export function getFreeBalance(client: Client, parameters: GetFreeBalanceParameters): Promise<GetFreeBalanceReturnType> {
  return readEngine(client, parameters.addresses, "freeBalance", [parameters.account], parameters.blockNumber);
}
