/**
 * The crash scenario against a running local node, for the multi-process workflow (README "Local multi-process run"):
 *
 *   npm run node            # terminal 1: hardhat node
 *   npm run deploy:local    # terminal 2: the TidemarkLocal Ignition module
 *   npm run keeper:local    # terminal 3: the keeper, watching
 *   npm run scenario:crash  # terminal 2: this script
 *
 * Funds the pool and the insurance fund, opens about 50 positions for 25 traders through the SDK, then walks both
 * mock feeds down the crash path, one step every 2 seconds, printing after each step how many positions are
 * liquidatable and how many the keeper (in the other terminal) has liquidated so far.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { network } from "hardhat";
import { custom } from "viem";

import { addressesFromIgnition, tidemarkEngineAbi } from "@tidemark/sdk";

import { CRASH_PATH, connect, fund, healthOf, openPositions, setPrices } from "./lib/scenario.ts";

const STEP_MS = Number(process.env.TIDEMARK_SCENARIO_STEP_MS ?? 2_000);
const TRADERS = 25;

const deploymentFile = join("ignition", "deployments", "chain-31337", "deployed_addresses.json");
let deployed: Record<string, string>;
try {
  deployed = JSON.parse(readFileSync(deploymentFile, "utf8"));
} catch {
  console.error(`no local deployment at ${deploymentFile}: run \`npm run node\` and \`npm run deploy:local\` first`);
  process.exit(2);
}
const conn = await network.connect({ network: "localhost" });
const addresses = addressesFromIgnition(deployed);
const l = await connect(custom(conn.provider), deployed, addresses, TRADERS);

await fund(l, 2_000_000, 25_000, TRADERS, 150_000);
const opened = await openPositions(l, 50, TRADERS);
console.log(`opened ${opened.length} positions; crashing both feeds one step every ${STEP_MS / 1000} s (the keeper liquidates)`);
const start = await l.publicClient.getBlockNumber();

for (const [step, p] of CRASH_PATH.entries()) {
  if (step === 0) continue;
  await setPrices(l, p.eth, p.btc);
  await new Promise((r) => setTimeout(r, STEP_MS));
  const due = (await healthOf(l, opened)).filter((x) => x.liquidatable).length;
  const done = await l.publicClient.getContractEvents({ address: addresses.engine, abi: tidemarkEngineAbi, eventName: "PositionLiquidated", fromBlock: start });
  console.log(`step ${String(step).padStart(2)}: ETH ${p.eth}  BTC ${p.btc}  liquidatable now ${due}  liquidated so far ${done.length}`);
}
const left = (await healthOf(l, opened)).filter((x) => x.liquidatable).length;
console.log(left === 0 ? "every liquidatable position was liquidated" : `${left} positions are still liquidatable: is the keeper running?`);
process.exit(left === 0 ? 0 : 1);
