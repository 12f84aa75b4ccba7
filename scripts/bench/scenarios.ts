/**
 * Crash-scenario benchmarks (issue 8): 2,000 positions on a `hardhat node` child process, the real keeper as a child
 * process (`node keeper/src/cli.ts`, as an operator runs it), and a price path pushed through the mock Chainlink
 * feeds. For each scenario: how many blocks the keeper needs until no position is liquidatable, the bad debt, what the
 * insurance fund paid, and how the LP pool's marked-to-market NAV moved; plus a chart per scenario.
 *
 *   runScenarios(opts)   -> ScenarioResult[]   (writes docs/bench/<name>.svg)
 *   renderScenarios(results) -> markdown section for docs/benchmarks.md
 *
 * Choices (also in the markdown the results render to):
 * - One chain for all scenarios: deploy (TidemarkLocal Ignition module), fund the pool and the insurance fund, open the
 *   population, `evm_snapshot`; each scenario starts with `evm_revert` to that snapshot, so all see the same positions
 *   at the same prices and are independent of each other. A fresh keeper (empty data directory) per scenario.
 * - Block production: automine off, one block mined explicitly once the keeper has processed the previous one (its
 *   `tidemark_keeper_head_block` gauge reached the head and its transactions of that block are in the mempool): a block
 *   time long enough for the keeper, as on Ethereum's 12 s blocks. Blocks-to-clear then measures the keeper's
 *   throughput per block (batch size x transactions in flight) and the block gas limit (30M here), not this machine's
 *   speed. Oracle updates are ordinary transactions in those blocks.
 * - Liquidatable count at every block, on chain: `TidemarkEngine.isLiquidatable` at that block for every open position
 *   whose exact liquidation price (TidemarkLens, re-read after each partial liquidation) is within 0.5% of the block's
 *   oracle price; positions further away cannot be liquidatable (only funding moves a liquidation price between
 *   liquidations, at most 0.1% of notional per day, a few thousandths of a percent over a run; checked: the run must
 *   take less than an hour of chain time). When the count reaches zero every open position is checked, and the two must
 *   agree.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

import { network } from "hardhat";
import {
  type Address,
  type Hex,
  type PublicClient,
  createPublicClient,
  decodeEventLog,
  decodeFunctionResult,
  encodeFunctionData,
  formatUnits,
  getAddress,
  http,
  parseAbi,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { marketId, tidemarkEngineAbi, tidemarkLensAbi } from "@tidemark/sdk";

import TidemarkLocalModule from "../../ignition/modules/TidemarkLocal.js";
import { lpDeposit } from "../../test/ts/helpers/flows.ts";
import { ROOT, freePort, startNode } from "../../test/ts/helpers/node.ts";
import { type KeeperProcess, startKeeperProcess } from "../../test/ts/keeper/harness.ts";
import { type GeneratedPosition, generatePopulation, openPopulationFast, readPopulationMarkets } from "../lib/population.ts";
import { type Rpc, createRpc } from "../lib/rpc.ts";
import { type Series, compact, renderChart } from "../lib/svg-chart.ts";

/* ------------------------------------------------------------------------------------------------------ types */

export type MarketSymbol = "ETH-USD" | "BTC-USD";

export type ScenarioSpec = {
  name: string;
  title: string;
  description: string;
  /** Markets whose feed moves (the others stay at their start price). */
  markets: readonly MarketSymbol[];
  /** Each oracle update's price as a multiple of the start price. */
  path: readonly number[];
  /** Blocks from one update to the next, or "cleared": the next update in the block after nothing is liquidatable. */
  cadence: number | "cleared";
  /** Why the path is what it is (scenario 4: the step's derivation). */
  derivation?: string;
  /** What the scenario checks, if it checks a target. */
  target?: string;
  /** Keeper CLI flags for this scenario, after the run's `keeperArgs`. */
  keeperArgs?: readonly string[];
};

export type ScenarioOptions = {
  /** Positions in the population (default 2,000). */
  positions?: number;
  /** Seed of the population (default 2026). */
  seed?: number;
  /** Pool deposit, USD (default 100,000,000). */
  poolUsd?: number;
  /** Insurance fund balance, USD (default 1,000,000). */
  insuranceUsd?: number;
  /** Block gas limit during the scenarios (default 30,000,000). */
  blockGasLimit?: bigint;
  /** Extra keeper CLI flags (default none: the documented defaults, batch size 20 and 4 transactions in flight). */
  keeperArgs?: readonly string[];
  /** Run only these scenarios (by name). */
  only?: readonly string[];
  /** Replaces the default scenarios (given the small-step derivation from the chain's parameters). */
  scenarios?: (step: ReturnType<typeof smallStepDerivation>) => ScenarioSpec[];
  /** Where the SVG charts go (default docs/bench). */
  chartDir?: string;
  /** Progress messages (default: stderr). */
  log?: (message: string) => void;
  /** Fail when positions are still liquidatable this many blocks after the last update (default 300). */
  maxBlocksToClear?: number;
};

export type BlockRecord = {
  block: number;
  /** Blocks since the first oracle update (its block is 0). */
  offset: number;
  /** Index of the oracle update mined in this block, if any. */
  update: number | null;
  /** Oracle prices at the end of the block, USD. */
  prices: Record<string, number>;
  /** Open positions at the end of the block. */
  open: number;
  /** Positions with health factor below 1 at the end of the block (engine.isLiquidatable at this block). */
  liquidatable: number;
  liquidationsFull: number;
  liquidationsPartial: number;
  badDebtUsd: number;
  /** What the liquidatable positions owed beyond their collateral at the end of the block (lens: equity + closing fee
   * below zero), USD: counted in the pool's NAV as the pool's until liquidation realises it as bad debt. */
  unrealizedBadDebtUsd: number;
  insuranceUsd: number;
  poolNavUsd: number;
  gasUsed: number;
  transactions: number;
  /** Wall time, ms: mining the block, the keeper processing it (from the mined block), our on-chain reads of it. */
  mineMs: number;
  keeperMs: number;
  observeMs: number;
};

export type ScenarioResult = {
  name: string;
  title: string;
  description: string;
  /** Blocks from the block of the last oracle update to the first block at whose end no position is liquidatable. */
  blocksToClear: number;
  /** Sum of `badDebt` over the ShortfallCovered events, USD (token units / 1e6). */
  badDebt: number;
  /** What the insurance fund paid out: sum of `fromInsurance` over the ShortfallCovered events (bad debt and keeper
   * top-ups), USD. Its net balance change, penalties received included, is `insuranceFund.changeUsd`. */
  insuranceUsed: number;
  /** Change of the pool's totalAssets (NAV marked to market) from the block before the first update to the block
   * where no position is liquidatable any more, basis points. */
  lpNavChangeBps: number;
  units: Record<string, string>;
  markets: readonly MarketSymbol[];
  cadence: number | "cleared";
  derivation?: string;
  target?: string;
  targetHolds?: boolean;
  pricePath: { update: number; block: number; offset: number; prices: Record<string, number>; liquidatableAfter: number; clearedAfterBlocks: number | null }[];
  population: PopulationSummary;
  liquidations: { total: number; full: number; partial: number; positions: number; byOtherLiquidators: number; maxLiquidatable: number; maxPerBlock: number };
  keeperRewardsUsd: number;
  keeperTopUpsUsd: number;
  penaltiesUsd: number;
  poolCoveredUsd: number;
  badDebtTokenUnits: string;
  insuranceFund: { beforeUsd: number; afterUsd: number; paidOutUsd: number; penaltiesInUsd: number; changeUsd: number };
  lpNav: {
    beforeUsd: number;
    afterUsd: number;
    changeUsd: number;
    /** Highest NAV while the scenario ran, bps vs. before, and its block (offset). */
    peakBps: number;
    peakOffset: number;
    /** The pool's only LP (the deployer): what a redemption fulfilled at the peak block could have paid it (its
     * shares' value, capped at the pool's availableLiquidity: the pool keeps a reserve), and what all its shares were
     * worth at the peak and at the clearing block (convertToAssets). */
    lpRedeemableAtPeakUsd: number;
    lpValueAtPeakUsd: number;
    lpValueAfterUsd: number;
    /** The most that liquidatable positions owed beyond their collateral at the end of a block (see BlockRecord),
     * USD and bps of that block's NAV, and the block (offset): how far the NAV ran ahead of what the pool will collect. */
    maxUnrealizedBadDebtUsd: number;
    maxUnrealizedBadDebtBps: number;
    maxUnrealizedBadDebtOffset: number;
  };
  /** Per oracle update: the most blocks any update took to clear (null when one was not cleared before the next). */
  maxBlocksToClearAnUpdate: number | null;
  updatesNotClearedBeforeNext: number;
  blocks: { first: number; lastUpdate: number; cleared: number; gasLimit: number; maxGasUsed: number; liquidationTransactions: number };
  keeper: { args: string[]; transactionsMined: number; warnings: number; errors: number; messages: string[] };
  durationMs: number;
  /** Wall time of the parts, ms (keeper and our reads run side by side after each block). */
  durations: { keeperStartMs: number; pathMs: number; mineMs: number; keeperMs: number; observeMs: number; finishMs: number };
  chart: string;
  timeline: BlockRecord[];
};

export type PopulationSummary = {
  positions: number;
  traders: number;
  longs: number;
  shorts: number;
  byMarket: Record<string, { positions: number; longs: number; shorts: number; notionalUsd: number }>;
  notionalUsd: number;
  byTier: number[];
  byLeverage: Record<string, number>;
  poolUsd: number;
  insuranceUsd: number;
  openMs: number;
  openBlocks: number;
};

/* -------------------------------------------------------------------------------------------------- constants */

/** Hardhat's default account #1: a public test key, on a throwaway chain only. The keeper's signer. */
const KEEPER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const KEEPER_ADDRESS = privateKeyToAccount(KEEPER_KEY).address;
const SYMBOLS: readonly MarketSymbol[] = ["ETH-USD", "BTC-USD"];
const TOKEN = 10n ** 6n;
/** Liquidation-price band inside which positions are checked on chain at every block (see the header). */
const BAND_BPS = 50n;
/** Seconds between block timestamps in the scenarios (Ethereum's slot time). */
const BLOCK_SECONDS = 12;
const feedAbi = parseAbi(["function updateAnswer(int256 answer)", "function latestAnswer() view returns (int256)"]);
const valueAbi = parseAbi([
  "function totalAssets() view returns (uint256)",
  "function balance() view returns (uint256)",
  "function availableLiquidity() view returns (uint256)",
  "function balanceOf(address owner) view returns (uint256)",
  "function convertToAssets(uint256 shares) view returns (uint256)",
]);

const usdNum = (units: bigint) => Math.round(Number(formatUnits(units, 6)) * 100) / 100;
const priceNum = (wad: bigint) => Number(formatUnits(wad, 18));

/* ------------------------------------------------------------------------------------------------- scenarios */

/**
 * The four scenarios. The small-step path is derived from the markets' parameters (read from the chain): see
 * `smallStepDerivation`.
 */
export function defaultScenarios(step: { stepFraction: number; derivation: string }): ScenarioSpec[] {
  const geometric = (to: number, n: number) => Array.from({ length: n }, (_, i) => to ** ((i + 1) / n));
  const smallSteps: number[] = [];
  for (let p = 1 - step.stepFraction; p >= 0.85 - 1e-12; p *= 1 - step.stepFraction) smallSteps.push(p);
  return [
    {
      name: "crash-20-one-update",
      title: "−20% in one oracle update",
      description: "ETH-USD and BTC-USD both fall 20% in one oracle update each, in the same block (a correlated flash crash).",
      markets: ["ETH-USD", "BTC-USD"],
      path: [0.8],
      cadence: 1,
    },
    {
      name: "crash-20-one-update-keeper-100x8",
      title: "−20% in one oracle update, keeper at 100 × 8",
      description:
        "The first scenario again with a keeper configured for throughput (--batch-size 100 --max-in-flight 8: up to 800 liquidations per block, about 40M gas), so the 30M block gas limit binds instead of the keeper.",
      markets: ["ETH-USD", "BTC-USD"],
      path: [0.8],
      cadence: 1,
      keeperArgs: ["--batch-size", "100", "--max-in-flight", "8"],
    },
    {
      name: "crash-50-twenty-updates",
      title: "−50% over 20 updates",
      description: "ETH-USD and BTC-USD both fall 50% in 20 equal geometric steps (−3.41% each), one update every 3 blocks, whether or not the keeper has caught up.",
      markets: ["ETH-USD", "BTC-USD"],
      path: geometric(0.5, 20),
      cadence: 3,
    },
    {
      name: "squeeze-30-shorts",
      title: "+30% squeeze against shorts",
      description: "ETH-USD rises 30% in 3 geometric steps (+9.14% each), one update every 2 blocks; BTC-USD stays put.",
      markets: ["ETH-USD"],
      path: geometric(1.3, 3),
      cadence: 2,
    },
    {
      name: "small-steps-within-buffer",
      title: `−15% in steps of ${(step.stepFraction * 100).toFixed(2)}% (within the maintenance buffer)`,
      description: `ETH-USD and BTC-USD fall in ${smallSteps.length} geometric steps of ${(step.stepFraction * 100).toFixed(2)}% each to −${((1 - smallSteps.at(-1)!) * 100).toFixed(1)}%; each update lands in the block after the previous one was cleared.`,
      markets: ["ETH-USD", "BTC-USD"],
      path: smallSteps,
      cadence: "cleared",
      derivation: step.derivation,
      target: "zero bad debt when each update moves less than the maintenance buffer and the keeper clears between updates",
    },
  ];
}

/**
 * The largest price step that keeps a just-healthy position's remaining value above the liquidation reward and
 * penalty, from the markets' parameters; the scenario uses 80% of it.
 */
export function smallStepDerivation(markets: readonly { symbol: string; tiers: readonly { mmr: bigint }[]; params: { takerFeeRate: bigint; liquidationFeeRate: bigint; liquidationPenaltyRate: bigint } }[]) {
  const pct = (x: bigint) => `${(Number(x) / 1e16).toFixed(2)}%`;
  let worst: { buffer: bigint; mmr: bigint; taker: bigint; fee: bigint; penalty: bigint; symbol: string } | undefined;
  for (const m of markets) {
    const mmr = m.tiers.reduce((a, t) => (t.mmr < a ? t.mmr : a), m.tiers[0].mmr);
    const { takerFeeRate: taker, liquidationFeeRate: fee, liquidationPenaltyRate: penalty } = m.params;
    const buffer = mmr + taker - fee - penalty;
    if (worst === undefined || buffer < worst.buffer) worst = { buffer, mmr, taker, fee, penalty, symbol: m.symbol };
  }
  const w = worst!;
  if (w.buffer <= 0n) throw new Error(`no positive maintenance buffer on ${w.symbol}: MMR ${pct(w.mmr)} does not cover reward and penalty`);
  const stepFraction = Math.floor((Number(w.buffer) / 1e18) * 0.8 * 1e6) / 1e6;
  const derivation =
    `A position is liquidatable when equity = collateral + PnL − funding − closing fee falls below MM(notional) ≥ MMR_min × N, ` +
    `MMR_min = ${pct(w.mmr)} (the smallest maintenance rate of any tier; tiers are marginal and non-decreasing). ` +
    `At liquidation no closing fee is charged: the position's value V = collateral + PnL − funding ≥ (MMR_min + taker fee ${pct(w.taker)}) × N ` +
    `pays the keeper reward (${pct(w.fee)} of the notional closed) and the insurance penalty (${pct(w.penalty)}) before anything is left. ` +
    `A further price move s against the position costs s × N, so if the keeper liquidates before the next update, V stays ≥ (reward + penalty) × N ` +
    `as long as s ≤ MMR_min + taker fee − reward rate − penalty rate = ${pct(w.buffer)} (${w.symbol}; the same on both local markets): ` +
    `no bad debt, and reward and penalty paid from the position (the insurance fund only tops up the $5 minimum reward of positions under $5,000). ` +
    `Bad debt itself would need s > MMR_min + taker fee = ${pct(w.mmr + w.taker)}. The scenario steps by 80% of the buffer, ${(stepFraction * 100).toFixed(3)}%, ` +
    `leaving room for funding and rounding.`;
  return { stepFraction, bufferFraction: Number(w.buffer) / 1e18, derivation };
}

/* ----------------------------------------------------------------------------------------------------- chain */

type Chain = {
  rpc: Rpc;
  client: PublicClient;
  url: string;
  close: () => Promise<void>;
  addresses: { engine: Address; lens: Address; pool: Address; insurance: Address; token: Address; feeds: Record<MarketSymbol, Address> };
  deployer: Address;
  markets: Awaited<ReturnType<typeof readPopulationMarkets>>;
  population: GeneratedPosition[];
  summary: PopulationSummary;
  /** Liquidation price of every position at the snapshot (lens). */
  baseline: bigint[];
  snapshot: Hex;
  snapshotBlock: number;
  snapshotTime: number;
};

const children = new Set<{ kill: (signal?: NodeJS.Signals) => boolean }>();
const killChildren = () => {
  for (const c of children) c.kill("SIGKILL");
};

async function setUpChain(o: Required<Pick<ScenarioOptions, "positions" | "seed" | "poolUsd" | "insuranceUsd">>, log: (s: string) => void): Promise<Chain> {
  const port = await freePort();
  const node = await startNode(port);
  children.add(node);
  const url = `http://127.0.0.1:${port}`;
  const rpc = createRpc(url);
  let conn: Awaited<ReturnType<typeof network.create>> | undefined;
  const close = async () => {
    await conn?.close().catch(() => undefined);
    node.kill("SIGKILL");
    children.delete(node);
  };
  try {
    await rpc.call("hardhat_setLoggingEnabled", [false]);
    conn = await network.create({ network: "localhost", override: { url } });
    // Ignition keeps a journal for a node; a private id, removed right after.
    const deploymentId = `bench-scenarios-${process.pid}`;
    let deployed;
    try {
      deployed = await conn.ignition.deploy(TidemarkLocalModule, { displayUi: false, deploymentId });
    } finally {
      rmSync(join(ROOT, "ignition", "deployments", deploymentId), { recursive: true, force: true });
    }
    const addr = async (c: { getAddress(): Promise<string> }) => getAddress(await c.getAddress());
    const addresses = {
      engine: await addr(deployed.engine),
      lens: await addr(deployed.lens),
      pool: await addr(deployed.pool),
      insurance: await addr(deployed.insurance),
      token: await addr(deployed.token),
      feeds: { "ETH-USD": await addr(deployed.ethFeed), "BTC-USD": await addr(deployed.btcFeed) } as Record<MarketSymbol, Address>,
    };
    const [deployer] = await rpc.call<Address[]>("eth_accounts");
    const pool = BigInt(Math.round(o.poolUsd)) * TOKEN;
    // An ERC-7540 deposit request the deployer fulfils itself after the minimum delay (the fee comes back), then claims.
    const fee: bigint = await deployed.engine.requiredExecutionFee();
    await (await deployed.token.mint(deployer, pool + fee)).wait();
    await (await deployed.token.approve(addresses.pool, pool + fee)).wait();
    await lpDeposit(conn.ethers, deployed.pool, deployed.engine, (await conn.ethers.getSigners())[0], pool);
    await (await deployed.token.mint(addresses.insurance, BigInt(Math.round(o.insuranceUsd)) * TOKEN)).wait();
    log(`deployed (TidemarkLocal module) and funded: pool $${compact(o.poolUsd)}, insurance fund $${compact(o.insuranceUsd)}`);

    const client = createPublicClient({ transport: http(url, { timeout: 60_000 }) }) as PublicClient;
    const markets = await readPopulationMarkets(
      client,
      addresses.engine,
      SYMBOLS.map((symbol) => ({ id: marketId(symbol), symbol })),
    );
    const population = generatePopulation(markets, {
      count: o.positions,
      seed: o.seed,
      marketWeights: { "ETH-USD": 0.6, "BTC-USD": 0.4 },
      tag: `tidemark bench scenarios ${o.seed}`,
    });
    const opened = await openPopulationFast(rpc, { engine: addresses.engine, token: addresses.token, positions: population, blockSeconds: BLOCK_SECONDS });
    log(`opened ${opened.positions.length} positions for ${opened.traders} traders in ${opened.blocks} blocks (${(opened.ms / 1000).toFixed(1)} s)`);
    const summary = summarise(population, opened, o);

    const head = await rpc.call<{ number: Hex; timestamp: Hex }>("eth_getBlockByNumber", ["latest", false]);
    const health = await lensHealth(rpc, addresses.lens, population, Number(head.number));
    const due = health.filter((h) => h.liquidatable).length;
    if (due > 0) throw new Error(`${due} positions are liquidatable right after opening`);
    const snapshot = await rpc.call<Hex>("evm_snapshot");
    return {
      rpc,
      client,
      url,
      close,
      addresses,
      deployer,
      markets,
      population,
      summary,
      baseline: health.map((h) => h.liquidationPrice),
      snapshot,
      snapshotBlock: Number(head.number),
      snapshotTime: Number(head.timestamp),
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function summarise(population: readonly GeneratedPosition[], opened: { traders: number; ms: number; blocks: number }, o: { poolUsd: number; insuranceUsd: number }): PopulationSummary {
  const byMarket: PopulationSummary["byMarket"] = {};
  const byTier = [0, 0, 0, 0];
  const byLeverage: Record<string, number> = {};
  for (const p of population) {
    const m = (byMarket[p.symbol] ??= { positions: 0, longs: 0, shorts: 0, notionalUsd: 0 });
    m.positions++;
    m[p.side === "long" ? "longs" : "shorts"]++;
    m.notionalUsd += p.notional;
    byTier[p.tier] = (byTier[p.tier] ?? 0) + 1;
    const band = p.leverage < 3 ? "2-3x" : p.leverage < 5 ? "3-5x" : p.leverage < 10 ? "5-10x" : p.leverage < 20 ? "10-20x" : p.leverage < 30 ? "20-30x" : "30-50x";
    byLeverage[band] = (byLeverage[band] ?? 0) + 1;
  }
  return {
    positions: population.length,
    traders: opened.traders,
    longs: population.filter((p) => p.side === "long").length,
    shorts: population.filter((p) => p.side === "short").length,
    byMarket,
    notionalUsd: population.reduce((s, p) => s + p.notional, 0),
    byTier,
    byLeverage: Object.fromEntries(["2-3x", "3-5x", "5-10x", "10-20x", "20-30x", "30-50x"].filter((k) => byLeverage[k]).map((k) => [k, byLeverage[k]])),
    poolUsd: o.poolUsd,
    insuranceUsd: o.insuranceUsd,
    openMs: opened.ms,
    openBlocks: opened.blocks,
  };
}

/** Lens healthBatch for `positions` at `block`, 50 per call (big calls are slow on the simulated node). */
async function lensHealth(rpc: Rpc, lens: Address, positions: readonly { account: Address; market: Hex }[], block: number) {
  const chunk = 50;
  const requests = [];
  for (let i = 0; i < positions.length; i += chunk) {
    const keys = positions.slice(i, i + chunk).map(({ account, market }) => ({ account, market }));
    requests.push({ method: "eth_call", params: [{ to: lens, data: encodeFunctionData({ abi: tidemarkLensAbi, functionName: "healthBatch", args: [keys] }) }, toHex(block)] });
  }
  const results = await rpc.batch<Hex>(requests, { chunk: 20 });
  return results.flatMap((r) => decodeFunctionResult({ abi: tidemarkLensAbi, functionName: "healthBatch", data: r as Hex }));
}

/** engine.isLiquidatable for `positions` at `block`. */
async function liquidatableAt(rpc: Rpc, engine: Address, positions: readonly { account: Address; market: Hex }[], block: number): Promise<boolean[]> {
  const results = await rpc.batch<Hex>(
    positions.map((p) => ({
      method: "eth_call",
      params: [{ to: engine, data: encodeFunctionData({ abi: tidemarkEngineAbi, functionName: "isLiquidatable", args: [p.account, p.market] }) }, toHex(block)],
    })),
    { chunk: 400 },
  );
  return results.map((r) => BigInt(r as Hex) !== 0n);
}

/* ---------------------------------------------------------------------------------------------------- keeper */

async function keeperMetrics(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(tidemark_keeper_[a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Waits until the keeper has processed `block` (its head gauge is set after the block's transactions are sent). */
async function keeperProcessed(k: KeeperProcess, port: number, block: number, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (k.child.exitCode !== null) throw new Error(`the keeper exited (${k.child.exitCode}):\n${k.stderr()}`);
    const m = await keeperMetrics(port);
    if ((m.tidemark_keeper_head_block ?? 0) >= block) return;
    if (Date.now() > deadline) {
      const last = k.lines.slice(-5).map((l) => JSON.stringify(l)).join("\n");
      throw new Error(`the keeper did not process block ${block} within ${timeoutMs / 1000} s; last log lines:\n${last}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/* -------------------------------------------------------------------------------------------------- scenario */

type Tracked = { account: Address; market: Hex; symbol: MarketSymbol; long: boolean; open: boolean; liquidationPrice: bigint; closedAt?: number };

const liquidatedEvent = tidemarkEngineAbi.find((x) => x.type === "event" && x.name === "PositionLiquidated")!;
const shortfallEvent = tidemarkEngineAbi.find((x) => x.type === "event" && x.name === "ShortfallCovered")!;

async function runScenario(chain: Chain, spec: ScenarioSpec, o: Required<Omit<ScenarioOptions, "only" | "log" | "keeperArgs" | "scenarios">> & { keeperArgs: readonly string[] }, log: (s: string) => void): Promise<ScenarioResult> {
  const started = Date.now();
  const { rpc, addresses } = chain;
  await rpc.call("evm_revert", [chain.snapshot]);
  chain.snapshot = await rpc.call<Hex>("evm_snapshot");
  await rpc.call("evm_setAutomine", [false]);
  await rpc.call("evm_setIntervalMining", [0]);
  await rpc.call("evm_setBlockGasLimit", [toHex(o.blockGasLimit)]);

  const tracked: Tracked[] = chain.population.map((p, i) => ({
    account: p.account,
    market: p.market,
    symbol: p.symbol as MarketSymbol,
    long: p.size > 0n,
    open: true,
    liquidationPrice: chain.baseline[i],
  }));
  const index = new Map(tracked.map((t, i) => [`${t.account.toLowerCase()}:${t.market}`, i]));
  const ids = Object.fromEntries(SYMBOLS.map((s) => [s, marketId(s)])) as Record<MarketSymbol, Hex>;

  const dataDir = mkdtempSync(join(tmpdir(), "bs-scenarios-keeper-"));
  const args = [
    "--rpc-url", chain.url,
    "--engine", addresses.engine,
    "--lens", addresses.lens,
    "--data-dir", dataDir,
    "--metrics-port", "0",
    "--polling-interval", "50",
    "--max-head-lag", "86400",
    ...o.keeperArgs,
    ...(spec.keeperArgs ?? []),
  ];
  const keeper = startKeeperProcess(args, { TIDEMARK_KEEPER_PRIVATE_KEY: KEEPER_KEY });
  children.add(keeper.child);
  try {
    const port = Number((await keeper.waitFor("serving /metrics and /healthz", 120_000)).port);
    let block = Number(await rpc.call<Hex>("eth_blockNumber"));
    await keeperProcessed(keeper, port, block);
    const keeperStartMs = Date.now() - started;

    const read = async (b: number) => {
      const tag = toHex(b);
      const call = (to: Address, data: Hex) => ({ method: "eth_call", params: [{ to, data }, tag] });
      const [logs, blk, nav, fund, ...prices] = await rpc.batch<unknown>([
        { method: "eth_getLogs", params: [{ address: addresses.engine, fromBlock: tag, toBlock: tag }] },
        { method: "eth_getBlockByNumber", params: [tag, false] },
        call(addresses.pool, encodeFunctionData({ abi: valueAbi, functionName: "totalAssets" })),
        call(addresses.insurance, encodeFunctionData({ abi: valueAbi, functionName: "balance" })),
        ...SYMBOLS.map((s) => call(addresses.engine, encodeFunctionData({ abi: tidemarkEngineAbi, functionName: "oracleStatus", args: [ids[s]] }))),
      ]);
      const price = Object.fromEntries(
        SYMBOLS.map((s, i) => {
          const [status, p] = decodeFunctionResult({ abi: tidemarkEngineAbi, functionName: "oracleStatus", data: prices[i] as Hex });
          // A stale or out-of-bounds feed blocks liquidations: the numbers would mean something else.
          if (status !== 0) throw new Error(`${spec.name}: ${s} oracle status ${status} at block ${b}, not Ok`);
          return [s, p];
        }),
      ) as Record<MarketSymbol, bigint>;
      const b2 = blk as { gasUsed: Hex; transactions: unknown[]; timestamp: Hex };
      return { logs: logs as { topics: Hex[]; data: Hex; address: Address }[], gasUsed: Number(b2.gasUsed), transactions: b2.transactions.length, timestamp: Number(b2.timestamp), nav: BigInt(nav as Hex), fund: BigInt(fund as Hex), price };
    };

    const before = await read(block);
    const startPrices = before.price;
    const answers = Object.fromEntries(
      await Promise.all(
        SYMBOLS.map(async (s) => [s, BigInt(await rpc.call<Hex>("eth_call", [{ to: addresses.feeds[s], data: encodeFunctionData({ abi: feedAbi, functionName: "latestAnswer" }) }, "latest"]))] as const),
      ),
    ) as Record<MarketSymbol, bigint>;

    const totals = { badDebt: 0n, topUp: 0n, fromInsurance: 0n, fromPool: 0n, rewards: 0n, penalties: 0n, full: 0, partial: 0, others: 0 };
    const liquidatedPositions = new Set<number>();
    const timeline: BlockRecord[] = [];
    let firstUpdateBlock = -1;
    const updates: ScenarioResult["pricePath"] = [];
    const record = (b: number, r: Awaited<ReturnType<typeof read>>, extra: { update: number | null; liquidatable: number; full: number; partial: number; badDebt: bigint; underwater: bigint; mineMs?: number; keeperMs?: number; observeMs?: number }) => {
      timeline.push({
        block: b,
        offset: firstUpdateBlock < 0 ? -1 : b - firstUpdateBlock,
        update: extra.update,
        prices: Object.fromEntries(SYMBOLS.map((s) => [s, priceNum(r.price[s])])),
        open: tracked.filter((t) => t.open).length,
        liquidatable: extra.liquidatable,
        liquidationsFull: extra.full,
        liquidationsPartial: extra.partial,
        badDebtUsd: usdNum(extra.badDebt),
        unrealizedBadDebtUsd: usdNum(extra.underwater / 10n ** 12n),
        insuranceUsd: usdNum(r.fund),
        poolNavUsd: usdNum(r.nav),
        gasUsed: r.gasUsed,
        transactions: r.transactions,
        mineMs: extra.mineMs ?? 0,
        keeperMs: extra.keeperMs ?? 0,
        observeMs: extra.observeMs ?? 0,
      });
    };
    record(block, before, { update: null, liquidatable: 0, full: 0, partial: 0, badDebt: 0n, underwater: 0n });

    /** Processes block `b`: its liquidations, then the on-chain liquidatable count. */
    const observe = async (b: number, update: number | null, timing: { mineMs: number; keeperMs: () => number }, checkAll: boolean) => {
      const t0 = performance.now();
      const r = await read(b);
      // Also keeps the unchanged market's feed within its one-hour heartbeat.
      if (r.timestamp - chain.snapshotTime > 3000) throw new Error("the scenario took more than 50 minutes of chain time: the 0.5% liquidation-price band is no longer a proven bound");
      const refresh: number[] = [];
      let full = 0;
      let partial = 0;
      let badDebt = 0n;
      for (const l of r.logs) {
        let ev;
        try {
          ev = decodeEventLog({ abi: [liquidatedEvent, shortfallEvent], data: l.data, topics: l.topics as [Hex, ...Hex[]] });
        } catch {
          continue;
        }
        if (ev.eventName === "PositionLiquidated") {
          const a = ev.args as { account: Address; market: Hex; liquidator: Address; keeperReward: bigint; penalty: bigint; remainingSize: bigint };
          const i = index.get(`${a.account.toLowerCase()}:${a.market}`);
          if (i === undefined) throw new Error(`liquidation of an unknown position ${a.account}`);
          liquidatedPositions.add(i);
          totals.rewards += a.keeperReward;
          totals.penalties += a.penalty;
          if (getAddress(a.liquidator) !== KEEPER_ADDRESS) totals.others++;
          if (a.remainingSize === 0n) {
            tracked[i].open = false;
            tracked[i].closedAt = b;
            full++;
          } else {
            refresh.push(i);
            partial++;
          }
        } else {
          const a = ev.args as { badDebt: bigint; keeperTopUp: bigint; fromInsurance: bigint; fromPool: bigint };
          totals.badDebt += a.badDebt;
          badDebt += a.badDebt;
          totals.topUp += a.keeperTopUp;
          totals.fromInsurance += a.fromInsurance;
          totals.fromPool += a.fromPool;
        }
      }
      totals.full += full;
      totals.partial += partial;
      if (refresh.length > 0) {
        const h = await lensHealth(rpc, addresses.lens, refresh.map((i) => tracked[i]), b);
        refresh.forEach((i, j) => (tracked[i].liquidationPrice = h[j].liquidationPrice));
      }
      // Candidates: open positions whose liquidation price is within the band of the block's price.
      const near = tracked
        .map((t, i) => ({ t, i }))
        .filter(({ t }) => {
          if (!t.open) return false;
          const p = r.price[t.symbol];
          return t.long ? p * 10_000n < t.liquidationPrice * (10_000n + BAND_BPS) : p * 10_000n > t.liquidationPrice * (10_000n - BAND_BPS);
        });
      const flags = await liquidatableAt(rpc, addresses.engine, near.map(({ t }) => t), b);
      const liquidatable = flags.filter(Boolean).length;
      // Every underwater position is liquidatable (health factor 0): what they owe beyond their collateral.
      const due = near.filter((_, j) => flags[j]).map(({ t }) => t);
      const underwater = (await lensHealth(rpc, addresses.lens, due, b)).reduce((a, h) => (h.equity + h.closingFee < 0n ? a - (h.equity + h.closingFee) : a), 0n);
      if (checkAll) {
        // Every open position, on chain: the band must not miss any.
        const everyone = (await liquidatableAt(rpc, addresses.engine, tracked.filter((t) => t.open), b)).filter(Boolean).length;
        if (everyone !== liquidatable) throw new Error(`${spec.name}: ${everyone} positions liquidatable at block ${b}, ${liquidatable} within the liquidation-price band`);
      }
      const observeMs = Math.round(performance.now() - t0);
      return { liquidatable, commit: () => record(b, r, { update, liquidatable, full, partial, badDebt, underwater, mineMs: timing.mineMs, keeperMs: timing.keeperMs(), observeMs }) };
    };

    // Price path, then clearing.
    let step = 0;
    let lastUpdateBlock = -1;
    let lastCount = 0;
    let cleared = -1;
    for (;;) {
      const due =
        step < spec.path.length &&
        (step === 0 || (spec.cadence === "cleared" ? lastCount === 0 : block + 1 - lastUpdateBlock >= spec.cadence));
      const sent: Hex[] = [];
      if (due) {
        for (const s of spec.markets) {
          const answer = BigInt(Math.round(Number(answers[s]) * spec.path[step]));
          sent.push(await rpc.call<Hex>("eth_sendTransaction", [
            {
              from: chain.deployer,
              to: addresses.feeds[s],
              gas: toHex(300_000),
              maxFeePerGas: toHex(200n * 10n ** 9n),
              maxPriorityFeePerGas: toHex(2n * 10n ** 9n), // ahead of the keeper's 1 gwei in its block
              data: encodeFunctionData({ abi: feedAbi, functionName: "updateAnswer", args: [answer] }),
            },
          ]));
        }
      }
      const mineStart = performance.now();
      // Timestamps 12 s apart from the snapshot's: funding accrual, and so every amount, is the same on every run.
      await rpc.call("evm_mine", [toHex(chain.snapshotTime + BLOCK_SECONDS * (block + 1 - chain.snapshotBlock))]);
      const mined = performance.now();
      block++;
      for (const hash of sent) {
        const receipt = await rpc.call<{ status: Hex; blockNumber: Hex } | null>("eth_getTransactionReceipt", [hash]);
        if (receipt?.status !== "0x1" || Number(receipt.blockNumber) !== block) throw new Error(`${spec.name}: oracle update ${step} failed or missed block ${block}: ${JSON.stringify(receipt)}`);
      }
      if (due) {
        if (firstUpdateBlock < 0) firstUpdateBlock = block;
        lastUpdateBlock = block;
      }
      let keeperMs = 0;
      const [seen] = await Promise.all([
        observe(block, due ? step : null, { mineMs: Math.round(mined - mineStart), keeperMs: () => keeperMs }, due && step === 0),
        keeperProcessed(keeper, port, block).then(() => (keeperMs = Math.round(performance.now() - mined))),
      ]);
      seen.commit();
      const count = seen.liquidatable;
      lastCount = count;
      if (due) {
        updates.push({
          update: step,
          block,
          offset: block - firstUpdateBlock,
          prices: timeline.at(-1)!.prices,
          liquidatableAfter: count,
          clearedAfterBlocks: null,
        });
        step++;
      }
      const u = updates.at(-1);
      if (u && u.clearedAfterBlocks === null && count === 0) u.clearedAfterBlocks = block - u.block;
      if (step === spec.path.length && count === 0) {
        cleared = block;
        break;
      }
      if (step === spec.path.length && block - lastUpdateBlock > o.maxBlocksToClear) {
        throw new Error(`${spec.name}: ${count} positions still liquidatable ${o.maxBlocksToClear} blocks after the last update`);
      }
      if (spec.cadence === "cleared" && step < spec.path.length && block - lastUpdateBlock > o.maxBlocksToClear) {
        throw new Error(`${spec.name}: update ${step - 1} not cleared after ${o.maxBlocksToClear} blocks (${count} liquidatable)`);
      }
    }

    // Every open position, on chain, at the clearing block: the band must not have missed any.
    const pathDoneMs = Date.now() - started;
    const open = tracked.filter((t) => t.open);
    const all = (await liquidatableAt(rpc, addresses.engine, open, cleared)).filter(Boolean).length;
    if (all !== 0) throw new Error(`${spec.name}: ${all} positions liquidatable at block ${cleared} that the liquidation-price band missed`);
    const after = await read(cleared);
    // The NAV's high point, and what the pool's only LP (the deployer) could have taken out there.
    const peak = timeline.reduce((a, t) => (t.poolNavUsd > a.poolNavUsd ? t : a), timeline[0]);
    const lpCall = async (data: Hex, b: number) => BigInt(await rpc.call<Hex>("eth_call", [{ to: addresses.pool, data }, toHex(b)]));
    const availableAtPeak = await lpCall(encodeFunctionData({ abi: valueAbi, functionName: "availableLiquidity" }), peak.block);
    const lpShares = await lpCall(encodeFunctionData({ abi: valueAbi, functionName: "balanceOf", args: [chain.deployer] }), cleared);
    const lpValueAfter = await lpCall(encodeFunctionData({ abi: valueAbi, functionName: "convertToAssets", args: [lpShares] }), cleared);
    const lpValueAtPeak = await lpCall(encodeFunctionData({ abi: valueAbi, functionName: "convertToAssets", args: [lpShares] }), peak.block);
    const lpRedeemableAtPeak = lpValueAtPeak < availableAtPeak ? lpValueAtPeak : availableAtPeak;
    const worst = timeline.reduce((a, t) => (t.unrealizedBadDebtUsd > a.unrealizedBadDebtUsd ? t : a), timeline[0]);

    await stopKeeper(keeper, rpc);
    const mined = keeper.lines.filter((l) => l.msg === "liquidation mined");
    const warnings = keeper.lines.filter((l) => Number(l.level) === 40);
    const errors = keeper.lines.filter((l) => Number(l.level) >= 50);
    const messages = [...new Set([...errors, ...warnings].map((l) => String(l.msg)))].slice(0, 10);

    const lpNavChangeBps = Math.round((Number(after.nav - before.nav) / Number(before.nav)) * 1e6) / 100;
    const result: ScenarioResult = {
      name: spec.name,
      title: spec.title,
      description: spec.description,
      blocksToClear: cleared - lastUpdateBlock,
      badDebt: usdNum(totals.badDebt),
      insuranceUsed: usdNum(totals.fromInsurance),
      lpNavChangeBps,
      units: {
        badDebt: "USD (collateral token units / 1e6; the token is a 6-decimal USD stablecoin)",
        insuranceUsed: "USD: sum of ShortfallCovered.fromInsurance (bad debt and keeper top-ups the fund paid)",
        lpNavChangeBps: "basis points of the pool's totalAssets before the first update",
        blocksToClear: "blocks after the block of the last oracle update",
      },
      markets: spec.markets,
      cadence: spec.cadence,
      ...(spec.derivation ? { derivation: spec.derivation } : {}),
      ...(spec.target ? { target: spec.target, targetHolds: totals.badDebt === 0n } : {}),
      pricePath: updates,
      population: chain.summary,
      liquidations: {
        total: totals.full + totals.partial,
        full: totals.full,
        partial: totals.partial,
        positions: liquidatedPositions.size,
        byOtherLiquidators: totals.others,
        maxLiquidatable: Math.max(...timeline.map((t) => t.liquidatable)),
        maxPerBlock: Math.max(...timeline.map((t) => t.liquidationsFull + t.liquidationsPartial)),
      },
      keeperRewardsUsd: usdNum(totals.rewards),
      keeperTopUpsUsd: usdNum(totals.topUp),
      penaltiesUsd: usdNum(totals.penalties),
      poolCoveredUsd: usdNum(totals.fromPool),
      badDebtTokenUnits: totals.badDebt.toString(),
      insuranceFund: {
        beforeUsd: usdNum(before.fund),
        afterUsd: usdNum(after.fund),
        paidOutUsd: usdNum(totals.fromInsurance),
        penaltiesInUsd: usdNum(totals.penalties),
        changeUsd: usdNum(after.fund - before.fund),
      },
      lpNav: {
        beforeUsd: usdNum(before.nav),
        afterUsd: usdNum(after.nav),
        changeUsd: usdNum(after.nav - before.nav),
        peakBps: Math.round(((peak.poolNavUsd - usdNum(before.nav)) / usdNum(before.nav)) * 1e6) / 100,
        peakOffset: peak.offset,
        lpRedeemableAtPeakUsd: usdNum(lpRedeemableAtPeak),
        lpValueAtPeakUsd: usdNum(lpValueAtPeak),
        maxUnrealizedBadDebtUsd: worst.unrealizedBadDebtUsd,
        maxUnrealizedBadDebtBps: Math.round((worst.unrealizedBadDebtUsd / worst.poolNavUsd) * 1e6) / 100,
        maxUnrealizedBadDebtOffset: worst.offset,
        lpValueAfterUsd: usdNum(lpValueAfter),
      },
      maxBlocksToClearAnUpdate: updates.some((u) => u.clearedAfterBlocks === null) ? null : Math.max(...updates.map((u) => u.clearedAfterBlocks!)),
      updatesNotClearedBeforeNext: updates.filter((u) => u.clearedAfterBlocks === null).length,
      blocks: {
        first: firstUpdateBlock,
        lastUpdate: lastUpdateBlock,
        cleared,
        gasLimit: Number(o.blockGasLimit),
        maxGasUsed: Math.max(...timeline.filter((t) => t.offset >= 0).map((t) => t.gasUsed)),
        liquidationTransactions: mined.length,
      },
      keeper: { args: args.map((a) => (a === dataDir ? "<temporary directory>" : a)), transactionsMined: mined.length, warnings: warnings.length, errors: errors.length, messages },
      durationMs: Date.now() - started,
      durations: {
        keeperStartMs,
        pathMs: pathDoneMs - keeperStartMs,
        mineMs: timeline.reduce((a, t) => a + t.mineMs, 0),
        keeperMs: timeline.reduce((a, t) => a + t.keeperMs, 0),
        observeMs: timeline.reduce((a, t) => a + t.observeMs, 0),
        finishMs: Date.now() - started - pathDoneMs,
      },
      chart: join(o.chartDir, `${spec.name}.svg`),
      timeline,
    };
    mkdirSync(o.chartDir, { recursive: true });
    writeFileSync(result.chart, scenarioChart(result, startPrices));
    log(
      `${spec.name}: cleared ${result.blocksToClear} blocks after the last update; ${result.liquidations.total} liquidations (${result.liquidations.partial} partial); bad debt $${result.badDebt.toLocaleString("en-US")}; insurance paid $${result.insuranceUsed.toLocaleString("en-US")}; LP NAV ${lpNavChangeBps >= 0 ? "+" : ""}${lpNavChangeBps} bps (${(result.durationMs / 1000).toFixed(1)} s)`,
    );
    return result;
  } finally {
    if (keeper.child.exitCode === null) keeper.child.kill("SIGKILL");
    children.delete(keeper.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** SIGTERM, then a block every 200 ms until the keeper exits (it waits for the receipts of anything in flight). */
async function stopKeeper(k: KeeperProcess, rpc: Rpc) {
  k.child.kill("SIGTERM");
  const deadline = Date.now() + 40_000;
  while (k.child.exitCode === null && Date.now() < deadline) {
    await rpc.call("evm_mine");
    await Promise.race([k.exited, new Promise((r) => setTimeout(r, 200))]);
  }
  if (k.child.exitCode === null) k.child.kill("SIGKILL");
  await k.exited;
}

/* ------------------------------------------------------------------------------------------------------ main */

/**
 * Runs the crash scenarios on one `hardhat node` child process (one deployment and population, `evm_revert` before
 * each scenario), writes one SVG chart per scenario to `chartDir`, and returns the results. Child processes are killed
 * on any error. Call it once per `hardhat run` process.
 */
export async function runScenarios(opts: ScenarioOptions = {}): Promise<ScenarioResult[]> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`[scenarios] ${s}\n`));
  const o = {
    positions: opts.positions ?? 2_000,
    seed: opts.seed ?? 2026,
    poolUsd: opts.poolUsd ?? 100_000_000,
    insuranceUsd: opts.insuranceUsd ?? 1_000_000,
    blockGasLimit: opts.blockGasLimit ?? 30_000_000n,
    keeperArgs: opts.keeperArgs ?? [],
    chartDir: resolve(opts.chartDir ?? join(ROOT, "docs", "bench")),
    maxBlocksToClear: opts.maxBlocksToClear ?? 300,
  };
  const started = Date.now();
  process.once("exit", killChildren);
  const onSignal = (signal: NodeJS.Signals) => {
    killChildren();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const chain = await setUpChain(o, log);
  try {
    const step = smallStepDerivation(chain.markets);
    const specs = (opts.scenarios ?? defaultScenarios)(step).filter((s) => opts.only === undefined || opts.only.includes(s.name));
    if (specs.length === 0) throw new Error(`no scenario named ${opts.only?.join(", ")}`);
    const results: ScenarioResult[] = [];
    for (const spec of specs) results.push(await runScenario(chain, spec, o, log));
    for (const r of results) r.chart = relative(ROOT, r.chart);
    log(`all scenarios in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return results;
  } finally {
    await chain.close();
    killChildren();
    process.removeListener("exit", killChildren);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

/* ----------------------------------------------------------------------------------------------------- chart */

/** The keeper's flags other than endpoint, addresses and data directory. */
const keeperFlags = (args: readonly string[]) => {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 2) if (!["--rpc-url", "--engine", "--lens", "--data-dir"].includes(args[i])) out.push(args[i], args[i + 1]);
  return out.join(" ");
};

const COLORS: Record<string, string> = { "ETH-USD": "#3b6fd8", "BTC-USD": "#e08a1e" };

function scenarioChart(r: ScenarioResult, startPrices: Record<MarketSymbol, bigint>): string {
  const t = r.timeline;
  const x = (b: BlockRecord) => b.offset;
  const usdM = (v: number) => v / 1e6;
  let full = 0;
  let partial = 0;
  let debt = 0;
  const cumulative = t.map((b) => {
    full += b.liquidationsFull;
    partial += b.liquidationsPartial;
    debt += b.badDebtUsd;
    return { b, full, partial, debt };
  });
  const navBefore = r.lpNav.beforeUsd;
  const priceSeries: Series[] = SYMBOLS.map((s, i) => ({
    name: `${s}${r.markets.includes(s) ? "" : " (unchanged)"}`,
    color: COLORS[s],
    kind: "step",
    size: i === 0 ? 4 : 2, // the first drawn wider: the lines coincide when both markets move alike
    dash: !r.markets.includes(s),
    points: t.map((b) => [x(b), (b.prices[s] / priceNum(startPrices[s]) - 1) * 100] as const),
  }));
  const fmtUsd = (v: number) => `$${v.toLocaleString("en-US", { maximumFractionDigits: 0 })}`;
  return renderChart({
    title: `${r.title}: ${r.population.positions.toLocaleString("en-US")} positions`,
    subtitle: `blocks to clear ${r.blocksToClear} · liquidations ${r.liquidations.total} (${r.liquidations.partial} partial) · bad debt ${fmtUsd(r.badDebt)} · insurance paid ${fmtUsd(r.insuranceUsed)} · LP NAV ${r.lpNavChangeBps >= 0 ? "+" : ""}${r.lpNavChangeBps} bps`,
    xLabel: "block (0 = first oracle update)",
    markers: r.pricePath.length <= 25 ? r.pricePath.map((u) => ({ x: u.offset })) : [],
    note: [
      `Keeper: node keeper/src/cli.ts ${keeperFlags(r.keeper.args)} (defaults otherwise: batch size 20, 4 in flight).`,
      `A block is mined once the keeper has processed the previous one; block gas limit ${(r.blocks.gasLimit / 1e6).toFixed(0)}M; 12 s timestamps.${r.pricePath.length <= 25 ? " Dashed red lines: oracle updates." : ""}`,
    ],
    panels: [
      { title: "Oracle price", yLabel: "% vs. start", series: priceSeries, zero: true, yFormat: (v) => `${v > 0 ? "+" : ""}${compact(v)}%`, height: 150 },
      {
        title: "Positions",
        yLabel: "positions",
        zero: true,
        series: [
          { name: "liquidatable (end of block)", color: "#c0392b", kind: "step", points: t.map((b) => [x(b), b.liquidatable] as const) },
          { name: "liquidated, full (cumulative)", color: "#333", points: cumulative.map((c) => [x(c.b), c.full] as const) },
          { name: "liquidated, partial (cumulative)", color: "#8e44ad", dash: true, points: cumulative.map((c) => [x(c.b), c.partial] as const) },
        ],
      },
      {
        title: "Insurance fund and bad debt",
        yLabel: "USD millions",
        zero: true,
        yFormat: (v) => `${compact(v)}M`,
        series: [
          { name: "insurance fund balance", color: "#27ae60", kind: "step", points: t.map((b) => [x(b), usdM(b.insuranceUsd)] as const) },
          { name: "bad debt (cumulative)", color: "#c0392b", kind: "step", dash: true, points: cumulative.map((c) => [x(c.b), usdM(c.debt)] as const) },
          { name: "unliquidated shortfall", color: "#e67e22", kind: "step", points: t.map((b) => [x(b), usdM(b.unrealizedBadDebtUsd)] as const) },
        ],
      },
      {
        title: "LP pool NAV (totalAssets, marked to market)",
        yLabel: "bps vs. before",
        zero: true,
        height: 130,
        series: [{ name: "NAV change", color: "#16a085", kind: "step", points: t.map((b) => [x(b), ((b.poolNavUsd - navBefore) / navBefore) * 10_000] as const) }],
        legend: [
          { label: "NAV change", color: "#16a085", kind: "line" },
          { label: `peak ${r.lpNav.peakBps >= 0 ? "+" : ""}${r.lpNav.peakBps} bps`, kind: "text" },
          { label: `end ${r.lpNavChangeBps >= 0 ? "+" : ""}${r.lpNavChangeBps} bps`, kind: "text" },
        ],
      },
    ],
  });
}

/* -------------------------------------------------------------------------------------------------- markdown */

/** A markdown section for docs/benchmarks.md: the setup, a table of the results and a chart per scenario. */
export function renderScenarios(results: readonly ScenarioResult[]): string {
  if (results.length === 0) return "## Crash scenarios\n\nNo results.\n";
  const p = results[0].population;
  const usd = (v: number) => `$${v.toLocaleString("en-US", { maximumFractionDigits: 0 })}`;
  const bps = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(1)}`;
  const lines = [
    "## Crash scenarios",
    "",
    `${p.positions.toLocaleString("en-US")} positions of ${p.traders.toLocaleString("en-US")} traders on the two local markets (TidemarkLocal Ignition module: ` +
      `ETH-USD and BTC-USD, tiers with MMR 0.5% / 1% / 1.25% / 2.5%, price impact and funding on), ` +
      `${p.longs.toLocaleString("en-US")} long and ${p.shorts.toLocaleString("en-US")} short, ${usd(p.notionalUsd)} notional ` +
      `(${Object.entries(p.byMarket).map(([s, m]) => `${s} ${m.positions}: ${m.longs} long, ${m.shorts} short, ${usd(m.notionalUsd)}`).join("; ")}), ` +
      `leverage 2x to 50x clamped to each notional's tiers (${Object.entries(p.byLeverage).map(([k, v]) => `${k}: ${v}`).join(", ")}), ` +
      `notional by margin tier ${p.byTier.join(" / ")}. Pool ${usd(p.poolUsd)}, insurance fund ${usd(p.insuranceUsd)}. ` +
      `The positions are opened with real \`modifyPosition\` transactions (impersonated traders, free balances written to storage; ${(p.openMs / 1000).toFixed(0)} s).`,
    "",
    "Each scenario starts from the same snapshot and runs the keeper CLI (`node keeper/src/cli.ts`, default batch size 20 and 4 transactions in flight, " +
      "50 ms polling) against a `hardhat node` child process with automine off: a block is mined once the keeper has processed the previous one " +
      `(a block time long enough for the keeper, as on Ethereum), block gas limit ${(results[0].blocks.gasLimit / 1e6).toFixed(0)}M. ` +
      "The liquidatable count is read on chain at every block (`engine.isLiquidatable` at that block for every open position within 0.5% of its exact " +
      "liquidation price, all open positions at the end).",
    "",
    "- **blocks to clear**: from the block of the last oracle update to the first block at whose end no position has health factor below 1.",
    "- **bad debt**: sum of `badDebt` in `ShortfallCovered`, USD.",
    "- **insurance used**: what the insurance fund paid out (`fromInsurance`: bad debt and keeper minimum-reward top-ups), USD; the fund's net change includes the penalties it received.",
    "- **LP NAV**: change of the pool's `totalAssets` (marked to market) from before the first update to the clearing block, basis points.",
    "",
    "| scenario | updates | blocks to clear | slowest update | liquidations (partial) | bad debt | insurance used | pool covered | LP NAV, bps: end (peak) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.title} | ${r.pricePath.length} | ${r.blocksToClear} | ${r.maxBlocksToClearAnUpdate ?? `${r.updatesNotClearedBeforeNext} not cleared before the next`} | ${r.liquidations.total} (${r.liquidations.partial}) | ${usd(r.badDebt)} | ${usd(r.insuranceUsed)} | ${usd(r.poolCoveredUsd)} | ${bps(r.lpNavChangeBps)} (${bps(r.lpNav.peakBps)}) |`,
    ),
    "",
    "\"Slowest update\": the most blocks any one update took to clear; \"not cleared\" counts updates that arrived while positions from the previous one were still liquidatable.",
    "",
  ];
  for (const r of results) {
    lines.push(`### ${r.title}`, "", r.description, "");
    if (r.derivation) lines.push(`Step size: ${r.derivation}`, "");
    if (r.target) lines.push(`Target — ${r.target}: **${r.targetHolds ? "holds" : "does not hold"}** (bad debt ${usd(r.badDebt)}).`, "");
    lines.push(
      `Most liquidatable at once: ${r.liquidations.maxLiquidatable}; most liquidated in one block: ${r.liquidations.maxPerBlock}; ` +
        `${r.blocks.liquidationTransactions} liquidation transactions, largest block ${(r.blocks.maxGasUsed / 1e6).toFixed(1)}M gas of ${(r.blocks.gasLimit / 1e6).toFixed(0)}M. ` +
        `Keeper rewards ${usd(r.keeperRewardsUsd)} (of which topped up ${usd(r.keeperTopUpsUsd)}), penalties to the insurance fund ${usd(r.penaltiesUsd)}; ` +
        `insurance fund ${usd(r.insuranceFund.beforeUsd)} → ${usd(r.insuranceFund.afterUsd)}; pool NAV ${usd(r.lpNav.beforeUsd)} → ${usd(r.lpNav.afterUsd)}.`,
      "",
    );
    if (r.lpNav.maxUnrealizedBadDebtBps >= 1) {
      const single = r.pricePath.length === 1
        ? ` With the price flat after the update, a redemption fulfilled at the NAV's peak (block ${r.lpNav.peakOffset}) was paid ` +
          `${((r.lpNav.lpValueAtPeakUsd / r.lpNav.lpValueAfterUsd - 1) * 100).toFixed(1)}% more than its shares were worth once the positions were cleared, ` +
          `and up to ${usd(r.lpNav.lpRedeemableAtPeakUsd)} (the pool's available liquidity) could have left at that price, at the expense of the LPs who stay.`
        : "";
      lines.push(
        `Before the keeper reached them, underwater positions owed up to ${usd(r.lpNav.maxUnrealizedBadDebtUsd)} beyond their collateral ` +
          `(block ${r.lpNav.maxUnrealizedBadDebtOffset}, ${r.lpNav.maxUnrealizedBadDebtBps.toFixed(1)} bps of the NAV): the mark to market counts a position's whole loss ` +
          `as the pool's until liquidation realises the shortfall as bad debt, so the NAV ran ahead of what the pool will collect.${single}`,
        "",
      );
    }
    lines.push(`![${r.title}](bench/${r.name}.svg)`, "");
  }
  return lines.join("\n");
}

