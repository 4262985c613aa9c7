/**
 * Global-norm gradient clipping over the flat gradient array (all parameters at once, as
 * torch.nn.utils.clip_grad_norm_ does). The sum of squares runs in float64 so the norm does not
 * depend on summation order effects of float32 at millions of terms.
 */
export function globalNorm(grad: Float32Array): number {
  // four running sums: independent additions pipeline (one chain waits on each add's latency)
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = grad.length;
  const n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    const a = grad[i]!;
    const b = grad[i + 1]!;
    const c = grad[i + 2]!;
    const d = grad[i + 3]!;
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
  }
  for (let i = n4; i < n; i++) s0 += grad[i]! * grad[i]!;
  return Math.sqrt(s0 + s1 + s2 + s3);
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
  // a float32 factor, as torch's clip_coef tensor is and as adamwStep applies its gradScale
  const scale = Math.fround(clipScale(norm, maxNorm));
  if (scale !== 1) for (let i = 0; i < grad.length; i++) grad[i]! *= scale;
  return norm;
}
