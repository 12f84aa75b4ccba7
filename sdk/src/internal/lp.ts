/** Reads of a controller's pool requests, shared by getLpRequests, getPool and the LP write actions. Internal. */
import type { Address, BlockNumber, Client } from "viem";
import { getBlock } from "viem/actions";

import type { LpRequestKind } from "../calldata.js";
import { withDecodedErrors } from "../errors/contract.js";
import type { TidemarkAddresses } from "../types.js";
import { readEngine, readPool } from "./read.js";

/**
 * Where a pending request stands at the block read: `waiting` before `readyAt` (no one can fulfil it yet), `ready`
 * to fulfil until `expiresAt`, `expired` after it (it can only be cancelled, by anyone).
 */
export type LpRequestStatus = "waiting" | "ready" | "expired";

/** A pending ERC-7540 request of the pool (one per controller and direction). */
export type LpPendingRequest = {
  kind: LpRequestKind;
  /** Deposit: token units, the execution fee included; redemption: pool shares. */
  amount: bigint;
  /** Execution fee in force at the request (token units), paid to whoever fulfils it. */
  fee: bigint;
  /** Unix seconds. */
  requestedAt: bigint;
  /** From then on anyone may fulfil it, at the first Pyth prices published at or after that time (requestedAt + minDelay). */
  readyAt: bigint;
  /** Fulfilment is possible up to this time; after it only cancellation (requestedAt + maxDelay). */
  expiresAt: bigint;
  status: LpRequestStatus;
};

/** What fulfilled requests left to claim: `assets` for `shares`, at the rate of their fulfilments. */
export type LpClaimable = { assets: bigint; shares: bigint };

/** A controller's requests and claimables. */
export type LpRequests = {
  pendingDeposit: LpPendingRequest | null;
  pendingRedeem: LpPendingRequest | null;
  /** Shares bought by fulfilled deposits (`assets`: what they cost, fees deducted), to claim with `claimDeposit`. */
  claimableDeposit: LpClaimable;
  /** Assets paid for redeemed shares (fees deducted), to claim with `claimRedeem`. */
  claimableRedeem: LpClaimable;
};

/** The block's timestamp (unix seconds). */
export async function blockTimestamp(client: Client, blockNumber: BlockNumber): Promise<bigint> {
  return (await withDecodedErrors(() => getBlock(client, { blockNumber }))).timestamp;
}

export type RawRequests = {
  [K in keyof LpRequests]: K extends "pendingDeposit" | "pendingRedeem" ? Omit<LpPendingRequest, "status"> | null : LpClaimable;
};

/** The controller's requests at block `b` (default: the latest), without their status (see statusAt). */
export async function readLpRequests(client: Client, addresses: TidemarkAddresses, account: Address, b?: BlockNumber): Promise<RawRequests> {
  const [deposit, redeem, claimableDeposit, claimableRedeem, params] = await Promise.all([
    readPool(client, addresses, "depositRequest", [account], b),
    readPool(client, addresses, "redeemRequest", [account], b),
    readPool(client, addresses, "claimableDeposit", [account], b),
    readPool(client, addresses, "claimableRedeem", [account], b),
    readEngine(client, addresses, "orderParams", [], b),
  ]);
  const pending = (kind: LpRequestKind, r: { amount: bigint; fee: bigint; requestedAt: number }) => {
    if (r.amount === 0n) return null;
    const requestedAt = BigInt(r.requestedAt);
    return { kind, amount: r.amount, fee: r.fee, requestedAt, readyAt: requestedAt + BigInt(params.minDelay), expiresAt: requestedAt + BigInt(params.maxDelay) };
  };
  return {
    pendingDeposit: pending("deposit", deposit),
    pendingRedeem: pending("redeem", redeem),
    claimableDeposit: { assets: claimableDeposit.assets, shares: claimableDeposit.shares },
    claimableRedeem: { assets: claimableRedeem.assets, shares: claimableRedeem.shares },
  };
}

/** Each pending request's status at `timestamp`. */
export function statusAt(r: RawRequests, timestamp: bigint): LpRequests {
  const status = (p: Omit<LpPendingRequest, "status"> | null): LpPendingRequest | null =>
    p === null ? null : { ...p, status: timestamp < p.readyAt ? "waiting" : timestamp <= p.expiresAt ? "ready" : "expired" };
  return { ...r, pendingDeposit: status(r.pendingDeposit), pendingRedeem: status(r.pendingRedeem) };
}
