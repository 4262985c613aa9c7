import type { Matrix } from './features.ts';

/**
 * Brute-force nearest neighbours in Euclidean feature space. Every distance-based metric (PRDC,
 * DCR, NNDR, NNAA, membership inference) needs the same few pair scans, so they are done once per
 * pair of sets and each metric reads what it needs. Distances here are squared unless named `dist`.
 * Notation: A = query rows, B = reference rows, D = columns.
 */

/**
 * Squared distances from row `i` of `a` to every row of `b`, written to `out` ([b.n]).
 * The inner loop is unrolled by four: it runs N·M·D times and dominates the evaluation's time.
 */
export function distancesFromRow(out: Float64Array, a: Matrix, i: number, b: Matrix): void {
  const D = a.d;
  const ax = a.x;
  const bx = b.x;
  const ai = i * D;
  const D4 = D - (D % 4);
  for (let j = 0; j < b.n; j++) {
    const bj = j * D;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let c = 0;
    for (; c < D4; c += 4) {
      const d0 = ax[ai + c]! - bx[bj + c]!;
      const d1 = ax[ai + c + 1]! - bx[bj + c + 1]!;
      const d2 = ax[ai + c + 2]! - bx[bj + c + 2]!;
      const d3 = ax[ai + c + 3]! - bx[bj + c + 3]!;
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
    }
    for (; c < D; c++) {
      const d0 = ax[ai + c]! - bx[bj + c]!;
      s0 += d0 * d0;
    }
    out[j] = s0 + s1 + s2 + s3;
  }
}

/**
 * Squared distance of each row of `a` to its k nearest rows of `b`, ascending, [a.n, k].
 * With `self` (a and b the same set) a row is not its own neighbour; exact duplicates still are.
 */
export function kNearest(a: Matrix, b: Matrix, k: number, self = false): Float64Array {
  const avail = self ? b.n - 1 : b.n;
  if (k > avail) throw new RangeError(`kNearest: k = ${k} but only ${avail} reference rows`);
  const out = new Float64Array(a.n * k);
  const row = new Float64Array(b.n);
  const best = new Float64Array(k);
  for (let i = 0; i < a.n; i++) {
    distancesFromRow(row, a, i, b);
    if (self) row[i] = Infinity;
    smallestK(best, row, k);
    out.set(best, i * k);
  }
  return out;
}

/** The k smallest entries of `row`, ascending, into `best` (insertion into a k-sized sorted list). */
export function smallestK(best: Float64Array, row: Float64Array, k: number): void {
  best.fill(Infinity);
  for (let j = 0; j < row.length; j++) {
    const v = row[j]!;
    if (v >= best[k - 1]!) continue;
    let p = k - 1;
    while (p > 0 && best[p - 1]! > v) {
      best[p] = best[p - 1]!;
      p--;
    }
    best[p] = v;
  }
}

/** Column k−1 of a [n, k] kNearest result: the k-th neighbour's squared distance per row. */
export function kthColumn(knn: Float64Array, k: number, col = k - 1): Float64Array {
  const n = knn.length / k;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = knn[i * k + col]!;
  return out;
}
