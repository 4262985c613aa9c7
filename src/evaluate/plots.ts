import type { HistogramPlot, PlotData, RocPlot } from './evaluate.ts';

/**
 * Inline SVG plots for the report: no script, no external file, so report.html reads anywhere.
 * Each function returns one <svg> element as a string. Every plot has axis titles (with the
 * field's unit where the data config gives one) and tick values; heatmaps have a colour scale;
 * heavy-tailed fields come on a log axis (HistogramPlot.scale). Coordinates: a plot area of
 * W × H pixels inside margins; text widths are estimated (about 0.6 em a character).
 */

const COLORS = { real: '#555555', synthetic: '#1f77b4', floor: '#ff7f0e', ceiling: '#2ca02c', extra: '#9467bd' };
const PALETTE = [COLORS.synthetic, COLORS.floor, COLORS.ceiling, COLORS.extra, '#d62728', '#8c564b'];
const FONT = 10;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A tick value in its shortest exact form: 0.25, 1500, 2e-4. */
function tickText(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential().replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/** Estimated width in pixels of `s` at `size` px. */
function textWidth(s: string, size = FONT): number {
  return s.length * size * 0.6;
}

/** A label cut to `max` characters, with an ellipsis. */
function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

/** Round numbers covering [lo, hi], about `count` of them, inside the range. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** 1-2-5 ticks per decade inside [lo, hi] (lo > 0), thinned to at most about 7. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const t = Number((m * 10 ** k).toPrecision(12));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) out.push(t);
    }
  }
  if (out.length > 7) return out.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
  return out;
}

function frame(w: number, h: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="${FONT}"><title>${escapeXml(title)}</title><text x="${w / 2}" y="12" text-anchor="middle" font-size="11" font-weight="bold">${escapeXml(title)}</text>${body}</svg>`;
}

function xTitle(x: number, y: number, text: string): string {
  return `<text class="axis-title" x="${x}" y="${y}" text-anchor="middle">${escapeXml(text)}</text>`;
}

function yTitle(x: number, y: number, text: string): string {
  return `<text class="axis-title" x="${x}" y="${y}" text-anchor="middle" transform="rotate(-90 ${x} ${y})">${escapeXml(text)}</text>`;
}

interface LegendItem {
  label: string;
  color: string;
  dash?: string;
  /** a filled swatch instead of a line */
  fill?: boolean;
}

/** Legend items in a row from (x, y), wrapping at `right`; returns the markup and the rows used. */
function legendRows(x: number, y: number, right: number, items: LegendItem[]): { svg: string; rows: number } {
  let cx = x;
  let row = 0;
  let svg = '';
  for (const it of items) {
    const w = 18 + textWidth(it.label) + 10;
    if (cx > x && cx + w > right) {
      cx = x;
      row++;
    }
    const cy = y + row * 13;
    svg += it.fill
      ? `<rect x="${cx}" y="${cy - 4}" width="14" height="8" fill="${it.color}" fill-opacity="0.35" stroke="${it.color}"/>`
      : `<line x1="${cx}" y1="${cy}" x2="${cx + 14}" y2="${cy}" stroke="${it.color}" stroke-width="2"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''}/>`;
    svg += `<text class="legend" x="${cx + 18}" y="${cy + 3}">${escapeXml(it.label)}</text>`;
    cx += w;
  }
  return { svg, rows: items.length ? row + 1 : 0 };
}

interface Series extends LegendItem {
  /** share per bin, [B] */
  values: number[];
}

/**
 * Shares per bin of several series over shared bins (numeric edges, linear or log, or
 * categories). A series with `fill` is drawn as a shaded area under the others, so that lines
 * lying on it stay visible; the others are step outlines.
 */
export function stepHistogramSvg(
  title: string,
  bins: { edges?: number[]; categories?: string[]; scale?: 'linear' | 'log' },
  series: Series[],
  axes: { x: string; y: string },
): string {
  const W = 260;
  const H = 110;
  const B = series[0]!.values.length;
  const ymax = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const yTicks = niceTicks(0, ymax, 3);
  const yTop = Math.max(ymax, yTicks[yTicks.length - 1]!);
  const pct = (v: number) => `${Number((v * 100).toPrecision(3))}%`;
  // rotated 40°, a category label reaches w · cos 40° left of its bar's centre
  const catShown = bins.categories ? categoryLabels(bins.categories) : [];
  const catReach = Math.max(0, ...catShown.map((c, i) => (c === null ? 0 : textWidth(c, 9) * Math.cos((40 * Math.PI) / 180) - (W * (i + 0.5)) / B + 4)));
  const left = Math.max(14 + Math.max(...yTicks.map((t) => textWidth(pct(t)))) + 6, catReach);
  const top = 22;
  const X = (i: number) => left + (W * i) / B;
  const Y = (v: number) => top + H - (H * v) / yTop;
  const base = Y(0);

  let axis = '';
  for (const t of yTicks) {
    axis += `<line x1="${left}" y1="${Y(t).toFixed(1)}" x2="${left + W}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`;
    axis += `<text x="${left - 4}" y="${(Y(t) + 3).toFixed(1)}" text-anchor="end">${pct(t)}</text>`;
  }
  axis += `<line x1="${left}" y1="${base}" x2="${left + W}" y2="${base}" stroke="#000"/><line x1="${left}" y1="${top}" x2="${left}" y2="${base}" stroke="#000"/>`;

  // below the axis: tick labels (horizontal, or rotated category names), the x title, the legend
  let below = 14;
  if (bins.edges) {
    const e = bins.edges;
    const log = bins.scale === 'log' && e[0]! > 0;
    const [a, b] = log ? [Math.log10(e[0]!), Math.log10(e[B]!)] : [e[0]!, e[B]!];
    const pos = (v: number) => left + (W * ((log ? Math.log10(v) : v) - a)) / (b - a);
    let ticks = log ? logTicks(e[0]!, e[B]!) : niceTicks(e[0]!, e[B]!, 4);
    if (ticks.length < 2) ticks = [e[0]!, e[B]!];
    // labels closer than their widths would overlap: keep every other until they fit
    while (ticks.length > 2 && ticks.some((t, i) => i > 0 && pos(t) - pos(ticks[i - 1]!) < (textWidth(tickText(t)) + textWidth(tickText(ticks[i - 1]!))) / 2 + 4)) {
      ticks = ticks.filter((_, i) => i % 2 === 0);
    }
    for (const t of ticks) {
      const x = pos(t).toFixed(1);
      axis += `<line x1="${x}" y1="${base}" x2="${x}" y2="${base + 3}" stroke="#000"/><text x="${x}" y="${base + 13}" text-anchor="middle">${escapeXml(tickText(t))}</text>`;
    }
  } else if (bins.categories) {
    const cats = bins.categories;
    const shown = catShown;
    // rotated 40°: a label of width w reaches w · sin 40° below the axis
    const longest = Math.max(0, ...shown.map((c) => (c === null ? 0 : textWidth(c, 9))));
    shown.forEach((c, i) => {
      if (c === null) return;
      const x = ((X(i) + X(i + 1)) / 2).toFixed(1);
      const full = c === cats[i] ? '' : `<title>${escapeXml(cats[i]!)}</title>`;
      axis += `<text x="${x}" y="${base + 10}" text-anchor="end" font-size="9" transform="rotate(-40 ${x} ${base + 10})">${escapeXml(c)}${full}</text>`;
    });
    below = 10 + Math.ceil(longest * Math.sin((40 * Math.PI) / 180)) + 4;
  }
  const xTitleY = base + below + 10;
  const legend = legendRows(left, xTitleY + 14, left + W, series);
  const height = xTitleY + 14 + legend.rows * 13;

  const path = (s: Series) => {
    let d = `M${X(0)},${base}`;
    s.values.forEach((v, i) => (d += ` L${X(i).toFixed(1)},${Y(v).toFixed(1)} L${X(i + 1).toFixed(1)},${Y(v).toFixed(1)}`));
    d += ` L${X(B)},${base}`;
    return s.fill
      ? `<path class="series" data-series="${escapeXml(s.label)}" d="${d} Z" fill="${s.color}" fill-opacity="0.35" stroke="${s.color}" stroke-width="1"/>`
      : `<path class="series" data-series="${escapeXml(s.label)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
  };
  // areas first, then lines in reverse order: the first line listed is drawn last, on top
  const drawn = [...series.filter((s) => s.fill), ...series.filter((s) => !s.fill).reverse()];
  const body =
    axis +
    drawn.map(path).join('') +
    xTitle(left + W / 2, xTitleY, axes.x) +
    yTitle(10, top + H / 2, axes.y) +
    legend.svg;
  return frame(left + W + 12, height, title, body);
}

/** The category names a histogram shows (at most about 12, each up to 28 characters); null for those skipped. */
function categoryLabels(cats: string[]): (string | null)[] {
  const every = Math.ceil(cats.length / 12);
  return cats.map((c, i) => (i % every === 0 ? clip(c, 28) : null));
}

/** The x-axis title of a field: its name, unit and scale, e.g. "ALT (IU/L, log scale)". */
function fieldAxisTitle(h: HistogramPlot): string {
  const name = h.field.replace(/^(cov|var):/, '');
  const notes = [h.unit, h.scale === 'log' ? 'log scale' : undefined].filter((x): x is string => !!x);
  return notes.length ? `${name} (${notes.join(', ')})` : name;
}

/** Real (shaded grey), synthetic (blue) and floor (dashed orange) shares per bin of one field. */
export function histogramSvg(h: HistogramPlot): string {
  return stepHistogramSvg(
    h.field,
    h,
    [
      { label: 'synthetic', values: h.synthetic, color: COLORS.synthetic },
      { label: 'floor', values: h.floor, color: COLORS.floor, dash: '4 3' },
      { label: 'real (train)', values: h.real, color: COLORS.real, fill: true },
    ],
    { x: fieldAxisTitle(h), y: h.field.startsWith('cov:') ? 'share of patients' : 'share of values' },
  );
}

/** Per-code patient prevalence, real (x) against synthetic (y), with the diagonal. */
export function prevalenceScatterSvg(points: PlotData['prevalence']): string {
  const S = 260;
  const L = 50;
  const T = 24;
  const max = Math.max(1e-9, ...points.map((p) => Math.max(p.real, p.synthetic)));
  const ticks = niceTicks(0, max, 4);
  const top = Math.max(max, ticks[ticks.length - 1]!);
  const P = (v: number) => (S * v) / top;
  const dots = points.map((p) => `<circle cx="${L + P(p.real)}" cy="${T + S - P(p.synthetic)}" r="2" fill="${COLORS.synthetic}" fill-opacity="0.6"><title>${escapeXml(`${p.code}: real ${p.real}, synthetic ${p.synthetic}`)}</title></circle>`).join('');
  let grid = '';
  for (const t of ticks) {
    const v = P(t).toFixed(1);
    grid += `<line x1="${L + Number(v)}" y1="${T}" x2="${L + Number(v)}" y2="${T + S}" stroke="#eee"/><line x1="${L}" y1="${T + S - Number(v)}" x2="${L + S}" y2="${T + S - Number(v)}" stroke="#eee"/>`;
    grid += `<text x="${L + Number(v)}" y="${T + S + 13}" text-anchor="middle">${tickText(t)}</text><text x="${L - 4}" y="${T + S - Number(v) + 3}" text-anchor="end">${tickText(t)}</text>`;
  }
  const body =
    grid +
    `<rect x="${L}" y="${T}" width="${S}" height="${S}" fill="none" stroke="#000"/>` +
    `<line x1="${L}" y1="${T + S}" x2="${L + S}" y2="${T}" stroke="#999" stroke-dasharray="3 3"/>` +
    xTitle(L + S / 2, T + S + 30, 'real prevalence (share of patients with the code)') +
    yTitle(12, T + S / 2, 'synthetic prevalence') +
    (points.length ? dots : `<text x="${L + S / 2}" y="${T + S / 2}" text-anchor="middle">no codes in this data set</text>`);
  return frame(L + S + 14, T + S + 40, 'Code prevalence: real vs synthetic', body);
}

/** Red for positive, blue for negative, white at 0; |v| ≥ 1 saturates. */
function heatColor(v: number | null, mode: 'signed' | 'abs'): string {
  if (v === null) return '#dddddd';
  const a = Math.max(-1, Math.min(1, mode === 'abs' ? Math.abs(v) : v));
  const w = (x: number) => Math.round(255 * (1 - x));
  return a >= 0 ? `rgb(255,${w(a)},${w(a)})` : `rgb(${w(-a)},${w(-a)},255)`;
}

/**
 * A V × V matrix in [−1, 1] (or [0, 2] for |differences|) as coloured cells with row and column
 * labels and a colour scale; null cells are grey.
 */
export function heatmapSvg(title: string, variables: string[], values: (number | null)[], mode: 'signed' | 'abs'): string {
  const V = variables.length;
  const C = Math.max(8, Math.min(16, Math.floor(320 / Math.max(1, V))));
  const fs = Math.min(9, C);
  const names = variables.map((v) => clip(v, 16));
  const L = 6 + Math.max(0, ...names.map((n) => textWidth(n, fs)));
  const T = 22;
  let cells = '';
  for (let i = 0; i < V; i++) {
    cells += `<text x="${L - 3}" y="${T + i * C + C * 0.72}" text-anchor="end" font-size="${fs}">${escapeXml(names[i]!)}</text>`;
    for (let j = 0; j < V; j++) {
      const v = values[i * V + j] ?? null;
      cells += `<rect x="${L + j * C}" y="${T + i * C}" width="${C}" height="${C}" fill="${heatColor(v, mode)}"><title>${escapeXml(`${variables[i]} × ${variables[j]}: ${v === null ? 'n/a' : v.toFixed(3)}`)}</title></rect>`;
    }
  }
  // column labels below, rotated
  const bottom = T + V * C;
  for (let j = 0; j < V; j++) {
    const x = L + j * C + C * 0.7;
    cells += `<text x="${x}" y="${bottom + 4}" text-anchor="end" font-size="${fs}" transform="rotate(-60 ${x} ${bottom + 4})">${escapeXml(names[j]!)}</text>`;
  }
  const labelDepth = Math.ceil(Math.max(0, ...names.map((n) => textWidth(n, fs))) * Math.sin((60 * Math.PI) / 180)) + 8;
  // the colour scale: 20 steps from the top (+1, or ≥ 1) down to the bottom (−1, or 0)
  const barX = L + V * C + 12;
  const barH = Math.max(80, V * C);
  const lo = mode === 'abs' ? 0 : -1;
  const steps = 20;
  let bar = '';
  for (let k = 0; k < steps; k++) {
    const v = 1 - ((1 - lo) * (k + 0.5)) / steps;
    bar += `<rect x="${barX}" y="${(T + (barH * k) / steps).toFixed(1)}" width="10" height="${(barH / steps + 0.5).toFixed(1)}" fill="${heatColor(v, mode)}"/>`;
  }
  bar += `<rect class="colour-scale" x="${barX}" y="${T}" width="10" height="${barH}" fill="none" stroke="#888"/>`;
  const labels = mode === 'abs' ? ['≥ 1', '0.5', '0'] : ['+1', '0', '−1'];
  labels.forEach((lab, k) => {
    const y = T + (barH * k) / (labels.length - 1);
    bar += `<line x1="${barX + 10}" y1="${y}" x2="${barX + 13}" y2="${y}" stroke="#888"/><text x="${barX + 15}" y="${y + 3}">${lab}</text>`;
  });
  const legendTitle = mode === 'abs' ? '|difference|' : 'correlation';
  bar += yTitle(barX + 44, T + barH / 2, legendTitle);
  const width = barX + 52;
  return frame(width, Math.max(bottom + labelDepth, T + barH + 10), title, cells + bar);
}

export function rocSvg(plot: RocPlot): string {
  const S = 220;
  const L = 44;
  const T = 24;
  const P = (v: number) => S * v;
  const lines = plot.curves
    .map((c, i) => {
      const d = c.fpr.map((f, t) => `${t ? 'L' : 'M'}${(L + P(f)).toFixed(1)},${(T + S - P(c.tpr[t]!)).toFixed(1)}`).join(' ');
      return `<path class="series" data-series="${escapeXml(c.label)}" d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`;
    })
    .join('');
  let grid = '';
  for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    const v = P(t);
    grid += `<line x1="${L + v}" y1="${T}" x2="${L + v}" y2="${T + S}" stroke="#eee"/><line x1="${L}" y1="${T + S - v}" x2="${L + S}" y2="${T + S - v}" stroke="#eee"/>`;
    grid += `<text x="${L + v}" y="${T + S + 13}" text-anchor="middle">${tickText(t)}</text><text x="${L - 4}" y="${T + S - v + 3}" text-anchor="end">${tickText(t)}</text>`;
  }
  const legendW = Math.max(...plot.curves.map((c) => 18 + textWidth(c.label)), 40);
  const legend = plot.curves
    .map((c, i) => {
      const y = T + 8 + i * 13;
      return `<line x1="${L + S + 10}" y1="${y}" x2="${L + S + 24}" y2="${y}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"/><text class="legend" x="${L + S + 28}" y="${y + 3}">${escapeXml(c.label)}</text>`;
    })
    .join('');
  const body =
    grid +
    `<rect x="${L}" y="${T}" width="${S}" height="${S}" fill="none" stroke="#000"/>` +
    `<line x1="${L}" y1="${T + S}" x2="${L + S}" y2="${T}" stroke="#999" stroke-dasharray="3 3"/>` +
    xTitle(L + S / 2, T + S + 28, 'false positive rate') +
    yTitle(12, T + S / 2, 'true positive rate') +
    lines +
    legend;
  return frame(L + S + 18 + legendW + 8, T + S + 38, plot.title, body);
}

/** Distances to closest record of the synthetic set: to train against to holdout. */
export function dcrSvg(dcr: PlotData['dcr']): string {
  return stepHistogramSvg(
    'DCR of synthetic records',
    { edges: dcr.edges },
    [
      { label: 'to holdout', values: dcr.holdout, color: COLORS.synthetic },
      { label: 'to train', values: dcr.train, color: COLORS.real, fill: true },
    ],
    { x: 'distance to the closest real record', y: 'share of synthetic records' },
  );
}
