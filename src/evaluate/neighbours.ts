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

/** Rows of `a` handled per pass of `distancesFromRows`: each loaded element of `b` serves four rows. */
export const ROW_BLOCK = 4;

/**
 * Squared distances from rows i0 … i0+r−1 of `a` (r ≤ ROW_BLOCK) to every row of `b`, written to
 * `out` as [r, b.n]. Four query rows at a time read each reference element once instead of four
 * times, which is what bounds this loop in V8 (≈ 1.4× over one row at a time).
 */
export function distancesFromRows(out: Float64Array, a: Matrix, i0: number, r: number, b: Matrix): void {
  if (r !== ROW_BLOCK) {
    for (let t = 0; t < r; t++) distancesFromRow(out.subarray(t * b.n, (t + 1) * b.n), a, i0 + t, b);
    return;
  }
  const D = a.d;
  const M = b.n;
  const ax = a.x;
  const bx = b.x;
  const a0 = i0 * D;
  const a1 = a0 + D;
  const a2 = a1 + D;
  const a3 = a2 + D;
  for (let j = 0; j < M; j++) {
    const bj = j * D;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let c = 0; c < D; c++) {
      const v = bx[bj + c]!;
      const d0 = ax[a0 + c]! - v;
      const d1 = ax[a1 + c]! - v;
      const d2 = ax[a2 + c]! - v;
      const d3 = ax[a3 + c]! - v;
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
    }
    out[j] = s0;
    out[M + j] = s1;
    out[2 * M + j] = s2;
    out[3 * M + j] = s3;
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
  const block = new Float64Array(ROW_BLOCK * b.n);
  const best = new Float64Array(k);
  for (let i0 = 0; i0 < a.n; i0 += ROW_BLOCK) {
    const r = Math.min(ROW_BLOCK, a.n - i0);
    distancesFromRows(block, a, i0, r, b);
    for (let t = 0; t < r; t++) {
      const row = block.subarray(t * b.n, (t + 1) * b.n);
      if (self) row[i0 + t] = Infinity;
      smallestK(best, row, k);
      out.set(best, (i0 + t) * k);
    }
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
