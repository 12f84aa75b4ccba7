/** The two claim actions (claimDeposit, claimRedeem) share everything but the direction. Internal. */
import type { Address } from "viem";

import { type ClaimAmount, claimDepositCall, claimRedeemCall } from "../calldata.js";
import { LpRequestStateError } from "../errors/base.js";
import { readLpRequests } from "./lp.js";
import { describeRequest, unitsOrRaw } from "./lpMessages.js";
import { collateralTokenOf } from "./read.js";
import { type WalletClient, type WriteOptions, type WriteResult, accountOf, addressOf, simulateAndWrite } from "./write.js";
import type { AddressesParameter } from "../types.js";

/** Everything claimable (neither amount), or by asset amount, or by share amount. */
export type ClaimParameters = AddressesParameter &
  WriteOptions &
  (ClaimAmount | { assets?: undefined; shares?: undefined }) & {
    /** Whose claimable (default: the signer; otherwise the signer must be its operator). */
    controller?: Address | undefined;
    /** Receives the shares or tokens (default: the signer). */
    receiver?: Address | undefined;
  };
/** `result`: the assets and shares of the claim (one as asked, the other as simulated). */
export type ClaimReturnType = WriteResult<{ assets: bigint; shares: bigint }>;

/** claimDeposit (`kind` "deposit") and claimRedeem ("redeem"). */
export async function claim(client: WalletClient, parameters: ClaimParameters, kind: "deposit" | "redeem"): Promise<ClaimReturnType> {
  const signer = addressOf(accountOf(client, parameters));
  const controller = parameters.controller ?? signer;
  const receiver = parameters.receiver ?? signer;
  const { addresses } = parameters;
  const build = kind === "deposit" ? claimDepositCall : claimRedeemCall;
  if (parameters.assets !== undefined || parameters.shares !== undefined) {
    // Validated (exactly one, positive) before any RPC; the pool refuses more than is claimable (VaultInsufficientClaimable).
    const call = build({ addresses, receiver, controller, ...(parameters as ClaimAmount) });
    const { hash, result } = await simulateAndWrite<bigint>(client, call, parameters);
    return parameters.assets !== undefined ? { hash, result: { assets: parameters.assets, shares: result } } : { hash, result: { assets: result, shares: parameters.shares! } };
  }
  const requests = await readLpRequests(client, addresses, controller);
  const claimable = kind === "deposit" ? requests.claimableDeposit : requests.claimableRedeem;
  if (claimable.shares === 0n && claimable.assets === 0n) {
    const pending = kind === "deposit" ? requests.pendingDeposit : requests.pendingRedeem;
    const units = pending === null ? undefined : await unitsOrRaw(client, await collateralTokenOf(client, addresses));
    throw new LpRequestStateError(
      "nothingClaimable",
      kind,
      controller,
      pending === null
        ? `${controller} has nothing to claim from ${kind === "deposit" ? "deposits" : "redemptions"} and no ${kind === "deposit" ? "deposit" : "redemption"} request pending`
        : `${controller} has nothing to claim from ${kind === "deposit" ? "deposits" : "redemptions"} yet: ${describeRequest(pending, units)} is still pending`,
    );
  }
  // All of it, by shares (the pool then pays or uses exactly the claimable assets); by assets when the shares rounded
  // to none (a deposit too small for one share unit), which clears the claimable.
  if (claimable.shares === 0n) {
    const { hash, result } = await simulateAndWrite<bigint>(client, build({ addresses, receiver, controller, assets: claimable.assets }), parameters);
    return { hash, result: { assets: claimable.assets, shares: result } };
  }
  const { hash, result } = await simulateAndWrite<bigint>(client, build({ addresses, receiver, controller, shares: claimable.shares }), parameters);
  return { hash, result: { assets: result, shares: claimable.shares } };
}
