/**
 * `npm run bench`: every benchmark of the project in one run, outside `npm test` (figures are measured, never
 * asserted). Writes bench/results.json and docs/benchmarks.md (with one chart per crash scenario in docs/bench/).
 *
 *   1. gas: gas-snapshot.json (kept current by `npm run gas`, production profile) beside published peer figures;
 *   2. keeper: scan of 1,000 and 10,000 positions against `hardhat node`, oracle-update-to-liquidation delay over
 *      50+ trials, resident memory with 10,000 and 100,000 indexed positions (scripts/bench/keeper.ts);
 *   3. crash scenarios on 2,000 positions with the keeper running (scripts/bench/scenarios.ts).
 *
 * Run it on a quiet machine: the keeper timings share the CPU with `hardhat node`.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";

import { readGasSnapshot } from "./bench/gas.ts";
import { benchKeeper } from "./bench/keeper.ts";
import { renderBenchmarks, type BenchResults } from "./bench/report.ts";
import { runScenarios } from "./bench/scenarios.ts";

const ROOT = new URL("../", import.meta.url);
const started = Date.now();
const log = (msg: string) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);

log("gas: reading gas-snapshot.json");
const gas = await readGasSnapshot(ROOT);
log("keeper benchmarks");
const keeper = await benchKeeper();
log("crash scenarios");
const scenarios = await runScenarios();

const results: BenchResults = {
  gas,
  keeperScanSeconds1k: keeper.keeperScanSeconds1k,
  keeperScanSeconds10k: keeper.keeperScanSeconds10k,
  liquidationDelayMsMedian: keeper.liquidationDelayMsMedian,
  liquidationDelayMsP95: keeper.liquidationDelayMsP95,
  keeperRssMb10k: keeper.keeperRssMb10k,
  keeperRssMb100k: keeper.keeperRssMb100k,
  scenarios,
  keeper,
  machine: {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  },
};

await mkdir(new URL("bench/", ROOT), { recursive: true });
await writeFile(new URL("bench/results.json", ROOT), JSON.stringify(results, null, 2) + "\n");
await writeFile(new URL("docs/benchmarks.md", ROOT), renderBenchmarks(results));
log(`wrote bench/results.json and docs/benchmarks.md in ${results.machine.seconds} s`);
