/**
 * Keeper benchmarks for `npm run bench` (measured, never asserted; they throw when the keeper misses a liquidation or
 * a trial times out, rather than report a figure that means nothing). Needs the Hardhat runtime (`network.create`):
 * call `benchKeeper()` from a script run by `hardhat run`; `npm run bench:keeper` runs it alone and prints the JSON.
 *
 * Set-up: a `hardhat node` child process with the test fixture's protocol, a 100 M USD pool and a third market
 * (TRIAL-USD) for the delay trials. Positions are real engine positions, each opened by one `modifyPosition`
 * transaction, one per block (automine); the traders are impersonated and their free balances written to the
 * engine's storage (the engine is minted the same tokens), which saves four transactions per trader.
 *
 * 1. Scan (`keeperScanSeconds1k`, `keeperScanSeconds10k`). The keeper CLI indexes the positions from block 0 as an
 *    operator would start it (timed: `keeperIndexSeconds*`), and is stopped, saving its index. That index is loaded
 *    with the keeper's own modules (store.ts, indexer.ts, markets.ts, scanner.ts), the ETH feed falls 5%, and each scan
 *    is what the keeper does per block: every market's snapshot over HTTP JSON-RPC, then every position's health with
 *    the SDK's exact math, yielding the liquidatable list, most urgent first. Median of 11 scans, each at a newly
 *    mined block; the RPC and math parts are reported apart, and the last scan is checked against the lens
 *    (`healthBatch`) position by position.
 * 2. Oracle update to liquidation (`liquidationDelayMs*`, `liquidationDelayBlocks*`). The keeper CLI runs (100 ms
 *    polling) over the 10,000 positions plus 50 trial positions on TRIAL-USD, whose liquidation prices are about
 *    5 USD apart. Blocks come from interval mining (automine off, a block every second). Each trial moves the TRIAL
 *    feed halfway between one trial position's liquidation price and the next one's, so exactly that position
 *    becomes liquidatable; the next trial's update goes out once the keeper has sent the liquidation. The delay runs
 *    from the block holding the oracle update to the block holding the liquidation, in blocks and in milliseconds
 *    between the node's `newHeads` announcements of the two blocks (WebSocket). Every trial position must be
 *    liquidated exactly once, by the keeper, and nothing else.
 * 3. Memory (`keeperRssMb10k`, `keeperRssMb100k`): scripts/bench/keeper-rss.ts in a fresh Node process per size fills
 *    the keeper's store with generated positions (no chain), runs the per-block work over it, collects garbage and
 *    reports the resident set.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { pino } from "pino";
import {
  type Address,
  type Hex,
  type PublicClient,
  createPublicClient,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  http,
  keccak256,
  parseAbi,
  toHex,
} from "viem";

import { getPositions, marketId, tidemarkEngineAbi, type TidemarkAddresses } from "@tidemark/sdk";

import { OPTIONS } from "../../keeper/src/config.ts";
import { createIndexer } from "../../keeper/src/indexer.ts";
import { createLogger } from "../../keeper/src/log.ts";
import { createMarkets } from "../../keeper/src/markets.ts";
import { byUrgency, scan } from "../../keeper/src/scanner.ts";
import { loadState, statePath } from "../../keeper/src/store.ts";
import { KEEPER_KEYS, type KeeperProcess, startKeeperProcess } from "../../test/ts/keeper/harness.ts";
import { BTC, ETH, EXPOSURE_PARAMS, FEED_DECIMALS, RISK_PARAMS, TIERS, deployProtocol, oracleConfig, usd } from "../../test/ts/helpers/fixture.ts";
import { lpDeposit } from "../../test/ts/helpers/flows.ts";
import { ROOT, freePort, startNode } from "../../test/ts/helpers/node.ts";
import { findFreeBalanceSlot, mappingKey } from "../lib/population.ts";
import { type Rpc, type RpcRequest, createRpc } from "../lib/rpc.ts";
import { rng } from "../lib/rng.ts";

export type KeeperBenchOptions = {
  /** Positions of the small and the large scan (default 1,000 and 10,000). */
  scanSizes?: readonly [number, number];
  /** Scans per size; the median is reported (default 11). */
  scans?: number;
  /** Oracle-update-to-liquidation trials (default 50). */
  trials?: number;
  /** Interval mining period during the trials, ms (default 1,000). */
  intervalMs?: number;
  /** The keeper's --polling-interval during the trials, ms (default 100). */
  pollingIntervalMs?: number;
  /** Synthetic index sizes of the memory measurements (default 10,000 and 100,000). */
  rssSizes?: readonly [number, number];
  /** ETH feed fall before the scans, percent, so the liquidatable list is not empty (default 5). */
  crashPct?: number;
  /** NODE_OPTIONS for the keeper processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them. */
  keeperNodeOptions?: string;
  /** Progress lines (default: to stderr). */
  log?: (line: string) => void;
};

export type KeeperBench = {
  /** Median seconds of one per-block scan of 1,000 / 10,000 positions (market snapshots over JSON-RPC + health math). */
  keeperScanSeconds1k: number;
  keeperScanSeconds10k: number;
  /** The keeper CLI's initial indexing of those positions from block 0, seconds. */
  keeperIndexSeconds1k: number;
  keeperIndexSeconds10k: number;
  /** Oracle-update block to liquidation block, wall-clock ms (median and 95th percentile, nearest rank). */
  liquidationDelayMsMedian: number;
  liquidationDelayMsP95: number;
  /** Liquidation block number minus oracle-update block number. */
  liquidationDelayBlocksMedian: number;
  liquidationDelayBlocksMax: number;
  /** Trials per block delta, e.g. {"1": 50}. */
  liquidationDelayBlocksHistogram: Record<string, number>;
  liquidationDelayTrials: number;
  /** How blocks were produced during the trials. */
  liquidationDelayMining: string;
  /** Resident set of a keeper process with a synthetic index of 10,000 / 100,000 positions after GC, MiB (2^20 bytes). */
  keeperRssMb10k: number;
  keeperRssMb100k: number;
  /** Everything behind the figures above. */
  keeperBenchDetail: KeeperBenchDetail;
};

export type ScanDetail = {
  positions: number;
  scans: number;
  /** Median, min and max seconds of a whole scan. */
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  /** Median ms of its two parts: the market snapshots (JSON-RPC, 2 calls per market) and the health math. */
  snapshotRpcMsMedian: number;
  healthMathMsMedian: number;
  /** Median ms of the indexer's per-block catch-up on an empty block (checkpoint hash check, eth_getLogs); not in the scan. */
  blockSyncMsMedian: number;
  /** Markets listed (snapshots read). */
  markets: number;
  /** Liquidatable positions the scan yields after the ETH crash, checked against the lens. */
  liquidatable: number;
  /**
   * The keeper process's initial indexing from block 0 (its "keeper starting" to "index in sync" log lines: events,
   * getPosition re-reads, lens reconcile, state file), and from spawn to in sync.
   */
  keeperIndexSeconds: number;
  keeperStartupSeconds: number;
  /** Blocks on the chain at the scan (the positions were opened one per block). */
  blocks: number;
};

export type KeeperBenchDetail = {
  scan1k: ScanDetail;
  scan10k: ScanDetail;
  /** Seconds to open the positions on the node (setup, not a keeper figure). */
  openSeconds: number;
  delay: {
    trials: number;
    /** Block production during the trials. */
    mining: string;
    intervalMs: number;
    keeperPollingIntervalMs: number;
    /** Positions the keeper process tracked during the trials (population + trial positions). */
    trackedPositions: number;
    msMedian: number;
    msP95: number;
    msMin: number;
    msMax: number;
    /** Liquidation block minus oracle-update block. */
    blocksMedian: number;
    blocksMax: number;
    blocksMin: number;
    /** Trials per block delta, e.g. {"1": 50}. */
    blocksHistogram: Record<string, number>;
    /** Oracle-update block first seen to the keeper logging "liquidation sent", ms: its reaction within the block. */
    reactionMsMedian: number;
    reactionMsP95: number;
    reactionMsMax: number;
    /** Trials whose "liquidation sent" line was matched to the mined transaction (all, unless a send was replaced). */
    reactionSamples: number;
    /** Trials whose oracle update shared a block with the previous trial's liquidation. */
    updatesInPreviousLiquidationBlock: number;
    /** Seconds the trials took. */
    seconds: number;
    /** Keeper log lines at warn level or above during the trials. */
    keeperWarnings: number;
    keeperErrors: number;
  };
  rss: {
    /** RSS after GC with the keeper's modules loaded and an empty store, MiB. */
    baselineMb: number;
    /** V8 heap in use after GC, MiB. */
    heapUsedMb10k: number;
    heapUsedMb100k: number;
  };
  totalSeconds: number;
};

/* ------------------------------------------------------------------ helpers */

const WAD = 10n ** 18n;
const TRIAL = marketId("TRIAL-USD");
const TRIAL_PRICE = 1000n;
const mockErc20Abi = parseAbi(["function mint(address to, uint256 amount)"]);
const aggregatorAbi = parseAbi(["function updateAnswer(int256 answer)"]);

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Nearest-rank percentile. */
const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
};
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (x: bigint | number) => toHex(x);

/** Child processes to kill if this process is interrupted or exits while they run. */
const children = new Set<ChildProcess>();
const killChildren = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
};
function track(c: ChildProcess) {
  children.add(c);
  c.once("exit", () => children.delete(c));
  return c;
}
async function stopChild(c: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000) {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once("exit", () => r()));
  c.kill(signal);
  const timer = setTimeout(() => c.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/* ------------------------------------------------------------------- chain */

type BenchChain = Awaited<ReturnType<typeof startBenchChain>>;

/** `hardhat node` with the fixture protocol, deeper pool liquidity, and the engine's free-balance storage slot. */
async function startBenchChain(say: (s: string) => void) {
  const port = await freePort();
  const node = track(await startNode(port));
  const rpcUrl = `http://127.0.0.1:${port}`;
  try {
    const { network } = await import("hardhat");
    const conn = await network.create({ network: "localhost", override: { url: rpcUrl } });
    const p = await deployProtocol(conn.ethers);
    const rpc = createRpc(rpcUrl);
    // 100 M USD of pool liquidity: the open-interest caps (10 x pool assets per side) then allow the population. An
    // ERC-7540 request the LP fulfils itself after the minimum delay (its execution fee comes back), then claims.
    await (await p.token.mint(p.lp.address, usd(100_000_000) + (await p.engine.requiredExecutionFee()))).wait();
    await lpDeposit(conn.ethers, p.pool, p.engine, p.lp, usd(100_000_000));
    const engine = (await p.engine.getAddress()) as Address;
    const freeSlot = await findFreeBalanceSlot(rpc, engine);
    const ethFeed = (await p.ethFeed.getAddress()) as Address;
    say(`hardhat node on ${rpcUrl}, protocol deployed, free-balance mapping at slot ${freeSlot}`);
    return {
      node,
      rpcUrl,
      conn,
      p,
      rpc,
      freeSlot,
      addresses: {
        engine,
        lens: (await p.lens.getAddress()) as Address,
        pool: (await p.pool.getAddress()) as Address,
        collateralToken: (await p.token.getAddress()) as Address,
      } satisfies TidemarkAddresses,
      deployer: p.deployer.address as Address,
      ethFeed,
      /** Every mock feed and its current answer (8 decimals), refreshed while positions are opened. */
      feeds: new Map<Address, bigint>([
        [ethFeed, 3000n * 10n ** 8n],
        [(await p.btcFeed.getAddress()) as Address, 60_000n * 10n ** 8n],
      ]),
    };
  } catch (err) {
    await stopChild(node, "SIGKILL");
    throw err;
  }
}

type Trade = { account: Address; market: Hex; size: bigint; collateral: bigint; acceptablePrice: bigint };

/**
 * Opens `trades` as real engine positions, one `modifyPosition` each, the way an operator's chain would see them
 * (one transaction per block, automine): every account is impersonated, given gas money, and credited its free
 * balance by writing the engine's `_freeBalances` slot (the engine is minted the same amount of collateral tokens, so
 * it stays solvent), then the trades go out in JSON-RPC batches. The node's request logging is off meanwhile (it
 * makes this about 4 times slower), and every feed is refreshed every 1,000 blocks and at the end: each block advances the chain's
 * clock by at least a second, and the feeds' heartbeat is an hour. Every receipt must succeed. Returns the number of
 */
async function openTrades(chain: BenchChain, trades: readonly Trade[]): Promise<void> {
  const { rpc, addresses } = chain;
  const free = new Map<Address, bigint>();
  for (const t of trades) {
    const notional = (abs(t.size) * (t.market === BTC ? 60_000n : t.market === ETH ? 3_000n : TRIAL_PRICE)) / WAD; // USD
    // Collateral plus the opening fee (5 bp) with room to spare.
    free.set(t.account, (free.get(t.account) ?? 0n) + t.collateral + usd(Number(notional / 1000n + 10n)));
  }
  const accounts = [...free.keys()];
  const keys = accounts.map((a) => mappingKey(a, chain.freeSlot));
  await rpc.call("hardhat_setLoggingEnabled", [false]);
  try {
    const current = await rpc.batch<Hex>(keys.map((k) => ({ method: "eth_getStorageAt", params: [addresses.engine, k, "latest"] })));
    const setup: RpcRequest[] = [];
    let total = 0n;
    for (const [i, account] of accounts.entries()) {
      const amount = free.get(account)!;
      total += amount;
      setup.push(
        { method: "hardhat_impersonateAccount", params: [account] },
        { method: "hardhat_setBalance", params: [account, hex(10n ** 21n)] },
        { method: "hardhat_setStorageAt", params: [addresses.engine, keys[i], toHex(BigInt(current[i]) + amount, { size: 32 })] },
      );
    }
    await rpc.batch(setup);
    const mint = encodeFunctionData({ abi: mockErc20Abi, functionName: "mint", args: [addresses.engine, total] });
    await receiptsOk(rpc, [await rpc.call<Hex>("eth_sendTransaction", [{ from: chain.deployer, to: addresses.collateralToken, data: mint }])]);

    const requests: RpcRequest[] = [];
    const refresh = () => {
      for (const [feed, answer] of chain.feeds) requests.push(feedAnswerRequest(chain, feed, answer));
    };
    for (const [i, t] of trades.entries()) {
      if (i > 0 && i % 1000 === 0) refresh();
      const data = encodeFunctionData({ abi: tidemarkEngineAbi, functionName: "modifyPosition", args: [t.market, t.size, t.collateral, t.acceptablePrice] });
      requests.push({ method: "eth_sendTransaction", params: [{ from: t.account, to: addresses.engine, data, gas: hex(1_000_000n) }] });
    }
    refresh();
    await receiptsOk(rpc, await rpc.batch<Hex>(requests));
    await rpc.batch(accounts.map((a) => ({ method: "hardhat_stopImpersonatingAccount", params: [a] })));
  } finally {
    await rpc.call("hardhat_setLoggingEnabled", [true]);
  }
}

function abs(x: bigint) {
  return x < 0n ? -x : x;
}

/** Throws unless every transaction was mined and succeeded. */
async function receiptsOk(rpc: Rpc, hashes: readonly Hex[]) {
  const receipts = await rpc.batch<{ status: Hex; blockNumber: Hex } | null>(hashes.map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })));
  const bad = receipts.findIndex((r) => r === null || r.status !== "0x1");
  if (bad >= 0) {
    throw new Error(`transaction ${hashes[bad]} ${receipts[bad] === null ? "was not mined" : "reverted"} (${receipts.filter((r) => r?.status !== "0x1").length} of ${hashes.length} failed)`);
  }
  return receipts as { status: Hex; blockNumber: Hex }[];
}

/**
 * The population, like the keeper end-to-end tests': per account an ETH and a BTC position, 300 to 24,300 USD, 70%
 * long, 3x to 60x leverage, and every fourth account's ETH position large (20k to 24k USD) at 9.6x.
 */
function population(accounts: number, from: number, seed: number): Trade[] {
  const random = rng(seed);
  const out: Trade[] = [];
  for (let i = from; i < from + accounts; i++) {
    const account = getAddress(keccak256(toHex(`tidemark-bench-trader-${i}`)).slice(0, 42));
    for (const [market, price] of [
      [ETH, 3000],
      [BTC, 60_000],
    ] as const) {
      let notional = 300 + Math.floor(random() * 24_000);
      let long = random() < 0.7;
      let collateral = usd(Math.ceil(notional / (3 + random() * 57)) + 2);
      if (i % 4 === 0 && market === ETH) {
        notional = 20_000 + Math.floor(random() * 4_000);
        long = true;
        collateral = usd(Math.ceil(notional * 0.1043));
      }
      const size = (BigInt(notional) * WAD) / BigInt(price);
      out.push({ account, market: market as Hex, size: long ? size : -size, collateral, acceptablePrice: long ? BigInt(price * 2) * WAD : 0n });
    }
  }
  return out;
}

function feedAnswerRequest(chain: BenchChain, feed: Address, answer: bigint): RpcRequest {
  chain.feeds.set(feed, answer);
  const data = encodeFunctionData({ abi: aggregatorAbi, functionName: "updateAnswer", args: [answer] });
  return { method: "eth_sendTransaction", params: [{ from: chain.deployer, to: feed, gas: hex(200_000n), data }] };
}

/** Sends a new answer to a mock feed; returns the transaction hash (mined at once under automine, else pending). */
async function sendFeedAnswer(chain: BenchChain, feed: Address, answer: bigint): Promise<Hex> {
  const r = feedAnswerRequest(chain, feed, answer);
  return chain.rpc.call<Hex>(r.method, r.params);
}

/* -------------------------------------------------------------------- scan */

const stderrLogger = () => createLogger("warn", pino.destination({ dest: 2, sync: true }));

/** A keeper process (`node keeper/src/cli.ts`) with its start-up timings. */
type RunningKeeper = {
  k: KeeperProcess;
  /** Positions in the index when it logged "index in sync". */
  tracked: number;
  /** From its "keeper starting" to its "index in sync" log line: the initial indexing (events, getPosition re-reads, lens reconcile, state file). */
  indexSeconds: number;
  /** From spawn to "index in sync" (adds Node start-up and module loading). */
  startupSeconds: number;
};

/** Starts the keeper CLI against the chain, as an operator would, and waits until its index is in sync. */
async function startKeeper(chain: BenchChain, dataDir: string, extra: string[], nodeOptions = ""): Promise<RunningKeeper> {
  // Nothing from the caller's environment or a config file may change the keeper measured: every TIDEMARK_* option
  // variable is blanked (the keeper ignores empty ones) and --config names an empty file.
  const config = join(dataDir, "bench-keeper-config.json");
  await writeFile(config, "{}\n");
  const env: Record<string, string> = Object.fromEntries(Object.values(OPTIONS).map((o) => [o.env, ""]));
  const spawned = performance.now();
  const k = startKeeperProcess(
    [
      "--config", config,
      "--rpc-url", chain.rpcUrl,
      "--engine", chain.addresses.engine,
      "--lens", chain.addresses.lens,
      "--data-dir", dataDir,
      "--metrics-port", "0",
      "--max-head-lag", "3600",
      ...extra,
    ],
    { ...env, TIDEMARK_KEEPER_KEYSTORE: "", TIDEMARK_KEEPER_PRIVATE_KEY: KEEPER_KEYS[0], NODE_OPTIONS: nodeOptions },
  );
  track(k.child);
  try {
    const starting = await k.waitFor("keeper starting", 60_000);
    const inSync = await k.waitFor("index in sync", 600_000);
    // The CLI installs its SIGTERM handler (save the index, exit 0) just after this line.
    await k.waitFor("serving /metrics and /healthz", 60_000);
    await sleep(100);
    return {
      k,
      tracked: Number(inSync.tracked),
      indexSeconds: (Date.parse(inSync.time as string) - Date.parse(starting.time as string)) / 1000,
      startupSeconds: (performance.now() - spawned) / 1000,
    };
  } catch (err) {
    await stopChild(k.child, "SIGKILL");
    throw err;
  }
}

/** Stops a keeper with SIGTERM (it saves its index and exits 0); throws on any other exit. */
async function stopKeeper(k: KeeperProcess) {
  await stopChild(k.child, "SIGTERM", 60_000);
  const code = await k.exited;
  if (code !== 0) throw new Error(`keeper exited with ${code}:\n${k.stderr()}`);
}

/**
 * The per-block scan, with the keeper's own modules: the index the keeper process saved in `dataDir` is loaded
 * (store.ts, the restart path) and brought to the head (indexer.ts), the ETH feed crashes by `crashPct`, then `scans`
 * times, each at a freshly mined block: the indexer's per-block catch-up (timed apart), the market snapshots over
 * JSON-RPC (markets.ts) and the health of every position (scanner.ts), filtered to the liquidatable ones and sorted by
 * urgency. The last scan is checked against the lens position by position.
 */
async function measureScan(
  chain: BenchChain,
  o: { dataDir: string; expected: number; scans: number; crashPct: bigint; index: RunningKeeper },
): Promise<ScanDetail> {
  // The keeper's own transport settings (keeper.ts).
  const client = createPublicClient({ transport: http(chain.rpcUrl, { timeout: 15_000, retryCount: 3 }) }) as PublicClient;
  const log = stderrLogger();
  const chainId = await client.getChainId();
  const state = loadState(statePath(o.dataDir, chainId, chain.addresses.engine, { index: 0, count: 1 }), chainId, chain.addresses.engine);
  if (state === null) throw new Error(`no keeper state in ${o.dataDir}`);
  const markets = createMarkets(client, chain.addresses);
  const indexer = createIndexer({ client, addresses: chain.addresses, startBlock: 0n, maxBlockRange: 2000, state, log });
  const ethCrash = ((3000n * (100n - o.crashPct)) / 100n) * 10n ** BigInt(FEED_DECIMALS);
  await receiptsOk(chain.rpc, [await sendFeedAnswer(chain, chain.ethFeed, ethCrash)]);
  const head = await client.getBlock({ blockTag: "latest" });
  await markets.reload(head.number);
  await indexer.sync(head.number, head.hash);
  if (state.positions.size !== o.expected) throw new Error(`the keeper's index holds ${state.positions.size} positions, expected ${o.expected}`);

  const scale = 10n ** 12n; // the fixture's 6-decimal collateral token
  const whole: number[] = [];
  const rpcMs: number[] = [];
  const mathMs: number[] = [];
  const syncMs: number[] = [];
  let last: ReturnType<typeof scan> = [];
  let liquidatable: ReturnType<typeof scan> = [];
  let lastBlock = head.number;
  for (let i = 0; i < o.scans; i++) {
    await chain.rpc.call("evm_mine");
    const block = await client.getBlock({ blockTag: "latest" });
    const s0 = performance.now();
    await indexer.sync(block.number, block.hash);
    const s1 = performance.now();
    const snapshot = await markets.snapshot(block.number);
    const s2 = performance.now();
    last = scan(state.positions, snapshot, scale);
    liquidatable = last.filter((s) => s.liquidatable).sort(byUrgency);
    const s3 = performance.now();
    syncMs.push(s1 - s0);
    rpcMs.push(s2 - s1);
    mathMs.push(s3 - s2);
    whole.push((s3 - s1) / 1000);
    lastBlock = block.number;
  }

  // The scan's verdict, position by position, against the engine's own view through the lens at the same block.
  const lens = await getPositions(client, {
    addresses: chain.addresses,
    positions: last.map((s) => ({ account: s.position.account, market: s.position.market })),
    blockNumber: lastBlock,
  });
  const wrong = last.filter((s, i) => s.liquidatable !== lens[i].liquidatable || s.healthFactor !== lens[i].healthFactor).length;
  if (last.length !== o.expected || wrong > 0) {
    throw new Error(`scan of ${last.length} positions (expected ${o.expected}) disagrees with the lens on ${wrong}`);
  }
  if (liquidatable.length === 0) throw new Error("the scan found nothing liquidatable after the crash: the benchmark setup is wrong");
  return {
    positions: o.expected,
    scans: o.scans,
    medianSeconds: round(median(whole), 4),
    minSeconds: round(Math.min(...whole), 4),
    maxSeconds: round(Math.max(...whole), 4),
    snapshotRpcMsMedian: round(median(rpcMs), 2),
    healthMathMsMedian: round(median(mathMs), 2),
    blockSyncMsMedian: round(median(syncMs), 2),
    markets: markets.listed().length,
    liquidatable: liquidatable.length,
    keeperIndexSeconds: round(o.index.indexSeconds, 2),
    keeperStartupSeconds: round(o.index.startupSeconds, 2),
    blocks: Number(head.number),
  };
}

/* ------------------------------------------------------------------- delay */

type BlockWatch = { seen: Map<number, number>; stop: () => void; waitBlock: (n: number, timeoutMs: number) => Promise<void> };

/**
 * Records when each new block is announced (Date.now()), through a `newHeads` subscription on the node's WebSocket
 * endpoint: the node pushes each block as it mines it, so the time does not depend on a poll's phase or on a request
 * queued behind the keeper's.
 */
async function watchBlocks(rpcUrl: string): Promise<BlockWatch> {
  const seen = new Map<number, number>();
  let head = -1;
  const ws = new WebSocket(rpcUrl.replace(/^http/, "ws"));
  let failure: Error | null = null;
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot open a WebSocket to ${rpcUrl}`));
  });
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => (subscribed = r));
  ws.onerror = () => (failure = new Error("block watcher: WebSocket error"));
  ws.onmessage = (event: MessageEvent) => {
    const now = Date.now();
    const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: { result: { number: Hex } } };
    if (msg.id === 1) {
      if (msg.error) failure = new Error(`eth_subscribe: ${msg.error.message}`);
      subscribed();
    } else if (msg.method === "eth_subscription" && msg.params) {
      const n = Number(msg.params.result.number);
      if (!seen.has(n)) seen.set(n, now);
      if (n > head) head = n;
    }
  };
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
  await ready;
  if (failure) throw failure;
  return {
    seen,
    stop: () => ws.close(),
    async waitBlock(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (head < n) {
        if (failure) throw failure;
        if (Date.now() > deadline) throw new Error(`block watcher: block ${n} not announced within ${timeoutMs} ms (last ${head})`);
        await sleep(2);
      }
      if (!seen.has(n)) throw new Error(`block watcher: block ${n} was never announced`);
    },
  };
}

type TrialPosition = { account: Address; liquidationPrice: bigint };

/** Lists a third market, TRIAL-USD, with its own mock feed at 1,000 USD, for the delay trials. */
async function listTrialMarket(chain: BenchChain): Promise<Address> {
  const { p, conn } = chain;
  const feedContract = await conn.ethers.deployContract("MockV3Aggregator", [FEED_DECIMALS, TRIAL_PRICE * 10n ** BigInt(FEED_DECIMALS)]);
  const feed = (await feedContract.getAddress()) as Address;
  await (await p.engine.listMarket(TRIAL, oracleConfig(feed), RISK_PARAMS, TIERS)).wait();
  await (await p.engine.setExposureParams(TRIAL, EXPOSURE_PARAMS)).wait();
  chain.feeds.set(feed, TRIAL_PRICE * 10n ** BigInt(FEED_DECIMALS));
  return feed;
}

/** Opens `n` 1-unit longs on the trial market whose liquidation prices step down by about 5 USD (read from the lens). */
async function openTrialPositions(chain: BenchChain, feed: Address, n: number): Promise<{ feed: Address; positions: TrialPosition[] }> {
  const { p } = chain;
  const trades: Trade[] = [];
  for (let i = 0; i < n; i++) {
    // equity(p) = C + (p - 1000) - 0.05% p against MM 0.5% p: liquidation price L = (1000 - C) / 0.9945, so
    // C = 1000 - 0.9945 L, with L = 990, 985, 980, ...
    const target = 990 - 5 * i;
    if (target < 100) throw new Error(`too many trials (${n}) for the trial market's price ladder`);
    const collateral = usd(Math.ceil(1000 - 0.9945 * target));
    trades.push({
      account: getAddress(keccak256(toHex(`tidemark-bench-trial-${i}`)).slice(0, 42)),
      market: TRIAL,
      size: WAD,
      collateral,
      acceptablePrice: 2n * TRIAL_PRICE * WAD,
    });
  }
  await openTrades(chain, trades);
  const positions: TrialPosition[] = [];
  for (const t of trades) positions.push({ account: t.account, liquidationPrice: (await p.lens.liquidationPrice(t.account, TRIAL)) as bigint });
  for (let i = 1; i < positions.length; i++) {
    if (positions[i].liquidationPrice + 2n * WAD > positions[i - 1].liquidationPrice) throw new Error("trial liquidation prices are not spaced apart");
  }
  return { feed, positions };
}

/**
 * Oracle update to liquidation, with the keeper process `keeper` running: interval mining on, one trial per trial
 * position, each moving the trial feed halfway between that position's liquidation price and the next one's. Throws
 * when a trial's liquidation does not come within 30 s, or anything but exactly that position is liquidated, or by
 * anyone but the keeper.
 */
async function measureDelay(
  chain: BenchChain,
  keeper: RunningKeeper,
  trial: { feed: Address; positions: TrialPosition[] },
  o: { intervalMs: number; pollingIntervalMs: number },
  say: (s: string) => void,
): Promise<KeeperBenchDetail["delay"]> {
  const { rpc } = chain;
  const k = keeper.k;
  const topic = eventTopic("PositionLiquidated");
  const keeperAddress = getAddress(chain.p.keeper.address); // fixture signer #5 = KEEPER_KEYS[0]
  const trials = trial.positions.length;
  const linesBefore = k.lines.length;
  await rpc.call("evm_setAutomine", [false]);
  await rpc.call("evm_setIntervalMining", [o.intervalMs]);
  const watch = await watchBlocks(chain.rpcUrl);
  const started = performance.now();
  try {
    // Trials are pipelined: the next oracle update goes out as soon as the keeper has sent the previous liquidation,
    // so it usually shares a block with it, as on a live chain where updates do not wait for keepers.
    const updateBlocks: number[] = [];
    for (let i = 0; i < trials; i++) {
      const target = trial.positions[i];
      const next = trial.positions[i + 1]?.liquidationPrice ?? target.liquidationPrice - 5n * WAD;
      // Halfway between this position's liquidation price and the next one's, in feed units (8 decimals).
      const answer = (target.liquidationPrice + next) / 2n / 10n ** BigInt(18 - FEED_DECIMALS);
      const linesAt = k.lines.length;
      const hash = await sendFeedAnswer(chain, trial.feed, answer);
      const receipt = await until(
        () => rpc.call<{ status: Hex; blockNumber: Hex } | null>("eth_getTransactionReceipt", [hash]),
        10 * o.intervalMs + 10_000,
        `trial ${i}: oracle update mined`,
      );
      if (receipt.status !== "0x1") throw new Error(`trial ${i}: the oracle update reverted`);
      updateBlocks.push(Number(receipt.blockNumber));
      await until(
        async () => (k.lines.slice(linesAt).some((x) => x.msg === "liquidation sent") ? true : null),
        30_000,
        `trial ${i}: the keeper sending the liquidation of ${target.account} (oracle update in block ${updateBlocks[i]})`,
      );
      if ((i + 1) % 10 === 0 || i + 1 === trials) say(`  trial ${i + 1}/${trials} sent`);
    }

    // Every trial position liquidated exactly once, by the keeper, and nothing else.
    const accountOf = (t: Hex) => getAddress(`0x${t.slice(26)}`);
    type Log = { blockNumber: Hex; topics: Hex[]; transactionHash: Hex };
    const logs = await until(
      async () => {
        const found = await rpc.call<Log[]>("eth_getLogs", [{ address: chain.addresses.engine, fromBlock: hex(updateBlocks[0]), toBlock: "latest", topics: [topic] }]);
        return found.length >= trials ? found : null;
      },
      30_000,
      `all ${trials} trial liquidations mined`,
    );
    const byAccount = new Map<Address, Log>();
    for (const l of logs) {
      const account = accountOf(l.topics[1]);
      if (l.topics[2] !== TRIAL || byAccount.has(account) || !trial.positions.some((x) => x.account === account)) {
        throw new Error(`unexpected liquidation of ${account} on ${l.topics[2]} in block ${Number(l.blockNumber)}`);
      }
      if (accountOf(l.topics[3]) !== keeperAddress) throw new Error(`${account} liquidated by ${accountOf(l.topics[3])}, not the keeper`);
      byAccount.set(account, l);
    }
    const ms: number[] = [];
    const blocks: number[] = [];
    const reaction: number[] = [];
    let shared = 0;
    for (const [i, x] of trial.positions.entries()) {
      const l = byAccount.get(x.account);
      if (l === undefined) throw new Error(`trial ${i}: ${x.account} was not liquidated`);
      const liqBlock = Number(l.blockNumber);
      if (i > 0 && Number(byAccount.get(trial.positions[i - 1].account)!.blockNumber) === updateBlocks[i]) shared++;
      await watch.waitBlock(liqBlock, 5_000);
      blocks.push(liqBlock - updateBlocks[i]);
      ms.push(watch.seen.get(liqBlock)! - watch.seen.get(updateBlocks[i])!);
      const sent = k.lines.find((y) => y.msg === "liquidation sent" && y.hash === l.transactionHash);
      if (sent !== undefined) reaction.push(Date.parse(sent.time as string) - watch.seen.get(updateBlocks[i])!);
    }
    const during = k.lines.slice(linesBefore);
    const histogram: Record<string, number> = {};
    for (const b of blocks) histogram[b] = (histogram[b] ?? 0) + 1;
    return {
      trials,
      mining: `interval mining every ${o.intervalMs} ms, automine off`,
      intervalMs: o.intervalMs,
      keeperPollingIntervalMs: o.pollingIntervalMs,
      trackedPositions: keeper.tracked + trials,
      msMedian: median(ms),
      msP95: percentile(ms, 95),
      msMin: Math.min(...ms),
      msMax: Math.max(...ms),
      blocksMedian: median(blocks),
      blocksMax: Math.max(...blocks),
      blocksMin: Math.min(...blocks),
      blocksHistogram: histogram,
      reactionMsMedian: median(reaction),
      reactionMsP95: percentile(reaction, 95),
      reactionMsMax: Math.max(...reaction),
      reactionSamples: reaction.length,
      updatesInPreviousLiquidationBlock: shared,
      seconds: round((performance.now() - started) / 1000, 1),
      keeperWarnings: during.filter((x) => Number(x.level) === 40).length,
      keeperErrors: during.filter((x) => Number(x.level) >= 50).length,
    };
  } catch (err) {
    process.stderr.write(`--- keeper stderr:\n${k.stderr()}\n--- keeper's last log lines:\n${k.lines.slice(-30).map((x) => JSON.stringify(x)).join("\n")}\n`);
    throw err;
  } finally {
    watch.stop();
    await rpc.call("evm_setIntervalMining", [0]);
    await rpc.call("evm_setAutomine", [true]);
  }
}

function eventTopic(name: "PositionLiquidated"): Hex {
  const item = tidemarkEngineAbi.find((x) => x.type === "event" && x.name === name)!;
  const inputs = (item as { inputs: readonly { type: string }[] }).inputs.map((i) => i.type).join(",");
  return keccak256(toHex(`${name}(${inputs})`));
}

/** Polls `get` until it returns non-null; throws after `timeoutMs` (a failure, never a speed assertion). */
async function until<T>(get: () => Promise<T | null>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/* --------------------------------------------------------------------- RSS */

type RssResult = { positions: number; rssMb: number; heapUsedMb: number; baselineRssMb: number };

/** Runs scripts/bench/keeper-rss.ts in a fresh Node process with `--expose-gc`. */
async function measureRss(positions: number): Promise<RssResult> {
  const child = track(
    spawn(process.execPath, ["--expose-gc", "--experimental-strip-types", "--no-warnings", join(ROOT, "scripts/bench/keeper-rss.ts"), String(positions)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  if (code !== 0) throw new Error(`keeper-rss.ts ${positions} exited with ${code}:\n${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as RssResult;
}

/* -------------------------------------------------------------------- main */

export async function benchKeeper(opts: KeeperBenchOptions = {}): Promise<KeeperBench> {
  const [small, large] = opts.scanSizes ?? [1_000, 10_000];
  const scans = opts.scans ?? 11;
  const trials = opts.trials ?? 50;
  const intervalMs = opts.intervalMs ?? 1_000;
  const pollingIntervalMs = opts.pollingIntervalMs ?? 100;
  const [rssSmall, rssLarge] = opts.rssSizes ?? [10_000, 100_000];
  const crashPct = BigInt(opts.crashPct ?? 5);
  const say = opts.log ?? ((s: string) => process.stderr.write(`[bench:keeper] ${s}\n`));
  if (small % 2 || large % 2 || large <= small) throw new Error("scanSizes must be even and increasing (two positions per account)");
  const started = performance.now();

  const dirs: string[] = [];
  // On an interrupt or an exit mid-run: kill the node and keepers, remove the keeper data directories.
  const cleanUpNow = () => {
    killChildren();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cleanUpNow();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("exit", cleanUpNow);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let chain: BenchChain | undefined;
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), "bk-keeper-"));
    dirs.push(d);
    return d;
  };
  try {
    // Memory first, while nothing else runs.
    const rss10k = await measureRss(rssSmall);
    const rss100k = await measureRss(rssLarge);
    say(`RSS with a synthetic index: ${rssSmall} positions ${rss10k.rssMb} MiB, ${rssLarge} positions ${rss100k.rssMb} MiB (baseline ${rss10k.baselineRssMb} MiB)`);

    chain = await startBenchChain(say);
    const c = chain;
    const trialFeed = await listTrialMarket(c);
    let t = performance.now();
    await openTrades(c, population(small / 2, 0, 7));
    let openSeconds = (performance.now() - t) / 1000;
    say(`opened ${small} positions in ${openSeconds.toFixed(1)} s`);

    // Small scan: a dry-run keeper indexes and saves; the scans run on its index after an ETH crash, reverted after.
    const snapshot = { id: await c.rpc.call<Hex>("evm_snapshot"), feeds: new Map(c.feeds) };
    const dirSmall = await tempDir();
    const indexSmall = await startKeeper(c, dirSmall, ["--dry-run"], opts.keeperNodeOptions);
    await stopKeeper(indexSmall.k);
    say(`  keeper process indexed ${indexSmall.tracked} positions in ${indexSmall.indexSeconds.toFixed(2)} s`);
    const scan1k = await measureScan(c, { dataDir: dirSmall, expected: small, scans, crashPct, index: indexSmall });
    say(`scan of ${small}: median ${(scan1k.medianSeconds * 1000).toFixed(1)} ms (snapshot RPC ${scan1k.snapshotRpcMsMedian} ms, math ${scan1k.healthMathMsMedian} ms), ${scan1k.liquidatable} liquidatable`);
    if ((await c.rpc.call("evm_revert", [snapshot.id])) !== true) throw new Error("evm_revert failed");
    c.feeds = snapshot.feeds;

    t = performance.now();
    await openTrades(c, population((large - small) / 2, small / 2, 8));
    openSeconds += (performance.now() - t) / 1000;
    say(`opened ${large - small} more positions in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // Delay: the keeper process as an operator runs it over all of them, and the trial positions opened meanwhile.
    const dirLarge = await tempDir();
    const keeper = await startKeeper(c, dirLarge, ["--polling-interval", String(pollingIntervalMs)], opts.keeperNodeOptions);
    say(`  keeper process indexed ${keeper.tracked} positions in ${keeper.indexSeconds.toFixed(2)} s`);
    let delay: KeeperBenchDetail["delay"];
    try {
      if (keeper.tracked !== large) throw new Error(`the keeper tracks ${keeper.tracked} positions, expected ${large}`);
      const trial = await openTrialPositions(c, trialFeed, trials);
      await until(
        async () => (keeper.k.lines.some((l) => l.msg === "block" && Number(l.tracked) === large + trials) ? true : null),
        60_000,
        `the keeper indexing the ${trials} trial positions`,
      );
      say(`delay: ${trials} trials, interval mining every ${intervalMs} ms, keeper polling every ${pollingIntervalMs} ms`);
      delay = await measureDelay(c, keeper, trial, { intervalMs, pollingIntervalMs }, say);
    } catch (err) {
      await stopChild(keeper.k.child);
      throw err;
    }
    await stopKeeper(keeper.k);
    say(`delay: median ${delay.msMedian} ms, p95 ${delay.msP95} ms, blocks ${JSON.stringify(delay.blocksHistogram)}, keeper reaction median ${delay.reactionMsMedian} ms`);

    // Large scan: on the index the keeper saved at shutdown (every trial position is liquidated by then).
    const scan10k = await measureScan(c, { dataDir: dirLarge, expected: large, scans, crashPct, index: keeper });
    say(`scan of ${large}: median ${(scan10k.medianSeconds * 1000).toFixed(1)} ms (snapshot RPC ${scan10k.snapshotRpcMsMedian} ms, math ${scan10k.healthMathMsMedian} ms), ${scan10k.liquidatable} liquidatable`);

    return {
      keeperScanSeconds1k: scan1k.medianSeconds,
      keeperScanSeconds10k: scan10k.medianSeconds,
      keeperIndexSeconds1k: scan1k.keeperIndexSeconds,
      keeperIndexSeconds10k: scan10k.keeperIndexSeconds,
      liquidationDelayMsMedian: delay.msMedian,
      liquidationDelayMsP95: delay.msP95,
      liquidationDelayBlocksMedian: delay.blocksMedian,
      liquidationDelayBlocksMax: delay.blocksMax,
      liquidationDelayBlocksHistogram: delay.blocksHistogram,
      liquidationDelayTrials: delay.trials,
      liquidationDelayMining: delay.mining,
      keeperRssMb10k: rss10k.rssMb,
      keeperRssMb100k: rss100k.rssMb,
      keeperBenchDetail: {
        scan1k,
        scan10k,
        openSeconds: round(openSeconds, 1),
        delay,
        rss: { baselineMb: rss10k.baselineRssMb, heapUsedMb10k: rss10k.heapUsedMb, heapUsedMb100k: rss100k.heapUsedMb },
        totalSeconds: round((performance.now() - started) / 1000, 1),
      },
    };
  } finally {
    if (chain) {
      await chain.conn.close().catch(() => undefined);
      await stopChild(chain.node);
    }
    killChildren();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    process.off("exit", cleanUpNow);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
