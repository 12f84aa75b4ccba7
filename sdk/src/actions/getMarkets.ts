import type { BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { readEngine } from "../internal/read.js";
import type { AddressesParameter } from "../types.js";
import { type GetMarketReturnType, getMarket } from "./getMarket.js";

export type GetMarketsParameters = AddressesParameter & { blockNumber?: BlockNumber | undefined };
export type GetMarketsReturnType = GetMarketReturnType[];

/** Every listed market with its parameters and state, all read at the same block. */
export async function getMarkets(client: Client, parameters: GetMarketsParameters): Promise<GetMarketsReturnType> {
  const blockNumber = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const ids = await readEngine(client, parameters.addresses, "listedMarkets", [], blockNumber);
  return Promise.all(ids.map((market) => getMarket(client, { addresses: parameters.addresses, market, blockNumber })));
}
