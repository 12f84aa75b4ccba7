/** Approval handling of the deposit actions. Internal. */
import { type Address, type Hash, erc20Abi } from "viem";
import { readContract } from "viem/actions";

import { approveCall } from "../calldata.js";
import { withDecodedErrors } from "../errors/contract.js";
import { type WalletClient, type WriteOptions, accountOf, addressOf, simulateAndWrite, waitForSuccess } from "./write.js";

/** How a deposit action approves the spender when the allowance is short: the exact amount (default) or unlimited. */
export type ApprovalMode = "exact" | "max";

/**
 * Makes sure `spender` may pull `amount` of `token` from the signer: when the allowance is short, sends an approval and
 * waits for it to succeed. Returns the approval's hash, or undefined when none was needed.
 */
export async function ensureAllowance(
  client: WalletClient,
  token: Address,
  spender: Address,
  amount: bigint,
  mode: ApprovalMode,
  options: WriteOptions,
): Promise<Hash | undefined> {
  const owner = addressOf(accountOf(client, options));
  const allowance = await withDecodedErrors(() =>
    readContract(client, { address: token, abi: erc20Abi, functionName: "allowance", args: [owner, spender] }),
  );
  if (allowance >= amount) return undefined;
  const approval = approveCall({ token, spender, amount: mode === "max" ? 2n ** 256n - 1n : amount });
  // The nonce option applies to the main transaction; the approval takes the next free nonce.
  const { hash } = await simulateAndWrite(client, approval, { ...options, nonce: undefined });
  await waitForSuccess(client, hash, "Approval");
  return hash;
}
