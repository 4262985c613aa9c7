/**
 * What the tutorial notebooks (notebooks/*.ipynb) import: one module, loaded at run time with
 *
 *   const kit = await import(`${root}/src/notebooks/kit.ts`);
 *
 * A notebook kernel such as tslab compiles each cell to CommonJS and cannot compile files outside
 * the notebook's folder, so the cells reach the project's ES modules through this one dynamic
 * import (docs/notebooks.md). Everything here is the project's own API, re-exported, plus two small
 * helpers for notebooks: `synehr` (the CLI in process, its log captured) and `lossCurveSvg`.
 */
import { main } from '../cli/main.ts';
import type { MetricsRow } from '../tracking/metricsJsonl.ts';
import { escapeXml } from '../evaluate/plots.ts';

export { main, PACKAGE_ROOT } from '../cli/main.ts';
export { readRecords } from '../records/tables.ts';
export { readMetricsJsonl, parseMetricsJsonl } from '../tracking/metricsJsonl.ts';
export { histogramSvg, prevalenceScatterSvg, heatmapSvg, rocSvg, dcrSvg } from '../evaluate/plots.ts';
export { formatSummaryTable } from '../evaluate/report.ts';
export type { EvalResult, MetricRow } from '../evaluate/evaluate.ts';
export type { PatientRecord } from '../records/types.ts';

export interface SynehrRun {
  /** the exit code: 0 done, 2 a mistake in the command line, config or input (docs/cli.md) */
  code: number;
  /** everything the command wrote to stderr (progress, summaries, errors) */
  log: string;
  /** everything it wrote to stdout (data only, e.g. `config show`'s YAML) */
  out: string;
}

/**
 * Runs `synehr <args...>` in process with `cwd` as its working directory (where data/processed/,
 * tokenizer/, saved_models/ and data/synthetic/ are written). Throws with the command's log when it
 * exits non-zero, so a failing stage fails the notebook cell; `{ check: false }` returns instead.
 */
export async function synehr(args: readonly string[], opts: { cwd: string; check?: boolean; echo?: boolean }): Promise<SynehrRun> {
  let log = '';
  let out = '';
  const code = await main(args, {
    cwd: opts.cwd,
    stdout: (s) => void (out += s),
    stderr: (s) => {
      log += s;
      if (opts.echo) process.stderr.write(s);
    },
  });
  if (code !== 0 && opts.check !== false) {
    throw new Error(`synehr ${args.join(' ')} exited with code ${code}:\n${log.trim().split('\n').slice(-15).join('\n')}`);
  }
  return { code, log, out };
}

export interface CurveSeries {
  label: string;
  /** [N] x values (e.g. steps) and [N] y values; null is a gap (a diverged loss is logged as null) */
  x: number[];
  y: (number | null)[];
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/**
 * Line chart of one or more series as an inline SVG string (same look as the report's plots):
 * a W × H plot area inside margins, axes labelled with their ranges, one colour per series.
 */
export function lineChartSvg(title: string, series: CurveSeries[], axes: { x?: string; y?: string } = {}): string {
  const W = 360;
  const H = 160;
  const M = { l: 48, r: 12, t: 20, b: 30 };
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y.filter((v): v is number => v !== null && Number.isFinite(v)));
  if (xs.length === 0 || ys.length === 0) throw new RangeError(`lineChartSvg: '${title}' has no finite points to draw`);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const X = (v: number) => M.l + (W * (v - x0)) / Math.max(1e-12, x1 - x0);
  const Y = (v: number) => M.t + H - (H * (v - y0)) / (y1 - y0);
  const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Math.round(v * 100) / 100));
  const paths = series.map((s, i) => {
    let d = '';
    let pen = 'M';
    s.y.forEach((v, j) => {
      if (v === null || !Number.isFinite(v)) return void (pen = 'M');
      d += `${pen}${X(s.x[j]!).toFixed(1)},${Y(v).toFixed(1)} `;
      pen = 'L';
    });
    return `<path d="${d.trim()}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`;
  });
  const legend = series.map(
    (s, i) =>
      `<line x1="${M.l + W - 90}" y1="${M.t + 8 + i * 12}" x2="${M.l + W - 76}" y2="${M.t + 8 + i * 12}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"/>` +
      `<text x="${M.l + W - 72}" y="${M.t + 11 + i * 12}">${escapeXml(s.label)}</text>`,
  );
  const w = M.l + W + M.r;
  const h = M.t + H + M.b;
  const axis =
    `<rect x="${M.l}" y="${M.t}" width="${W}" height="${H}" fill="none" stroke="#000"/>` +
    `<text x="${M.l - 4}" y="${M.t + 4}" text-anchor="end">${fmt(y1)}</text>` +
    `<text x="${M.l - 4}" y="${M.t + H}" text-anchor="end">${fmt(y0)}</text>` +
    `<text x="${M.l}" y="${M.t + H + 12}">${fmt(x0)}</text>` +
    `<text x="${M.l + W}" y="${M.t + H + 12}" text-anchor="end">${fmt(x1)}</text>` +
    (axes.x ? `<text x="${M.l + W / 2}" y="${M.t + H + 24}" text-anchor="middle">${escapeXml(axes.x)}</text>` : '') +
    (axes.y ? `<text x="12" y="${M.t + H / 2}" text-anchor="middle" transform="rotate(-90 12 ${M.t + H / 2})">${escapeXml(axes.y)}</text>` : '');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="10">` +
    `<title>${escapeXml(title)}</title><text x="${w / 2}" y="12" text-anchor="middle" font-size="11">${escapeXml(title)}</text>` +
    axis +
    paths.join('') +
    legend.join('') +
    '</svg>'
  );
}

/** The loss curves of a run's metrics.jsonl rows: `train/loss` and `val/loss` against the step. */
export function lossCurveSvg(rows: readonly MetricsRow[], title = 'loss'): string {
  const series: CurveSeries[] = [];
  for (const key of ['train/loss', 'val/loss']) {
    const logged = rows.filter((r) => key in r);
    if (logged.length > 0) series.push({ label: key, x: logged.map((r) => r.step), y: logged.map((r) => r[key] as number | null) });
  }
  if (series.length === 0) throw new RangeError(`lossCurveSvg: no train/loss or val/loss in ${rows.length} metrics rows`);
  return lineChartSvg(title, series, { x: 'step', y: 'cross-entropy (nats/token)' });
}
