/**
 * The keeper's persistent state: the index of open positions and the checkpoint (the last block whose events are in
 * it, with its hash, and the hashes of a few blocks before it to find the common ancestor after a reorg). One JSON
 * file per chain, engine and shard, written atomically (temporary file, then rename), so a crash leaves either the old
 * or the new state, never a torn one.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Address, Hex } from "viem";

import type { PositionKey, TrackedPosition } from "./types.ts";

export type Checkpoint = { blockNumber: bigint; blockHash: Hex };

export type KeeperState = {
  chainId: number;
  engine: Address;
  /**
   * Hash of the chain's block 0 when the state was written: a dev chain restarted under the same chain id (hardhat
   * node, anvil) has another, and its index is then discarded. Absent in files written before it was recorded.
   */
  genesisHash?: Hex | undefined;
  /** Last block whose engine events are applied, and recent ones before it (newest last). */
  checkpoints: Checkpoint[];
  positions: Map<PositionKey, TrackedPosition>;
};

const VERSION = 1;

export function statePath(dataDir: string, chainId: number, engine: Address, shard: { index: number; count: number }): string {
  return join(dataDir, `keeper-${chainId}-${engine.toLowerCase()}-shard${shard.index}of${shard.count}.json`);
}

/** Reads the state file; null when absent. Throws on a corrupt file or one for another chain or engine. */
export function loadState(path: string, chainId: number, engine: Address): KeeperState | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const raw = JSON.parse(text) as {
    version: number;
    chainId: number;
    engine: string;
    genesisHash?: Hex;
    checkpoints: { blockNumber: string; blockHash: Hex }[];
    positions: { account: Address; market: Hex; size: string; collateral: string; entryPrice: string; fundingIndex: string }[];
  };
  if (raw.version !== VERSION) throw new Error(`state file ${path}: version ${raw.version}, expected ${VERSION}`);
  if (raw.chainId !== chainId || raw.engine.toLowerCase() !== engine.toLowerCase()) {
    throw new Error(`state file ${path} belongs to chain ${raw.chainId} engine ${raw.engine}, not chain ${chainId} engine ${engine}`);
  }
  const positions = new Map<PositionKey, TrackedPosition>();
  for (const p of raw.positions) {
    const position: TrackedPosition = {
      account: p.account,
      market: p.market,
      size: BigInt(p.size),
      collateral: BigInt(p.collateral),
      entryPrice: BigInt(p.entryPrice),
      fundingIndex: BigInt(p.fundingIndex),
    };
    positions.set(`${p.account.toLowerCase()}:${p.market.toLowerCase()}`, position);
  }
  return {
    chainId,
    engine,
    genesisHash: raw.genesisHash,
    checkpoints: raw.checkpoints.map((c) => ({ blockNumber: BigInt(c.blockNumber), blockHash: c.blockHash })),
    positions,
  };
}

/** Writes the state atomically. */
export function saveState(path: string, state: KeeperState): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const text = JSON.stringify(
    {
      version: VERSION,
      chainId: state.chainId,
      engine: state.engine,
      genesisHash: state.genesisHash,
      checkpoints: state.checkpoints.map((c) => ({ blockNumber: c.blockNumber.toString(), blockHash: c.blockHash })),
      positions: [...state.positions.values()].map((p) => ({
        account: p.account,
        market: p.market,
        size: p.size.toString(),
        collateral: p.collateral.toString(),
        entryPrice: p.entryPrice.toString(),
        fundingIndex: p.fundingIndex.toString(),
      })),
    },
    null,
    1,
  );
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
