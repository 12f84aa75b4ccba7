import type { Address, BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { InvalidParameterError } from "../errors/base.js";
import { readLens } from "../internal/read.js";
import type { PositionHealth } from "../math/risk.js";
import { type OracleStatusName, oracleStatusName } from "../math/types.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type GetPositionsParameters = AddressesParameter & {
  positions: readonly { account: Address; market: MarketId }[];
  /** Positions per lens call (default 200): keeps each eth_call within node gas limits. */
  batchSize?: number | undefined;
  blockNumber?: BlockNumber | undefined;
};
export type GetPositionsReturnType = (PositionHealth & { account: Address; market: MarketId; oracleStatus: OracleStatusName })[];

/**
 * Health of many positions in few calls (the lens's `healthBatch`: one oracle read per market). Where a market has no
 * price, only size, entry price, collateral and liquidation price are filled; the rest is zero.
 */
export async function getPositions(client: Client, parameters: GetPositionsParameters): Promise<GetPositionsReturnType> {
  const batch = parameters.batchSize ?? 200;
  // A batch of 0 would never advance.
  if (!Number.isSafeInteger(batch) || batch <= 0) {
    throw new InvalidParameterError("batchSize", `must be a positive integer, got ${batch}`);
  }
  // Every batch at the same block, so the results describe one state.
  const blockNumber = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const out: GetPositionsReturnType = [];
  for (let i = 0; i < parameters.positions.length; i += batch) {
    const keys = parameters.positions.slice(i, i + batch);
    const health = await readLens(client, parameters.addresses, "healthBatch", [keys], blockNumber);
    health.forEach((h, j) => out.push({ ...h, ...keys[j], oracleStatus: oracleStatusName(h.oracleStatus) }));
  }
  return out;
}
