import type { PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import {
  counts,
  finiteMean,
  jensenShannon,
  ksComplement,
  pearson,
  pearsonOverKeys,
  tvComplement,
} from './stats.ts';
import { timeSteps } from './marginals.ts';
import { gapHours } from '../records/time.ts';

/**
 * Statistical fidelity of a candidate set against the real training records: marginals per field,
 * code statistics (SynEHRgy / HALO), and time-series statistics. Everything here reads records;
 * the feature-space metrics (PRDC, detection) live in proximity.ts and detection.ts.
 */

export interface FieldScore {
  /** "var:HR", "cov:Age", "label:in_hospital_death" */
  field: string;
  /** KSComplement for numeric fields, TVComplement for discrete ones */
  metric: 'KSComplement' | 'TVComplement';
  score: number;
}

/**
 * Per-field marginal similarity. Continuous variables pool every measurement of the variable;
 * categorical variables compare their value frequencies; numeric covariates compare non-missing
 * values (KS), categorical ones their categories with "missing" as one more (TV); labels with
 * declared values by TV, other labels by KS.
 */
export function marginalScores(real: readonly PatientRecord[], syn: readonly PatientRecord[], data: DataConfig): FieldScore[] {
  const out: FieldScore[] = [];
  const rv = pooledValues(real);
  const sv = pooledValues(syn);
  for (const v of data.variables) {
    const r = rv.get(v.name) ?? [];
    const s = sv.get(v.name) ?? [];
    if (v.type === 'continuous') {
      out.push({ field: `var:${v.name}`, metric: 'KSComplement', score: ksComplement(r.map(Number), s.map(Number)) });
    } else {
      out.push({ field: `var:${v.name}`, metric: 'TVComplement', score: tvComplement(r.map(String), s.map(String)) });
    }
  }
  for (const c of data.covariates) {
    const r = real.map((p) => p.covariates[c.name] ?? null);
    const s = syn.map((p) => p.covariates[c.name] ?? null);
    if (c.type === 'numeric') {
      const num = (a: (number | string | null)[]) => a.filter((v) => v !== null && v !== '').map(Number).filter(Number.isFinite);
      out.push({ field: `cov:${c.name}`, metric: 'KSComplement', score: ksComplement(num(r), num(s)) });
    } else {
      const cat = (a: (number | string | null)[]) => a.map((v) => (v === null ? '\u0000missing' : String(v)));
      out.push({ field: `cov:${c.name}`, metric: 'TVComplement', score: tvComplement(cat(r), cat(s)) });
    }
  }
  for (const l of data.labels) {
    // a label left out of a record is absent, not a category: compare the records that carry it
    const r = real.flatMap((p) => (typeof p.labels[l.name] === 'number' ? [p.labels[l.name]!] : []));
    const s = syn.flatMap((p) => (typeof p.labels[l.name] === 'number' ? [p.labels[l.name]!] : []));
    // declared values make a label discrete (0/1 outcomes); an undeclared one (length of stay) is numeric
    if (l.values) out.push({ field: `label:${l.name}`, metric: 'TVComplement', score: tvComplement(r, s) });
    else out.push({ field: `label:${l.name}`, metric: 'KSComplement', score: ksComplement(r, s) });
  }
  return out;
}

/** Every measurement value per variable, all patients and admissions pooled. */
export function pooledValues(records: readonly PatientRecord[]): Map<string, (number | string)[]> {
  const out = new Map<string, (number | string)[]>();
  for (const r of records) {
    for (const a of r.admissions) {
      for (const e of a.events) {
        let pool = out.get(e.variable);
        if (!pool) out.set(e.variable, (pool = []));
        pool.push(e.value);
      }
    }
  }
  return out;
}

/** Trigrams grow as C(codes, 3) per admission: beyond this many codes an admission's first ones are used. */
const MAX_CODES_PER_ADMISSION_FOR_NGRAMS = 40;

export interface CodeStatistics {
  /** per code, the share of patients with it at least once */
  prevalence: Map<string, number>;
  /** per n = 1..3, the share of admissions holding each unordered set of n distinct codes */
  ngrams: Map<string, number>[];
  /** per ordered pair (code in admission t, code in admission t+1), its share of consecutive admission pairs */
  sequentialBigrams: Map<string, number>;
  /** counts of admissions per patient, of codes per admission */
  admissionsPerPatient: Map<number, number>;
  codesPerAdmission: Map<number, number>;
}

/**
 * The code statistics HALO (Theodorou et al. 2023) and SynEHRgy compare: code probabilities per
 * visit for uni-, bi- and trigrams (co-occurrence inside one admission) and sequential bigrams
 * across consecutive admissions, each a share of the admissions (or admission pairs).
 */
export function codeStatistics(records: readonly PatientRecord[]): CodeStatistics {
  const prevalence = new Map<string, number>();
  const ngrams = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
  const seq = new Map<string, number>();
  const apd: number[] = [];
  const cpa: number[] = [];
  let nAdm = 0;
  let nPairs = 0;
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const r of records) {
    apd.push(r.admissions.length);
    const patientCodes = new Set<string>();
    let prev: string[] | null = null;
    for (const a of r.admissions) {
      cpa.push(a.codes.length);
      nAdm++;
      const u = [...new Set(a.codes)].slice(0, MAX_CODES_PER_ADMISSION_FOR_NGRAMS).sort();
      for (const c of u) patientCodes.add(c);
      for (let i = 0; i < u.length; i++) {
        bump(ngrams[0]!, u[i]!);
        for (let j = i + 1; j < u.length; j++) {
          bump(ngrams[1]!, `${u[i]}\u0001${u[j]}`);
          for (let k = j + 1; k < u.length; k++) bump(ngrams[2]!, `${u[i]}\u0001${u[j]}\u0001${u[k]}`);
        }
      }
      if (prev) {
        nPairs++;
        for (const c1 of prev) for (const c2 of u) bump(seq, `${c1}\u0002${c2}`);
      }
      prev = u;
    }
    for (const c of patientCodes) bump(prevalence, c);
  }
  const scale = (m: Map<string, number>, by: number) => {
    if (by > 0) for (const [k, v] of m) m.set(k, v / by);
    return m;
  };
  return {
    prevalence: scale(prevalence, records.length),
    ngrams: ngrams.map((m) => scale(m, nAdm)),
    sequentialBigrams: scale(seq, nPairs),
    admissionsPerPatient: counts(apd),
    codesPerAdmission: counts(cpa),
  };
}

export interface CodeFidelity {
  /** Pearson r of per-code patient prevalence (NaN when neither set has codes) */
  prevalenceR: number;
  /** Pearson r of n-gram probabilities, n = 1, 2, 3 */
  ngramR: [number, number, number];
  sequentialBigramR: number;
  /** JSD (bits) of the distributions of codes per admission and of admissions per patient */
  jsdCodesPerAdmission: number;
  jsdAdmissionsPerPatient: number;
}

export function codeFidelity(real: CodeStatistics, syn: CodeStatistics): CodeFidelity {
  return {
    prevalenceR: pearsonOverKeys(real.prevalence, syn.prevalence),
    ngramR: [0, 1, 2].map((i) => pearsonOverKeys(real.ngrams[i]!, syn.ngrams[i]!)) as [number, number, number],
    sequentialBigramR: pearsonOverKeys(real.sequentialBigrams, syn.sequentialBigrams),
    jsdCodesPerAdmission: jensenShannon(real.codesPerAdmission, syn.codesPerAdmission),
    jsdAdmissionsPerPatient: jensenShannon(real.admissionsPerPatient, syn.admissionsPerPatient),
  };
}

/** HALO's gap edges in hours, which SynEHRgy's tokenizer also uses. */
export const GAP_EDGES = [0, 0.5, 1.5, 2.5, 3.5, 6.5, 10.5, 16.5, 26.5, 48, 48.1, 60.1, 80.1, 110.1, 150.1, 200.1];

export interface TimeSeriesStatistics {
  /** continuous variables in data-config order: the rows and columns of `correlation` */
  variables: string[];
  /** Pearson correlation of forward-filled values, [V, V] row-major; NaN where a pair never co-occurs */
  correlation: Float64Array;
  /** per variable, measurements per patient (all admissions), one entry per patient */
  measurementsPerPatient: Map<string, Float64Array>;
  /** pooled gaps between consecutive time steps of an admission (the first from the admission start), hours */
  gaps: Float64Array;
}

/**
 * Forward-filled correlation: each time step of an admission is one row holding, per continuous
 * variable, its latest value so far in that admission (none before its first measurement); the
 * Pearson correlation of each pair is taken over the rows where both have a value. This is the
 * matrix TCD compares (SynEHRgy, after the time-series evaluation of TimEHR).
 */
export function timeSeriesStatistics(records: readonly PatientRecord[], data: DataConfig): TimeSeriesStatistics {
  const variables = data.variables.filter((v) => v.type === 'continuous').map((v) => v.name);
  const V = variables.length;
  const index = new Map(variables.map((v, i) => [v, i] as const));
  // per pair (a, b), a > b: n, Σx, Σy, Σxx, Σyy, Σxy over rows where both are present
  const acc = new Float64Array(V * V * 6);
  const last = new Float64Array(V);
  const present = new Int32Array(V);
  // A pair's row contributions only change when one of its two values does, so each pair keeps
  // the step since which its current values have stood and is flushed (count × contribution) when
  // one of them changes or the admission ends: O(changes × V) per admission, not O(steps × V²).
  const since = new Int32Array(V * V);
  const flush = (ia: number, ib: number, step: number) => {
    const [a, b] = ia > ib ? [ia, ib] : [ib, ia];
    const w = step - since[a * V + b]!;
    since[a * V + b] = step;
    if (w <= 0) return;
    const o = (a * V + b) * 6;
    const x = last[a]!;
    const y = last[b]!;
    acc[o]! += w;
    acc[o + 1]! += w * x;
    acc[o + 2]! += w * y;
    acc[o + 3]! += w * x * x;
    acc[o + 4]! += w * y * y;
    acc[o + 5]! += w * x * y;
  };
  const perPatient = new Map<string, Float64Array>();
  for (const v of data.variables) perPatient.set(v.name, new Float64Array(records.length));
  const gaps: number[] = [];
  const on = new Uint8Array(V);
  const changed = new Uint8Array(V);
  records.forEach((r, p) => {
    for (const a of r.admissions) {
      let np = 0;
      on.fill(0);
      let prev = 0;
      let step = 0;
      for (const ts of timeSteps(a.events)) {
        gaps.push(gapHours(prev, ts.hours));
        prev = ts.hours;
        const fresh: number[] = [];
        for (const e of ts.events) {
          const cnt = perPatient.get(e.variable);
          if (cnt) cnt[p]!++;
          const i = index.get(e.variable);
          if (i === undefined || typeof e.value !== 'number' || changed[i]) continue;
          changed[i] = 1;
          fresh.push(i);
        }
        // close the rows before this step for every pair touching a changed variable
        for (const i of fresh) if (on[i]) for (let s = 0; s < np; s++) if (present[s] !== i) flush(i, present[s]!, step);
        for (const i of fresh) {
          changed[i] = 0;
          if (!on[i]) {
            on[i] = 1;
            present[np++] = i;
            for (let s = 0; s < np - 1; s++) {
              const j = present[s]!;
              since[i > j ? i * V + j : j * V + i] = step;
            }
          }
        }
        // a variable measured twice at one time stamp keeps its last value, as a forward fill would
        for (const e of ts.events) {
          const i = index.get(e.variable);
          if (i !== undefined && typeof e.value === 'number') last[i] = e.value;
        }
        step++;
      }
      for (let s = 0; s < np; s++) for (let t = 0; t < s; t++) flush(present[s]!, present[t]!, step);
    }
  });
  const correlation = new Float64Array(V * V).fill(NaN);
  for (let a = 0; a < V; a++) {
    correlation[a * V + a] = 1;
    for (let b = 0; b < a; b++) {
      const o = (a * V + b) * 6;
      const n = acc[o]!;
      let r = NaN;
      if (n >= 2) {
        const cov = acc[o + 5]! - (acc[o + 1]! * acc[o + 2]!) / n;
        const vx = acc[o + 3]! - (acc[o + 1]! * acc[o + 1]!) / n;
        const vy = acc[o + 4]! - (acc[o + 2]! * acc[o + 2]!) / n;
        // relative guards: a constant variable has no correlation, not a rounding-noise one
        if (vx > 1e-12 * Math.max(1, acc[o + 3]!) && vy > 1e-12 * Math.max(1, acc[o + 4]!)) r = cov / Math.sqrt(vx * vy);
      }
      correlation[a * V + b] = r;
      correlation[b * V + a] = r;
    }
  }
  return { variables, correlation, measurementsPerPatient: perPatient, gaps: Float64Array.from(gaps) };
}

export interface TimeSeriesFidelity {
  /** mean |C_real − C_syn| over the lower triangle where both are defined (0 is best) */
  tcd: number;
  /** per variable, KSComplement of measurements per patient */
  measurementCountScores: { variable: string; score: number }[];
  /** Pearson r across variables of the mean number of measurements per patient */
  measurementCountR: number;
  /** KSComplement of the pooled time gaps */
  gapKSComplement: number;
  /** JSD (bits) of the time gaps binned on HALO's edges */
  gapJSD: number;
}

export function timeSeriesFidelity(real: TimeSeriesStatistics, syn: TimeSeriesStatistics): TimeSeriesFidelity {
  const V = real.variables.length;
  const diffs: number[] = [];
  for (let a = 0; a < V; a++) {
    for (let b = 0; b < a; b++) {
      const d = Math.abs(real.correlation[a * V + b]! - syn.correlation[a * V + b]!);
      if (Number.isFinite(d)) diffs.push(d);
    }
  }
  const measurementCountScores: { variable: string; score: number }[] = [];
  const meanReal: number[] = [];
  const meanSyn: number[] = [];
  for (const [v, r] of real.measurementsPerPatient) {
    const s = syn.measurementsPerPatient.get(v) ?? new Float64Array(0);
    measurementCountScores.push({ variable: v, score: ksComplement(r, s) });
    meanReal.push(finiteMean(r));
    meanSyn.push(finiteMean(s));
  }
  return {
    tcd: finiteMean(diffs),
    measurementCountScores,
    measurementCountR: pearson(meanReal, meanSyn),
    gapKSComplement: ksComplement(real.gaps, syn.gaps),
    gapJSD: jensenShannon(binCounts(real.gaps, GAP_EDGES), binCounts(syn.gaps, GAP_EDGES)),
  };
}

/** Counts per bin, where bin i holds edges[i−1] < v ≤ edges[i] (bin 0: v ≤ edges[0]; last: beyond). */
export function binCounts(values: ArrayLike<number>, edges: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let b = 0;
    while (b < edges.length && v > edges[b]!) b++;
    out.set(b, (out.get(b) ?? 0) + 1);
  }
  return out;
}

