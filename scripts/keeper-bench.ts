/**
 * Keeper benchmarks (measured, never asserted):
 *
 *   npm run bench:keeper
 *
 * 1. Scan: the health of 10,000 positions over two markets with the SDK's exact math, as the keeper computes it on
 *    every block (median of 20 runs).
 * 2. Oracle update to liquidation receipt: `hardhat node` with 200 positions, the keeper running (100 ms polling), a
 *    10% crash of both feeds in one block; the time from the crash block being mined to the first and the last
 *    liquidation receipt the keeper waited for, read from its own log.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type Address, type Hex, stringToHex } from "viem";

import type { MarketSnapshot } from "../keeper/src/markets.ts";
import { scan } from "../keeper/src/scanner.ts";
import type { TrackedPosition } from "../keeper/src/types.ts";
import { KEEPER_KEYS, crashInOneBlock, healthAt, keeperArgs, liquidations, openPopulation, startChain, startKeeperProcess, until } from "../test/ts/keeper/harness.ts";

const WAD = 10n ** 18n;

function scanBenchmark(count: number) {
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
  const markets = new Map<string, MarketSnapshot>();
  const ids = [stringToHex("ETH-USD", { size: 32 }), stringToHex("BTC-USD", { size: 32 })];
  const prices = [3000n * WAD, 60_000n * WAD];
  ids.forEach((market, i) => markets.set(market, { market, status: "Ok", price: prices[i], fundingIndex: 12_345n * 10n ** 12n, tiers, params }));
  const positions: [string, TrackedPosition][] = [];
  let seed = 1;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < count; i++) {
    const m = i % 2;
    const notional = BigInt(Math.floor(100 + random() * 500_000));
    const size = (notional * WAD * WAD) / prices[m];
    const account = `0x${i.toString(16).padStart(40, "0")}` as Address;
    positions.push([
      `${account}:${ids[m]}`,
      {
        account,
        market: ids[m] as Hex,
        size: random() < 0.5 ? size : -size,
        collateral: (notional * 10n ** 6n) / BigInt(2 + Math.floor(random() * 60)),
        entryPrice: (prices[m] * BigInt(90 + Math.floor(random() * 20))) / 100n,
        fundingIndex: 0n,
      },
    ]);
  }
  const times: number[] = [];
  let liquidatable = 0;
  for (let run = 0; run < 20; run++) {
    const t = performance.now();
    const out = scan(positions, markets, 10n ** 12n);
    times.push(performance.now() - t);
    liquidatable = out.filter((s) => s.liquidatable).length;
  }
  times.sort((a, b) => a - b);
  return { median: times[10], min: times[0], max: times[19], liquidatable };
}

async function delayBenchmark() {
  const chain = await startChain();
  const dir = await mkdtemp(join(tmpdir(), "keeper-bench-"));
  try {
    const positions = await openPopulation(chain, 100);
    const k = startKeeperProcess(await keeperArgs(chain, dir), { TIDEMARK_KEEPER_PRIVATE_KEY: KEEPER_KEYS[0] });
    await k.waitFor("index in sync");
    const crashBlock = await crashInOneBlock(chain, 10);
    const crashed = Date.now();
    const due = (await healthAt(chain, positions, crashBlock)).filter((h) => h.liquidatable).length;
    await until(async () => (await liquidations(chain, crashBlock)).length >= due, 60_000, "all liquidations");
    await until(async () => k.lines.filter((l) => l.msg === "liquidation mined").reduce((n, l) => n + Number(l.liquidated), 0) >= due, 10_000, "receipts");
    const mined = k.lines.filter((l) => l.msg === "liquidation mined").map((l) => Date.parse(l.time as string) - crashed);
    k.child.kill("SIGTERM");
    await k.exited;
    return { due, transactions: mined.length, first: Math.min(...mined), last: Math.max(...mined) };
  } finally {
    chain.node.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

const s = scanBenchmark(10_000);
console.log(
  `scan of 10,000 positions: median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}), ${s.liquidatable} liquidatable`,
);
const d = await delayBenchmark();
console.log(
  `oracle update to liquidation receipt (200 positions, ${d.due} liquidatable, ${d.transactions} transactions, 100 ms polling): first ${d.first} ms, last ${d.last} ms`,
);
