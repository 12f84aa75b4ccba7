/**
 * The keeper end to end, as an operator runs it: `hardhat node` in a child process with 200 positions over two markets,
 * keeper processes started through the CLI, a 10% price crash through the mock aggregators. Every position with health
 * factor below 1 at the crash must be liquidated exactly once, and no other position touched: with one keeper, two
 * keepers racing, a keeper killed mid-run and restarted, and a keeper behind a proxy that drops 20% of requests.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { shardOf } from "../../../keeper/src/scanner.ts";

import {
  type Chain,
  KEEPER_KEYS,
  type KeeperProcess,
  type PositionRef,
  crashInOneBlock,
  healthAt,
  keeperArgs,
  keyOf,
  liquidations,
  openPopulation,
  startChain,
  startFlakyProxy,
  startKeeperProcess,
  stopKeepers,
  until,
} from "./harness.js";

const ACCOUNTS = 100; // x 2 markets = 200 positions
const CRASH_PCT = 10;

describe("Keeper end to end against hardhat node", function () {
  this.timeout(240_000);
  let chain: Chain;
  let positions: PositionRef[];
  let snapshot: string;
  let dataDirs: string[] = [];
  let keepers: KeeperProcess[] = [];

  before(async function () {
    chain = await startChain();
    positions = await openPopulation(chain, ACCOUNTS);
    snapshot = (await chain.send("evm_snapshot")) as string;
  });

  beforeEach(async function () {
    // Every scenario starts from the same 200 positions.
    expect(await chain.send("evm_revert", [snapshot])).to.equal(true);
    snapshot = (await chain.send("evm_snapshot")) as string;
  });

  afterEach(async function () {
    stopKeepers(keepers, this.currentTest?.state === "failed");
    keepers = [];
    for (const d of dataDirs) await rm(d, { recursive: true, force: true });
    dataDirs = [];
  });

  after(async function () {
    chain?.node.kill();
  });

  async function keeper(key: string, extra: string[] = [], rpcUrl = chain.rpcUrl, dataDir?: string) {
    const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "keeper-e2e-")));
    if (!dataDirs.includes(dir)) dataDirs.push(dir);
    const k = startKeeperProcess([...(await keeperArgs(chain, dir, rpcUrl)), ...extra], { TIDEMARK_KEEPER_PRIVATE_KEY: key });
    keepers.push(k);
    return { k, dir };
  }

  /** Positions liquidatable at the crash block (before any keeper could act), and the healthy rest. */
  async function splitAt(block: number) {
    const health = await healthAt(chain, positions, block);
    const due = positions.filter((_, i) => health[i].liquidatable).map(keyOf);
    const healthy = positions.filter((_, i) => !health[i].liquidatable).map(keyOf);
    return { due, healthy };
  }

  /** Waits until nothing is liquidatable and every due position has its liquidation; checks exactly once, nobody else. */
  async function expectAllLiquidatedOnce(crashBlock: number, due: string[], healthy: string[], liquidators: string[]) {
    await until(
      async () => {
        const h = await healthAt(chain, positions);
        const events = await liquidations(chain, crashBlock);
        return h.every((x) => !x.liquidatable) && new Set(events.map(keyOf)).size >= due.length;
      },
      120_000,
      "every liquidatable position to be liquidated",
    );
    const events = await liquidations(chain, crashBlock);
    const keys = events.map(keyOf);
    expect(keys.length, "each position liquidated exactly once").to.equal(new Set(keys).size);
    expect(new Set(keys)).to.deep.equal(new Set(due));
    for (const k of healthy) expect(keys, `healthy ${k} touched`).to.not.include(k);
    for (const e of events) expect(liquidators).to.include(e.liquidator);
    return events;
  }

  async function metric(port: number, name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line === undefined ? NaN : Number(line.split(" ")[1]);
  }

  it("liquidates every position below health factor 1 after a crash, and touches none above", async function () {
    const signer = new Wallet(KEEPER_KEYS[0]).address.toLowerCase();
    const { k } = await keeper(KEEPER_KEYS[0]);
    const synced = await k.waitFor("index in sync");
    expect(synced.tracked).to.equal(positions.length);
    const serving = await k.waitFor("serving /metrics and /healthz");
    const port = serving.port as number;

    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    const { due, healthy } = await splitAt(crashBlock);
    expect(due.length, "the crash makes some positions liquidatable").to.be.greaterThan(20);
    expect(healthy.length, "and leaves others healthy").to.be.greaterThan(20);

    const events = await expectAllLiquidatedOnce(crashBlock, due, healthy, [signer]);
    expect(events.some((e) => e.remainingSize !== 0n), "some liquidations are partial").to.equal(true);
    await until(async () => (await metric(port, "tidemark_keeper_liquidations_succeeded_total")) === due.length, 10_000, "metrics");
    expect(await metric(port, "tidemark_keeper_positions_tracked")).to.equal(positions.length - events.filter((e) => e.remainingSize === 0n).length);
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(healthz.status, await healthz.clone().text()).to.equal(200);

    k.child.kill("SIGTERM");
    expect(await k.exited).to.equal(0);
    expect(k.lines.some((l) => l.msg === "keeper stopped; index saved")).to.equal(true);
  });

  it("in dry run, without a key, finds the liquidatable positions and sends nothing", async function () {
    const dir = await mkdtemp(join(tmpdir(), "keeper-e2e-"));
    dataDirs.push(dir);
    // A dry run sends nothing, so no new block comes: room for every batch in the first.
    const k = startKeeperProcess([...(await keeperArgs(chain, dir)), "--dry-run", "--max-in-flight", "16"], {});
    keepers.push(k);
    await k.waitFor("index in sync");
    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    const { due } = await splitAt(crashBlock);
    await until(
      async () =>
        new Set(k.lines.filter((l) => l.msg === "dry run: would send liquidation").flatMap((l) => l.positions as string[])).size === due.length,
      60_000,
      "the dry run to report every liquidatable position",
    );
    const reported = new Set(k.lines.filter((l) => l.msg === "dry run: would send liquidation").flatMap((l) => l.positions as string[]));
    expect(reported).to.deep.equal(new Set(due));
    expect(await liquidations(chain, crashBlock)).to.deep.equal([]);
    k.child.kill("SIGTERM");
    expect(await k.exited).to.equal(0);
  });

  it("/healthz fails with its reasons when the head lags or the signer is short of gas", async function () {
    const { k } = await keeper(KEEPER_KEYS[0], ["--max-head-lag", "1", "--min-signer-balance", "1000000"]);
    const port = (await k.waitFor("serving /metrics and /healthz")).port as number;
    await new Promise((r) => setTimeout(r, 2_500)); // a quiet chain: no block for over a second
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).to.equal(503);
    const body = (await res.json()) as { ok: boolean; reasons: string[] };
    expect(body.ok).to.equal(false);
    expect(body.reasons.some((r) => /^head lag \d+ s above 1 s$/.test(r)), body.reasons.join("; ")).to.equal(true);
    expect(body.reasons.some((r) => /^signer balance [\d,.]+ ETH below 1,000,000 ETH$/.test(r)), body.reasons.join("; ")).to.equal(true);
    expect(await metric(port, "tidemark_keeper_signer_balance")).to.be.greaterThan(0);
  });

  it("two keepers at once liquidate every position exactly once between them", async function () {
    const signers = KEEPER_KEYS.slice(0, 2).map((key) => new Wallet(key).address.toLowerCase());
    const a = await keeper(KEEPER_KEYS[0]);
    const b = await keeper(KEEPER_KEYS[1]);
    await Promise.all([a.k.waitFor("index in sync"), b.k.waitFor("index in sync")]);
    const ports = await Promise.all([a.k, b.k].map(async (k) => (await k.waitFor("serving /metrics and /healthz")).port as number));

    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    const { due, healthy } = await splitAt(crashBlock);
    const events = await expectAllLiquidatedOnce(crashBlock, due, healthy, signers);

    // Each keeper counts exactly what it won; together that is every liquidation.
    await until(
      async () => {
        const won = await Promise.all(ports.map((p) => metric(p, "tidemark_keeper_liquidations_succeeded_total")));
        return won[0] + won[1] === events.length;
      },
      10_000,
      "both keepers' success counters",
    );
    for (const [i, port] of ports.entries()) {
      const won = events.filter((e) => e.liquidator === signers[i]).length;
      expect(await metric(port, "tidemark_keeper_liquidations_succeeded_total")).to.equal(won);
    }
  });

  it("a lone shard 0/2 liquidates its own positions at once and shard 1's only after --takeover-blocks", async function () {
    const signer = new Wallet(KEEPER_KEYS[0]).address.toLowerCase();
    // Only shard 0 of 2 runs: its own positions go at once (their few transactions mine a few blocks), shard 1's only
    // once they have been liquidatable for 20 blocks.
    const a = await keeper(KEEPER_KEYS[0], ["--shard", "0/2", "--takeover-blocks", "20"]);
    await a.k.waitFor("index in sync");
    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    const { due, healthy } = await splitAt(crashBlock);
    const mine = (key: string) => shardOf(key, 2) === 0;
    await until(async () => (await liquidations(chain, crashBlock)).length >= due.filter(mine).length, 60_000, "shard 0's liquidations");
    expect((await liquidations(chain, crashBlock)).every((e) => mine(keyOf(e))), "nothing of shard 1 before the takeover").to.equal(true);
    // Blocks go by (a quiet chain mines only on demand): shard 1's positions stay liquidatable, shard 0 takes them.
    const ticker = setInterval(() => void chain.send("evm_mine").catch(() => undefined), 250);
    try {
      const events = await expectAllLiquidatedOnce(crashBlock, due, healthy, [signer]);
      for (const e of events.filter((x) => !mine(keyOf(x)))) expect(e.blockNumber).to.be.at.least(crashBlock + 20);
      expect(events.some((x) => !mine(keyOf(x))), "shard 1 had due positions").to.equal(true);
    } finally {
      clearInterval(ticker);
    }
  });

  it("a keeper killed mid-run resumes from its checkpoint and finishes", async function () {
    const signer = new Wallet(KEEPER_KEYS[2]).address.toLowerCase();
    const first = await keeper(KEEPER_KEYS[2], ["--max-in-flight", "1", "--batch-size", "3"]);
    await first.k.waitFor("index in sync");
    const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
    const { due, healthy } = await splitAt(crashBlock);
    // Kill it (no chance to save or clean up) once it has liquidated some but not all.
    await until(async () => (await liquidations(chain, crashBlock)).length > 0, 60_000, "a first liquidation");
    first.k.child.kill("SIGKILL");
    await first.k.exited;
    const doneBefore = (await liquidations(chain, crashBlock)).length;
    expect(doneBefore).to.be.lessThan(due.length);

    const second = await keeper(KEEPER_KEYS[2], [], chain.rpcUrl, first.dir);
    const starting = await second.k.waitFor("keeper starting");
    expect(starting.checkpoint, "resumes from the saved checkpoint").to.not.equal(null);
    expect(Number(starting.tracked)).to.be.greaterThan(0);
    await expectAllLiquidatedOnce(crashBlock, due, healthy, [signer]);
  });

  it("behind a proxy dropping 20% of requests and delaying the rest up to 500 ms, still liquidates everything", async function () {
    const signer = new Wallet(KEEPER_KEYS[3]).address.toLowerCase();
    const proxy = await startFlakyProxy(chain.rpcUrl, 0.2, 500);
    try {
      const { k } = await keeper(KEEPER_KEYS[3], [], proxy.url);
      await k.waitFor("index in sync", 120_000);
      const crashBlock = await crashInOneBlock(chain, CRASH_PCT);
      const { due, healthy } = await splitAt(crashBlock);
      await expectAllLiquidatedOnce(crashBlock, due, healthy, [signer]);
      expect(proxy.stats().dropped, "the proxy did drop requests").to.be.greaterThan(10);
      k.child.kill("SIGTERM");
      expect(await k.exited).to.equal(0);
      expect(k.stderr()).to.not.match(/unhandled/i);
    } finally {
      proxy.server.close();
    }
  });
});
