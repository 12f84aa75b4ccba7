/** The keeper's moving parts meet through these types. */
import type { Address, Hex } from "viem";

/** `${account}:${market}`, lower-case account: the key positions are indexed and sharded by. */
export type PositionKey = string;

export const positionKey = (account: Address, market: Hex): PositionKey => `${account.toLowerCase()}:${market.toLowerCase()}`;

/** A position as the engine stores it (collateral in token units). */
export type TrackedPosition = {
  account: Address;
  market: Hex;
  size: bigint;
  collateral: bigint;
  entryPrice: bigint;
  fundingIndex: bigint;
};

/** A position due for liquidation, as handed to the executor: most urgent first. */
export type Candidate = {
  account: Address;
  market: Hex;
  /** WAD, from the SDK's math at the current block (confirmed by the lens). */
  healthFactor: bigint;
  /** WAD USD. */
  notional: bigint;
  /** Keeper reward the engine would pay for it now, token units (SDK liquidationOutcome). */
  reward: bigint;
  /** When this keeper first saw it liquidatable (ms since epoch): the liquidation delay metric starts there. */
  liquidatableSince: number;
};
