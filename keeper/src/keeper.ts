/**
 * The keeper: on every new block it brings the position index up to date (indexer), reads each market's price and
 * funding index (markets), recomputes every position's health with the SDK's exact math (scanner), confirms the
 * liquidatable ones through the lens, and hands them, most urgent first, to the executor. An oracle answer lands in a
 * block, so it is seen with that block.
 *
 * Sharding: with `shard i/N` this instance takes the positions whose key hash is i mod N, and any other position that
 * has stayed liquidatable for `takeoverBlocks` blocks, so a dead instance loses nothing.
 * One failure never stops the loop: each block is processed in its own try/catch, and the next block starts fresh.
 *
 * The RPC endpoint may be down at start or at any time later: every read that fails is retried with backoff
 * (`rpcRetryInitialMs`, doubling, at most `rpcRetryMaxMs`), with one warning line per failed attempt, and /healthz
 * answers 503 ("cannot read the chain: ...") until a read succeeds again. The keeper never exits because of it.
 * /metrics and /healthz listen before the chain is first reached.
 */
import type { Server } from "node:http";

import { type Address, type Block, type Hex, type LocalAccount, type PublicClient, type Transport, createPublicClient, createWalletClient, erc20Abi, formatEther } from "viem";

import { getPositions, marketId, tidemarkEngineAbi, type TidemarkAddresses } from "@tidemark/sdk";

import type { KeeperConfig } from "./config.ts";
import { type Executor, createExecutor } from "./executor.ts";
import { type Indexer, createIndexer } from "./indexer.ts";
import type { Logger } from "./log.ts";
import { type Markets, type MarketSnapshot, createMarkets } from "./markets.ts";
import { type KeeperMetrics, createMetrics, startMetricsServer } from "./metrics.ts";
import { countingTransport, errorNames, errorText, isTransportError, rpcTransport } from "./rpc.ts";
import { byUrgency, rewardOf, scan, shardOf } from "./scanner.ts";
import { type KeeperState, loadState, saveState, statePath } from "./store.ts";
import type { Candidate, PositionKey } from "./types.ts";
import { ethAmount } from "./units.ts";

/** Signer balance is read every this many blocks. */
const BALANCE_EVERY_BLOCKS = 10n;
/** The index is saved at least this often (and after every block that changed it). */
const SAVE_EVERY_MS = 30_000;

export type KeeperHandle = {
  /** Port of /metrics and /healthz. */
  metricsPort: number;
  metrics: KeeperMetrics;
  /**
   * Resolves once the chain was reached and the index is in sync (however many attempts that took); rejects when the
   * keeper gives up starting (see `stopped`) or is stopped first.
   */
  ready: Promise<void>;
  /** Stops polling, lets pending transactions settle (bounded), saves the index, closes the server. */
  stop(): Promise<void>;
  /**
   * Resolves after stop() completes, or after the keeper gave up starting because of something retrying cannot fix
   * (an unreadable or foreign index file, an engine address holding another contract): then with that error.
   */
  stopped: Promise<{ error: Error | null }>;
};

/** A start-up problem retrying cannot fix. */
class FatalStartError extends Error {
  override name = "FatalStartError";
}
/** Unwinds the start-up when stop() is called before the initial sync finished. */
class Stopped extends Error {
  override name = "Stopped";
}

/** A revert or undecodable answer from a contract the configuration names: the address holds something else. */
const WRONG_CONTRACT = ["ContractFunctionRevertedError", "AbiDecodingDataSizeTooSmallError", "AbiDecodingOffsetOutOfBoundsError", "InvalidAbiDecodingTypeError"];

/**
 * A contract read that returned no data ("0x"): no code at the address, at the node's head. Either the address is
 * wrong or the node has not synced to the deployment yet (a fresh node catching up): retried, and said so.
 */
function explainZeroData(err: unknown): unknown {
  if (!errorNames(err).includes("ContractFunctionZeroDataError")) return err;
  const at = (err as { contractAddress?: string }).contractAddress;
  return new Error(`no contract code at ${at ?? "the configured address"}: wrong --engine or --lens, or the node has not synced to the deployment yet`);
}

/** What the start-up knows once the chain has been read. */
type Started = {
  chainId: number;
  addresses: TidemarkAddresses;
  /** 10 ** (18 - token decimals). */
  scale: bigint;
  path: string;
  state: KeeperState;
  markets: Markets;
  indexer: Indexer;
  executor: Executor;
};

/**
 * Starts the keeper and resolves as soon as /metrics and /healthz listen: the chain is reached in the background,
 * retried with backoff (`rpcRetryInitialMs` doubling up to `rpcRetryMaxMs`, one warning per failed attempt) for as
 * long as it takes, at start and whenever it fails later; /healthz answers 503 meanwhile. Rejects only when the
 * metrics server cannot listen. `options.transport` replaces the transport to `config.rpcUrl` (the demo runs the
 * keeper in the same process as an in-process chain).
 */
export async function startKeeper(
  config: KeeperConfig,
  account: LocalAccount | null,
  log: Logger,
  options: { transport?: Transport } = {},
): Promise<KeeperHandle> {
  if (account === null && !config.dryRun) throw new Error("no signer: set TIDEMARK_KEEPER_PRIVATE_KEY or TIDEMARK_KEEPER_KEYSTORE (or use --dry-run)");
  const metrics = createMetrics();
  // Every failing JSON-RPC request is counted, by method, whatever part of the keeper made it.
  const transport = countingTransport(options.transport ?? rpcTransport(config.rpcUrl), (method, kind) => metrics.rpcErrors.inc({ method, kind }));
  const client = createPublicClient({ transport, pollingInterval: config.pollingIntervalMs }) as PublicClient;
  // Without a key (dry run only) the executor simulates from the node's default sender and sends nothing.
  const wallet = createWalletClient({ account: account ?? undefined, transport, pollingInterval: config.pollingIntervalMs });

  /* ------------------------------------------------------------------ health */

  /** Why the last attempt to read the chain failed, for /healthz; null once a read succeeded. */
  let problem: string | null = "cannot read the chain: no successful read yet";
  /** Failed attempts in a row. */
  let failures = 0;
  let synced = false;
  let lastBlock: { number: bigint; timestamp: number; processedAt: number } | null = null;
  let signerBalance: bigint | null = null;
  /**
   * Seconds the keeper is behind: since the last processed block's timestamp, or since it processed a new block,
   * whichever is longer (a local chain that mines fast runs its timestamps ahead of the clock; a stuck RPC node keeps
   * returning the same head).
   */
  const headLag = () => (lastBlock === null ? 0 : Math.max(0, Date.now() / 1000 - lastBlock.timestamp, Date.now() / 1000 - lastBlock.processedAt));
  const health = () => {
    const reasons: string[] = [];
    if (problem !== null) reasons.push(problem);
    else if (!synced) reasons.push("initial sync in progress");
    if (lastBlock !== null) {
      const lag = headLag();
      if (lag > config.maxHeadLagSeconds) reasons.push(`head lag ${Math.round(lag)} s above ${config.maxHeadLagSeconds} s`);
    }
    if (synced && !config.dryRun) {
      if (signerBalance === null) reasons.push("signer balance not read yet");
      else if (signerBalance < config.minSignerBalance) reasons.push(`signer balance ${ethAmount(signerBalance)} below ${ethAmount(config.minSignerBalance)}`);
    }
    return { ok: reasons.length === 0, reasons };
  };
  // Up before the chain is reached: an operator sees why the keeper is not working while the RPC endpoint is down.
  const { server, port } = await startMetricsServer(metrics, health, config.metricsHost, config.metricsPort);
  log.info({ port, host: config.metricsHost }, "serving /metrics and /healthz");

  /* ------------------------------------------------------------------ retries */

  let running = true;
  let wake: (() => void) | null = null;
  /** Waits `ms`, or less when stop() is called. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
    });
  const backoff = (attempt: number) => Math.min(config.rpcRetryMaxMs, config.rpcRetryInitialMs * 2 ** Math.min(attempt - 1, 30));

  /** Records a failed attempt (one warning line, the /healthz reason) and returns the wait before the next. */
  const failed = (err: unknown, step: string, readingChain: boolean): number => {
    failures++;
    const retryInMs = backoff(failures);
    const error = errorText(err);
    const next = `attempt ${failures}, next in ${retryInMs / 1000} s`;
    problem = readingChain ? `cannot read the chain: ${error} (${step}; ${next})` : `${step} failed: ${error} (${next})`;
    if (lastBlock !== null) metrics.headLagSeconds.set(headLag());
    log.warn(
      { attempt: failures, step, error, errorName: errorNames(err)[0] ?? "Error", retryInMs },
      readingChain ? "cannot read the chain; retrying" : "block processing failed; retrying",
    );
    return retryInMs;
  };
  const succeeded = () => {
    if (failures > 0) log.info({ failedAttempts: failures }, "chain readable again");
    failures = 0;
    problem = null;
  };

  /**
   * Runs `fn` until it succeeds, waiting with backoff between attempts. A contract that reverts or answers
   * gibberish is a configuration problem, not an outage: that gives up (FatalStartError).
   */
  async function untilRead<T>(step: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      if (!running) throw new Stopped("stopped before the initial sync finished");
      try {
        const value = await fn();
        succeeded();
        return value;
      } catch (err) {
        const names = errorNames(err);
        if (err instanceof FatalStartError) throw err;
        if (names.some((n) => WRONG_CONTRACT.includes(n))) throw new FatalStartError(`${step}: ${errorText(err)}; check --engine and --lens (or --deployment)`);
        if (!running) throw new Stopped("stopped before the initial sync finished");
        await sleep(failed(explainZeroData(err), step, true));
      }
    }
  }

  /* ----------------------------------------------------------------- start-up */

  const gasMarket = marketId(config.gasPriceMarket);
  let lastSnapshot = new Map<Hex, MarketSnapshot>();

  /** Set as soon as the index is loaded: stop() saves it and stops the executor from then on. */
  let started: Started | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => undefined); // a caller that never awaits it must not see an unhandled rejection

  async function start(): Promise<Block<bigint, false, "latest">> {
    const chainId = await untilRead("reading the chain id", () => client.getChainId());
    const engineRead = <F extends "pool" | "collateralToken">(functionName: F) =>
      client.readContract({ address: config.engine, abi: tidemarkEngineAbi, functionName }) as Promise<Address>;
    const { pool, token, decimals, symbol } = await untilRead("reading the engine's pool and collateral token", async () => {
      const [pool, token] = await Promise.all([engineRead("pool"), engineRead("collateralToken")]);
      const [decimals, symbol] = await Promise.all([
        client.readContract({ address: token, abi: erc20Abi, functionName: "decimals" }),
        client.readContract({ address: token, abi: erc20Abi, functionName: "symbol" }),
      ]);
      return { pool, token, decimals, symbol };
    });
    const addresses: TidemarkAddresses = { engine: config.engine, lens: config.lens, pool, collateralToken: token };
    const scale = 10n ** BigInt(18 - decimals);

    const path = statePath(config.dataDir, chainId, config.engine, config.shard);
    let state: KeeperState;
    try {
      state = loadState(path, chainId, config.engine) ?? { chainId, engine: config.engine, checkpoints: [], positions: new Map() };
    } catch (err) {
      throw new FatalStartError(`index file ${path}: ${(err as Error).message} (move it away to rebuild the index from --start-block)`);
    }
    // A dev chain restarted under the same chain id starts from block 0 again, below the saved checkpoint: the saved
    // index describes a chain that is gone. Its genesis block tells them apart (a lagging node keeps the same one).
    const genesisHash = await untilRead("reading the genesis block", async () => (await client.getBlock({ blockNumber: 0n })).hash);
    if (state.genesisHash !== undefined && state.genesisHash !== genesisHash) {
      log.warn(
        { state: path, tracked: state.positions.size, checkpoint: Number(state.checkpoints.at(-1)?.blockNumber ?? 0n) },
        "index file written for another chain with this chain id (its genesis block differs: a restarted dev chain); rebuilding the index",
      );
      state = { chainId, engine: config.engine, checkpoints: [], positions: new Map() };
    }
    state.genesisHash = genesisHash;
    const checkpoint = state.checkpoints.at(-1)?.blockNumber;
    log.info(
      {
        chainId,
        engine: config.engine,
        lens: config.lens,
        collateral: symbol,
        transport: client.transport.type,
        shard: `${config.shard.index}/${config.shard.count}`,
        signer: account?.address ?? null,
        dryRun: config.dryRun,
        state: path,
        tracked: state.positions.size,
        checkpoint: checkpoint === undefined ? null : Number(checkpoint),
      },
      "keeper starting",
    );

    const markets: Markets = createMarkets(client, addresses);
    const indexer: Indexer = createIndexer({ client, addresses, startBlock: config.startBlock, maxBlockRange: config.maxBlockRange, state, log });
    const executor: Executor = createExecutor({
      publicClient: client,
      walletClient: wallet,
      engine: config.engine,
      batchSize: config.batchSize,
      maxInFlight: config.maxInFlight,
      minProfitUsd: config.minProfitUsd,
      maxFeePerGas: config.maxFeePerGasGwei,
      feeBumpPercent: config.feeBumpPercent,
      stuckAfterBlocks: config.stuckAfterBlocks,
      dryRun: config.dryRun,
      tokenScale: scale,
      tokenSymbol: symbol,
      nativeUsdPrice: async () => {
        if (config.nativeUsdPrice !== undefined) return config.nativeUsdPrice;
        const price = lastSnapshot.get(gasMarket)?.price;
        if (price === undefined || price === 0n) throw new Error(`no price for gas market ${config.gasPriceMarket}: set --native-usd-price`);
        return price;
      },
      log,
      metrics,
    });
    started = { chainId, addresses, scale, path, state, markets, indexer, executor };

    // Initial sync and the check against the chain's own enumeration; a failure part way keeps what was read.
    const head = await untilRead("initial sync", async () => {
      const head = await client.getBlock({ blockTag: "latest" });
      await markets.reload(head.number);
      await indexer.sync(head.number, head.hash);
      await indexer.reconcile(markets.listed(), head.number);
      return head;
    });
    saveState(path, state);
    lastBlock = { number: head.number, timestamp: Number(head.timestamp), processedAt: Date.now() / 1000 };
    synced = true;
    resolveReady();
    log.info({ block: Number(head.number), tracked: state.positions.size, markets: markets.listed().length }, "index in sync");
    return head;
  }

  /** First block and time each position was seen liquidatable. */
  const liquidatableSince = new Map<PositionKey, { block: bigint; ms: number }>();
  /** Whether each tracked position is in this shard: a keccak256 per position once, not per position per block. */
  const inShard = new Map<PositionKey, boolean>();
  const isMine = (key: PositionKey) => {
    let mine = inShard.get(key);
    if (mine === undefined) {
      mine = shardOf(key, config.shard.count) === config.shard.index;
      inShard.set(key, mine);
    }
    return mine;
  };
  let lastSave = Date.now();

  async function processBlock(ctx: Started, block: { number: bigint; hash: Hex; timestamp: bigint }) {
    const { addresses, scale, path, state, markets, indexer, executor } = ctx;
    const b = block.number;
    const sync = await indexer.sync(b, block.hash);
    if (sync.marketsChanged.size > 0 || sync.reorged) await markets.reload(b, sync.reorged ? undefined : sync.marketsChanged);
    lastSnapshot = await markets.snapshot(b);
    const scanStarted = performance.now();
    const scanned = scan(state.positions, lastSnapshot, scale);
    metrics.scanSeconds.observe((performance.now() - scanStarted) / 1000);

    const now = Date.now();
    const due = [];
    let owned = 0;
    for (const s of scanned) {
      const mine = isMine(s.key);
      if (mine) {
        owned++;
        metrics.healthFactor.observe(Number(s.healthFactor > 10n ** 20n ? 10n ** 20n : s.healthFactor) / 1e18);
      }
      if (!s.liquidatable) {
        liquidatableSince.delete(s.key);
        continue;
      }
      let since = liquidatableSince.get(s.key);
      if (since === undefined) {
        since = { block: b, ms: now };
        liquidatableSince.set(s.key, since);
      }
      if (mine || b - since.block >= BigInt(config.takeoverBlocks)) due.push({ s, since });
    }
    for (const k of liquidatableSince.keys()) if (!state.positions.has(k)) liquidatableSince.delete(k);
    if (sync.reread > 0) for (const k of inShard.keys()) if (!state.positions.has(k)) inShard.delete(k);
    metrics.positionsTracked.set(state.positions.size);
    metrics.positionsOwned.set(owned);
    metrics.liquidatable.set(liquidatableSince.size);

    // Confirm through the lens at the same block: the engine's own view of the same integers.
    const busy = executor.inFlightKeys();
    const open = due.filter(({ s }) => !busy.has(s.key));
    let candidates: Candidate[] = [];
    if (open.length > 0) {
      const confirmed = await getPositions(client, {
        addresses,
        positions: open.map(({ s }) => ({ account: s.position.account, market: s.position.market })),
        blockNumber: b,
      });
      candidates = open
        .filter((_, i) => confirmed[i].liquidatable)
        .sort((x, y) => byUrgency(x.s, y.s))
        .map(({ s, since }) => ({
          account: s.position.account,
          market: s.position.market,
          healthFactor: s.healthFactor,
          notional: s.notional,
          reward: rewardOf(s),
          liquidatableSince: since.ms,
        }));
      const disagree = open.length - candidates.length;
      if (disagree > 0) log.warn({ block: Number(b), disagree }, "the lens did not confirm positions the SDK math found liquidatable");
    }
    await executor.onBlock(b, candidates);
    metrics.inFlight.set(executor.inFlight());

    lastBlock = { number: b, timestamp: Number(block.timestamp), processedAt: Date.now() / 1000 };
    metrics.headBlock.set(Number(b));
    metrics.headLagSeconds.set(headLag());
    if (account !== null && (signerBalance === null || b % BALANCE_EVERY_BLOCKS === 0n)) {
      signerBalance = await client.getBalance({ address: account.address, blockNumber: b });
      metrics.signerBalance.set(Number(formatEther(signerBalance)));
    }
    if (sync.reread > 0 || sync.reorged || Date.now() - lastSave > SAVE_EVERY_MS) {
      saveState(path, state);
      lastSave = Date.now();
    }
    if (candidates.length > 0 || sync.reread > 0) {
      log.info({ block: Number(b), tracked: state.positions.size, liquidatable: liquidatableSince.size, sent: candidates.length, reread: sync.reread }, "block");
    } else {
      log.debug({ block: Number(b), tracked: state.positions.size }, "block");
    }
  }

  const loop = (async () => {
    const head = await start();
    const ctx = started!;
    // The head the initial sync ended at is processed first: positions may already be liquidatable, and a quiet chain
    // may not produce another block for a while.
    let processed = head.number - 1n;
    while (running) {
      let delay = config.pollingIntervalMs;
      let step = "reading the latest block";
      try {
        const block = await client.getBlock({ blockTag: "latest" });
        if (block.number > processed) {
          step = `processing block ${block.number}`;
          await processBlock(ctx, block);
          processed = block.number;
        } else {
          metrics.headLagSeconds.set(headLag());
        }
        succeeded();
      } catch (err) {
        // An outage of the endpoint (no answer) says "cannot read the chain"; anything else is a failed block.
        delay = failed(err, step, isTransportError(err) || step === "reading the latest block");
      }
      if (!running) break;
      await sleep(delay);
    }
  })();
  /** Why the keeper gave up starting, if it did. */
  let fatal: Error | null = null;
  const finished = loop.catch((err: unknown) => {
    if (!(err instanceof Stopped)) fatal = err instanceof Error ? err : new Error(String(err));
  });
  void finished.then(() => rejectReady(fatal ?? new Stopped("stopped before the initial sync finished")));

  let resolveStopped!: (result: { error: Error | null }) => void;
  const stopped = new Promise<{ error: Error | null }>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      running = false;
      (wake as (() => void) | null)?.();
      await finished;
      if (started !== undefined) {
        await started.executor.stop(30_000);
        saveState(started.path, started.state);
      }
      await new Promise<void>((r) => (server as Server).close(() => r()));
      if (fatal !== null) log.info("keeper stopped");
      else log.info({ tracked: started?.state.positions.size ?? 0 }, started !== undefined ? "keeper stopped; index saved" : "keeper stopped before reading the chain");
      resolveStopped({ error: fatal });
    })());
  // A start-up problem retrying cannot fix stops the keeper by itself; `stopped` then carries it.
  void finished.then(() => {
    if (fatal !== null) void stop();
  });
  return { metricsPort: port, metrics, ready, stop, stopped };
}
