import type { ParamLayout } from '../model/init.ts';
import { createOptimizerArena, kernelFor, type AdamWKernel } from './adamwKernel.ts';

/**
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW computes it, over one flat Float32Array:
 *
 *   p <- p * (1 - lr * wd)                        decoupled weight decay, only where decayed
 *   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *
 * in float32 arithmetic, each operation rounded to float32 as torch computes on float32 tensors.
 * Where params, grad and moments share an OptimizerArena (adamwKernel.ts), four lanes at a time in
 * WebAssembly SIMD; elsewhere (and for the last few elements of a range) one at a time here, with
 * the same operations in the same order, so both give the same bits.
 */
export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWState {
  /** first moment, same layout as the parameters */
  m: Float32Array;
  /** second moment */
  v: Float32Array;
  /** updates applied so far (t in the bias corrections) */
  t: number;
}

/** [start, end) ranges of the flat array that get weight decay. */
export type DecayRanges = Array<[number, number]>;

/**
 * Which parameters are decayed: matrices of linear layers; embeddings only when asked (GPT practice:
 * never biases or LayerNorm gains and shifts).
 */
export function decayRanges(layout: ParamLayout, decayEmbeddings: boolean): DecayRanges {
  const out: DecayRanges = [];
  layout.specs.forEach((s, i) => {
    if (s.decay || (s.embedding && decayEmbeddings)) out.push([layout.offsets[i]!, layout.offsets[i]! + layout.sizes[i]!]);
  });
  return out;
}

export function createAdamWState(n: number): AdamWState {
  return { m: new Float32Array(n), v: new Float32Array(n), t: 0 };
}

/**
 * Zeroed flat parameters, gradient and AdamW state (t = 0) for n parameters, as the trainer keeps
 * them: in one OptimizerArena (adamwKernel.ts), so adamwStep runs its SIMD kernel over them, or
 * in plain arrays where the kernel cannot run.
 */
export function createOptimizerState(n: number): { params: Float32Array; grad: Float32Array; adam: AdamWState } {
  const arena = createOptimizerArena(n);
  if (!arena) return { params: new Float32Array(n), grad: new Float32Array(n), adam: createAdamWState(n) };
  return { params: arena.params, grad: arena.grad, adam: { m: arena.m, v: arena.v, t: 0 } };
}

/**
 * One AdamW update of `params` (in place) from `grad`, with learning rate `lr`. `gradScale`
 * multiplies the gradient as it is read (global-norm clipping, see clipScale), with the same
 * float32 rounding as scaling `grad` in place first; `grad` itself is left as it is. Decay,
 * moments and the step are one pass over the arrays.
 */
export function adamwStep(
  params: Float32Array,
  grad: Float32Array,
  state: AdamWState,
  lr: number,
  opts: AdamWOptions,
  decay: DecayRanges,
  gradScale = 1,
): void {
  const n = params.length;
  if (grad.length !== n || state.m.length !== n || state.v.length !== n) {
    throw new RangeError(`adamwStep: params (${n}), grad (${grad.length}) and moments (${state.m.length}, ${state.v.length}) differ in length`);
  }
  const { beta1, beta2 } = opts;
  state.t += 1;
  const bc1 = 1 - beta1 ** state.t;
  const bc2 = 1 - beta2 ** state.t;
  // every constant rounded to float32 once, as the kernel receives it
  const f = Math.fround;
  const k: UpdateConstants = {
    b1: f(beta1), b2: f(beta2), c1: f(1 - beta1), c2: f(1 - beta2), eps: f(opts.eps),
    stepSize: f(lr / bc1), invSqrtBc2: f(1 / Math.sqrt(bc2)), gradScale: f(gradScale),
  };
  const decayFactor = f(opts.weightDecay > 0 ? 1 - lr * opts.weightDecay : 1);
  const kernel = kernelFor(params, grad, state.m, state.v);
  const run = (start: number, end: number, factor: number) =>
    kernel ? kernelRange(kernel, params, grad, state.m, state.v, start, end, factor, k) : updateRange(params, grad, state.m, state.v, start, end, factor, k);
  // [start, end) segments covering 0..n: decayed ranges shrink by decayFactor, the rest by 1
  let at = 0;
  for (const [a, b] of [...decay].sort((x, y) => x[0] - y[0])) {
    if (a < at || b > n) throw new RangeError(`adamwStep: decay range [${a}, ${b}) overlaps another or lies outside the ${n} parameters`);
    if (a > at) run(at, a, 1);
    run(a, b, decayFactor);
    at = b;
  }
  if (at < n) run(at, n, 1);
}

interface UpdateConstants {
  b1: number;
  b2: number;
  c1: number;
  c2: number;
  eps: number;
  stepSize: number;
  invSqrtBc2: number;
  gradScale: number;
}

/** The kernel over whole 4-lane groups of [start, end), the scalar loop over the 0-3 left. */
function kernelRange(kernel: AdamWKernel, params: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number, factor: number, k: UpdateConstants): void {
  const groups = (end - start) >> 2;
  if (groups > 0) {
    const at = (a: Float32Array) => a.byteOffset + 4 * start;
    kernel.update(at(params), at(grad), at(m), at(v), 16 * groups, factor, k.b1, k.b2, k.c1, k.c2, k.eps, k.stepSize, k.invSqrtBc2, k.gradScale);
  }
  updateRange(params, grad, m, v, start + 4 * groups, end, factor, k);
}

/**
 * AdamW over [start, end), one element at a time: the kernel's operations in its order, each
 * rounded to float32 (a product, sum, quotient or square root of float32 values computed in
 * float64 and rounded once is the correctly rounded float32 result). Kept monomorphic.
 */
function updateRange(params: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number, factor: number, k: UpdateConstants): void {
  const { b1, b2, c1, c2, eps, stepSize, invSqrtBc2, gradScale } = k;
  const f = Math.fround;
  for (let i = start; i < end; i++) {
    // f(g · 1) is g: one expression for clipped and unclipped gradients
    const g = f(grad[i]! * gradScale);
    const mi = f(f(b1 * m[i]!) + f(c1 * g));
    const vi = f(f(b2 * v[i]!) + f(f(c2 * g) * g));
    m[i] = mi;
    v[i] = vi;
    // torch: denom = sqrt(v) / sqrt(bc2) + eps, on the moments as stored
    params[i] = f(f(params[i]! * factor) - f(f(stepSize * mi) / f(f(f(Math.sqrt(vi)) * invSqrtBc2) + eps)));
  }
}
