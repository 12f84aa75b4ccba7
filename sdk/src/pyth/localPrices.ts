/**
 * A local price publisher: the Pyth update data a request needs on a local chain whose Pyth is `MockPyth`, for the
 * markets and prices you choose (or every market with open interest at its Chainlink price), published at a given
 * time. Real networks take signed updates from Pyth's Hermes service instead.
 */
import type { BlockNumber, Client, Hex } from "viem";

import { TidemarkError } from "../errors/base.js";
import { bytes32ToText } from "../errors/contract.js";
import { readEngine } from "../internal/read.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { PYTH_DEFAULT_EXPONENT, encodeMockPythUpdate, wadToPythPrice } from "./mockPyth.js";

/** A market and the price (WAD USD) to publish for it. */
export type LocalPrice = { market: MarketId; price: bigint };

export type BuildLocalPriceUpdatesParameters = AddressesParameter & {
  /**
   * Unix seconds. For an LP request or an order: at or after its ready time (`readyAt`), at most the block's time
   * when it executes, and no more than `orderParams().maxPriceAge` before it.
   */
  publishTime: bigint;
  /** Each feed's previous publish time (default `publishTime - 1`: the update is the first at or after `publishTime`). */
  prevPublishTime?: bigint | undefined;
  /**
   * The markets and WAD prices to publish. Default: every listed market with open interest (what an LP request's
   * fulfilment needs) at its Chainlink price, read at `blockNumber`; none when no market has open interest.
   */
  prices?: readonly LocalPrice[] | undefined;
  /** Exponent of the published prices (default -8; WAD prices are truncated to it). */
  expo?: number | undefined;
  blockNumber?: BlockNumber | undefined;
};
/** One MockPyth update per market, in the order of `prices` (or of the engine's listed markets). */
export type BuildLocalPriceUpdatesReturnType = Hex[];

/**
 * MockPyth update data for `prices` (default: the markets with open interest at their Chainlink prices) published at
 * `publishTime`, each feed id read from the engine (`pythPriceId`). For local chains and tests.
 */
export async function buildLocalPriceUpdates(
  client: Client,
  parameters: BuildLocalPriceUpdatesParameters,
): Promise<BuildLocalPriceUpdatesReturnType> {
  const { addresses, publishTime, blockNumber } = parameters;
  const expo = parameters.expo ?? PYTH_DEFAULT_EXPONENT;
  // Validates the times and exponent before any RPC.
  encodeMockPythUpdate({ id: `0x${"00".repeat(32)}`, price: 1n, expo, publishTime, prevPublishTime: parameters.prevPublishTime });
  const prices = parameters.prices ?? (await openInterestPrices(client, parameters));
  return Promise.all(
    prices.map(async ({ market, price }) => {
      const id = await readEngine(client, addresses, "pythPriceId", [market], blockNumber);
      if (BigInt(id) === 0n) throw new TidemarkError(`Market ${bytes32ToText(market)} has no Pyth price feed id set in the engine; nothing to publish for it`);
      return encodeMockPythUpdate({ id, price: wadToPythPrice(price, expo), expo, publishTime, prevPublishTime: parameters.prevPublishTime });
    }),
  );
}

/** Every listed market with open interest, at its Chainlink price. */
async function openInterestPrices(client: Client, parameters: BuildLocalPriceUpdatesParameters): Promise<LocalPrice[]> {
  const { addresses, blockNumber } = parameters;
  const markets = await readEngine(client, addresses, "listedMarkets", [], blockNumber);
  const read = await Promise.all(
    markets.map(async (market) => {
      const [[long, short], [, price]] = await Promise.all([
        readEngine(client, addresses, "openInterest", [market], blockNumber),
        readEngine(client, addresses, "oracleStatus", [market], blockNumber),
      ]);
      return { market, price, open: long !== 0n || short !== 0n };
    }),
  );
  return read
    .filter((m) => m.open)
    .map(({ market, price }) => {
      if (price === 0n) throw new TidemarkError(`Market ${bytes32ToText(market)} has open interest but no Chainlink price to publish at; pass prices`);
      return { market, price };
    });
}
