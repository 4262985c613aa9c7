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

/** One AdamW update of `params` (in place) from `grad`, with learning rate `lr`. */
export function adamwStep(
  params: Float32Array,
  grad: Float32Array,
  state: AdamWState,
  lr: number,
  opts: AdamWOptions,
  decay: DecayRanges,
): void {
  const n = params.length;
  if (grad.length !== n || state.m.length !== n || state.v.length !== n) {
    throw new RangeError(`adamwStep: params (${n}), grad (${grad.length}) and moments (${state.m.length}, ${state.v.length}) differ in length`);
  }
  const { beta1: b1, beta2: b2, eps } = opts;
  state.t += 1;
  const bc1 = 1 - b1 ** state.t;
  const bc2 = 1 - b2 ** state.t;
  if (opts.weightDecay > 0) {
    const f = 1 - lr * opts.weightDecay;
    for (const [a, b] of decay) for (let i = a; i < b; i++) params[i]! *= f;
  }
  const { m, v } = state;
  const stepSize = lr / bc1;
  const invSqrtBc2 = 1 / Math.sqrt(bc2);
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const mi = b1 * m[i]! + (1 - b1) * g;
    const vi = b2 * v[i]! + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    // torch: denom = sqrt(v) / sqrt(bc2) + eps, computed from the stored (float32) moments
    params[i]! -= (stepSize * m[i]!) / (Math.sqrt(v[i]!) * invSqrtBc2 + eps);
  }
}
