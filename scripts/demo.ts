/**
 * The one-command demo: `npm run demo`.
 *
 * An in-process chain; the full system deployed through the TidemarkLocal Ignition module; the pool funded; about 50
 * positions opened by 25 traders at 2x to 50x in two markets through the SDK; the keeper running in the same
 * process; both prices walked down a crash path through the mock Chainlink aggregators. Prints the positions before
 * and after (health factor, liquidation price), every liquidation (keeper, reward, penalty, full or partial), the
 * insurance fund, bad debt and the pool's NAV, and writes an SVG chart of the price path with the liquidations marked.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { network } from "hardhat";
import { type Address, type Hex, custom, getAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { getInsuranceFund, getPool, tidemarkEngineAbi } from "@tidemark/sdk";

import TidemarkLocalModule from "../ignition/modules/TidemarkLocal.js";
import { loadConfig } from "../keeper/src/config.ts";
import { startKeeper } from "../keeper/src/keeper.ts";
import { createLogger } from "../keeper/src/log.ts";
import { CRASH_PATH, type Opened, connect, fund, healthOf, hf, openPositions, price, setPrices, usd } from "./lib/scenario.ts";
import { type Series, renderChart } from "./lib/svg-chart.ts";

const OUT = resolve("demo-output");
const TRADERS = 25;
const POSITIONS = 50;
// Hardhat's default account #1: a public test key, used only on this throwaway chain.
const KEEPER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

const started = Date.now();
const say = (s = "") => console.log(s);
const pad = (s: string | number, n: number) => String(s).padStart(n);

say("Tidemark demo: an in-process chain, the full system, ~50 positions, the keeper, a crash.\n");
const conn = await network.connect();
const deployed = await conn.ignition.deploy(TidemarkLocalModule, { displayUi: false });
const addr = async (c: { getAddress(): Promise<string> }) => getAddress(await c.getAddress());
const addresses = {
  engine: await addr(deployed.engine),
  lens: await addr(deployed.lens),
  pool: await addr(deployed.pool),
  insuranceFund: await addr(deployed.insurance),
  collateralToken: await addr(deployed.token),
};
const transport = custom(conn.provider);
const l = await connect(
  transport,
  { "TidemarkLocal#EthUsdFeed": await addr(deployed.ethFeed), "TidemarkLocal#BtcUsdFeed": await addr(deployed.btcFeed), "TidemarkLocal#MockERC20": addresses.collateralToken },
  addresses,
  TRADERS,
);
say(`deployed: engine ${addresses.engine}, lens ${addresses.lens}, pool ${addresses.pool}`);

await fund(l, 2_000_000, 25_000, TRADERS, 150_000);
say(`pool funded with 2,000,000 USDC, insurance fund with 25,000; ${TRADERS} traders deposited 150,000 USDC each`);
const opened = await openPositions(l, POSITIONS, TRADERS);
say(`opened ${opened.length} positions through the SDK\n`);

// The keeper, in this process, on the same chain.
mkdirSync(OUT, { recursive: true });
const keeperLog = join(OUT, "keeper.log");
const config = loadConfig(
  {
    rpcUrl: "http://in-process.invalid",
    engine: addresses.engine,
    lens: addresses.lens,
    dataDir: join(tmpdir(), `tidemark-demo-${process.pid}`),
    metricsPort: "0",
    pollingIntervalMs: "50",
    maxHeadLagSeconds: "86400",
    logLevel: "info",
  },
  {},
);
const keeperAccount = privateKeyToAccount(KEEPER_KEY);
const keeper = await startKeeper(config, keeperAccount, createLogger("info", (await import("pino")).pino.destination({ dest: keeperLog, sync: true })), {
  transport,
});
say(`keeper ${keeperAccount.address} running (log: ${keeperLog})\n`);

const table = async (title: string, positions: readonly Opened[]) => {
  const h = await healthOf(l, positions);
  say(title);
  say(`  ${"trader".padEnd(12)} ${"market".padEnd(8)} ${"side".padEnd(5)} ${pad("lev", 4)} ${pad("size", 10)} ${pad("collateral", 12)} ${pad("equity", 12)} ${pad("HF", 8)} ${pad("liq. price", 11)}`);
  positions.forEach((p, i) => {
    const x = h[i];
    const size = Number(x.size) / 1e18;
    const state = x.size === 0n ? "closed" : hf(x.healthFactor);
    const liq = x.size === 0n ? "-" : x.liquidationPrice === 0n || x.liquidationPrice > 10n ** 40n ? "none" : price(x.liquidationPrice);
    say(
      `  ${p.account.slice(0, 10).padEnd(12)} ${p.symbol.padEnd(8)} ${p.side.padEnd(5)} ${pad(`${p.leverage}x`, 4)} ${pad(size.toFixed(4), 10)} ${pad(usd(x.collateral, 18), 12)} ${pad(usd(x.equity, 18), 12)} ${pad(state, 8)} ${pad(liq, 11)}`,
    );
  });
  say();
};

const poolBefore = await getPool(l.publicClient, { addresses });
const fundBefore = await getInsuranceFund(l.publicClient, { addresses });
await table("Positions before the crash (health factor = equity / maintenance margin; < 1 is liquidatable):", opened);

type Liquidation = { step: number; symbol: string; account: Address; keeper: Address; full: boolean; reward: bigint; penalty: bigint; closed: bigint; price: bigint };
const liquidations: Liquidation[] = [];
let badDebt = 0n;
let keeperTopUps = 0n;
let fromBlock = (await l.publicClient.getBlockNumber()) + 1n;

const keeperIdle = async (block: bigint) => {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const head = (await keeper.metrics.headBlock.get()).values[0]?.value ?? 0;
    const inFlight = (await keeper.metrics.inFlight.get()).values[0]?.value ?? 0;
    const due = (await healthOf(l, opened)).filter((x) => x.liquidatable).length;
    if (head >= Number(block) && inFlight === 0 && due === 0) return;
    if (Date.now() > deadline) throw new Error(`the keeper did not clear the liquidatable positions (${due} left)`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

say("Crash path (both feeds updated through the mock Chainlink aggregators at each step):");
for (const [step, p] of CRASH_PATH.entries()) {
  if (step > 0) await keeperIdle(await setPrices(l, p.eth, p.btc));
  const to = await l.publicClient.getBlockNumber();
  const events = await l.publicClient.getContractEvents({ address: addresses.engine, abi: tidemarkEngineAbi, eventName: "PositionLiquidated", fromBlock, toBlock: to });
  const shortfalls = await l.publicClient.getContractEvents({ address: addresses.engine, abi: tidemarkEngineAbi, eventName: "ShortfallCovered", fromBlock, toBlock: to });
  fromBlock = to + 1n;
  for (const e of events) {
    const a = e.args as { account: Address; market: Hex; liquidator: Address; closedSize: bigint; price: bigint; keeperReward: bigint; penalty: bigint; remainingSize: bigint };
    liquidations.push({
      step,
      symbol: opened.find((o) => o.market === a.market)!.symbol,
      account: a.account,
      keeper: a.liquidator,
      full: a.remainingSize === 0n,
      reward: a.keeperReward,
      penalty: a.penalty,
      closed: a.closedSize,
      price: a.price,
    });
  }
  for (const e of shortfalls) {
    const a = e.args as { badDebt: bigint; keeperTopUp: bigint };
    badDebt += a.badDebt;
    keeperTopUps += a.keeperTopUp;
  }
  const n = events.length;
  say(`  step ${step}: ETH ${pad(p.eth.toLocaleString("en-US"), 6)}  BTC ${pad(p.btc.toLocaleString("en-US"), 7)}  ${n === 0 ? "no liquidation" : `${n} liquidated (${events.filter((e) => (e.args as { remainingSize: bigint }).remainingSize !== 0n).length} partial)`}`);
}
say();

say("Liquidations (reward to the keeper's free balance, penalty to the insurance fund; token amounts in USDC):");
say(`  ${"step".padEnd(5)} ${"trader".padEnd(12)} ${"market".padEnd(8)} ${"kind".padEnd(8)} ${pad("size closed", 12)} ${pad("price", 9)} ${pad("reward", 9)} ${pad("penalty", 9)}  keeper`);
for (const x of liquidations) {
  say(
    `  ${String(x.step).padEnd(5)} ${x.account.slice(0, 10).padEnd(12)} ${x.symbol.padEnd(8)} ${(x.full ? "full" : "partial").padEnd(8)} ${pad((Number(x.closed) / 1e18).toFixed(4), 12)} ${pad(price(x.price), 9)} ${pad(usd(x.reward), 9)} ${pad(usd(x.penalty), 9)}  ${x.keeper.slice(0, 10)}`,
  );
}
say();
await table("Positions after the crash:", opened);

const poolAfter = await getPool(l.publicClient, { addresses });
const fundAfter = await getInsuranceFund(l.publicClient, { addresses });
const rewards = liquidations.reduce((s, x) => s + x.reward, 0n);
say("Summary:");
say(`  liquidations            ${liquidations.length} (${liquidations.filter((x) => x.full).length} full, ${liquidations.filter((x) => !x.full).length} partial), all by the keeper`);
say(`  keeper rewards          ${usd(rewards)} USDC`);
say(`  insurance fund          ${usd(fundBefore.balance)} -> ${usd(fundAfter.balance)} USDC`);
say(`  bad debt                ${usd(badDebt)} USDC (plus ${usd(keeperTopUps)} USDC of minimum keeper rewards topped up)`);
say(`  pool NAV                ${usd(poolBefore.totalAssets)} -> ${usd(poolAfter.totalAssets)} USDC (share price ${usd(poolBefore.sharePrice)} -> ${usd(poolAfter.sharePrice)})`);
const left = (await healthOf(l, opened)).filter((x) => x.liquidatable).length;
say(`  still liquidatable      ${left}`);

const chart = join(OUT, "crash-chart.svg");
writeFileSync(chart, svg(liquidations));
say(`\nChart of the price path with the liquidations marked: ${chart}`);
await keeper.stop();
say(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
process.exit(left === 0 ? 0 : 1);

/** Both prices in % of their start along the path, each liquidation a dot on its market's line (hollow: partial). */
function svg(events: readonly Liquidation[]): string {
  const steps = CRASH_PATH.length - 1;
  const pct = (p: { eth: number; btc: number }, k: "eth" | "btc") => (p[k] / CRASH_PATH[0][k] - 1) * 100;
  const lo = Math.floor(Math.min(...CRASH_PATH.flatMap((p) => [pct(p, "eth"), pct(p, "btc")])) / 5) * 5;
  const colors = { eth: "#3b6fd8", btc: "#e08a1e" } as const;
  const line = (k: "eth" | "btc", name: string): Series => ({ name, color: colors[k], points: CRASH_PATH.map((p, i) => [i, pct(p, k)] as const) });
  // One dot series per market and kind; dots at the same step stack downwards.
  const dots = (k: "eth" | "btc", full: boolean): Series => {
    const symbol = k === "eth" ? "ETH-USD" : "BTC-USD";
    const mine = events.map((e, j) => ({ e, j })).filter(({ e }) => e.symbol === symbol && e.full === full);
    return {
      name: `${symbol} ${full ? "full" : "partial"}`,
      color: colors[k],
      kind: "dots",
      hollow: !full,
      points: mine.map(({ e }) => [e.step, pct(CRASH_PATH[e.step], k)] as const),
      offsetPx: (i) => 7 + events.filter((f, j) => j < mine[i].j && f.step === mine[i].e.step && f.symbol === symbol).length * 5,
      label: (i) => `${symbol} ${full ? "full" : "partial"} liquidation of ${mine[i].e.account} at ${price(mine[i].e.price)}`,
    };
  };
  const yTicks: number[] = [];
  for (let v = 0; v >= lo; v -= 5) yTicks.push(v);
  return renderChart({
    title: "Tidemark demo: crash path and liquidations",
    width: 760,
    xLabel: "price update (step)",
    xMin: 0,
    xMax: steps,
    xTicks: Array.from({ length: steps + 1 }, (_, i) => i),
    panels: [
      {
        yLabel: "price vs. start",
        yMin: lo,
        yMax: 0,
        yTicks,
        yFormat: (v) => `${v}%`,
        height: 290,
        series: [line("eth", "ETH-USD"), line("btc", "BTC-USD"), dots("eth", true), dots("eth", false), dots("btc", true), dots("btc", false)],
        legend: [
          { label: "ETH-USD", color: colors.eth, kind: "line" },
          { label: "BTC-USD", color: colors.btc, kind: "line" },
          { label: "full liquidation", kind: "dot" },
          { label: "partial", kind: "hollow" },
          { label: `${events.length} liquidations`, kind: "text" },
        ],
      },
    ],
  });
}
