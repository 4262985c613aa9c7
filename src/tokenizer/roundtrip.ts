/**
 * The round trip: real patients encoded and decoded straight back, with no model in between, and
 * what decoding lost. A perfect generator can do no better than this (DESIGN.md, "Tokenizer and
 * grammar"), so every tokenizer choice is judged by it.
 *
 * `roundTrip` gives the decoded records (same ids as the originals); `roundTripTable` compares them
 * with the originals per numeric field: for each continuous variable its pooled values (KS
 * statistic, mean, sd ratio, p1/p99), its per-patient spread (within-patient sd ratio) and, for the
 * whole series, the time gaps and the latest event hours.
 */
import type { PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import { ksStatistic } from '../evaluate/stats.ts';
import { codeFidelity, codeStatistics } from '../evaluate/fidelity.ts';
import { Rng } from '../util/rng.ts';
import { emptyEncodeStats, type EncodeStats, type Tokenizer } from './tokenizer.ts';
import { gapHours } from '../records/time.ts';

export interface RoundTripResult {
  decoded: PatientRecord[];
  /** what encoding dropped or merged (unseen codes and values, repeats at one time step) */
  stats: EncodeStats;
}

/** Encodes each record (unknown values dropped and counted, as for val/test shards) and decodes it back. */
export function roundTrip(tok: Tokenizer, records: readonly PatientRecord[], seed: number): RoundTripResult {
  const stats = emptyEncodeStats();
  const rng = new Rng(seed);
  const decoded = records.map((p) => tok.decode(tok.encodePatient(p, { unknown: 'drop', stats }), { rng, id: p.id }));
  return { decoded, stats };
}

/** One numeric field, original against decoded. */
export interface RoundTripRow {
  /** "var:HR", "cov:age", "label:length_of_stay", or "time:gap" / "time:last_hours" */
  field: string;
  /** values compared (original side) */
  n: number;
  /** two-sample KS statistic between the original and decoded values (0 = identical distributions) */
  ks: number;
  mean: [original: number, decoded: number];
  /** decoded sd / original sd */
  sd_ratio: number;
  p1: [original: number, decoded: number];
  p99: [original: number, decoded: number];
  max: [original: number, decoded: number];
  /**
   * continuous variables: the mean over patients with 2+ measurements of their within-patient sd,
   * decoded / original (1 = series as steady as the real ones); null for other fields
   */
  within_sd_ratio: number | null;
}

/** Codes, original against decoded, admission by admission. */
export interface RoundTripCodes {
  /** admissions with at least one code in either */
  admissions: number;
  /** share of those whose decoded codes are the original ones, in order */
  exact: number;
  /** the same against the original codes the vocabulary holds (the others are dropped by encoding) */
  exact_in_vocabulary: number;
  /** Pearson r of n-gram counts (n = 1, 2, 3) between decoded and original; 1 when every admission is exact */
  ngram_r: [number, number, number];
}

export interface RoundTripTable {
  rows: RoundTripRow[];
  /** null when no admission has codes */
  codes: RoundTripCodes | null;
  /** the latest event hour of any admission, original and decoded */
  max_hours: [original: number, decoded: number];
}

export function roundTripTable(
  original: readonly PatientRecord[],
  decoded: readonly PatientRecord[],
  data: DataConfig,
  vocabularyCodes?: ReadonlySet<string>,
): RoundTripTable {
  if (original.length !== decoded.length) {
    throw new RangeError(`roundTripTable: ${original.length} original records but ${decoded.length} decoded`);
  }
  const rows: RoundTripRow[] = [];
  for (const c of data.covariates) {
    if (c.type !== 'numeric') continue;
    const pick = (set: readonly PatientRecord[]) => set.flatMap((r) => (typeof r.covariates[c.name] === 'number' ? [r.covariates[c.name] as number] : []));
    rows.push(compare(`cov:${c.name}`, pick(original), pick(decoded), null));
  }
  for (const l of data.labels) {
    const pick = (set: readonly PatientRecord[]) => set.flatMap((r) => (typeof r.labels[l.name] === 'number' ? [r.labels[l.name]!] : []));
    const a = pick(original);
    if (new Set(a).size > 2) rows.push(compare(`label:${l.name}`, a, pick(decoded), null));
  }
  const so = seriesOf(original);
  const sd = seriesOf(decoded);
  for (const v of data.variables) {
    if (v.type !== 'continuous') continue;
    const a = so.values.get(v.name) ?? [];
    if (a.length === 0) continue;
    const wa = so.withinSd.get(v.name) ?? [];
    const wb = sd.withinSd.get(v.name) ?? [];
    const within = wa.length > 0 && wb.length > 0 && mean(wa) > 0 ? mean(wb) / mean(wa) : null;
    rows.push(compare(`var:${v.name}`, a, sd.values.get(v.name) ?? [], within));
  }
  rows.push(compare('time:gap', so.gaps, sd.gaps, null));
  rows.push(compare('time:last_hours', so.lastHours, sd.lastHours, null));
  return { rows, codes: codesRow(original, decoded, vocabularyCodes), max_hours: [maxOf(so.lastHours), maxOf(sd.lastHours)] };
}

function codesRow(original: readonly PatientRecord[], decoded: readonly PatientRecord[], vocab?: ReadonlySet<string>): RoundTripCodes | null {
  let admissions = 0;
  let exact = 0;
  let inVocab = 0;
  original.forEach((p, i) => {
    p.admissions.forEach((a, k) => {
      const got = decoded[i]!.admissions[k]?.codes ?? [];
      if (a.codes.length === 0 && got.length === 0) return;
      admissions++;
      if (got.join('\n') === a.codes.join('\n')) exact++;
      const kept = vocab ? a.codes.filter((c) => vocab.has(c)) : a.codes;
      if (got.join('\n') === kept.join('\n')) inVocab++;
    });
  });
  if (admissions === 0) return null;
  const r = codeFidelity(codeStatistics(original), codeStatistics(decoded)).ngramR;
  return { admissions, exact: exact / admissions, exact_in_vocabulary: inVocab / admissions, ngram_r: r };
}

function compare(field: string, a: number[], b: number[], within: number | null): RoundTripRow {
  const sa = Float64Array.from(a).sort();
  const sb = Float64Array.from(b).sort();
  const sdA = sdOf(sa);
  return {
    field,
    n: a.length,
    ks: sa.length > 0 && sb.length > 0 ? ksStatistic(sa, sb) : 1,
    mean: [mean(sa), mean(sb)],
    sd_ratio: sdA > 0 ? sdOf(sb) / sdA : sdOf(sb) === 0 ? 1 : Infinity,
    p1: [pick(sa, 0.01), pick(sb, 0.01)],
    p99: [pick(sa, 0.99), pick(sb, 0.99)],
    max: [maxOf(sa), maxOf(sb)],
    within_sd_ratio: within,
  };
}

interface Series {
  values: Map<string, number[]>;
  /** per variable, one within-patient sd per patient with 2+ numeric measurements */
  withinSd: Map<string, number[]>;
  /** gaps between consecutive distinct event hours of an admission, the first from hour 0 */
  gaps: number[];
  /** per admission with events, its latest event hour */
  lastHours: number[];
}

function seriesOf(records: readonly PatientRecord[]): Series {
  const values = new Map<string, number[]>();
  const withinSd = new Map<string, number[]>();
  const gaps: number[] = [];
  const lastHours: number[] = [];
  for (const r of records) {
    const perPatient = new Map<string, number[]>();
    for (const a of r.admissions) {
      let prev = 0;
      let step = Number.NaN;
      for (const e of a.events) {
        if (e.hours !== step) {
          gaps.push(gapHours(prev, e.hours));
          prev = step = e.hours;
        }
        if (typeof e.value !== 'number') continue;
        let xs = perPatient.get(e.variable);
        if (!xs) perPatient.set(e.variable, (xs = []));
        xs.push(e.value);
      }
      if (a.events.length > 0) lastHours.push(prev);
    }
    for (const [name, xs] of perPatient) {
      let pooled = values.get(name);
      if (!pooled) values.set(name, (pooled = []));
      for (const x of xs) pooled.push(x);
      if (xs.length < 2) continue;
      let w = withinSd.get(name);
      if (!w) withinSd.set(name, (w = []));
      w.push(sdOf(xs));
    }
  }
  return { values, withinSd, gaps, lastHours };
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : Number.NaN;
}

function sdOf(xs: ArrayLike<number>): number {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i]! - m) ** 2;
  return xs.length ? Math.sqrt(s / xs.length) : Number.NaN;
}

/** Nearest-rank quantile of ascending values. */
function pick(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function maxOf(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return xs.length ? m : Number.NaN;
}

const fmt = (x: number | null, d = 3): string => (x === null || !Number.isFinite(x) ? '—' : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(d));

/**
 * The table for the terminal. `short` keeps one line per field with the figures the targets are
 * set on (KS, sd ratio, within-patient sd ratio, max); the long form adds mean and p1/p99.
 */
export function formatRoundTripTable(t: RoundTripTable, short = false): string {
  const w = Math.max(12, ...t.rows.map((r) => r.field.length));
  const head = short
    ? `${'field'.padEnd(w)}      n     KS  sd ratio  within sd  max orig → decoded`
    : `${'field'.padEnd(w)}      n     KS  sd ratio  within sd        mean orig → decoded          p1 orig → decoded         p99 orig → decoded         max orig → decoded`;
  const lines = [head];
  for (const r of t.rows) {
    const pair = (p: [number, number]) => `${fmt(p[0], 2).padStart(9)} → ${fmt(p[1], 2).padEnd(9)}`;
    const base = `${r.field.padEnd(w)} ${String(r.n).padStart(6)} ${fmt(r.ks).padStart(6)} ${fmt(r.sd_ratio).padStart(9)} ${fmt(r.within_sd_ratio).padStart(10)}`;
    lines.push(short ? `${base}  ${pair(r.max)}` : `${base}  ${pair(r.mean)}  ${pair(r.p1)}  ${pair(r.p99)}  ${pair(r.max)}`);
  }
  const c = t.codes;
  if (c) {
    lines.push(
      `codes: ${c.admissions} admissions, ${(100 * c.exact).toFixed(1)}% exact in order (${(100 * c.exact_in_vocabulary).toFixed(1)}% of the codes the vocabulary holds); n-gram r ${c.ngram_r.map((x) => fmt(x)).join(' / ')}`,
    );
  }
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The table as an HTML section for report.html. */
export function renderRoundTripTable(t: RoundTripTable, caption: string): string {
  const td = (x: number | null, d = 3) => `<td class="num">${fmt(x, d)}</td>`;
  const pair = (p: [number, number]) => `${td(p[0], 2)}${td(p[1], 2)}`;
  const rows = t.rows
    .map((r) => `<tr><td>${esc(r.field)}</td>${td(r.n, 0)}${td(r.ks)}${td(r.sd_ratio)}${td(r.within_sd_ratio)}${pair(r.mean)}${pair(r.p1)}${pair(r.p99)}${pair(r.max)}</tr>`)
    .join('\n');
  const c = t.codes;
  const codes = c
    ? `<p class="note">Codes: ${c.admissions} admissions, ${(100 * c.exact).toFixed(1)}% exact in order (${(100 * c.exact_in_vocabulary).toFixed(1)}% of the codes the vocabulary holds); n-gram r ${c.ngram_r.map((x) => fmt(x)).join(' / ')}.</p>`
    : '';
  return `<h2>Round trip per field</h2>
<p class="note">${esc(caption)}</p>${codes}
<table><thead><tr><th>field</th><th>n</th><th>KS</th><th>sd ratio</th><th>within-patient sd ratio</th><th>mean orig</th><th>mean decoded</th><th>p1 orig</th><th>p1 decoded</th><th>p99 orig</th><th>p99 decoded</th><th>max orig</th><th>max decoded</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}
