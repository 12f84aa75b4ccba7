/** Sentences of the LP actions' refusals, in the collateral token's units (read on that path only). Internal. */
import type { Address, Client } from "viem";

import { formatDuration, formatPoolShares, formatTokenAmount } from "../format.js";
import type { TokenUnits } from "../format.js";
import type { LpPendingRequest } from "./lp.js";
import { tokenUnits } from "./units.js";

/** The collateral token's units, or undefined when they cannot be read (amounts then read as raw units). */
export const unitsOrRaw = (client: Client, token: Address): Promise<TokenUnits | undefined> => tokenUnits(client, token).catch(() => undefined);

/** A unix time as ISO 8601 (UTC). */
export const isoTime = (t: bigint): string => new Date(Number(t) * 1000).toISOString();

/** A pending request in words: "a deposit request of 1,000.50 USDC made at …, ready from …, expiring at …". */
export function describeRequest(r: Omit<LpPendingRequest, "status">, units: TokenUnits | undefined): string {
  const amount = r.kind === "deposit" ? formatTokenAmount(r.amount, units) : formatPoolShares(r.amount, units);
  return `a ${r.kind === "deposit" ? "deposit" : "redemption"} request of ${amount} made at ${isoTime(r.requestedAt)} (fulfillable from ${isoTime(r.readyAt)} to ${isoTime(r.expiresAt)})`;
}

/** Seconds from `now` to `t` in words: "in 120 seconds (2 min)". */
export const inSeconds = (t: bigint, now: bigint): string => (t > now ? `in ${formatDuration(t - now)}` : "now");
