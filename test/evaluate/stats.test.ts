import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  auroc,
  averagePrecision,
  bestF1Threshold,
  f1Score,
  frequencies,
  jensenShannon,
  ksComplement,
  ksStatistic,
  pearson,
  pearsonOverKeys,
  rocCurve,
  trapezoid,
  tvComplement,
} from '../../src/evaluate/stats.ts';

/** sup over every sample point x of |F_a(x) − F_b(x)|, by counting: O(n²), obviously right. */
function bruteKs(a: number[], b: number[]): number {
  let d = 0;
  for (const x of [...a, ...b]) {
    const fa = a.filter((v) => v <= x).length / a.length;
    const fb = b.filter((v) => v <= x).length / b.length;
    d = Math.max(d, Math.abs(fa - fb));
  }
  return d;
}

const smallInts = fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 30 });

describe('ksStatistic', () => {
  it('matches a brute-force sup over all sample points, ties included', () => {
    fc.assert(fc.property(smallInts, smallInts, (a, b) => Math.abs(ksStatistic(a, b) - bruteKs(a, b)) < 1e-12));
  });
  it('is NaN with no values at all and 1 when only one side has values', () => {
    expect(ksStatistic([], [])).toBeNaN();
    expect(ksStatistic([1], [])).toBe(1);
    expect(tvComplement([], [])).toBeNaN();
    expect(tvComplement(['a'], [])).toBe(0);
  });
  it('is 0 for identical samples and 1 for disjoint ones', () => {
    expect(ksStatistic([1, 2, 3], [3, 2, 1])).toBe(0);
    expect(ksComplement([1, 2, 3], [4, 5])).toBe(0);
  });
  it('measures a shift: U{0..9} against U{5..14} differ by 0.5', () => {
    const a = Array.from({ length: 10 }, (_, i) => i);
    expect(ksStatistic(a, a.map((v) => v + 5))).toBeCloseTo(0.5, 12);
  });
});

describe('tvComplement and jensenShannon', () => {
  it('TVComplement by hand: {a: .5, b: .5} vs {a: .75, c: .25} → 1 − ½(.25 + .5 + .25) = .5', () => {
    expect(tvComplement(['a', 'b'], ['a', 'a', 'a', 'c'])).toBeCloseTo(0.5, 12);
    expect(tvComplement(['x', 'y'], ['y', 'x'])).toBe(1);
  });
  it('JSD is 0 for equal distributions, 1 bit for disjoint ones, and matches a hand value', () => {
    expect(jensenShannon(frequencies([1, 2]), frequencies([2, 1]))).toBe(0);
    expect(jensenShannon(frequencies([1]), frequencies([2]))).toBe(1);
    // p = (1, 0), q = (½, ½): m = (¾, ¼); JSD = ½·log2(4/3) + ½·(½·log2(2/3) + ½·log2(2))
    const expected = 0.5 * Math.log2(4 / 3) + 0.5 * (0.5 * Math.log2(0.5 / 0.75) + 0.5 * Math.log2(0.5 / 0.25));
    expect(jensenShannon(new Map([['a', 1]]), new Map([['a', 1], ['b', 1]]))).toBeCloseTo(expected, 12);
  });
});

describe('pearson', () => {
  it('is ±1 on exact linear relations and NaN on a constant', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
  it('over keys counts a missing key as 0', () => {
    // keys a, b, c: (1, 0, 2) vs (1, 2, 0)
    expect(pearsonOverKeys(new Map([['a', 1], ['c', 2]]), new Map([['a', 1], ['b', 2]]))).toBeCloseTo(pearson([1, 0, 2], [1, 2, 0]), 12);
  });
});

describe('auroc', () => {
  it('equals the trapezoid area under the ROC curve (Mann-Whitney vs geometry), ties included', () => {
    const data = fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 1 })), { minLength: 2, maxLength: 60 });
    fc.assert(
      fc.property(data, (rows) => {
        const s = rows.map((r) => r[0]);
        const y = rows.map((r) => r[1]);
        if (new Set(y).size < 2) return Number.isNaN(auroc(s, y));
        const roc = rocCurve(s, y);
        return Math.abs(auroc(s, y) - trapezoid(roc.fpr, roc.tpr)) < 1e-12;
      }),
    );
  });
  it('matches a pair count by hand', () => {
    // positives 0.8, 0.4; negatives 0.5, 0.1: pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) = 3/4
    expect(auroc([0.8, 0.4, 0.5, 0.1], [1, 1, 0, 0])).toBe(0.75);
    expect(auroc([1, 1, 1, 1], [1, 0, 1, 0])).toBe(0.5);
  });
});

describe('averagePrecision, f1Score, bestF1Threshold', () => {
  it('average precision by hand: ranking +,−,+ → ½·1 + ½·⅔', () => {
    expect(averagePrecision([0.9, 0.8, 0.7], [1, 0, 1])).toBeCloseTo(0.5 + 1 / 3, 12);
    expect(averagePrecision([0.9, 0.8, 0.1], [1, 1, 0])).toBe(1);
  });
  it('F1 by hand: tp 1, fp 1, fn 1 → 0.5', () => {
    expect(f1Score([0.9, 0.8, 0.1], [1, 0, 1], 0.5)).toBe(0.5);
    expect(f1Score([0.1, 0.2], [1, 1], 0.5)).toBe(0);
  });
  it('the best F1 threshold is the best of all thresholds tried one by one', () => {
    const data = fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 1 })), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(data, (rows) => {
        const s = rows.map((r) => r[0]);
        const y = rows.map((r) => r[1]);
        const best = Math.max(...s.map((t) => f1Score(s, y, t)));
        return Math.abs(f1Score(s, y, bestF1Threshold(s, y)) - best) < 1e-12;
      }),
    );
  });
});
