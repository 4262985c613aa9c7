import type { HistogramPlot, PlotData, RocPlot } from './evaluate.ts';

/**
 * Inline SVG plots for the report: no script, no external file, so report.html reads anywhere.
 * Each function returns one <svg> element as a string. Coordinates: a plot area of W × H pixels
 * inside a margin M; data are mapped linearly into it.
 */

const COLORS = { real: '#555555', synthetic: '#1f77b4', floor: '#ff7f0e', ceiling: '#2ca02c', extra: '#9467bd' };
const PALETTE = [COLORS.synthetic, COLORS.floor, COLORS.ceiling, COLORS.extra, '#d62728', '#8c564b'];

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Math.round(v * 100) / 100));

function frame(w: number, h: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="10"><title>${escapeXml(title)}</title><text x="${w / 2}" y="12" text-anchor="middle" font-size="11">${escapeXml(title)}</text>${body}</svg>`;
}

function legend(x: number, y: number, items: [string, string, string?][]): string {
  return items
    .map(([label, color, dash], i) => `<line x1="${x}" y1="${y + i * 12}" x2="${x + 14}" y2="${y + i * 12}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/><text x="${x + 18}" y="${y + i * 12 + 3}">${escapeXml(label)}</text>`)
    .join('');
}

interface Series {
  label: string;
  /** share per bin, [B] */
  values: number[];
  color: string;
  dash?: string;
}

/** Shares per bin of several series as step outlines over shared bins (numeric edges or categories). */
export function stepHistogramSvg(title: string, bins: { edges?: number[]; categories?: string[] }, series: Series[]): string {
  const W = 240;
  const H = 110;
  const M = { l: 34, t: 18, b: 22 };
  const B = series[0]!.values.length;
  const ymax = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const X = (i: number) => M.l + (W * i) / B;
  const Y = (v: number) => M.t + H - (H * v) / ymax;
  const steps = (s: Series) => {
    let d = `M${X(0)},${Y(0)}`;
    s.values.forEach((v, i) => (d += ` L${X(i).toFixed(1)},${Y(v).toFixed(1)} L${X(i + 1).toFixed(1)},${Y(v).toFixed(1)}`));
    d += ` L${X(B)},${Y(0)}`;
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
  };
  let axis = `<line x1="${M.l}" y1="${Y(0)}" x2="${M.l + W}" y2="${Y(0)}" stroke="#000"/><text x="${M.l - 3}" y="${M.t + 4}" text-anchor="end">${fmt(ymax)}</text>`;
  if (bins.edges) {
    axis += `<text x="${M.l}" y="${Y(0) + 12}">${fmt(bins.edges[0]!)}</text><text x="${M.l + W}" y="${Y(0) + 12}" text-anchor="end">${fmt(bins.edges[bins.edges.length - 1]!)}</text>`;
  } else if (bins.categories) {
    const every = Math.ceil(bins.categories.length / 6);
    bins.categories.forEach((c, i) => {
      if (i % every === 0) axis += `<text x="${(X(i) + X(i + 1)) / 2}" y="${Y(0) + 12}" text-anchor="middle">${escapeXml(c.slice(0, 10))}</text>`;
    });
  }
  const keys = series.map((s, i) => legend(M.l + 4 + i * 75, M.t + H + M.b + 4, [[s.label, s.color, s.dash]])).join('');
  return frame(M.l + W + 10, M.t + H + M.b + 14, title, axis + series.map(steps).join('') + keys);
}

/** Real (grey), synthetic (blue) and floor (dashed orange) shares per bin of one field. */
export function histogramSvg(h: HistogramPlot): string {
  return stepHistogramSvg(h.field, h, [
    { label: 'real', values: h.real, color: COLORS.real },
    { label: 'synthetic', values: h.synthetic, color: COLORS.synthetic },
    { label: 'floor', values: h.floor, color: COLORS.floor, dash: '4 3' },
  ]);
}

/** Per-code patient prevalence, real (x) against synthetic (y), with the diagonal. */
export function prevalenceScatterSvg(points: PlotData['prevalence']): string {
  const S = 260;
  const M = 36;
  const max = Math.max(1e-9, ...points.map((p) => Math.max(p.real, p.synthetic)));
  const P = (v: number) => (S * v) / max;
  const dots = points.map((p) => `<circle cx="${M + P(p.real)}" cy="${M + S - P(p.synthetic)}" r="2" fill="${COLORS.synthetic}" fill-opacity="0.6"><title>${escapeXml(`${p.code}: real ${p.real}, synthetic ${p.synthetic}`)}</title></circle>`).join('');
  const body =
    `<rect x="${M}" y="${M}" width="${S}" height="${S}" fill="none" stroke="#000"/>` +
    `<line x1="${M}" y1="${M + S}" x2="${M + S}" y2="${M}" stroke="#999" stroke-dasharray="3 3"/>` +
    `<text x="${M + S / 2}" y="${M + S + 24}" text-anchor="middle">real prevalence (max ${fmt(max)})</text>` +
    `<text x="12" y="${M + S / 2}" text-anchor="middle" transform="rotate(-90 12 ${M + S / 2})">synthetic prevalence</text>` +
    (points.length ? dots : `<text x="${M + S / 2}" y="${M + S / 2}" text-anchor="middle">no codes in this data set</text>`);
  return frame(S + 2 * M, S + 2 * M, 'Code prevalence: real vs synthetic', body);
}

/** A V × V matrix in [−1, 1] (or [0, 2] for |differences|) as coloured cells; null cells are hatched grey. */
export function heatmapSvg(title: string, variables: string[], values: (number | null)[], mode: 'signed' | 'abs'): string {
  const V = variables.length;
  const C = Math.max(6, Math.min(14, Math.floor(300 / Math.max(1, V))));
  const L = 70;
  const T = 22;
  const color = (v: number | null) => {
    if (v === null) return '#dddddd';
    const a = Math.max(-1, Math.min(1, v));
    if (mode === 'abs') {
      const t = Math.min(1, Math.abs(a));
      return `rgb(255,${Math.round(255 * (1 - t))},${Math.round(255 * (1 - t))})`;
    }
    return a >= 0 ? `rgb(255,${Math.round(255 * (1 - a))},${Math.round(255 * (1 - a))})` : `rgb(${Math.round(255 * (1 + a))},${Math.round(255 * (1 + a))},255)`;
  };
  let cells = '';
  for (let i = 0; i < V; i++) {
    cells += `<text x="${L - 3}" y="${T + i * C + C * 0.75}" text-anchor="end" font-size="${Math.min(9, C)}">${escapeXml(variables[i]!.slice(0, 12))}</text>`;
    for (let j = 0; j < V; j++) {
      const v = values[i * V + j] ?? null;
      cells += `<rect x="${L + j * C}" y="${T + i * C}" width="${C}" height="${C}" fill="${color(v)}"><title>${escapeXml(`${variables[i]} × ${variables[j]}: ${v === null ? 'n/a' : v.toFixed(3)}`)}</title></rect>`;
    }
  }
  return frame(L + V * C + 10, T + V * C + 10, title, cells);
}

export function rocSvg(plot: RocPlot): string {
  const S = 220;
  const M = 34;
  const P = (v: number) => S * v;
  const lines = plot.curves
    .map((c, i) => {
      const d = c.fpr.map((f, t) => `${t ? 'L' : 'M'}${(M + P(f)).toFixed(1)},${(M + S - P(c.tpr[t]!)).toFixed(1)}`).join(' ');
      return `<path d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`;
    })
    .join('');
  const body =
    `<rect x="${M}" y="${M}" width="${S}" height="${S}" fill="none" stroke="#000"/>` +
    `<line x1="${M}" y1="${M + S}" x2="${M + S}" y2="${M}" stroke="#999" stroke-dasharray="3 3"/>` +
    `<text x="${M + S / 2}" y="${M + S + 22}" text-anchor="middle">false positive rate</text>` +
    `<text x="12" y="${M + S / 2}" text-anchor="middle" transform="rotate(-90 12 ${M + S / 2})">true positive rate</text>` +
    lines +
    legend(M + S + 10, M + 8, plot.curves.map((c, i) => [c.label, PALETTE[i % PALETTE.length]!] as [string, string]));
  return frame(M + S + 150, S + 2 * M, plot.title, body);
}

/** Distances to closest record of the synthetic set: to train against to holdout. */
export function dcrSvg(dcr: PlotData['dcr']): string {
  return stepHistogramSvg('DCR of synthetic records', { edges: dcr.edges }, [
    { label: 'to train', values: dcr.train, color: COLORS.real },
    { label: 'to holdout', values: dcr.holdout, color: COLORS.synthetic },
  ]);
}
