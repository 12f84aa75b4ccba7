/**
 * Market state the health scan needs, per block: the oracle status and price and the pending funding index (two reads
 * per market per block), and the tiers and risk parameters (read at start and again when governance changes them).
 */
import type { Hex, PublicClient } from "viem";

import { type OracleStatusName, type RiskParams, type Tier, oracleStatusName, tidemarkEngineAbi, type TidemarkAddresses } from "@tidemark/sdk";

export type MarketSnapshot = {
  market: Hex;
  status: OracleStatusName;
  /** WAD; 0 when the feed gives no usable answer. */
  price: bigint;
  /** Pending funding index at the block. */
  fundingIndex: bigint;
  tiers: readonly Tier[];
  params: RiskParams;
};

export function createMarkets(client: PublicClient, addresses: TidemarkAddresses) {
  const config = new Map<Hex, { tiers: readonly Tier[]; params: RiskParams }>();
  let listed: Hex[] = [];
  const read = <F extends "listedMarkets" | "marginTiers" | "riskParams" | "oracleStatus" | "fundingState">(
    functionName: F,
    args: readonly unknown[],
    blockNumber: bigint,
  ) =>
    client.readContract({ address: addresses.engine, abi: tidemarkEngineAbi, functionName, args, blockNumber } as never) as Promise<
      import("viem").ContractFunctionReturnType<typeof tidemarkEngineAbi, "view", F>
    >;

  async function loadConfig(market: Hex, blockNumber: bigint) {
    const [tiers, params] = await Promise.all([read("marginTiers", [market], blockNumber), read("riskParams", [market], blockNumber)]);
    config.set(market, { tiers: tiers.map((t) => ({ ...t })), params: { ...params } });
  }

  return {
    /** Loads the listed markets and their configuration (at start, and when markets are listed or reconfigured). */
    async reload(blockNumber: bigint, changed?: ReadonlySet<Hex>) {
      listed = [...(await read("listedMarkets", [], blockNumber))];
      await Promise.all(listed.filter((m) => changed === undefined || changed.has(m) || !config.has(m)).map((m) => loadConfig(m, blockNumber)));
    },
    listed: (): readonly Hex[] => listed,
    /** Every listed market's price, status and funding index at `blockNumber`. */
    async snapshot(blockNumber: bigint): Promise<Map<Hex, MarketSnapshot>> {
      const out = new Map<Hex, MarketSnapshot>();
      await Promise.all(
        listed.map(async (market) => {
          const [[status, price], [index]] = await Promise.all([
            read("oracleStatus", [market], blockNumber),
            read("fundingState", [market], blockNumber),
          ]);
          const c = config.get(market)!;
          out.set(market, { market, status: oracleStatusName(status), price, fundingIndex: index, tiers: c.tiers, params: c.params });
        }),
      );
      return out;
    },
  };
}

export type Markets = ReturnType<typeof createMarkets>;
