/**
 * The keeper: on every new block it brings the position index up to date (indexer), reads each market's price and
 * funding index (markets), recomputes every position's health with the SDK's exact math (scanner), confirms the
 * liquidatable ones through the lens, and hands them, most urgent first, to the executor. An oracle answer lands in a
 * block, so it is seen with that block.
 *
 * Sharding: with `shard i/N` this instance takes the positions whose key hash is i mod N, and any other position that
 * has stayed liquidatable for `takeoverBlocks` blocks, so a dead instance loses nothing.
 * One failure never stops the loop: each block is processed in its own try/catch, and the next block starts fresh.
 */
import type { Server } from "node:http";

import { type Address, type Hex, type LocalAccount, type PublicClient, type Transport, createPublicClient, createWalletClient, erc20Abi, formatEther, http } from "viem";

import { getPositions, marketId, tidemarkEngineAbi, type TidemarkAddresses } from "@tidemark/sdk";

import type { KeeperConfig } from "./config.ts";
import { type Executor, createExecutor } from "./executor.ts";
import { type Indexer, createIndexer } from "./indexer.ts";
import type { Logger } from "./log.ts";
import { type Markets, type MarketSnapshot, createMarkets } from "./markets.ts";
import { type KeeperMetrics, createMetrics, startMetricsServer } from "./metrics.ts";
import { byUrgency, rewardOf, scan, shardOf } from "./scanner.ts";
import { type KeeperState, loadState, saveState, statePath } from "./store.ts";
import type { Candidate, PositionKey } from "./types.ts";

/** Signer balance is read every this many blocks. */
const BALANCE_EVERY_BLOCKS = 10n;
/** The index is saved at least this often (and after every block that changed it). */
const SAVE_EVERY_MS = 30_000;

export type KeeperHandle = {
  /** Port of /metrics and /healthz. */
  metricsPort: number;
  metrics: KeeperMetrics;
  /** Stops polling, lets pending transactions settle (bounded), saves the index, closes the server. */
  stop(): Promise<void>;
  /** Resolves after stop() completes. */
  stopped: Promise<void>;
};

/**
 * Starts the keeper. `options.transport` replaces the HTTP transport to `config.rpcUrl` (the demo runs the keeper in
 * the same process as an in-process chain).
 */
export async function startKeeper(
  config: KeeperConfig,
  account: LocalAccount | null,
  log: Logger,
  options: { transport?: Transport } = {},
): Promise<KeeperHandle> {
  if (account === null && !config.dryRun) throw new Error("no signer: set TIDEMARK_KEEPER_PRIVATE_KEY or TIDEMARK_KEEPER_KEYSTORE (or use --dry-run)");
  // viem retries failed requests (3 times, exponential backoff); each block is also retried from scratch on failure.
  const transport = options.transport ?? http(config.rpcUrl, { timeout: 15_000, retryCount: 3 });
  const client = createPublicClient({ transport, pollingInterval: config.pollingIntervalMs }) as PublicClient;
  const chainId = await client.getChainId();
  const engineRead = <F extends "pool" | "collateralToken">(functionName: F) =>
    client.readContract({ address: config.engine, abi: tidemarkEngineAbi, functionName }) as Promise<Address>;
  const [pool, token] = await Promise.all([engineRead("pool"), engineRead("collateralToken")]);
  const addresses: TidemarkAddresses = { engine: config.engine, lens: config.lens, pool, collateralToken: token };
  const decimals = await client.readContract({ address: token, abi: erc20Abi, functionName: "decimals" });
  const scale = 10n ** BigInt(18 - decimals);
  // Without a key (dry run only) the executor simulates from the node's default sender and sends nothing.
  const wallet = createWalletClient({ account: account ?? undefined, transport, pollingInterval: config.pollingIntervalMs });
  const metrics = createMetrics();

  const path = statePath(config.dataDir, chainId, config.engine, config.shard);
  const state: KeeperState = loadState(path, chainId, config.engine) ?? { chainId, engine: config.engine, checkpoints: [], positions: new Map() };
  log.info(
    { chainId, engine: config.engine, lens: config.lens, shard: `${config.shard.index}/${config.shard.count}`, signer: account?.address ?? null, dryRun: config.dryRun, state: path, tracked: state.positions.size, checkpoint: state.checkpoints.at(-1)?.blockNumber ?? null },
    "keeper starting",
  );

  const markets: Markets = createMarkets(client, addresses);
  const indexer: Indexer = createIndexer({ client, addresses, startBlock: config.startBlock, maxBlockRange: config.maxBlockRange, state, log });
  const gasMarket = marketId(config.gasPriceMarket);
  let lastSnapshot = new Map<Hex, MarketSnapshot>();
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
    nativeUsdPrice: async () => {
      if (config.nativeUsdPrice !== undefined) return config.nativeUsdPrice;
      const price = lastSnapshot.get(gasMarket)?.price;
      if (price === undefined || price === 0n) throw new Error(`no price for gas market ${config.gasPriceMarket}: set --native-usd-price`);
      return price;
    },
    log,
    metrics,
  });

  // Initial sync and the check against the chain's own enumeration.
  const head = await client.getBlock({ blockTag: "latest" });
  await markets.reload(head.number);
  await indexer.sync(head.number, head.hash);
  await indexer.reconcile(markets.listed(), head.number);
  saveState(path, state);
  log.info({ block: head.number, tracked: state.positions.size, markets: markets.listed().length }, "index in sync");

  // Health: lag of the last processed block and the signer's balance.
  let lastBlock = { number: head.number, timestamp: Number(head.timestamp), processedAt: Date.now() / 1000 };
  /**
   * Seconds the keeper is behind: since the last processed block's timestamp, or since it processed a new block,
   * whichever is longer (a local chain that mines fast runs its timestamps ahead of the clock; a stuck RPC node keeps
   * returning the same head).
   */
  const headLag = () => Math.max(0, Date.now() / 1000 - lastBlock.timestamp, Date.now() / 1000 - lastBlock.processedAt);
  let signerBalance: bigint | null = null;
  const health = () => {
    const reasons: string[] = [];
    const lag = headLag();
    if (lag > config.maxHeadLagSeconds) reasons.push(`head lag ${Math.round(lag)} s above ${config.maxHeadLagSeconds} s`);
    if (!config.dryRun && signerBalance !== null && signerBalance < config.minSignerBalance) {
      reasons.push(`signer balance ${formatEther(signerBalance)} below ${formatEther(config.minSignerBalance)}`);
    }
    if (!config.dryRun && signerBalance === null) reasons.push("signer balance not read yet");
    return { ok: reasons.length === 0, reasons };
  };
  const { server, port } = await startMetricsServer(metrics, health, config.metricsHost, config.metricsPort);
  log.info({ port, host: config.metricsHost }, "serving /metrics and /healthz");

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

  async function processBlock(block: { number: bigint; hash: Hex; timestamp: bigint }) {
    const b = block.number;
    const sync = await indexer.sync(b, block.hash);
    if (sync.marketsChanged.size > 0 || sync.reorged) await markets.reload(b, sync.reorged ? undefined : sync.marketsChanged);
    lastSnapshot = await markets.snapshot(b);
    const started = performance.now();
    const scanned = scan(state.positions, lastSnapshot, scale);
    metrics.scanSeconds.observe((performance.now() - started) / 1000);

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
      if (disagree > 0) log.warn({ block: b, disagree }, "the lens did not confirm positions the SDK math found liquidatable");
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
      log.info({ block: b, tracked: state.positions.size, liquidatable: liquidatableSince.size, sent: candidates.length, reread: sync.reread }, "block");
    } else {
      log.debug({ block: b, tracked: state.positions.size }, "block");
    }
  }

  let running = true;
  let wake: (() => void) | null = null;
  const loop = (async () => {
    // The head the initial sync ended at is processed first: positions may already be liquidatable, and a quiet chain
    // may not produce another block for a while.
    let processed = head.number - 1n;
    while (running) {
      try {
        const block = await client.getBlock({ blockTag: "latest" });
        if (block.number > processed) {
          await processBlock(block);
          processed = block.number;
        } else {
          metrics.headLagSeconds.set(headLag());
        }
      } catch (err) {
        log.error({ err: (err as Error).message?.split("\n")[0], name: (err as Error).name }, "block processing failed; retrying");
      }
      if (!running) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, config.pollingIntervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  })();

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      running = false;
      (wake as (() => void) | null)?.();
      await loop;
      await executor.stop(30_000);
      saveState(path, state);
      await new Promise<void>((r) => (server as Server).close(() => r()));
      log.info({ tracked: state.positions.size }, "keeper stopped; index saved");
      resolveStopped();
    })());
  return { metricsPort: port, metrics, stop, stopped };
}
