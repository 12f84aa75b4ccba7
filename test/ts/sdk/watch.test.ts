/**
 * The SDK's watchers against the in-process Hardhat network: pollLogs (order, once-only delivery, filters, chunked
 * backfill, RPC failures, reorgs, confirmations), the position and liquidation event watchers, and the margin-call
 * watcher. Trades go through ethers; the watchers read through viem.
 *
 * Synchronisation never relies on sleeping: a recording EIP-1193 provider shows which requests a watcher has made, so a
 * test can wait until a watcher has processed a block (its eth_getLogs up to that block completed and its next poll
 * started) before asserting that something was not delivered.
 */
import { expect } from "chai";
import type { ContractTransactionResponse } from "ethers";
import { network } from "hardhat";
import { type Address, type Hex, createPublicClient, custom, numberToHex } from "viem";
import { hardhat } from "viem/chains";

import { InvalidParameterError } from "../../../sdk/src/errors/base.js";
import {
  type HealthChangeEvent,
  type HealthLevel,
  type LiquidationEvent,
  type PollLogsLog,
  type PositionEvent,
  engineEvents,
  pollLogs,
  watchHealth,
  watchLiquidations,
  watchPositionEvents,
} from "../../../sdk/src/watch/index.js";
import { BTC, ETH, FEED_DECIMALS, WAD, answer, deployProtocol, oracleConfig, usd, wad } from "../helpers/fixture.js";
import { type Protocol, hex, sdkClients } from "./helpers.js";

const conn = await network.create();
const { ethers, networkHelpers } = conn;

async function watchFixture() {
  return deployProtocol(ethers);
}

/* ------------------------------------------------------------------ harness */

const TIMEOUT_MS = 10_000;

/** Resolves once `condition()` holds; rejects after a generous timeout (a failure, never a speed assertion). */
async function waitFor(condition: () => boolean, what: string, timeoutMs = TIMEOUT_MS): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

type Call = { method: string; params: readonly unknown[]; done: boolean; failed: boolean };

/**
 * A viem public client over the connection's provider that records every request and can fail every n-th request of
 * a method (the failure is thrown before the request reaches the node). No transport retries: each failure reaches
 * the watcher.
 */
function recordingClient(failEvery: Partial<Record<string, number>> = {}) {
  const calls: Call[] = [];
  const counts = new Map<string, number>();
  let injected = 0;
  const provider = {
    async request(args: { method: string; params?: unknown }) {
      const call: Call = { method: args.method, params: (args.params as readonly unknown[]) ?? [], done: false, failed: false };
      calls.push(call);
      const n = (counts.get(args.method) ?? 0) + 1;
      counts.set(args.method, n);
      try {
        const every = failEvery[args.method];
        if (every !== undefined && n % every === 0) {
          injected++;
          throw Object.assign(new Error(`injected failure of ${args.method} #${n}`), { code: -32603 });
        }
        return await conn.provider.request(args as Parameters<typeof conn.provider.request>[0]);
      } catch (err) {
        call.failed = true;
        throw err;
      } finally {
        call.done = true;
      }
    },
  };
  const client = createPublicClient({ chain: hardhat, transport: custom(provider, { retryCount: 0 }), pollingInterval: 20, cacheTime: 0 });
  return { client, calls, injected: () => injected };
}
type Recorder = ReturnType<typeof recordingClient>;

/** Index of the first call after `from` matching `pred`, or -1. */
const findCall = (calls: Call[], pred: (c: Call) => boolean, from = 0) => {
  for (let i = from; i < calls.length; i++) if (pred(calls[i])) return i;
  return -1;
};

/**
 * Waits until a log watcher on `rec` has finished processing block `n`: an eth_getLogs up to n or beyond succeeded and
 * a later poll has started (delivery happens before the next poll).
 */
async function processedThrough(rec: Recorder, n: bigint) {
  await waitFor(() => {
    const i = findCall(rec.calls, (c) => c.method === "eth_getLogs" && c.done && !c.failed && BigInt((c.params[0] as { toBlock: Hex }).toBlock) >= n);
    return i >= 0 && findCall(rec.calls, (c) => c.method === "eth_blockNumber", i + 1) >= 0;
  }, `logs processed through block ${n}`);
}

/** Waits until watchHealth on `rec` has finished its evaluation at block `n` (its reads at n done, next poll started). */
async function evaluatedAt(rec: Recorder, n: bigint) {
  const tag = numberToHex(n);
  await waitFor(() => {
    const reads = rec.calls.flatMap((c, i) => (c.method === "eth_call" && c.params[1] === tag && c.done ? [i] : []));
    return reads.length >= 3 && findCall(rec.calls, (c) => c.method === "eth_blockNumber", Math.max(...reads) + 1) >= 0;
  }, `an evaluation at block ${n}`);
}

const stops: (() => void)[] = [];
/** Registers a watcher's unwatch so it stops after the test even when an assertion fails (fixtures revert the chain). */
const track = (unwatch: () => void) => (stops.push(unwatch), unwatch);

type Ctx = Protocol & Awaited<ReturnType<typeof sdkClients>> & { engineAddress: Address };
async function setup(): Promise<Ctx> {
  const p = await networkHelpers.loadFixture(watchFixture);
  const clients = await sdkClients(conn, p);
  return { ...p, ...clients, engineAddress: clients.addresses.engine };
}

const head = async () => BigInt(await ethers.provider.getBlockNumber());

/** The engine's logs of the given transactions as ethers decodes them, in chain order. */
async function engineLogsOf(c: Ctx, txs: ContractTransactionResponse[]) {
  const out: { eventName: string; blockNumber: bigint; blockHash: string; logIndex: number; transactionHash: string; args: Record<string, unknown> }[] = [];
  for (const tx of txs) {
    const receipt = (await tx.wait())!;
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== c.engineAddress.toLowerCase()) continue;
      const parsed = c.engine.interface.parseLog(log)!;
      out.push({
        eventName: parsed.name,
        blockNumber: BigInt(log.blockNumber),
        blockHash: log.blockHash,
        logIndex: log.index,
        transactionHash: log.transactionHash,
        args: parsed.args.toObject(),
      });
    }
  }
  return out;
}

/** The fields of a viem log that the ethers view has. */
const view = (log: PollLogsLog) => ({
  eventName: log.eventName,
  blockNumber: log.blockNumber,
  blockHash: log.blockHash,
  logIndex: log.logIndex,
  transactionHash: log.transactionHash,
  args: { ...(log.args as Record<string, unknown>) },
});

afterEach(function () {
  for (const stop of stops.splice(0)) stop();
});

/* ------------------------------------------------------------------ tests */

describe("SDK watchers", function () {
  describe("watchPositionEvents", function () {
    it("delivers new position events once each, in chain order, decoded with typed args", async function () {
      const c = await setup();
      // Funding on, so a trade after a while settles funding (FundingSettled).
      await c.engine.setFundingParams(ETH, { skewScale: wad(100), maxFundingRatePerDay: wad("0.01") });
      // Before the watcher: not delivered (the default start is the block after the head at the first poll).
      await c.engine.connect(c.alice).deposit(usd(1000));
      await c.engine.connect(c.bob).deposit(usd(1000));
      await c.engine.connect(c.carol).deposit(usd(1000));
      await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      const rec = recordingClient();
      const got: PositionEvent[] = [];
      track(
        watchPositionEvents(rec.client, {
          addresses: c.addresses,
          onEvents: (events) => void got.push(...events),
        }),
      );
      await waitFor(() => rec.calls.some((x) => x.method === "eth_blockNumber" && x.done), "the first poll");

      const txs = [
        await c.engine.connect(c.alice).addCollateral(ETH, usd(50)),
        await c.engine.connect(c.bob).modifyPosition(BTC, -wad("0.1"), usd(200), 0n),
        await c.engine.connect(c.alice).removeCollateral(ETH, usd(20)),
      ];
      await networkHelpers.time.increase(600);
      txs.push(await c.engine.connect(c.alice).modifyPosition(ETH, wad("0.5"), usd(100), wad(4000)));
      await c.engine.connect(c.alice).deposit(usd(1)); // Deposited: not a position event
      // Sentinel: once it arrives, anything duplicated before it would have arrived too (delivery is in order).
      const sentinel = await c.engine.connect(c.carol).modifyPosition(ETH, -wad(1), usd(300), 0n);
      const expected = await engineLogsOf(c, [...txs, sentinel]);
      await waitFor(() => got.length >= expected.length, "all position events");
      await processedThrough(rec, await head());

      expect(expected.map((e) => e.eventName)).to.deep.equal([
        "CollateralModified",
        "PositionModified",
        "CollateralModified",
        "FundingSettled",
        "PositionModified",
        "PositionModified",
      ]);
      expect(got.map(view)).to.deep.equal(expected);
      expect(got.every((log) => log.removed === false)).to.equal(true);

      // Typed args (narrowed by eventName) equal the trade's values.
      const funding = got[3];
      if (funding.eventName !== "FundingSettled") throw new Error("expected FundingSettled");
      expect(funding.args.account).to.equal(c.alice.address);
      expect(funding.args.amount > 0n).to.equal(true); // the long side pays
      const open = got[4];
      if (open.eventName !== "PositionModified") throw new Error("expected PositionModified");
      expect(open.args.account).to.equal(c.alice.address);
      expect(open.args.market).to.equal(ETH);
      expect(open.args.sizeDelta).to.equal(wad("0.5"));
      expect(open.args.collateralDelta).to.equal(usd(100));
      expect(open.args.newSize).to.equal(wad("1.5"));
      expect(open.args.oraclePrice).to.equal(wad(3000));
      const added = got[0];
      if (added.eventName !== "CollateralModified") throw new Error("expected CollateralModified");
      expect(added.args.delta).to.equal(usd(50));
      expect(added.args.newCollateral).to.equal((await c.engine.getPosition(c.alice.address, ETH, { blockTag: Number(added.blockNumber) })).collateral);
    });

    it("filters by indexed account and market on the node", async function () {
      const c = await setup();
      for (const s of [c.alice, c.bob]) await c.engine.connect(s).deposit(usd(2000));
      const from = (await head()) + 1n;
      const rec = recordingClient();
      const got: PositionEvent[] = [];
      track(
        watchPositionEvents(rec.client, {
          addresses: c.addresses,
          account: c.alice.address as Address,
          market: hex(ETH),
          fromBlock: from,
          onEvents: (events) => void got.push(...events),
        }),
      );
      const mine = [await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000))];
      await c.engine.connect(c.bob).modifyPosition(ETH, wad(1), usd(300), wad(4000)); // other account
      await c.engine.connect(c.alice).modifyPosition(BTC, wad("0.01"), usd(300), wad(70_000)); // other market
      mine.push(await c.engine.connect(c.alice).addCollateral(ETH, usd(10)));
      await c.engine.connect(c.bob).addCollateral(ETH, usd(10));
      await processedThrough(rec, await head());

      expect(got.map(view)).to.deep.equal(await engineLogsOf(c, mine));
      // The node did the filtering: the requests carried the account and market topics.
      const getLogs = rec.calls.find((x) => x.method === "eth_getLogs")!;
      const topics = (getLogs.params[0] as { topics: unknown[] }).topics;
      expect(topics[1]).to.equal(`0x${"0".repeat(24)}${c.alice.address.slice(2).toLowerCase()}`);
      expect(topics[2]).to.equal(ETH);
      expect((topics[0] as string[]).length).to.equal(4);
    });
  });

  describe("pollLogs", function () {
    it("backfills from fromBlock in maxBlockRange chunks, contiguous, without gaps or overlaps", async function () {
      const c = await setup();
      const from = (await head()) + 1n;
      const txs: ContractTransactionResponse[] = [];
      for (const s of [c.alice, c.bob, c.carol]) {
        txs.push(await c.engine.connect(s).deposit(usd(1000)));
        await networkHelpers.mine(3);
        txs.push(await c.engine.connect(s).modifyPosition(ETH, wad(1), usd(300), wad(4000)));
        await networkHelpers.mine(2);
      }
      const tip = await head();
      const rec = recordingClient();
      const got: PollLogsLog[] = [];
      track(
        pollLogs(rec.client, {
          address: c.engineAddress,
          events: engineEvents(["Deposited", "PositionModified"]),
          fromBlock: from,
          maxBlockRange: 4,
          onLogs: (logs) => void got.push(...logs),
        }),
      );
      await processedThrough(rec, tip);

      expect(got.map(view)).to.deep.equal(await engineLogsOf(c, txs));
      const ranges = rec.calls
        .filter((x) => x.method === "eth_getLogs")
        .map((x) => x.params[0] as { fromBlock: Hex; toBlock: Hex })
        .map((r) => [BigInt(r.fromBlock), BigInt(r.toBlock)] as const);
      const span = tip - from + 1n;
      expect(ranges.length).to.be.at.least(Number((span + 3n) / 4n));
      expect(ranges[0][0]).to.equal(from);
      for (const [i, [a, b]] of ranges.entries()) {
        expect(b - a + 1n).to.be.within(1n, 4n);
        if (i > 0) expect(a).to.equal(ranges[i - 1][1] + 1n);
      }
      expect(ranges.some(([, b]) => b === tip)).to.equal(true);
    });

    it("survives failing RPC calls: reports them, retries, loses and repeats nothing", async function () {
      const c = await setup();
      for (const s of [c.alice, c.bob, c.carol]) await c.engine.connect(s).deposit(usd(5000));
      const from = (await head()) + 1n;
      const txs: ContractTransactionResponse[] = [];
      // Backfilled part (several chunks)...
      for (const s of [c.alice, c.bob]) {
        txs.push(await c.engine.connect(s).modifyPosition(ETH, wad(1), usd(300), wad(4000)));
        await networkHelpers.mine(2);
      }
      const rec = recordingClient({ eth_getLogs: 3, eth_getBlockByNumber: 4 });
      const got: PositionEvent[] = [];
      const errors: Error[] = [];
      track(
        watchPositionEvents(rec.client, {
          addresses: c.addresses,
          fromBlock: from,
          maxBlockRange: 2,
          onEvents: (events) => void got.push(...events),
          onError: (err) => void errors.push(err),
        }),
      );
      // ...and live part.
      for (let i = 0; i < 4; i++) {
        txs.push(await c.engine.connect(c.carol).modifyPosition(ETH, wad("0.1"), usd(30), wad(4000)));
        txs.push(await c.engine.connect(c.alice).addCollateral(ETH, usd(1)));
      }
      const expected = await engineLogsOf(c, txs);
      await waitFor(() => got.length >= expected.length, "all events despite failures");
      await processedThrough(rec, await head());

      expect(rec.injected()).to.be.at.least(3);
      expect(errors.length).to.equal(rec.injected());
      expect(errors[0].message).to.contain("injected failure");
      expect(got.map(view)).to.deep.equal(expected);
    });

    it("re-delivers logs of orphaned blocks as removed, newest first, then the new chain's logs", async function () {
      const c = await setup();
      for (const s of [c.alice, c.bob, c.carol]) await c.engine.connect(s).deposit(usd(5000));
      const from = (await head()) + 1n;
      const rec = recordingClient();
      const got: PositionEvent[] = [];
      track(
        watchPositionEvents(rec.client, { addresses: c.addresses, fromBlock: from, onEvents: (events) => void got.push(...events) }),
      );
      // A block that survives the reorg.
      const kept = await engineLogsOf(c, [await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000))]);
      await waitFor(() => got.length === 1, "the surviving event");
      // A second watcher that starts after it: none of the blocks it remembers survives (the walk back finds no common
      // block and falls back to the block before its first).
      const late = recordingClient();
      const gotLate: PositionEvent[] = [];
      track(
        watchPositionEvents(late.client, {
          addresses: c.addresses,
          fromBlock: kept[0].blockNumber + 1n,
          onEvents: (events) => void gotLate.push(...events),
        }),
      );
      const snapshot = (await conn.provider.request({ method: "evm_snapshot" })) as string;
      const orphaned = await engineLogsOf(c, [
        await c.engine.connect(c.bob).modifyPosition(ETH, wad(1), usd(300), wad(4000)),
        await c.engine.connect(c.carol).modifyPosition(ETH, -wad(1), usd(300), 0n),
      ]);
      await waitFor(() => got.length === 3 && gotLate.length === 2, "the events about to be orphaned");
      await processedThrough(rec, await head());
      await processedThrough(late, await head());

      // Reorg: the two blocks are replaced by three others with different transactions, from the same heights.
      expect(await conn.provider.request({ method: "evm_revert", params: [snapshot] })).to.equal(true);
      const replacement = await engineLogsOf(c, [
        await c.engine.connect(c.carol).modifyPosition(BTC, wad("0.01"), usd(200), wad(70_000)),
        await c.engine.connect(c.bob).modifyPosition(BTC, -wad("0.01"), usd(200), 0n),
        await c.engine.connect(c.alice).addCollateral(ETH, usd(5)),
      ]);
      expect(replacement.map((l) => l.blockNumber)).to.deep.equal([orphaned[0].blockNumber, orphaned[1].blockNumber, orphaned[1].blockNumber + 1n]);
      expect(replacement[0].blockHash).to.not.equal(orphaned[0].blockHash);
      await waitFor(() => got.length >= 3 + 2 + 3 && gotLate.length >= 2 + 2 + 3, "the removals and the new chain's events");
      await processedThrough(rec, await head());
      await processedThrough(late, await head());

      expect(got.map(view)).to.deep.equal([...kept, ...orphaned, orphaned[1], orphaned[0], ...replacement]);
      expect(got.map((l) => l.removed)).to.deep.equal([false, false, false, true, true, false, false, false]);
      expect(gotLate.map(view)).to.deep.equal([...orphaned, orphaned[1], orphaned[0], ...replacement]);
      expect(gotLate.map((l) => l.removed)).to.deep.equal([false, false, true, true, false, false, false]);
    });

    it("with confirmations, processes only blocks that deep and never sees a shallower reorg", async function () {
      const c = await setup();
      for (const s of [c.alice, c.carol]) await c.engine.connect(s).deposit(usd(5000));
      const from = (await head()) + 1n;
      const rec = recordingClient();
      const got: PositionEvent[] = [];
      track(
        watchPositionEvents(rec.client, {
          addresses: c.addresses,
          fromBlock: from,
          confirmations: 2,
          onEvents: (events) => void got.push(...events),
        }),
      );
      const snapshot = (await conn.provider.request({ method: "evm_snapshot" })) as string;
      await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      await networkHelpers.mine(1); // one confirmation only
      // Two full polls at this head: the watcher processed what it may (up to head - 2) and skipped the trade.
      const seen = rec.calls.length;
      await waitFor(() => rec.calls.filter((x, i) => i >= seen && x.method === "eth_blockNumber" && x.done).length >= 2, "two polls");
      expect(got).to.have.length(0);

      expect(await conn.provider.request({ method: "evm_revert", params: [snapshot] })).to.equal(true);
      const confirmed = await engineLogsOf(c, [await c.engine.connect(c.carol).modifyPosition(ETH, -wad(1), usd(300), 0n)]);
      await networkHelpers.mine(2);
      await processedThrough(rec, confirmed[0].blockNumber);
      await waitFor(() => got.length >= 1, "the confirmed event");
      const tip = await head();
      expect(rec.calls.filter((x) => x.method === "eth_getLogs").every((x) => BigInt((x.params[0] as { toBlock: Hex }).toBlock) <= tip - 2n)).to.equal(true);
      expect(got.map(view)).to.deep.equal(confirmed);
    });

    it("stops on unwatch: no request and no callback afterwards, even when called from a callback mid-poll", async function () {
      const c = await setup();
      await c.engine.connect(c.alice).deposit(usd(1000));
      const from = (await head()) + 1n;
      await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      for (let i = 0; i < 3; i++) await c.engine.connect(c.alice).addCollateral(ETH, usd(1));
      await c.engine.connect(c.alice).deposit(usd(1)); // a tick of the clock for the next loop

      // Unwatched from inside the first delivery of a backfill of one block per request: nothing after it.
      const inside = recordingClient();
      const insideBatches: PositionEvent[][] = [];
      const unwatchInside: () => void = track(
        watchPositionEvents(inside.client, {
          addresses: c.addresses,
          fromBlock: from,
          maxBlockRange: 1,
          onEvents: (events) => {
            insideBatches.push(events);
            unwatchInside();
          },
        }),
      );

      // Unwatched from outside between polls.
      const outside = recordingClient();
      let outsideCalls = 0;
      const unwatchOutside = track(
        watchPositionEvents(outside.client, { addresses: c.addresses, fromBlock: from, onEvents: () => void outsideCalls++ }),
      );
      await waitFor(() => insideBatches.length === 1 && outsideCalls === 1, "the first deliveries");
      unwatchOutside();
      const requests = [inside.calls.length, outside.calls.length];
      await c.engine.connect(c.alice).addCollateral(ETH, usd(1));
      await new Promise((resolve) => setTimeout(resolve, 200)); // ten polling intervals
      expect(insideBatches).to.have.length(1);
      expect(insideBatches[0]).to.have.length(1);
      expect(outsideCalls).to.equal(1);
      expect([inside.calls.length, outside.calls.length]).to.deep.equal(requests);
    });
  });

  describe("watchLiquidations", function () {
    it("delivers liquidations with the shortfalls they caused, filtered by liquidator", async function () {
      const c = await setup();
      for (const s of [c.alice, c.bob, c.carol]) {
        await c.engine.connect(s).deposit(usd(1000));
        await c.engine.connect(s).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      }
      const from = (await head()) + 1n;
      const all = recordingClient();
      const byLp = recordingClient();
      const gotAll: LiquidationEvent[] = [];
      const gotLp: LiquidationEvent[] = [];
      track(watchLiquidations(all.client, { addresses: c.addresses, fromBlock: from, onLiquidations: (l) => void gotAll.push(...l) }));
      track(
        watchLiquidations(byLp.client, {
          addresses: c.addresses,
          fromBlock: from,
          liquidator: c.lp.address as Address,
          onLiquidations: (l) => void gotLp.push(...l),
        }),
      );

      await c.ethFeed.updateAnswer(answer(2716)); // all three below maintenance, equity still positive
      const first = await c.engine.connect(c.keeper).liquidate(c.alice.address, ETH);
      await c.ethFeed.updateAnswer(answer(2000)); // equity < 0: bad debt
      const second = await c.engine.connect(c.lp).liquidate(c.bob.address, ETH);
      // A trader closing with bad debt: a shortfall, but no liquidation.
      const close = await c.engine.connect(c.carol).closePosition(ETH, 0n);
      await processedThrough(all, await head());
      await processedThrough(byLp, await head());

      const [aliceLogs, bobLogs, carolLogs] = [await engineLogsOf(c, [first]), await engineLogsOf(c, [second]), await engineLogsOf(c, [close])];
      expect(aliceLogs.map((l) => l.eventName)).to.deep.equal(["PositionLiquidated"]);
      expect(bobLogs.map((l) => l.eventName)).to.deep.equal(["ShortfallCovered", "PositionLiquidated"]);
      expect(carolLogs.map((l) => l.eventName)).to.include("ShortfallCovered");
      expect(gotAll.map(view)).to.deep.equal([...aliceLogs, ...bobLogs]);
      expect(gotLp.map(view)).to.deep.equal(bobLogs);

      const [shortfall, liquidation] = gotLp;
      if (shortfall.eventName !== "ShortfallCovered" || liquidation.eventName !== "PositionLiquidated") throw new Error("event order");
      expect(shortfall.args.account).to.equal(c.bob.address);
      expect(shortfall.args.badDebt > 0n).to.equal(true);
      expect(liquidation.args.liquidator).to.equal(c.lp.address);
      expect(liquidation.args.price).to.equal(wad(2000));
      expect(liquidation.args.closedSize).to.equal(wad(1));
      expect(liquidation.args.remainingSize).to.equal(0n);
    });
  });

  describe("watchHealth", function () {
    const lensHealthFactor = async (c: Ctx, block: bigint) =>
      (await c.lens.positionHealth(c.alice.address, ETH, { blockTag: Number(block) })).healthFactor;
    const levelOf = (hf: bigint): HealthLevel => (hf < WAD ? "liquidatable" : hf < wad("1.3") ? "warning" : "healthy");

    it("calls back once per level change, healthy → warning → liquidatable and back, with the lens's health factor", async function () {
      const c = await setup();
      await c.engine.connect(c.alice).deposit(usd(1000));
      await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      const rec = recordingClient();
      const got: HealthChangeEvent[] = [];
      track(watchHealth(rec.client, { addresses: c.addresses, account: c.alice.address as Address, market: hex(ETH), onChange: (e) => void got.push(e) }));
      await waitFor(() => got.length === 1, "the first evaluation");
      expect(got[0].level).to.equal("healthy");
      expect(got[0].previousLevel).to.equal(undefined);

      // Prices (USD) and whether the level changes at each: only the changes call back.
      const steps: [number, HealthLevel][] = [
        [2750, "healthy"],
        [2720, "warning"], // HF ≈ 1.26: warning at the default 1.3
        [2719, "warning"],
        [2716, "liquidatable"],
        [2715, "liquidatable"],
        [2718, "warning"],
        [2719, "warning"],
        [2800, "healthy"],
        [2900, "healthy"],
      ];
      const levels: HealthLevel[] = ["healthy"];
      for (const [price, level] of steps) {
        const receipt = (await (await c.ethFeed.updateAnswer(answer(price))).wait())!;
        const block = BigInt(receipt.blockNumber);
        await evaluatedAt(rec, block);
        expect(levelOf(await lensHealthFactor(c, block)), `level at ${price}`).to.equal(level);
        if (level !== levels[levels.length - 1]) levels.push(level);
        expect(got.map((e) => e.level), `callbacks after ${price}`).to.deep.equal(levels);
        expect(got[got.length - 1].blockNumber <= block).to.equal(true);
      }
      expect(levels).to.deep.equal(["healthy", "warning", "liquidatable", "warning", "healthy"]);
      for (const [i, e] of got.entries()) {
        expect(e.previousLevel).to.equal(i === 0 ? undefined : got[i - 1].level);
        expect(e.healthFactor).to.equal(await lensHealthFactor(c, e.blockNumber));
        expect(e.position.blockNumber).to.equal(e.blockNumber);
        expect(e.position.exists).to.equal(true);
      }
    });

    it("with everyBlock false, evaluates only on feed answers and the position's own events; closed after liquidation", async function () {
      const c = await setup();
      // Chainlink's MockV3Aggregator emits nothing; this one emits AnswerUpdated like a live aggregator.
      const feed = await ethers.deployContract("AnsweringAggregator", [FEED_DECIMALS, answer(3000)]);
      const otherFeed = await ethers.deployContract("AnsweringAggregator", [FEED_DECIMALS, answer(3000)]);
      await c.engine.setOracleConfig(ETH, oracleConfig(await feed.getAddress()));
      for (const s of [c.alice, c.bob]) await c.engine.connect(s).deposit(usd(1000));
      await c.engine.connect(c.alice).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      const rec = recordingClient();
      const got: HealthChangeEvent[] = [];
      track(
        watchHealth(rec.client, {
          addresses: c.addresses,
          account: c.alice.address as Address,
          market: hex(ETH),
          everyBlock: false,
          onChange: (e) => void got.push(e),
        }),
      );
      await waitFor(() => got.length === 1, "the first evaluation");
      expect(got[0]).to.include({ level: "healthy", previousLevel: undefined });
      const reads = () => rec.calls.filter((x) => x.method === "eth_call").length;
      const afterFirst = reads();

      // New blocks, another account's trade and another feed's answer: no evaluation at all.
      await networkHelpers.mine(3);
      await c.engine.connect(c.bob).modifyPosition(ETH, wad(1), usd(300), wad(4000));
      await otherFeed.answer(answer(2000));
      await c.ethFeed.updateAnswer(answer(2000)); // the market's former feed
      await processedThrough(rec, await head());
      expect(reads()).to.equal(afterFirst);
      expect(got).to.have.length(1);

      // The market's feed answers: evaluated at once.
      const warn = (await (await feed.answer(answer(2719))).wait())!;
      await waitFor(() => got.length === 2, "the warning");
      expect(got[1]).to.include({ level: "warning", previousLevel: "healthy" });
      expect(got[1].blockNumber).to.equal(BigInt(warn.blockNumber));
      expect(got[1].healthFactor).to.equal(await lensHealthFactor(c, got[1].blockNumber));

      // The position's own event: more collateral, healthy again without a price change.
      await c.engine.connect(c.alice).addCollateral(ETH, usd(100));
      await waitFor(() => got.length === 3, "healthy after adding collateral");
      expect(got[2]).to.include({ level: "healthy", previousLevel: "warning" });

      await feed.answer(answer(2600));
      await waitFor(() => got.length === 4, "liquidatable");
      expect(got[3]).to.include({ level: "liquidatable", previousLevel: "healthy" });
      expect(got[3].healthFactor).to.equal(await lensHealthFactor(c, got[3].blockNumber));
      expect(got[3].position.health!.liquidatable).to.equal(true);

      const liq = (await (await c.engine.connect(c.keeper).liquidate(c.alice.address, ETH)).wait())!;
      await waitFor(() => got.length === 5, "closed");
      expect(got[4]).to.include({ level: "closed", previousLevel: "liquidatable", healthFactor: null });
      expect(got[4].blockNumber).to.equal(BigInt(liq.blockNumber));
      expect(got[4].position.exists).to.equal(false);
    });

    it("rejects a warning threshold at or below 1 before any request", async function () {
      const c = await setup();
      const rec = recordingClient();
      for (const warningThreshold of [WAD, WAD / 2n, 0n]) {
        let err: unknown;
        try {
          track(watchHealth(rec.client, { addresses: c.addresses, account: c.alice.address as Address, market: hex(ETH), warningThreshold, onChange: () => {} }));
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(InvalidParameterError);
        expect((err as InvalidParameterError).parameter).to.equal("warningThreshold");
      }
      await new Promise((resolve) => setTimeout(resolve, 100)); // five polling intervals: nothing was started
      expect(rec.calls).to.have.length(0);
    });
  });
});
