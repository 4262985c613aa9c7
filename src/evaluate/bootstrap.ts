import type { Rng } from '../util/rng.ts';
import { quantile } from './stats.ts';

/**
 * Percentile bootstrap intervals for AUROCs of fixed scores: the utility models' predictions on
 * the test split and the detection classifiers' out-of-fold scores. Only the scored rows are
 * resampled; no model is refitted. An interval therefore says how far the figure would move on
 * another draw of the scored patients (about ±0.07 for an AUROC of 0.76 on a test split of 399
 * patients with 55 deaths). It leaves out how far the figure would move with another synthetic set,
 * training seed or fold split; those need reruns with other seeds.
 *
 * Rows are resampled with replacement within each stratum, one stratum per class and group, so
 * every replicate keeps the sample's class counts (and every fold its size). This is the
 * two-sample bootstrap of the Mann-Whitney statistic, and it is what pROC's `ci.auc` does by
 * default ("2000 stratified bootstrap replicates",
 * https://search.r-project.org/CRAN/refmans/pROC/html/ci.auc.html). With groups (detection's
 * folds), the statistic is the mean over groups of each group's AUROC, the same as detection's
 * point figure.
 *
 * Speed: each score vector is sorted once (`RankedScores`). A replicate is a vector of row
 * multiplicities, and the AUROC of a weighted sample takes one pass over the sorted rows.
 * N = rows, S = score vectors, B = replicates: O(S·N log N) once, then O(B·S·N) with no
 * sorting inside the loop.
 */

/** The probability an interval should cover; the issue and the report name 95%. */
export const BOOTSTRAP_LEVEL = 0.95;

/** [lo, hi] */
export type Interval = [number, number];

/**
 * One score vector with its rows sorted once by score within each group, so the AUROC of any
 * resample (given as row multiplicities) is one pass with no sorting.
 */
export class RankedScores {
  /** row indices, group by group, each group ascending by score, [N] */
  private readonly order: Int32Array;
  /** 1 where the row at that sorted position is positive, [N] */
  private readonly positive: Uint8Array;
  /** 1 where the sorted position ends a run of tied scores; runs never span groups, [N] */
  private readonly runLast: Uint8Array;
  /** where each group's rows start in `order`, and N at the end, [G + 1] */
  private readonly groupStart: Int32Array;
  /** every weight 1: the sample itself, [N] */
  private readonly ones: Float64Array;

  /**
   * @param scores larger = more likely positive, [N], all finite
   * @param labels 0/1 (positive when > 0), [N]
   * @param groups group of each row, integers 0..G−1, [N]; absent = one group
   */
  constructor(scores: ArrayLike<number>, labels: ArrayLike<number>, groups?: ArrayLike<number>) {
    const n = scores.length;
    if (labels.length !== n || (groups && groups.length !== n)) {
      throw new RangeError(`RankedScores: ${n} scores, ${labels.length} labels${groups ? `, ${groups.length} groups` : ''}; they must be as many`);
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(scores[i]!)) throw new RangeError(`RankedScores: score ${i} is ${scores[i]}; scores must be finite`);
    }
    const G = groupCount(groups, n);
    const group = (i: number) => (groups ? groups[i]! : 0);
    const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => group(a) - group(b) || scores[a]! - scores[b]!);
    const positive = new Uint8Array(n);
    const runLast = new Uint8Array(n);
    // `order` is sorted by group first, so a group starts after the rows of every group below it
    const groupStart = new Int32Array(G + 1);
    for (let i = 0; i < n; i++) groupStart[group(i) + 1]!++;
    for (let g = 0; g < G; g++) groupStart[g + 1]! += groupStart[g]!;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      positive[k] = labels[i]! > 0 ? 1 : 0;
      const next = order[k + 1];
      runLast[k] = next === undefined || group(next) !== group(i) || scores[next] !== scores[i] ? 1 : 0;
    }
    this.order = order;
    this.positive = positive;
    this.runLast = runLast;
    this.groupStart = groupStart;
    this.ones = new Float64Array(n).fill(1);
  }

  /**
   * Mean over groups of the AUROC where row i counts weights[i] times (the Mann-Whitney U over
   * weighted pairs, ties counting one half; `auroc` in stats.ts when every weight is 1). NaN when
   * a group lacks positive or negative weight.
   */
  auc(weights: Float64Array = this.ones): number {
    const { order, positive, runLast, groupStart } = this;
    const G = groupStart.length - 1;
    let sum = 0;
    for (let g = 0; g < G; g++) {
      let u = 0;
      let negBelow = 0;
      let posTotal = 0;
      // the run so far: its positive and negative weight
      let wp = 0;
      let wn = 0;
      for (let k = groupStart[g]!, end = groupStart[g + 1]!; k < end; k++) {
        const w = weights[order[k]!]!;
        if (positive[k]) wp += w;
        else wn += w;
        if (runLast[k]) {
          // each positive of the run beats the negatives below it and ties half of the run's
          u += wp * (negBelow + wn / 2);
          negBelow += wn;
          posTotal += wp;
          wp = 0;
          wn = 0;
        }
      }
      if (posTotal === 0 || negBelow === 0) return NaN;
      sum += u / (posTotal * negBelow);
    }
    return sum / G;
  }
}

function groupCount(groups: ArrayLike<number> | undefined, n: number): number {
  if (!groups) return 1;
  let G = 0;
  for (let i = 0; i < n; i++) {
    const g = groups[i]!;
    if (!Number.isInteger(g) || g < 0) throw new RangeError(`RankedScores: group ${i} is ${g}; groups must be integers ≥ 0`);
    G = Math.max(G, g + 1);
  }
  return Math.max(G, 1);
}

/** The rows scored: their classes and, for a statistic averaged over folds, their folds. */
export interface ScoredRows {
  /** 0/1 per row, [N] */
  labels: ArrayLike<number>;
  /** fold of each row, 0..G−1, [N]; absent = one group */
  groups?: ArrayLike<number>;
}

/**
 * Percentile bootstrap intervals at `level` for the AUROC (mean over groups) of each score
 * vector over the same rows. Each replicate resamples the rows once within each stratum (class ×
 * group) and scores every vector on that same resample, so the figures of one test split move
 * together. `null` in, or a statistic undefined on the sample (a group with one class), gives
 * `null` out.
 */
export function bootstrapAurocIntervals(
  rows: ScoredRows,
  scores: readonly (ArrayLike<number> | null)[],
  replicates: number,
  rng: Rng,
  level = BOOTSTRAP_LEVEL,
): (Interval | null)[] {
  if (!Number.isInteger(replicates) || replicates < 1) throw new RangeError(`bootstrap replicates must be an integer ≥ 1, got ${replicates}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrap level must be in (0, 1), got ${level}`);
  const n = rows.labels.length;
  const ranked = scores.map((s) => (s === null ? null : new RankedScores(s, rows.labels, rows.groups)));
  const live = ranked.flatMap((r, j) => (r !== null && Number.isFinite(r.auc()) ? [j] : []));
  const out: (Interval | null)[] = scores.map(() => null);
  if (live.length === 0) return out;

  const strata = stratify(rows, n);
  const weights = new Float64Array(n); // [N] multiplicity of each row in the replicate
  const reps = live.map(() => new Float64Array(replicates)); // [S live, B]
  for (let b = 0; b < replicates; b++) {
    weights.fill(0);
    for (const s of strata) {
      // ⌊u·m / 2³²⌋ of one uint32 u: exact in doubles for m < 2²¹, and each row's chance is off
      // 1/m by at most 1/2³² (rng.int spends two uint32s a draw, and the draws are the loop's cost)
      const m = s.length;
      for (let t = 0; t < m; t++) weights[s[Math.floor((rng.nextU32() * m) / 4294967296)]!]!++;
    }
    live.forEach((j, l) => (reps[l]![b] = ranked[j]!.auc(weights)));
  }
  const alpha = 1 - level;
  live.forEach((j, l) => (out[j] = [quantile(reps[l]!, alpha / 2), quantile(reps[l]!, 1 - alpha / 2)]));
  return out;
}

/** Row indices of each (group, class) stratum that has rows. */
function stratify(rows: ScoredRows, n: number): Int32Array[] {
  const cells = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = (rows.groups ? rows.groups[i]! : 0) * 2 + (rows.labels[i]! > 0 ? 1 : 0);
    let cell = cells.get(key);
    if (!cell) cells.set(key, (cell = []));
    cell.push(i);
  }
  return [...cells.keys()].sort((a, b) => a - b).map((k) => Int32Array.from(cells.get(k)!));
}
