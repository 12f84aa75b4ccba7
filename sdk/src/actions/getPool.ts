import { type Address, type BlockNumber, type Client, erc20Abi } from "viem";
import { getBlockNumber, readContract } from "viem/actions";

import { withDecodedErrors } from "../errors/contract.js";
import { type LpRequests, blockTimestamp, readLpRequests, statusAt } from "../internal/lp.js";
import { collateralTokenOf, readEngine, readPool } from "../internal/read.js";
import type { AddressesParameter } from "../types.js";

export type GetPoolParameters = AddressesParameter & {
  /** Also return this account's shares, their value, its pending requests and what it can claim. */
  account?: Address | undefined;
  blockNumber?: BlockNumber | undefined;
};

export type GetPoolReturnType = {
  /** Net asset value (token units): the liquid balance plus what open positions owe the pool, marked to market, floored at 0. */
  totalAssets: bigint;
  /** Shares outstanding, those of claimable deposits and pending redemptions (held by the pool) included. */
  totalSupply: bigint;
  /** The pool's decimals: the collateral token's plus 6 (POOL_SHARE_DECIMALS_OFFSET). */
  shareDecimals: number;
  /** Token units one whole share (10 ** shareDecimals) is worth now (rounded down); requests are priced later. */
  sharePrice: bigint;
  /** Token units the pool holds, pending deposits and claimable redemptions included. */
  balance: bigint;
  /** The pool's own tokens: the balance less pending deposits and claimable redemptions. */
  liquidBalance: bigint;
  /** Token units of deposit requests not yet fulfilled (held, not the pool's). */
  pendingDepositAssets: bigint;
  /** Shares of redemption requests not yet fulfilled (held by the pool). */
  pendingRedeemShares: bigint;
  /** Token units of fulfilled redemptions not yet claimed (held, not the pool's). */
  claimableRedeemAssets: bigint;
  /** What the open-interest caps are measured against (token units): the liquid balance times the share of the supply not pending redemption. */
  capacity: bigint;
  /** What open positions owe the pool (negative: are owed), token units, and whether every price was fresh. */
  markToMarket: { value: bigint; fresh: boolean };
  /** Token units a redemption could take now: min(NAV, liquid balance) minus the reserve; 0 while a price is not fresh. */
  availableLiquidity: bigint;
  /** Reserve open interest requires (token units). */
  reservedAssets: bigint;
  reserveFactor: bigint;
  /** Execution fee (token units) a new request pays to whoever fulfils it; a deposit request must exceed it. */
  executionFee: bigint;
  /** Seconds from a request until it can be fulfilled, and until it expires (then only cancellation). */
  minDelay: bigint;
  maxDelay: bigint;
  account?: GetPoolAccount | undefined;
  blockNumber: BlockNumber;
};

/** An LP's holding: shares in its wallet, their value now, its pending requests and what it can claim. */
export type GetPoolAccount = LpRequests & {
  /** Shares the account holds (not those of its pending redemption or its claimable deposit, which the pool holds). */
  shares: bigint;
  /** What they are worth now (token units, rounded down). */
  assets: bigint;
};

/**
 * The liquidity pool's NAV, share price, balances (liquid, pending, claimable), capacity, liquidity, reserve and request
 * parameters, and an LP's holding and requests, read at one block.
 */
export async function getPool(client: Client, parameters: GetPoolParameters): Promise<GetPoolReturnType> {
  const { addresses, account } = parameters;
  const b = parameters.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }));
  const token = await collateralTokenOf(client, addresses);
  const [
    totalAssets,
    totalSupply,
    shareDecimals,
    balance,
    liquidBalance,
    pendingDepositAssets,
    pendingRedeemShares,
    claimableRedeemAssets,
    capacity,
    [value, fresh],
    available,
    reserved,
    reserveFactor,
    executionFee,
    params,
  ] = await Promise.all([
    readPool(client, addresses, "totalAssets", [], b),
    readPool(client, addresses, "totalSupply", [], b),
    readPool(client, addresses, "decimals", [], b),
    withDecodedErrors(() => readContract(client, { address: token, abi: erc20Abi, functionName: "balanceOf", args: [addresses.pool], blockNumber: b })),
    readPool(client, addresses, "liquidBalance", [], b),
    readPool(client, addresses, "totalPendingDepositAssets", [], b),
    readPool(client, addresses, "totalPendingRedeemShares", [], b),
    readPool(client, addresses, "totalClaimableRedeemAssets", [], b),
    readPool(client, addresses, "capacity", [], b),
    readEngine(client, addresses, "poolMarkToMarket", [], b),
    readPool(client, addresses, "availableLiquidity", [], b),
    readEngine(client, addresses, "reservedAssets", [], b),
    readEngine(client, addresses, "reserveFactor", [], b),
    readEngine(client, addresses, "requiredExecutionFee", [], b),
    readEngine(client, addresses, "orderParams", [], b),
  ]);
  const sharePrice = await readPool(client, addresses, "convertToAssets", [10n ** BigInt(shareDecimals)], b);
  let holding: GetPoolReturnType["account"];
  if (account !== undefined) {
    const [shares, requests, timestamp] = await Promise.all([
      readPool(client, addresses, "balanceOf", [account], b),
      readLpRequests(client, addresses, account, b),
      blockTimestamp(client, b),
    ]);
    const assets = await readPool(client, addresses, "convertToAssets", [shares], b);
    holding = { shares, assets, ...statusAt(requests, timestamp) };
  }
  return {
    totalAssets,
    totalSupply,
    shareDecimals,
    sharePrice,
    balance,
    liquidBalance,
    pendingDepositAssets,
    pendingRedeemShares,
    claimableRedeemAssets,
    capacity,
    markToMarket: { value, fresh },
    availableLiquidity: available,
    reservedAssets: reserved,
    reserveFactor,
    executionFee,
    minDelay: BigInt(params.minDelay),
    maxDelay: BigInt(params.maxDelay),
    account: holding,
    blockNumber: b,
  };
}
