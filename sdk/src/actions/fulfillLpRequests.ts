import type { Hex } from "viem";
import { readContract } from "viem/actions";

import { type LpFulfilment, fulfillLpRequestsCall } from "../calldata.js";
import { withDecodedErrors } from "../errors/contract.js";
import { readEngine } from "../internal/read.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import { pythUpdateFeeAbi } from "../pyth/abi.js";
import type { AddressesParameter } from "../types.js";

export type FulfillLpRequestsParameters = AddressesParameter &
  WriteOptions & {
    /**
     * The requests, each with the Pyth update data it is priced with: for every market with open interest, the first
     * update published at or after the request's `readyAt` (Hermes on a real network; `buildLocalPriceUpdates` on a
     * local chain), an empty list when no market has open interest.
     */
    requests: readonly LpFulfilment[];
  };
/** `result`: how many requests the simulation fulfilled (those no longer pending are skipped). */
export type FulfillLpRequestsReturnType = WriteResult<bigint> & {
  /** Wei sent for Pyth: the sum of its fee for each request's update. */
  value: bigint;
};

/**
 * Fulfils LP requests in one transaction (ERC-7540; anyone, a keeper typically): each deposit or redemption at the
 * pool's NAV at its own prices. The signer receives each request's execution fee in tokens and pays Pyth's update
 * fee in ETH (read from the engine's Pyth for each update). Requests no longer pending are skipped and their update
 * fee refunded; one not yet ready (VaultRequestNotReady) or expired (VaultRequestExpired) fails the simulation,
 * and nothing is sent.
 */
export async function fulfillLpRequests(client: WalletClient, parameters: FulfillLpRequestsParameters): Promise<FulfillLpRequestsReturnType> {
  const { addresses, requests } = parameters;
  fulfillLpRequestsCall({ addresses, requests, value: 0n }); // validates before any RPC
  const pyth = await readEngine(client, addresses, "pyth", []);
  // The pool charges exactly what Pyth asks for each request's update, an empty one included.
  const fees = await Promise.all(
    requests.map((r) =>
      withDecodedErrors(() => readContract(client, { address: pyth, abi: pythUpdateFeeAbi, functionName: "getUpdateFee", args: [r.priceUpdate as Hex[]] })),
    ),
  );
  const value = fees.reduce((a, b) => a + b, 0n);
  return { ...(await simulateAndWrite<bigint>(client, fulfillLpRequestsCall({ addresses, requests, value }), parameters)), value };
}
