import type { ParamLayout } from '../model/init.ts';

/**
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW computes it, over one flat Float32Array:
 *
 *   p <- p * (1 - lr * wd)                        decoupled weight decay, only where decayed
 *   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *
 * Moments are stored in float32 like the weights; each update is computed in float64 and rounded
 * once on store.
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
  const { beta1: b1, beta2: b2, eps } = opts;
  state.t += 1;
  const bc1 = 1 - b1 ** state.t;
  const bc2 = 1 - b2 ** state.t;
  const stepSize = lr / bc1;
  const invSqrtBc2 = 1 / Math.sqrt(bc2);
  const decayFactor = opts.weightDecay > 0 ? 1 - lr * opts.weightDecay : 1;
  const k: UpdateConstants = { b1, b2, c1: 1 - b1, c2: 1 - b2, eps, stepSize, invSqrtBc2, gradScale };
  // [start, end) segments covering 0..n: decayed ranges shrink by decayFactor, the rest by 1
  let at = 0;
  for (const [a, b] of [...decay].sort((x, y) => x[0] - y[0])) {
    if (a < at || b > n) throw new RangeError(`adamwStep: decay range [${a}, ${b}) overlaps another or lies outside the ${n} parameters`);
    if (a > at) updateRange(params, grad, state.m, state.v, at, a, 1, k);
    updateRange(params, grad, state.m, state.v, a, b, decayFactor, k);
    at = b;
  }
  if (at < n) updateRange(params, grad, state.m, state.v, at, n, 1, k);
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

/** AdamW over [start, end): the hot loop, kept monomorphic (typed arrays and numbers only). */
function updateRange(params: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number, factor: number, k: UpdateConstants): void {
  const { b1, b2, c1, c2, eps, stepSize, invSqrtBc2, gradScale } = k;
  for (let i = start; i < end; i++) {
    // Math.fround(g · 1) is g: one expression for clipped and unclipped gradients
    const g = Math.fround(grad[i]! * gradScale);
    // moments are stored in float32 and used as stored (torch: denom = sqrt(v) / sqrt(bc2) + eps)
    const mi = Math.fround(b1 * m[i]! + c1 * g);
    const vi = Math.fround(b2 * v[i]! + c2 * g * g);
    m[i] = mi;
    v[i] = vi;
    params[i] = Math.fround(params[i]! * factor) - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
  }
}
