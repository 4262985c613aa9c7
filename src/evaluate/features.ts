import type { PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';

/**
 * Per-patient feature vectors: what PRDC, detection, the distance-based privacy metrics and the
 * utility classifiers see of a record. Notation: N = patients, D = feature columns.
 *
 * Each patient becomes one row of
 * - covariates: a numeric one as its value, a categorical one one-hot, each with a missing indicator;
 * - per continuous variable (all admissions pooled): min, max, mean, std, and a missing indicator
 *   (no measurement at all; the four statistics are then imputed with the training mean);
 * - per categorical variable: the share of its measurements taking each value, and a missing indicator;
 * - shape: number of admissions, of codes, of measurements; presence of the most frequent codes;
 * - labels, when asked for (detection and privacy see them, utility must not).
 * Columns are standardized with the training split's mean and standard deviation, so every
 * candidate set is measured in the same space and no column dominates the Euclidean distance.
 */
export interface Matrix {
  /** rows */
  n: number;
  /** columns */
  d: number;
  /** row-major values, [n, d] */
  x: Float64Array;
}

export function matrix(n: number, d: number): Matrix {
  return { n, d, x: new Float64Array(n * d) };
}

/** The rows `idx` of `m`, in that order. */
export function takeRows(m: Matrix, idx: ArrayLike<number>): Matrix {
  const out = matrix(idx.length, m.d);
  for (let r = 0; r < idx.length; r++) out.x.set(m.x.subarray(idx[r]! * m.d, (idx[r]! + 1) * m.d), r * m.d);
  return out;
}

/** The columns `cols` of `m`. */
export function takeColumns(m: Matrix, cols: ArrayLike<number>): Matrix {
  const out = matrix(m.n, cols.length);
  for (let r = 0; r < m.n; r++) {
    for (let c = 0; c < cols.length; c++) out.x[r * cols.length + c] = m.x[r * m.d + cols[c]!]!;
  }
  return out;
}

/** Rows of `a` then rows of `b`. */
export function stackRows(a: Matrix, b: Matrix): Matrix {
  if (a.d !== b.d) throw new RangeError(`stackRows: column counts differ (${a.d} vs ${b.d})`);
  const out = matrix(a.n + b.n, a.d);
  out.x.set(a.x, 0);
  out.x.set(b.x, a.x.length);
  return out;
}

export interface FeatureOptions {
  /** include the labels as columns (true for detection and privacy, false for utility) */
  labels: boolean;
  /** presence columns for this many of the most frequent training codes */
  topCodes: number;
}

/** A feature layout fitted on the training split. */
export interface FeatureEncoder {
  /** column names, e.g. "var:HR:mean", "cov:Gender=1", "cov:Age:missing" */
  names: string[];
  /** per column, the field it came from ("cov:Gender", "var:HR", "label:in_hospital_death", "codes", "shape") */
  groups: string[];
  /** standardized feature rows of `records`, [N, D] */
  encode(records: readonly PatientRecord[]): Matrix;
}

const STATS = ['min', 'max', 'mean', 'std'] as const;

/**
 * Fit the layout, the imputation values and the standardization on `train`. Categories are the
 * data config's declared values, else those seen in training; unseen ones in a candidate set are
 * simply not counted (every one-hot column is then 0), which detection can still notice.
 */
export function fitFeatureEncoder(
  train: readonly PatientRecord[],
  data: DataConfig,
  opts: FeatureOptions,
): FeatureEncoder {
  const names: string[] = [];
  const groups: string[] = [];
  const add = (group: string, name: string): number => {
    names.push(name);
    groups.push(group);
    return names.length - 1;
  };

  type Fill = (rec: PatientRecord, row: Float64Array, perVar: Map<string, VarSummary>) => void;
  const fills: Fill[] = [];
  // raw columns whose value is "missing" are NaN until imputation
  for (const cov of data.covariates) {
    const g = `cov:${cov.name}`;
    if (cov.type === 'numeric') {
      const c = add(g, g);
      const m = add(g, `${g}:missing`);
      fills.push((rec, row) => {
        const v = rec.covariates[cov.name];
        const num = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
        row[c] = Number.isFinite(num) ? num : NaN;
        row[m] = Number.isFinite(num) ? 0 : 1;
      });
    } else {
      const values = cov.values ?? distinct(train.map((r) => r.covariates[cov.name]).filter((v) => v !== null && v !== undefined).map(String));
      const cols = new Map(values.map((v) => [v, add(g, `${g}=${v}`)] as const));
      const m = add(g, `${g}:missing`);
      fills.push((rec, row) => {
        const v = rec.covariates[cov.name];
        if (v === null || v === undefined) {
          row[m] = 1;
          return;
        }
        const c = cols.get(String(v));
        if (c !== undefined) row[c] = 1;
      });
    }
  }
  for (const v of data.variables) {
    const g = `var:${v.name}`;
    if (v.type === 'continuous') {
      const cols = STATS.map((s) => add(g, `${g}:${s}`));
      const m = add(g, `${g}:missing`);
      fills.push((_rec, row, perVar) => {
        const s = perVar.get(v.name);
        if (!s || s.n === 0) {
          for (const c of cols) row[c] = NaN;
          row[m] = 1;
          return;
        }
        const mu = s.sum / s.n;
        row[cols[0]!] = s.min;
        row[cols[1]!] = s.max;
        row[cols[2]!] = mu;
        row[cols[3]!] = Math.sqrt(Math.max(0, s.sumSq / s.n - mu * mu));
      });
    } else {
      const seen = new Set<string>(v.values ?? []);
      if (!v.values) for (const r of train) for (const a of r.admissions) for (const e of a.events) if (e.variable === v.name) seen.add(String(e.value));
      const cols = new Map([...seen].map((val) => [val, add(g, `${g}=${val}`)] as const));
      const m = add(g, `${g}:missing`);
      fills.push((_rec, row, perVar) => {
        const s = perVar.get(v.name);
        if (!s || s.n === 0) {
          row[m] = 1;
          return;
        }
        for (const [val, cnt] of s.cats) {
          const c = cols.get(val);
          if (c !== undefined) row[c] = cnt / s.n;
        }
      });
    }
  }
  if (opts.labels) {
    for (const l of data.labels) {
      const c = add(`label:${l.name}`, `label:${l.name}`);
      fills.push((rec, row) => {
        const y = rec.labels[l.name];
        row[c] = typeof y === 'number' ? y : NaN;
      });
    }
  }
  const shapeCols = ['admissions', 'codes', 'measurements'].map((s) => add('shape', `shape:${s}`));
  fills.push((rec, row) => {
    let nc = 0;
    let ne = 0;
    for (const a of rec.admissions) {
      nc += a.codes.length;
      ne += a.events.length;
    }
    row[shapeCols[0]!] = rec.admissions.length;
    row[shapeCols[1]!] = nc;
    row[shapeCols[2]!] = ne;
  });
  if (opts.topCodes > 0) {
    const codeCounts = new Map<string, number>();
    for (const r of train) {
      const s = new Set<string>();
      for (const a of r.admissions) for (const c of a.codes) s.add(c);
      for (const c of s) codeCounts.set(c, (codeCounts.get(c) ?? 0) + 1);
    }
    const top = [...codeCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, opts.topCodes);
    const cols = new Map(top.map(([code]) => [code, add('codes', `code:${code}`)] as const));
    fills.push((rec, row) => {
      for (const a of rec.admissions) {
        for (const code of a.codes) {
          const c = cols.get(code);
          if (c !== undefined) row[c] = 1;
        }
      }
    });
  }

  const D = names.length;
  const raw = (records: readonly PatientRecord[]): Matrix => {
    const m = matrix(records.length, D);
    for (let i = 0; i < records.length; i++) {
      const row = m.x.subarray(i * D, (i + 1) * D);
      const perVar = summarizeVariables(records[i]!);
      for (const f of fills) f(records[i]!, row, perVar);
    }
    return m;
  };

  // imputation value and standardization per column, from the training rows
  const t = raw(train);
  const mu = new Float64Array(D);
  const sd = new Float64Array(D);
  for (let c = 0; c < D; c++) {
    let s = 0;
    let n = 0;
    for (let i = 0; i < t.n; i++) {
      const v = t.x[i * D + c]!;
      if (!Number.isNaN(v)) {
        s += v;
        n++;
      }
    }
    mu[c] = n ? s / n : 0;
    let ss = 0;
    for (let i = 0; i < t.n; i++) {
      const v = t.x[i * D + c]!;
      if (!Number.isNaN(v)) ss += (v - mu[c]!) ** 2;
    }
    // a constant column carries no information; dividing by 1 keeps it at 0 instead of NaN
    sd[c] = n > 1 && ss > 0 ? Math.sqrt(ss / n) : 1;
  }
  return {
    names,
    groups,
    encode(records) {
      const m = raw(records);
      for (let i = 0; i < m.n; i++) {
        for (let c = 0; c < D; c++) {
          const k = i * D + c;
          const v = m.x[k]!;
          // missing → training mean → 0 after standardization; the indicator column keeps the fact
          m.x[k] = Number.isNaN(v) ? 0 : (v - mu[c]!) / sd[c]!;
        }
      }
      return m;
    },
  };
}

interface VarSummary {
  n: number;
  min: number;
  max: number;
  sum: number;
  sumSq: number;
  cats: Map<string, number>;
}

function summarizeVariables(rec: PatientRecord): Map<string, VarSummary> {
  const out = new Map<string, VarSummary>();
  for (const a of rec.admissions) {
    for (const e of a.events) {
      let s = out.get(e.variable);
      if (!s) {
        s = { n: 0, min: Infinity, max: -Infinity, sum: 0, sumSq: 0, cats: new Map() };
        out.set(e.variable, s);
      }
      s.n++;
      if (typeof e.value === 'number') {
        if (e.value < s.min) s.min = e.value;
        if (e.value > s.max) s.max = e.value;
        s.sum += e.value;
        s.sumSq += e.value * e.value;
      } else {
        s.cats.set(e.value, (s.cats.get(e.value) ?? 0) + 1);
      }
    }
  }
  return out;
}

function distinct(values: string[]): string[] {
  return [...new Set(values)].sort();
}
