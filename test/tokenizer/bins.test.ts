import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import {
  TAIL_ATOMS,
  binCount,
  binIndex,
  defaultBinCount,
  drawInBin,
  fitBinSet,
  fitValueEdges,
  maxDecimals,
  quantileSorted,
  trimTails,
  valueAtRank,
} from '../../src/tokenizer/bins.ts';
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

  it('HALO gap edges (tokenizer=synehrgy): 15 bins, 48 and 48.1 separate, long gaps clamp to the last', () => {
    const preset = YAML.parse(readFileSync(join(import.meta.dirname, '../../configs/tokenizer/synehrgy.yaml'), 'utf8')) as { gap_edges: number[] };
    const e = preset.gap_edges;
    expect(e.length - 1).toBe(15);
    expect([0, 0.49, 0.5, 47.99, 48, 48.05, 48.1, 300].map((x) => binIndex(e, x))).toEqual([0, 0, 1, 8, 9, 9, 10, 14]);
  });

  it('atoms: a value holding atomShare of the data gets a bin of its own, [v, next value); the largest one [v, v]', () => {
    // 60 holds 40 % of the values, 5 and 90 (the maximum) 20 % each
    const values = [...Array(40).fill(60), ...Array(20).fill(5), ...Array(20).fill(90), ...range(10, 29)];
    const on = fitValueEdges(values, 'quantile', 4, false, { atomShare: 0.1 });
    // quantile edges 5, 14.75, 60, 90; 5 gets [5, 10), 60 [60, 90) and 90 [90, 90]
    expect(on).toEqual([5, 10, 14.75, 60, 90, 90]);
    expect([5, 9.9, 10, 59, 60, 89, 90, 95].map((x) => binIndex(on, x))).toEqual([0, 0, 1, 2, 3, 3, 4, 4]);
    const bins = fitBinSet(on, values, 1000);
    expect(bins.atoms[3]!.every((a) => a === 60)).toBe(true);
    expect(bins.atoms[4]!.every((a) => a === 90)).toBe(true);
    // off (SynEHRgy): 60 and 90 share the last bin
    const off = fitValueEdges(values, 'quantile', 4, false);
    expect(binIndex(off, 60)).toBe(binIndex(off, 90));
  });

  it('tail growth: past the outermost inner edge, steps as wide as the bin next to it, each 1.5 times wider, out to the extreme', () => {
    // 1..100 and one far value 1000: trimmed to 1..98, quantile edges 1, 49.5, 98; then 98 + 48.5,
    // + 72.75, + 109.125, ... while below 1000; below, the first bin already reaches the minimum 1
    const values = [...range(1, 100), 1000];
    expect(fitValueEdges(values, 'quantile', 2, true)).toEqual([1, 49.5, 98]);
    const grown = fitValueEdges(values, 'quantile', 2, true, { tailGrowth: 1.5 });
    expect(grown).toEqual([1, 49.5, 98, 146.5, 219.25, 328.375, 492.0625, 737.59375]);
    expect(binIndex(grown, 1000)).toBe(6);
    // a last bin that reaches the maximum is split from its lower edge
    const untrimmed = fitValueEdges([...range(1, 100), 300], 'quantile', 2, false, { tailGrowth: 1.5 });
    expect(untrimmed).toEqual([1, 51, 101, 176, 288.5, 300]);
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
          const bins = fitBinSet(fitValueEdges(values, type, n, trim, { atomShare: 0.05, tailGrowth: 1.5 }), values, 40);
          const rng = new Rng(seed);
          for (let k = 0; k < binCount(bins); k++) {
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
        const bins = fitBinSet(fitValueEdges(values, 'quantile', null, true, { tailGrowth: 1.5 }), values, 40);
        expect(bins.decimals).toBeLessThanOrEqual(2);
        const rng = new Rng(seed);
        for (let k = 0; k < binCount(bins); k++) {
          for (let i = 0; i < 10; i++) {
            const x = drawInBin(bins, k, rng);
            expect(binIndex(bins.edges, x)).toBe(k);
            expect(maxDecimals([x])).toBeLessThanOrEqual(bins.decimals);
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
    for (let k = 0; k < binCount(bins); k++) for (let i = 0; i < 50; i++) expect(Number.isInteger(drawInBin(bins, k, rng))).toBe(true);
  });

  it('draws follow the training distribution inside a bin, tails included: a far extreme is drawn as often as it was seen', () => {
    // one bin [0, 100] whose training values sit in [0, 9.8] but for one 100 in 100 values; interpolating
    // 9 within-bin quantiles sent 1/8 of all draws towards 100, the step inverse CDF sends 1/100 there
    const values = [...Array.from({ length: 99 }, (_, i) => i / 10), 100];
    const bins = fitBinSet([0, 100], values, 1000);
    expect(bins.atoms[0]!.length).toBe(100);
    const rng = new Rng(5);
    let high = 0;
    for (let i = 0; i < 10000; i++) if (drawInBin(bins, 0, rng) > 10) high++;
    // expected 100; 4 standard deviations either side
    expect(high).toBeGreaterThan(60);
    expect(high).toBeLessThan(140);
  });

  it('atoms: per bin its share of the values and values at evenly spaced ranks; end bins keep at least TAIL_ATOMS', () => {
    // 10 values in 3 bins; 4 atoms overall: the middle bin gets ceil(4·4/10) = 2, at ranks 1/4 and 3/4
    const b = fitBinSet([0, 10, 20, 30], [1, 2, 3, 4, 5, 15, 16, 17, 18, 25], 4);
    expect(b.mass).toEqual([0.5, 0.4, 0.1]);
    expect(b.atoms).toEqual([[1, 2, 3, 4, 5], [16, 18], [25]]);
    expect(TAIL_ATOMS).toBeGreaterThan(5);
    expect(valueAtRank(b, 1, 0)).toBe(16);
    expect(valueAtRank(b, 1, 0.49)).toBe(16);
    expect(valueAtRank(b, 1, 0.5)).toBe(18);
    expect(b.integer).toBe(true);
    // a bin no value fell in has no atoms and draws between its edges, rounded as the values were
    const e = fitBinSet([0, 10, 20], [1.5], 3);
    expect(e.atoms).toEqual([[1.5], []]);
    expect(e.mass).toEqual([1, 0]);
    expect(valueAtRank(e, 1, 0.5)).toBe(15);
    expect(valueAtRank(e, 1, 0.123)).toBe(11.2);
  });
});
