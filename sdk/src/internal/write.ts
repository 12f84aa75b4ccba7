/** Simulate-then-send, shared by the write actions. Internal: not part of the package's exports. */
import type { Account, Address, Chain, Client, Hash, Hex, Transport } from "viem";
import { simulateContract, waitForTransactionReceipt, writeContract } from "viem/actions";

import { InvalidParameterError, TidemarkError } from "../errors/base.js";
import type { ContractErrorContext } from "../errors/contract.js";
import type { TidemarkAddresses } from "../types.js";
import { withDecodedErrorsAndUnits } from "./units.js";

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

/** A typed contract call as the calldata builders' `*Call` functions return it; `value`: wei sent with it. */
type ContractCall = { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[]; value?: bigint | undefined };

/** The pool's ERC-7540 claims, by function name (with a controller: three arguments). */
const POOL_CLAIMS: ReadonlySet<string> = new Set(["deposit", "mint", "withdraw", "redeem"]);

/**
 * What a failing `call` can tell its decoded error without any RPC: the market it was about (its `bytes32 market`
 * argument); for a redemption request, that OpenZeppelin ERC20 errors are about the pool's shares; for a claim, the
 * pool function, which says whether VaultInsufficientClaimable's amounts are assets or shares.
 */
function callContext(call: ContractCall, addresses: TidemarkAddresses | undefined): ContractErrorContext {
  const fn = call.abi.find(
    (item): item is { type: "function"; name: string; inputs: readonly { name?: string; type: string }[] } =>
      (item as { type?: unknown }).type === "function" &&
      (item as { name?: unknown }).name === call.functionName &&
      (item as { inputs?: readonly unknown[] }).inputs?.length === call.args.length,
  );
  const at = fn?.inputs.findIndex((input) => input.name === "market" && input.type === "bytes32") ?? -1;
  const market = at >= 0 ? (call.args[at] as Hex) : undefined;
  const pool = addresses?.pool !== undefined && call.address.toLowerCase() === addresses.pool.toLowerCase();
  const claim = pool && call.args.length === 3 && POOL_CLAIMS.has(call.functionName);
  return {
    market,
    erc20Token: pool && call.functionName === "requestRedeem" ? "poolShares" : undefined,
    poolClaim: claim ? (call.functionName as ContractErrorContext["poolClaim"]) : undefined,
  };
}

/**
 * Simulates `call` from the signer (a revert throws the decoded TidemarkContractError and nothing is sent), then sends
 * exactly the simulated request. With `options.addresses` (every action passes its parameters), a decoded error whose
 * message has token amounts gets the collateral token's symbol and decimals, read then (cached per client and token);
 * a failure of that lookup leaves the error as it is.
 */
export async function simulateAndWrite<R>(
  client: WalletClient,
  call: ContractCall,
  options: WriteOptions & { addresses?: TidemarkAddresses | undefined },
): Promise<WriteResult<R>> {
  const account = accountOf(client, options);
  const { addresses } = options;
  const context = callContext(call, addresses);
  const { request, result } = (await withDecodedErrorsAndUnits(client, addresses, () =>
    simulateContract(client, {
      ...call,
      account,
      gas: options.gas,
      maxFeePerGas: options.maxFeePerGas,
      maxPriorityFeePerGas: options.maxPriorityFeePerGas,
      nonce: options.nonce,
    } as never),
    context,
  )) as { request: unknown; result: R };
  // A client without a chain sends to whatever chain its transport serves (viem otherwise refuses: `chain: null`).
  const hash = await withDecodedErrorsAndUnits(
    client,
    addresses,
    () => writeContract(client, { ...(request as object), chain: client.chain ?? null } as never),
    context,
  );
  return { hash, result };
}

/** Waits for a prerequisite transaction (an approval) and fails clearly when it reverted. */
export async function waitForSuccess(client: WalletClient, hash: Hash, what: string): Promise<void> {
  const receipt = await waitForTransactionReceipt(client, { hash });
  if (receipt.status !== "success") throw new TidemarkError(`${what} transaction ${hash} reverted`);
}
