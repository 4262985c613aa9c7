import { describe, expect, it, vi } from 'vitest';
import { adamwStep, createAdamWState } from '../../src/train/adamw.ts';
import { createOptimizerArena, kernelFor } from '../../src/train/adamwKernel.ts';
import { clipScale, globalNorm } from '../../src/train/gradients.ts';
import { Rng } from '../../src/util/rng.ts';

describe('AdamW SIMD kernel', () => {
  it('gives the scalar loop\'s bits: odd length, decay ranges at unaligned offsets, clipping folded in, 6 steps', () => {
    const rng = new Rng(11);
    const n = 1003;
    const decay: Array<[number, number]> = [[1, 6], [6, 7], [10, 517], [700, 1002]];
    const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const arena = createOptimizerArena(n)!;
    expect(arena).not.toBeNull();
    const kernel = kernelFor(arena.params, arena.grad, arena.m, arena.v)!;
    expect(kernel).not.toBeNull();
    const calls = vi.spyOn(kernel, 'update');
    const plain = { params: new Float32Array(n), grad: new Float32Array(n), state: createAdamWState(n) };
    expect(kernelFor(plain.params, plain.grad, plain.state.m, plain.state.v)).toBeNull();
    for (let i = 0; i < n; i++) arena.params[i] = plain.params[i] = rng.normal();
    const state = { m: arena.m, v: arena.v, t: 0 };
    for (let step = 0; step < 6; step++) {
      // gradients from 1e-6 to 1e3 in size, some exactly 0
      for (let i = 0; i < n; i++) arena.grad[i] = plain.grad[i] = i % 97 === 0 ? 0 : rng.normal() * 10 ** (rng.int(10) - 6);
      const scale = clipScale(globalNorm(plain.grad), 1);
      adamwStep(arena.params, arena.grad, state, 3e-3, o, decay, scale);
      adamwStep(plain.params, plain.grad, plain.state, 3e-3, o, decay, scale);
    }
    expect(state.t).toBe(6);
    expect(Array.from(arena.params)).toEqual(Array.from(plain.params));
    expect(Array.from(arena.m)).toEqual(Array.from(plain.state.m));
    expect(Array.from(arena.v)).toEqual(Array.from(plain.state.v));
    // the kernel did the 4-element groups of every segment, the scalar loop the 0-3 left over
    const segments = [1, 5, 1, 3, 507, 183, 302, 1]; // [0,1) [1,6) [6,7) [7,10) [10,517) [517,700) [700,1002) [1002,1003)
    const bytes = calls.mock.calls.map((c) => c[4]);
    expect(bytes.length).toBe(6 * segments.filter((k) => k >= 4).length);
    expect(bytes.reduce((a, b) => a + b, 0) / 4).toBe(6 * segments.reduce((a, k) => a + k - (k % 4), 0));
  });

  it('matches a float64 reference to float32 rounding', () => {
    const rng = new Rng(3);
    const n = 64;
    const arena = createOptimizerArena(n)!;
    const p0 = Array.from({ length: n }, () => rng.normal());
    arena.params.set(p0);
    const state = { m: arena.m, v: arena.v, t: 0 };
    const g = Array.from({ length: n }, () => rng.normal());
    arena.grad.set(g);
    adamwStep(arena.params, arena.grad, state, 0.01, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, []);
    // a first Adam step moves each weight by lr · g / (|g| + eps·√(1 − b2)) ≈ lr · sign(g)
    let maxdiff = 0;
    for (let i = 0; i < n; i++) maxdiff = Math.max(maxdiff, Math.abs(arena.params[i]! - (p0[i]! - 0.01 * Math.sign(g[i]!))));
    expect(maxdiff).toBeLessThan(1e-6);
  });

  it('BAD CALL - a negative size', () => {
    expect(() => createOptimizerArena(-1)).toThrowError(/n must be an integer ≥ 0, got -1/);
  });

  it('an empty arena updates nothing and does not fail', () => {
    const arena = createOptimizerArena(0)!;
    adamwStep(arena.params, arena.grad, { m: arena.m, v: arena.v, t: 0 }, 0.1, { beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0 }, []);
    expect(arena.params.length).toBe(0);
  });
});
