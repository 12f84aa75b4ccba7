import type { Address, BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { readEngine, readRiskContext } from "../internal/read.js";
import { MAX_PRICE } from "../math/constants.js";
import { type PositionHealth, positionHealth } from "../math/risk.js";
import { type OracleStatusName, type RiskContext, oracleStatusName } from "../math/types.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type GetPositionParameters = AddressesParameter & {
  account: Address;
  market: MarketId;
  /** Read at this block (default: the latest). All reads of the call use the same block. */
  blockNumber?: BlockNumber | undefined;
};

export type GetPositionReturnType = {
  account: Address;
  market: MarketId;
  blockNumber: BlockNumber;
  /** False when the account has no position on the market (size 0). */
  exists: boolean;
  /** As stored: collateral in token units, funding index at the last settlement. */
  stored: { size: bigint; collateral: bigint; entryPrice: bigint; fundingIndex: bigint };
  oracleStatus: OracleStatusName;
  /** The oracle's price (WAD), 0 when the feed gives no usable answer. */
  oraclePrice: bigint;
  /**
   * Size, entry price, collateral, notional, PnL, funding owed, closing fee, equity, MM, IM, health factor,
   * liquidation price and whether it is liquidatable, at the oracle price, equal to the lens's `positionHealth`.
   * Null when there is no price to value it at (no positive answer, or a price above MAX_PRICE, as the lens). A position is liquidatable on chain only when `oracleStatus` is Ok.
   */
  health: PositionHealth | null;
  /** Everything the risk math needs, for what-if analysis with the math module (`positionHealth(context, price)`). */
  context: RiskContext;
};

/** A position's full state, computed with the SDK's exact math from one consistent block. */
export async function getPosition(client: Client, parameters: GetPositionParameters): Promise<GetPositionReturnType> {
  const { addresses, account, market } = parameters;
  const blockNumber = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const [stored, context, [status, price]] = await Promise.all([
    readEngine(client, addresses, "getPosition", [account, market], blockNumber),
    readRiskContext(client, addresses, account, market, blockNumber),
    readEngine(client, addresses, "oracleStatus", [market], blockNumber),
  ]);
  return {
    account,
    market,
    blockNumber,
    exists: stored.size !== 0n,
    stored: { size: stored.size, collateral: stored.collateral, entryPrice: stored.entryPrice, fundingIndex: stored.fundingIndex },
    oracleStatus: oracleStatusName(status),
    oraclePrice: price,
    health: price === 0n || price > MAX_PRICE ? null : positionHealth(context, price),
    context,
  };
}
