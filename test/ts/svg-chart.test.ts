/** scripts/lib/svg-chart.ts: ticks, the annotated output, dots of one x spread side by side, sample marks. */
import { expect } from "chai";

import { type Chart, type Series, niceTicks, renderChart, spreadOffsets } from "../../scripts/lib/svg-chart.ts";

/** Well-formed XML as far as the charts go: every tag closed in order, attributes quoted, no stray `<` or `&`. */
function expectWellFormed(svg: string) {
  const stack: string[] = [];
  const text = svg.replace(/<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g, (_, close: string, name: string, _attrs: string, selfClose: string) => {
    if (close) expect(stack.pop(), `</${name}>`).to.equal(name);
    else if (!selfClose) stack.push(name);
    return "";
  });
  expect(stack, "unclosed tags").to.deep.equal([]);
  expect(text, "text outside tags").to.not.match(/[<>]/);
  expect(text.replace(/&(amp|lt|gt|quot);/g, ""), "unescaped &").to.not.include("&");
}

type Circle = { cx: number; cy: number; r: number; cls?: string; title?: string };
/** The circles outside the legends. */
const circles = (svg: string): Circle[] =>
  [...svg.replace(/<g class="legend">[\s\S]*?<\/g>/g, "").matchAll(/<circle (?:class="(\w+)" )?cx="([-\d.]+)" cy="([-\d.]+)" r="([\d.]+)"[^>]*?(?:\/>|>(?:<title>([^<]*)<\/title>)?<\/circle>)/g)].map((m) => ({
    cls: m[1],
    cx: Number(m[2]),
    cy: Number(m[3]),
    r: Number(m[4]),
    title: m[5],
  }));
/** The inner SVG of each series, by `data-series`. */
const seriesOf = (svg: string) =>
  new Map([...svg.matchAll(/<g class="series" data-series="([^"]+)" data-kind="(\w+)" data-points="(\d+)">([\s\S]*?)<\/g>/g)].map((m) => [m[1], { kind: m[2], points: Number(m[3]), body: m[4] }]));
const xOf = (svg: string) => new Map([...svg.matchAll(/<text class="x-tick" data-value="([-\d.e]+)" x="([-\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]));
const plots = (svg: string) => [...svg.matchAll(/<rect class="plot" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g)].map((m) => m.slice(1).map(Number));

const dots = (name: string, points: [number, number][], extra: Partial<Series> = {}): Series => ({ name, color: "#c00", kind: "dots", points, ...extra });
const chart = (panels: Chart["panels"], extra: Partial<Chart> = {}): string => renderChart({ title: "t", xLabel: "x", xMin: 0, xMax: 10, xTicks: [0, 1, 2, 5, 9, 10], panels, ...extra });

describe("svg-chart", function () {
  it("niceTicks: round steps covering the range", function () {
    expect(niceTicks(0, 10, 5)).to.deep.equal([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(2250, 3000, 4)).to.deep.equal([2400, 2600, 2800, 3000]);
    expect(niceTicks(45_000, 60_000, 4)).to.deep.equal([45_000, 50_000, 55_000, 60_000]);
    expect(niceTicks(5, 5)).to.deep.equal([5]);
  });

  it("annotates panels, plots, ticks and series, and stays well-formed", function () {
    const svg = chart(
      [
        { id: "a", title: "A & B <1>", yLabel: "USD", yFormat: (v) => `$${v.toLocaleString("en-US")}`, series: [{ name: "p", color: "#00f", points: [[0, 2000], [10, 3000]] }] },
        { title: "second", yLabel: "n", zero: true, series: [{ name: "q \"quoted\"", id: "q", color: "#0a0", kind: "step", points: [[0, 1], [5, 3], [10, 2]] }, dots("d", [[2, 1]])] },
        { yLabel: "none", series: [] },
      ],
      { note: ["x < y & z"], subtitle: "s" },
    );
    expectWellFormed(svg);
    expect([...svg.matchAll(/<g class="panel" data-panel="([^"]+)">/g)].map((m) => m[1])).to.deep.equal(["a", "second", "2"]);
    expect(plots(svg)).to.have.length(3);
    const ticks = [...svg.matchAll(/<text class="y-tick" data-value="([-\d.e]+)"[^>]*>([^<]*)<\/text>/g)].map((m) => [Number(m[1]), m[2]] as const);
    expect(ticks.filter(([v]) => v >= 2000 && v <= 3000).map(([, l]) => l)).to.include.members(["$2,000", "$2,500", "$3,000"]);
    const s = seriesOf(svg);
    expect(s.get("p")).to.include({ kind: "line", points: 2 });
    expect(s.get("q")).to.include({ kind: "step", points: 3 });
    expect(s.get("d")).to.include({ kind: "dots", points: 1 });
    expect([...xOf(svg).keys()]).to.deep.equal([0, 1, 2, 5, 9, 10]);
  });

  it("without spreading, dots of one x coincide (as before)", function () {
    const svg = chart([{ yLabel: "y", series: [dots("a", [[2, 5], [2, 5]]), dots("b", [[2, 5]])] }]);
    const c = circles(svg);
    expect(c).to.have.length(3);
    expect(new Set(c.map((d) => d.cx)).size).to.equal(1);
  });

  it("spreads dots of one x side by side across the dot series of a panel, centred, y unchanged", function () {
    const svg = chart([
      {
        yLabel: "y",
        spread: { gap: 10 },
        series: [{ name: "line", color: "#00f", points: [[0, 0], [10, 10]] }, dots("full", [[2, 5], [2, 5], [5, 1]]), dots("partial", [[2, 5]], { hollow: true })],
      },
    ]);
    expectWellFormed(svg);
    const c = circles(svg);
    expect(c).to.have.length(4);
    const x2 = xOf(svg).get(2)!;
    const at2 = c.filter((d) => Math.abs(d.cx - x2) < 30);
    expect(at2.map((d) => Math.round((d.cx - x2) * 10) / 10), "full, full, partial").to.deep.equal([-10, 0, 10]);
    expect(new Set(at2.map((d) => d.cy)).size, "same y").to.equal(1);
    const alone = c.filter((d) => !at2.includes(d));
    expect(alone.map((d) => d.cx), "a lone dot stays on its x").to.deep.equal([xOf(svg).get(5)]);
  });

  it("align start: the group begins just right of the x; maxSpan shrinks the gap; a group at the edge stays inside the plot", function () {
    const [[left, , width]] = plots(chart([{ yLabel: "y", series: [] }]));
    const X = (x: number) => left + (x / 10) * width;
    const series = [dots("a", [[1, 0], [1, 0], [1, 0], [10, 0], [10, 0]]), dots("b", [[1, 0]], { size: 4 })];
    const off = spreadOffsets(series, { align: "start", gap: 8 }, X, left, left + width);
    expect(off[0].slice(0, 3).concat(off[1])).to.deep.equal([5, 13, 21, 29]); // r = 4 (the group's largest) + 1
    // Right edge: shifted left so the last dot stays inside (centre at most right - r).
    expect(Math.max(...off[0].slice(3).map((o) => X(10) + o))).to.be.at.most(left + width - 3 + 1e-9);
    expect(off[0][3]).to.not.equal(off[0][4]);

    const narrow = spreadOffsets(series, { align: "start", gap: 8, maxSpan: 0.2 }, X, left, left + width);
    const xs = narrow[0].slice(0, 3).concat(narrow[1]).map((o) => X(1) + o);
    expect(new Set(xs).size, "still distinct").to.equal(4);
    expect(Math.max(...xs) + 4, "within maxSpan").to.be.at.most(X(1.2) + 1e-9);
    expect(Math.min(...xs)).to.be.greaterThan(X(1));
  });

  it("showPoints marks each sample of a line or step series, with its tooltip", function () {
    const pts: [number, number][] = [[0, 1], [1, 2], [2, 2], [5, 4]];
    const svg = chart([{ yLabel: "y", series: [{ name: "fund", color: "#0a0", kind: "step", showPoints: 2.5, points: pts, label: (i) => `step ${pts[i][0]}: ${pts[i][1]}` }] }]);
    expectWellFormed(svg);
    const marks = circles(seriesOf(svg).get("fund")!.body);
    expect(marks.map((m) => [m.cls, m.r, m.title])).to.deep.equal(pts.map(([x, y]) => ["point", 2.5, `step ${x}: ${y}`]));
    expect(marks.map((m) => m.cx)).to.deep.equal([0, 1, 2, 5].map((x) => xOf(svg).get(x)));
  });

  it("marginLeft moves the plots, not the y axis label", function () {
    const a = chart([{ yLabel: "units", series: [] }]);
    const b = chart([{ yLabel: "units", series: [] }], { marginLeft: 100 });
    expect(plots(a)[0][0]).to.equal(78);
    expect(plots(b)[0][0]).to.equal(100);
    for (const svg of [a, b]) expect(svg).to.match(/<text x="22" [^>]*rotate\(-90 22 [^>]*>units<\/text>/);
  });
});
