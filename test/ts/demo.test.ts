/** The one-command demo (`npm run demo`) as a newcomer runs it: exit 0, the report, the chart. */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { expect } from "chai";

import { near } from "./helpers/near.js";
import { ROOT } from "./helpers/node.js";

const num = (s: string) => Number(s.replace(/[,$]/g, ""));

/** The chart's panels as scripts/lib/svg-chart.ts annotates them, with a map from pixels back to values. */
function panelsOf(svg: string) {
  const out = new Map<string, ReturnType<typeof panel>>();
  for (const m of svg.matchAll(/<g class="panel" data-panel="([^"]+)">([\s\S]*?)<g class="legend">/g)) out.set(m[1], panel(m[2]));
  return out;
}

function panel(body: string) {
  const [, px, py, pw, ph] = /<rect class="plot" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(body)!.map(Number);
  const title = /<text [^>]*font-weight="bold">([^<]*)<\/text>/.exec(body)?.[1] ?? "";
  const yLabel = /<text [^>]*transform="rotate\(-90[^>]*>([^<]*)<\/text>/.exec(body)?.[1] ?? "";
  // The label sits 4 px below its grid line.
  const ticks = [...body.matchAll(/<text class="y-tick" data-value="([-\d.e]+)" x="[\d.]+" y="([-\d.]+)"[^>]*>([^<]*)<\/text>/g)].map((t) => ({
    value: Number(t[1]),
    y: Number(t[2]) - 4,
    label: t[3],
  }));
  expect(ticks.length, `y ticks of ${title}`).to.be.at.least(3);
  const [a, b] = [ticks[0], ticks[ticks.length - 1]];
  const valueAt = (y: number) => a.value + ((y - a.y) * (b.value - a.value)) / (b.y - a.y);
  const series = new Map(
    [...body.matchAll(/<g class="series" data-series="([^"]+)" data-kind="(\w+)" data-points="(\d+)">([\s\S]*?)<\/g>/g)].map((s) => {
      const circles = [...s[4].matchAll(/<circle (?:class="\w+" )?cx="([-\d.]+)" cy="([-\d.]+)"[^>]*><title>([^<]*)<\/title><\/circle>/g)].map((c) => ({
        cx: Number(c[1]),
        cy: Number(c[2]),
        title: c[3],
      }));
      const line = /<polyline points="([^"]+)"/.exec(s[4])?.[1].split(" ").map((p) => p.split(",").map(Number) as [number, number]) ?? [];
      return [s[1], { kind: s[2], points: Number(s[3]), circles, line }] as const;
    }),
  );
  return { plot: { x: px, y: py, width: pw, height: ph }, title, yLabel, ticks, valueAt, series };
}

describe("npm run demo", function () {
  this.timeout(180_000);

  it("deploys, opens about 50 positions, crashes, and the keeper liquidates everything due; it prints the report and writes the chart", async function () {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [join(ROOT, "node_modules/hardhat/dist/src/cli.js"), "run", "scripts/demo.ts"],
        { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(run.code, run.stderr).to.equal(0);
    const out = run.stdout;
    const opened = Number(/opened (\d+) positions through the SDK/.exec(out)?.[1]);
    expect(opened).to.be.within(40, 60);
    for (const section of ["Positions before the crash", "Crash path", "Liquidations (reward", "Positions after the crash", "Summary:"]) {
      expect(out).to.include(section);
    }
    const [, total, full, partial] = /liquidations\s+(\d+) \((\d+) full, (\d+) partial\), all by the keeper/.exec(out) ?? [];
    expect(Number(total)).to.be.greaterThan(10);
    expect(Number(full) + Number(partial)).to.equal(Number(total));
    expect(Number(partial), "the path is fine enough for partial liquidations").to.be.greaterThan(0);
    expect(out).to.match(/still liquidatable\s+0\n/);
    const insurance = /insurance fund\s+([\d,.]+) -> ([\d,.]+) USDC/.exec(out)!;
    const nav = /pool NAV\s+([\d,.]+) -> ([\d,.]+) USDC/.exec(out)!;
    const badDebt = /bad debt\s+([\d,.]+) USDC/.exec(out)!;
    expect(insurance && nav && badDebt, "summary lines").to.not.equal(null);

    // What the run printed: the price at each step and every liquidation.
    const path = [...out.matchAll(/^ {2}step (\d+): ETH\s+([\d,]+)\s+BTC\s+([\d,]+)/gm)].map((m) => ({ step: Number(m[1]), eth: num(m[2]), btc: num(m[3]) }));
    expect(path.map((p) => p.step)).to.deep.equal(path.map((_, i) => i));
    expect(path.length).to.be.greaterThan(10);
    const table = [...out.matchAll(/^ {2}(\d+)\s+(0x[0-9a-fA-F]{8})\s+(ETH-USD|BTC-USD)\s+(full|partial)\s+[\d.]+\s+([\d,.]+)\s/gm)].map((m) => ({
      step: Number(m[1]),
      account: m[2],
      symbol: m[3],
      full: m[4] === "full",
      price: num(m[5]),
    }));
    expect(table).to.have.length(Number(total));

    const chartPath = /Chart of the price path with the liquidations marked: (.+\.svg)/.exec(out)?.[1];
    const svg = readFileSync(chartPath!, "utf8");
    expect(svg.startsWith("<svg")).to.equal(true);
    expect(svg.trimEnd().endsWith("</svg>")).to.equal(true);
    expect(svg.match(/<g[ >]/g)?.length, "balanced groups").to.equal(svg.match(/<\/g>/g)?.length);
    const xTick = new Map([...svg.matchAll(/<text class="x-tick" data-value="(\d+)" x="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]));
    expect([...xTick.keys()]).to.deep.equal(path.map((p) => p.step));
    const panels = panelsOf(svg);
    expect([...panels.keys()]).to.deep.equal(["eth-price", "btc-price", "insurance", "pool-nav", "bad-debt"]);

    // Two price panels, each on an absolute USD axis over the run's price range, the marks of its own liquidations.
    let marks = 0;
    for (const [key, symbol] of [["eth", "ETH-USD"], ["btc", "BTC-USD"]] as const) {
      const p = panels.get(`${key}-price`)!;
      expect(p.title).to.include(symbol).and.include("USD");
      expect(p.yLabel).to.match(/USD/);
      const prices = path.map((s) => s[key]);
      const [lo, hi] = [Math.min(...prices), Math.max(...prices)];
      const step = p.ticks[1].value - p.ticks[0].value;
      for (const t of p.ticks) {
        expect(t.label, "a dollar figure, not a percentage").to.match(/^\$\d{1,3}(,\d{3})*$/);
        expect(num(t.label)).to.equal(t.value);
        expect(t.value, `${symbol} tick within the run's prices`).to.be.within(lo - step, hi + step);
      }
      expect(p.ticks[0].value).to.be.at.most(lo);
      expect(p.ticks[p.ticks.length - 1].value).to.be.at.least(hi);
      const range = hi - lo;
      // The price line: a held value per step, at the printed price.
      const line = p.series.get(`${key}-price`)!;
      expect(line.kind).to.equal("step");
      expect(line.points).to.equal(path.length);
      for (const s of path) {
        const vertex = line.line.find(([x, y]) => Math.abs(x - xTick.get(s.step)!) < 0.2 && Math.abs(p.valueAt(y) - s[key]) < range * 0.01);
        expect(vertex, `${symbol} at step ${s.step}`).to.not.equal(undefined);
      }
      // One mark per liquidation, full and partial apart, at its step and price; the marks of one step side by side.
      for (const kind of ["full", "partial"] as const) {
        const dots = p.series.get(`${key}-liquidations-${kind}`)!;
        const mine = table.filter((x) => x.symbol === symbol && x.full === (kind === "full"));
        expect(dots.kind).to.equal("dots");
        expect(dots.circles, `${symbol} ${kind}`).to.have.length(mine.length);
        expect(dots.points).to.equal(mine.length);
        marks += dots.circles.length;
        for (const c of dots.circles) {
          const [, s, k, account, at] = /^step (\d+): (full|partial) liquidation of (0x[0-9a-fA-F]+) at ([\d,.]+) USD/.exec(c.title)!;
          expect(k).to.equal(kind);
          const row = mine.find((x) => x.step === Number(s) && account.startsWith(x.account));
          expect(row, c.title).to.not.equal(undefined);
          near(num(at), row!.price, 0.01, c.title);
          near(p.valueAt(c.cy), row!.price, range * 0.01, `y of ${c.title}`);
          expect(c.cx, `x of ${c.title}: right of its update`).to.be.greaterThan(xTick.get(row!.step)!);
          expect(c.cx, `x of ${c.title}: before the next update`).to.be.lessThan(xTick.get(row!.step + 1) ?? p.plot.x + p.plot.width);
        }
      }
      const all = [...p.series.get(`${key}-liquidations-full`)!.circles, ...p.series.get(`${key}-liquidations-partial`)!.circles];
      for (const s of new Set(table.filter((x) => x.symbol === symbol).map((x) => x.step))) {
        const here = all.filter((c) => c.title.startsWith(`step ${s}:`)).map((c) => c.cx).sort((x, y) => x - y);
        expect(here).to.have.length(table.filter((x) => x.symbol === symbol && x.step === s).length);
        for (let i = 1; i < here.length; i++) expect(here[i] - here[i - 1], `${symbol} marks at step ${s} apart`).to.be.at.least(2);
      }
    }
    expect(marks, "one mark per liquidation").to.equal(Number(total));
    expect(table.filter((x) => x.symbol === "ETH-USD").length).to.be.greaterThan(0);
    expect(table.filter((x) => x.symbol === "BTC-USD").length).to.be.greaterThan(0);

    // Insurance fund, pool NAV and bad debt: a panel and scale each, sampled at every step, in USDC.
    const expected = {
      insurance: [num(insurance[1]), num(insurance[2])],
      "pool-nav": [num(nav[1]), num(nav[2])],
      "bad-debt": [0, num(badDebt[1])],
    } as const;
    for (const [id, [first, last]] of Object.entries(expected)) {
      const p = panels.get(id)!;
      expect(p.yLabel).to.equal("USDC");
      expect(p.title).to.include("USDC");
      for (const t of p.ticks) expect(t.label, `${id} tick`).to.match(/^\d{1,3}(,\d{3})*$/);
      if (p.ticks[0].value > 0) expect(p.title, "an axis that does not start at 0 says so").to.match(/not from 0/i);
      else expect(p.title).to.match(/from 0/);
      const s = p.series.get(id)!;
      expect(s.points, `${id} sampled at every step`).to.equal(path.length);
      expect(s.circles.map((c) => Number(/^step (\d+):/.exec(c.title)?.[1]))).to.deep.equal(path.map((x) => x.step));
      const values = s.circles.map((c) => num(/ ([\d,.]+) USDC$/.exec(c.title)![1]));
      near(values[0], first, 0.01, `${id} at the start`);
      near(values[values.length - 1], last, 0.01, `${id} at the end`);
      const span = Math.max(...values) - Math.min(...values);
      s.circles.forEach((c, i) => near(p.valueAt(c.cy), values[i], Math.max(span, 1) * 0.02, `${id} at step ${i}`));
      // Not a flat line along the bottom: the scale fits the series.
      const ys = s.circles.map((c) => c.cy);
      expect(Math.max(...ys) - Math.min(...ys), `${id} moves visibly`).to.be.at.least(p.plot.height * 0.1);
      expect(Math.min(...ys) - p.plot.y, `${id} reaches the upper part of its panel`).to.be.at.most(p.plot.height * 0.3);
    }
  });
});
