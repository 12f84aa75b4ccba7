/**
 * `npm run bench:scenarios`: only the crash-scenario benchmarks. Progress goes to stderr, the results (the
 * `scenarios` array of bench/results.json) to stdout as JSON; the charts to docs/bench/<scenario>.svg.
 *
 * Environment (for development): TIDEMARK_BENCH_SCENARIOS=name,name runs only those; TIDEMARK_BENCH_POSITIONS=n
 * opens n positions instead of 2,000; TIDEMARK_BENCH_MARKDOWN=file also writes the markdown section (renderScenarios).
 */
import { writeFileSync } from "node:fs";

import { renderScenarios, runScenarios } from "./scenarios.ts";

const only = process.env.TIDEMARK_BENCH_SCENARIOS?.split(",").filter(Boolean);
const positions = process.env.TIDEMARK_BENCH_POSITIONS ? Number(process.env.TIDEMARK_BENCH_POSITIONS) : undefined;
const started = Date.now();
const results = await runScenarios({ only, positions });
if (process.env.TIDEMARK_BENCH_MARKDOWN) writeFileSync(process.env.TIDEMARK_BENCH_MARKDOWN, renderScenarios(results));
process.stdout.write(`${JSON.stringify({ scenarios: results, durationMs: Date.now() - started }, null, 2)}\n`);
process.exit(0);
