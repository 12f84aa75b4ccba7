/**
 * The keeper's executor against the in-process Hardhat network: batches, the in-flight cap, lost races (before the
 * simulation and inside the same block), fee bumps of stuck transactions, nonce recovery, the profit check, dry runs
 * and stopping. The signer is Hardhat's account #9, signed locally by viem. Automine is switched off wherever a
 * transaction has to stay pending; every test leaves it on.
 */
import { Writable } from "node:stream";

import { tidemarkEngineAbi } from "@tidemark/sdk";
import { expect } from "chai";
import { network } from "hardhat";
import {
  type Address,
  type Hash,
  type Hex,
  type PublicClient,
  createPublicClient,
  createWalletClient,
  custom,
  decodeFunctionData,
  parseEventLogs,
  parseGwei,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { type ExecutorOptions, createExecutor } from "../../../keeper/src/executor.ts";
import { createLogger } from "../../../keeper/src/log.ts";
import { type KeeperMetrics, LIQUIDATION_OUTCOMES, createMetrics } from "../../../keeper/src/metrics.ts";
import { createNonceManager, isNonceError } from "../../../keeper/src/nonce.ts";
import { type Candidate, positionKey } from "../../../keeper/src/types.ts";
import { ETH, SCALE, answer, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { near } from "../helpers/near.js";

const conn = await network.create();
const { ethers, networkHelpers } = conn;

/** Hardhat's default account #9: not used by the fixture, so its nonce is the executor's alone. */
const signer = privateKeyToAccount("0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6");
// No retries: Hardhat reports reverts with an error code viem would otherwise retry.
const transport = custom(conn.provider, { retryCount: 0 });
const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 20, cacheTime: 0 });
const walletClient = createWalletClient({ chain: hardhat, transport, account: signer, pollingInterval: 20, cacheTime: 0 });

/** When the candidates were first seen liquidatable; the executor's clock reads 2.5 s later. */
const SEEN_AT = 1_800_000_000_000;
const NOW = SEEN_AT + 2_500;
/** The engine's minimum keeper reward (5 USD), token units. */
const REWARD = usd(5);

/** Alice, bob and carol each long 1 ETH at 3,000 on 200 USD of collateral; ETH then crashes to 2,000. */
async function crashedFixture() {
  const p = await deployProtocol(ethers);
  for (const s of [p.alice, p.bob, p.carol]) {
    await p.engine.connect(s).deposit(usd(10_000));
    await p.engine.connect(s).modifyPosition(ETH, wad(1), usd(200), wad(4_000));
  }
  await p.ethFeed.updateAnswer(answer(2_000));
  return p;
}
type Protocol = Awaited<ReturnType<typeof crashedFixture>>;

/* ----------------------------------------------------------------- helpers */

const rpc = (method: string, params: unknown[] = []) => conn.provider.request({ method, params });
const automine = (on: boolean) => rpc("evm_setAutomine", [on]);
const mine = () => rpc("evm_mine");
const nextBaseFee = (wei: bigint) => rpc("hardhat_setNextBlockBaseFeePerGas", [toHex(wei)]);
const blockNumber = () => publicClient.getBlockNumber();
const nonceOf = (blockTag: "latest" | "pending" = "pending") => publicClient.getTransactionCount({ address: signer.address, blockTag });

/** Candidates for `accounts` on ETH, confirmed liquidatable by the lens. */
async function candidates(p: Protocol, accounts: { address: string }[], reward = REWARD): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const a of accounts) {
    const h = await p.lens.positionHealth(a.address, ETH);
    expect(h.liquidatable, `${a.address} must be liquidatable`).to.equal(true);
    out.push({
      account: a.address as Address,
      market: ETH as Hex,
      healthFactor: h.healthFactor,
      notional: h.notional,
      reward,
      liquidatableSince: SEEN_AT,
    });
  }
  return out;
}

type LogLine = { level: number; msg: string; [field: string]: unknown };

function setup(p: Protocol, overrides: Partial<ExecutorOptions> = {}) {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line));
      callback();
    },
  });
  const metrics = createMetrics();
  const executor = createExecutor({
    publicClient,
    walletClient,
    engine: p.engine.target as Address,
    batchSize: 10,
    maxInFlight: 4,
    minProfitUsd: wad(1),
    maxFeePerGas: parseGwei("100"),
    feeBumpPercent: 20,
    stuckAfterBlocks: 100,
    dryRun: false,
    tokenScale: SCALE,
    tokenSymbol: "USDC",
    nativeUsdPrice: async () => wad(3_000),
    log: createLogger("debug", stream),
    metrics,
    now: () => NOW,
    ...overrides,
  });
  const logged = (msg: string) => lines.filter((l) => l.msg === msg);
  /** Hashes of the liquidations sent, in order. */
  const sent = () => logged("liquidation sent").map((l) => l.hash as Hash);
  return { executor, metrics, lines, logged, sent };
}

async function value(metric: { get(): Promise<{ values: { value: number; metricName?: string }[] }> }, suffix = "") {
  const values = (await metric.get()).values;
  const v = suffix === "" ? values[0] : values.find((x) => x.metricName?.endsWith(suffix));
  return v?.value ?? 0;
}

/** The non-zero liquidation attempt counts, by outcome (every outcome is exported from the start, at 0). */
async function outcomes(m: KeeperMetrics): Promise<Record<string, number>> {
  const values = (await m.liquidationAttempts.get()).values;
  expect(values.map((v) => v.labels.outcome).sort()).to.deep.equal([...LIQUIDATION_OUTCOMES].sort());
  return Object.fromEntries(values.filter((v) => v.value !== 0).map((v) => [String(v.labels.outcome), v.value]));
}


/** "12.34 USDC" → 12.34, checking the unit. */
function amount(text: unknown, unit: string): number {
  expect(text).to.be.a("string");
  const m = new RegExp(`^(-?\\d{1,3}(?:,\\d{3})*(?:\\.\\d+)?) ${unit}$`).exec(text as string);
  expect(m, `"${String(text)}" is an amount in ${unit}`).to.not.equal(null);
  return Number(m![1].replaceAll(",", ""));
}

async function counters(m: KeeperMetrics) {
  return {
    sent: await value(m.liquidationsSent),
    succeeded: await value(m.liquidationsSucceeded),
    lost: await value(m.liquidationsLost),
    failed: await value(m.transactionsFailed),
    inFlight: await value(m.inFlight),
  };
}

/** Accounts liquidated by `liquidateBatch` calldata. */
async function batchAccounts(hash: Hash): Promise<string[]> {
  const tx = await publicClient.getTransaction({ hash });
  const { functionName, args } = decodeFunctionData({ abi: tidemarkEngineAbi, data: tx.input });
  expect(functionName).to.equal("liquidateBatch");
  return (args[0] as readonly Address[]).map((a) => a.toLowerCase());
}

const sizeOf = async (p: Protocol, a: { address: string }) => (await p.engine.getPosition(a.address, ETH)).size;
const key = (a: { address: string }) => positionKey(a.address as Address, ETH as Hex);

/* ------------------------------------------------------------------- tests */

describe("keeper executor", function () {
  afterEach(async () => {
    await automine(true);
  });

  it("liquidates a batch: positions closed, rewards credited to the signer, metrics counted", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent, logged, lines } = setup(p);
    const traders = [p.alice, p.bob, p.carol];
    const freeBefore = await p.engine.freeBalance(signer.address);
    const nonceBefore = await nonceOf();

    await executor.onBlock(await blockNumber(), await candidates(p, traders));
    expect(executor.inFlight()).to.equal(1);
    expect([...executor.inFlightKeys()].sort()).to.deep.equal(traders.map(key).sort());
    expect(await value(metrics.inFlight)).to.equal(1);

    await executor.onBlock(await blockNumber(), []); // automine: already mined, settled now
    expect(executor.inFlight()).to.equal(0);
    expect(executor.inFlightKeys().size).to.equal(0);
    for (const t of traders) expect(await sizeOf(p, t)).to.equal(0n);
    expect(await nonceOf()).to.equal(nonceBefore + 1);

    const receipt = await publicClient.getTransactionReceipt({ hash: sent()[0] });
    const events = parseEventLogs({ abi: tidemarkEngineAbi, eventName: "PositionLiquidated", logs: receipt.logs });
    expect(events).to.have.length(3);
    for (const e of events) expect(e.args.liquidator).to.equal(signer.address);
    const rewards = events.reduce((a, e) => a + e.args.keeperReward, 0n);
    expect(rewards).to.be.greaterThan(0n);
    expect((await p.engine.freeBalance(signer.address)) - freeBefore).to.equal(rewards);

    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 3, lost: 0, failed: 0, inFlight: 0 });
    expect(await outcomes(metrics)).to.deep.equal({ success: 3 });
    expect(await value(metrics.liquidationDelay, "_count")).to.equal(3);
    expect(await value(metrics.liquidationDelay, "_sum")).to.equal(7.5);

    // Amounts carry their units in the log; the counters hold the same figures in USD and ETH.
    const mined = logged("liquidation mined")[0];
    expect(mined.rewardRaw).to.equal(rewards.toString());
    expect(amount(mined.reward, "USDC")).to.equal(Number(rewards) / 1e6);
    near(await value(metrics.rewardsUsd), Number(rewards) / 1e6, 1e-9);
    const paid = receipt.gasUsed * receipt.effectiveGasPrice;
    expect(paid).to.be.greaterThan(0n);
    near(amount(mined.gasCost, "ETH"), Number(paid) / 1e18, 1e-9);
    near(await value(metrics.gasSpentEth), Number(paid) / 1e18, 1e-12);
    expect(mined.gasUsed).to.equal(Number(receipt.gasUsed));
    amount(mined.effectiveGasPrice, "gwei");
    const sentLine = logged("liquidation sent")[0];
    expect(amount(sentLine.reward, "USDC")).to.equal(15); // three minimum keeper rewards of 5 USD
    expect(amount(sentLine.profit, "USD")).to.be.within(0, 15);
    amount(sentLine.maxGasCost, "ETH");
    amount(sentLine.maxFeePerGas, "gwei");
    amount(sentLine.maxPriorityFeePerGas, "gwei");
    for (const l of lines) if ("block" in l) expect(l.block, `${l.msg}: block`).to.be.a("number");
  });

  it("splits the candidates into batches of batchSize, most urgent first", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent } = setup(p, { batchSize: 2 });
    const nonceBefore = await nonceOf();

    await executor.onBlock(await blockNumber(), await candidates(p, [p.alice, p.bob, p.carol]));
    await executor.onBlock(await blockNumber(), []);

    expect(sent()).to.have.length(2);
    expect(await batchAccounts(sent()[0])).to.deep.equal([p.alice.address.toLowerCase(), p.bob.address.toLowerCase()]);
    expect(await batchAccounts(sent()[1])).to.deep.equal([p.carol.address.toLowerCase()]);
    expect(await nonceOf()).to.equal(nonceBefore + 2);
    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 3, lost: 0, failed: 0, inFlight: 0 });
  });

  it("keeps at most maxInFlight transactions pending", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics } = setup(p, { batchSize: 1, maxInFlight: 2 });
    const all = await candidates(p, [p.alice, p.bob, p.carol]);
    const nonceBefore = await nonceOf();
    await automine(false);

    await executor.onBlock(await blockNumber(), all);
    expect(executor.inFlight()).to.equal(2);
    expect([...executor.inFlightKeys()].sort()).to.deep.equal([key(p.alice), key(p.bob)].sort());
    expect(await value(metrics.inFlight)).to.equal(2);
    expect(await nonceOf()).to.equal(nonceBefore + 2);

    await mine();
    await executor.onBlock(await blockNumber(), all.slice(2)); // both mined: room for carol
    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 2, lost: 0, failed: 0, inFlight: 1 });
    expect([...executor.inFlightKeys()]).to.deep.equal([key(p.carol)]);

    await mine();
    await executor.onBlock(await blockNumber(), []);
    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 3, lost: 0, failed: 0, inFlight: 0 });
    expect(await sizeOf(p, p.carol)).to.equal(0n);
  });

  it("does not send a position again while its transaction is pending", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    // A cheap gas token: carol is still worth liquidating at the raised base fee below.
    const { executor, metrics, sent } = setup(p, { batchSize: 1, maxInFlight: 3, nativeUsdPrice: async () => wad(100) });
    const all = await candidates(p, [p.alice, p.bob, p.carol]);
    const nonceBefore = await nonceOf();
    await automine(false);

    await executor.onBlock(await blockNumber(), all.slice(0, 2));
    expect(sent()).to.have.length(2);
    // A base fee above their max fee keeps both out of the next block.
    await nextBaseFee(parseGwei("50"));
    await mine();
    await executor.onBlock(await blockNumber(), all);
    // One free slot: a resend of alice (the most urgent) would have taken it.
    expect(sent()).to.have.length(3);
    expect(await batchAccounts(sent()[2])).to.deep.equal([p.carol.address.toLowerCase()]);
    // (Hardhat's "pending" count leaves out transactions the next block's base fee excludes: read each one.)
    const nonces = await Promise.all(sent().map(async (hash) => (await publicClient.getTransaction({ hash })).nonce));
    expect(nonces).to.deep.equal([nonceBefore, nonceBefore + 1, nonceBefore + 2]);
    expect(await value(metrics.liquidationsSent)).to.equal(3);

    await nextBaseFee(parseGwei("0.01"));
    await mine();
    await executor.onBlock(await blockNumber(), all);
    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 3, lost: 0, failed: 0, inFlight: 0 });
  });

  it("counts a race lost before the simulation, sends nothing and does not retry in the same block", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, logged } = setup(p);
    const traders = [p.alice, p.bob, p.carol];
    const stale = await candidates(p, traders);
    const rival = p.keeper;
    await p.engine.connect(rival).liquidateBatch(
      traders.map((t) => t.address),
      traders.map(() => ETH),
    );
    const nonceBefore = await nonceOf();

    const block = await blockNumber();
    await executor.onBlock(block, stale);
    expect(await counters(metrics)).to.deep.equal({ sent: 0, succeeded: 0, lost: 3, failed: 0, inFlight: 0 });
    expect(await outcomes(metrics)).to.deep.equal({ lost: 3 });
    expect(logged("nothing in the batch is liquidatable any more: lost race or no longer due; not retried")[0]).to.include({
      errorName: "PerpNothingLiquidated",
      accounts: 3,
    });
    await executor.onBlock(block, stale);
    expect(await value(metrics.liquidationsLost)).to.equal(3);
    expect(logged("nothing in the batch is liquidatable any more: lost race or no longer due; not retried")).to.have.length(1);
    expect(await nonceOf()).to.equal(nonceBefore);
  });

  it("counts a race lost to a rival's pending transaction (Hardhat estimates gas on the pending block)", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent } = setup(p);
    const stale = await candidates(p, [p.alice]);
    await automine(false);
    await p.engine.connect(p.keeper).liquidate(p.alice.address, ETH, { gasLimit: 1_000_000n });
    const nonceBefore = await nonceOf();
    await executor.onBlock(await blockNumber(), stale);
    expect(sent()).to.have.length(0);
    expect(await nonceOf()).to.equal(nonceBefore);
    expect(await counters(metrics)).to.deep.equal({ sent: 0, succeeded: 0, lost: 1, failed: 0, inFlight: 0 });
    await mine();
    expect(await sizeOf(p, p.alice)).to.equal(0n);
  });

  it("counts a race lost inside the block (a rival with a higher tip mined first) and does not retry", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent, logged } = setup(p);
    const traders = [p.alice, p.bob, p.carol];
    const stale = await candidates(p, traders);
    const nonceBefore = await nonceOf();
    await automine(false);

    await executor.onBlock(await blockNumber(), stale);
    expect(sent()).to.have.length(1);
    const rival = p.keeper;
    const rivalTx = await p.engine.connect(rival).liquidateBatch(
      traders.map((t) => t.address),
      traders.map(() => ETH),
      // Estimating would run against the pending block, where the keeper's transaction comes first.
      { maxPriorityFeePerGas: parseGwei("10"), maxFeePerGas: parseGwei("20"), gasLimit: 1_000_000n },
    );
    await mine();

    const ours = await publicClient.getTransactionReceipt({ hash: sent()[0] });
    const theirs = await publicClient.getTransactionReceipt({ hash: rivalTx.hash as Hash });
    expect(ours.blockNumber).to.equal(theirs.blockNumber);
    expect(theirs.transactionIndex).to.be.lessThan(ours.transactionIndex);
    expect(ours.status).to.equal("reverted");

    await executor.onBlock(await blockNumber(), stale); // stale candidates: settled this block, not sent again
    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 0, lost: 3, failed: 1, inFlight: 0 });
    expect(await outcomes(metrics)).to.deep.equal({ lost: 3 });
    const reverted = logged("liquidation reverted: nothing was liquidatable any more (lost race); not retried")[0];
    expect(reverted).to.include({ errorName: "PerpNothingLiquidated" });
    // A reverted transaction still pays for its gas.
    near(await value(metrics.gasSpentEth), Number(ours.gasUsed * ours.effectiveGasPrice) / 1e18, 1e-12);
    expect(amount(reverted.gasCost, "ETH")).to.be.greaterThan(0);
    expect(await value(metrics.rewardsUsd)).to.equal(0);
    expect(await nonceOf()).to.equal(nonceBefore + 1);
    expect(executor.inFlightKeys().size).to.equal(0);
  });

  it("counts the positions of a mined batch that a rival took first as lost, the rest as won", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent, logged } = setup(p);
    const stale = await candidates(p, [p.alice, p.bob, p.carol]);
    await automine(false);

    await executor.onBlock(await blockNumber(), stale);
    await p.engine
      .connect(p.keeper)
      .liquidate(p.alice.address, ETH, { maxPriorityFeePerGas: parseGwei("10"), maxFeePerGas: parseGwei("20"), gasLimit: 1_000_000n });
    await mine();
    expect((await publicClient.getTransactionReceipt({ hash: sent()[0] })).status).to.equal("success");

    await executor.onBlock(await blockNumber(), stale);
    expect(await counters(metrics)).to.deep.equal({ sent: 3, succeeded: 2, lost: 1, failed: 0, inFlight: 0 });
    expect(await outcomes(metrics)).to.deep.equal({ success: 2, lost: 1 });
    expect(logged("liquidation mined")[0]).to.include({ liquidated: 2, lost: 1 });
    expect(amount(logged("liquidation mined")[0].reward, "USDC")).to.equal(10);
    expect(await value(metrics.rewardsUsd)).to.equal(10);
    expect(await value(metrics.liquidationDelay, "_count")).to.equal(2);
    expect(sent()).to.have.length(1);
  });

  it("replaces a stuck transaction with bumped fees (same nonce), capped, waits at the cap, and settles once mined", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    // The first send pays about 1.005 gwei; a 50% bump would pass the cap.
    const cap = parseGwei("1.3");
    const { executor, metrics, sent, logged } = setup(p, { stuckAfterBlocks: 2, feeBumpPercent: 50, maxFeePerGas: cap });
    const all = await candidates(p, [p.alice]);
    await automine(false);

    await executor.onBlock(await blockNumber(), all);
    const original = await publicClient.getTransaction({ hash: sent()[0] });
    expect(original.maxFeePerGas! < cap).to.equal(true);
    // The base fee jumps above the transaction's max fee (and above the cap), then falls 12.5% per empty block.
    await nextBaseFee(parseGwei("6"));
    const replacements: Hash[] = [];
    for (let i = 0; i < 20 && executor.inFlight() > 0; i++) {
      await mine();
      await executor.onBlock(await blockNumber(), all);
      for (const l of logged("stuck liquidation replaced with higher fees")) {
        if (!replacements.includes(l.hash as Hash)) replacements.push(l.hash as Hash);
      }
    }
    expect(executor.inFlight()).to.equal(0);
    // One replacement reaches the cap; after that the executor only waits.
    expect(replacements).to.have.length(1);
    const replacement = await publicClient.getTransaction({ hash: replacements[0] });
    expect(replacement.nonce).to.equal(original.nonce);
    expect(replacement.input).to.equal(original.input);
    expect(replacement.maxFeePerGas).to.equal(cap);
    expect(replacement.maxPriorityFeePerGas! >= (original.maxPriorityFeePerGas! * 110n) / 100n).to.equal(true);
    expect(replacement.maxPriorityFeePerGas! <= cap).to.equal(true);
    expect(logged("liquidation pending at the max fee cap; waiting")).to.not.have.length(0);
    expect(logged("liquidation mined")[0].hash).to.equal(replacements[0]);
    expect(await sizeOf(p, p.alice)).to.equal(0n);
    expect(await counters(metrics)).to.deep.equal({ sent: 1, succeeded: 1, lost: 0, failed: 0, inFlight: 0 });
  });

  it("raises both fees of a replacement by at least feeBumpPercent when the cap leaves room", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, sent, logged } = setup(p, { stuckAfterBlocks: 1, feeBumpPercent: 25, maxFeePerGas: parseGwei("1000") });
    await automine(false);
    await executor.onBlock(await blockNumber(), await candidates(p, [p.alice]));
    const original = await publicClient.getTransaction({ hash: sent()[0] });
    // Above the first max fee: the replacement's max fee follows the fresh estimate (1.2 x base + tip), its tip
    // (the node suggests 1 gwei throughout) the bump.
    await nextBaseFee(parseGwei("2"));
    await mine();
    await executor.onBlock(await blockNumber(), []);
    const replaced = logged("stuck liquidation replaced with higher fees");
    expect(replaced).to.have.length(1);
    const replacement = await publicClient.getTransaction({ hash: replaced[0].hash as Hash });
    expect(replacement.nonce).to.equal(original.nonce);
    expect(replacement.maxPriorityFeePerGas).to.equal((original.maxPriorityFeePerGas! * 125n + 99n) / 100n);
    expect(replacement.maxFeePerGas! >= (original.maxFeePerGas! * 125n) / 100n).to.equal(true);
    await mine();
    await executor.onBlock(await blockNumber(), []);
    expect(executor.inFlight()).to.equal(0);
  });

  it("recovers when a transaction sent from the signer's key outside the keeper moved the nonce", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent, logged } = setup(p);
    await executor.onBlock(await blockNumber(), await candidates(p, [p.alice]));
    const first = await publicClient.getTransaction({ hash: sent()[0] });
    // Out of band: the same key pays itself, taking the nonce the executor counts on.
    await walletClient.sendTransaction({ to: signer.address, value: 0n });

    await executor.onBlock(await blockNumber(), await candidates(p, [p.bob]));
    expect(logged("nonce out of step with the chain; resynced, sending again")).to.have.length(1);
    expect(sent()).to.have.length(2);
    const second = await publicClient.getTransaction({ hash: sent()[1] });
    expect(second.nonce).to.equal(first.nonce + 2);
    await executor.onBlock(await blockNumber(), []);
    expect(await sizeOf(p, p.bob)).to.equal(0n);
    expect(await counters(metrics)).to.deep.equal({ sent: 2, succeeded: 2, lost: 0, failed: 0, inFlight: 0 });
  });

  it("drops a transaction whose nonce another transaction of the key took, and sends its positions again", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, sent, logged } = setup(p);
    const all = await candidates(p, [p.alice]);
    await automine(false);
    await executor.onBlock(await blockNumber(), all);
    const ours = await publicClient.getTransaction({ hash: sent()[0] });
    // Out of band: the same key replaces the pending liquidation with a self-transfer at a higher fee.
    await walletClient.sendTransaction({
      to: signer.address,
      value: 0n,
      nonce: ours.nonce,
      maxFeePerGas: parseGwei("10"),
      maxPriorityFeePerGas: parseGwei("5"),
    });
    await mine();

    await executor.onBlock(await blockNumber(), all);
    expect(logged("nonce used by another transaction of the signer; liquidation dropped")[0]).to.include({ nonce: ours.nonce });
    expect(sent()).to.have.length(2);
    const again = await publicClient.getTransaction({ hash: sent()[1] });
    expect(again.nonce).to.equal(ours.nonce + 1);
    expect(await counters(metrics)).to.deep.equal({ sent: 2, succeeded: 0, lost: 0, failed: 1, inFlight: 1 });
    expect(await outcomes(metrics)).to.deep.equal({ error: 1 });
    await mine();
    await executor.onBlock(await blockNumber(), []);
    expect(await sizeOf(p, p.alice)).to.equal(0n);
    expect(await value(metrics.liquidationsSucceeded)).to.equal(1);
  });

  it("sends nothing when the reward does not beat the gas cost by minProfitUsd", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, logged } = setup(p, { minProfitUsd: wad(1_000) });
    const nonceBefore = await nonceOf();
    await executor.onBlock(await blockNumber(), await candidates(p, [p.alice, p.bob]));
    expect(await nonceOf()).to.equal(nonceBefore);
    expect(await sizeOf(p, p.alice)).to.equal(wad(1));
    expect(await counters(metrics)).to.deep.equal({ sent: 0, succeeded: 0, lost: 0, failed: 0, inFlight: 0 });
    const skipped = logged("batch below the minimum profit; skipped");
    expect(skipped).to.have.length(1);
    // 10 USD of rewards minus the gas: below 10 USD, above 9 (gas ~0.7 USD at 1 gwei and 3,000 USD).
    expect(amount(skipped[0].profit, "USD")).to.be.within(9, 10);
    expect(amount(skipped[0].minProfit, "USD")).to.equal(1000);
    expect(await outcomes(metrics)).to.deep.equal({ skipped: 2 });
  });

  it("sends nothing while the base fee is above the max fee cap", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics, logged } = setup(p, { maxFeePerGas: parseGwei("100") });
    const all = await candidates(p, [p.alice]);
    await nextBaseFee(parseGwei("150"));
    await mine();
    const nonceBefore = await nonceOf();
    await executor.onBlock(await blockNumber(), all);
    expect(logged("base fee above the max fee cap; not sending")).to.have.length(1);
    expect(logged("base fee above the max fee cap; not sending")[0]).to.include({ baseFeePerGas: "150 gwei", maxFeePerGas: "100 gwei" });
    expect(await nonceOf()).to.equal(nonceBefore);
    expect(await counters(metrics)).to.deep.equal({ sent: 0, succeeded: 0, lost: 0, failed: 0, inFlight: 0 });
  });

  it("drops positions whose reward does not pay for their gas when the whole batch is below the minimum", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const [big, none] = [...(await candidates(p, [p.alice], usd(500))), ...(await candidates(p, [p.bob], 0n))];
    // Gas made expensive: one position costs tens of USD. The minimum sits between the one- and two-position profits.
    const nativeUsd = wad(300_000);
    const engine = p.engine.target as Address;
    const fees = await publicClient.estimateFeesPerGas();
    const cost = async (c: Candidate[]) =>
      ((await publicClient.estimateContractGas({
        address: engine,
        abi: tidemarkEngineAbi,
        functionName: "liquidateBatch",
        args: [c.map((x) => x.account), c.map((x) => x.market)],
        account: signer.address,
      })) *
        fees.maxFeePerGas *
        nativeUsd) /
      wad(1);
    const [one, two] = [await cost([big]), await cost([big, none])];
    const minProfitUsd = wad(500) - (one + two) / 2n;
    const { executor, metrics, sent, logged } = setup(p, { nativeUsdPrice: async () => nativeUsd, minProfitUsd });

    await executor.onBlock(await blockNumber(), [big, none]);
    expect(sent()).to.have.length(1);
    expect(await batchAccounts(sent()[0])).to.deep.equal([p.alice.address.toLowerCase()]);
    expect(logged("liquidation sent")[0]).to.include({ dropped: 1, accounts: 1 });
    await executor.onBlock(await blockNumber(), []);
    expect(await sizeOf(p, p.alice)).to.equal(0n);
    expect(await sizeOf(p, p.bob)).to.equal(wad(1));
    expect(await counters(metrics)).to.deep.equal({ sent: 1, succeeded: 1, lost: 0, failed: 0, inFlight: 0 });
    expect(await outcomes(metrics)).to.deep.equal({ success: 1, skipped: 1 });
  });

  it("in a dry run simulates and logs the batch but sends nothing (no account needed)", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const keyless = createWalletClient({ chain: hardhat, transport, pollingInterval: 20, cacheTime: 0 });
    const { executor, metrics, logged } = setup(p, { dryRun: true, walletClient: keyless });
    const nonceBefore = await nonceOf();
    const block = await blockNumber();
    await executor.onBlock(block, await candidates(p, [p.alice, p.bob, p.carol]));
    expect(await publicClient.getBlockNumber()).to.equal(block);
    expect(await nonceOf()).to.equal(nonceBefore);
    expect(await sizeOf(p, p.alice)).to.equal(wad(1));
    expect(executor.inFlight()).to.equal(0);
    expect(await counters(metrics)).to.deep.equal({ sent: 0, succeeded: 0, lost: 0, failed: 0, inFlight: 0 });
    const wouldSend = logged("dry run: would send liquidation");
    expect(wouldSend).to.have.length(1);
    expect(wouldSend[0]).to.include({ accounts: 3, liquidatable: 3 });
    expect(amount(wouldSend[0].profit, "USD")).to.be.greaterThan(0);
    expect(await outcomes(metrics)).to.deep.equal({ dry_run: 3 });
    expect(() => setup(p, { walletClient: keyless })).to.throw(/local account/);
  });

  it("keeps going when one batch fails", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    let calls = 0;
    const flaky = {
      ...publicClient,
      simulateContract: ((args: never) => {
        calls++;
        return calls === 1 ? Promise.reject(new Error("node hiccup")) : publicClient.simulateContract(args);
      }) as typeof publicClient.simulateContract,
    } as PublicClient;
    const { executor, metrics, logged } = setup(p, { publicClient: flaky, batchSize: 1 });
    await executor.onBlock(await blockNumber(), await candidates(p, [p.alice, p.bob]));
    expect(logged("liquidation simulation failed")[0]).to.include({ accounts: 1, error: "node hiccup" });
    await executor.onBlock(await blockNumber(), []);
    expect(await sizeOf(p, p.alice)).to.equal(wad(1));
    expect(await sizeOf(p, p.bob)).to.equal(0n);
    expect(await counters(metrics)).to.deep.equal({ sent: 1, succeeded: 1, lost: 0, failed: 0, inFlight: 0 });
    expect(await outcomes(metrics)).to.deep.equal({ error: 1, success: 1 });
  });

  it("stop() sends nothing more and waits for the pending receipts", async () => {
    const p = await networkHelpers.loadFixture(crashedFixture);
    const { executor, metrics } = setup(p);
    await automine(false);
    await executor.onBlock(await blockNumber(), await candidates(p, [p.alice]));
    expect(executor.inFlight()).to.equal(1);
    const stopping = executor.stop(10_000);
    await mine();
    await stopping;
    expect(executor.inFlight()).to.equal(0);
    await automine(true);
    const nonceBefore = await nonceOf();
    await executor.onBlock(await blockNumber(), await candidates(p, [p.bob]));
    expect(await nonceOf()).to.equal(nonceBefore);
    expect(await counters(metrics)).to.deep.equal({ sent: 1, succeeded: 1, lost: 0, failed: 0, inFlight: 0 });
  });
});

describe("keeper nonce manager", function () {
  it("hands out sequential nonces from the pending count, and resyncs never below a pending transaction", async () => {
    await networkHelpers.loadFixture(crashedFixture);
    let held: number | undefined;
    const nonces = createNonceManager({ client: publicClient, address: signer.address, reserved: () => held });
    const base = await nonceOf();
    expect(nonces.peek()).to.equal(undefined);
    const taken = await Promise.all([nonces.next(), nonces.next(), nonces.next()]);
    expect(taken).to.deep.equal([base, base + 1, base + 2]);
    nonces.resync();
    expect(await nonces.next()).to.equal(base);
    held = base + 7;
    nonces.resync();
    expect(await nonces.next()).to.equal(base + 8);
    expect(nonces.peek()).to.equal(base + 9);
  });

  it("recognises nonce errors by viem error name or node message", () => {
    const wrapped = (message: string, name = "Error") => Object.assign(new Error("outer", { cause: Object.assign(new Error(message), { name }) }));
    expect(isNonceError(wrapped("Nonce too low. Expected nonce to be 3 but got 2."))).to.equal(true);
    expect(isNonceError(wrapped("already known"))).to.equal(true);
    expect(isNonceError(wrapped("replacement transaction underpriced"))).to.equal(true);
    expect(isNonceError(wrapped("whatever", "NonceTooHighError"))).to.equal(true);
    expect(isNonceError(wrapped("execution reverted"))).to.equal(false);
    expect(isNonceError(wrapped("insufficient funds for gas * price + value"))).to.equal(false);
  });
});
