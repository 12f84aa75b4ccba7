import type { Address } from "viem";
import { getBlock } from "viem/actions";

import { type LpRequestKind, cancelLpRequestCall } from "../calldata.js";
import { LpRequestStateError } from "../errors/base.js";
import { withDecodedErrors } from "../errors/contract.js";
import { readLpRequests } from "../internal/lp.js";
import { describeRequest, inSeconds, isoTime, unitsOrRaw } from "../internal/lpMessages.js";
import { collateralTokenOf } from "../internal/read.js";
import { type WalletClient, type WriteOptions, type WriteResult, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type CancelLpRequestParameters = AddressesParameter &
  WriteOptions & {
    /** Which request: the deposit's (its assets return) or the redemption's (its shares return). */
    kind: LpRequestKind;
    /** Whose request (default: the signer). Anyone may cancel an expired request; it returns to its controller. */
    controller?: Address | undefined;
  };
export type CancelLpRequestReturnType = WriteResult<void> & {
  /** What returns to the controller: token units (deposit) or pool shares (redemption). */
  amount: bigint;
};

/**
 * Cancels a pool request that expired unfulfilled (`maxDelay` after it was made), returning its assets or shares to
 * the controller. Refuses, sending nothing, when there is no such request or it has not expired at the latest block
 * (until then it can still be fulfilled).
 */
export async function cancelLpRequest(client: WalletClient, parameters: CancelLpRequestParameters): Promise<CancelLpRequestReturnType> {
  const controller = parameters.controller ?? addressOf(accountOf(client, parameters));
  const { addresses, kind } = parameters;
  const call = cancelLpRequestCall({ addresses, kind, controller }); // validates the kind before any RPC
  const block = await withDecodedErrors(() => getBlock(client, { blockTag: "latest" }));
  const requests = await readLpRequests(client, addresses, controller, block.number);
  const request = kind === "deposit" ? requests.pendingDeposit : requests.pendingRedeem;
  const what = kind === "deposit" ? "deposit" : "redemption";
  if (request === null) {
    throw new LpRequestStateError("noRequest", kind, controller, `${controller} has no pending ${what} request to cancel (never made, or already fulfilled or cancelled)`);
  }
  if (block.timestamp <= request.expiresAt) {
    const units = await unitsOrRaw(client, await collateralTokenOf(client, addresses));
    throw new LpRequestStateError(
      "notExpired",
      kind,
      controller,
      `${describeRequest(request, units).replace(/^a/, "The")} can be cancelled only after it expires at ${isoTime(request.expiresAt)} ` +
        `(${inSeconds(request.expiresAt + 1n, block.timestamp)}; the latest block is at ${isoTime(block.timestamp)}); until then anyone may fulfil it`,
    );
  }
  return { ...(await simulateAndWrite<void>(client, call, parameters)), amount: request.amount };
}
