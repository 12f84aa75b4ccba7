/**
 * Discovery: the index of open positions, kept from the engine's events.
 *
 * - From the checkpoint (or the start block) to the head it reads the engine's events in `maxBlockRange` chunks with
 *   eth_getLogs, printing progress lines on a long sync. An event only marks its position dirty; dirty positions are
 *   then re-read from the engine (`getPosition`) at the head, so the index holds exactly the chain's state and
 *   replaying events is harmless.
 * - Reorgs: before reading on, it checks that the checkpoint block's hash is unchanged. If not, it walks back through
 *   the remembered checkpoints to one still on the chain (or rewinds `REWIND_BLOCKS`), marks every tracked position
 *   dirty, reads the events again from there, and reconciles with the lens's enumeration (a position closed on the
 *   orphaned branch may be open on the canonical one).
 * - At start it compares the index with the lens's on-chain enumeration of every market and adopts the chain's view
 *   (`reconcile`), and `rebuild` builds the index from that enumeration alone.
 */
import { type Address, type Hex, type PublicClient, getAbiItem } from "viem";

import { getOpenPositions, tidemarkEngineAbi, type TidemarkAddresses } from "@tidemark/sdk";

import type { Logger } from "./log.ts";
import type { Checkpoint, KeeperState } from "./store.ts";
import { type PositionKey, type TrackedPosition, positionKey } from "./types.ts";

/** How far back to re-read when no remembered checkpoint survived a reorg. */
export const REWIND_BLOCKS = 128n;
/** Checkpoints remembered to find a common ancestor. */
const KEPT_CHECKPOINTS = 64;
/** Parallel getPosition reads. */
const READ_CONCURRENCY = 32;

const EVENTS = ["PositionModified", "CollateralModified", "PositionLiquidated", "MarketListed", "MarginTiersSet", "RiskParamsSet"] as const;
const eventAbi = EVENTS.map((name) => getAbiItem({ abi: tidemarkEngineAbi, name }));

export type IndexerOptions = {
  client: PublicClient;
  addresses: TidemarkAddresses;
  startBlock: bigint;
  maxBlockRange: number;
  state: KeeperState;
  log: Logger;
};

export type SyncResult = {
  /** Markets whose configuration changed (or that were listed) in the blocks read. */
  marketsChanged: Set<Hex>;
  /** A reorg was found and rewound. */
  reorged: boolean;
  /** Positions re-read from the engine. */
  reread: number;
};

export function createIndexer(o: IndexerOptions) {
  const { client, addresses, state, log } = o;
  const dirty = new Set<PositionKey>();
  const known = new Map<PositionKey, { account: Address; market: Hex }>();
  for (const [k, p] of state.positions) known.set(k, { account: p.account, market: p.market });

  const checkpoint = (): Checkpoint | undefined => state.checkpoints[state.checkpoints.length - 1];

  const mark = (account: Address, market: Hex) => {
    const k = positionKey(account, market);
    known.set(k, { account, market });
    dirty.add(k);
  };

  /** Walks back to a remembered checkpoint still on the chain; returns the block to read from. */
  async function rewind(): Promise<bigint> {
    while (state.checkpoints.length > 0) {
      const c = state.checkpoints[state.checkpoints.length - 1];
      const block = await client.getBlock({ blockNumber: c.blockNumber }).catch(() => null);
      if (block !== null && block.hash === c.blockHash) return c.blockNumber + 1n;
      state.checkpoints.pop();
    }
    return o.startBlock;
  }

  async function reread(blockNumber: bigint): Promise<number> {
    const keys = [...dirty];
    dirty.clear();
    for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
      const chunk = keys.slice(i, i + READ_CONCURRENCY);
      const stored = await Promise.all(
        chunk.map((k) => {
          const { account, market } = known.get(k)!;
          return client.readContract({
            address: addresses.engine,
            abi: tidemarkEngineAbi,
            functionName: "getPosition",
            args: [account, market],
            blockNumber,
          });
        }),
      ).catch((err) => {
        for (const k of chunk) dirty.add(k); // read again next time
        for (const k of keys.slice(i + READ_CONCURRENCY)) dirty.add(k);
        throw err;
      });
      chunk.forEach((k, j) => {
        const s = stored[j];
        const { account, market } = known.get(k)!;
        if (s.size === 0n) {
          state.positions.delete(k);
          known.delete(k);
        } else {
          const p: TrackedPosition = { account, market, size: s.size, collateral: s.collateral, entryPrice: s.entryPrice, fundingIndex: s.fundingIndex };
          state.positions.set(k, p);
        }
      });
    }
    return keys.length;
  }

  return {
    /** Reads the engine's events up to `head` (its hash `headHash`), re-reads what they touched, moves the checkpoint. */
    async sync(head: bigint, headHash: Hex): Promise<SyncResult> {
      const result: SyncResult = { marketsChanged: new Set(), reorged: false, reread: 0 };
      let from = o.startBlock;
      const c = checkpoint();
      if (c !== undefined) {
        if (c.blockNumber > head) return result; // a lagging node: wait until it catches up
        const block = await client.getBlock({ blockNumber: c.blockNumber }).catch(() => null);
        if (block !== null && block.hash === c.blockHash) {
          from = c.blockNumber + 1n;
        } else {
          state.checkpoints.pop();
          from = await rewind();
          if (state.checkpoints.length === 0 && c.blockNumber - REWIND_BLOCKS > o.startBlock) from = c.blockNumber - REWIND_BLOCKS;
          for (const k of state.positions.keys()) dirty.add(k);
          result.reorged = true;
          log.warn({ checkpoint: Number(c.blockNumber), from: Number(from) }, "reorg: checkpoint block replaced; re-reading events and positions");
        }
      }
      const total = head - from + 1n;
      const progress = total > BigInt(o.maxBlockRange) * 4n;
      let lastProgress = 0;
      for (let lo = from; lo <= head; lo += BigInt(o.maxBlockRange)) {
        const hi = lo + BigInt(o.maxBlockRange) - 1n < head ? lo + BigInt(o.maxBlockRange) - 1n : head;
        const logs = await client.getLogs({ address: addresses.engine, events: eventAbi, fromBlock: lo, toBlock: hi, strict: true });
        for (const l of logs as unknown as { eventName: (typeof EVENTS)[number]; args: { account?: Address; market: Hex } }[]) {
          const args = l.args;
          if (l.eventName === "PositionModified" || l.eventName === "CollateralModified" || l.eventName === "PositionLiquidated") {
            mark(args.account!, args.market);
          } else {
            result.marketsChanged.add(args.market);
          }
        }
        if (progress && Date.now() - lastProgress > 2_000) {
          lastProgress = Date.now();
          log.info({ block: Number(hi), head: Number(head), percent: Number(((hi - from + 1n) * 100n) / total), tracked: known.size }, "initial sync");
        }
      }
      result.reread = await reread(head);
      if (result.reorged) {
        // A position closed on the orphaned branch but open on the canonical one is no longer in the index, and its
        // opening may predate the rewind: recover it from the chain's own enumeration.
        const markets = await client.readContract({ address: addresses.engine, abi: tidemarkEngineAbi, functionName: "listedMarkets", blockNumber: head });
        const diff = await this.reconcile(markets, head);
        result.reread += diff.missing + diff.extra;
      }
      if (checkpoint()?.blockNumber !== head) state.checkpoints.push({ blockNumber: head, blockHash: headHash });
      if (state.checkpoints.length > KEPT_CHECKPOINTS) state.checkpoints.splice(0, state.checkpoints.length - KEPT_CHECKPOINTS);
      return result;
    },

    /**
     * Compares the index with the lens's enumeration of `markets` at `blockNumber` and adopts the chain's view: positions
     * the lens lists but the index lacks are added, ones the index holds but the lens does not list are dropped (both are
     * re-read). Returns how many differed.
     */
    async reconcile(markets: readonly Hex[], blockNumber: bigint): Promise<{ missing: number; extra: number }> {
      const onChain = new Set<PositionKey>();
      let missing = 0;
      for (const market of markets) {
        for (const account of await getOpenPositions(client, { addresses, market, blockNumber })) {
          const k = positionKey(account, market);
          onChain.add(k);
          if (!state.positions.has(k)) {
            missing++;
            mark(account, market);
          }
        }
      }
      let extra = 0;
      for (const [k, p] of state.positions) {
        if (!onChain.has(k) && markets.includes(p.market)) {
          extra++;
          mark(p.account, p.market);
        }
      }
      if (missing + extra > 0) {
        log.warn({ missing, extra }, "index differed from the lens's on-chain enumeration; adopted the chain's positions");
        await reread(blockNumber);
      }
      return { missing, extra };
    },

    /** Marks positions to re-read at the next sync (after a liquidation this keeper sent, for instance). */
    markDirty(account: Address, market: Hex) {
      mark(account, market);
    },

    pendingRereads: () => dirty.size,
  };
}

export type Indexer = ReturnType<typeof createIndexer>;
