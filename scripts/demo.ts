/**
 * The one-command demo: `npm run demo`.
 *
 * An in-process chain; the full system deployed through the TidemarkLocal Ignition module; the pool funded (an
 * asynchronous deposit request the LP fulfils itself, see scripts/lib/scenario.ts); about 50 positions opened by 25
 * traders at 2x to 50x in two markets through the SDK; the keeper running in the same process; both prices walked
 * down a crash path through the mock Chainlink aggregators. Prints the positions before and after (health factor,
 * liquidation price), every liquidation (keeper, reward, penalty, full or partial), the insurance fund, bad debt and
 * the pool's NAV, and writes an SVG chart: each market's price in USD with its liquidations marked, and the insurance
 * fund, pool NAV and bad debt at every step.
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
import { type Panel, type Series, renderChart } from "./lib/svg-chart.ts";

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
say(
  `pool funded with 2,000,000 USDC (an ERC-7540 deposit request, fulfilled at local Pyth prices after the minimum delay, then claimed), ` +
    `insurance fund with 25,000; ${TRADERS} traders deposited 150,000 USDC each`,
);
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
/** The insurance fund, the pool's NAV and the cumulative bad debt once the keeper has done with each step. */
type Sample = { step: number; insurance: bigint; nav: bigint; badDebt: bigint };
const samples: Sample[] = [];
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
  const [poolNow, fundNow] = await Promise.all([getPool(l.publicClient, { addresses }), getInsuranceFund(l.publicClient, { addresses })]);
  samples.push({ step, insurance: fundNow.balance, nav: poolNow.totalAssets, badDebt });
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
writeFileSync(chart, svg(liquidations, samples));
say(`\nChart of the price path with the liquidations marked: ${chart}`);
await keeper.stop();
say(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
process.exit(left === 0 ? 0 : 1);

/**
 * One panel per market with its price in USD (held between updates) and each liquidation a mark at the price it
 * executed at (filled: full, hollow: partial), the marks of one step side by side; then the insurance fund, the
 * pool's NAV and the cumulative bad debt at every step, each in its own panel and scale (USDC).
 */
function svg(events: readonly Liquidation[], samples: readonly Sample[]): string {
  const steps = CRASH_PATH.length - 1;
  const markets = [
    { key: "eth", symbol: "ETH-USD", base: "ETH", color: "#3b6fd8" },
    { key: "btc", symbol: "BTC-USD", base: "BTC", color: "#e08a1e" },
  ] as const;
  const liqColor = "#c0392b";
  const dollars = (v: number) => `$${v.toLocaleString("en-US", { maximumFractionDigits: 0 })}`;
  const whole = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  const token = (x: bigint) => Number(x) / 1e6;
  const wad = (x: bigint) => Number(x) / 1e18;

  const pricePanel = (m: (typeof markets)[number]): Panel => {
    const dots = (full: boolean): Series => {
      const mine = events.filter((e) => e.symbol === m.symbol && e.full === full);
      return {
        id: `${m.key}-liquidations-${full ? "full" : "partial"}`,
        name: `${full ? "full" : "partial"} liquidation`,
        color: liqColor,
        kind: "dots",
        hollow: !full,
        size: 3,
        points: mine.map((e) => [e.step, wad(e.price)] as const),
        label: (i) =>
          `step ${mine[i].step}: ${full ? "full" : "partial"} liquidation of ${mine[i].account} at ${price(mine[i].price)} USD, ${wad(mine[i].closed).toFixed(4)} ${m.base} closed`,
      };
    };
    const n = events.filter((e) => e.symbol === m.symbol);
    return {
      id: `${m.key}-price`,
      title: `${m.symbol} oracle price (USD) and its liquidations`,
      yLabel: `USD per ${m.base}`,
      yFormat: dollars,
      height: 190,
      spread: { align: "start", gap: 8, maxSpan: 0.9 },
      series: [
        { id: `${m.key}-price`, name: m.symbol, color: m.color, kind: "step", points: CRASH_PATH.map((p, i) => [i, p[m.key]] as const) },
        dots(true),
        dots(false),
      ],
      legend: [
        { label: `${m.symbol} price`, color: m.color, kind: "line" },
        { label: "full liquidation", color: liqColor, kind: "dot" },
        { label: "partial liquidation", color: liqColor, kind: "hollow" },
        { label: `${n.length} liquidations (${n.filter((e) => !e.full).length} partial)`, kind: "text" },
        { label: "one mark each, side by side", kind: "text" },
      ],
    };
  };

  const first = samples[0];
  const last = samples[samples.length - 1];
  const sampled = (id: string, name: string, color: string, get: (s: Sample) => bigint): Series => ({
    id,
    name,
    color,
    kind: "step",
    showPoints: 2.5,
    points: samples.map((s) => [s.step, token(get(s))] as const),
    label: (i) => `step ${samples[i].step}: ${name} ${usd(get(samples[i]))} USDC`,
  });
  const navChange = token(last.nav - first.nav);
  const maxDebt = token(last.badDebt);
  const signed = (v: number, digits = 2) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
  const insurance: Panel = {
    id: "insurance",
    title: "Insurance fund balance (USDC, axis from 0)",
    yLabel: "USDC",
    zero: true,
    yFormat: whole,
    height: 120,
    series: [sampled("insurance", "insurance fund", "#27ae60", (s) => s.insurance)],
    legend: [
      { label: "insurance fund", color: "#27ae60", kind: "line" },
      { label: `${usd(first.insurance)} -> ${usd(last.insurance)}`, kind: "text" },
    ],
  };
  const nav: Panel = {
    id: "pool-nav",
    title: "LP pool NAV (totalAssets, marked to market; USDC, axis NOT from 0)",
    yLabel: "USDC",
    yFormat: whole,
    height: 120,
    series: [sampled("pool-nav", "pool NAV", "#16a085", (s) => s.nav)],
    legend: [
      { label: "pool NAV", color: "#16a085", kind: "line" },
      { label: `${usd(first.nav)} -> ${usd(last.nav)}`, kind: "text" },
      { label: `${signed(navChange)} (${signed((navChange / token(first.nav)) * 100)}%)`, kind: "text" },
    ],
  };
  const debt: Panel = {
    id: "bad-debt",
    title: "Bad debt, cumulative (USDC, axis from 0)",
    yLabel: "USDC",
    zero: true,
    yMin: 0,
    ...(maxDebt > 0 ? {} : { yMax: 1_000 }),
    yFormat: whole,
    height: 120,
    series: [sampled("bad-debt", "bad debt", "#8e2c2c", (s) => s.badDebt)],
    legend: [
      { label: "bad debt", color: "#8e2c2c", kind: "line" },
      { label: `${usd(last.badDebt)} in all`, kind: "text" },
    ],
  };
  return renderChart({
    title: "Tidemark demo: crash path, liquidations, insurance fund, pool NAV and bad debt",
    subtitle: `${events.length} liquidations by the keeper (${events.filter((e) => e.full).length} full, ${events.filter((e) => !e.full).length} partial) over ${steps} price updates; bad debt ${usd(last.badDebt)} USDC`,
    width: 960,
    marginLeft: 100,
    xLabel: "price update (step)",
    xMin: 0,
    xMax: steps,
    xTicks: Array.from({ length: steps + 1 }, (_, i) => i),
    panels: [pricePanel(markets[0]), pricePanel(markets[1]), insurance, nav, debt],
    note: [
      "Prices: the mock Chainlink feeds, updated once per step and held until the next. Each mark is one liquidation, at the price it executed at;",
      "the marks of one step sit side by side just right of the update (full ones first). Fund, NAV and bad debt: read once the keeper is done with each step;",
      "bad debt from the ShortfallCovered events, without the minimum keeper rewards topped up. Each of the lower panels has its own scale.",
    ],
  });
}
