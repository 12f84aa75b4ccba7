/**
 * Plain SVG charts, no dependencies: one or more panels stacked over a shared x axis, each with its own y axis, grid,
 * series (line, step line, dots) and legend. Used by the demo's crash chart and the crash-scenario benchmarks.
 */

export type Point = readonly [x: number, y: number];

export type Series = {
  name: string;
  color: string;
  points: readonly Point[];
  /** "line" joins the points, "step" holds each value until the next x, "dots" draws a circle per point. */
  kind?: "line" | "step" | "dots";
  /** Dashed line. */
  dash?: boolean;
  /** Dots: white fill with a coloured outline. */
  hollow?: boolean;
  /** Line width (default 2) or dot radius (default 3). */
  size?: number;
  /** Dots: a pixel offset below the point, per point (e.g. to stack several dots at one x). */
  offsetPx?: (index: number) => number;
  /** Dots: a tooltip per point. */
  label?: (index: number) => string;
  /** Leave out of the automatic legend. */
  noLegend?: boolean;
};

export type LegendEntry = { label: string; color?: string; kind: "line" | "dash" | "dot" | "hollow" | "text" };

export type Panel = {
  title?: string;
  /** Label of the y axis (units). */
  yLabel: string;
  series: readonly Series[];
  /** Forced bounds; otherwise from the data (with 0 included when `zero`). */
  yMin?: number;
  yMax?: number;
  /** Include 0 in the y range. Default false. */
  zero?: boolean;
  /** Explicit y ticks (otherwise about 5 "nice" ticks). */
  yTicks?: readonly number[];
  yFormat?: (v: number) => string;
  /** Plot height in pixels (default 170). */
  height?: number;
  /** Replaces the legend derived from the series. */
  legend?: readonly LegendEntry[];
};

export type Chart = {
  title: string;
  subtitle?: string;
  /** Total width in pixels (default 900). */
  width?: number;
  xLabel: string;
  xMin?: number;
  xMax?: number;
  xTicks?: readonly number[];
  xFormat?: (v: number) => string;
  /** Vertical marker lines across every panel (e.g. oracle updates). */
  markers?: readonly { x: number; label?: string; color?: string }[];
  panels: readonly Panel[];
  /** Lines of small text under the chart. */
  note?: string | readonly string[];
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

/** Compact number: 1.2k, 3.4M, 0.05. */
export function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${f1(v / 1e9)}B`;
  if (a >= 1e6) return `${f1(v / 1e6)}M`;
  if (a >= 1e4) return `${f1(v / 1e3)}k`;
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

export function renderChart(c: Chart): string {
  const W = c.width ?? 900;
  const m = { l: 78, r: 200, t: c.subtitle ? 76 : 48, gap: 44, b: 48 };
  const notes = c.note === undefined ? [] : typeof c.note === "string" ? [c.note] : c.note;
  const plotW = W - m.l - m.r;
  const all = c.panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x)));
  const xMin = c.xMin ?? (all.length ? Math.min(...all) : 0);
  const xMax = c.xMax ?? (all.length ? Math.max(...all) : 1);
  const xSpan = xMax > xMin ? xMax - xMin : 1;
  const X = (x: number) => m.l + ((x - xMin) / xSpan) * plotW;
  const xTicks = c.xTicks ?? niceTicks(xMin, xMax, 10).filter((t) => Number.isInteger(t) || xSpan < 10);
  const xFmt = c.xFormat ?? compact;

  const out: string[] = [];
  let top = m.t;
  for (const p of c.panels) {
    const h = p.height ?? 170;
    const ys = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => Number.isFinite(y));
    let lo = p.yMin ?? (ys.length ? Math.min(...ys) : 0);
    let hi = p.yMax ?? (ys.length ? Math.max(...ys) : 1);
    if (p.zero) {
      lo = Math.min(lo, 0);
      hi = Math.max(hi, 0);
    }
    if (!(hi > lo)) {
      const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
      lo -= pad;
      hi += pad;
    }
    let yTicks: number[] = [...(p.yTicks ?? niceTicks(lo, hi, 4))];
    if (p.yTicks === undefined && yTicks.length > 1) {
      // Extend the range to whole ticks where it is not forced.
      const step = yTicks[1] - yTicks[0];
      if (p.yMin === undefined && lo < yTicks[0] - step * 1e-9) lo = yTicks[0] - step;
      if (p.yMax === undefined && hi > yTicks[yTicks.length - 1] + step * 1e-9) hi = yTicks[yTicks.length - 1] + step;
      yTicks = [];
      for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) yTicks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
    }
    const Y = (y: number) => top + h - ((y - lo) / (hi - lo)) * h;
    const yFmt = p.yFormat ?? compact;

    if (p.title) out.push(`<text x="${m.l}" y="${top - 8}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<rect x="${m.l}" y="${top}" width="${plotW}" height="${h}" fill="none" stroke="#bbb"/>`);
    for (const t of yTicks) {
      if (t < lo - 1e-9 || t > hi + 1e-9) continue;
      out.push(
        `<line x1="${m.l}" x2="${m.l + plotW}" y1="${f1(Y(t))}" y2="${f1(Y(t))}" stroke="${t === 0 ? "#999" : "#e4e4e4"}"/>` +
          `<text x="${m.l - 6}" y="${f1(Y(t) + 4)}" text-anchor="end" font-size="11">${esc(yFmt(t))}</text>`,
      );
    }
    for (const t of xTicks) {
      if (t < xMin || t > xMax) continue;
      out.push(`<line x1="${f1(X(t))}" x2="${f1(X(t))}" y1="${top}" y2="${top + h}" stroke="#f0f0f0"/>`);
    }
    for (const mk of c.markers ?? []) {
      out.push(`<line x1="${f1(X(mk.x))}" x2="${f1(X(mk.x))}" y1="${top}" y2="${top + h}" stroke="${mk.color ?? "#c33"}" stroke-opacity="0.35" stroke-dasharray="3 3"/>`);
    }
    out.push(
      `<text x="${m.l - 56}" y="${f1(top + h / 2)}" font-size="11" text-anchor="middle" transform="rotate(-90 ${m.l - 56} ${f1(top + h / 2)})">${esc(p.yLabel)}</text>`,
    );

    for (const s of p.series) {
      const kind = s.kind ?? "line";
      if (kind === "dots") {
        s.points.forEach(([x, y], i) => {
          const cy = Y(y) + (s.offsetPx?.(i) ?? 0);
          const tip = s.label ? `<title>${esc(s.label(i))}</title>` : "";
          out.push(`<circle cx="${f1(X(x))}" cy="${f1(cy)}" r="${s.size ?? 3}" fill="${s.hollow ? "white" : s.color}" stroke="${s.color}">${tip}</circle>`);
        });
        continue;
      }
      if (s.points.length === 0) continue;
      const pts: string[] = [];
      s.points.forEach(([x, y], i) => {
        if (kind === "step" && i > 0) pts.push(`${f1(X(x))},${f1(Y(s.points[i - 1][1]))}`);
        pts.push(`${f1(X(x))},${f1(Y(y))}`);
      });
      out.push(
        `<polyline points="${pts.join(" ")}" fill="none" stroke="${s.color}" stroke-width="${s.size ?? 2}"${s.dash ? ` stroke-dasharray="6 4"` : ""}><title>${esc(s.name)}</title></polyline>`,
      );
    }

    const legend: LegendEntry[] = p.legend
      ? [...p.legend]
      : p.series.filter((s) => !s.noLegend).map((s) => ({ label: s.name, color: s.color, kind: s.kind === "dots" ? (s.hollow ? "hollow" : "dot") : s.dash ? "dash" : "line" }));
    const lx = m.l + plotW + 16;
    legend.forEach((e, i) => {
      const ly = top + 8 + i * 20;
      const color = e.color ?? "#555";
      if (e.kind === "line") out.push(`<rect x="${lx}" y="${ly - 2}" width="14" height="3" fill="${color}"/>`);
      if (e.kind === "dash") out.push(`<line x1="${lx}" x2="${lx + 14}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2" stroke-dasharray="4 2"/>`);
      if (e.kind === "dot" || e.kind === "hollow") out.push(`<circle cx="${lx + 7}" cy="${ly}" r="3" fill="${e.kind === "dot" ? color : "white"}" stroke="${color}"/>`);
      out.push(`<text x="${e.kind === "text" ? lx : lx + 20}" y="${ly + 4}" font-size="12">${esc(e.label)}</text>`);
    });
    top += h + m.gap;
  }
  const bottom = top - m.gap;
  for (const t of xTicks) {
    if (t < xMin || t > xMax) continue;
    out.push(`<text x="${f1(X(t))}" y="${bottom + 16}" text-anchor="middle" font-size="11">${esc(xFmt(t))}</text>`);
  }
  out.push(`<text x="${m.l + plotW / 2}" y="${bottom + 34}" text-anchor="middle" font-size="12">${esc(c.xLabel)}</text>`);
  const H = bottom + m.b + notes.length * 15;
  const head = [
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
    c.subtitle ? `<text x="${m.l}" y="40" font-size="12" fill="#444">${esc(c.subtitle)}</text>` : "",
  ];
  const note = notes.map((n, i) => `<text x="${m.l}" y="${bottom + m.b + 4 + i * 15}" font-size="11" fill="#555">${esc(n)}</text>`).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${head.join("\n")}
${out.join("\n")}
${note}
</svg>
`;
}
