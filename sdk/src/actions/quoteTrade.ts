import type { BlockNumber, Client } from "viem";

import { readLens } from "../internal/read.js";
import { acceptablePrice } from "../math/pricing.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type QuoteTradeParameters = AddressesParameter & {
  market: MarketId;
  /** Signed WAD size change: positive buys. */
  sizeDelta: bigint;
  /** When given, the quote includes the `acceptablePrice` bound for this much slippage (basis points). */
  slippageBps?: bigint | undefined;
  blockNumber?: BlockNumber | undefined;
};
export type QuoteTradeReturnType = {
  oraclePrice: bigint;
  /** Fill price including price impact (WAD). */
  fillPrice: bigint;
  /** Token units: positive when the impact costs the trader. */
  priceImpact: bigint;
  /** Taker fee, token units. */
  fee: bigint;
  /** The slippage bound for `modifyPosition`, when `slippageBps` was given. */
  acceptablePrice: bigint | undefined;
};

/** What a trade would fill at now, from the lens (the engine's own pricing functions). */
export async function quoteTrade(client: Client, parameters: QuoteTradeParameters): Promise<QuoteTradeReturnType> {
  const q = await readLens(client, parameters.addresses, "quoteTrade", [parameters.market, parameters.sizeDelta], parameters.blockNumber);
  return {
    oraclePrice: q.oraclePrice,
    fillPrice: q.fillPrice,
    priceImpact: q.priceImpact,
    fee: q.fee,
    acceptablePrice:
      parameters.slippageBps === undefined ? undefined : acceptablePrice(q.fillPrice, parameters.sizeDelta > 0n, parameters.slippageBps),
  };
}
