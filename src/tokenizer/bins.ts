/**
 * Value and time binning (DESIGN.md, "Tokenizer and grammar").
 *
 * A `BinSet` is K bins given by K+1 ascending edges e_0 <= ... <= e_K. A value x falls in the largest
 * k with e_k <= x, clamped to [0, K-1]: values below e_0 join the first bin and values at or above
 * e_K join the last, so every finite value has a bin ("out-of-range values clamp to the end bins").
 * Only the last two edges may be equal: [v, v] is a bin that holds the maximum v alone.
 *
 * Each bin keeps the share of training values it received and a few hundred of them at evenly
 * spaced within-bin ranks ("atoms"): decoding inverts that step CDF, so a decoded value is always a
 * training value of its bin and the decoded distribution inside a bin is the training one, tails
 * included (no interpolation towards a far extreme).
 */
import type { Rng } from '../util/rng.ts';

export type BinType = 'uniform' | 'quantile' | 'quantile_ueq';

export interface BinSet {
  /** [K+1] ascending bin edges */
  edges: number[];
  /** [K] share of the training values in each bin (all 0 when there were none) */
  mass: number[];
  /**
   * [K][m_k] ascending training values of each bin at within-bin ranks (i + 0.5) / m_k: atom i
   * stands for ranks [i / m_k, (i + 1) / m_k). m_k grows with the bin's share; empty bins have none.
   */
  atoms: number[][];
  /** every training value was an integer (GCS, counts, ages) */
  integer: boolean;
  /** the most decimals any training value had (at most MAX_DECIMALS): values of an empty bin are rounded to it */
  decimals: number;
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
 * Gives every value holding at least `share` of the training values a bin of its own, [v, v') with
 * v' the next distinct training value (or [v, v] when v is the largest): decoding then returns v
 * itself, where a shared bin would spread it (GCS 15, FiO2 0.5, a gap of exactly one hour). Edges
 * strictly between v and v' are dropped, since no training value lies there.
 */
function isolateAtoms(edges: number[], sorted: Float64Array, share: number): number[] {
  const n = sorted.length;
  const lo = edges[0]!;
  const hi = edges[edges.length - 1]!;
  let out = edges.slice();
  let atMax = false;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n && sorted[j] === sorted[i]) j++;
    const v = sorted[i]!;
    if ((j - i) / n >= share && v >= lo && v <= hi) {
      if (j < n) {
        const next = sorted[j]!;
        out = out.filter((e) => !(e > v && e < next));
        out.push(v, next);
      } else {
        out = out.filter((e) => !(e > v));
        out.push(v);
        atMax = true;
      }
    }
    i = j;
  }
  out.sort((a, b) => a - b);
  const d = dedupe(out);
  // the largest value alone: [.., v) then [v, v]
  if (atMax && d.length >= 2 && d[d.length - 1] === sorted[n - 1] && d[d.length - 2] !== d[d.length - 1]) d.push(sorted[n - 1]!);
  return d;
}

/** The most edges tail growth adds on one side. */
const MAX_TAIL_EDGES = 32;

/** How fitValueEdges refines the edges of its bin type (every option off by default: SynEHRgy's edges). */
export interface EdgeOptions {
  /** each value with at least this share of the values gets a bin of its own (isolateAtoms) */
  atomShare?: number | null;
  /**
   * beyond the outermost edges, more edges out to the smallest and largest values, the first step as
   * wide as the bin next to it and each next one this factor wider (e.g. 1.5): far values keep bins
   * of their own instead of all sharing one end bin (a creatinine of 3 and one of 20, a gap of 2 h
   * and one of 25 h); null = none (SynEHRgy)
   */
  tailGrowth?: number | null;
}

/**
 * Bin edges for one variable from its training values. `nBins` null = SynEHRgy's default count;
 * quantile_ueq ignores it (its edges are the fixed UEQ_PROBS quantiles). Repeated edges (ties in the
 * data) are merged, so a variable can end up with fewer bins than asked for.
 */
export function fitValueEdges(values: ArrayLike<number>, binType: BinType, nBins: number | null, trim: boolean, opts: EdgeOptions = {}): number[] {
  if (values.length === 0) throw new RangeError('fitValueEdges: no training values');
  const sorted = Float64Array.from(values).sort();
  const n = nBins ?? defaultBinCount(countUnique(sorted));
  const core = trim ? trimTails(sorted) : sorted;
  const lo = core[0]!;
  const hi = core[core.length - 1]!;
  let edges: number[];
  if (binType === 'uniform') {
    edges = [];
    for (let k = 0; k <= n; k++) edges.push(k === n ? hi : lo + ((hi - lo) * k) / n);
  } else {
    const probs = binType === 'quantile_ueq' ? UEQ_PROBS : Array.from({ length: n + 1 }, (_, k) => k / n);
    edges = probs.map((p) => quantileSorted(core, p));
  }
  const g = opts.tailGrowth ?? null;
  const inner = [...new Set(edges)].sort((a, b) => a - b);
  if (g !== null && g > 1 && inner.length >= 2) {
    const min = sorted[0]!;
    const max = sorted[sorted.length - 1]!;
    // from the outermost edge inside the data (an end bin that reaches the extreme is the one to
    // split), steps as wide as the bin next to it, each g times wider than the one before
    // (a first step of at least 1/1000 of the way, and at most MAX_TAIL_EDGES, however narrow the bin)
    let i = inner.length - 1;
    if (inner[i]! >= max) i--;
    if (i >= 1) {
      let w = Math.max(inner[i]! - inner[i - 1]!, (max - inner[i]!) / 1000);
      for (let e = inner[i]! + w, n = 0; e < max && n < MAX_TAIL_EDGES; w *= g, e += w, n++) edges.push(e);
    }
    let j = 0;
    if (inner[j]! <= min) j++;
    if (j + 1 < inner.length) {
      let w = Math.max(inner[j + 1]! - inner[j]!, (inner[j]! - min) / 1000);
      for (let e = inner[j]! - w, n = 0; e > min && n < MAX_TAIL_EDGES; w *= g, e -= w, n++) edges.push(e);
    }
  }
  edges = dedupe(edges.sort((a, b) => a - b));
  const share = opts.atomShare ?? null;
  return share !== null && share > 0 && edges[edges.length - 1]! > edges[0]! ? isolateAtoms(edges, sorted, share) : edges;
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
 * Completes edges into a BinSet: assigns each training value its bin and keeps, per bin, its share
 * of the values and about `atoms · share` of them at evenly spaced within-bin ranks (at least one,
 * at most all of them). A bin no training value fell in keeps no atoms (decoding then draws
 * uniformly between its edges).
 */
export function fitBinSet(edges: number[], values: ArrayLike<number>, atoms: number): BinSet {
  // the end bins hold the tails, which decide a variable's spread and its patients' extremes: they
  // keep at least TAIL_ATOMS values (or all of theirs)
  const K = edges.length - 1;
  const perBin: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < values.length; i++) perBin[binIndex(edges, values[i]!)]!.push(values[i]!);
  const N = values.length;
  const mass = perBin.map((v) => (N > 0 ? v.length / N : 0));
  const atomSets = perBin.map((vals, k) => {
    if (vals.length === 0) return [];
    const s = Float64Array.from(vals).sort();
    const want = Math.ceil((atoms * s.length) / N);
    const m = Math.max(1, Math.min(s.length, k === 0 || k === K - 1 ? Math.max(want, TAIL_ATOMS) : want));
    // atom i stands for within-bin ranks [i/m, (i+1)/m): the value at the middle of that range
    return Array.from({ length: m }, (_, i) => s[Math.min(s.length - 1, Math.floor(((i + 0.5) / m) * s.length))]!);
  });
  return { edges, mass, atoms: atomSets, integer: N > 0 && allIntegers(values), decimals: maxDecimals(values) };
}

/** The fewest atoms an end bin keeps (fitBinSet). */
export const TAIL_ATOMS = 256;

/** The number of bins, K. */
export function binCount(bins: BinSet): number {
  return bins.edges.length - 1;
}

/**
 * The value at within-bin rank w in [0, 1) of bin k: the step inverse CDF of the bin's training
 * values, so every value it gives is a training value of bin k and falls back in bin k. An empty
 * bin gives a value between its edges at w, rounded as the training values were.
 */
export function valueAtRank(bins: BinSet, k: number, w: number): number {
  const a = bins.atoms[k]!;
  if (a.length > 0) return a[Math.min(a.length - 1, Math.floor(w * a.length))]!;
  const lo = bins.edges[k]!;
  const hi = bins.edges[k + 1]!;
  let x = lo + (hi - lo) * w;
  if (bins.integer) x = Math.ceil(x);
  else x = roundTo(x, bins.decimals);
  // rounding up may reach the next edge, which belongs to the next bin (except for the last bin)
  if (binIndex(bins.edges, x) !== k) x = lo;
  return x;
}

/** A value of bin k drawn from the training distribution inside it (an independent draw). */
export function drawInBin(bins: BinSet, k: number, rng: Rng): number {
  return valueAtRank(bins, k, rng.float());
}

/** [K+1] the cumulative share of training values below each bin's lower edge: 0, m_0, m_0 + m_1, ..., 1. */
export function cumulativeMass(bins: BinSet): Float64Array {
  const c = new Float64Array(bins.mass.length + 1);
  for (let k = 0; k < bins.mass.length; k++) c[k + 1] = c[k]! + bins.mass[k]!;
  return c;
}

/** Lower and upper bound of what bin k holds, for messages and checks ([-inf, +inf) at the clamped ends). */
export function binRange(edges: readonly number[], k: number): [number, number] {
  const K = edges.length - 1;
  return [k === 0 ? -Infinity : edges[k]!, k === K - 1 ? Infinity : edges[k + 1]!];
}
