import { type ClaimParameters, type ClaimReturnType, claim } from "../internal/claim.js";
import type { WalletClient } from "../internal/write.js";

/** Everything claimable (no amount), by `assets` (token units) or by `shares` (the redeemed shares they were paid for). */
export type ClaimRedeemParameters = ClaimParameters;
/** `result`: the assets received and the redeemed shares they were paid for. */
export type ClaimRedeemReturnType = ClaimReturnType;

/**
 * Claims the assets of the controller's fulfilled redemptions (ERC-7540), at their fulfilment's fixed rate: all of
 * them by default (refused, nothing sent, when none are claimable), or by asset amount (`withdraw`: shares used
 * rounded up) or by share amount (`redeem`: assets paid rounded down). The pool refuses more than is claimable
 * (VaultInsufficientClaimable).
 */
export function claimRedeem(client: WalletClient, parameters: ClaimRedeemParameters): Promise<ClaimRedeemReturnType> {
  return claim(client, parameters, "redeem");
}
