/**
 * The executor: turns each block's liquidation candidates into `liquidateBatch` transactions, safely.
 *
 * Per block (`onBlock`), in this order:
 * 1. Pending transactions are checked: a receipt (of any hash signed for the nonce) settles the transaction, its
 *    PositionLiquidated logs naming this signer count as won, every other position of the batch as lost; a reverted
 *    liquidation is replayed at its block to learn why. A nonce the chain used for another transaction drops ours. A
 *    transaction not mined after `stuckAfterBlocks` blocks is re-signed with the same nonce and data and fees raised
 *    by at least `feeBumpPercent`, never above the `maxFeePerGas` cap (at the cap it waits).
 * 2. New candidates (most urgent first, minus those in flight or settled this block) are cut into batches of
 *    `batchSize`, as many as the `maxInFlight` cap leaves room for. Each batch is simulated from the signer: nothing
 *    liquidatable means another keeper won the race (counted lost, not retried). A batch is sent only when its reward
 *    beats its worst-case gas cost by `minProfitUsd`; when it does not, the positions whose reward does not pay for
 *    their share of the gas are dropped and the rest tried once more.
 *
 * Every batch and every pending transaction is handled in its own try/catch: one failure never stops the others.
 */
import {
  type Address,
  type Hash,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
  formatEther,
  formatUnits,
  isAddressEqual,
  keccak256,
  parseEventLogs,
} from "viem";

import {
  type TidemarkAddresses,
  TidemarkContractError,
  liquidateBatchCall,
  tidemarkEngineAbi,
  toCalldata,
  toTidemarkError,
} from "@tidemark/sdk";

import type { Logger } from "./log.ts";
import type { KeeperMetrics, LiquidationOutcome } from "./metrics.ts";
import { type NonceManager, createNonceManager, isNonceError } from "./nonce.ts";
import { type Candidate, type PositionKey, positionKey } from "./types.ts";
import { ethAmount, gweiAmount, tokenAmount, usdAmount } from "./units.ts";

export type ExecutorOptions = {
  publicClient: PublicClient;
  /** Signs the liquidations: must hold a local account (private key or keystore) unless `dryRun`. */
  walletClient: WalletClient;
  engine: Address;
  /** Positions per liquidateBatch transaction. */
  batchSize: number;
  /** Liquidation transactions pending at once. */
  maxInFlight: number;
  /** Minimum reward minus worst-case gas cost per transaction, WAD USD. */
  minProfitUsd: bigint;
  /** Cap on the max fee per gas, wei: never paid above, also not by fee bumps. */
  maxFeePerGas: bigint;
  /** Fee increase of a replacement, percent (nodes require at least 10). */
  feeBumpPercent: number;
  /** Blocks a transaction may stay pending before it is replaced with higher fees. */
  stuckAfterBlocks: number;
  /** Simulate and log what would be sent; send nothing. */
  dryRun: boolean;
  /** 10 ** (18 - token decimals): token units to WAD USD. */
  tokenScale: bigint;
  /** The collateral token's symbol, for amounts in logs ("12.34 USDC"). */
  tokenSymbol: string;
  /** WAD USD per 1e18 wei of the gas token. Read at most once per block, and only when a batch needs it. */
  nativeUsdPrice: () => Promise<bigint>;
  log: Logger;
  metrics: KeeperMetrics;
  /** Clock for the liquidation delay metric (ms since epoch). Default Date.now. */
  now?: () => number;
};

export type Executor = {
  /**
   * Called by the keeper on every new block with that block's confirmed candidates (most urgent first). Checks
   * in-flight transactions (receipts, stuck ones), then sends new batches within the in-flight cap. Never sends a
   * position already in flight. Resolves when this block's work is submitted (not mined). Calls are serialised.
   */
  onBlock(blockNumber: bigint, candidates: readonly Candidate[]): Promise<void>;
  /** Transactions pending. */
  inFlight(): number;
  /** positionKey(account, market) of the positions in pending transactions. */
  inFlightKeys(): ReadonlySet<string>;
  /** Stops sending (also fee bumps), then waits at most `timeoutMs` (default 30 s) for the pending receipts. */
  stop(timeoutMs?: number): Promise<void>;
};

/** A sent liquidation, by nonce. Every hash signed for the nonce is kept: whichever mines settles it. */
type PendingTx = {
  nonce: number;
  candidates: readonly Candidate[];
  keys: readonly PositionKey[];
  data: Hex;
  /** Gas limit. */
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  /** Oldest first. */
  hashes: Hash[];
  /** The latest signed transaction: rebroadcast while waiting at the fee cap, in case the node dropped it. */
  raw: Hex;
  /** Block of the latest (re)send: the stuck timer runs from here. */
  sentAtBlock: bigint;
  /** A replacement at the cap was refused (less than the node's minimum bump): only waiting is left. */
  atCap: boolean;
};

type Fees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint; baseFeePerGas: bigint };

/** What one block's work shares, each read at most once and only when needed. */
type BlockContext = { block: number; fees: () => Promise<Fees>; nativeUsd: () => Promise<bigint> };

type Evaluation =
  | { kind: "nothing"; batch: readonly Candidate[]; errorName: string }
  | { kind: "unprofitable"; batch: readonly Candidate[]; profit: bigint; dropped: number }
  | {
      kind: "ready";
      batch: readonly Candidate[];
      data: Hex;
      gasEstimate: bigint;
      fees: Fees;
      /** WAD USD: the rewards counted minus the worst-case gas cost. */
      profit: bigint;
      /** Token units: the rewards counted (the smallest `liquidated` of the batch). */
      reward: bigint;
      liquidated: bigint;
      dropped: number;
    };

const WAD = 10n ** 18n;
/** Gas limit = estimate + 20%: funding accrual and price moves between simulation and inclusion change the path. */
const GAS_LIMIT_PERCENT = 120n;
/** Reverts meaning no position of the batch was (still) liquidatable: somebody else got there first. */
const NOTHING_LIQUIDATABLE: ReadonlySet<string> = new Set(["PerpNothingLiquidated", "PerpNoPosition", "PerpPositionHealthy"]);

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** The error's name (the custom error's for protocol reverts) and a one-line message, for structured logs. */
export function describeError(err: unknown): { errorName: string; error: string } {
  const e = toTidemarkError(err);
  if (e instanceof TidemarkContractError) return { errorName: e.errorName, error: e.shortMessage };
  const o = (e ?? {}) as { name?: unknown; shortMessage?: unknown; message?: unknown };
  const text = typeof o.shortMessage === "string" ? o.shortMessage : typeof o.message === "string" ? o.message : String(e);
  return { errorName: typeof o.name === "string" ? o.name : "Error", error: text.split("\n")[0] };
}

export function createExecutor(o: ExecutorOptions): Executor {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error("executor: batchSize must be a positive integer");
  if (!Number.isInteger(o.maxInFlight) || o.maxInFlight < 1) throw new Error("executor: maxInFlight must be a positive integer");
  if (!Number.isInteger(o.stuckAfterBlocks) || o.stuckAfterBlocks < 1) throw new Error("executor: stuckAfterBlocks must be a positive integer");
  if (!Number.isInteger(o.feeBumpPercent) || o.feeBumpPercent < 10) {
    throw new Error("executor: feeBumpPercent must be at least 10 (nodes refuse smaller bumps)");
  }
  if (o.maxFeePerGas <= 0n) throw new Error("executor: maxFeePerGas must be positive");
  const account = o.walletClient.account;
  if (!o.dryRun && (account === undefined || account.type !== "local")) {
    throw new Error("executor: the wallet client needs a local account (private key or keystore) to sign liquidations");
  }
  const signer = account as LocalAccount | undefined;
  /** Sender of simulations; without an account (dry run) the node's default sender. */
  const from = account?.address;
  const now = o.now ?? Date.now;
  const log = o.log.child({ component: "executor" });
  const m = o.metrics;
  /** Token decimals, from the scale (10 ** (18 - decimals)). */
  const tokenDecimals = 18 - (o.tokenScale.toString().length - 1);
  const tokens = (units: bigint) => tokenAmount(units, tokenDecimals, o.tokenSymbol);
  const attempts = (outcome: LiquidationOutcome, positions: number) => {
    if (positions > 0) m.liquidationAttempts.inc({ outcome }, positions);
  };
  /** Gas paid by a mined transaction, wei (on rollups the L1 data fee may come on top). */
  const gasPaid = (receipt: TransactionReceipt) => receipt.gasUsed * (receipt.effectiveGasPrice ?? 0n);
  // liquidateBatchCall only reads the engine's address.
  const addresses = { engine: o.engine } as TidemarkAddresses;

  const pending = new Map<number, PendingTx>();
  const reservedNonce = () => (pending.size === 0 ? undefined : Math.max(...pending.keys()));
  const nonces: NonceManager | undefined =
    from === undefined || o.dryRun ? undefined : createNonceManager({ client: o.publicClient, address: from, reserved: reservedNonce });
  /** Positions settled (won or lost) while handling `settledBlock`: not sent again in that block. */
  let settledBlock: bigint | undefined;
  const settled = new Set<PositionKey>();
  let stopped = false;
  let tail: Promise<void> = Promise.resolve();
  let chainId: number | undefined = o.walletClient.chain?.id;

  const keysInFlight = (): Set<PositionKey> => {
    const keys = new Set<PositionKey>();
    for (const tx of pending.values()) for (const k of tx.keys) keys.add(k);
    return keys;
  };
  const gauge = () => m.inFlight.set(pending.size);

  function blockContext(block: bigint): BlockContext {
    let fees: Promise<Fees> | undefined;
    let nativeUsd: Promise<bigint> | undefined;
    return {
      block: Number(block),
      fees: () =>
        (fees ??= (async () => {
          const [latest, estimate] = await Promise.all([
            o.publicClient.getBlock({ blockTag: "latest" }),
            // `chain: undefined` falls back to the client's chain (and its fee overrides).
            o.publicClient.estimateFeesPerGas({ type: "eip1559", chain: undefined }),
          ]);
          const maxFeePerGas = min(estimate.maxFeePerGas, o.maxFeePerGas);
          return { maxFeePerGas, maxPriorityFeePerGas: min(estimate.maxPriorityFeePerGas, maxFeePerGas), baseFeePerGas: latest.baseFeePerGas ?? 0n };
        })()),
      nativeUsd: () => (nativeUsd ??= o.nativeUsdPrice()),
    };
  }

  /* ----------------------------------------------------------------- signing */

  async function sign(tx: { nonce: number; data: Hex; gas: bigint; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) {
    if (signer === undefined) throw new Error("executor: no signer");
    chainId ??= await o.publicClient.getChainId();
    const raw = await signer.signTransaction({
      chainId,
      type: "eip1559",
      to: o.engine,
      value: 0n,
      nonce: tx.nonce,
      data: tx.data,
      gas: tx.gas,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
    });
    return { raw, hash: keccak256(raw) };
  }

  /** True when the node knows the transaction: a send that "failed" after the node accepted it (timeout, duplicate). */
  async function nodeHas(hash: Hash): Promise<boolean> {
    try {
      await o.publicClient.getTransaction({ hash });
      return true;
    } catch {
      return false;
    }
  }

  /* -------------------------------------------------------------- evaluation */

  async function evaluate(batch: readonly Candidate[], ctx: BlockContext, allowTrim: boolean): Promise<Evaluation> {
    const call = liquidateBatchCall({ addresses, positions: batch });
    const [sim, gas] = await Promise.allSettled([
      o.publicClient.simulateContract({ ...call, account: from }),
      o.publicClient.estimateContractGas({ ...call, account: from }),
    ]);
    // Some nodes estimate against the pending block, where a rival's liquidation may already sit: a "nothing
    // liquidatable" revert from either call means the race is lost.
    for (const r of [sim, gas]) {
      if (r.status !== "rejected") continue;
      const err = toTidemarkError(r.reason);
      if (err instanceof TidemarkContractError && NOTHING_LIQUIDATABLE.has(err.errorName)) {
        return { kind: "nothing", batch, errorName: err.errorName };
      }
    }
    if (sim.status === "rejected") throw toTidemarkError(sim.reason);
    if (gas.status === "rejected") throw toTidemarkError(gas.reason);
    const liquidated = sim.value.result;
    const gasEstimate = gas.value;
    const [fees, nativeUsd] = await Promise.all([ctx.fees(), ctx.nativeUsd()]);
    const gasCost = (gasEstimate * fees.maxFeePerGas * nativeUsd) / WAD;
    // When the simulation skips some positions we cannot tell which: count only the smallest rewards.
    const rewards = batch.map((c) => c.reward).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const reward = rewards.slice(0, Math.min(batch.length, Number(liquidated))).reduce((a, b) => a + b, 0n);
    const profit = reward * o.tokenScale - gasCost;
    if (profit >= o.minProfitUsd) {
      return { kind: "ready", batch, data: toCalldata(call).data, gasEstimate, fees, profit, reward, liquidated, dropped: 0 };
    }
    if (allowTrim && batch.length > 1) {
      // Keep the positions whose reward pays for their share of the gas (a linear model: the fixed part of a
      // transaction's gas makes the real cost of fewer positions higher, so the smaller batch is evaluated again).
      const share = gasCost / BigInt(batch.length);
      const keep = batch.filter((c) => c.reward * o.tokenScale > share);
      const estimate = keep.reduce((a, c) => a + c.reward * o.tokenScale, 0n) - share * BigInt(keep.length);
      if (keep.length > 0 && keep.length < batch.length && estimate >= o.minProfitUsd) {
        const again = await evaluate(keep, ctx, false);
        if (again.kind !== "nothing") return { ...again, dropped: batch.length - keep.length };
        return again;
      }
    }
    return { kind: "unprofitable", batch, profit, dropped: 0 };
  }

  /* ------------------------------------------------------------------ sending */

  async function send(ev: Extract<Evaluation, { kind: "ready" }>, block: bigint): Promise<PendingTx> {
    if (nonces === undefined) throw new Error("executor: no nonce manager");
    const gasLimit = (ev.gasEstimate * GAS_LIMIT_PERCENT + 99n) / 100n;
    const fees = { maxFeePerGas: ev.fees.maxFeePerGas, maxPriorityFeePerGas: ev.fees.maxPriorityFeePerGas };
    for (let attempt = 0; ; attempt++) {
      const nonce = await nonces.next();
      let signed: { raw: Hex; hash: Hash };
      try {
        signed = await sign({ nonce, data: ev.data, gas: gasLimit, ...fees });
      } catch (err) {
        nonces.resync();
        throw err;
      }
      try {
        await o.walletClient.sendRawTransaction({ serializedTransaction: signed.raw });
      } catch (err) {
        if (await nodeHas(signed.hash)) {
          log.warn(
            { block: Number(block), nonce, hash: signed.hash, ...describeError(err) },
            "send reported an error but the node holds the transaction",
          );
        } else {
          // The nonce was not used: the next one is read from the chain (never below a pending transaction's).
          nonces.resync();
          if (attempt === 0 && isNonceError(err)) {
            log.warn({ block: Number(block), nonce, ...describeError(err) }, "nonce out of step with the chain; resynced, sending again");
            continue;
          }
          throw err;
        }
      }
      return {
        nonce,
        candidates: ev.batch,
        keys: ev.batch.map((c) => positionKey(c.account, c.market)),
        data: ev.data,
        gas: gasLimit,
        ...fees,
        hashes: [signed.hash],
        raw: signed.raw,
        sentAtBlock: block,
        atCap: false,
      };
    }
  }

  async function sendNew(block: bigint, candidates: readonly Candidate[], ctx: BlockContext): Promise<void> {
    const inFlight = keysInFlight();
    const seen = new Set<PositionKey>();
    const eligible: Candidate[] = [];
    for (const c of candidates) {
      const key = positionKey(c.account, c.market);
      if (seen.has(key) || inFlight.has(key) || settled.has(key)) continue;
      seen.add(key);
      eligible.push(c);
    }
    if (eligible.length === 0) return;
    let slots = o.maxInFlight - pending.size;
    if (slots <= 0) {
      log.debug({ block: ctx.block, waiting: eligible.length, inFlight: pending.size }, "in-flight cap reached; waiting");
      return;
    }
    let fees: Fees;
    try {
      fees = await ctx.fees();
    } catch (err) {
      log.error({ block: ctx.block, ...describeError(err) }, "cannot read gas fees; nothing sent this block");
      return;
    }
    if (fees.baseFeePerGas > o.maxFeePerGas) {
      // A transaction sent now could not be included and would hold up every later nonce.
      const fields = { block: ctx.block, waiting: eligible.length };
      log.warn({ ...fields, baseFeePerGas: gweiAmount(fees.baseFeePerGas), maxFeePerGas: gweiAmount(o.maxFeePerGas) }, "base fee above the max fee cap; not sending");
      return;
    }
    const batches: Candidate[][] = [];
    for (let i = 0; i < eligible.length; i += o.batchSize) batches.push(eligible.slice(i, i + o.batchSize));

    let next = 0;
    while (slots > 0 && next < batches.length && !stopped) {
      const round = batches.slice(next, next + slots);
      next += round.length;
      // Simulations run side by side; sends go out one by one in urgency order (nonce order).
      const evaluations = await Promise.all(
        round.map((batch) =>
          evaluate(batch, ctx, true).catch((err: unknown) => {
            attempts("error", batch.length);
            log.error({ block: ctx.block, accounts: batch.length, ...describeError(err) }, "liquidation simulation failed");
            return undefined;
          }),
        ),
      );
      // Every simulation of the round failed: the node is likely unwell; the next block tries again.
      if (evaluations.every((ev) => ev === undefined)) break;
      for (const ev of evaluations) {
        if (ev === undefined) continue;
        const fields = { block: ctx.block, accounts: ev.batch.length };
        if (ev.kind === "nothing") {
          for (const c of ev.batch) settled.add(positionKey(c.account, c.market));
          if (!o.dryRun) m.liquidationsLost.inc(ev.batch.length);
          attempts("lost", ev.batch.length);
          log.info({ ...fields, errorName: ev.errorName }, "nothing in the batch is liquidatable any more: lost race or no longer due; not retried");
          continue;
        }
        if (ev.kind === "unprofitable") {
          attempts("skipped", ev.batch.length + ev.dropped);
          log.info({ ...fields, profit: usdAmount(ev.profit), minProfit: usdAmount(o.minProfitUsd) }, "batch below the minimum profit; skipped");
          continue;
        }
        // Positions whose reward did not pay for their share of the gas were dropped from the batch.
        attempts("skipped", ev.dropped);
        const details = {
          ...fields,
          liquidatable: Number(ev.liquidated),
          dropped: ev.dropped,
          reward: tokens(ev.reward),
          profit: usdAmount(ev.profit),
          gas: Number(ev.gasEstimate),
          maxGasCost: ethAmount(ev.gasEstimate * ev.fees.maxFeePerGas),
          maxFeePerGas: gweiAmount(ev.fees.maxFeePerGas),
          maxPriorityFeePerGas: gweiAmount(ev.fees.maxPriorityFeePerGas),
        };
        slots--;
        if (o.dryRun) {
          attempts("dry_run", ev.batch.length);
          log.info({ ...details, positions: ev.batch.map((c) => positionKey(c.account, c.market)) }, "dry run: would send liquidation");
          continue;
        }
        try {
          const tx = await send(ev, block);
          pending.set(tx.nonce, tx);
          gauge();
          m.liquidationsSent.inc(ev.batch.length);
          log.info({ ...details, nonce: tx.nonce, hash: tx.hashes[0] }, "liquidation sent");
        } catch (err) {
          // The slot stays used for this block: a node refusing one send usually refuses the next as well.
          m.transactionsFailed.inc();
          attempts("error", ev.batch.length);
          log.error({ ...details, ...describeError(err) }, "liquidation send failed");
        }
      }
    }
  }

  /* ---------------------------------------------------------- pending checks */

  async function findReceipt(hashes: readonly Hash[]): Promise<TransactionReceipt | undefined> {
    const receipts = await Promise.all(
      hashes.map((hash) =>
        o.publicClient.getTransactionReceipt({ hash }).catch((err: unknown) => {
          if ((err as { name?: string }).name === "TransactionReceiptNotFoundError") return undefined;
          throw err;
        }),
      ),
    );
    return receipts.find((r) => r !== undefined);
  }

  function release(tx: PendingTx) {
    pending.delete(tx.nonce);
    gauge();
  }

  async function settle(tx: PendingTx, receipt: TransactionReceipt, block: number) {
    release(tx);
    for (const k of tx.keys) settled.add(k);
    const fields = { block, mined: Number(receipt.blockNumber), nonce: tx.nonce, hash: receipt.transactionHash, accounts: tx.keys.length };
    const paid = gasPaid(receipt);
    m.gasSpentEth.inc(Number(formatEther(paid)));
    const gasFields = { gasUsed: Number(receipt.gasUsed), gasCost: ethAmount(paid), effectiveGasPrice: gweiAmount(receipt.effectiveGasPrice ?? 0n) };
    if (receipt.status === "success") {
      const won = new Map<PositionKey, bigint>();
      for (const l of parseEventLogs({ abi: tidemarkEngineAbi, eventName: "PositionLiquidated", logs: receipt.logs })) {
        if (!isAddressEqual(l.address, o.engine) || from === undefined || !isAddressEqual(l.args.liquidator, from)) continue;
        won.set(positionKey(l.args.account, l.args.market), l.args.keeperReward);
      }
      const t = now();
      let lost = 0;
      for (const c of tx.candidates) {
        if (won.has(positionKey(c.account, c.market))) {
          m.liquidationsSucceeded.inc();
          m.liquidationDelay.observe(Math.max(0, (t - c.liquidatableSince) / 1000));
        } else lost++;
      }
      if (lost > 0) m.liquidationsLost.inc(lost);
      attempts("success", tx.candidates.length - lost);
      attempts("lost", lost);
      const reward = [...won.values()].reduce((a, b) => a + b, 0n);
      m.rewardsUsd.inc(Number(formatUnits(reward * o.tokenScale, 18)));
      log.info(
        { ...fields, liquidated: won.size, lost, reward: tokens(reward), rewardRaw: reward.toString(), ...gasFields },
        "liquidation mined",
      );
      return;
    }
    m.transactionsFailed.inc();
    // Replayed at the end of its block: PerpNothingLiquidated there means others took the positions first.
    let reason: string;
    try {
      await o.publicClient.call({ account: from, to: o.engine, data: tx.data, blockNumber: receipt.blockNumber });
      reason = "none";
    } catch (err) {
      const e = toTidemarkError(err);
      reason = e instanceof TidemarkContractError ? e.errorName : "unknown";
    }
    if (reason === "none") {
      // Still liquidatable after its block: the transaction itself failed (most likely out of gas). Not a lost race;
      // the positions come back with the next block's candidates.
      attempts("reverted", tx.keys.length);
      log.error(
        { ...fields, ...gasFields, gasLimit: Number(tx.gas) },
        "liquidation reverted although the batch is still liquidatable",
      );
      return;
    }
    m.liquidationsLost.inc(tx.keys.length);
    attempts("lost", tx.keys.length);
    log.info({ ...fields, ...gasFields, errorName: reason }, "liquidation reverted: nothing was liquidatable any more (lost race); not retried");
  }

  async function replace(tx: PendingTx, block: bigint, ctx: BlockContext) {
    const fields = { block: ctx.block, nonce: tx.nonce, accounts: tx.keys.length };
    if (tx.atCap || tx.maxFeePerGas >= o.maxFeePerGas) {
      // Nothing left to bump: wait, and make sure the node still holds the transaction.
      await o.walletClient.sendRawTransaction({ serializedTransaction: tx.raw }).catch(() => undefined);
      tx.sentAtBlock = block;
      log.warn({ ...fields, hash: tx.hashes.at(-1), maxFeePerGas: gweiAmount(tx.maxFeePerGas) }, "liquidation pending at the max fee cap; waiting");
      return;
    }
    const bump = (x: bigint) => (x * BigInt(100 + o.feeBumpPercent) + 99n) / 100n;
    const fresh = await ctx.fees();
    const maxFeePerGas = min(o.maxFeePerGas, max(bump(tx.maxFeePerGas), fresh.maxFeePerGas));
    const maxPriorityFeePerGas = min(maxFeePerGas, max(max(bump(tx.maxPriorityFeePerGas), tx.maxPriorityFeePerGas + 1n), fresh.maxPriorityFeePerGas));
    const signed = await sign({ nonce: tx.nonce, data: tx.data, gas: tx.gas, maxFeePerGas, maxPriorityFeePerGas });
    const replaced = tx.hashes.at(-1);
    try {
      await o.walletClient.sendRawTransaction({ serializedTransaction: signed.raw });
    } catch (err) {
      if (!(await nodeHas(signed.hash))) {
        // "nonce too low": one of the hashes was just mined, the next check settles it. "underpriced": the cap left
        // less than the node's minimum bump, so wait at the current fees.
        if (maxFeePerGas === o.maxFeePerGas) tx.atCap = true;
        tx.sentAtBlock = block;
        log.warn({ ...fields, hash: replaced, ...describeError(err) }, "replacement of a stuck liquidation refused");
        return;
      }
    }
    tx.hashes.push(signed.hash);
    tx.raw = signed.raw;
    tx.maxFeePerGas = maxFeePerGas;
    tx.maxPriorityFeePerGas = maxPriorityFeePerGas;
    tx.sentAtBlock = block;
    log.info(
      {
        ...fields,
        hash: signed.hash,
        replaces: replaced,
        maxFeePerGas: gweiAmount(maxFeePerGas),
        maxPriorityFeePerGas: gweiAmount(maxPriorityFeePerGas),
      },
      "stuck liquidation replaced with higher fees",
    );
  }

  /** Settles mined transactions, drops those whose nonce went to another transaction, replaces stuck ones. */
  async function checkPending(block: bigint | undefined, ctx: BlockContext | undefined) {
    if (pending.size === 0 || from === undefined) return;
    // Read before the receipts: a nonce used by then has its receipt available by the time they are read.
    const used = await o.publicClient.getTransactionCount({ address: from, blockTag: "latest" });
    await Promise.all(
      [...pending.values()].map(async (tx) => {
        try {
          const receipt = await findReceipt(tx.hashes);
          if (receipt !== undefined) return await settle(tx, receipt, ctx?.block ?? Number(receipt.blockNumber));
          if (used > tx.nonce) {
            release(tx);
            nonces?.resync();
            m.transactionsFailed.inc();
            attempts("error", tx.keys.length);
            log.warn(
              { block: ctx?.block, nonce: tx.nonce, hashes: tx.hashes, accounts: tx.keys.length },
              "nonce used by another transaction of the signer; liquidation dropped",
            );
            return;
          }
          if (block !== undefined && ctx !== undefined && block - tx.sentAtBlock >= BigInt(o.stuckAfterBlocks)) await replace(tx, block, ctx);
        } catch (err) {
          log.error(
            { block: ctx?.block, nonce: tx.nonce, hash: tx.hashes.at(-1), accounts: tx.keys.length, ...describeError(err) },
            "checking a pending liquidation failed",
          );
        }
      }),
    );
  }

  /* ------------------------------------------------------------------ the API */

  async function handleBlock(block: bigint, candidates: readonly Candidate[]) {
    if (settledBlock !== block) {
      settledBlock = block;
      settled.clear();
    }
    const ctx = blockContext(block);
    try {
      await checkPending(stopped ? undefined : block, ctx);
    } catch (err) {
      log.error({ block: ctx.block, ...describeError(err) }, "checking pending liquidations failed");
    }
    if (stopped) return;
    try {
      await sendNew(block, candidates, ctx);
    } catch (err) {
      log.error({ block: ctx.block, ...describeError(err) }, "sending liquidations failed");
    }
  }

  return {
    onBlock(block, candidates) {
      const run = tail.then(() => handleBlock(block, candidates));
      tail = run.catch(() => undefined);
      return run;
    },
    inFlight: () => pending.size,
    inFlightKeys: () => keysInFlight(),
    async stop(timeoutMs = 30_000) {
      stopped = true;
      await tail;
      const deadline = Date.now() + timeoutMs;
      const interval = Math.max(10, o.publicClient.pollingInterval ?? 1000);
      while (pending.size > 0 && Date.now() < deadline) {
        try {
          await checkPending(undefined, undefined);
        } catch (err) {
          log.error({ ...describeError(err) }, "checking pending liquidations failed");
        }
        if (pending.size === 0) break;
        await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))));
      }
      if (pending.size > 0) {
        log.warn({ pending: pending.size, nonces: [...pending.keys()] }, "stopped with liquidations still pending");
      }
    },
  };
}
