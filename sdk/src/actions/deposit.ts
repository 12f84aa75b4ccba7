import type { Hash } from "viem";

import { depositCall } from "../calldata.js";
import { type ApprovalMode, prepareDeposit } from "../internal/approve.js";
import { collateralTokenOf } from "../internal/read.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type DepositParameters = AddressesParameter &
  WriteOptions & {
    /** Token units. */
    amount: bigint;
    /** Approve exactly `amount` (default) or unlimited when the engine's allowance is short. */
    approval?: ApprovalMode | undefined;
  };
export type DepositReturnType = WriteResult<void> & { approvalHash: Hash | undefined };

/**
 * Deposits collateral into the signer's free balance. Checks the signer holds the amount; when the engine's allowance
 * is short it first approves and waits for the approval; then it simulates the deposit and sends it.
 */
export async function deposit(client: WalletClient, parameters: DepositParameters): Promise<DepositReturnType> {
  const call = depositCall(parameters); // validates the amount before any RPC
  const token = await collateralTokenOf(client, parameters.addresses);
  const { approvalHash, options } = await prepareDeposit(
    client,
    token,
    parameters.addresses.engine,
    parameters.amount,
    parameters.approval ?? "exact",
    parameters,
  );
  return { ...(await simulateAndWrite<void>(client, call, options)), approvalHash };
}
