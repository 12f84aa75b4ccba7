/**
 * Calldata builders: every write operation as `{ to, data, value }`, for smart accounts, multisigs and batching
 * (EIP-5792 `wallet_sendCalls`). Each builder has a `*Call` twin returning the typed contract call the write actions
 * simulate and send, so both paths encode the same thing. No RPC: amounts and `acceptablePrice` must be given
 * (see `quoteTrade` and `acceptablePrice` for the latter).
 */
import { type Address, type Hex, encodeFunctionData, erc20Abi } from "viem";

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

/** Encodes a typed call as calldata. */
export function toCalldata(call: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] }): Calldata {
  return { to: call.address, data: encodeFunctionData(call as never), value: 0n };
}

/* --------------------------------------------------------------- collateral */

export type ApproveParameters = { token: Address; spender: Address; amount: bigint };
export const approveCall = (p: ApproveParameters): Call<typeof erc20Abi, "approve", readonly [Address, bigint]> => {
  if (p.amount < 0n || p.amount > UINT256_MAX) throw new InvalidParameterError("amount", `must be a uint256, got ${p.amount}`);
  return { address: p.token, abi: erc20Abi, functionName: "approve", args: [p.spender, p.amount] };
};
/** ERC-20 approval of `spender` (the engine for `deposit`, the pool for `depositLiquidity`). */
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

export type DepositLiquidityCallParameters = { addresses: TidemarkAddresses; assets: bigint; receiver: Address };
export const depositLiquidityCall = (
  p: DepositLiquidityCallParameters,
): Call<PoolAbi, "deposit", readonly [bigint, Address]> => ({
  address: p.addresses.pool,
  abi: liquidityPoolAbi,
  functionName: "deposit",
  args: [positive("assets", p.assets), p.receiver],
});
/** ERC-4626 deposit of `assets` token units into the pool, shares to `receiver` (needs an approval of the pool). */
export const buildDepositLiquidity = (p: DepositLiquidityCallParameters) => toCalldata(depositLiquidityCall(p));

export type WithdrawLiquidityCallParameters = { addresses: TidemarkAddresses; assets: bigint; receiver: Address; owner: Address };
export const withdrawLiquidityCall = (
  p: WithdrawLiquidityCallParameters,
): Call<PoolAbi, "withdraw", readonly [bigint, Address, Address]> => ({
  address: p.addresses.pool,
  abi: liquidityPoolAbi,
  functionName: "withdraw",
  args: [positive("assets", p.assets), p.receiver, p.owner],
});
/** ERC-4626 withdrawal of `assets` token units (burns the shares it costs, rounded up). */
export const buildWithdrawLiquidity = (p: WithdrawLiquidityCallParameters) => toCalldata(withdrawLiquidityCall(p));

export type RedeemLiquidityCallParameters = { addresses: TidemarkAddresses; shares: bigint; receiver: Address; owner: Address };
export const redeemLiquidityCall = (
  p: RedeemLiquidityCallParameters,
): Call<PoolAbi, "redeem", readonly [bigint, Address, Address]> => ({
  address: p.addresses.pool,
  abi: liquidityPoolAbi,
  functionName: "redeem",
  args: [positive("shares", p.shares), p.receiver, p.owner],
});
/** ERC-4626 redemption of `shares` for the assets they are worth (rounded down). */
export const buildRedeemLiquidity = (p: RedeemLiquidityCallParameters) => toCalldata(redeemLiquidityCall(p));
