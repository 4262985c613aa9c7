/**
 * Decoding a patient's series of one variable so that it stays as steady as real series do.
 *
 * A token says which bin a value is in; where inside the bin is left to the decoder. Drawing each
 * value afresh makes a series jitter inside its bins where the real one is steady (a weight carried
 * forward at 80.0 kg comes back spread over its whole bin), and per-patient spread is what every
 * detector and downstream model looks at. So the position inside the bin follows a latent process:
 *
 *   z = Φ⁻¹(u), u = the value's rank among all training values of the variable (N(0, 1) marginally);
 *   bin k is the interval [Φ⁻¹(C_k), Φ⁻¹(C_k+1)) of z, C = the bins' cumulative shares;
 *   the first value of a patient: z uniform in rank inside its bin (the training distribution there);
 *   each later value: with probability `stick`, when it is in the previous value's bin, the previous
 *   value again (real series repeat exactly: Weight 99 % of the time, GCS 73 %); otherwise
 *   z ~ N(ρ·z_prev, 1 − ρ²) truncated to its bin.
 *
 * The process keeps the marginal N(0, 1), so the values' distribution stays the training one while
 * neighbours stay close. ρ and stick are fitted per variable on the training series (`fitSeriesModel`).
 */
import { Rng } from '../util/rng.ts';
import { binIndex, cumulativeMass, valueAtRank, type BinSet } from './bins.ts';

export interface SeriesModel {
  /** probability that a value in the previous value's bin repeats it exactly */
  stick: number;
  /** lag-one correlation of the latent z between consecutive values that do not repeat */
  rho: number;
}

/** The independent draw: every value afresh inside its bin (SynEHRgy's decoding). */
export const INDEPENDENT: SeriesModel = { stick: 0, rho: 0 };

/** Ranks are kept this far inside (0, 1), where Φ⁻¹ is finite. */
const U_EPS = 1e-12;
const RHO_MAX = 0.9999;

/** Complementary error function, fractional error below 1.2e-7 everywhere (Numerical Recipes' erfcc). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Φ, the standard normal CDF, accurate in both tails (relative error ~1e-7). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Φ⁻¹ (Acklam's rational approximation, relative error 1.15e-9) for p in (0, 1). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p <= 0 ? -Infinity : Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/**
 * A draw of N(mu, sigma²) truncated to [lo, hi] by inverting the CDF; the tail nearer the interval
 * is worked in the small probabilities there, so far-out intervals keep their precision.
 */
export function truncatedNormal(mu: number, sigma: number, lo: number, hi: number, rng: Rng): number {
  if (!(sigma > 0)) return Math.min(Math.max(mu, lo), hi);
  const a = (lo - mu) / sigma;
  const b = (hi - mu) / sigma;
  const w = rng.float();
  let x: number;
  if (a > 0) {
    // upper tail: Φ(-x) is small and exact there
    const pa = normalCdf(-a);
    const pb = normalCdf(-b);
    x = -normalQuantile(pa - w * (pa - pb));
  } else {
    const pa = normalCdf(a);
    const pb = normalCdf(b);
    x = normalQuantile(pa + w * (pb - pa));
  }
  if (!Number.isFinite(x)) x = a > 0 ? a : b;
  return Math.min(Math.max(mu + sigma * x, lo), hi);
}

/** What the decoder remembers of a patient's previous value of one variable. */
export interface SeriesState {
  bin: number;
  z: number;
  value: number;
}

/** Per-variable tables the decoder needs, built once per tokenizer. */
export class SeriesDecoder {
  readonly bins: BinSet;
  readonly model: SeriesModel;
  /** [K+1] cumulative shares; [K+1] their normal scores */
  private readonly cum: Float64Array;
  private readonly zEdge: Float64Array;

  constructor(bins: BinSet, model: SeriesModel) {
    this.bins = bins;
    this.model = model;
    this.cum = cumulativeMass(bins);
    this.zEdge = this.cum.map((c) => normalQuantile(clampU(c)));
  }

  /** The next value of the series, in bin k, after `prev` (null for the patient's first). */
  next(k: number, prev: SeriesState | null, rng: Rng): SeriesState {
    const mass = this.bins.mass[k]!;
    if (prev !== null && prev.bin === k && this.model.stick > 0 && rng.float() < this.model.stick) return prev;
    let w: number;
    let z: number;
    if (prev === null || this.model.rho === 0 || !(mass > 0)) {
      w = rng.float();
      z = normalQuantile(clampU(this.cum[k]! + w * mass));
    } else {
      const rho = this.model.rho;
      z = truncatedNormal(rho * prev.z, Math.sqrt(1 - rho * rho), this.zEdge[k]!, this.zEdge[k + 1]!, rng);
      w = Math.min(Math.max((normalCdf(z) - this.cum[k]!) / mass, 0), 1 - 1e-12);
    }
    return { bin: k, z, value: valueAtRank(this.bins, k, w) };
  }
}

function clampU(u: number): number {
  return Math.min(Math.max(u, U_EPS), 1 - U_EPS);
}

/** Training series a fit simulates at most (the longest kept first is not needed: a seeded subset). */
const FIT_SERIES = 600;
/** Bisection steps on ρ (ρ to about 1e-3). */
const FIT_STEPS = 10;

/**
 * Fits ρ and stick on the training series of one variable (each patient's values in time order) by
 * matching two moments of the real series when they are decoded from their own bins:
 * - stick makes decoded series repeat a value exactly as often as real ones do within a bin: of the
 *   real consecutive pairs in one bin a share r repeat; a latent move lands on the same value by
 *   chance with a share q (simulated), so stick = (r − q) / (1 − q);
 * - ρ makes the mean within-patient sd of the decoded series equal the real one (it falls as ρ
 *   rises; bisection with the same random numbers at every step). A correlation of normal scores
 *   would not do: within a bin, how far values stray depends on the bin's width in z, which varies.
 */
export function fitSeriesModel(series: readonly number[][], bins: BinSet, rng: Rng): SeriesModel {
  const usable = series.filter((s) => s.length >= 2);
  if (usable.length === 0) return INDEPENDENT;
  const fit = usable.length > FIT_SERIES ? rng.fork('subset').shuffle(usable.slice()).slice(0, FIT_SERIES) : usable;
  const binsOf = fit.map((s) => s.map((x) => binIndex(bins.edges, x)));
  let same = 0;
  let repeats = 0;
  fit.forEach((s, i) => {
    for (let t = 1; t < s.length; t++) {
      if (binsOf[i]![t] !== binsOf[i]![t - 1]) continue;
      same++;
      if (s[t] === s[t - 1]) repeats++;
    }
  });
  const r = same > 0 ? repeats / same : 0;
  const target = meanWithinSd(fit);
  const seed = rng.nextU32();
  // decode the real series' bins with (stick, ρ); returns the mean within-patient sd and, with
  // stick 0, the share of same-bin moves that kept their value (q)
  const simulate = (model: SeriesModel): { within: number; q: number } => {
    const dec = new SeriesDecoder(bins, model);
    const sim = new Rng(seed);
    let kept = 0;
    let moves = 0;
    const decoded = binsOf.map((ks) => {
      let prev: SeriesState | null = null;
      return ks.map((k) => {
        const next = dec.next(k, prev, sim);
        if (prev !== null && prev.bin === k) {
          moves++;
          if (next.value === prev.value) kept++;
        }
        prev = next;
        return next.value;
      });
    });
    return { within: meanWithinSd(decoded), q: moves > 0 ? kept / moves : 0 };
  };
  const modelAt = (rho: number): SeriesModel => {
    const q = same > 0 ? simulate({ stick: 0, rho }).q : 0;
    return { stick: q < 1 ? Math.min(Math.max((r - q) / (1 - q), 0), 1) : 0, rho };
  };
  let lo = 0;
  let hi = RHO_MAX;
  if (simulate(modelAt(hi)).within >= target) return modelAt(hi);
  if (simulate(modelAt(lo)).within <= target) return modelAt(lo);
  for (let i = 0; i < FIT_STEPS; i++) {
    const mid = (lo + hi) / 2;
    if (simulate(modelAt(mid)).within > target) lo = mid;
    else hi = mid;
  }
  return modelAt((lo + hi) / 2);
}

/** The mean over series of 2+ values of their standard deviation. */
function meanWithinSd(series: readonly number[][]): number {
  let total = 0;
  let n = 0;
  for (const s of series) {
    if (s.length < 2) continue;
    let m = 0;
    for (const x of s) m += x;
    m /= s.length;
    let v = 0;
    for (const x of s) v += (x - m) ** 2;
    total += Math.sqrt(v / s.length);
    n++;
  }
  return n > 0 ? total / n : 0;
}
