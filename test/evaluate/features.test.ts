import { describe, expect, it } from 'vitest';
import { fitFeatureEncoder } from '../../src/evaluate/features.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { toyData, toyRecords } from './toy.ts';

describe('feature vectors', () => {
  const train = toyRecords(200, 1);
  const enc = fitFeatureEncoder(train, toyData, { labels: true, topCodes: 3 });

  it('lays out covariates, four statistics per continuous variable, shares per category, shape, codes, labels', () => {
    expect(enc.names.slice(0, 6)).toEqual(['cov:age', 'cov:age:missing', 'cov:sex=f', 'cov:sex=m', 'cov:sex:missing', 'var:HR:min']);
    expect(enc.names).toContain('var:HR:std');
    expect(enc.names).toContain('var:Vent=1');
    expect(enc.names).toContain('label:death');
    expect(enc.names.filter((n) => n.startsWith('code:'))).toHaveLength(3);
    expect(fitFeatureEncoder(train, toyData, { labels: false, topCodes: 0 }).names.some((n) => n.startsWith('label:') || n.startsWith('code:'))).toBe(false);
  });

  it('standardizes on train: every non-constant column has mean 0 and standard deviation 1 there', () => {
    const m = enc.encode(train);
    for (let c = 0; c < m.d; c++) {
      let s = 0;
      let ss = 0;
      for (let i = 0; i < m.n; i++) s += m.x[i * m.d + c]!;
      const mu = s / m.n;
      for (let i = 0; i < m.n; i++) ss += (m.x[i * m.d + c]! - mu) ** 2;
      const sd = Math.sqrt(ss / m.n);
      if (sd === 0) continue;
      // columns with missing values are imputed after the statistics: mean 0 still, sd ≤ 1
      expect(Math.abs(mu), enc.names[c]).toBeLessThan(1e-9);
      expect(sd, enc.names[c]).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('computes min, max, mean, std by hand, standardizes with the training figures, and imputes a missing variable', () => {
    const rec = (id: string, age: number | null, hr: number[], temp?: number): PatientRecord => ({
      id,
      covariates: { age, sex: 'm' },
      labels: { death: 0 },
      admissions: [
        {
          id: `${id}-a`,
          codes: [],
          events: [...hr.map((v, i) => ({ hours: i, variable: 'HR', value: v })), ...(temp === undefined ? [] : [{ hours: 9, variable: 'Temp', value: temp }])],
        },
      ],
    });
    // train HR means are 80 and 100 → μ = 90, σ = 10; ages 40 and 60 → μ = 50, σ = 10
    const small = [rec('a', 40, [70, 90], 37), rec('b', 60, [100], 38)];
    const e = fitFeatureEncoder(small, toyData, { labels: false, topCodes: 0 });
    const x = e.encode([rec('c', null, [80, 100, 90])]);
    const col = (name: string) => x.x[e.names.indexOf(name)]!;
    expect(col('var:HR:mean')).toBeCloseTo((90 - 90) / 10, 12);
    // train minima 70, 100 → μ 85, σ 15; maxima 90, 100 → μ 95, σ 5
    expect(col('var:HR:min')).toBeCloseTo((80 - 85) / 15, 12);
    expect(col('var:HR:max')).toBeCloseTo((100 - 95) / 5, 12);
    // std of 80, 100, 90 is √(200/3); train stds 10 and 0 → μ 5, σ 5
    expect(col('var:HR:std')).toBeCloseTo((Math.sqrt(200 / 3) - 5) / 5, 12);
    // age missing: imputed at the training mean (0 after standardization), indicator set
    expect(col('cov:age')).toBe(0);
    expect(col('cov:age:missing')).toBe(1); // a constant-0 indicator in train keeps σ = 1
    expect(col('var:Temp:mean')).toBe(0);
    expect(col('var:Temp:missing')).toBe(1);
  });
});
