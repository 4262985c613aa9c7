/**
 * Statistics the evaluation is built from: two-sample distribution distances, correlation, and the
 * scores of a binary classifier. Pure functions over plain arrays; nothing here knows about records.
 *
 * Notation: `real` and `syn` are samples of one column; `scores` are classifier outputs where a
 * larger value means "more likely positive"; `labels` are 0/1.
 */

/**
 * Two-sample Kolmogorov-Smirnov statistic sup_x |F_real(x) − F_syn(x)| over the empirical CDFs.
 * Both CDFs are right-continuous step functions, so the sup is attained just after a sample point:
 * walk the merged order and step over ties in both samples at once before comparing.
 */
export function ksStatistic(real: ArrayLike<number>, syn: ArrayLike<number>): number {
  const a = Float64Array.from(real).sort();
  const b = Float64Array.from(syn).sort();
  const n = a.length;
  const m = b.length;
  // no values on either side: nothing to compare (NaN, left out of means); on one side: all differ
  if (n === 0 || m === 0) return n === m ? NaN : 1;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(a[i]!, b[j]!);
    while (i < n && a[i] === x) i++;
    while (j < m && b[j] === x) j++;
    const diff = Math.abs(i / n - j / m);
    if (diff > d) d = diff;
  }
  return d;
}

/**
 * SDMetrics' KSComplement: 1 − KS statistic, 1 when the two marginals are identical, 0 when they do
 * not overlap (https://docs.sdv.dev/sdmetrics/metrics/quality-metrics/kscomplement).
 */
export function ksComplement(real: ArrayLike<number>, syn: ArrayLike<number>): number {
  return 1 - ksStatistic(real, syn);
}

/** Relative frequencies of each distinct value. */
export function frequencies<T>(values: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  let total = 0;
  for (const v of values) {
    counts.set(v, (counts.get(v) ?? 0) + 1);
    total++;
  }
  if (total > 0) for (const [k, c] of counts) counts.set(k, c / total);
  return counts;
}

/**
 * Total variation distance δ(R, S) = ½ Σ_ω |R_ω − S_ω| over the union of categories, given as
 * relative frequencies.
 */
export function totalVariation<T>(p: Map<T, number>, q: Map<T, number>): number {
  let s = 0;
  for (const [k, pk] of p) s += Math.abs(pk - (q.get(k) ?? 0));
  for (const [k, qk] of q) if (!p.has(k)) s += qk;
  return s / 2;
}

/**
 * SDMetrics' TVComplement: 1 − δ(R, S) on the category frequencies of one discrete column
 * (https://docs.sdv.dev/sdmetrics/metrics/quality-metrics/tvcomplement). Missing values are a
 * category of their own here (SDMetrics drops them): a generator that forgets to leave a covariate
 * missing should lose score for it.
 */
export function tvComplement<T>(real: Iterable<T>, syn: Iterable<T>): number {
  const p = frequencies(real);
  const q = frequencies(syn);
  // as ksStatistic: both empty is no comparison, one empty is no overlap at all
  if (p.size === 0 || q.size === 0) return p.size === q.size ? NaN : 0;
  return 1 - totalVariation(p, q);
}

/**
 * Jensen-Shannon divergence in bits (so it lies in [0, 1]) between two distributions given as
 * counts or frequencies over a shared key space; each side is normalized first.
 */
export function jensenShannon<T>(p: Map<T, number>, q: Map<T, number>): number {
  const keys = new Set<T>([...p.keys(), ...q.keys()]);
  let sp = 0;
  let sq = 0;
  for (const k of keys) {
    sp += p.get(k) ?? 0;
    sq += q.get(k) ?? 0;
  }
  if (sp === 0 || sq === 0) return sp === sq ? 0 : 1;
  let js = 0;
  for (const k of keys) {
    const pk = (p.get(k) ?? 0) / sp;
    const qk = (q.get(k) ?? 0) / sq;
    const mk = (pk + qk) / 2;
    if (pk > 0) js += 0.5 * pk * Math.log2(pk / mk);
    if (qk > 0) js += 0.5 * qk * Math.log2(qk / mk);
  }
  return Math.max(0, Math.min(1, js));
}

/** Counts of each distinct value (for integer-valued distributions such as codes per admission). */
export function counts<T>(values: Iterable<T>): Map<T, number> {
  const c = new Map<T, number>();
  for (const v of values) c.set(v, (c.get(v) ?? 0) + 1);
  return c;
}

/** Pearson correlation of two equal-length vectors; NaN when either is constant or shorter than 2. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson: lengths differ (${n} vs ${y.length})`);
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/**
 * Pearson r between two keyed frequency tables over the union of their keys (a key absent on one
 * side counts 0 there), as HALO and SynEHRgy compare code and n-gram probabilities.
 */
export function pearsonOverKeys<T>(p: Map<T, number>, q: Map<T, number>): number {
  const keys = [...new Set<T>([...p.keys(), ...q.keys()])];
  const x = keys.map((k) => p.get(k) ?? 0);
  const y = keys.map((k) => q.get(k) ?? 0);
  return pearson(x, y);
}

function checkBinary(scores: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (scores.length !== labels.length) {
    throw new RangeError(`scores and labels differ in length (${scores.length} vs ${labels.length})`);
  }
}

/**
 * Area under the ROC curve by the Mann-Whitney U statistic: the probability that a random positive
 * scores above a random negative, ties counting one half (mid-ranks). NaN with one class only.
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkBinary(scores, labels);
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPos = 0;
  let nPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let t = i; t <= j; t++) {
      if (labels[order[t]!]! > 0) {
        rankSumPos += midRank;
        nPos++;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export interface RocCurve {
  /** false positive rates, from 0 to 1, one point per distinct score threshold */
  fpr: number[];
  /** true positive rates, same length */
  tpr: number[];
}

/** The ROC curve: thresholds at every distinct score, from the highest down. */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): RocCurve {
  checkBinary(scores, labels);
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (labels[i]! > 0) nPos++;
  const nNeg = n - nPos;
  const fpr = [0];
  const tpr = [0];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n && scores[order[j]!] === scores[order[i]!]) {
      if (labels[order[j]!]! > 0) tp++;
      else fp++;
      j++;
    }
    fpr.push(nNeg ? fp / nNeg : 0);
    tpr.push(nPos ? tp / nPos : 0);
    i = j;
  }
  return { fpr, tpr };
}

/** Area under a piecewise-linear curve by the trapezoid rule (x ascending). */
export function trapezoid(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return a;
}

/**
 * Area under the precision-recall curve as average precision, Σ_n (R_n − R_{n−1}) P_n over the
 * distinct thresholds (scikit-learn's `average_precision_score`; no interpolation, which would be
 * optimistic). NaN without positives.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkBinary(scores, labels);
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (labels[i]! > 0) nPos++;
  if (nPos === 0) return NaN;
  let tp = 0;
  let seen = 0;
  let prevRecall = 0;
  let ap = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n && scores[order[j]!] === scores[order[i]!]) {
      if (labels[order[j]!]! > 0) tp++;
      seen++;
      j++;
    }
    const recall = tp / nPos;
    ap += (recall - prevRecall) * (tp / seen);
    prevRecall = recall;
    i = j;
  }
  return ap;
}

/** F1 of the rule "positive when score ≥ threshold". 0 when nothing is predicted or present. */
export function f1Score(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): number {
  checkBinary(scores, labels);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const pred = scores[i]! >= threshold;
    const pos = labels[i]! > 0;
    if (pred && pos) tp++;
    else if (pred) fp++;
    else if (pos) fn++;
  }
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/**
 * The threshold that maximizes F1 on (scores, labels): chosen on a model's own training data so
 * that F1 on the test data is not at the mercy of a fixed 0.5 cut on an imbalanced label.
 */
export function bestF1Threshold(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkBinary(scores, labels);
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (labels[i]! > 0) nPos++;
  let tp = 0;
  let predicted = 0;
  let best = -1;
  let bestThr = 0.5;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n && scores[order[j]!] === scores[order[i]!]) {
      if (labels[order[j]!]! > 0) tp++;
      predicted++;
      j++;
    }
    const f1 = tp === 0 ? 0 : (2 * tp) / (predicted + nPos);
    if (f1 > best) {
      best = f1;
      bestThr = scores[order[i]!]!;
    }
    i = j;
  }
  return bestThr;
}

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!);
}

export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s / values.length;
}

/** Mean of the finite entries only (NaN entries stand for "not defined here"). */
export function finiteMean(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}
