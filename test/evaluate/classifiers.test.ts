import { describe, expect, it } from 'vitest';
import { fitBoosting, fitLogistic, fitLogisticNewton } from '../../src/evaluate/classifiers.ts';
import { matrix, type Matrix } from '../../src/evaluate/features.ts';
import { auroc } from '../../src/evaluate/stats.ts';
import { Rng } from '../../src/util/rng.ts';

function randomProblem(n: number, d: number, seed: number, noise = 1): { x: Matrix; y: number[]; w: number[] } {
  const rng = new Rng(seed);
  const x = matrix(n, d);
  const w = Array.from({ length: d }, () => rng.normal());
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    let z = 0.3;
    for (let c = 0; c < d; c++) {
      const v = rng.normal();
      x.x[i * d + c] = v;
      z += w[c]! * v;
    }
    y.push(rng.float() < 1 / (1 + Math.exp(-z / noise)) ? 1 : 0);
  }
  return { x, y, w };
}

describe('logistic regression', () => {
  it('L-BFGS and Newton (IRLS) reach the same optimum', () => {
    const { x, y } = randomProblem(400, 6, 1);
    for (const l2 of [0, 1e-3, 0.1]) {
      const a = fitLogistic(x, y, { l2, tol: 1e-10, maxIter: 500 });
      const b = fitLogisticNewton(x, y, { l2, tol: 1e-10 });
      const maxdiff = Math.max(Math.abs(a.bias - b.bias), ...Array.from(a.weights, (w, c) => Math.abs(w - b.weights[c]!)));
      expect(maxdiff, `l2 = ${l2}`).toBeLessThan(1e-5);
    }
  });

  it('matches the closed form on one binary feature: bias = logit(p0), weight = logit(p1) − logit(p0)', () => {
    // x = 0: 3 of 10 positive; x = 1: 8 of 10 positive
    const x = matrix(20, 1);
    const y: number[] = [];
    for (let i = 0; i < 20; i++) {
      const g = i < 10 ? 0 : 1;
      x.x[i] = g;
      y.push(g === 0 ? (i < 3 ? 1 : 0) : i < 18 ? 1 : 0);
    }
    const logit = (p: number) => Math.log(p / (1 - p));
    const m = fitLogistic(x, y, { l2: 0, tol: 1e-12, maxIter: 500 });
    expect(m.bias).toBeCloseTo(logit(0.3), 6);
    expect(m.weights[0]!).toBeCloseTo(logit(0.8) - logit(0.3), 6);
  });

  it('stays finite on separable data thanks to the penalty and ranks it perfectly', () => {
    const x = matrix(40, 1);
    const y: number[] = [];
    for (let i = 0; i < 40; i++) {
      x.x[i] = i - 19.5;
      y.push(i >= 20 ? 1 : 0);
    }
    const m = fitLogistic(x, y, { l2: 1e-2 });
    expect(Number.isFinite(m.weights[0]!)).toBe(true);
    expect(auroc(m.predict(x), y)).toBe(1);
  });
});

describe('gradient-boosted trees', () => {
  it('learns a threshold rule exactly and generalizes it', () => {
    const rng = new Rng(3);
    const make = (n: number) => {
      const x = matrix(n, 3);
      const y: number[] = [];
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3; c++) x.x[i * 3 + c] = rng.float();
        y.push(x.x[i * 3 + 1]! > 0.3 ? 1 : 0);
      }
      return { x, y };
    };
    const tr = make(500);
    const te = make(500);
    const m = fitBoosting(tr.x, tr.y, { trees: 30 });
    expect(auroc(m.predict(te.x), te.y)).toBeGreaterThan(0.99);
  });

  it('learns an interaction (XOR) that logistic regression cannot', () => {
    const rng = new Rng(4);
    const make = (n: number) => {
      const x = matrix(n, 2);
      const y: number[] = [];
      for (let i = 0; i < n; i++) {
        x.x[i * 2] = rng.float() - 0.5;
        x.x[i * 2 + 1] = rng.float() - 0.5;
        y.push(x.x[i * 2]! * x.x[i * 2 + 1]! > 0 ? 1 : 0);
      }
      return { x, y };
    };
    const tr = make(1000);
    const te = make(1000);
    expect(auroc(fitBoosting(tr.x, tr.y).predict(te.x), te.y)).toBeGreaterThan(0.95);
    expect(Math.abs(auroc(fitLogistic(tr.x, tr.y).predict(te.x), te.y) - 0.5)).toBeLessThan(0.1);
  });

  it('predicts group frequencies on one binary feature (the logistic closed form again)', () => {
    const x = matrix(200, 1);
    const y: number[] = [];
    for (let i = 0; i < 200; i++) {
      x.x[i] = i < 100 ? 0 : 1;
      y.push(i < 100 ? (i % 10 < 3 ? 1 : 0) : i % 10 < 8 ? 1 : 0);
    }
    const p = fitBoosting(x, y, { trees: 300, l2: 0 }).predict(x);
    expect(p[0]!).toBeCloseTo(0.3, 3);
    expect(p[150]!).toBeCloseTo(0.8, 3);
  });

  it('finds nothing in pure noise (held-out AUC near 0.5)', () => {
    const { x } = randomProblem(1200, 5, 9);
    const rng = new Rng(10);
    const y = Array.from({ length: 1200 }, () => (rng.float() < 0.5 ? 1 : 0));
    const tr = { n: 600, d: 5, x: x.x.subarray(0, 3000) };
    const te = { n: 600, d: 5, x: x.x.subarray(3000) };
    const auc = auroc(fitBoosting(tr, y.slice(0, 600)).predict(te), y.slice(600));
    expect(Math.abs(auc - 0.5)).toBeLessThan(0.08);
  });

  it('EXPECTED FAILURE - bins out of range', () => {
    const { x, y } = randomProblem(10, 2, 1);
    expect(() => fitBoosting(x, y, { bins: 300 })).toThrow(/bins must be in \[2, 256\], got 300/);
  });
});
