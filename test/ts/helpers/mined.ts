/**
 * Reading the outcome of transactions that were mined rather than simulated: the adversarial tests send transactions
 * with an explicit gas limit (no estimation, so a transaction that will revert is still mined), put several in one
 * block, and then need each one's real revert reason inside that block, not a replay on the state after it.
 */
import type { Interface } from "ethers";

type Provider = { send(method: string, params: unknown[]): Promise<any> };

/**
 * The revert data of a mined transaction from the node's trace (debug_traceTransaction), or null when it succeeded.
 */
export async function revertDataOf(provider: Provider, hash: string): Promise<string | null> {
  const trace = await provider.send("debug_traceTransaction", [
    hash,
    { disableStorage: true, disableMemory: true, disableStack: true },
  ]);
  if (!trace.failed) return null;
  const data = String(trace.returnValue ?? "");
  return data.startsWith("0x") ? data : `0x${data}`;
}

/**
 * A mined transaction's outcome: "ok", or the custom error it reverted with and its arguments, decoded with `iface`
 * (a reason that `iface` does not know is returned as its raw data).
 */
export async function outcomeOf(
  provider: Provider,
  iface: Interface,
  hash: string,
): Promise<"ok" | { error: string; args: unknown[] }> {
  const data = await revertDataOf(provider, hash);
  if (data === null) return "ok";
  const parsed = iface.parseError(data);
  if (parsed === null) return { error: data, args: [] };
  return { error: parsed.name, args: [...parsed.args] };
}

/**
 * Sends the transactions with automine off, in the order given (each must carry an explicit gas limit, so nothing is
 * estimated against the pending state), then mines them in one block, at `timestamp` when given. The node orders the
 * block by fee (highest priority fee first), then by sender nonce. Returns the transaction hashes.
 */
export async function mineInOneBlock(
  provider: Provider,
  sends: (() => Promise<{ hash: string }>)[],
  timestamp?: number,
): Promise<string[]> {
  await provider.send("evm_setAutomine", [false]);
  try {
    const hashes: string[] = [];
    for (const send of sends) hashes.push((await send()).hash);
    if (timestamp !== undefined) await provider.send("evm_setNextBlockTimestamp", [`0x${timestamp.toString(16)}`]);
    await provider.send("evm_mine", []);
    return hashes;
  } finally {
    await provider.send("evm_setAutomine", [true]);
  }
}
