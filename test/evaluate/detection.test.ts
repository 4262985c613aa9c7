import { describe, expect, it } from 'vitest';
import { matrix, type Matrix } from '../../src/evaluate/features.ts';
import { detection, logisticDetectionScore, trainAndScore } from '../../src/evaluate/detection.ts';
import { Rng } from '../../src/util/rng.ts';
import { RankedScores } from '../../src/evaluate/bootstrap.ts';
import { auroc } from '../../src/evaluate/stats.ts';

function gaussian(n: number, d: number, seed: number, shift = 0): Matrix {
  const rng = new Rng(seed);
  const m = matrix(n, d);
  for (let i = 0; i < m.x.length; i++) m.x[i] = rng.normal() + (i % d === 0 ? shift : 0);
  return m;
}

const opts = { logistic: {}, boosting: { trees: 30 } };

describe('detection', () => {
  it('LogisticDetection = 1 − (max(AUC, 0.5)·2 − 1), by hand', () => {
    expect(logisticDetectionScore(0.5)).toBe(1);
    expect(logisticDetectionScore(0.3)).toBe(1);
    expect(logisticDetectionScore(0.75)).toBe(0.5);
    expect(logisticDetectionScore(1)).toBe(0);
  });
  it('cannot tell two samples of one distribution apart (AUC ≈ 0.5, score ≈ 1)', () => {
    const r = detection(gaussian(400, 4, 1), gaussian(400, 4, 2), 5, new Rng(3), opts);
    expect(Math.abs(r.logistic.auc - 0.5)).toBeLessThan(0.08);
    expect(Math.abs(r.boosting.auc - 0.5)).toBeLessThan(0.08);
    expect(r.logisticDetection).toBeGreaterThan(0.84);
  });
  it('separates disjoint sets perfectly (AUC 1, score 0)', () => {
    const r = detection(gaussian(200, 3, 4), gaussian(200, 3, 5, 20), 5, new Rng(3), opts);
    expect(r.logistic.auc).toBe(1);
    expect(r.boosting.auc).toBe(1);
    expect(r.logisticDetection).toBe(0);
  });
  it('sees a shift in one column: the boosted trees and the logistic regression both find it', () => {
    const r = detection(gaussian(400, 4, 6), gaussian(400, 4, 7, 1), 5, new Rng(3), opts);
    // two unit-variance normals one standard deviation apart: the best AUC is Φ(1/√2) ≈ 0.76
    expect(r.logistic.auc).toBeGreaterThan(0.7);
    expect(r.logistic.auc).toBeLessThan(0.82);
    expect(r.boosting.auc).toBeGreaterThan(0.66);
  });
  it('keeps the out-of-fold scores and folds its AUC is the fold mean of (what the bootstrap resamples)', () => {
    const r = detection(gaussian(90, 3, 6), gaussian(60, 3, 7, 0.7), 5, new Rng(3), opts);
    expect(Array.from(r.labels)).toEqual([...new Array(90).fill(0), ...new Array(60).fill(1)]);
    for (let f = 0; f < 5; f++) {
      // stratified: each fold holds a fifth of each set
      expect(r.folds.filter((g, i) => g === f && i < 90).length).toBe(18);
      expect(r.folds.filter((g, i) => g === f && i >= 90).length).toBe(12);
    }
    for (const kind of ['logistic', 'boosting'] as const) {
      const d = r[kind];
      expect(new RankedScores(d.oof, r.labels, r.folds).auc()).toBeCloseTo(d.auc, 12);
      // one fold by hand
      const idx = Array.from(r.folds).flatMap((g, i) => (g === 2 ? [i] : []));
      expect(auroc(idx.map((i) => d.oof[i]!), idx.map((i) => r.labels[i]!))).toBeGreaterThan(0.5);
    }
  });
  it('EXPECTED FAILURE - fewer rows than folds', () => {
    expect(() => detection(gaussian(3, 2, 1), gaussian(30, 2, 2), 5, new Rng(1), opts)).toThrow(/at least 5 rows per set \(cv_folds\), got 3 real/);
  });
});

describe('trainAndScore', () => {
  it('scores a learnable label well and a constant-score model at AUROC 0.5', () => {
    const x = gaussian(600, 3, 8);
    const y = Array.from({ length: 600 }, (_, i) => (x.x[i * 3]! > 0 ? 1 : 0));
    const tr = { n: 300, d: 3, x: x.x.subarray(0, 900) };
    const te = { n: 300, d: 3, x: x.x.subarray(900) };
    const s = trainAndScore('logistic', tr, y.slice(0, 300), te, y.slice(300), opts);
    expect(s.auroc).toBeGreaterThan(0.98);
    expect(s.auprc).toBeGreaterThan(0.98);
    expect(s.f1).toBeGreaterThan(0.9);
    // the test rows' scores it keeps for the bootstrap are those its figures come from
    expect(s.scores).toHaveLength(300);
    expect(auroc(s.scores!, y.slice(300))).toBe(s.auroc);
    // trained on one class only: every prediction is the same, so ranking is a coin toss
    const flat = trainAndScore('boosting', tr, y.slice(0, 300).map(() => 0), te, y.slice(300), opts);
    expect(flat.auroc).toBe(0.5);
    // nothing to train on (a synthetic set without the label): no figure rather than a made-up one
    expect(trainAndScore('logistic', matrix(0, 3), [], te, y.slice(300), opts).auroc).toBeNaN();
    expect(trainAndScore('logistic', matrix(0, 3), [], te, y.slice(300), opts).scores).toBeNull();
  });
});
