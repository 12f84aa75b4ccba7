/** Approval handling of the deposit actions. Internal. */
import { type Address, type Hash, erc20Abi } from "viem";
import { readContract } from "viem/actions";

import { approveCall } from "../calldata.js";
import { TidemarkError } from "../errors/base.js";
import { withDecodedErrors } from "../errors/contract.js";
import { formatTokenAmount } from "../format.js";
import { tokenUnits } from "./units.js";
import { type WalletClient, type WriteOptions, accountOf, addressOf, simulateAndWrite, waitForSuccess } from "./write.js";

/** How a deposit action approves the spender when the allowance is short: the exact amount (default) or unlimited. */
export type ApprovalMode = "exact" | "max";

/**
 * Prepares a deposit of `amount` of `token` that `spender` will pull from the signer: checks the signer holds the
 * amount (so no approval is spent on a deposit that cannot succeed), and when the allowance is short sends an approval
 * and waits for it to succeed. The approval takes the caller's `nonce` if one was given (and the fee options, not the
 * gas limit, which is meant for the deposit). Returns the approval's hash (undefined when none was needed) and the
 * write options for the deposit itself, its nonce moved past the approval's.
 */
export async function prepareDeposit(
  client: WalletClient,
  token: Address,
  spender: Address,
  amount: bigint,
  mode: ApprovalMode,
  options: WriteOptions,
): Promise<{ approvalHash: Hash | undefined; options: WriteOptions }> {
  const owner = addressOf(accountOf(client, options));
  const [balance, allowance] = await withDecodedErrors(() =>
    Promise.all([
      readContract(client, { address: token, abi: erc20Abi, functionName: "balanceOf", args: [owner] }),
      readContract(client, { address: token, abi: erc20Abi, functionName: "allowance", args: [owner, spender] }),
    ]),
  );
  if (balance < amount) {
    // The token's symbol and decimals only on this error path; without them the raw figures say so.
    const units = await tokenUnits(client, token).catch(() => undefined);
    const have = formatTokenAmount(balance, units, { distinctFrom: amount });
    const need = formatTokenAmount(amount, units, { distinctFrom: balance });
    throw new TidemarkError(`Insufficient token balance: ${owner} holds ${have}, ${need} needed`);
  }
  if (allowance >= amount) return { approvalHash: undefined, options };
  const approval = approveCall({ token, spender, amount: mode === "max" ? 2n ** 256n - 1n : amount });
  const { hash } = await simulateAndWrite(client, approval, { ...options, gas: undefined });
  await waitForSuccess(client, hash, "Approval");
  return { approvalHash: hash, options: { ...options, nonce: options.nonce === undefined ? undefined : options.nonce + 1 } };
}
