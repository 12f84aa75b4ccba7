/**
 * The keeper's resident memory with a synthetic index of N positions (no chain), in a process of its own:
 *
 *   node --expose-gc --experimental-strip-types scripts/bench/keeper-rss.ts 100000
 *
 * Loads the keeper's modules (keeper.ts and everything it imports) and its metrics registry, measures the baseline,
 * then fills the store with N generated positions over two markets, builds the indexer over it (its `known` map),
 * runs the per-block work on them three times (health scan, shard check, health-factor histogram, as processBlock
 * does) and saves the index file once (store.ts), collects garbage and prints one JSON line: RSS and heap used, MiB.
 * Called by scripts/bench/keeper.ts; a fresh process per size so one measurement cannot inflate the other.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Address, Hex, PublicClient } from "viem";

import { marketId } from "@tidemark/sdk";

import { createIndexer } from "../../keeper/src/indexer.ts";
import { createLogger } from "../../keeper/src/log.ts";
import type { MarketSnapshot } from "../../keeper/src/markets.ts";
import { createMetrics } from "../../keeper/src/metrics.ts";
import { scan, shardOf } from "../../keeper/src/scanner.ts";
import { type KeeperState, saveState, statePath } from "../../keeper/src/store.ts";
import { type TrackedPosition, positionKey } from "../../keeper/src/types.ts";
import { rng } from "../lib/rng.ts";

const count = Number(process.argv[2]);
if (!Number.isSafeInteger(count) || count < 1) throw new Error("usage: keeper-rss.ts <positions>");
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

const MiB = 1024 * 1024;
const settle = () => {
  gc();
  gc();
};

// Everything the keeper process loads (cli.ts imports keeper.ts, which imports the rest).
await import("../../keeper/src/keeper.ts");
const metrics = createMetrics();
const log = createLogger("warn", { write: () => undefined } as never);
settle();
const baseline = process.memoryUsage();

const WAD = 10n ** 18n;
const tiers = [
  { notionalFloor: 0n, imr: WAD / 100n, mmr: WAD / 200n },
  { notionalFloor: 50_000n * WAD, imr: (2n * WAD) / 100n, mmr: WAD / 100n },
  { notionalFloor: 250_000n * WAD, imr: (25n * WAD) / 1000n, mmr: (125n * WAD) / 10_000n },
  { notionalFloor: 1_000_000n * WAD, imr: (5n * WAD) / 100n, mmr: (25n * WAD) / 1000n },
];
const params = {
  takerFeeRate: 5n * 10n ** 14n,
  liquidationFeeRate: 10n ** 15n,
  liquidationPenaltyRate: 2n * 10n ** 15n,
  targetHealthFactor: 125n * 10n ** 16n,
  minKeeperFee: 5n * WAD,
  maxKeeperFee: 1000n * WAD,
  minPositionNotional: 10n * WAD,
  fullLiquidationNotional: 10_000n * WAD,
};
const ids = [marketId("ETH-USD"), marketId("BTC-USD")];
const prices = [3000n * WAD, 60_000n * WAD];
const markets = new Map<string, MarketSnapshot>();
ids.forEach((market, i) => markets.set(market, { market, status: "Ok", price: prices[i], fundingIndex: 12_345n * 10n ** 12n, tiers, params }));

const engine = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Address;
const state: KeeperState = { chainId: 31337, engine, checkpoints: [{ blockNumber: 12_345_678n, blockHash: `0x${"ab".repeat(32)}` }], positions: new Map() };
// The same index on every run.
const random = rng(7);
const hex40 = () => Array.from({ length: 5 }, () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, "0")).join("");
// Two positions per account, one per market, as on the chain.
let account = "0x" as Address;
for (let i = 0; i < count; i++) {
  const m = i % 2;
  if (m === 0) account = `0x${hex40()}`;
  const notional = BigInt(Math.floor(100 + random() * 500_000));
  const size = (notional * WAD * WAD) / prices[m];
  const position: TrackedPosition = {
    account,
    market: ids[m] as Hex,
    size: random() < 0.5 ? size : -size,
    collateral: (notional * 10n ** 6n) / BigInt(2 + Math.floor(random() * 60)),
    entryPrice: (prices[m] * BigInt(90 + Math.floor(random() * 20))) / 100n,
    fundingIndex: BigInt(Math.floor(random() * 1e12)),
  };
  state.positions.set(positionKey(account, ids[m]), position);
}
if (state.positions.size !== count) throw new Error(`generated ${state.positions.size} distinct positions, wanted ${count}`);
// The indexer mirrors the index in its `known` map; nothing here calls the client.
const indexer = createIndexer({
  client: {} as PublicClient,
  addresses: { engine, lens: engine, pool: engine, collateralToken: engine },
  startBlock: 0n,
  maxBlockRange: 2000,
  state,
  log,
});

// The per-block work, three blocks' worth.
let liquidatable = 0;
for (let block = 0; block < 3; block++) {
  const scanned = scan(state.positions, markets, 10n ** 12n);
  liquidatable = 0;
  for (const s of scanned) {
    if (shardOf(s.key, 1) === 0) metrics.healthFactor.observe(Number(s.healthFactor > 10n ** 20n ? 10n ** 20n : s.healthFactor) / 1e18);
    if (s.liquidatable) liquidatable++;
  }
}
const dir = mkdtempSync(join(tmpdir(), "bk-rss-"));
try {
  saveState(statePath(dir, state.chainId, engine, { index: 0, count: 1 }), state);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
settle();
const after = process.memoryUsage();
const mb = (x: number) => Number((x / MiB).toFixed(1));
process.stdout.write(
  `${JSON.stringify({
    positions: state.positions.size,
    rssMb: mb(after.rss),
    heapUsedMb: mb(after.heapUsed),
    baselineRssMb: mb(baseline.rss),
    baselineHeapUsedMb: mb(baseline.heapUsed),
    liquidatable,
    pendingRereads: indexer.pendingRereads(),
  })}\n`,
);
