/**
 * Value and time binning (DESIGN.md, "Tokenizer and grammar").
 *
 * A `BinSet` is K bins given by K+1 ascending edges e_0 <= ... <= e_K. A value x falls in the largest
 * k with e_k <= x, clamped to [0, K-1]: values below e_0 join the first bin and values at or above
 * e_K join the last, so every finite value has a bin ("out-of-range values clamp to the end bins").
 * Each bin also keeps M within-bin quantiles of the training values it received, so decoding draws a
 * value from (a piecewise-linear approximation of) the training distribution inside the bin instead
 * of uniformly between its edges.
 */
import type { Rng } from '../util/rng.ts';

export type BinType = 'uniform' | 'quantile' | 'quantile_ueq';

export interface BinSet {
  /** [K+1] ascending bin edges */
  edges: number[];
  /** [K][M] ascending within-bin quantiles of the training values in each bin (q_0 = min, q_M-1 = max) */
  quantiles: number[][];
  /** every training value was an integer: decoded values are rounded (GCS, counts, ages) */
  integer: boolean;
  /**
   * the most decimals any training value had (at most MAX_DECIMALS): decoded values are rounded to
   * it, so 92.33 comes back as 92.41, not 92.4137805. Absent in files that predate it: no rounding.
   */
  decimals?: number;
}

/** The quantile points quantile_ueq puts edges at (SynEHRgy): min, p2, p5, ..., p98, max. */
export const UEQ_PROBS = [0, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 1];

/** Linear-interpolation quantile of an ascending array (numpy's default method). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantileSorted: empty array');
  const pos = p * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const frac = pos - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * frac;
}

/** SynEHRgy's default bin count for a variable: min(10, floor(n_unique / 5)), at least 1. */
export function defaultBinCount(nUnique: number): number {
  return Math.max(1, Math.min(10, Math.floor(nUnique / 5)));
}

function countUnique(sorted: Float64Array): number {
  let u = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) u++;
  return u;
}

/**
 * SynEHRgy's tail trimming: the part of `sorted` that bin edges are fitted on. The upper tail above
 * p97.5 is dropped when it reaches far out, (max - p97.5) / (p97.5 - median) > 3; the mirror rule
 * drops the lower tail below p2.5. The dropped values still get a bin (the end bins, by clamping).
 */
export function trimTails(sorted: Float64Array): Float64Array {
  const n = sorted.length;
  if (n < 3) return sorted;
  const max = sorted[n - 1]!;
  const min = sorted[0]!;
  const med = quantileSorted(sorted, 0.5);
  const p975 = quantileSorted(sorted, 0.975);
  const p025 = quantileSorted(sorted, 0.025);
  const far = (outer: number, inner: number, centre: number): boolean => {
    const reach = Math.abs(outer - inner);
    const spread = Math.abs(inner - centre);
    // spread 0 with a reach > 0 is an infinitely far tail
    return reach > 3 * spread && reach > 0;
  };
  let lo = min;
  let hi = max;
  if (far(max, p975, med)) hi = p975;
  if (far(min, p025, med)) lo = p025;
  if (lo === min && hi === max) return sorted;
  let a = 0;
  while (a < n && sorted[a]! < lo) a++;
  let b = n;
  while (b > a && sorted[b - 1]! > hi) b--;
  return sorted.subarray(a, b);
}

function dedupe(edges: number[]): number[] {
  const out: number[] = [];
  for (const e of edges) if (out.length === 0 || e > out[out.length - 1]!) out.push(e);
  // a constant variable still has one bin
  if (out.length === 1) out.push(out[0]!);
  return out;
}

/**
 * Bin edges for one variable from its training values. `nBins` null = SynEHRgy's default count;
 * quantile_ueq ignores it (its edges are the fixed UEQ_PROBS quantiles). Repeated edges (ties in the
 * data) are merged, so a variable can end up with fewer bins than asked for.
 */
export function fitValueEdges(
  values: ArrayLike<number>,
  binType: BinType,
  nBins: number | null,
  trim: boolean,
): number[] {
  if (values.length === 0) throw new RangeError('fitValueEdges: no training values');
  const sorted = Float64Array.from(values).sort();
  const n = nBins ?? defaultBinCount(countUnique(sorted));
  const core = trim ? trimTails(sorted) : sorted;
  const lo = core[0]!;
  const hi = core[core.length - 1]!;
  if (binType === 'uniform') {
    const edges: number[] = [];
    for (let k = 0; k <= n; k++) edges.push(k === n ? hi : lo + ((hi - lo) * k) / n);
    return dedupe(edges);
  }
  const probs = binType === 'quantile_ueq' ? UEQ_PROBS : Array.from({ length: n + 1 }, (_, k) => k / n);
  return dedupe(probs.map((p) => quantileSorted(core, p)));
}

/** The bin of x: the largest k with edges[k] <= x, clamped to [0, K-1]. Binary search, no allocation. */
export function binIndex(edges: readonly number[], x: number): number {
  const last = edges.length - 2; // K - 1
  let lo = 0;
  let hi = last;
  // invariant: answer in [lo, hi]; edges[k] <= x for k < answer+1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (edges[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Decoded values are never rounded finer than this; values with more decimals count as this many. */
export const MAX_DECIMALS = 6;

/** The most decimals any of the values has, up to MAX_DECIMALS (0 for integers). */
export function maxDecimals(values: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < values.length && d < MAX_DECIMALS; i++) {
    const v = values[i]!;
    while (d < MAX_DECIMALS) {
      const scaled = v * 10 ** d;
      // tolerance for binary floating point: 0.1 * 10 is 1.0000000000000002
      if (Math.abs(scaled - Math.round(scaled)) <= 1e-9 * Math.abs(scaled)) break;
      d++;
    }
  }
  return d;
}

function roundTo(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

/** Whether all values are integers. */
export function allIntegers(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isInteger(values[i])) return false;
  return true;
}

/**
 * Completes edges into a BinSet: assigns each training value its bin and keeps `m` quantiles per bin.
 * A bin no training value fell in keeps evenly spaced points between its edges.
 */
export function fitBinSet(edges: number[], values: ArrayLike<number>, m: number): BinSet {
  const K = edges.length - 1;
  const perBin: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < values.length; i++) perBin[binIndex(edges, values[i]!)]!.push(values[i]!);
  const quantiles = perBin.map((vals, k) => {
    if (vals.length === 0) {
      const lo = edges[k]!;
      const hi = edges[k + 1]!;
      return Array.from({ length: m }, (_, j) => lo + ((hi - lo) * j) / (m - 1));
    }
    const s = Float64Array.from(vals).sort();
    return Array.from({ length: m }, (_, j) => quantileSorted(s, j / (m - 1)));
  });
  return { edges, quantiles, integer: values.length > 0 && allIntegers(values), decimals: maxDecimals(values) };
}

/**
 * A value inside bin k, drawn by inverse-CDF through the bin's within-bin quantiles. The result is
 * rounded to the training values' decimals and guaranteed to fall back in bin k (binIndex(edges, x)
 * === k): rounding stays between the bin's extreme quantiles, which are training values, and a float
 * that lands on the next edge is pulled back to this one.
 */
export function drawInBin(bins: BinSet, k: number, rng: Rng): number {
  const q = bins.quantiles[k]!;
  const pos = rng.float() * (q.length - 1);
  const j = Math.floor(pos);
  const a = q[j]!;
  const b = q[Math.min(j + 1, q.length - 1)]!;
  let x = a + (b - a) * (pos - j);
  if (bins.integer) {
    x = Math.round(x);
    if (x < q[0]!) x = Math.ceil(q[0]!);
    if (x > q[q.length - 1]!) x = Math.floor(q[q.length - 1]!);
  } else if (bins.decimals !== undefined && bins.decimals < MAX_DECIMALS) {
    // q[0] and q[M-1] are training values, which have at most `decimals` decimals: rounding stays between them
    x = Math.min(Math.max(roundTo(x, bins.decimals), q[0]!), q[q.length - 1]!);
  }
  if (binIndex(bins.edges, x) !== k) x = binIndex(bins.edges, q[0]!) === k ? q[0]! : bins.edges[k]!;
  return x;
}

/** Lower and upper bound of what bin k holds, for messages and checks ([-inf, +inf) at the clamped ends). */
export function binRange(edges: readonly number[], k: number): [number, number] {
  const K = edges.length - 1;
  return [k === 0 ? -Infinity : edges[k]!, k === K - 1 ? Infinity : edges[k + 1]!];
}
