/**
 * Plain SVG charts, no dependencies: one or more panels stacked over a shared x axis, each with its own y axis, grid,
 * series (line, step line, dots) and legend. Used by the demo's crash chart and the crash-scenario benchmarks.
 *
 * The output is annotated for tools and tests: each panel is a `<g class="panel" data-panel="…">` holding its plot
 * area (`<rect class="plot">`), y tick labels (`<text class="y-tick" data-value="…">`), series (`<g class="series"
 * data-series="…" data-kind="…" data-points="…">`) and legend (`<g class="legend">`); x tick labels are
 * `<text class="x-tick" data-value="…">`.
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
  /** Dots, and the point marks of `showPoints`: a tooltip per point. */
  label?: (index: number) => string;
  /** Line and step: also mark each data point with a small dot of this radius (`true`: 2), e.g. to show the samples. */
  showPoints?: boolean | number;
  /** Identifies the series in the output (`data-series`); default the name. */
  id?: string;
  /** Leave out of the automatic legend. */
  noLegend?: boolean;
};

export type LegendEntry = { label: string; color?: string; kind: "line" | "dash" | "dot" | "hollow" | "text" };

/**
 * Dots that share an x value drawn side by side instead of on top of each other: over all dot series of a panel, in
 * series order then point order, `gap` pixels apart (default: the dot's diameter plus 2), either centred on the x or
 * starting just right of it (`align: "start"`, e.g. on a step line that holds its value to the right). Where the
 * group would be wider than `maxSpan` (in x units), the gap shrinks to fit (the dots overlap but keep distinct x);
 * a group is shifted to stay inside the plot. The y of each dot is unchanged.
 */
export type Spread = { gap?: number; align?: "center" | "start"; maxSpan?: number };

export type Panel = {
  title?: string;
  /** Identifies the panel in the output (`data-panel`); default the title, else its index. */
  id?: string;
  /** Spread the dots of coincident x values horizontally (see `Spread`). */
  spread?: Spread;
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
  /** Left margin in pixels, room for the y tick labels and the y axis label (default 78). */
  marginLeft?: number;
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

/**
 * Horizontal pixel offsets, per series and point, that lay the dots of coincident x values side by side (see
 * `Spread`); 0 for the points of series that are not dots.
 */
export function spreadOffsets(series: readonly Series[], spread: Spread, X: (x: number) => number, left: number, right: number): number[][] {
  const offsets = series.map((s) => s.points.map(() => 0));
  const groups = new Map<number, { si: number; i: number }[]>();
  series.forEach((s, si) => {
    if ((s.kind ?? "line") !== "dots") return;
    s.points.forEach(([x], i) => {
      if (!Number.isFinite(x)) return;
      const g = groups.get(x) ?? [];
      g.push({ si, i });
      groups.set(x, g);
    });
  });
  for (const [x, members] of groups) {
    const n = members.length;
    const r = Math.max(...members.map(({ si }) => series[si].size ?? 3));
    let gap = spread.gap ?? 2 * r + 2;
    if (spread.maxSpan !== undefined && n > 1) {
      // Room for the centres: the whole group, dots included, within maxSpan of the x (start) or around it (center).
      const room = Math.abs(X(x + spread.maxSpan) - X(x)) - (spread.align === "start" ? 2 * r + 1 : 2 * r);
      if ((n - 1) * gap > room) gap = Math.max(room / (n - 1), 0);
    }
    const first = spread.align === "start" ? r + 1 : (-(n - 1) * gap) / 2;
    // Shift the group to stay inside [left + r, right - r] where it fits.
    const lo = X(x) + first;
    const hi = lo + (n - 1) * gap;
    const shift = hi > right - r ? right - r - hi : lo < left + r ? left + r - lo : 0;
    members.forEach(({ si, i }, k) => (offsets[si][i] = first + k * gap + shift));
  }
  return offsets;
}

export function renderChart(c: Chart): string {
  const W = c.width ?? 900;
  const m = { l: c.marginLeft ?? 78, r: 200, t: c.subtitle ? 76 : 48, gap: 44, b: 48 };
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
  for (const [panelIndex, p] of c.panels.entries()) {
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

    out.push(`<g class="panel" data-panel="${esc(p.id ?? p.title ?? String(panelIndex))}">`);
    if (p.title) out.push(`<text x="${m.l}" y="${top - 8}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<rect class="plot" x="${m.l}" y="${top}" width="${plotW}" height="${h}" fill="none" stroke="#bbb"/>`);
    for (const t of yTicks) {
      if (t < lo - 1e-9 || t > hi + 1e-9) continue;
      out.push(
        `<line x1="${m.l}" x2="${m.l + plotW}" y1="${f1(Y(t))}" y2="${f1(Y(t))}" stroke="${t === 0 ? "#999" : "#e4e4e4"}"/>` +
          `<text class="y-tick" data-value="${t}" x="${m.l - 6}" y="${f1(Y(t) + 4)}" text-anchor="end" font-size="11">${esc(yFmt(t))}</text>`,
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
      `<text x="22" y="${f1(top + h / 2)}" font-size="11" text-anchor="middle" transform="rotate(-90 22 ${f1(top + h / 2)})">${esc(p.yLabel)}</text>`,
    );

    const dx = p.spread ? spreadOffsets(p.series, p.spread, X, m.l, m.l + plotW) : undefined;
    for (const [si, s] of p.series.entries()) {
      const kind = s.kind ?? "line";
      out.push(`<g class="series" data-series="${esc(s.id ?? s.name)}" data-kind="${kind}" data-points="${s.points.length}">`);
      if (kind === "dots") {
        s.points.forEach(([x, y], i) => {
          const cy = Y(y) + (s.offsetPx?.(i) ?? 0);
          const tip = s.label ? `<title>${esc(s.label(i))}</title>` : "";
          out.push(`<circle cx="${f1(X(x) + (dx?.[si][i] ?? 0))}" cy="${f1(cy)}" r="${s.size ?? 3}" fill="${s.hollow ? "white" : s.color}" stroke="${s.color}">${tip}</circle>`);
        });
        out.push("</g>");
        continue;
      }
      if (s.points.length > 0) {
        const pts: string[] = [];
        s.points.forEach(([x, y], i) => {
          if (kind === "step" && i > 0) pts.push(`${f1(X(x))},${f1(Y(s.points[i - 1][1]))}`);
          pts.push(`${f1(X(x))},${f1(Y(y))}`);
        });
        out.push(
          `<polyline points="${pts.join(" ")}" fill="none" stroke="${s.color}" stroke-width="${s.size ?? 2}"${s.dash ? ` stroke-dasharray="6 4"` : ""}><title>${esc(s.name)}</title></polyline>`,
        );
      }
      if (s.showPoints) {
        const r = s.showPoints === true ? 2 : s.showPoints;
        s.points.forEach(([x, y], i) => {
          const tip = `<title>${esc(s.label ? s.label(i) : `${s.name}: ${y}`)}</title>`;
          out.push(`<circle class="point" cx="${f1(X(x))}" cy="${f1(Y(y))}" r="${r}" fill="${s.color}" stroke="${s.color}">${tip}</circle>`);
        });
      }
      out.push("</g>");
    }

    const legend: LegendEntry[] = p.legend
      ? [...p.legend]
      : p.series.filter((s) => !s.noLegend).map((s) => ({ label: s.name, color: s.color, kind: s.kind === "dots" ? (s.hollow ? "hollow" : "dot") : s.dash ? "dash" : "line" }));
    const lx = m.l + plotW + 16;
    out.push(`<g class="legend">`);
    legend.forEach((e, i) => {
      const ly = top + 8 + i * 20;
      const color = e.color ?? "#555";
      if (e.kind === "line") out.push(`<rect x="${lx}" y="${ly - 2}" width="14" height="3" fill="${color}"/>`);
      if (e.kind === "dash") out.push(`<line x1="${lx}" x2="${lx + 14}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2" stroke-dasharray="4 2"/>`);
      if (e.kind === "dot" || e.kind === "hollow") out.push(`<circle cx="${lx + 7}" cy="${ly}" r="3" fill="${e.kind === "dot" ? color : "white"}" stroke="${color}"/>`);
      out.push(`<text x="${e.kind === "text" ? lx : lx + 20}" y="${ly + 4}" font-size="12">${esc(e.label)}</text>`);
    });
    out.push("</g>", "</g>");
    top += h + m.gap;
  }
  const bottom = top - m.gap;
  for (const t of xTicks) {
    if (t < xMin || t > xMax) continue;
    out.push(`<text class="x-tick" data-value="${t}" x="${f1(X(t))}" y="${bottom + 16}" text-anchor="middle" font-size="11">${esc(xFmt(t))}</text>`);
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
