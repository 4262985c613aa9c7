import { describe, expect, it } from 'vitest';
import type { PatientRecord } from '../../src/records/types.ts';
import {
  binCounts,
  codeFidelity,
  codeStatistics,
  marginalScores,
  timeSeriesFidelity,
  timeSeriesStatistics,
} from '../../src/evaluate/fidelity.ts';
import { sampleIndependentMarginals } from '../../src/evaluate/marginals.ts';
import { ksStatistic, pearson } from '../../src/evaluate/stats.ts';
import { Rng } from '../../src/util/rng.ts';
import { toyData, toyRecords } from './toy.ts';

function patient(id: string, admissions: { codes: string[]; events?: [number, string, number | string][] }[]): PatientRecord {
  return {
    id,
    covariates: {},
    labels: {},
    admissions: admissions.map((a, i) => ({
      id: `${id}-${i}`,
      codes: a.codes,
      events: (a.events ?? []).map(([hours, variable, value]) => ({ hours, variable, value })),
    })),
  };
}

describe('code statistics', () => {
  // patient 1: {A, B} then {B, C}; patient 2: {A, B, C}
  const recs = [patient('1', [{ codes: ['A', 'B'] }, { codes: ['B', 'C'] }]), patient('2', [{ codes: ['C', 'B', 'A'] }])];
  const s = codeStatistics(recs);

  it('prevalence, n-grams and sequential bigrams by hand', () => {
    expect(Object.fromEntries(s.prevalence)).toEqual({ A: 1, B: 1, C: 1 });
    // 3 admissions: A in 2, B in 3, C in 2
    expect(s.ngrams[0]!.get('A')).toBeCloseTo(2 / 3, 12);
    expect(s.ngrams[0]!.get('B')).toBe(1);
    // pairs: AB in 2 admissions, BC in 2, AC in 1
    expect(s.ngrams[1]!.get('A\u0001B')).toBeCloseTo(2 / 3, 12);
    expect(s.ngrams[1]!.get('A\u0001C')).toBeCloseTo(1 / 3, 12);
    expect(s.ngrams[2]!.get('A\u0001B\u0001C')).toBeCloseTo(1 / 3, 12);
    expect(s.ngrams[2]!.size).toBe(1);
    // one consecutive pair of admissions: {A,B} → {B,C}: AB, AC, BB, BC, each once
    expect(Object.fromEntries(s.sequentialBigrams)).toEqual({ 'A\u0002B': 1, 'A\u0002C': 1, 'B\u0002B': 1, 'B\u0002C': 1 });
    expect(Object.fromEntries(s.admissionsPerPatient)).toEqual({ 1: 1, 2: 1 });
    expect(Object.fromEntries(s.codesPerAdmission)).toEqual({ 2: 2, 3: 1 });
  });

  it('identical sets: every r is 1 and every JSD 0; codes no one shares: r < 0', () => {
    const f = codeFidelity(s, codeStatistics(recs));
    expect(f.prevalenceR).toBeNaN(); // all prevalences equal 1: a constant vector has no correlation
    expect(f.ngramR[0]).toBeCloseTo(1, 12);
    expect(f.ngramR[1]).toBeCloseTo(1, 12);
    expect(f.jsdCodesPerAdmission).toBe(0);
    expect(f.jsdAdmissionsPerPatient).toBe(0);
    const other = codeStatistics([patient('3', [{ codes: ['X', 'Y'] }, { codes: ['Z'] }])]);
    const g = codeFidelity(s, other);
    expect(g.ngramR[0]).toBeLessThan(0);
    expect(g.sequentialBigramR).toBeLessThan(0);
  });
});

describe('time-series statistics', () => {
  it('forward fill: correlation over time steps where both variables have a value so far', () => {
    // steps: t0 HR=1; t1 SBP=10; t2 HR=2; t3 HR=3, SBP=20. Rows with both: (1,10), (2,10), (3,20)
    const recs = [patient('1', [{ codes: [], events: [[0, 'HR', 1], [1, 'SBP', 10], [2, 'HR', 2], [3, 'HR', 3], [3, 'SBP', 20]] }])];
    const data = { ...toyData, variables: toyData.variables.slice(0, 2) };
    const ts = timeSeriesStatistics(recs, data);
    expect(ts.variables).toEqual(['HR', 'SBP']);
    expect(ts.correlation[1]!).toBeCloseTo(pearson([1, 2, 3], [10, 10, 20]), 12);
    expect(Array.from(ts.gaps)).toEqual([0, 1, 1, 1]);
    expect(Array.from(ts.measurementsPerPatient.get('HR')!)).toEqual([3]);
  });

  it('matches a naive forward fill (explicit rows, pairwise-complete Pearson) on random records', () => {
    const recs = toyRecords(40, 8);
    const ts = timeSeriesStatistics(recs, toyData);
    const V = ts.variables.length;
    const rows: (number | undefined)[][] = [];
    for (const r of recs) {
      for (const a of r.admissions) {
        const cur: (number | undefined)[] = new Array(V).fill(undefined);
        const hours = [...new Set(a.events.map((e) => e.hours))];
        for (const h of hours) {
          for (const e of a.events) if (e.hours === h && ts.variables.includes(e.variable)) cur[ts.variables.indexOf(e.variable)] = e.value as number;
          rows.push(cur.slice());
        }
      }
    }
    let checked = 0;
    for (let i = 0; i < V; i++) {
      for (let j = 0; j < i; j++) {
        const both = rows.filter((row) => row[i] !== undefined && row[j] !== undefined);
        const expected = pearson(both.map((row) => row[i]!), both.map((row) => row[j]!));
        expect(ts.correlation[i * V + j]!, `${ts.variables[i]} × ${ts.variables[j]}`).toBeCloseTo(expected, 9);
        checked++;
      }
    }
    expect(checked).toBe(3);
  });

  it('TCD: 0 for identical sets, 2 when a perfect correlation flips sign', () => {
    const data = { ...toyData, variables: toyData.variables.slice(0, 2) };
    const up = [patient('1', [{ codes: [], events: [[0, 'HR', 1], [0, 'SBP', 1], [1, 'HR', 2], [1, 'SBP', 2], [2, 'HR', 3], [2, 'SBP', 3]] }])];
    const down = [patient('2', [{ codes: [], events: [[0, 'HR', 1], [0, 'SBP', 3], [1, 'HR', 2], [1, 'SBP', 2], [2, 'HR', 3], [2, 'SBP', 1]] }])];
    const a = timeSeriesStatistics(up, data);
    expect(timeSeriesFidelity(a, timeSeriesStatistics(up, data)).tcd).toBe(0);
    expect(timeSeriesFidelity(a, timeSeriesStatistics(down, data)).tcd).toBeCloseTo(2, 12);
  });

  it('gap bins follow HALO edges: v ≤ edge[0] is bin 0, edges[i−1] < v ≤ edges[i] is bin i', () => {
    expect(Object.fromEntries(binCounts([0, 0.5, 0.6, 1000], [0, 0.5, 1.5]))).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1 });
  });
});

describe('marginal scores', () => {
  it('KSComplement of a shifted variable is 1 − the brute-force KS of the pooled values', () => {
    const real = toyRecords(200, 1);
    const shifted = toyRecords(200, 2, 15);
    const scores = marginalScores(real, shifted, toyData);
    const hr = scores.find((s) => s.field === 'var:HR')!;
    const pool = (rs: PatientRecord[]) => rs.flatMap((r) => r.admissions.flatMap((a) => a.events.filter((e) => e.variable === 'HR').map((e) => e.value as number)));
    expect(hr.metric).toBe('KSComplement');
    expect(hr.score).toBeCloseTo(1 - ksStatistic(pool(real), pool(shifted)), 12);
    expect(hr.score).toBeLessThan(0.6);
    const same = marginalScores(real, real, toyData);
    expect(same.every((s) => s.score === 1)).toBe(true);
    expect(scores.map((s) => s.field)).toEqual(['var:HR', 'var:SBP', 'var:Temp', 'var:Vent', 'cov:age', 'cov:sex', 'label:death']);
  });
});

describe('sampleIndependentMarginals', () => {
  const train = toyRecords(400, 5);
  const floor = sampleIndependentMarginals(train, 400, new Rng(1), toyData);

  it('keeps each field marginal (TVComplement/KSComplement near 1)', () => {
    for (const s of marginalScores(train, floor, toyData)) expect(s.score, s.field).toBeGreaterThan(0.85);
  });
  it('destroys dependence: HR–SBP correlation and A1–A2 co-occurrence fade', () => {
    const rTs = timeSeriesStatistics(train, toyData);
    const fTs = timeSeriesStatistics(floor, toyData);
    expect(rTs.correlation[1]!).toBeLessThan(-0.5);
    expect(Math.abs(fTs.correlation[1]!)).toBeLessThan(0.15);
    const rc = codeStatistics(train).ngrams[1]!.get('X:A1\u0001X:A2')!;
    const fc = codeStatistics(floor).ngrams[1]!.get('X:A1\u0001X:A2') ?? 0;
    expect(fc).toBeLessThan(rc / 2);
  });
  it('keeps how often a label is left out, and how often a covariate is missing', () => {
    const some = train.map((r, i) => (i % 2 ? r : { ...r, labels: {} }));
    const f = sampleIndependentMarginals(some, 2000, new Rng(2), toyData);
    const share = f.filter((r) => 'death' in r.labels).length / f.length;
    expect(Math.abs(share - 0.5)).toBeLessThan(0.04);
    const missing = (rs: PatientRecord[]) => rs.filter((r) => r.covariates['sex'] === null).length / rs.length;
    expect(Math.abs(missing(f) - missing(train))).toBeLessThan(0.03);
  });
  it('writes valid records: sorted non-negative times, distinct codes per admission', () => {
    const problems: string[] = [];
    for (const r of floor) {
      if (r.admissions.length === 0) problems.push(`${r.id}: no admission`);
      for (const a of r.admissions) {
        if (new Set(a.codes).size !== a.codes.length) problems.push(`${a.id}: repeated code`);
        a.events.forEach((e, i) => {
          if (e.hours < 0 || (i > 0 && e.hours < a.events[i - 1]!.hours)) problems.push(`${a.id}: event ${i} at ${e.hours} h out of order`);
        });
      }
    }
    expect(problems).toEqual([]);
  });
});
