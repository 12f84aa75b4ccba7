/**
 * End-to-end harness for the keeper: `hardhat node` in a child process, the protocol deployed on it, a population of
 * positions, keeper processes started like an operator would (`node keeper/src/cli.ts`), a flaky JSON-RPC proxy, and a
 * TCP proxy that can be taken down and brought back (an RPC outage, for HTTP and WebSocket alike).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type Server, createServer, request } from "node:http";
import { type Server as TcpServer, type Socket, connect, createServer as createTcpServer } from "node:net";
import { join } from "node:path";

import { Wallet } from "ethers";
import { network } from "hardhat";

import { BTC, ETH, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { ROOT, freePort, startNode } from "../helpers/node.js";
import { rng } from "../../../scripts/lib/scenario.ts";

/** Hardhat's default accounts #5 to #8 (public test keys): keeper signers. */
export const KEEPER_KEYS = [
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
] as const;

export type Chain = Awaited<ReturnType<typeof startChain>>;

/** Starts a node and deploys the fixture protocol on it. */
export async function startChain() {
  const port = await freePort();
  const node = await startNode(port);
  const rpcUrl = `http://127.0.0.1:${port}`;
  const conn = await network.create({ network: "localhost", override: { url: rpcUrl } });
  const p = await deployProtocol(conn.ethers);
  const send = (method: string, params: unknown[] = []) => conn.provider.request({ method, params });
  return { node, rpcUrl, conn, p, send };
}

export type PositionRef = { account: string; market: string };

/**
 * Opens `accounts` × 2 positions (ETH and BTC) from fresh wallets: 300 to 24,300 USD, long or short, 3x to 60x, and
 * every fourth account's ETH position large at 9.6x, so a 10% crash leaves healthy, partially and fully liquidatable
 * positions.
 */
export async function openPopulation(chain: Chain, accounts: number, seed = 7): Promise<PositionRef[]> {
  const { p, conn, send } = chain;
  const random = rng(seed);
  const provider = conn.ethers.provider;
  const out: PositionRef[] = [];
  const engine = await p.engine.getAddress();
  for (let i = 0; i < accounts; i++) {
    const w = Wallet.createRandom().connect(provider);
    await send("hardhat_setBalance", [w.address, "0x56BC75E2D63100000"]); // 100 ETH
    await (await p.token.mint(w.address, usd(200_000))).wait();
    await (await p.token.connect(w).approve(engine, usd(200_000))).wait();
    await (await p.engine.connect(w).deposit(usd(200_000))).wait();
    for (const [market, price] of [
      [ETH, 3000],
      [BTC, 60_000],
    ] as const) {
      let notional = 300 + Math.floor(random() * 24_000); // USD
      let long = random() < 0.7;
      let collateral = usd(Math.ceil(notional / (3 + random() * 57)) + 2); // 3x to 60x
      if (i % 4 === 0 && market === ETH) {
        // Above the full-liquidation notional with 10.43% margin: after a 10% fall its equity (about 0.34% of notional)
        // is below maintenance (0.45%) but covers reward and penalty (0.3%), so it is liquidated partially.
        notional = 20_000 + Math.floor(random() * 4_000);
        long = true;
        collateral = usd(Math.ceil(notional * 0.1043));
      }
      const size = (wad(notional) * 10n ** 18n) / wad(price);
      await (
        await p.engine.connect(w).modifyPosition(market, long ? size : -size, collateral, long ? wad(price * 2) : 0n)
      ).wait();
      out.push({ account: w.address, market });
    }
  }
  return out;
}

/** Crashes both feeds by `pct` percent in one block (automine off around it); returns that block. */
export async function crashInOneBlock(chain: Chain, pct: number): Promise<number> {
  await chain.send("evm_setAutomine", [false]);
  await chain.p.ethFeed.updateAnswer(((3000n * BigInt(100 - pct)) / 100n) * 10n ** 8n);
  await chain.p.btcFeed.updateAnswer(((60_000n * BigInt(100 - pct)) / 100n) * 10n ** 8n);
  await chain.send("evm_mine");
  await chain.send("evm_setAutomine", [true]);
  return Number(await chain.conn.ethers.provider.getBlockNumber());
}

/** Health of `positions` at `blockTag` through the lens. */
export async function healthAt(chain: Chain, positions: readonly PositionRef[], blockTag: number | "latest" = "latest") {
  return chain.p.lens.healthBatch([...positions], { blockTag });
}

/** Every PositionLiquidated since `fromBlock`: account, market, liquidator. */
export async function liquidations(chain: Chain, fromBlock: number) {
  const events = await chain.p.engine.queryFilter(chain.p.engine.filters.PositionLiquidated(), fromBlock);
  return events.map((e) => ({
    account: (e.args.account as string).toLowerCase(),
    market: e.args.market as string,
    liquidator: (e.args.liquidator as string).toLowerCase(),
    remainingSize: e.args.remainingSize as bigint,
    blockNumber: e.blockNumber,
  }));
}

export const keyOf = (x: PositionRef) => `${x.account.toLowerCase()}:${x.market.toLowerCase()}`;

/** The CLI arguments of a keeper for `chain`: its addresses, `dataDir`, any free metrics port, 100 ms polling. */
export async function keeperArgs(chain: Chain, dataDir: string, rpcUrl = chain.rpcUrl): Promise<string[]> {
  return [
    "--rpc-url", rpcUrl,
    "--engine", await chain.p.engine.getAddress(),
    "--lens", await chain.p.lens.getAddress(),
    "--data-dir", dataDir,
    "--metrics-port", "0",
    "--polling-interval", "100",
  ];
}

/** A keeper process with its JSON log lines. */
export type KeeperProcess = {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first log line matching `msg` (rejects on timeout or exit). */
  waitFor: (msg: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
};

export function startKeeperProcess(args: string[], env: Record<string, string>): KeeperProcess {
  const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", join(ROOT, "keeper/src/cli.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: "pipe",
  });
  const lines: Record<string, unknown>[] = [];
  let err = "";
  let buffer = "";
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const w of [...waiters]) {
          if (line.msg === w.msg) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      } catch {
        err += `${text}\n`; // not a JSON log line
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  const waitFor = (msg: string, timeoutMs = 60_000) => {
    const seen = lines.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`keeper did not log "${msg}" within ${timeoutMs} ms:\n${err}\n${lines.map((l) => JSON.stringify(l)).join("\n")}`)), timeoutMs);
      waiters.push({
        msg,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`keeper exited with ${code} before logging "${msg}":\n${err}`));
      });
    });
  };
  return { child, lines, stderr: () => err, waitFor, exited };
}

/**
 * After a test: when it failed, prints each keeper's stderr and last log lines (their own account of what happened,
 * for the CI log); then kills every keeper still running.
 */
export function stopKeepers(keepers: readonly KeeperProcess[], failed: boolean) {
  if (failed) {
    for (const [i, k] of keepers.entries()) {
      console.log(`--- keeper ${i} stderr:\n${k.stderr()}\n--- keeper ${i} last log lines:`);
      for (const l of k.lines.slice(-40)) console.log(JSON.stringify(l));
    }
  }
  for (const k of keepers) if (k.child.exitCode === null) k.child.kill("SIGKILL");
}

/** Polls `check` until it returns true (rejects after `timeoutMs`: failure only, never a speed assertion). */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A JSON-RPC proxy in front of `target` that fails `dropRate` of requests (a 502, or a dropped connection) and delays
 * the rest by up to `maxDelayMs`: a flaky provider.
 */
export async function startFlakyProxy(target: string, dropRate: number, maxDelayMs: number, seed = 11) {
  const random = rng(seed);
  const url = new URL(target);
  let dropped = 0;
  let forwarded = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = random();
      if (r < dropRate) {
        dropped++;
        if (r < dropRate / 2) {
          res.writeHead(502);
          res.end("bad gateway");
        } else {
          req.socket.destroy();
        }
        return;
      }
      setTimeout(() => {
        forwarded++;
        const up = request(
          { hostname: url.hostname, port: url.port, path: "/", method: "POST", headers: { "content-type": "application/json" } },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, { "content-type": "application/json" });
            upRes.pipe(res);
          },
        );
        up.on("error", () => {
          res.writeHead(502);
          res.end();
        });
        up.end(Buffer.concat(chunks));
      }, Math.floor(random() * maxDelayMs));
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${port}`, server, stats: () => ({ dropped, forwarded }) };
}

/**
 * A plain TCP proxy on its own port in front of 127.0.0.1:`targetPort`: HTTP and WebSocket JSON-RPC pass through
 * unchanged. `down()` stops listening and cuts every open connection (the endpoint is unreachable: connections are
 * refused); `up()` listens on the same port again.
 */
export async function startTcpProxy(targetPort: number) {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: TcpServer | null = null;
  let accepted = 0;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      if (server !== null) return resolve();
      const s = createTcpServer((client) => {
        accepted++;
        const upstream = connect(targetPort, "127.0.0.1");
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on("close", () => sockets.delete(socket));
          socket.on("error", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      const s = server;
      if (s === null) return resolve();
      server = null;
      s.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  await up();
  return { port, up, down, accepted: () => accepted };
}

/** GET `path` from a keeper's metrics server: status and body. */
export async function getEndpoint(port: number, path: "/healthz" | "/metrics"): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}
