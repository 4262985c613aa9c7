import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bootstrapAurocIntervals, RankedScores, type Interval } from '../../src/evaluate/bootstrap.ts';
import { auroc } from '../../src/evaluate/stats.ts';
import { Rng } from '../../src/util/rng.ts';

/** Φ, the standard normal CDF, through erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * k such that a Binomial(n, p) count falls below it, or above `hi`, with probability at most
 * `tail` each: the counts a correct interval's coverage lands in, all but 2·tail of the time.
 */
function binomialAcceptance(n: number, p: number, tail: number): { lo: number; hi: number } {
  const pmf: number[] = [];
  let logC = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    pmf.push(Math.exp(logC + k * Math.log(p) + (n - k) * Math.log(1 - p)));
  }
  let lo = 0;
  for (let below = 0; below + pmf[lo]! <= tail; lo++) below += pmf[lo]!;
  let hi = n;
  for (let above = 0; above + pmf[hi]! <= tail; hi--) above += pmf[hi]!;
  return { lo, hi };
}

/** DeLong's variance of the empirical AUROC (DeLong, DeLong & Clarke-Pearson 1988), from placement values. */
function delongSe(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < scores.length; i++) (labels[i]! > 0 ? pos : neg).push(scores[i]!);
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const v10 = pos.map((x) => neg.reduce((s, y) => s + psi(x, y), 0) / neg.length);
  const v01 = neg.map((y) => pos.reduce((s, x) => s + psi(x, y), 0) / pos.length);
  const auc = v10.reduce((a, b) => a + b, 0) / pos.length;
  const s10 = v10.reduce((s, v) => s + (v - auc) ** 2, 0) / (pos.length - 1);
  const s01 = v01.reduce((s, v) => s + (v - auc) ** 2, 0) / (neg.length - 1);
  return Math.sqrt(s10 / pos.length + s01 / neg.length);
}

/** Negatives ~ N(0, 1), positives ~ N(d, 1): the population AUROC is Φ(d/√2). */
function shiftedNormals(nPos: number, nNeg: number, d: number, rng: Rng): { scores: Float64Array; labels: Uint8Array } {
  const scores = new Float64Array(nPos + nNeg);
  const labels = new Uint8Array(nPos + nNeg);
  for (let i = 0; i < nPos + nNeg; i++) {
    labels[i] = i < nPos ? 1 : 0;
    scores[i] = rng.normal() + (i < nPos ? d : 0);
  }
  return { scores, labels };
}

const covers = (iv: Interval, v: number) => iv[0] <= v && v <= iv[1];

describe('RankedScores', () => {
  it('the weighted AUROC equals auroc() of the resample written out row by row, ties and groups included', () => {
    const row = fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }));
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 40 }), (rows) => {
        const scores = rows.map((r) => r[0]);
        const labels = rows.map((r) => r[1]);
        const groups = rows.map((r) => r[2]);
        const weights = rows.map((r) => r[3]);
        const G = Math.max(...groups) + 1;
        // the reference: expand each row weights[i] times and sort again, one group at a time
        let sum = 0;
        for (let g = 0; g < G; g++) {
          const s: number[] = [];
          const y: number[] = [];
          rows.forEach((_, i) => {
            if (groups[i] !== g) return;
            for (let w = 0; w < weights[i]!; w++) {
              s.push(scores[i]!);
              y.push(labels[i]!);
            }
          });
          sum += auroc(s, y);
        }
        const expected = sum / G;
        const got = new RankedScores(scores, labels, groups).auc(Float64Array.from(weights));
        return Number.isNaN(expected) ? Number.isNaN(got) : Math.abs(got - expected) < 1e-12;
      }),
    );
  });

  it('without weights it is auroc(), and with groups the mean of the groups’ auroc()', () => {
    const rng = new Rng(5);
    const { scores, labels } = shiftedNormals(30, 70, 1, rng);
    expect(new RankedScores(scores, labels).auc()).toBeCloseTo(auroc(scores, labels), 12);
    const groups = Array.from(scores, (_, i) => i % 4);
    const perGroup = [0, 1, 2, 3].map((g) => {
      const idx = groups.flatMap((h, i) => (h === g ? [i] : []));
      return auroc(idx.map((i) => scores[i]!), idx.map((i) => labels[i]!));
    });
    expect(new RankedScores(scores, labels, groups).auc()).toBeCloseTo(perGroup.reduce((a, b) => a + b) / 4, 12);
  });

  it('EXPECTED FAILURE - a non-finite score, mismatched lengths, a bad group', () => {
    expect(() => new RankedScores([0.1, NaN], [0, 1])).toThrow(/score 1 is NaN; scores must be finite/);
    expect(() => new RankedScores([0.1, 0.2], [0, 1, 1])).toThrow(/2 scores, 3 labels/);
    expect(() => new RankedScores([0.1, 0.2], [0, 1], [0, -1])).toThrow(/group 1 is -1/);
  });
});

describe('bootstrapAurocIntervals', () => {
  // the shape of the utility figures: a test split of 399 patients with 55 deaths
  const SETS = 200;
  const N_POS = 55;
  const N_NEG = 344;
  const D = 1;
  const TRUE_AUC = normalCdf(D / Math.SQRT2); // ≈ 0.7602
  const sim = (() => {
    const rng = new Rng(2024);
    const out: { auc: number; iv: Interval; se: number }[] = [];
    for (let s = 0; s < SETS; s++) {
      const { scores, labels } = shiftedNormals(N_POS, N_NEG, D, rng);
      const [iv] = bootstrapAurocIntervals({ labels }, [scores], 1000, rng.fork(`boot${s}`));
      out.push({ auc: auroc(scores, labels), iv: iv!, se: delongSe(scores, labels) });
    }
    return out;
  })();
  const accept = binomialAcceptance(SETS, 0.95, 0.0005);

  it('the binomial tolerance by hand: Binomial(4, ½) has pmf (1, 4, 6, 4, 1)/16', () => {
    expect(binomialAcceptance(4, 0.5, 0.07)).toEqual({ lo: 1, hi: 3 });
    expect(binomialAcceptance(4, 0.5, 0.06)).toEqual({ lo: 0, hi: 4 });
    expect(binomialAcceptance(4, 0.5, 0.32)).toEqual({ lo: 2, hi: 2 });
  });

  it('the analytic AUROC of two shifted normals, Φ(d/√2), is covered by about 95% of the intervals', () => {
    expect(TRUE_AUC).toBeCloseTo(0.76025, 4);
    const covered = sim.filter((r) => covers(r.iv, TRUE_AUC)).length;
    // a correct 95% interval lands outside [lo, hi] once in a thousand seeds (P(X ≤ 178) = 0.00048,
    // P(X ≥ 199) = 0.00040 for X ~ Binomial(200, 0.95), summed exactly over math.comb in Python)
    expect(accept).toEqual({ lo: 179, hi: 198 });
    expect(covered).toBeGreaterThanOrEqual(accept.lo);
    expect(covered).toBeLessThanOrEqual(accept.hi);
  });

  it('the check has the power to fail: intervals 25% narrower (a too-narrow bootstrap) fall below the tolerance', () => {
    const narrowed = sim.filter((r) => {
      const mid = (r.iv[0] + r.iv[1]) / 2;
      const half = ((r.iv[1] - r.iv[0]) / 2) * 0.75;
      return covers([mid - half, mid + half], TRUE_AUC);
    }).length;
    expect(narrowed).toBeLessThan(accept.lo);
  });

  // 200 sets cannot tell a 90% interval from a 95% one by coverage (180 vs 190 covered); their widths differ by 16%
  it('the width matches the AUROC’s real spread over the simulated sets and DeLong’s standard error', () => {
    const aucs = sim.map((r) => r.auc);
    const m = aucs.reduce((a, b) => a + b) / SETS;
    const sd = Math.sqrt(aucs.reduce((s, a) => s + (a - m) ** 2, 0) / (SETS - 1));
    const halfWidth = sim.reduce((s, r) => s + (r.iv[1] - r.iv[0]) / 2, 0) / SETS;
    const delong = sim.reduce((s, r) => s + r.se, 0) / SETS;
    // 1.96 standard errors each side; the sd of 200 draws is itself within about ±10%
    expect(halfWidth / (1.96 * sd)).toBeGreaterThan(0.85);
    expect(halfWidth / (1.96 * sd)).toBeLessThan(1.15);
    expect(halfWidth / (1.96 * delong)).toBeGreaterThan(0.93);
    expect(halfWidth / (1.96 * delong)).toBeLessThan(1.07);
    // the figure: an AUROC on this test split has a standard error of about 0.03
    expect(delong).toBeGreaterThan(0.025);
    expect(delong).toBeLessThan(0.04);
  });

  it('folds: the mean of per-fold AUROCs (detection) is covered at about 95% too', () => {
    const rng = new Rng(77);
    const d = 0.5;
    const truth = normalCdf(d / Math.SQRT2);
    let covered = 0;
    for (let s = 0; s < SETS; s++) {
      const { scores, labels } = shiftedNormals(300, 300, d, rng);
      // stratified folds as detection deals them: each class round-robin over 5 folds
      const groups = Array.from(scores, (_, i) => (i < 300 ? i : i - 300) % 5);
      const [iv] = bootstrapAurocIntervals({ labels, groups }, [scores], 500, rng.fork(`fold${s}`));
      if (covers(iv!, truth)) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(accept.lo);
    expect(covered).toBeLessThanOrEqual(accept.hi);
  });

  it('scores every vector on the same resamples, is reproducible from its seed, and gives null where no AUROC exists', () => {
    const { scores, labels } = shiftedNormals(20, 40, 1, new Rng(3));
    const a = bootstrapAurocIntervals({ labels }, [scores, null, scores], 200, new Rng(9));
    expect(a[1]).toBeNull();
    expect(a[0]).toEqual(a[2]);
    expect(bootstrapAurocIntervals({ labels }, [scores], 200, new Rng(9))[0]).toEqual(a[0]);
    expect(bootstrapAurocIntervals({ labels }, [scores], 200, new Rng(10))[0]).not.toEqual(a[0]);
    // a fold with one class has no AUROC, so neither has the mean
    const groups = Array.from(labels, (y, i) => (i === 0 ? 2 : y));
    expect(bootstrapAurocIntervals({ labels, groups }, [scores], 50, new Rng(1))).toEqual([null]);
    // a constant score is a coin toss in every replicate
    expect(bootstrapAurocIntervals({ labels }, [new Float64Array(60).fill(0.3)], 50, new Rng(1))).toEqual([[0.5, 0.5]]);
  });

  it('EXPECTED FAILURE - replicates and level out of range', () => {
    expect(() => bootstrapAurocIntervals({ labels: [0, 1] }, [[0, 1]], 0, new Rng(1))).toThrow(/replicates must be an integer ≥ 1, got 0/);
    expect(() => bootstrapAurocIntervals({ labels: [0, 1] }, [[0, 1]], 10, new Rng(1), 1)).toThrow(/level must be in \(0, 1\), got 1/);
  });
});
