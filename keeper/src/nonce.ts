/**
 * The signer's nonces. Read from the chain once (`getTransactionCount`, block tag "pending"), then handed out
 * sequentially without a round trip. A send that fails with a nonce problem, or in any way the executor cannot
 * explain, marks the count stale and the next nonce is read from the chain again.
 *
 * A nonce held by one of the executor's pending transactions is never handed out again (`reserved`): only a fee-bump
 * replacement of that same transaction may reuse it, and the executor signs those with the nonce it already holds.
 */
import type { Address, PublicClient } from "viem";

export type NonceManagerOptions = {
  client: PublicClient;
  address: Address;
  /** The highest nonce held by a transaction still pending, if any: resyncs never go below the next one. */
  reserved?: () => number | undefined;
};

export type NonceManager = {
  /** The next nonce to use: sequential, read from the chain on first use and after `resync`. */
  next(): Promise<number>;
  /** Forgets the local count; the next `next()` reads the chain again. */
  resync(): void;
  /** The nonce `next()` would hand out without a chain read, or undefined when the count is stale. */
  peek(): number | undefined;
};

export function createNonceManager(o: NonceManagerOptions): NonceManager {
  let nextNonce: number | undefined;
  // Serialises callers: two concurrent next() calls must not read the chain twice or hand out one nonce twice.
  let tail: Promise<unknown> = Promise.resolve();

  const next = (): Promise<number> => {
    const result = tail.then(async () => {
      if (nextNonce === undefined) {
        const chain = await o.client.getTransactionCount({ address: o.address, blockTag: "pending" });
        const held = o.reserved?.();
        nextNonce = held === undefined ? chain : Math.max(chain, held + 1);
      }
      return nextNonce++;
    });
    tail = result.catch(() => undefined);
    return result;
  };

  return {
    next,
    resync: () => {
      nextNonce = undefined;
    },
    peek: () => nextNonce,
  };
}

/** Node messages (geth, Erigon, Nethermind, Besu, Hardhat, Anvil) meaning the nonce or its slot is the problem. */
const NONCE_MESSAGE = new RegExp(
  [
    "nonce too (low|high)",
    "nonce is too",
    "invalid nonce",
    "nonce has already been used",
    "already known",
    "known transaction",
    "transaction already imported",
    "transaction with the same hash",
    "replacement transaction underpriced",
    "replacement fee too low",
  ].join("|"),
  "i",
);
const NONCE_ERROR_NAMES = new Set(["NonceTooLowError", "NonceTooHighError", "NonceMaxValueError"]);

/** True when `err` (or an error in its cause chain) says the transaction's nonce is wrong or taken. */
export function isNonceError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 32 && e !== null && typeof e === "object"; depth++) {
    const o = e as { name?: unknown; message?: unknown; details?: unknown; shortMessage?: unknown; cause?: unknown };
    if (typeof o.name === "string" && NONCE_ERROR_NAMES.has(o.name)) return true;
    for (const text of [o.details, o.shortMessage, o.message]) if (typeof text === "string" && NONCE_MESSAGE.test(text)) return true;
    e = o.cause;
  }
  return false;
}
