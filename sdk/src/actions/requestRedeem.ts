import type { Address } from "viem";

import { requestRedeemCall } from "../calldata.js";
import { LpRequestStateError } from "../errors/base.js";
import { readLpRequests } from "../internal/lp.js";
import { describeRequest, unitsOrRaw } from "../internal/lpMessages.js";
import { collateralTokenOf } from "../internal/read.js";
import { type WalletClient, type WriteOptions, type WriteResult, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type RequestRedeemParameters = AddressesParameter &
  WriteOptions & {
    /** Pool shares (the pool's decimals: the collateral token's plus 6) moved into the request now. */
    shares: bigint;
    /** Manages the request and claims its assets (default: the signer). */
    controller?: Address | undefined;
    /** Whose shares (default: the signer; otherwise the signer needs the owner's share allowance or to be its operator). */
    owner?: Address | undefined;
  };
/** `result`: the ERC-7540 request id (0: one aggregated request per controller), as simulated. */
export type RequestRedeemReturnType = WriteResult<bigint>;

/**
 * Requests a redemption from the liquidity pool (ERC-7540): the shares move into the pool now; after the minimum
 * delay anyone fulfils the request at the NAV of the first Pyth prices published then (within the liquidity above the
 * engine's reserve, keeping the execution fee out of the assets), and the controller claims the assets with
 * `claimRedeem`. Refuses before sending when the controller already has a redemption request pending.
 */
export async function requestRedeem(client: WalletClient, parameters: RequestRedeemParameters): Promise<RequestRedeemReturnType> {
  const signer = addressOf(accountOf(client, parameters));
  const controller = parameters.controller ?? signer;
  const { addresses } = parameters;
  const call = requestRedeemCall({ addresses, shares: parameters.shares, controller, owner: parameters.owner ?? signer }); // validates before any RPC
  const requests = await readLpRequests(client, addresses, controller);
  if (requests.pendingRedeem !== null) {
    const units = await unitsOrRaw(client, await collateralTokenOf(client, addresses));
    throw new LpRequestStateError(
      "pending",
      "redeem",
      controller,
      `${controller} already has ${describeRequest(requests.pendingRedeem, units)}; one redemption request at a time: wait until it is fulfilled and claim it, or cancel it once expired`,
    );
  }
  return simulateAndWrite<bigint>(client, call, parameters);
}
