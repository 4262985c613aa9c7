import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { adamwStep, createAdamWState, decayRanges } from '../../src/train/adamw.ts';
import { learningRate } from '../../src/train/schedule.ts';
import { clipGradNorm, clipScale, globalNorm } from '../../src/train/gradients.ts';
import { paramLayout } from '../../src/model/init.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { modelConfigSchema } from '../../src/model/config.ts';
import { Rng } from '../../src/util/rng.ts';

/** AdamW written the textbook way, one scalar at a time, all in float64 (torch.optim.AdamW's algorithm). */
function adamwReference(
  p: number[], grads: number[][], lrs: number[], o: { b1: number; b2: number; eps: number; wd: number }, decayed: boolean[],
): number[] {
  const x = [...p];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < x.length; i++) {
      if (decayed[i]) x[i] = x[i]! - lrs[k]! * o.wd * x[i]!;
      m[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! ** 2;
      const mhat = m[i]! / (1 - o.b1 ** t);
      const vhat = v[i]! / (1 - o.b2 ** t);
      x[i] = x[i]! - lrs[k]! * (mhat / (Math.sqrt(vhat) + o.eps));
    }
  });
  return x;
}

describe('AdamW', () => {
  it('matches a float64 scalar reference over several steps, with decay on some ranges only', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 12 }), (seed, n, steps) => {
        const rng = new Rng(seed);
        const p0 = Array.from({ length: n }, () => rng.normal());
        const grads = Array.from({ length: steps }, () => Array.from({ length: n }, () => rng.normal() * 10 ** (rng.int(5) - 3)));
        const lrs = Array.from({ length: steps }, () => 1e-3 + rng.float() * 1e-2);
        const cut = rng.int(n + 1);
        const decayed = p0.map((_, i) => i < cut);
        const o = { b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.1 };
        const want = adamwReference(p0, grads, lrs, o, decayed);

        const params = Float32Array.from(p0);
        const state = createAdamWState(n);
        grads.forEach((g, k) =>
          adamwStep(params, Float32Array.from(g), state, lrs[k]!, { beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd }, [[0, cut]]),
        );
        expect(state.t).toBe(steps);
        let maxdiff = 0;
        for (let i = 0; i < n; i++) maxdiff = Math.max(maxdiff, Math.abs(params[i]! - want[i]!));
        // float32 storage of weights and moments: a few ulps of |p| ~ 1 per step
        expect(maxdiff).toBeLessThan(1e-6 * steps + 1e-6);
      }),
      { numRuns: 60 },
    );
  });

  it('a first step moves every parameter by lr against its gradient sign (bias-corrected Adam)', () => {
    const params = new Float32Array([1, -1, 0.5]);
    const state = createAdamWState(3);
    adamwStep(params, new Float32Array([3, -0.001, 1e3]), state, 0.01, { beta1: 0.9, beta2: 0.999, eps: 1e-12, weightDecay: 0 }, []);
    expect(Array.from(params).map((x) => +x.toFixed(6))).toEqual([0.99, -0.99, 0.49]);
  });

  it('gradScale (clipping folded in) gives bit for bit what clipping the gradient in place first gives, over scattered decay ranges', () => {
    const rng = new Rng(7);
    const n = 50;
    const p0 = Float32Array.from({ length: n }, () => rng.normal());
    const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const decay: Array<[number, number]> = [[30, 41], [3, 9], [9, 12]];
    const a = p0.slice();
    const b = p0.slice();
    const sa = createAdamWState(n);
    const sb = createAdamWState(n);
    for (let step = 0; step < 5; step++) {
      const g = Float32Array.from({ length: n }, () => rng.normal() * 3);
      const g2 = g.slice();
      const norm = clipGradNorm(g2, 1); // in place
      expect(norm).toBeGreaterThan(1);
      adamwStep(a, g2, sa, 1e-2, o, decay);
      adamwStep(b, g, sb, 1e-2, o, decay, clipScale(globalNorm(g), 1));
    }
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(sb.m)).toEqual(Array.from(sa.m));
    expect(Array.from(sb.v)).toEqual(Array.from(sa.v));
    // and decay reached exactly the listed ranges: with zero gradients only decayed weights move
    const c = p0.slice();
    adamwStep(c, new Float32Array(n), createAdamWState(n), 0.5, o, decay);
    const moved = Array.from(c, (x, i) => x !== p0[i]);
    expect(moved).toEqual(Array.from({ length: n }, (_, i) => (i >= 3 && i < 12) || (i >= 30 && i < 41)));
  });

  it('BAD CALL - overlapping decay ranges', () => {
    expect(() => adamwStep(new Float32Array(10), new Float32Array(10), createAdamWState(10), 1, { beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0.1 }, [[0, 5], [4, 8]])).toThrowError(
      /decay range \[4, 8\) overlaps another/,
    );
  });

  it('decays GPT matrices, not biases, LayerNorm or embeddings unless decay_embeddings', () => {
    const cfg = modelConfigSchema.parse({ n_layer: 1, n_embd: 8, n_head: 2, n_ctx: 4 });
    const layout = paramLayout(gptParamSpecs(cfg, 10));
    const names = (r: Array<[number, number]>) => r.map(([a]) => layout.specs[layout.offsets.indexOf(a)]!.name);
    expect(names(decayRanges(layout, false))).toEqual([
      'transformer.h.0.attn.c_attn.weight',
      'transformer.h.0.attn.c_proj.weight',
      'transformer.h.0.mlp.c_fc.weight',
      'transformer.h.0.mlp.c_proj.weight',
    ]);
    expect(names(decayRanges(layout, true)).slice(0, 2)).toEqual(['transformer.wte.weight', 'transformer.wpe.weight']);
  });

  it('BAD CALL - lengths that differ', () => {
    expect(() => adamwStep(new Float32Array(3), new Float32Array(2), createAdamWState(3), 1, { beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0 }, [])).toThrowError(
      /params \(3\), grad \(2\) and moments \(3, 3\) differ/,
    );
  });
});

describe('learning-rate schedule', () => {
  const base = { lr: 1e-3, min_lr_ratio: 0.1, warmup_steps: 10, max_steps: 111 };
  it('warms up linearly from lr/W to lr', () => {
    expect(learningRate(0, { ...base, schedule: 'cosine' })).toBeCloseTo(1e-4, 15);
    expect(learningRate(4, { ...base, schedule: 'cosine' })).toBeCloseTo(5e-4, 15);
    expect(learningRate(9, { ...base, schedule: 'cosine' })).toBeCloseTo(1e-3, 15);
  });
  it('cosine: lr after warmup, halfway at the midpoint, min_lr_ratio*lr at the last step', () => {
    const c = { ...base, schedule: 'cosine' as const };
    expect(learningRate(10, c)).toBeCloseTo(1e-3, 15);
    expect(learningRate(60, c)).toBeCloseTo(0.55e-3, 15); // (1 + 0.1)/2 * lr, progress 0.5
    expect(learningRate(35, c)).toBeCloseTo(1e-4 + 0.9e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(learningRate(110, c)).toBeCloseTo(1e-4, 15);
    expect(learningRate(500, c)).toBeCloseTo(1e-4, 15);
  });
  it('linear: straight line from lr to min', () => {
    const l = { ...base, schedule: 'linear' as const };
    expect(learningRate(10, l)).toBeCloseTo(1e-3, 15);
    expect(learningRate(35, l)).toBeCloseTo(1e-3 - 0.9e-3 * 0.25, 15);
    expect(learningRate(110, l)).toBeCloseTo(1e-4, 15);
  });
  it('constant after warmup; no warmup starts at lr', () => {
    expect(learningRate(50, { ...base, schedule: 'constant' })).toBe(1e-3);
    expect(learningRate(0, { ...base, warmup_steps: 0, schedule: 'cosine' })).toBeCloseTo(1e-3, 15);
  });
});

describe('global-norm clipping', () => {
  it('scales to max_norm when above, leaves it when below, and reports the norm before', () => {
    const g = new Float32Array([3, 4, 0, 0]);
    expect(clipGradNorm(g, 1)).toBeCloseTo(5, 6);
    expect(globalNorm(g)).toBeCloseTo(1, 5);
    expect(Array.from(g).map((x) => +x.toFixed(5))).toEqual([0.6, 0.8, 0, 0]);
    const h = new Float32Array([0.3, 0.4]);
    expect(clipGradNorm(h, 1)).toBeCloseTo(0.5, 6);
    expect(Array.from(h)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });
  it('0 turns clipping off', () => {
    const g = new Float32Array([30, 40]);
    expect(clipGradNorm(g, 0)).toBeCloseTo(50, 6);
    expect(Array.from(g)).toEqual([30, 40]);
  });
  it('the clipped norm equals max_norm for any vector above it', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 50 }), fc.float({ min: Math.fround(0.01), max: 10, noNaN: true }), (xs, c) => {
        const g = Float32Array.from(xs);
        const before = clipGradNorm(g, c);
        const after = globalNorm(g);
        if (before > c) expect(after).toBeCloseTo(c, 3);
        else expect(after).toBeCloseTo(before, 6);
      }),
    );
  });
});
