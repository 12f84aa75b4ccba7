/**
 * Calldata builders: every write operation as `{ to, data, value }`, for smart accounts, multisigs and batching
 * (EIP-5792 `wallet_sendCalls`). Each builder has a `*Call` twin returning the typed contract call the write actions
 * simulate and send, so both paths encode the same thing. No RPC: amounts and `acceptablePrice` must be given
 * (see `quoteTrade` and `acceptablePrice` for the latter).
 */
import { type Address, type Hex, encodeFunctionData, erc20Abi, isHex } from "viem";

import { tidemarkEngineAbi } from "./abi/engine.js";
import { liquidityPoolAbi } from "./abi/pool.js";
import { InvalidParameterError } from "./errors/base.js";
import type { MarketId, TidemarkAddresses } from "./types.js";

/** A transaction request any wallet or smart account can send. */
export type Calldata = { to: Address; data: Hex; value: bigint };

type Call<A, F extends string, Args> = { address: Address; abi: A; functionName: F; args: Args };
type EngineAbi = typeof tidemarkEngineAbi;
type PoolAbi = typeof liquidityPoolAbi;

const UINT256_MAX = 2n ** 256n - 1n;
const INT256_MAX = 2n ** 255n - 1n;

function positive(name: string, x: bigint): bigint {
  if (x <= 0n || x > UINT256_MAX) throw new InvalidParameterError(name, `must be a positive uint256, got ${x}`);
  return x;
}

/** Encodes a typed call as calldata (with the wei it sends, when it has a `value`). */
export function toCalldata(call: {
  address: Address;
  abi: readonly unknown[];
  functionName: string;
  args: readonly unknown[];
  value?: bigint | undefined;
}): Calldata {
  const { address, abi, functionName, args } = call;
  return { to: address, data: encodeFunctionData({ abi, functionName, args } as never), value: call.value ?? 0n };
}

/* --------------------------------------------------------------- collateral */

export type ApproveParameters = { token: Address; spender: Address; amount: bigint };
export const approveCall = (p: ApproveParameters): Call<typeof erc20Abi, "approve", readonly [Address, bigint]> => {
  if (p.amount < 0n || p.amount > UINT256_MAX) throw new InvalidParameterError("amount", `must be a uint256, got ${p.amount}`);
  return { address: p.token, abi: erc20Abi, functionName: "approve", args: [p.spender, p.amount] };
};
/** ERC-20 approval of `spender` (the engine for `deposit`, the pool for `requestDeposit`). */
export const buildApprove = (p: ApproveParameters) => toCalldata(approveCall(p));

export type AmountParameters = { addresses: TidemarkAddresses; amount: bigint };
export const depositCall = (p: AmountParameters): Call<EngineAbi, "deposit", readonly [bigint]> => ({
  address: p.addresses.engine,
  abi: tidemarkEngineAbi,
  functionName: "deposit",
  args: [positive("amount", p.amount)],
});
/** Deposit `amount` token units into the free balance (needs an approval of the engine). */
export const buildDeposit = (p: AmountParameters) => toCalldata(depositCall(p));

export const withdrawCall = (p: AmountParameters): Call<EngineAbi, "withdraw", readonly [bigint]> => ({
  address: p.addresses.engine,
  abi: tidemarkEngineAbi,
  functionName: "withdraw",
  args: [positive("amount", p.amount)],
});
/** Withdraw `amount` token units from the free balance. */
export const buildWithdraw = (p: AmountParameters) => toCalldata(withdrawCall(p));

/* --------------------------------------------------------------- positions */

export type ModifyPositionCallParameters = {
  addresses: TidemarkAddresses;
  market: MarketId;
  /** Signed WAD size change, not zero: positive buys, negative sells. */
  sizeDelta: bigint;
  /** Signed token units moved from (positive) or to (negative) the free balance. */
  collateralDelta: bigint;
  /** Worst accepted fill price (WAD): a ceiling for a buy, a floor for a sell. */
  acceptablePrice: bigint;
};
export const modifyPositionCall = (
  p: ModifyPositionCallParameters,
): Call<EngineAbi, "modifyPosition", readonly [MarketId, bigint, bigint, bigint]> => {
  if (p.sizeDelta < -INT256_MAX || p.sizeDelta > INT256_MAX) throw new InvalidParameterError("sizeDelta", "must be an int256");
  if (p.collateralDelta < -INT256_MAX || p.collateralDelta > INT256_MAX) {
    throw new InvalidParameterError("collateralDelta", "must be an int256");
  }
  if (p.sizeDelta === 0n) {
    // The engine refuses it (PerpZeroAmount); collateral alone moves through addCollateral and removeCollateral.
    throw new InvalidParameterError("sizeDelta", "must not be zero: use addCollateral or removeCollateral to move collateral alone");
  }
  if (p.acceptablePrice < 0n || p.acceptablePrice > UINT256_MAX) throw new InvalidParameterError("acceptablePrice", "must be a uint256");
  return {
    address: p.addresses.engine,
    abi: tidemarkEngineAbi,
    functionName: "modifyPosition",
    args: [p.market, p.sizeDelta, p.collateralDelta, p.acceptablePrice],
  };
};
/** Open, increase, decrease or close with explicit signed deltas and price bound. */
export const buildModifyPosition = (p: ModifyPositionCallParameters) => toCalldata(modifyPositionCall(p));

export type ClosePositionCallParameters = { addresses: TidemarkAddresses; market: MarketId; acceptablePrice: bigint };
export const closePositionCall = (
  p: ClosePositionCallParameters,
): Call<EngineAbi, "closePosition", readonly [MarketId, bigint]> => ({
  address: p.addresses.engine,
  abi: tidemarkEngineAbi,
  functionName: "closePosition",
  args: [p.market, p.acceptablePrice],
});
/** Close the whole position; its collateral and PnL go to the free balance. */
export const buildClosePosition = (p: ClosePositionCallParameters) => toCalldata(closePositionCall(p));

export type CollateralCallParameters = { addresses: TidemarkAddresses; market: MarketId; amount: bigint };
export const addCollateralCall = (p: CollateralCallParameters): Call<EngineAbi, "addCollateral", readonly [MarketId, bigint]> => ({
  address: p.addresses.engine,
  abi: tidemarkEngineAbi,
  functionName: "addCollateral",
  args: [p.market, positive("amount", p.amount)],
});
/** Move `amount` token units from the free balance into the position. */
export const buildAddCollateral = (p: CollateralCallParameters) => toCalldata(addCollateralCall(p));

export const removeCollateralCall = (
  p: CollateralCallParameters,
): Call<EngineAbi, "removeCollateral", readonly [MarketId, bigint]> => ({
  address: p.addresses.engine,
  abi: tidemarkEngineAbi,
  functionName: "removeCollateral",
  args: [p.market, positive("amount", p.amount)],
});
/** Move `amount` token units from the position to the free balance (it must stay above initial margin). */
export const buildRemoveCollateral = (p: CollateralCallParameters) => toCalldata(removeCollateralCall(p));

/* -------------------------------------------------------------- liquidation */

export type LiquidateCallParameters = { addresses: TidemarkAddresses; account: Address; market: MarketId };
export const liquidateCall = (p: LiquidateCallParameters): Call<EngineAbi, "liquidate", readonly [Address, MarketId]> => ({
  address: p.addresses.engine,
  abi: tidemarkEngineAbi,
  functionName: "liquidate",
  args: [p.account, p.market],
});
/** Liquidate one position (reverts unless its health factor is below 1 at a fresh price). */
export const buildLiquidate = (p: LiquidateCallParameters) => toCalldata(liquidateCall(p));

export type LiquidateBatchCallParameters = {
  addresses: TidemarkAddresses;
  positions: readonly { account: Address; market: MarketId }[];
};
export const liquidateBatchCall = (
  p: LiquidateBatchCallParameters,
): Call<EngineAbi, "liquidateBatch", readonly [readonly Address[], readonly MarketId[]]> => {
  if (p.positions.length === 0) throw new InvalidParameterError("positions", "must not be empty");
  return {
    address: p.addresses.engine,
    abi: tidemarkEngineAbi,
    functionName: "liquidateBatch",
    args: [p.positions.map((x) => x.account), p.positions.map((x) => x.market)],
  };
};
/** Liquidate every liquidatable position of the list in one transaction; healthy or closed ones are skipped. */
export const buildLiquidateBatch = (p: LiquidateBatchCallParameters) => toCalldata(liquidateBatchCall(p));

/* ------------------------------------------------------------------ the pool */

/** The direction of an LP request: a deposit (assets in) or a redemption (shares out). */
export type LpRequestKind = "deposit" | "redeem";

function lpKind(kind: unknown): LpRequestKind {
  if (kind !== "deposit" && kind !== "redeem") throw new InvalidParameterError("kind", `must be "deposit" or "redeem", got ${String(kind)}`);
  return kind;
}

export type RequestDepositCallParameters = {
  addresses: TidemarkAddresses;
  /** Token units, the execution fee included (the pool refuses `assets` at or below the fee). */
  assets: bigint;
  /** Manages and claims the request. */
  controller: Address;
  /** Whose tokens the pool pulls (the caller, or an owner that made the caller its operator). */
  owner: Address;
};
export const requestDepositCall = (
  p: RequestDepositCallParameters,
): Call<PoolAbi, "requestDeposit", readonly [bigint, Address, Address]> => ({
  address: p.addresses.pool,
  abi: liquidityPoolAbi,
  functionName: "requestDeposit",
  args: [positive("assets", p.assets), p.controller, p.owner],
});
/**
 * ERC-7540 deposit request of `assets` token units for `controller` (needs an approval of the pool by `owner`): the
 * pool holds them until someone fulfils the request at the NAV of Pyth prices published after the minimum delay.
 */
export const buildRequestDeposit = (p: RequestDepositCallParameters) => toCalldata(requestDepositCall(p));

export type RequestRedeemCallParameters = {
  addresses: TidemarkAddresses;
  /** Pool shares (the pool's decimals: the token's plus 6). */
  shares: bigint;
  controller: Address;
  /** Whose shares move into the request (the caller, its operator's owner, or an owner that gave a share allowance). */
  owner: Address;
};
export const requestRedeemCall = (
  p: RequestRedeemCallParameters,
): Call<PoolAbi, "requestRedeem", readonly [bigint, Address, Address]> => ({
  address: p.addresses.pool,
  abi: liquidityPoolAbi,
  functionName: "requestRedeem",
  args: [positive("shares", p.shares), p.controller, p.owner],
});
/** ERC-7540 redemption request of `shares` for `controller`: the pool holds them until the request is fulfilled. */
export const buildRequestRedeem = (p: RequestRedeemCallParameters) => toCalldata(requestRedeemCall(p));

/** A claim by asset amount or by share amount: exactly one. */
export type ClaimAmount = { assets: bigint; shares?: undefined } | { shares: bigint; assets?: undefined };
export type ClaimCallParameters = { addresses: TidemarkAddresses; receiver: Address; controller: Address } & ClaimAmount;

function claimAmount(p: ClaimAmount): { assets: bigint; shares?: undefined } | { shares: bigint; assets?: undefined } {
  if (p.assets !== undefined && p.shares !== undefined) throw new InvalidParameterError("amount", "give either assets or shares, not both");
  if (p.assets !== undefined) return { assets: positive("assets", p.assets) };
  if (p.shares !== undefined) return { shares: positive("shares", p.shares) };
  throw new InvalidParameterError("amount", "assets or shares is required");
}

export const claimDepositCall = (
  p: ClaimCallParameters,
): Call<PoolAbi, "deposit", readonly [bigint, Address, Address]> | Call<PoolAbi, "mint", readonly [bigint, Address, Address]> => {
  const amount = claimAmount(p);
  return amount.assets !== undefined
    ? { address: p.addresses.pool, abi: liquidityPoolAbi, functionName: "deposit", args: [amount.assets, p.receiver, p.controller] }
    : { address: p.addresses.pool, abi: liquidityPoolAbi, functionName: "mint", args: [amount.shares, p.receiver, p.controller] };
};
/**
 * Claims shares of `controller`'s fulfilled deposits for `receiver`: by the assets they were bought with (ERC-7540
 * `deposit`, shares rounded down) or by shares (`mint`, assets used rounded up).
 */
export const buildClaimDeposit = (p: ClaimCallParameters) => toCalldata(claimDepositCall(p));

export const claimRedeemCall = (
  p: ClaimCallParameters,
): Call<PoolAbi, "withdraw", readonly [bigint, Address, Address]> | Call<PoolAbi, "redeem", readonly [bigint, Address, Address]> => {
  const amount = claimAmount(p);
  return amount.assets !== undefined
    ? { address: p.addresses.pool, abi: liquidityPoolAbi, functionName: "withdraw", args: [amount.assets, p.receiver, p.controller] }
    : { address: p.addresses.pool, abi: liquidityPoolAbi, functionName: "redeem", args: [amount.shares, p.receiver, p.controller] };
};
/**
 * Claims the assets of `controller`'s fulfilled redemptions for `receiver`: by asset amount (ERC-7540 `withdraw`,
 * shares used rounded up) or by shares (`redeem`, assets paid rounded down).
 */
export const buildClaimRedeem = (p: ClaimCallParameters) => toCalldata(claimRedeemCall(p));

export type CancelLpRequestCallParameters = { addresses: TidemarkAddresses; kind: LpRequestKind; controller: Address };
export const cancelLpRequestCall = (
  p: CancelLpRequestCallParameters,
): Call<PoolAbi, "cancelDepositRequest" | "cancelRedeemRequest", readonly [Address]> => ({
  address: p.addresses.pool,
  abi: liquidityPoolAbi,
  functionName: lpKind(p.kind) === "deposit" ? "cancelDepositRequest" : "cancelRedeemRequest",
  args: [p.controller],
});
/** Cancels `controller`'s expired request (anyone may): its assets or shares return to the controller. */
export const buildCancelLpRequest = (p: CancelLpRequestCallParameters) => toCalldata(cancelLpRequestCall(p));

/** One LP request to fulfil and the Pyth update data it is priced with (every market with open interest). */
export type LpFulfilment = { controller: Address; kind: LpRequestKind; priceUpdate: readonly Hex[] };
export type FulfillLpRequestsCallParameters = {
  addresses: TidemarkAddresses;
  requests: readonly LpFulfilment[];
  /** Wei for Pyth: the sum of `getUpdateFee` over each request's update (the pool requires it exactly). */
  value: bigint;
};
export const fulfillLpRequestsCall = (
  p: FulfillLpRequestsCallParameters,
): Call<PoolAbi, "fulfillRequests", readonly [readonly Address[], readonly boolean[], readonly (readonly Hex[])[]]> & { value: bigint } => {
  if (p.requests.length === 0) throw new InvalidParameterError("requests", "must not be empty");
  p.requests.forEach((r, i) => {
    lpKind(r.kind);
    if (!Array.isArray(r.priceUpdate) || !r.priceUpdate.every((u) => isHex(u, { strict: true }))) {
      throw new InvalidParameterError("priceUpdate", `of request ${i} must be an array of hex strings (an empty one when no market has open interest)`);
    }
  });
  if (p.value < 0n || p.value > UINT256_MAX) throw new InvalidParameterError("value", `must be a uint256, got ${p.value}`);
  return {
    address: p.addresses.pool,
    abi: liquidityPoolAbi,
    functionName: "fulfillRequests",
    args: [p.requests.map((r) => r.controller), p.requests.map((r) => r.kind === "redeem"), p.requests.map((r) => r.priceUpdate)],
    value: p.value,
  };
};
/**
 * Fulfils LP requests (anyone; the caller earns each request's execution fee in tokens), each with its own Pyth
 * update, sending `value` wei for Pyth. Requests no longer pending are skipped and their update fee refunded.
 */
export const buildFulfillLpRequests = (p: FulfillLpRequestsCallParameters) => toCalldata(fulfillLpRequestsCall(p));
