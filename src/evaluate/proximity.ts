import type { PatientRecord } from '../records/types.ts';
import type { Rng } from '../util/rng.ts';
import type { Matrix } from './features.ts';
import { distancesFromRow, distancesFromRows, kNearest, kthColumn, ROW_BLOCK, smallestK } from './neighbours.ts';
import { auroc, quantile, rocCurve, type RocCurve } from './stats.ts';

/**
 * The metrics that live in feature space and need nearest neighbours: PRDC (fidelity and
 * diversity) and the distance-based privacy metrics. They share the expensive pair scans
 * (candidate × real, candidate × holdout), so one function computes them all.
 * Notation: R = real training rows, C = candidate rows (synthetic or a reference), H = holdout rows.
 */

export interface Prdc {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
}

export interface ProximityResult {
  prdc: Prdc;
  /** per candidate row, Euclidean distance to the closest training row, [C] */
  dcrTrain: Float64Array;
  /** per candidate row, distance to the closest holdout row, [C] */
  dcrHoldout: Float64Array;
  dcrTrainMedian: number;
  dcrHoldoutMedian: number;
  /** share of candidate rows strictly closer to a training row than to any holdout row */
  shareCloserToTrain: number;
  /** the share a generator that saw neither set would get: |R| / (|R| + |H|) */
  chanceShareCloserToTrain: number;
  /** SDMetrics' DCROverfittingProtection, generalized to unequal sets: min((1 − share) / (1 − chance), 1) */
  dcrOverfittingProtection: number;
  /** mean over candidate rows of d(1st nearest train) / d(2nd nearest train) */
  nndrMean: number;
  /** AUROC of "member" by the score −d(record, closest candidate), train (subsampled to |H|) vs holdout */
  miaAuroc: number;
  miaRoc: RocCurve;
  /** nearest-neighbour adversarial accuracy against train and against holdout (see adversarialAccuracy) */
  nnaa: Nnaa;
}

/**
 * Distances are Euclidean between the standardized feature vectors of features.ts (SDMetrics' DCR
 * uses a per-column range-normalized distance on flat tables; ours are whole patient records).
 *
 * PRDC (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"), with
 * r_i the distance from real row i to its k-th nearest other real row and B(x, r) the open ball:
 *   precision = 1/M Σ_j 1[∃i: C_j ∈ B(R_i, r_i)]      recall = 1/N Σ_i 1[∃j: R_i ∈ B(C_j, r'_j)]
 *   density   = 1/(kM) Σ_j Σ_i 1[C_j ∈ B(R_i, r_i)]   coverage = 1/N Σ_i 1[∃j: C_j ∈ B(R_i, r_i)]
 * (r'_j: the candidate set's own k-th neighbour radius). Strict "<" as in the authors' code.
 *
 * Privacy, on the same distances:
 * - DCR, distance to closest record, candidate → train and candidate → holdout; the share of
 *   candidate rows closer to train, and SDMetrics' DCROverfittingProtection, which for equal-size
 *   sets is min(2·(1 − share), 1)
 *   (https://docs.sdv.dev/sdmetrics/metrics/privacy-and-fairness-metrics/dcroverfittingprotection).
 *   SDMetrics assumes the holdout about as large as the training set (and warns otherwise): a
 *   generator that saw neither set lands closer to train with chance c = |R| / (|R| + |H|), 0.5
 *   only for equal sizes. Our splits are 8:1, so the score is taken relative to that chance,
 *   min((1 − share) / (1 − c), 1), which is SDMetrics' formula when c = 0.5. (Subsampling train to
 *   |H| instead would hide most rows of a generator that copies its training set.)
 * - NNDR, nearest-neighbour distance ratio: d1 / d2 to the two closest training rows (0 for a copy).
 * - kNN membership inference as in SynEHRgy: an attacker holding a real record calls it a member
 *   when a candidate record lies close to it; AUROC of −d(record, nearest candidate) over members
 *   (training rows) against non-members (holdout rows) in equal numbers; 0.5 is no leakage.
 */
export function proximity(real: Matrix, cand: Matrix, holdout: Matrix, k: number, rng: Rng, realKnn?: Float64Array): ProximityResult {
  if (real.n <= k) throw new RangeError(`PRDC needs more than k = ${k} real rows, got ${real.n}`);
  if (cand.n < 2) throw new RangeError(`proximity needs at least 2 candidate rows, got ${cand.n}`);
  if (holdout.n === 0) throw new RangeError('proximity: the holdout set is empty');
  // a candidate set of k rows or fewer (a tiny reference split) has no PRDC; the rest still holds
  const prdcDefined = cand.n > k;
  const kc = Math.min(k, cand.n - 1);
  // [N, k] and [M, kc]: column k−1 is the PRDC radius, column 0 the nearest other row (for NNAA)
  const knnR = realKnn ?? kNearest(real, real, k, true);
  const knnC = kNearest(cand, cand, kc, true);
  const rR2 = kthColumn(knnR, k);
  const rC2 = kthColumn(knnC, kc);
  const N = real.n;
  const M = cand.n;

  // members for the attack: a training subsample the size of the holdout, so both classes weigh alike
  const memberIdx = rng.shuffle(Array.from({ length: N }, (_, i) => i)).slice(0, Math.min(N, holdout.n));

  const colMin = new Float64Array(N).fill(Infinity);
  const recallHit = new Uint8Array(N);
  const dcrTrain = new Float64Array(M);
  const dcrTrain2 = new Float64Array(M); // squared, for NNAA's comparisons with squared k-NN distances
  const nndr = new Float64Array(M);
  const block = new Float64Array(ROW_BLOCK * N);
  const two = new Float64Array(2);
  let precisionHits = 0;
  let densityHits = 0;
  for (let j = 0; j < M; j++) {
    if (j % ROW_BLOCK === 0) distancesFromRows(block, cand, j, Math.min(ROW_BLOCK, M - j), real);
    const row = block.subarray((j % ROW_BLOCK) * N, (j % ROW_BLOCK + 1) * N);
    const rj = rC2[j]!;
    let inAny = false;
    for (let i = 0; i < N; i++) {
      const d = row[i]!;
      if (d < rR2[i]!) {
        densityHits++;
        inAny = true;
      }
      if (d < colMin[i]!) colMin[i] = d;
      if (d < rj) recallHit[i] = 1;
    }
    if (inAny) precisionHits++;
    smallestK(two, row, Math.min(2, N));
    dcrTrain2[j] = two[0]!;
    dcrTrain[j] = Math.sqrt(two[0]!);
    const d2 = N > 1 ? Math.sqrt(two[1]!) : Infinity;
    nndr[j] = dcrTrain[j] === 0 ? 0 : dcrTrain[j]! / d2;
  }
  let covered = 0;
  let recalled = 0;
  for (let i = 0; i < N; i++) {
    if (colMin[i]! < rR2[i]!) covered++;
    recalled += recallHit[i]!;
  }

  const H = holdout.n;
  const colMinH = new Float64Array(H).fill(Infinity);
  const dcrHoldout = new Float64Array(M);
  const dcrHoldout2 = new Float64Array(M);
  const blockH = new Float64Array(ROW_BLOCK * H);
  let closerToTrain = 0;
  for (let j = 0; j < M; j++) {
    if (j % ROW_BLOCK === 0) distancesFromRows(blockH, cand, j, Math.min(ROW_BLOCK, M - j), holdout);
    const rowH = blockH.subarray((j % ROW_BLOCK) * H, (j % ROW_BLOCK + 1) * H);
    let m = Infinity;
    for (let h = 0; h < H; h++) {
      const d = rowH[h]!;
      if (d < m) m = d;
      if (d < colMinH[h]!) colMinH[h] = d;
    }
    dcrHoldout2[j] = m;
    dcrHoldout[j] = Math.sqrt(m);
    if (dcrTrain[j]! < dcrHoldout[j]!) closerToTrain++;
  }
  const share = closerToTrain / M;
  const chance = N / (N + H);

  const scores: number[] = [];
  const labels: number[] = [];
  for (const i of memberIdx) {
    scores.push(-Math.sqrt(colMin[i]!));
    labels.push(1);
  }
  for (let h = 0; h < H; h++) {
    scores.push(-Math.sqrt(colMinH[h]!));
    labels.push(0);
  }
  let nndrSum = 0;
  for (let j = 0; j < M; j++) nndrSum += nndr[j]!;
  // NNAA from the same scans: squared distances compare like distances
  const dCC = kthColumn(knnC, kc, 0);
  const dHH = holdout.n > 1 ? kthColumn(kNearest(holdout, holdout, 1, true), 1) : new Float64Array(1).fill(Infinity);
  const aaTrain = adversarialAccuracyFrom(colMin, kthColumn(knnR, k, 0), dcrTrain2, dCC);
  const aaHoldout = adversarialAccuracyFrom(colMinH, dHH, dcrHoldout2, dCC);
  return {
    prdc: prdcDefined
      ? { precision: precisionHits / M, recall: recalled / N, density: densityHits / (k * M), coverage: covered / N }
      : { precision: NaN, recall: NaN, density: NaN, coverage: NaN },
    dcrTrain,
    dcrHoldout,
    dcrTrainMedian: quantile(dcrTrain, 0.5),
    dcrHoldoutMedian: quantile(dcrHoldout, 0.5),
    shareCloserToTrain: share,
    chanceShareCloserToTrain: chance,
    dcrOverfittingProtection: Math.min((1 - share) / (1 - chance), 1),
    nndrMean: nndrSum / M,
    miaAuroc: auroc(scores, labels),
    miaRoc: rocCurve(scores, labels),
    nnaa: { aaTrain, aaHoldout, privacyLoss: aaHoldout - aaTrain },
  };
}

/**
 * Nearest-neighbour adversarial accuracy (Yale et al. 2020, "Generation and evaluation of privacy
 * preserving synthetic health data"), for real rows T and candidate rows S:
 *   AA_TS = ½ ( 1/n_T Σ_i 1[d_TS(i) > d_TT(i)] + 1/n_S Σ_j 1[d_ST(j) > d_SS(j)] )
 * where d_TS(i) is the distance from T_i to its nearest S row and d_TT(i) to its nearest other T
 * row. 0.5 means a nearest-neighbour classifier cannot tell the sets apart; near 0 means copies.
 * Yale et al. take n_T = n_S; for two i.i.d. samples of sizes a and b the two terms are about
 * a / (a + b) and b / (a + b), so their mean stays ½ and unequal sets need no subsampling.
 * This is the direct computation, by its own scans; proximity() gets the same figure from the
 * distances it already has.
 */
export function adversarialAccuracy(t: Matrix, s: Matrix): number {
  const dTT = kthColumn(kNearest(t, t, 1, true), 1);
  const dSS = kthColumn(kNearest(s, s, 1, true), 1);
  const dTS = kthColumn(kNearest(t, s, 1), 1);
  const dST = kthColumn(kNearest(s, t, 1), 1);
  return adversarialAccuracyFrom(dTS, dTT, dST, dSS);
}

/** AA from the four nearest-neighbour (squared) distance vectors. */
function adversarialAccuracyFrom(dTS: Float64Array, dTT: Float64Array, dST: Float64Array, dSS: Float64Array): number {
  let a = 0;
  for (let i = 0; i < dTS.length; i++) if (dTS[i]! > dTT[i]!) a++;
  let b = 0;
  for (let j = 0; j < dST.length; j++) if (dST[j]! > dSS[j]!) b++;
  return 0.5 * (a / dTS.length + b / dST.length);
}

export interface Nnaa {
  /** AA between training rows and candidate rows */
  aaTrain: number;
  /** AA between holdout rows and candidate rows */
  aaHoldout: number;
  /** privacy loss AA_holdout − AA_train (Yale et al.): near 0 when the generator did not memorize */
  privacyLoss: number;
}

/**
 * The share of candidate records identical to some training record in every field but the ids
 * (covariates, labels, codes, measurements with their times): copies a generator memorized.
 */
export function exactCopyRate(cand: readonly PatientRecord[], train: readonly PatientRecord[]): number {
  if (cand.length === 0) return NaN;
  // full keys run to kilobytes per patient: compare them only where a cheap signature matches
  const bySignature = new Map<string, PatientRecord[]>();
  for (const r of train) {
    const sig = recordSignature(r);
    const list = bySignature.get(sig);
    if (list) list.push(r);
    else bySignature.set(sig, [r]);
  }
  const keys = new Map<PatientRecord, string>();
  const keyOf = (r: PatientRecord) => {
    let k = keys.get(r);
    if (k === undefined) keys.set(r, (k = recordKey(r)));
    return k;
  };
  let copies = 0;
  for (const r of cand) {
    const candidates = bySignature.get(recordSignature(r));
    if (!candidates) continue;
    const k = recordKey(r);
    if (candidates.some((t) => keyOf(t) === k)) copies++;
  }
  return copies / cand.length;
}

/** Covariates, labels and the shape of the admissions: equal for copies, rarely for anything else. */
function recordSignature(r: PatientRecord): string {
  const sorted = (o: Record<string, unknown>) => Object.keys(o).sort().map((k) => [k, o[k] ?? null]);
  const first = r.admissions[0]?.events[0];
  return JSON.stringify([sorted(r.covariates), sorted(r.labels), r.admissions.map((a) => [a.codes.length, a.events.length]), first ? [first.hours, first.variable, first.value] : null]);
}

/** A canonical string of a record's content, ids left out and object keys sorted. */
export function recordKey(r: PatientRecord): string {
  const sorted = (o: Record<string, unknown>) => Object.keys(o).sort().map((k) => [k, o[k] ?? null]);
  return JSON.stringify([
    sorted(r.covariates),
    sorted(r.labels),
    r.admissions.map((a) => [a.codes, a.events.map((e) => [e.hours, e.variable, e.value])]),
  ]);
}

export interface AttributeInference {
  /** the covariate the attacker infers */
  attribute: string;
  kind: 'categorical' | 'numeric';
  /** accuracy (categorical) or mean absolute error (numeric) on training records */
  train: number;
  /** the same on holdout records; train − holdout (accuracy) is what the candidate set leaks */
  holdout: number;
  /** accuracy of always guessing the candidate set's most common value, or MAE of its mean */
  baseline: number;
}

/**
 * Attribute inference: an attacker knows every field of a real record but one covariate and
 * predicts it from the k nearest candidate records (majority vote, or mean for a numeric one), in a
 * feature space with that covariate's columns removed. Success on training records beyond success
 * on holdout records is leakage; both beyond the baseline is what the data teaches anyway.
 */
export function attributeInference(
  attribute: string,
  candX: Matrix,
  candY: readonly (string | number)[],
  trainX: Matrix,
  trainY: readonly (string | number)[],
  holdX: Matrix,
  holdY: readonly (string | number)[],
  k: number,
): AttributeInference {
  const kind = candY.every((v) => typeof v === 'number') && trainY.every((v) => typeof v === 'number') ? 'numeric' : 'categorical';
  const kk = Math.min(k, candX.n);
  const row = new Float64Array(candX.n);
  const idx = new Int32Array(kk);
  const predict = (x: Matrix, i: number): string | number => {
    distancesFromRow(row, x, i, candX);
    nearestIndices(idx, row, kk);
    if (kind === 'numeric') {
      let s = 0;
      for (const j of idx) s += candY[j] as number;
      return s / kk;
    }
    const votes = new Map<string, number>();
    for (const j of idx) votes.set(String(candY[j]), (votes.get(String(candY[j])) ?? 0) + 1);
    return [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  };
  const score = (x: Matrix, y: readonly (string | number)[]) => {
    let s = 0;
    for (let i = 0; i < x.n; i++) {
      const p = predict(x, i);
      s += kind === 'numeric' ? Math.abs((p as number) - (y[i] as number)) : p === String(y[i]) ? 1 : 0;
    }
    return s / Math.max(1, x.n);
  };
  let baseline: number;
  if (kind === 'numeric') {
    const mu = candY.reduce<number>((a, v) => a + (v as number), 0) / Math.max(1, candY.length);
    baseline = holdY.reduce<number>((a, v) => a + Math.abs((v as number) - mu), 0) / Math.max(1, holdY.length);
  } else {
    const c = new Map<string, number>();
    for (const v of candY) c.set(String(v), (c.get(String(v)) ?? 0) + 1);
    const mode = [...c].sort((a, b) => b[1] - a[1])[0]?.[0];
    baseline = holdY.filter((v) => String(v) === mode).length / Math.max(1, holdY.length);
  }
  return { attribute, kind, train: score(trainX, trainY), holdout: score(holdX, holdY), baseline };
}

function nearestIndices(out: Int32Array, row: Float64Array, k: number): void {
  const best = new Float64Array(k).fill(Infinity);
  out.fill(-1);
  for (let j = 0; j < row.length; j++) {
    const v = row[j]!;
    if (v >= best[k - 1]!) continue;
    let p = k - 1;
    while (p > 0 && best[p - 1]! > v) {
      best[p] = best[p - 1]!;
      out[p] = out[p - 1]!;
      p--;
    }
    best[p] = v;
    out[p] = j;
  }
}
