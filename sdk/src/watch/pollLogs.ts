import {
  type AbiEvent,
  type AbiParameter,
  type AbiParameterToPrimitiveType,
  type Address,
  type Client,
  type Hash,
  type Log,
  type LogTopic,
  type RpcLog,
  encodeEventTopics,
  numberToHex,
  parseEventLogs,
} from "viem";
import { getBlock, getBlockNumber } from "viem/actions";

import { InvalidParameterError, TidemarkError } from "../errors/base.js";
import { type LoopState, report, startLoop } from "../internal/loop.js";

/** A decoded log of one of `events`; `removed` is true when it is re-delivered because its block was orphaned. */
export type PollLogsLog<events extends readonly AbiEvent[] = readonly AbiEvent[]> = Log<
  bigint,
  number,
  false,
  undefined,
  true,
  events,
  undefined
>;

type IndexedInput<events extends readonly AbiEvent[]> = Extract<events[number]["inputs"][number], { indexed: true; name: string }>;

/**
 * Values of indexed arguments, by name: a value, a list of values (any of them), or null/undefined (any value). An
 * argument filters every event of `events` with an indexed input of that name; events without such an input are not
 * filtered by it.
 */
export type PollLogsArgs<events extends readonly AbiEvent[] = readonly AbiEvent[]> = {
  [P in IndexedInput<events> as P["name"]]?: PollLogsArgValue<P> | readonly PollLogsArgValue<P>[] | null | undefined;
};
type PollLogsArgValue<P extends AbiParameter> = AbiParameterToPrimitiveType<P>;

export type PollLogsParameters<events extends readonly AbiEvent[] = readonly AbiEvent[]> = {
  /** The contract or contracts that emit the events. */
  address: Address | readonly Address[];
  /** The events to watch (ABI items, e.g. from a generated `as const` ABI). Anonymous events are not supported. */
  events: events;
  /** Filter on indexed arguments (see PollLogsArgs). */
  args?: PollLogsArgs<events> | undefined;
  /**
   * First block to deliver logs from; earlier blocks up to the chain head are backfilled in `maxBlockRange` chunks.
   * Default: the block after the head at the first successful poll (only new logs).
   */
  fromBlock?: bigint | undefined;
  /** Process a block only once it is this many blocks below the head (0: the head itself). Default 0. */
  confirmations?: number | undefined;
  /** Milliseconds between polls. Default: the client's `pollingInterval`. */
  pollingInterval?: number | undefined;
  /** Most blocks in one `eth_getLogs` request. Default 2,000. */
  maxBlockRange?: number | undefined;
  /**
   * How many recent blocks are remembered for reorg handling (hash of each block that had logs delivered and of the
   * last block of each processed range, plus the logs delivered). A reorg deeper than this cannot retract logs below
   * the window. Default 128.
   */
  reorgWindow?: number | undefined;
  /**
   * Receives logs in chain order (blockNumber, logIndex), each exactly once, with `removed: false`; after a reorg, the
   * logs of orphaned blocks again with `removed: true`, newest first, before the new chain's logs. Never called with an
   * empty list. A returned promise is awaited before the watcher goes on (backpressure); a throw is reported to `onError`
   * and does not re-deliver.
   */
  onLogs: (logs: PollLogsLog<events>[]) => void | Promise<void>;
  /** Any failed poll (RPC error, reorg during a request) or `onLogs` throw. The watcher retries on its own. */
  onError?: ((error: Error) => void) | undefined;
};

/** The polling options the event watchers pass through to pollLogs. */
export type PollLogsOptions = Pick<PollLogsParameters, "fromBlock" | "confirmations" | "pollingInterval" | "maxBlockRange" | "reorgWindow">;

/** Stops the watcher: no callback runs after it returns. */
export type PollLogsReturnType = () => void;

const DEFAULT_MAX_BLOCK_RANGE = 2_000;
const DEFAULT_REORG_WINDOW = 128;

/**
 * Watches contract events by polling `eth_getLogs` (no filters: many RPCs drop them), reorg-aware.
 *
 * Each poll reads the head, checks that the hash of the last processed block is unchanged, then fetches the
 * unprocessed blocks up to head - confirmations in chunks of at most `maxBlockRange` blocks. After a reorg it walks back
 * to the newest remembered block that is still canonical, re-delivers the logs of the orphaned blocks with
 * `removed: true` and continues from the block after it. A failed poll is reported and retried from the same block after
 * a capped exponential backoff, so no block range is skipped and no log delivered twice.
 *
 * Several events with indexed-argument filters cannot be expressed with viem's `getLogs` (its `args` take one event),
 * so the request is built here, as `getLogs` builds it, and decoded with `parseEventLogs`.
 *
 * Browser-safe: only viem and timers.
 */
export function pollLogs<const events extends readonly AbiEvent[]>(
  client: Client,
  parameters: PollLogsParameters<events>,
): PollLogsReturnType {
  const { address, events, args, onLogs, onError } = parameters;
  const confirmations = BigInt(integerAtLeast("confirmations", parameters.confirmations ?? 0, 0));
  const maxBlockRange = BigInt(integerAtLeast("maxBlockRange", parameters.maxBlockRange ?? DEFAULT_MAX_BLOCK_RANGE, 1));
  const reorgWindow = BigInt(integerAtLeast("reorgWindow", parameters.reorgWindow ?? DEFAULT_REORG_WINDOW, 1));
  const interval = integerAtLeast("pollingInterval", parameters.pollingInterval ?? client.pollingInterval, 1);
  if (parameters.fromBlock !== undefined && parameters.fromBlock < 0n) {
    throw new InvalidParameterError("fromBlock", `${parameters.fromBlock} is negative`);
  }
  const requests = topicRequests(events, args as Record<string, unknown> | undefined);
  const addresses = typeof address === "string" ? address : [...address];

  // First block not yet processed, and the lowest block a reorg can roll back to (the block before the first).
  let next: bigint | undefined = parameters.fromBlock;
  let floor = next === undefined ? 0n : next - 1n;
  // Recent processed blocks: hash of each that had logs delivered and of each range's last block; delivered logs.
  const hashes = new Map<bigint, Hash>();
  const delivered = new Map<bigint, PollLogsLog<events>[]>();

  const deliver = async (state: LoopState, logs: PollLogsLog<events>[]) => {
    if (logs.length === 0 || !state.active) return;
    try {
      await onLogs(logs);
    } catch (err) {
      if (state.active) report(onError, err);
    }
  };

  /** Rolls back to the newest remembered block still on the canonical chain; re-delivers orphaned logs as removed. */
  const rollBack = async (state: LoopState, head: bigint) => {
    let ancestor: bigint | undefined;
    for (const n of [...hashes.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))) {
      const block = await getBlock(client, { blockNumber: n });
      if (!state.active) return;
      if (block.hash === hashes.get(n)) {
        ancestor = n;
        break;
      }
    }
    // No remembered block survived: the reorg reached the window's start (or beyond, which cannot be repaired).
    ancestor ??= max(floor, head - reorgWindow);
    const orphaned: PollLogsLog<events>[] = [];
    for (const [n, logs] of delivered) if (n > ancestor) orphaned.push(...logs);
    for (const n of [...hashes.keys()]) if (n > ancestor) hashes.delete(n);
    for (const n of [...delivered.keys()]) if (n > ancestor) delivered.delete(n);
    next = ancestor + 1n;
    orphaned.sort((a, b) => -compareLogs(a, b));
    await deliver(
      state,
      orphaned.map((log) => ({ ...log, removed: true })),
    );
  };

  /** Fetches and delivers the logs of blocks from..to; the state advances before delivery. */
  const processRange = async (state: LoopState, from: bigint, to: bigint) => {
    // The block first, then the logs: a reorg in between leaves a stale hash for `to`, which the next poll detects.
    const block = await getBlock(client, { blockNumber: to });
    const results = await Promise.all(
      requests.map(
        (topics) =>
          client.request({
            method: "eth_getLogs",
            params: [{ address: addresses as Address | Address[], topics, fromBlock: numberToHex(from), toBlock: numberToHex(to) }],
          }) as Promise<RpcLog[]>,
      ),
    );
    if (!state.active) return;
    const seen = new Set<string>();
    const raw = results.flat().filter((log) => {
      const key = `${log.blockHash}:${log.logIndex}`;
      if (seen.has(key)) return false; // matched by two requests
      seen.add(key);
      return true;
    });
    const logs = (parseEventLogs({ abi: events, logs: raw, strict: true }) as unknown as PollLogsLog<events>[])
      .map((log) => ({ ...log, removed: false }))
      .sort(compareLogs);
    // Logs of one block must agree on its hash, and on the hash just read for `to`; otherwise the chain moved mid-poll.
    const blockHashes = new Map<bigint, Hash>([[to, block.hash]]);
    for (const log of logs) {
      if (log.blockNumber < from || log.blockNumber > to) throw new ChainMovedError(`log of block ${log.blockNumber} outside ${from}..${to}`);
      const known = blockHashes.get(log.blockNumber);
      if (known !== undefined && known !== log.blockHash) throw new ChainMovedError(`two hashes for block ${log.blockNumber}`);
      blockHashes.set(log.blockNumber, log.blockHash);
    }
    for (const [n, hash] of blockHashes) hashes.set(n, hash);
    for (const log of logs) {
      const list = delivered.get(log.blockNumber);
      if (list) list.push(log);
      else delivered.set(log.blockNumber, [log]);
    }
    next = to + 1n;
    for (const n of [...hashes.keys()]) if (n <= to - reorgWindow) hashes.delete(n);
    for (const n of [...delivered.keys()]) if (n <= to - reorgWindow) delivered.delete(n);
    await deliver(state, logs);
  };

  const poll = async (state: LoopState) => {
    const tip = await getBlockNumber(client, { cacheTime: 0 });
    if (!state.active) return;
    if (next === undefined) {
      next = tip + 1n;
      floor = tip;
    }
    const head = next - 1n;
    const headHash = hashes.get(head);
    // A head below the last processed block is a node lagging behind another (load-balanced RPCs) far more often than
    // a reorg to a shorter chain; such a reorg is detected once the chain grows past the processed block again.
    if (headHash !== undefined && head <= tip) {
      const replaced = (await getBlock(client, { blockNumber: head })).hash !== headHash;
      if (!state.active) return;
      if (replaced) await rollBack(state, head);
    }
    const target = tip - confirmations;
    let progressed = false;
    try {
      while (state.active && next <= target) {
        const from: bigint = next;
        await processRange(state, from, min(from + maxBlockRange - 1n, target));
        progressed = true;
      }
    } catch (err) {
      // A failure after some ranges went through is reported, and the next poll comes after the normal interval: the
      // backoff is for a watcher that makes no progress, not for a long backfill through a flaky RPC.
      if (!progressed) throw err;
      if (state.active) report(onError, err);
    }
  };

  return startLoop(poll, { interval, onError });
}

/** The chain changed while one poll was reading it; the poll is retried. */
export class ChainMovedError extends TidemarkError {
  override name = "ChainMovedError";
  constructor(details: string) {
    super("The chain reorganised during a poll; retrying", { details });
  }
}

/**
 * The `topics` of the eth_getLogs requests: one per distinct indexed-argument filter (usually one for all events, whose
 * selectors are OR-ed in the first topic).
 */
function topicRequests(events: readonly AbiEvent[], args: Record<string, unknown> | undefined): LogTopic[][] {
  if (events.length === 0) throw new InvalidParameterError("events", "at least one event is required");
  const groups = new Map<string, { selectors: Hash[]; rest: LogTopic[] }>();
  for (const event of events) {
    if (event.type !== "event" || event.anonymous) throw new InvalidParameterError("events", `${event.name} is not a non-anonymous event`);
    const own: Record<string, unknown> = {};
    for (const input of event.inputs) {
      const value = input.indexed && input.name ? args?.[input.name] : undefined;
      if (value !== undefined && value !== null) own[input.name as string] = value;
    }
    const [selector, ...rest] = encodeEventTopics({ abi: [event], eventName: event.name, args: own } as never) as [Hash, ...LogTopic[]];
    while (rest.length > 0 && rest[rest.length - 1] === null) rest.pop();
    const key = JSON.stringify(rest);
    const group = groups.get(key);
    if (!group) groups.set(key, { selectors: [selector], rest });
    else if (!group.selectors.includes(selector)) group.selectors.push(selector);
  }
  return [...groups.values()].map((g) => [g.selectors, ...g.rest]);
}

function integerAtLeast(name: string, value: number, least: number): number {
  if (!Number.isSafeInteger(value) || value < least) throw new InvalidParameterError(name, `${value} must be an integer ≥ ${least}`);
  return value;
}

function compareLogs(a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
