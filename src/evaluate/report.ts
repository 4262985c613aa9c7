import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_SCALE_TAIL_RATIO, type EvalResult, type MetricRow } from './evaluate.ts';
import type { Interval } from './bootstrap.ts';
import { dcrSvg, escapeXml, heatmapSvg, histogramSvg, prevalenceScatterSvg, rocSvg } from './plots.ts';

/** What a report adds to the evaluation's own: a title, and HTML placed before the metric tables. */
export interface ReportExtras {
  title?: string;
  preface?: string;
}

/**
 * The evaluation's outputs in `out` (a run's eval/, runPaths evalDir): `metrics.json` (everything,
 * NaN written as null), `report.html` (self-contained: tables and inline SVG, no script, no
 * external file) and the summary table printed by the CLI.
 */
export async function writeReport(out: string, result: EvalResult): Promise<{ metrics: string; report: string }> {
  return writeReportFiles(out, result);
}

/** metrics.json (the result and `extra` members beside it) and report.html, straight into `out`. */
export async function writeReportFiles(out: string, result: EvalResult, extra: Record<string, unknown> = {}, extras: ReportExtras = {}): Promise<{ metrics: string; report: string }> {
  await mkdir(out, { recursive: true });
  const metrics = join(out, 'metrics.json');
  const report = join(out, 'report.html');
  await writeFile(metrics, JSON.stringify({ ...result, ...extra }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n');
  await writeFile(report, renderReport(result, extras));
  return { metrics, report };
}

function cell(v: number | null): string {
  if (v === null) return '—';
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  return v.toFixed(Math.abs(v) >= 100 ? 1 : 4);
}

/** An interval at 3 decimals: a 95% interval of an AUROC on a few hundred patients is ±0.05 or wider. */
function intervalCell(iv: Interval | null): string {
  return iv === null ? '—' : `[${iv[0].toFixed(3)}, ${iv[1].toFixed(3)}]`;
}

const WHICH = ['synthetic', 'ceiling', 'floor'] as const;

const BEST: Record<MetricRow['best'], string> = { max: '↑', min: '↓', half: '→0.5', zero: '→0', none: '' };

/**
 * metric | synthetic | ceiling | floor, one line per summary row, grouped; a row with bootstrap
 * intervals (utility AUROCs, detection AUCs) is followed by a line of them.
 */
export function formatSummaryTable(result: EvalResult): string {
  const rows = result.rows.filter((r) => r.summary);
  const name = (r: MetricRow) => `${r.name}${BEST[r.best] ? ` ${BEST[r.best]}` : ''}`;
  const withCi = rows.some((r) => r.ci);
  const ciName = withCi ? `  ${Math.round(result.meta.bootstrap.level * 100)}% interval (bootstrap)` : '';
  const w = Math.max(6, ciName.length, ...rows.map((r) => name(r).length));
  const cw = Math.max(10, ...rows.flatMap((r) => (r.ci ? WHICH.map((k) => intervalCell(r.ci![k]).length) : [])));
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(w)} | ${b.padStart(cw)} | ${c.padStart(cw)} | ${d.padStart(cw)}`;
  const out = [line('metric', 'synthetic', 'ceiling', 'floor'), `${'-'.repeat(w)}-+-${'-'.repeat(cw)}-+-${'-'.repeat(cw)}-+-${'-'.repeat(cw)}`];
  const z = result.meta.sizes;
  out.push(line('patients (vs train of ' + z.train + ')', String(z.synthetic), String(z.test), String(z.floor)));
  let group = '';
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      out.push(`[${group}]`);
    }
    out.push(line(name(r), cell(r.synthetic), cell(r.ceiling), cell(r.floor)));
    if (r.ci) out.push(line(ciName, intervalCell(r.ci.synthetic), intervalCell(r.ci.ceiling), intervalCell(r.ci.floor)));
  }
  return out.join('\n');
}

/**
 * Where the synthetic figure sits between floor (0) and ceiling (1), for shading: undefined when
 * the metric has no direction, or the floor is not worse than the ceiling (independent marginals
 * match some one-field statistics as well as real data does).
 */
function progress(r: MetricRow): number | undefined {
  if (r.synthetic === null || r.ceiling === null || r.floor === null || r.best === 'none') return undefined;
  const score = (v: number) => (r.best === 'half' ? -Math.abs(v - 0.5) : r.best === 'zero' ? -Math.abs(v) : r.best === 'min' ? -v : v);
  const lo = score(r.floor);
  const hi = score(r.ceiling);
  // shade only where the references span a range in the metric's good direction
  if (!(hi - lo > 1e-12)) return undefined;
  return Math.max(0, Math.min(1, (score(r.synthetic) - lo) / (hi - lo)));
}

function table(rows: MetricRow[]): string {
  const body = rows
    .map((r) => {
      const p = progress(r);
      const shade = p === undefined ? '' : ` style="background: hsl(${Math.round(120 * p)}, 60%, 88%)"`;
      const value = (k: (typeof WHICH)[number]) => `${cell(r[k])}${r.ci ? `<br><span class="ci">${intervalCell(r.ci[k])}</span>` : ''}`;
      return `<tr><td>${escapeXml(r.name)}</td><td class="dir">${BEST[r.best]}</td><td class="num"${shade}>${value('synthetic')}</td><td class="num">${value('ceiling')}</td><td class="num">${value('floor')}</td><td class="key">${escapeXml(r.key)}</td></tr>`;
    })
    .join('\n');
  return `<table><thead><tr><th>metric</th><th>best</th><th>synthetic</th><th>ceiling</th><th>floor</th><th>key</th></tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export function renderReport(result: EvalResult, extras: ReportExtras = {}): string {
  const title = escapeXml(extras.title ?? 'synehr evaluation');
  const { meta, plots } = result;
  const groups = ['fidelity', 'detection', 'utility', 'privacy'] as const;
  const V = plots.correlation.variables.length;
  const diff = plots.correlation.real.map((r, i) => {
    const s = plots.correlation.synthetic[i];
    return r === null || s === null || s === undefined ? null : Math.abs(r - s);
  });
  const sections = groups
    .map((g) => {
      const rows = result.rows.filter((r) => r.group === g);
      const summary = rows.filter((r) => r.summary);
      const detail = rows.filter((r) => !r.summary);
      return `<h2>${g}</h2>${table(summary)}${detail.length ? `<details><summary>${detail.length} more (per field, per model)</summary>${table(detail)}</details>` : ''}`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.key, td.dir { color: #888; font-size: 11px; }
.ci { color: #666; font-size: 11px; white-space: nowrap; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; }
.note { color: #555; font-size: 13px; }
</style></head><body>
<h1>${title}</h1>
<p class="note">${escapeXml(meta.created)} · train ${meta.sizes.train}, ${escapeXml(meta.config.holdout)} ${meta.sizes.test}, synthetic ${meta.sizes.synthetic}, floor ${meta.sizes.floor} patients · feature vectors of ${meta.feature_columns} columns on up to ${meta.sizes.feature_rows} training rows · k = ${meta.k}, ${meta.cv_folds}-fold detection · seed ${meta.seed} · ${meta.seconds.toFixed(1)} s</p>
<p class="note"><b>ceiling</b>: ${escapeXml(meta.references.ceiling)}.<br><b>floor</b>: ${escapeXml(meta.references.floor)}.<br>
Synthetic cells are shaded from red (at the floor) to green (at the ceiling).${
    meta.bootstrap.replicates > 0
      ? `<br><b>intervals</b> (under the utility AUROCs and detection AUCs): ${Math.round(meta.bootstrap.level * 100)}% ${escapeXml(meta.bootstrap.method)}; ${meta.bootstrap.replicates} replicates.`
      : ''
  }</p>
${extras.preface ?? ''}
${sections}
<h2>Plots</h2>
<h3>Marginals: real vs synthetic vs floor</h3>
<p class="note">Real (train) values are the grey area, synthetic the blue line, the floor the dashed orange line. Fields whose 99.5th percentile is ${LOG_SCALE_TAIL_RATIO} times their median or more (lab values such as ALT, AST, bilirubin) are binned on a log axis.</p>
<div class="plots">${plots.histograms.map(histogramSvg).join('\n')}</div>
<h3>Codes</h3>
<div class="plots">${prevalenceScatterSvg(plots.prevalence)}</div>
<h3>Forward-filled correlations (${V} continuous variables)</h3>
<div class="plots">${V ? [heatmapSvg('real', plots.correlation.variables, plots.correlation.real, 'signed'), heatmapSvg('synthetic', plots.correlation.variables, plots.correlation.synthetic, 'signed'), heatmapSvg('|real − synthetic|', plots.correlation.variables, diff, 'abs')].join('\n') : 'no continuous variables'}</div>
<h3>ROC curves</h3>
<div class="plots">${plots.roc.map(rocSvg).join('\n')}</div>
<h3>Distance to closest record</h3>
<div class="plots">${dcrSvg(plots.dcr)}</div>
</body></html>
`;
}
