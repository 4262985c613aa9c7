import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  binIndex,
  defaultBinCount,
  drawInBin,
  fitBinSet,
  fitValueEdges,
  maxDecimals,
  quantileSorted,
  trimTails,
} from '../../src/tokenizer/bins.ts';
import { tokenizerConfigSchema } from '../../src/tokenizer/config.ts';
import { Rng } from '../../src/util/rng.ts';

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('bin edges on known data (worked by hand)', () => {
  it('linear-interpolation quantiles', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 1 / 3)).toBeCloseTo(2, 12);
    expect(quantileSorted([5], 0.9)).toBe(5);
  });

  it("SynEHRgy's default count min(10, floor(n_unique / 5)), at least one bin", () => {
    expect([0, 4, 5, 10, 49, 50, 1000].map(defaultBinCount)).toEqual([1, 1, 1, 2, 9, 10, 10]);
  });

  it('uniform: equal widths between min and max', () => {
    expect(fitValueEdges(range(1, 100), 'uniform', 4, false)).toEqual([1, 25.75, 50.5, 75.25, 100]);
    expect(fitValueEdges([...range(1, 9), 100], 'uniform', 2, false)).toEqual([1, 50.5, 100]);
  });

  it('quantile: equal counts; default count from the number of distinct values', () => {
    // 10 distinct values -> floor(10/5) = 2 bins; the median of 1..9,100 is (5 + 6) / 2
    expect(fitValueEdges([...range(1, 9), 100], 'quantile', null, false)).toEqual([1, 5.5, 100]);
  });

  it('quantile_ueq: edges at min, p2, p5, p10, p25, p50, p75, p90, p95, p98, max', () => {
    expect(fitValueEdges(range(0, 100), 'quantile_ueq', null, false)).toEqual([0, 2, 5, 10, 25, 50, 75, 90, 95, 98, 100]);
  });

  it('tied quantiles merge into fewer bins; a constant variable has one bin', () => {
    // positions p * 9 in [1,1,1,1,1,1,2,3,4,5]: 0 -> 1, 2.25 -> 1, 4.5 -> 1, 6.75 -> 2.75, 9 -> 5
    expect(fitValueEdges([1, 1, 1, 1, 1, 1, 2, 3, 4, 5], 'quantile', 4, false)).toEqual([1, 2.75, 5]);
    expect(fitValueEdges([7, 7, 7], 'quantile', null, true)).toEqual([7, 7]);
    expect(binIndex([7, 7], 3)).toBe(0);
    expect(binIndex([7, 7], 9)).toBe(0);
  });

  it('tail trimming: a far upper tail above p97.5 is cut before fitting edges, and clamps to the last bin', () => {
    // 1..40 and 1000: median 21, p97.5 = 40, (1000 - 40) / (40 - 21) > 3; p2.5 = 2, (2 - 1) / (21 - 2) < 3
    const data = [...range(1, 40), 1000];
    expect(Array.from(trimTails(Float64Array.from(data)))).toEqual(range(1, 40));
    const edges = fitValueEdges(data, 'uniform', 3, true);
    expect(edges).toEqual([1, 14, 27, 40]);
    expect(binIndex(edges, 1000)).toBe(2);
    expect(fitValueEdges(data, 'uniform', 3, false)).toEqual([1, 334, 667, 1000]);
  });

  it('tail trimming, mirror rule: a far lower tail below p2.5', () => {
    // -1000 and 1..40: median 20, p2.5 = 1, (1 + 1000) / (20 - 1) > 3; p97.5 = 39, (40 - 39) / (39 - 20) < 3
    const data = [-1000, ...range(1, 40)];
    expect(Array.from(trimTails(Float64Array.from(data)))).toEqual(range(1, 40));
    expect(binIndex(fitValueEdges(data, 'uniform', 3, true), -1000)).toBe(0);
  });

  it('no trimming of a tail that is not far out', () => {
    const data = range(1, 100);
    expect(trimTails(Float64Array.from(data)).length).toBe(100);
  });

  it('binIndex: the largest edge <= x, clamped to the end bins', () => {
    const e = [0, 10, 20, 30];
    expect([-5, 0, 9.99, 10, 29, 30, 99].map((x) => binIndex(e, x))).toEqual([0, 0, 0, 1, 2, 2, 2]);
  });

  it('HALO gap edges: 15 bins, 48 and 48.1 separate, long gaps clamp to the last', () => {
    const e = tokenizerConfigSchema.parse({}).gap_edges;
    expect(e.length - 1).toBe(15);
    expect([0, 0.49, 0.5, 47.99, 48, 48.05, 48.1, 300].map((x) => binIndex(e, x))).toEqual([0, 0, 1, 8, 9, 9, 10, 14]);
  });

  it('within-bin quantiles; an empty bin falls back to evenly spaced points between its edges', () => {
    const b = fitBinSet([0, 10, 20], [1, 2, 3, 4, 5, 15], 3);
    expect(b.quantiles).toEqual([[1, 3, 5], [15, 15, 15]]);
    expect(b.integer).toBe(true);
    const e = fitBinSet([0, 10, 20], [1.5], 3);
    expect(e.quantiles).toEqual([[1.5, 1.5, 1.5], [10, 15, 20]]);
    expect(e.integer).toBe(false);
  });
});

describe('drawing inside a bin', () => {
  it('every draw falls back in its own bin (any data, any bin type, integer or not)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ min: -1e4, max: 1e4, noNaN: true }), fc.integer({ min: -50, max: 50 })), { minLength: 1, maxLength: 200 }),
        fc.constantFrom('uniform', 'quantile', 'quantile_ueq'),
        fc.option(fc.integer({ min: 1, max: 12 }), { nil: null }),
        fc.boolean(),
        fc.integer(),
        (values, type, n, trim, seed) => {
          const bins = fitBinSet(fitValueEdges(values, type, n, trim), values, 9);
          const rng = new Rng(seed);
          for (let k = 0; k < bins.quantiles.length; k++) {
            for (let i = 0; i < 20; i++) {
              const x = drawInBin(bins, k, rng);
              expect(Number.isFinite(x)).toBe(true);
              expect(binIndex(bins.edges, x)).toBe(k);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('values recorded to 2 decimals decode to at most 2 decimals, inside their bins', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -100000, max: 100000 }), { minLength: 1, maxLength: 100 }), fc.integer(), (cents, seed) => {
        const values = cents.map((c) => c / 100);
        const bins = fitBinSet(fitValueEdges(values, 'quantile', null, true), values, 9);
        expect(bins.decimals).toBeLessThanOrEqual(2);
        const rng = new Rng(seed);
        for (let k = 0; k < bins.quantiles.length; k++) {
          for (let i = 0; i < 10; i++) {
            const x = drawInBin(bins, k, rng);
            expect(binIndex(bins.edges, x)).toBe(k);
            expect(maxDecimals([x])).toBeLessThanOrEqual(bins.decimals!);
          }
        }
      }),
      { numRuns: 100 },
    );
    expect([maxDecimals([1, 2, 3]), maxDecimals([1, 2.5, 92.33]), maxDecimals([0.1, 0.7]), maxDecimals([1e-9]), maxDecimals([Math.PI])]).toEqual([0, 2, 1, 6, 6]);
  });

  it('integer-valued variables decode to integers', () => {
    const values = range(3, 15);
    const bins = fitBinSet(fitValueEdges(values, 'quantile', 3, false), values, 9);
    const rng = new Rng(1);
    for (let k = 0; k < bins.quantiles.length; k++) for (let i = 0; i < 50; i++) expect(Number.isInteger(drawInBin(bins, k, rng))).toBe(true);
  });

  it('draws follow the training distribution inside a bin better than uniform', () => {
    // one bin [0, 100] whose training values all sit in [0, 10]: every draw must land there
    const values = [...Array.from({ length: 99 }, (_, i) => i / 10), 100];
    const bins = fitBinSet([0, 100], values, 9);
    const rng = new Rng(5);
    let low = 0;
    for (let i = 0; i < 1000; i++) if (drawInBin(bins, 0, rng) <= 10) low++;
    // the top 1/8 of the quantile curve reaches from ~8.6 to 100, so roughly 7/8 of draws are <= 10
    expect(low).toBeGreaterThan(800);
  });
});
