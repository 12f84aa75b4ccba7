/**
 * The keeper's operability against `hardhat node`, through the CLI as an operator runs it: an RPC endpoint that is
 * down at start and then opens, one that goes down mid-run and comes back (HTTP and WebSocket, through a TCP proxy the
 * test takes down and brings back), /healthz following it, a start-up that cannot succeed, the metric names, and the
 * types and units of the log fields.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";
import { network } from "hardhat";

import { deployProtocol } from "../helpers/fixture.js";
import { near } from "../helpers/near.js";
import { freePort, startNode } from "../helpers/node.js";

import {
  type Chain,
  KEEPER_KEYS,
  type KeeperProcess,
  type PositionRef,
  crashInOneBlock,
  getEndpoint,
  healthAt,
  keyOf,
  liquidations,
  openPopulation,
  startChain,
  startKeeperProcess,
  stopKeepers,
  startTcpProxy,
  until,
} from "./harness.js";

const ACCOUNTS = 12; // x 2 markets = 24 positions
const CRASH_PCT = 10;
/** Short backoff for the tests: 200 ms doubling, at most 1 s. */
const RETRY_FLAGS = ["--rpc-retry-initial", "200", "--rpc-retry-max", "1000"];
const expectedDelay = (attempt: number) => Math.min(200 * 2 ** (attempt - 1), 1000);
const RETRY_MSG = "cannot read the chain; retrying";

/** Every metric the keeper exports: its own and prom-client's process and Node.js metrics under the same prefix. */
const METRIC_NAMES = [
  "tidemark_keeper_positions_tracked",
  "tidemark_keeper_positions_owned",
  "tidemark_keeper_positions_liquidatable",
  "tidemark_keeper_health_factor",
  "tidemark_keeper_scan_seconds",
  "tidemark_keeper_liquidations_sent_total",
  "tidemark_keeper_liquidations_succeeded_total",
  "tidemark_keeper_liquidations_lost_total",
  "tidemark_keeper_transactions_failed_total",
  "tidemark_keeper_liquidation_delay_seconds",
  "tidemark_keeper_transactions_in_flight",
  "tidemark_keeper_head_block",
  "tidemark_keeper_head_lag_seconds",
  "tidemark_keeper_signer_balance",
  "tidemark_keeper_rewards_usd_total",
  "tidemark_keeper_gas_spent_eth_total",
  "tidemark_keeper_rpc_errors_total",
  "tidemark_keeper_liquidation_attempts_total",
  "tidemark_keeper_process_cpu_seconds_total",
  "tidemark_keeper_process_cpu_user_seconds_total",
  "tidemark_keeper_process_resident_memory_bytes",
  "tidemark_keeper_process_start_time_seconds",
  "tidemark_keeper_nodejs_eventloop_lag_seconds",
  "tidemark_keeper_nodejs_heap_size_used_bytes",
];

type Line = Record<string, unknown>;

const retries = (lines: readonly Line[]) => lines.filter((l) => l.msg === RETRY_MSG);

/** One warning per failed attempt: attempts 1, 2, 3, ... in a row, each with its error and the doubling, capped wait. */
function expectBackoff(lines: readonly Line[]) {
  expect(lines.map((l) => l.attempt)).to.deep.equal(lines.map((_, i) => i + 1));
  expect(lines.map((l) => l.retryInMs)).to.deep.equal(lines.map((_, i) => expectedDelay(i + 1)));
  for (const l of lines) {
    expect(l.level, "a warning").to.equal(40);
    expect(l.error).to.be.a("string").and.not.equal("");
  }
}

/** The value of one sample, `name` with exactly `labels` (in the keeper's label order). */
function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? Number.NaN : Number(line.split(" ").at(-1));
}


/** "12.34 USDC" → 12.34; fails unless the amount carries `unit`. */
function amount(text: unknown, unit: string): number {
  expect(text, `an amount in ${unit}`).to.be.a("string");
  const m = new RegExp(`^(-?\\d{1,3}(?:,\\d{3})*(?:\\.\\d+)?) ${unit}$`).exec(text as string);
  expect(m, `"${String(text)}" is an amount in ${unit}`).to.not.equal(null);
  return Number(m![1].replaceAll(",", ""));
}

/**
 * Log fields keep one type: block numbers are JSON numbers everywhere, and no value is a bare number in a string (how
 * a bigint amount without its unit would look), except fields named as raw.
 */
function expectLogTypes(lines: readonly Line[]) {
  for (const l of lines) {
    for (const key of ["block", "mined", "head", "from"]) if (key in l && l[key] !== undefined) expect(l[key], `${l.msg}: ${key}`).to.be.a("number");
    if ("checkpoint" in l && l.checkpoint !== null) expect(l.checkpoint, `${l.msg}: checkpoint`).to.be.a("number");
    for (const [key, value] of Object.entries(l)) {
      if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) expect(key, `${l.msg}: "${key}": "${value}" has no unit`).to.match(/Raw$/);
    }
  }
}

describe("Keeper operability: RPC outages, WebSocket, /healthz, metrics and log fields", function () {
  this.timeout(300_000);
  let chain: Chain;
  let positions: PositionRef[];
  let snapshot: string;
  let dataDirs: string[] = [];
  let keepers: KeeperProcess[] = [];
  let nodes: ChildProcess[] = [];
  let closers: (() => Promise<void>)[] = [];

  before(async function () {
    chain = await startChain();
    positions = await openPopulation(chain, ACCOUNTS);
    snapshot = (await chain.send("evm_snapshot")) as string;
  });

  beforeEach(async function () {
    expect(await chain.send("evm_revert", [snapshot])).to.equal(true);
    snapshot = (await chain.send("evm_snapshot")) as string;
  });

  afterEach(async function () {
    stopKeepers(keepers, this.currentTest?.state === "failed");
    keepers = [];
    for (const n of nodes) n.kill();
    nodes = [];
    for (const c of closers) await c();
    closers = [];
    for (const d of dataDirs) await rm(d, { recursive: true, force: true });
    dataDirs = [];
  });

  after(async function () {
    chain?.node.kill();
  });

  const chainPort = () => Number(new URL(chain.rpcUrl).port);

  async function keeper(rpcUrl: string, extra: string[] = [], addresses?: { engine: string; lens: string }, dataDir?: string) {
    const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "keeper-ops-")));
    if (dataDir === undefined) dataDirs.push(dir);
    const engine = addresses?.engine ?? (await chain.p.engine.getAddress());
    const lens = addresses?.lens ?? (await chain.p.lens.getAddress());
    const args = ["--rpc-url", rpcUrl, "--engine", engine, "--lens", lens, "--data-dir", dir, "--metrics-port", "0", "--polling-interval", "100"];
    const k = startKeeperProcess([...args, ...RETRY_FLAGS, ...extra], { TIDEMARK_KEEPER_PRIVATE_KEY: KEEPER_KEYS[0] });
    keepers.push(k);
    const port = (await k.waitFor("serving /metrics and /healthz")).port as number;
    return { k, port };
  }

  const healthz = async (port: number) => {
    const { status, body } = await getEndpoint(port, "/healthz");
    return { status, ...(JSON.parse(body) as { ok: boolean; reasons: string[] }) };
  };
  const healthy = (port: number) => until(async () => (await healthz(port)).status === 200, 90_000, "/healthz to answer 200");

  /** Positions liquidatable at the crash block and the rest, on `c`. */
  async function splitAt(c: Chain, refs: readonly PositionRef[], block: number) {
    const health = await healthAt(c, refs, block);
    return {
      due: refs.filter((_, i) => health[i].liquidatable).map(keyOf),
      rest: refs.filter((_, i) => !health[i].liquidatable).map(keyOf),
    };
  }

  /** Waits until nothing on `c` is liquidatable; every due position liquidated exactly once, by `liquidator`, nothing else. */
  async function expectAllLiquidatedOnce(c: Chain, refs: readonly PositionRef[], crashBlock: number, liquidator: string) {
    const { due, rest } = await splitAt(c, refs, crashBlock);
    expect(due.length, "the crash makes some positions liquidatable").to.be.greaterThan(2);
    await until(
      async () => (await healthAt(c, refs)).every((x) => !x.liquidatable) && new Set((await liquidations(c, crashBlock)).map(keyOf)).size >= due.length,
      120_000,
      "every liquidatable position to be liquidated",
    );
    const events = await liquidations(c, crashBlock);
    const keys = events.map(keyOf);
    expect(keys.length, "each position liquidated exactly once").to.equal(new Set(keys).size);
    expect(new Set(keys)).to.deep.equal(new Set(due));
    for (const k of rest) expect(keys, `healthy ${k} touched`).to.not.include(k);
    for (const e of events) expect(e.liquidator).to.equal(liquidator);
    return events;
  }

  /** `hardhat node` on `port` with the fixture deployed: the same deployer and nonces as `chain`, so the same addresses. */
  async function chainOn(port: number): Promise<Chain> {
    const node = await startNode(port);
    nodes.push(node);
    const rpcUrl = `http://127.0.0.1:${port}`;
    const conn = await network.create({ network: "localhost", override: { url: rpcUrl } });
    const p = await deployProtocol(conn.ethers);
    const send = (method: string, params: unknown[] = []) => conn.provider.request({ method, params });
    return { node, rpcUrl, conn, p, send };
  }

  it("started against a closed port: retries with backoff, /healthz 503, keeps running; once hardhat node opens the port it syncs and liquidates", async function () {
    const signer = new Wallet(KEEPER_KEYS[0]).address.toLowerCase();
    const engine = await chain.p.engine.getAddress();
    const lens = await chain.p.lens.getAddress();
    const port = await freePort(); // nothing listens there yet
    const { k, port: metricsPort } = await keeper(`http://127.0.0.1:${port}`, [], { engine, lens });

    await until(async () => retries(k.lines).length >= 4, 60_000, "four failed attempts to reach the closed port");
    const down = await healthz(metricsPort);
    expect(down.status).to.equal(503);
    expect(down.ok).to.equal(false);
    expect(down.reasons.some((r) => /^cannot read the chain: .*ECONNREFUSED/.test(r)), down.reasons.join("; ")).to.equal(true);
    expect(k.child.exitCode, "still running").to.equal(null);
    const before = retries(k.lines);
    expectBackoff(before);
    for (const l of before) expect(l.error).to.match(/ECONNREFUSED/);
    expect(k.lines.some((l) => l.msg === "index in sync")).to.equal(false);
    const metricsText = (await getEndpoint(metricsPort, "/metrics")).body;
    expect(sample(metricsText, "tidemark_keeper_rpc_errors_total", '{method="eth_chainId",kind="transport"}')).to.be.at.least(before.length);

    // The port opens: a fresh hardhat node on it, the fixture deployed and positions opened while the keeper retries.
    const second = await chainOn(port);
    expect(await second.p.engine.getAddress()).to.equal(engine);
    expect(await second.p.lens.getAddress()).to.equal(lens);
    const refs = await openPopulation(second, 8);
    await k.waitFor("index in sync", 120_000);
    await healthy(metricsPort);
    const back = k.lines.find((l) => l.msg === "chain readable again");
    expect(back?.failedAttempts).to.be.at.least(before.length);
    expect(k.child.exitCode).to.equal(null);

    const crashBlock = await crashInOneBlock(second, CRASH_PCT);
    await expectAllLiquidatedOnce(second, refs, crashBlock, signer);
    expectLogTypes(k.lines);

    k.child.kill("SIGTERM");
    expect(await k.exited).to.equal(0);
    expect(k.lines.some((l) => l.msg === "keeper stopped; index saved")).to.equal(true);
  });

  it("a dev chain restarted under the same chain id: the saved index is discarded and rebuilt, and the keeper liquidates on the new chain", async function () {
    const signer = new Wallet(KEEPER_KEYS[0]).address.toLowerCase();
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), "keeper-ops-restart-"));
    dataDirs.push(dir);

    // First chain: positions, the keeper indexes them and saves its index at a checkpoint well above what the
    // restarted chain will reach.
    const first = await chainOn(port);
    const engine = await first.p.engine.getAddress();
    const lens = await first.p.lens.getAddress();
    await openPopulation(first, 6);
    await first.send("hardhat_mine", ["0x40"]);
    const a = await keeper(first.rpcUrl, [], { engine, lens }, dir);
    const synced = await a.k.waitFor("index in sync");
    expect(synced.tracked).to.equal(12);
    a.k.child.kill("SIGTERM");
    expect(await a.k.exited).to.equal(0);
    const firstHead = Number(await first.send("eth_blockNumber"));
    first.node.kill();
    await new Promise<void>((res) => (first.node.exitCode !== null ? res() : first.node.once("exit", () => res())));

    // The same port, chain id and deployer: the same addresses, but another chain, below the saved checkpoint.
    const second = await chainOn(port);
    expect(await second.p.engine.getAddress()).to.equal(engine);
    const refs = await openPopulation(second, 4, 3);
    expect(Number(await second.send("eth_blockNumber"))).to.be.lessThan(firstHead);
    const b = await keeper(second.rpcUrl, [], { engine, lens }, dir);
    const warned = await b.k.waitFor("index file written for another chain with this chain id (its genesis block differs: a restarted dev chain); rebuilding the index");
    expect(warned.tracked).to.equal(12);
    const resynced = await b.k.waitFor("index in sync");
    expect(resynced.tracked).to.equal(refs.length);
    const crashBlock = await crashInOneBlock(second, CRASH_PCT);
    await expectAllLiquidatedOnce(second, refs, crashBlock, signer);
    expectLogTypes(b.k.lines);
  });

  it("an HTTP endpoint going down mid-run: one warning per attempt with backoff, /healthz 503, no exit; back up it recovers and liquidates", async function () {
    const signer = new Wallet(KEEPER_KEYS[0]).address;
    const rewardsBefore = await chain.p.engine.freeBalance(signer);
    const proxy = await startTcpProxy(chainPort());
    closers.push(proxy.down);
    const { k, port } = await keeper(`http://127.0.0.1:${proxy.port}`);
    const synced = await k.waitFor("index in sync");
    expect(synced.tracked).to.equal(positions.length);
    expect(synced.block).to.be.a("number");
    await healthy(port);

    const mark = k.lines.length;
    await proxy.down();
    // The crash happens while the keeper cannot see it.
    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    await until(async () => retries(k.lines.slice(mark)).length >= 5, 60_000, "five failed attempts during the outage");
    const down = await healthz(port);
    expect(down.status).to.equal(503);
    expect(down.reasons.some((r) => r.startsWith("cannot read the chain: ")), down.reasons.join("; ")).to.equal(true);
    expect(k.child.exitCode, "still running").to.equal(null);
    expect(await liquidations(chain, crashBlock), "cut off: nothing sent").to.deep.equal([]);
    expectBackoff(retries(k.lines.slice(mark)));

    await proxy.up();
    await healthy(port);
    const after = k.lines.slice(mark);
    const backAt = after.findIndex((l) => l.msg === "chain readable again");
    expect(backAt).to.be.greaterThan(0);
    const outage = after.slice(0, backAt);
    // Exactly one line per failed attempt: every warning or error of the outage is a retry line, numbered in a row.
    const loud = outage.filter((l) => (l.level as number) >= 40);
    expect(loud.map((l) => l.msg)).to.deep.equal(loud.map(() => RETRY_MSG));
    expectBackoff(loud);
    expect(after[backAt].failedAttempts).to.equal(loud.length);

    const events = await expectAllLiquidatedOnce(chain, positions, crashBlock, signer.toLowerCase());
    expect(k.child.exitCode).to.equal(null);

    // Metric names: exact, one prefix, none doubled.
    await until(async () => sample((await getEndpoint(port, "/metrics")).body, "tidemark_keeper_liquidations_succeeded_total") === events.length, 10_000, "metrics");
    const text = (await getEndpoint(port, "/metrics")).body;
    const names = new Set(text.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]));
    for (const name of METRIC_NAMES) expect(names, name).to.include(name);
    for (const name of names) {
      expect(name).to.match(/^tidemark_keeper_/);
      expect(name).to.not.include("process_process");
    }
    expect(sample(text, "tidemark_keeper_rpc_errors_total", '{method="eth_getBlockByNumber",kind="transport"}')).to.be.at.least(loud.length);
    expect(sample(text, "tidemark_keeper_liquidation_attempts_total", '{outcome="success"}')).to.equal(events.length);
    expect(sample(text, "tidemark_keeper_liquidation_attempts_total", '{outcome="error"}')).to.equal(0);
    // Rewards: the counter, the log lines and the engine's credit to the signer agree (6-decimal USDC, 1 USD each).
    const rewardsOnChain = Number((await chain.p.engine.freeBalance(signer)) - rewardsBefore) / 1e6;
    expect(rewardsOnChain).to.be.greaterThan(0);
    const mined = k.lines.filter((l) => l.msg === "liquidation mined");
    near(mined.reduce((a, l) => a + amount(l.reward, "USDC"), 0), rewardsOnChain, 1e-6);
    near(mined.reduce((a, l) => a + Number(l.rewardRaw), 0) / 1e6, rewardsOnChain, 1e-6);
    near(sample(text, "tidemark_keeper_rewards_usd_total"), rewardsOnChain, 1e-6);
    const gas = mined.reduce((a, l) => a + amount(l.gasCost, "ETH"), 0);
    expect(gas).to.be.greaterThan(0);
    near(sample(text, "tidemark_keeper_gas_spent_eth_total"), gas, mined.length * 1e-9); // each gasCost rounded to 9 decimals
    for (const l of k.lines.filter((x) => x.msg === "liquidation sent")) {
      amount(l.reward, "USDC");
      amount(l.profit, "USD");
      amount(l.maxGasCost, "ETH");
      amount(l.maxFeePerGas, "gwei");
    }
    expectLogTypes(k.lines);
    expect(k.lines.some((l) => l.msg === "block"), "info-level block lines are among those checked").to.equal(true);
  });

  it("a ws:// endpoint works with the WebSocket transport, survives an outage and liquidates after it", async function () {
    const signer = new Wallet(KEEPER_KEYS[0]).address.toLowerCase();
    const proxy = await startTcpProxy(chainPort());
    closers.push(proxy.down);
    const { k, port } = await keeper(`ws://127.0.0.1:${proxy.port}`);
    const starting = await k.waitFor("keeper starting");
    expect(starting.transport).to.equal("webSocket");
    expect((await k.waitFor("index in sync")).tracked).to.equal(positions.length);
    await healthy(port);

    const mark = k.lines.length;
    await proxy.down();
    await until(async () => retries(k.lines.slice(mark)).length >= 3, 60_000, "three failed attempts during the outage");
    const down = await healthz(port);
    expect(down.status).to.equal(503);
    expect(down.reasons.some((r) => r.startsWith("cannot read the chain: ")), down.reasons.join("; ")).to.equal(true);
    expect(k.child.exitCode, "still running").to.equal(null);
    expectBackoff(retries(k.lines.slice(mark)));

    const accepted = proxy.accepted();
    await proxy.up();
    await healthy(port);
    expect(proxy.accepted(), "a new WebSocket connection after the outage").to.be.greaterThan(accepted);
    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    await expectAllLiquidatedOnce(chain, positions, crashBlock, signer);
    expectLogTypes(k.lines);
    expect(k.stderr()).to.equal(""); // nothing outside the JSON log lines (viem's own reconnect logging is off)

    k.child.kill("SIGTERM");
    expect(await k.exited).to.equal(0);
  });

  it("stops cleanly (exit 0) on SIGTERM while still retrying a closed port", async function () {
    const { k, port } = await keeper(`ws://127.0.0.1:${await freePort()}`);
    await until(async () => retries(k.lines).length >= 2, 60_000, "two failed attempts");
    const down = await healthz(port);
    expect(down.status).to.equal(503);
    expect(down.reasons[0]).to.match(/^cannot read the chain: WebSocket connection failed/);
    k.child.kill("SIGTERM");
    expect(await k.exited).to.equal(0);
    expect(k.lines.some((l) => l.msg === "keeper stopped before reading the chain")).to.equal(true);
  });

  it("gives up (exit 1) when the engine address holds another contract: a configuration problem, not an outage", async function () {
    const { k } = await keeper(chain.rpcUrl, [], { engine: await chain.p.token.getAddress(), lens: await chain.p.lens.getAddress() });
    expect(await k.exited).to.equal(1);
    const fatal = k.lines.find((l) => l.msg === "keeper could not start");
    expect(fatal?.err).to.match(/^reading the engine's pool and collateral token: .*check --engine and --lens/);
    expect(retries(k.lines)).to.deep.equal([]);
  });
});
