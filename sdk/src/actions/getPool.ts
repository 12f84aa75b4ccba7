import { type Address, type BlockNumber, type Client, erc20Abi } from "viem";
import { getBlockNumber, readContract } from "viem/actions";

import { withDecodedErrors } from "../errors/contract.js";
import { collateralTokenOf, readEngine, readPool } from "../internal/read.js";
import type { AddressesParameter } from "../types.js";

export type GetPoolParameters = AddressesParameter & {
  /** Also return this account's shares, their value and what it may withdraw now. */
  account?: Address | undefined;
  blockNumber?: BlockNumber | undefined;
};

export type GetPoolReturnType = {
  /** Net asset value (token units): balance plus what open positions owe the pool, marked to market, floored at 0. */
  totalAssets: bigint;
  totalSupply: bigint;
  shareDecimals: number;
  /** Token units one whole share (10 ** shareDecimals) redeems for now (rounded down). */
  sharePrice: bigint;
  /** Token units held by the pool. */
  balance: bigint;
  /** What open positions owe the pool (negative: are owed), token units, and whether every price was fresh. */
  markToMarket: { value: bigint; fresh: boolean };
  /** Token units LPs may withdraw now: min(NAV, balance) minus the reserve; 0 while a price is not fresh. */
  availableLiquidity: bigint;
  /** Reserve open interest requires (token units). */
  reservedAssets: bigint;
  reserveFactor: bigint;
  /** Largest deposit accepted now (0 while a market with open interest has no fresh price). */
  maxDeposit: bigint;
  account?: { shares: bigint; assets: bigint; maxWithdraw: bigint; maxRedeem: bigint } | undefined;
  blockNumber: BlockNumber;
};

/** The liquidity pool's NAV, share price, liquidity and reserve (and an LP's holding), read at one block. */
export async function getPool(client: Client, parameters: GetPoolParameters): Promise<GetPoolReturnType> {
  const { addresses, account } = parameters;
  const b = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const token = await collateralTokenOf(client, addresses);
  const [totalAssets, totalSupply, shareDecimals, balance, [value, fresh], available, reserved, reserveFactor, maxDeposit] = await Promise.all([
    readPool(client, addresses, "totalAssets", [], b),
    readPool(client, addresses, "totalSupply", [], b),
    readPool(client, addresses, "decimals", [], b),
    withDecodedErrors(() => readContract(client, { address: token, abi: erc20Abi, functionName: "balanceOf", args: [addresses.pool], blockNumber: b })),
    readEngine(client, addresses, "poolMarkToMarket", [], b),
    readPool(client, addresses, "availableLiquidity", [], b),
    readEngine(client, addresses, "reservedAssets", [], b),
    readEngine(client, addresses, "reserveFactor", [], b),
    readPool(client, addresses, "maxDeposit", [account ?? addresses.pool], b),
  ]);
  const sharePrice = await readPool(client, addresses, "convertToAssets", [10n ** BigInt(shareDecimals)], b);
  let holding: GetPoolReturnType["account"];
  if (account !== undefined) {
    const [shares, maxWithdraw, maxRedeem] = await Promise.all([
      readPool(client, addresses, "balanceOf", [account], b),
      readPool(client, addresses, "maxWithdraw", [account], b),
      readPool(client, addresses, "maxRedeem", [account], b),
    ]);
    holding = { shares, assets: await readPool(client, addresses, "convertToAssets", [shares], b), maxWithdraw, maxRedeem };
  }
  return {
    totalAssets,
    totalSupply,
    shareDecimals,
    sharePrice,
    balance,
    markToMarket: { value, fresh },
    availableLiquidity: available,
    reservedAssets: reserved,
    reserveFactor,
    maxDeposit,
    account: holding,
    blockNumber: b,
  };
}
