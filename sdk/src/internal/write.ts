/** Simulate-then-send, shared by the write actions. Internal: not part of the package's exports. */
import type { Account, Address, Chain, Client, Hash, Transport } from "viem";
import { simulateContract, waitForTransactionReceipt, writeContract } from "viem/actions";

import { InvalidParameterError, TidemarkError } from "../errors/base.js";
import { withDecodedErrors } from "../errors/contract.js";

/** Transaction options every write action accepts, passed to viem. */
export type WriteOptions = {
  /** Signer: an Account (local key) or an address the client's wallet holds. Default: the client's account. */
  account?: Account | Address | undefined;
  gas?: bigint | undefined;
  maxFeePerGas?: bigint | undefined;
  maxPriorityFeePerGas?: bigint | undefined;
  nonce?: number | undefined;
};

/** What every write action returns: the transaction hash and the simulated return value. */
export type WriteResult<R = unknown> = { hash: Hash; result: R };

export type WalletClient = Client<Transport, Chain | undefined, Account | undefined>;

export function accountOf(client: WalletClient, options: WriteOptions): Account | Address {
  const account = options.account ?? client.account;
  if (account === undefined) throw new InvalidParameterError("account", "the client has no account and none was passed");
  return account;
}

export const addressOf = (account: Account | Address): Address => (typeof account === "string" ? account : account.address);

/**
 * Simulates `call` from the signer (a revert throws the decoded TidemarkContractError and nothing is sent), then sends
 * exactly the simulated request.
 */
export async function simulateAndWrite<R>(
  client: WalletClient,
  call: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] },
  options: WriteOptions,
): Promise<WriteResult<R>> {
  const account = accountOf(client, options);
  const { request, result } = (await withDecodedErrors(() =>
    simulateContract(client, {
      ...call,
      account,
      gas: options.gas,
      maxFeePerGas: options.maxFeePerGas,
      maxPriorityFeePerGas: options.maxPriorityFeePerGas,
      nonce: options.nonce,
    } as never),
  )) as { request: unknown; result: R };
  // A client without a chain sends to whatever chain its transport serves (viem otherwise refuses: `chain: null`).
  const hash = await withDecodedErrors(() => writeContract(client, { ...(request as object), chain: client.chain ?? null } as never));
  return { hash, result };
}

/** Waits for a prerequisite transaction (an approval) and fails clearly when it reverted. */
export async function waitForSuccess(client: WalletClient, hash: Hash, what: string): Promise<void> {
  const receipt = await waitForTransactionReceipt(client, { hash });
  if (receipt.status !== "success") throw new TidemarkError(`${what} transaction ${hash} reverted`);
}
