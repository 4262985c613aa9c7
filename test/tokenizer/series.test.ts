import { describe, it, expect } from 'vitest';
import { SeriesDecoder, fitSeriesModel, normalCdf, normalQuantile, truncatedNormal, type SeriesState } from '../../src/tokenizer/series.ts';
import { binIndex, fitBinSet, fitValueEdges } from '../../src/tokenizer/bins.ts';
import { Rng } from '../../src/util/rng.ts';

const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sdOf = (xs: number[]) => {
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
};

describe('the normal distribution', () => {
  it('Φ and Φ⁻¹ against tabulated values, in both tails', () => {
    // Abramowitz & Stegun table 26.1: Φ(1.96) = 0.9750021, Φ(-3) = 0.0013499, Φ(-8) = 6.22096e-16
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021, 6);
    expect(normalCdf(-3) / 0.0013499).toBeCloseTo(1, 4);
    expect(normalCdf(-8) / 6.22096e-16).toBeCloseTo(1, 3);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361341, 4);
    for (const p of [1e-12, 1e-5, 0.01, 0.3, 0.7, 0.99, 1 - 1e-9]) expect(normalCdf(normalQuantile(p)) / p).toBeCloseTo(1, 5);
  });

  it('truncated draws stay inside and have the truncated mean: E[X | X > 1] = φ(1) / (1 − Φ(1)), and far out in [8, 9]', () => {
    const rng = new Rng(3);
    const xs = Array.from({ length: 20000 }, () => truncatedNormal(0, 1, 1, Infinity, rng));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(1);
    // φ(1) = 0.2419707, 1 − Φ(1) = 0.1586553: 1.5251; the sd of the truncated law is 0.4597, so 4 se = 0.013
    expect(Math.abs(meanOf(xs) - 1.5251)).toBeLessThan(0.013);
    const far = Array.from({ length: 2000 }, () => truncatedNormal(0, 1, 8, 9, rng));
    expect(Math.min(...far)).toBeGreaterThanOrEqual(8);
    expect(Math.max(...far)).toBeLessThanOrEqual(9);
    // inverse Mills ratio at 8: φ(8) / (1 − Φ(8)) = 8.1229 (the [8, 9] cut removes a negligible mass)
    expect(Math.abs(meanOf(far) - 8.1229)).toBeLessThan(0.02);
  });
});

describe('the series model', () => {
  /** Per patient a steady level with a little noise, repeated exactly some of the time (a carried-forward value). */
  function cohortSeries(rng: Rng, repeat: number): number[][] {
    return Array.from({ length: 400 }, () => {
      const level = 60 + 20 * rng.normal();
      const s: number[] = [];
      for (let t = 0; t < 20; t++) s.push(t > 0 && rng.float() < repeat ? s[t - 1]! : Math.round(level + 3 * rng.normal()));
      return s;
    });
  }

  function decodeOwnBins(series: number[][], dec: SeriesDecoder, rng: Rng): number[][] {
    return series.map((s) => {
      let prev: SeriesState | null = null;
      return s.map((x) => (prev = dec.next(binIndex(dec.bins.edges, x), prev, rng)).value);
    });
  }

  it("decoded from their own bins, series keep the real within-patient spread and repeat as often; independent draws do not", () => {
    const rng = new Rng(11);
    const series = cohortSeries(rng, 0.5);
    const all = series.flat();
    const bins = fitBinSet(fitValueEdges(all, 'quantile', 10, true), all, 1000);
    const model = fitSeriesModel(series, bins, new Rng(1));
    expect(model.rho).toBeGreaterThan(0);
    expect(model.stick).toBeGreaterThan(0);
    const within = (ss: number[][]) => meanOf(ss.map(sdOf));
    const sameBinRepeats = (ss: number[][]) => {
      let same = 0;
      let rep = 0;
      for (const s of ss) {
        for (let t = 1; t < s.length; t++) {
          if (binIndex(bins.edges, s[t]!) !== binIndex(bins.edges, s[t - 1]!)) continue;
          same++;
          if (s[t] === s[t - 1]) rep++;
        }
      }
      return rep / same;
    };
    // on fresh series of the same process (the fit saw others)
    const fresh = cohortSeries(new Rng(99), 0.5);
    const smooth = decodeOwnBins(fresh, new SeriesDecoder(bins, model), new Rng(5));
    const independent = decodeOwnBins(fresh, new SeriesDecoder(bins, { stick: 0, rho: 0 }), new Rng(5));
    expect(within(smooth) / within(fresh)).toBeGreaterThan(0.93);
    expect(within(smooth) / within(fresh)).toBeLessThan(1.07);
    expect(Math.abs(sameBinRepeats(smooth) - sameBinRepeats(fresh))).toBeLessThan(0.05);
    // drawing each value afresh inside its bin inflates the spread (the defect this model fixes)
    expect(within(independent) / within(fresh)).toBeGreaterThan(1.15);
    // and every decoded value is in the bin of the value it stands for
    smooth.forEach((s, i) => s.forEach((x, t) => expect(binIndex(bins.edges, x)).toBe(binIndex(bins.edges, fresh[i]![t]!))));
  });

  it('a variable seen once per patient has nothing to fit: values are drawn independently', () => {
    const bins = fitBinSet([0, 10, 20], [1, 5, 15], 10);
    expect(fitSeriesModel([[1], [5], [15]], bins, new Rng(1))).toEqual({ stick: 0, rho: 0 });
  });
});
