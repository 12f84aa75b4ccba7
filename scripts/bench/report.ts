/**
 * bench/results.json's shape and docs/benchmarks.md's rendering, for `npm run bench` (scripts/bench.ts).
 */
import { GAS_TARGETS, type GasSnapshot, renderGas } from "./gas.ts";
import type { KeeperBench } from "./keeper.ts";
import { type ScenarioResult, renderScenarios } from "./scenarios.ts";

export type BenchResults = {
  gas: GasSnapshot;
  keeperScanSeconds1k: number;
  keeperScanSeconds10k: number;
  liquidationDelayMsMedian: number;
  liquidationDelayMsP95: number;
  keeperRssMb10k: number;
  keeperRssMb100k: number;
  scenarios: ScenarioResult[];
  /** Everything behind the keeper figures (scripts/bench/keeper.ts). */
  keeper: KeeperBench;
  machine: { node: string; cpus: number; cpuModel: string; memoryGb: number; date: string; seconds: number };
};

export type TargetRow = { target: string; result: string; met: boolean; gap: string };

const fmt = (n: number) => n.toLocaleString("en-US");

/** Issue 8's targets (production profile) against the measured results. */
export function targets(r: BenchResults): TargetRow[] {
  const rows: TargetRow[] = GAS_TARGETS.map(({ key, label, max }) => {
    const v = r.gas[key];
    return {
      target: `${label}: at most ${fmt(max)} gas`,
      result: `${fmt(v)} gas`,
      met: v <= max,
      gap: v <= max ? `${fmt(max - v)} under` : `${fmt(v - max)} over (+${(((v - max) / max) * 100).toFixed(1)}%)`,
    };
  });
  rows.push({
    target: "scan of 10,000 positions: at most 2 s",
    result: `${r.keeperScanSeconds10k.toFixed(3)} s`,
    met: r.keeperScanSeconds10k <= 2,
    gap: r.keeperScanSeconds10k <= 2 ? `${(2 / r.keeperScanSeconds10k).toFixed(0)}x headroom` : `${(r.keeperScanSeconds10k - 2).toFixed(2)} s over`,
  });
  const k = r.keeper;
  rows.push({
    target: "liquidation in the block after the oracle update or sooner",
    result: `${k.liquidationDelayTrials} trials: ${Object.entries(k.liquidationDelayBlocksHistogram)
      .map(([blocks, n]) => `${n} in +${blocks}`)
      .join(", ")} block(s); median ${fmt(k.liquidationDelayMsMedian)} ms, p95 ${fmt(k.liquidationDelayMsP95)} ms`,
    met: k.liquidationDelayBlocksMax <= 1,
    gap: k.liquidationDelayBlocksMax <= 1 ? "met in every trial" : `worst trial ${k.liquidationDelayBlocksMax} blocks`,
  });
  for (const s of r.scenarios.filter((x) => x.target !== undefined)) {
    rows.push({
      target: "zero bad debt when each update moves less than the maintenance buffer",
      result: `${s.title}: bad debt $${fmt(s.badDebt)}`,
      met: s.targetHolds === true,
      gap: s.targetHolds === true ? "holds" : `$${fmt(s.badDebt)} of bad debt`,
    });
  }
  return rows;
}

export function renderBenchmarks(r: BenchResults): string {
  const k = r.keeper;
  const d = k.keeperBenchDetail;
  const lines = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (scripts/bench.ts) together with `bench/results.json`; do not edit by hand. Gas comes from",
    "`gas-snapshot.json` (`npm run gas`, production profile); the keeper and crash figures are measured on this run's machine:",
    `${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, Node ${r.machine.node}, ${r.machine.date.slice(0, 10)}; the whole run took ${Math.round(r.machine.seconds / 60)} min.`,
    "",
    "## Targets",
    "",
    "| Target (production profile) | Result | Met | Margin |",
    "| --- | --- | :---: | --- |",
    ...targets(r).map((t) => `| ${t.target} | ${t.result} | ${t.met ? "yes" : "**no**"} | ${t.gap} |`),
    "",
    "What the missed gas targets would take is in [gas-targets.md](gas-targets.md).",
    "",
    "## Gas",
    "",
    "One representative transaction per operation on a market already in use, from accounts that already hold a balance",
    "(scripts/gas.ts); `liquidateBatchPerPosition` is a batch of 50 divided by 50. Peer figures are the published ones",
    "quoted in issue 8; a ratio below 1 means Tidemark is cheaper. Tidemark's figures include its Chainlink reads",
    "(the local mock aggregator: a production feed behind its proxy costs a few thousand gas more per read).",
    "",
    renderGas(r.gas),
    "",
    "## Keeper",
    "",
    `| Measure | Result |`,
    `| --- | ---: |`,
    `| scan of 1,000 positions (median of ${d.scan1k.scans}) | ${r.keeperScanSeconds1k.toFixed(3)} s |`,
    `| scan of 10,000 positions (median of ${d.scan10k.scans}) | ${r.keeperScanSeconds10k.toFixed(3)} s |`,
    `| initial indexing of 1,000 / 10,000 positions | ${k.keeperIndexSeconds1k.toFixed(1)} s / ${k.keeperIndexSeconds10k.toFixed(1)} s |`,
    `| oracle update to liquidation, median / p95 (${k.liquidationDelayTrials} trials) | ${fmt(r.liquidationDelayMsMedian)} ms / ${fmt(r.liquidationDelayMsP95)} ms |`,
    `| oracle update to liquidation, blocks (median / max) | ${k.liquidationDelayBlocksMedian} / ${k.liquidationDelayBlocksMax} |`,
    `| resident memory, 10,000 / 100,000 indexed positions | ${r.keeperRssMb10k.toFixed(0)} MiB / ${r.keeperRssMb100k.toFixed(0)} MiB |`,
    "",
    `A scan is what the keeper does on every block: each market's snapshot over HTTP JSON-RPC from \`hardhat node\`, then`,
    `every indexed position's health with the SDK's exact math, most urgent first (10,000 positions: ${d.scan10k.snapshotRpcMsMedian.toFixed(1)} ms of RPC,`,
    `${d.scan10k.healthMathMsMedian.toFixed(1)} ms of math). Delay trials: ${k.liquidationDelayMining}. Memory: a synthetic index in a fresh`,
    "process per size, after garbage collection (scripts/bench/keeper-rss.ts).",
    "",
    renderScenarios(r.scenarios),
    "",
  ];
  return lines.join("\n");
}
