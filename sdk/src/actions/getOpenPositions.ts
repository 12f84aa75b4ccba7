import type { Address, BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { InvalidParameterError } from "../errors/base.js";
import { readLens } from "../internal/read.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type GetOpenPositionsParameters = AddressesParameter & {
  market: MarketId;
  /** Accounts per lens call (default 1,000). */
  pageSize?: number | undefined;
  blockNumber?: BlockNumber | undefined;
};
export type GetOpenPositionsReturnType = Address[];

/** Every account with an open position on the market, enumerated on chain through the lens at one block. */
export async function getOpenPositions(client: Client, parameters: GetOpenPositionsParameters): Promise<GetOpenPositionsReturnType> {
  const pageSize = parameters.pageSize ?? 1000;
  // A page of 0 would never advance.
  if (!Number.isSafeInteger(pageSize) || pageSize <= 0) {
    throw new InvalidParameterError("pageSize", `must be a positive integer, got ${pageSize}`);
  }
  const page = BigInt(pageSize);
  const b = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const out: Address[] = [];
  for (let offset = 0n; ; offset += page) {
    const [accounts, total] = await readLens(client, parameters.addresses, "openPositions", [parameters.market, offset, page], b);
    out.push(...accounts);
    if (offset + page >= total) return out;
  }
}
