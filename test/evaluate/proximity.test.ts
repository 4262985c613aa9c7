import { describe, expect, it } from 'vitest';
import { matrix, takeRows, type Matrix } from '../../src/evaluate/features.ts';
import { kNearest } from '../../src/evaluate/neighbours.ts';
import { adversarialAccuracy, attributeInference, exactCopyRate, proximity, recordKey } from '../../src/evaluate/proximity.ts';
import { Rng } from '../../src/util/rng.ts';
import { toyRecords } from './toy.ts';

function column(values: number[]): Matrix {
  return { n: values.length, d: 1, x: Float64Array.from(values) };
}

function gaussian(n: number, d: number, seed: number, shift = 0): Matrix {
  const rng = new Rng(seed);
  const m = matrix(n, d);
  for (let i = 0; i < m.x.length; i++) m.x[i] = rng.normal() + shift;
  return m;
}

describe('kNearest', () => {
  it('agrees with sorting every distance', () => {
    const a = gaussian(30, 3, 1);
    const b = gaussian(40, 3, 2);
    const k = 4;
    const got = kNearest(a, b, k);
    for (let i = 0; i < a.n; i++) {
      const all: number[] = [];
      for (let j = 0; j < b.n; j++) {
        let s = 0;
        for (let c = 0; c < 3; c++) s += (a.x[i * 3 + c]! - b.x[j * 3 + c]!) ** 2;
        all.push(s);
      }
      all.sort((p, q) => p - q);
      for (let t = 0; t < k; t++) expect(got[i * k + t]!).toBeCloseTo(all[t]!, 12);
    }
  });
  it('EXPECTED FAILURE - k larger than the reference set', () => {
    expect(() => kNearest(column([1, 2]), column([1, 2]), 2, true)).toThrow(/k = 2 but only 1 reference rows/);
  });
});

describe('PRDC', () => {
  it('on a 1-D toy worked by hand: real 0,1,2,3 and fake 0.5,10 with k = 1', () => {
    // real radii (1st other neighbour): 1,1,1,1. fake radii: 9.5, 9.5.
    // precision: 0.5 is inside B(0,1) → 1 of 2. density: 0.5 lies in B(0,1) and B(1,1) → 2/(1·2) = 1.
    // coverage: real 0 and 1 have a fake within 1 → 2 of 4. recall: every real point is within 9.5 of 0.5 → 1.
    const p = proximity(column([0, 1, 2, 3]), column([0.5, 10]), column([5]), 1, new Rng(1)).prdc;
    expect(p).toEqual({ precision: 0.5, recall: 1, density: 1, coverage: 0.5 });
  });
  it('identical sets score precision = recall = coverage = density = 1', () => {
    const x = gaussian(200, 4, 3);
    const p = proximity(x, x, gaussian(50, 4, 4), 5, new Rng(1)).prdc;
    expect(p.precision).toBe(1);
    expect(p.recall).toBe(1);
    expect(p.coverage).toBe(1);
    expect(p.density).toBeCloseTo(1, 12);
  });
  it('disjoint sets score 0 everywhere', () => {
    const p = proximity(gaussian(100, 2, 5), gaussian(100, 2, 6, 100), gaussian(20, 2, 7), 5, new Rng(1)).prdc;
    expect(p).toEqual({ precision: 0, recall: 0, density: 0, coverage: 0 });
  });
});

describe('distance-based privacy', () => {
  const train = gaussian(400, 5, 10);
  const holdout = gaussian(400, 5, 11);
  const fresh = gaussian(400, 5, 12);

  it('a copy of the training set: DCR 0, all closer to train, protection 0, NNDR 0, membership AUROC 1', () => {
    const r = proximity(train, train, holdout, 5, new Rng(2));
    expect(Math.max(...r.dcrTrain)).toBe(0);
    expect(r.shareCloserToTrain).toBe(1);
    expect(r.dcrOverfittingProtection).toBe(0);
    expect(r.nndrMean).toBe(0);
    expect(r.miaAuroc).toBe(1);
  });
  it('a fresh sample from the same distribution: about half closer to train, protection near 1, AUROC near 0.5', () => {
    const r = proximity(train, fresh, holdout, 5, new Rng(2));
    expect(Math.abs(r.shareCloserToTrain - 0.5)).toBeLessThan(0.07);
    expect(r.dcrOverfittingProtection).toBeGreaterThan(0.85);
    expect(Math.abs(r.miaAuroc - 0.5)).toBeLessThan(0.07);
    expect(Math.abs(r.dcrTrainMedian - r.dcrHoldoutMedian)).toBeLessThan(0.15 * r.dcrHoldoutMedian);
    expect(r.nndrMean).toBeGreaterThan(0.5);
  });
  it('one planted exact copy shows as a zero DCR for that row only', () => {
    const cand = takeRows(fresh, Array.from({ length: 400 }, (_, i) => i));
    cand.x.set(train.x.subarray(7 * 5, 8 * 5), 3 * 5);
    const r = proximity(train, cand, holdout, 5, new Rng(2));
    expect(r.dcrTrain[3]).toBe(0);
    expect([...r.dcrTrain].filter((d) => d === 0)).toHaveLength(1);
  });
  it('NNAA: copies give 0, far-away sets give 1, a fresh sample about 0.5', () => {
    expect(adversarialAccuracy(train, train)).toBe(0);
    expect(adversarialAccuracy(train, gaussian(400, 5, 13, 50))).toBe(1);
    expect(Math.abs(adversarialAccuracy(train, fresh) - 0.5)).toBeLessThan(0.06);
    const copy = proximity(train, train, holdout, 5, new Rng(3)).nnaa;
    expect(copy.aaTrain).toBe(0);
    expect(copy.privacyLoss).toBeGreaterThan(0.3);
  });
  it('NNAA from the shared scans equals the direct computation, for unequal sizes too', () => {
    const cand = gaussian(250, 5, 14, 0.3);
    const r = proximity(train, cand, holdout, 5, new Rng(3)).nnaa;
    expect(r.aaTrain).toBe(adversarialAccuracy(train, cand));
    expect(r.aaHoldout).toBe(adversarialAccuracy(holdout, cand));
    expect(r.privacyLoss).toBe(r.aaHoldout - r.aaTrain);
  });
  it('NNAA of i.i.d. sets of unequal size stays near 0.5 (the two terms balance)', () => {
    expect(Math.abs(adversarialAccuracy(gaussian(100, 3, 30), gaussian(600, 3, 31)) - 0.5)).toBeLessThan(0.06);
  });
  it('NNAA by hand on 1-D sets: T = 0, 10; S = 1, 20', () => {
    // d_TT = 10, 10; d_TS = 1, 10 → (1 > 10, 10 > 10) = 0 of 2. d_SS = 19, 19; d_ST = 1, 10 → 0 of 2. AA = 0.
    expect(adversarialAccuracy(column([0, 10]), column([1, 20]))).toBe(0);
    // T = 0, 1; S = 10, 11: d_TS = 10, 9 > d_TT = 1 → 2; d_ST = 9, 10 > d_SS = 1 → 2. AA = 1.
    expect(adversarialAccuracy(column([0, 1]), column([10, 11]))).toBe(1);
  });
});

describe('exactCopyRate and attribute inference', () => {
  it('counts planted copies, ignoring ids', () => {
    const train = toyRecords(50, 1);
    const cand = toyRecords(20, 2);
    cand[4] = { ...structuredClone(train[9]!), id: 'renamed' };
    cand[4]!.admissions[0]!.id = 'other';
    cand[7] = structuredClone(train[0]!);
    expect(exactCopyRate(cand, train)).toBe(2 / 20);
    expect(recordKey({ ...train[0]!, covariates: { sex: 'f', age: 3 } })).toBe(recordKey({ ...train[0]!, covariates: { age: 3, sex: 'f' } }));
  });
  it('an attacker with the training rows themselves infers members perfectly, not non-members', () => {
    const x = gaussian(300, 3, 20);
    const rng = new Rng(21);
    const y = Array.from({ length: 300 }, () => (rng.float() < 0.5 ? 'a' : 'b'));
    const h = gaussian(300, 3, 22);
    const hy = Array.from({ length: 300 }, () => (rng.float() < 0.5 ? 'a' : 'b'));
    const ai = attributeInference('sex', x, y, x, y, h, hy, 1);
    expect(ai.train).toBe(1);
    expect(Math.abs(ai.holdout - 0.5)).toBeLessThan(0.1);
  });
  it('numeric attribute: mean absolute error of the k-nearest mean, worked by hand', () => {
    // candidates at 0 and 10 carry 1 and 3; a query at 1 has nearest 0 → predicts 1; true 2 → MAE 1
    const ai = attributeInference('age', column([0, 10]), [1, 3], column([1]), [2], column([9]), [3], 1);
    expect(ai.kind).toBe('numeric');
    expect(ai.train).toBe(1);
    expect(ai.holdout).toBe(0);
    expect(ai.baseline).toBe(1); // |3 − mean(1, 3)|
  });
});
