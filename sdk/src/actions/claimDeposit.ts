import { type ClaimParameters, type ClaimReturnType, claim } from "../internal/claim.js";
import type { WalletClient } from "../internal/write.js";

/** Everything claimable (no amount), by `assets` (token units the shares were bought with) or by `shares`. */
export type ClaimDepositParameters = ClaimParameters;
/** `result`: the shares received and the assets of the fulfilled deposits they used. */
export type ClaimDepositReturnType = ClaimReturnType;

/**
 * Claims the shares of the controller's fulfilled deposits (ERC-7540), at their fulfilment's fixed rate: all of them
 * by default (refused, nothing sent, when none are claimable), or by asset amount (`deposit`: shares rounded down) or
 * by share amount (`mint`: assets used rounded up). The pool refuses more than is claimable (VaultInsufficientClaimable).
 */
export function claimDeposit(client: WalletClient, parameters: ClaimDepositParameters): Promise<ClaimDepositReturnType> {
  return claim(client, parameters, "deposit");
}
