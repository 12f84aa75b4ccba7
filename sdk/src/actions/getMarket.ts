import type { Address, BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { bytes32ToText } from "../errors/contract.js";
import { readEngine } from "../internal/read.js";
import { type OracleStatusName, type RiskParams, type Tier, oracleStatusName } from "../math/types.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type GetMarketParameters = AddressesParameter & { market: MarketId; blockNumber?: BlockNumber | undefined };

export type GetMarketReturnType = {
  id: MarketId;
  /** The id as text ("ETH-USD"). */
  symbol: string;
  /** Opening and increasing are paused (by the guardian for this market, or globally). */
  paused: boolean;
  tiers: Tier[];
  params: RiskParams;
  oracle: { feed: Address; heartbeat: number; decimals: number; minPrice: bigint; maxPrice: bigint };
  oracleStatus: OracleStatusName;
  /** WAD; 0 when the feed gives no usable answer. */
  oraclePrice: bigint;
  funding: {
    skewScale: bigint;
    maxFundingRatePerDay: bigint;
    /** Pending cumulative index. */
    index: bigint;
    /** Signed WAD fraction of notional per day, positive when longs pay. */
    ratePerDay: bigint;
    /** Price the index accrues at. */
    price: bigint;
  };
  exposure: { impactSkewScale: bigint; maxLongOpenInterestRatio: bigint; maxShortOpenInterestRatio: bigint };
  /** WAD base units. */
  openInterest: { long: bigint; short: bigint; skew: bigint };
  openPositionCount: bigint;
  blockNumber: BlockNumber;
};

/** A listed market's parameters and state, read at one block. Throws PerpUnknownMarket for an unlisted id. */
export async function getMarket(client: Client, parameters: GetMarketParameters): Promise<GetMarketReturnType> {
  const { addresses, market } = parameters;
  const b = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const [tiers, params, oracle, [status, price], fundingParams, [index, ratePerDay, fundingPrice], exposure, [long, short], count, paused, globalPaused] =
    await Promise.all([
      readEngine(client, addresses, "marginTiers", [market], b),
      readEngine(client, addresses, "riskParams", [market], b),
      readEngine(client, addresses, "oracleConfig", [market], b),
      readEngine(client, addresses, "oracleStatus", [market], b),
      readEngine(client, addresses, "fundingParams", [market], b),
      readEngine(client, addresses, "fundingState", [market], b),
      readEngine(client, addresses, "exposureParams", [market], b),
      readEngine(client, addresses, "openInterest", [market], b),
      readEngine(client, addresses, "openPositionCount", [market], b),
      readEngine(client, addresses, "isMarketPaused", [market], b),
      readEngine(client, addresses, "globalPaused", [], b),
    ]);
  return {
    id: market,
    symbol: bytes32ToText(market),
    paused: paused || globalPaused,
    tiers: tiers.map((t) => ({ notionalFloor: t.notionalFloor, imr: t.imr, mmr: t.mmr })),
    params: { ...params },
    oracle: { ...oracle },
    oracleStatus: oracleStatusName(status),
    oraclePrice: price,
    funding: { skewScale: fundingParams.skewScale, maxFundingRatePerDay: fundingParams.maxFundingRatePerDay, index, ratePerDay, price: fundingPrice },
    exposure: { ...exposure },
    openInterest: { long, short, skew: long - short },
    openPositionCount: count,
    blockNumber: b,
  };
}
