import type { Address, BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { type LpRequests, blockTimestamp, readLpRequests, statusAt } from "../internal/lp.js";
import type { AddressesParameter } from "../types.js";

export type { LpClaimable, LpPendingRequest, LpRequestStatus, LpRequests } from "../internal/lp.js";

export type GetLpRequestsParameters = AddressesParameter & {
  /** The controller whose requests to read. */
  account: Address;
  blockNumber?: BlockNumber | undefined;
};

export type GetLpRequestsReturnType = LpRequests & {
  account: Address;
  /** The block's time, which `status` is measured against (unix seconds). */
  timestamp: bigint;
  blockNumber: BlockNumber;
};

/** A controller's pending pool requests (with their ready and expiry times) and what it can claim, read at one block. */
export async function getLpRequests(client: Client, parameters: GetLpRequestsParameters): Promise<GetLpRequestsReturnType> {
  const { addresses, account } = parameters;
  const b = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const [requests, timestamp] = await Promise.all([readLpRequests(client, addresses, account, b), blockTimestamp(client, b)]);
  return { account, ...statusAt(requests, timestamp), timestamp, blockNumber: b };
}

