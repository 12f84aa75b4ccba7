import { type Address, type BlockNumber, type Client, erc20Abi } from "viem";
import { getBlockNumber, readContract } from "viem/actions";

import { withDecodedErrors } from "../errors/contract.js";
import { collateralTokenOf, readEngine } from "../internal/read.js";
import { mulWadDown } from "../math/fixedPoint.js";
import { maxTradeSize } from "../math/trade.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type GetMaxTradeSizeParameters = AddressesParameter & {
  account: Address;
  market: MarketId;
  side: "long" | "short";
  /** Token units the trade would add from the free balance (default 0). */
  collateral?: bigint | undefined;
  blockNumber?: BlockNumber | undefined;
};
export type GetMaxTradeSizeReturnType = {
  /** Largest absolute WAD size the engine would accept at this block (0: none). */
  size: bigint;
  /** The oracle price (WAD) it was computed at; 0 when the feed gives no usable answer (size is then 0). */
  oraclePrice: bigint;
};

/**
 * The largest size by which `account` can open or increase on `side` with `collateral` more, at this block's price,
 * funding index, skew and pool balance: margin, size and open-interest-cap rules of the engine, exactly. Slippage aside,
 * a trade of that size is accepted and one a wei larger is not (the price moves with every oracle update).
 */
export async function getMaxTradeSize(client: Client, parameters: GetMaxTradeSizeParameters): Promise<GetMaxTradeSizeReturnType> {
  const { addresses, account, market } = parameters;
  const b = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const token = await collateralTokenOf(client, addresses);
  const [pos, ctx, [, price], [index], exposure, [long, short], poolBalance] = await Promise.all([
    readEngine(client, addresses, "getPosition", [account, market], b),
    readEngine(client, addresses, "riskContext", [account, market], b),
    readEngine(client, addresses, "oracleStatus", [market], b),
    readEngine(client, addresses, "fundingState", [market], b),
    readEngine(client, addresses, "exposureParams", [market], b),
    readEngine(client, addresses, "openInterest", [market], b),
    withDecodedErrors(() => readContract(client, { address: token, abi: erc20Abi, functionName: "balanceOf", args: [addresses.pool], blockNumber: b })),
  ]);
  if (price === 0n) return { size: 0n, oraclePrice: 0n };
  const isLong = parameters.side === "long";
  const ratio = isLong ? exposure.maxLongOpenInterestRatio : exposure.maxShortOpenInterestRatio;
  const size = maxTradeSize(
    { size: pos.size, collateral: pos.collateral, entryPrice: pos.entryPrice, fundingIndex: pos.fundingIndex },
    {
      price,
      fundingIndex: index,
      skew: long - short,
      impactSkewScale: exposure.impactSkewScale,
      tiers: ctx.tiers,
      params: ctx.params,
      scale: ctx.scale,
    },
    isLong,
    parameters.collateral ?? 0n,
    // The engine's cap: the side's ratio times the pool's token balance (in WAD), rounded down.
    { sideOpenInterest: isLong ? long : short, capNotional: mulWadDown(poolBalance * ctx.scale, ratio) },
  );
  return { size, oraclePrice: price };
}
