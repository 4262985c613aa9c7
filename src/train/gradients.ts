/**
 * Global-norm gradient clipping over the flat gradient array (all parameters at once, as
 * torch.nn.utils.clip_grad_norm_ does). The sum of squares runs in float64 so the norm does not
 * depend on summation order effects of float32 at millions of terms.
 */
export function globalNorm(grad: Float32Array): number {
  let s = 0;
  for (let i = 0; i < grad.length; i++) s += grad[i]! * grad[i]!;
  return Math.sqrt(s);
}

/**
 * The factor global-norm clipping scales a gradient of norm `norm` by: maxNorm / (norm + 1e-6)
 * when the norm exceeds maxNorm, else 1 (and always 1 when maxNorm is 0: no clipping). The 1e-6 is
 * PyTorch's: it keeps the scale finite when the norm is tiny (it cannot be here, but matching the
 * reference keeps the two implementations comparable).
 */
export function clipScale(norm: number, maxNorm: number): number {
  return maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
}

/**
 * Scale `grad` in place so its global L2 norm is at most `maxNorm` (0 = no clipping). Returns the
 * norm before clipping, which is what is logged as grad_norm. The trainer passes clipScale to
 * adamwStep instead, which saves this pass over the gradient.
 */
export function clipGradNorm(grad: Float32Array, maxNorm: number): number {
  const norm = globalNorm(grad);
  const scale = clipScale(norm, maxNorm);
  if (scale !== 1) for (let i = 0; i < grad.length; i++) grad[i]! *= scale;
  return norm;
}
