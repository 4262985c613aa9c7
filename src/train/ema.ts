/**
 * An exponential moving average of the weights over training (train.ema_decay), as Polyak
 * averaging does for a noisy optimizer: validation and model.safetensors use the average, the
 * optimizer keeps stepping the raw weights.
 *
 * The average starts at zero and is bias-corrected as Adam's moments are: after t updates
 *
 *   sum_t = d · sum_{t−1} + (1 − d) · w_t,        average_t = sum_t / (1 − d^t)
 *
 * which is Σ_k d^(t−k) w_k / Σ_k d^(t−k) over the weights after updates 1..t: every weight it has
 * seen, the newest counting most, and none of the initial weights (an average started at w_0 would
 * keep a share d^t of them: 55% after 600 updates at d = 0.999). `sum` is what a checkpoint keeps.
 */

/** sum ← d · sum + (1 − d) · params, element by element (each rounded to float32). */
export function emaUpdate(sum: Float32Array, params: Float32Array, decay: number): void {
  if (sum.length !== params.length) throw new RangeError(`emaUpdate: the average has ${sum.length} floats, the weights ${params.length}`);
  const rest = 1 - decay;
  for (let i = 0; i < sum.length; i++) sum[i] = decay * sum[i]! + rest * params[i]!;
}

/**
 * The bias-corrected average after `updates` updates, written into `out`; with no update yet there
 * is no average, and `out` gets `params`.
 */
export function emaWeights(out: Float32Array, sum: Float32Array, params: Float32Array, decay: number, updates: number): Float32Array {
  if (updates === 0) {
    out.set(params);
    return out;
  }
  const scale = 1 / (1 - decay ** updates);
  for (let i = 0; i < sum.length; i++) out[i] = sum[i]! * scale;
  return out;
}
