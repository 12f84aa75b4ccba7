import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { network } from "hardhat";
import { pino } from "pino";
import { type Address, type Hex, type PublicClient, createPublicClient, custom } from "viem";
import { hardhat } from "viem/chains";

import { createIndexer } from "../../../keeper/src/indexer.ts";
import { type KeeperState, loadState, saveState, statePath } from "../../../keeper/src/store.ts";
import { positionKey } from "../../../keeper/src/types.ts";
import { BTC, ETH, deployProtocol, usd, wad } from "../helpers/fixture.js";

const conn = await network.create();
const { ethers, networkHelpers } = conn;
const silent = pino({ level: "silent" });

async function fixture() {
  const p = await deployProtocol(ethers);
  for (const s of [p.alice, p.bob, p.carol]) await p.engine.connect(s).deposit(usd(100_000));
  return p;
}

describe("Keeper index", function () {
  async function setup() {
    const p = await networkHelpers.loadFixture(fixture);
    const client = createPublicClient({ chain: hardhat, transport: custom(conn.provider, { retryCount: 0 }) }) as PublicClient;
    const addresses = {
      engine: (await p.engine.getAddress()) as Address,
      lens: (await p.lens.getAddress()) as Address,
      pool: (await p.pool.getAddress()) as Address,
    };
    const state: KeeperState = { chainId: 31337, engine: addresses.engine, checkpoints: [], positions: new Map() };
    const indexer = createIndexer({ client, addresses, startBlock: 0n, maxBlockRange: 5, state, log: silent });
    const sync = async () => {
      const head = await client.getBlock({ blockTag: "latest" });
      return indexer.sync(head.number, head.hash);
    };
    return { p, client, state, indexer, sync };
  }

  const open = (p: Awaited<ReturnType<typeof fixture>>, who: "alice" | "bob" | "carol", market: string, size: bigint) =>
    p.engine.connect(p[who]).modifyPosition(market, size, usd(1_000), size > 0n ? wad(100_000) : 0n);

  it("indexes open positions from the events in small chunks and holds exactly the engine's stored state", async function () {
    const { p, state, sync } = await setup();
    await open(p, "alice", ETH, wad(1));
    await open(p, "bob", ETH, -wad(2));
    await open(p, "carol", BTC, wad("0.1"));
    await p.engine.connect(p.bob).closePosition(ETH, wad(100_000));
    await p.engine.connect(p.alice).addCollateral(ETH, usd(50));
    const r = await sync();
    expect(r.reread).to.equal(3);
    expect([...state.positions.keys()].sort()).to.deep.equal(
      [positionKey(p.alice.address as Address, ETH as Hex), positionKey(p.carol.address as Address, BTC as Hex)].sort(),
    );
    for (const pos of state.positions.values()) {
      const onChain = await p.engine.getPosition(pos.account, pos.market);
      expect([pos.size, pos.collateral, pos.entryPrice, pos.fundingIndex]).to.deep.equal([
        onChain.size,
        onChain.collateral,
        onChain.entryPrice,
        onChain.fundingIndex,
      ]);
    }
    // Nothing new: nothing re-read, the checkpoint moves with the head.
    await networkHelpers.mine(3);
    const again = await sync();
    expect(again.reread).to.equal(0);
    expect(state.checkpoints.at(-1)!.blockNumber).to.equal(BigInt(await ethers.provider.getBlockNumber()));
  });

  it("corrects itself after a reorg made with snapshot and revert", async function () {
    const { p, state, sync } = await setup();
    await open(p, "alice", ETH, wad(1));
    await sync();
    const snapshot = await conn.provider.request({ method: "evm_snapshot", params: [] });
    // The orphaned branch: bob opens, alice closes; the index sees it.
    await open(p, "bob", ETH, -wad(3));
    await p.engine.connect(p.alice).closePosition(ETH, 0n);
    await sync();
    expect([...state.positions.values()].map((x) => x.account)).to.deep.equal([p.bob.address]);
    const orphanedHead = state.checkpoints.at(-1)!;

    // The canonical branch replaces those blocks with others (carol opens on BTC) and grows past them.
    await conn.provider.request({ method: "evm_revert", params: [snapshot] });
    await open(p, "carol", BTC, wad("0.2"));
    await networkHelpers.mine(5);
    const r = await sync();
    expect(r.reorged).to.equal(true);
    const canonical = await ethers.provider.getBlock(Number(orphanedHead.blockNumber));
    expect(canonical!.hash).to.not.equal(orphanedHead.blockHash);
    const accounts = [...state.positions.values()].map((x) => x.account).sort();
    expect(accounts).to.deep.equal([p.alice.address, p.carol.address].sort());
    const alice = state.positions.get(positionKey(p.alice.address as Address, ETH as Hex))!;
    expect(alice.size).to.equal(wad(1));
  });

  it("reconciles with the lens's on-chain enumeration: adds what it lacks, drops what is gone", async function () {
    const { p, state, indexer, sync } = await setup();
    await open(p, "alice", ETH, wad(1));
    await open(p, "bob", BTC, -wad("0.1"));
    await sync();
    // Corrupt the index: forget alice, invent a position for carol.
    const aliceKey = positionKey(p.alice.address as Address, ETH as Hex);
    const alice = state.positions.get(aliceKey)!;
    state.positions.delete(aliceKey);
    const carolKey = positionKey(p.carol.address as Address, ETH as Hex);
    state.positions.set(carolKey, { ...alice, account: p.carol.address as Address });
    const head = BigInt(await ethers.provider.getBlockNumber());
    const diff = await indexer.reconcile([ETH as Hex, BTC as Hex], head);
    expect(diff).to.deep.equal({ missing: 1, extra: 1 });
    expect(state.positions.has(aliceKey)).to.equal(true);
    expect(state.positions.has(carolKey)).to.equal(false);
    expect(state.positions.size).to.equal(2);
  });

  it("saves and loads its state atomically and refuses another chain's or engine's file", async function () {
    const { p, state, sync } = await setup();
    await open(p, "alice", ETH, wad(1));
    await sync();
    const dir = await mkdtemp(join(tmpdir(), "keeper-state-"));
    try {
      const path = statePath(dir, 31337, state.engine, { index: 0, count: 1 });
      saveState(path, state);
      const loaded = loadState(path, 31337, state.engine)!;
      expect(loaded.positions).to.deep.equal(state.positions);
      expect(loaded.checkpoints).to.deep.equal(state.checkpoints);
      expect(() => loadState(path, 1, state.engine)).to.throw(/belongs to chain 31337/);
      expect(loadState(join(dir, "absent.json"), 31337, state.engine)).to.equal(null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
