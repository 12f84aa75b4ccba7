import type { Address, Hash } from "viem";

import { requestDepositCall } from "../calldata.js";
import { InvalidParameterError, LpRequestStateError } from "../errors/base.js";
import { formatTokenAmount } from "../format.js";
import { type ApprovalMode, prepareDeposit } from "../internal/approve.js";
import { readLpRequests } from "../internal/lp.js";
import { describeRequest, unitsOrRaw } from "../internal/lpMessages.js";
import { collateralTokenOf, readEngine } from "../internal/read.js";
import { type WalletClient, type WriteOptions, type WriteResult, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type RequestDepositParameters = AddressesParameter &
  WriteOptions & {
    /** Token units taken from the signer now, the execution fee included: must exceed `requiredExecutionFee()`. */
    assets: bigint;
    /** Manages the request and claims its shares (default: the signer). */
    controller?: Address | undefined;
    /** Approve exactly `assets` (default) or unlimited when the pool's allowance is short. */
    approval?: ApprovalMode | undefined;
  };
/** `result`: the ERC-7540 request id (0: one aggregated request per controller), as simulated. */
export type RequestDepositReturnType = WriteResult<bigint> & {
  approvalHash: Hash | undefined;
  /** The execution fee (token units) the request pays its fulfiller, out of `assets`. */
  fee: bigint;
};

/**
 * Requests a deposit into the liquidity pool (ERC-7540): the pool takes `assets` now; after the minimum delay anyone
 * fulfils the request at the NAV of the first Pyth prices published then (keeping the execution fee), and the
 * controller claims the shares with `claimDeposit`. Refuses before approving anything when `assets` does not exceed
 * the execution fee or the controller already has a deposit request pending; checks the signer's balance, approves
 * the pool when its allowance is short, then simulates and sends.
 */
export async function requestDeposit(client: WalletClient, parameters: RequestDepositParameters): Promise<RequestDepositReturnType> {
  const signer = addressOf(accountOf(client, parameters));
  const controller = parameters.controller ?? signer;
  const { addresses, assets } = parameters;
  const call = requestDepositCall({ addresses, assets, controller, owner: signer }); // validates the amount before any RPC
  const [token, fee, requests] = await Promise.all([
    collateralTokenOf(client, addresses),
    readEngine(client, addresses, "requiredExecutionFee", []),
    readLpRequests(client, addresses, controller),
  ]);
  if (assets <= fee) {
    const units = await unitsOrRaw(client, token);
    throw new InvalidParameterError(
      "assets",
      `a deposit request must exceed the execution fee of ${formatTokenAmount(fee, units, { distinctFrom: assets })} it pays its fulfiller; ${formatTokenAmount(assets, units, { distinctFrom: fee })} requested`,
    );
  }
  if (requests.pendingDeposit !== null) {
    const units = await unitsOrRaw(client, token);
    throw new LpRequestStateError(
      "pending",
      "deposit",
      controller,
      `${controller} already has ${describeRequest(requests.pendingDeposit, units)}; one deposit request at a time: wait until it is fulfilled and claim it, or cancel it once expired`,
    );
  }
  const { approvalHash, options } = await prepareDeposit(client, token, addresses.pool, assets, parameters.approval ?? "exact", parameters);
  return { ...(await simulateAndWrite<bigint>(client, call, { ...options, addresses })), approvalHash, fee };
}
