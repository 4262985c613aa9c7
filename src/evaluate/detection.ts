import type { Rng } from '../util/rng.ts';
import type { Matrix } from './features.ts';
import { stackRows, takeRows } from './features.ts';
import { fitBoosting, fitLogistic, type BinaryClassifier, type BoostingOptions, type LogisticOptions } from './classifiers.ts';
import { auroc, averagePrecision, bestF1Threshold, f1Score, rocCurve, type RocCurve } from './stats.ts';

/**
 * Detection and utility: classifiers trained on feature vectors. Detection asks whether a model
 * can tell candidate rows from real ones (it should not); utility asks whether a model trained on
 * the candidate set predicts a real outcome as well as one trained on real data.
 */

export type ModelKind = 'logistic' | 'boosting';

export interface ClassifierOptions {
  logistic: Partial<LogisticOptions>;
  boosting: Partial<BoostingOptions>;
}

export function fitClassifier(kind: ModelKind, x: Matrix, y: ArrayLike<number>, opts: ClassifierOptions): BinaryClassifier {
  return kind === 'logistic' ? fitLogistic(x, y, opts.logistic) : fitBoosting(x, y, opts.boosting);
}

export interface DetectionScore {
  /** mean over folds of the held-out fold's AUROC; 0.5 = indistinguishable */
  auc: number;
  /** ROC of the pooled out-of-fold scores (for the report's plot) */
  roc: RocCurve;
  /** each row's score from the model that did not see it (its fold's), [N real + N candidate] */
  oof: Float64Array;
}

export interface DetectionResult {
  logistic: DetectionScore;
  boosting: DetectionScore;
  /** SDMetrics' LogisticDetection score: 1 − (max(AUC, 0.5)·2 − 1), from the logistic AUC; 1 is best */
  logisticDetection: number;
  /** 0 for the real rows, then 1 for the candidate rows, [N real + N candidate] */
  labels: Float64Array;
  /** each row's fold, [N real + N candidate]; `auc` is the mean over these folds */
  folds: Int32Array;
}

/**
 * Cross-validated real-vs-candidate classification, folds stratified by origin. Label 1 is
 * "candidate". SDMetrics' LogisticDetection does the same with scikit-learn's logistic regression
 * (https://docs.sdv.dev/sdmetrics/metrics/metrics-in-beta/detection-single-table).
 */
export function detection(real: Matrix, cand: Matrix, folds: number, rng: Rng, opts: ClassifierOptions): DetectionResult {
  if (real.n < folds || cand.n < folds) {
    throw new RangeError(`detection needs at least ${folds} rows per set (cv_folds), got ${real.n} real and ${cand.n} candidate`);
  }
  const x = stackRows(real, cand);
  const y = new Float64Array(x.n);
  y.fill(1, real.n);
  const fold = new Int32Array(x.n);
  // stratified: deal each origin's shuffled rows round-robin into the folds
  const dealt = (from: number, n: number) => {
    const idx = rng.shuffle(Array.from({ length: n }, (_, i) => from + i));
    idx.forEach((r, t) => (fold[r] = t % folds));
  };
  dealt(0, real.n);
  dealt(real.n, cand.n);
  const run = (kind: ModelKind): DetectionScore => {
    const oof = new Float64Array(x.n);
    let aucSum = 0;
    for (let f = 0; f < folds; f++) {
      const tr: number[] = [];
      const te: number[] = [];
      for (let i = 0; i < x.n; i++) (fold[i] === f ? te : tr).push(i);
      const model = fitClassifier(kind, takeRows(x, tr), tr.map((i) => y[i]!), opts);
      const p = model.predict(takeRows(x, te));
      te.forEach((i, t) => (oof[i] = p[t]!));
      aucSum += auroc(p, te.map((i) => y[i]!));
    }
    return { auc: aucSum / folds, roc: rocCurve(oof, y), oof };
  };
  const logistic = run('logistic');
  const boosting = run('boosting');
  return { logistic, boosting, logisticDetection: logisticDetectionScore(logistic.auc), labels: y, folds: fold };
}

/** 1 − (max(AUC, 0.5)·2 − 1): 1 when the classifier is at chance, 0 when it separates perfectly. */
export function logisticDetectionScore(auc: number): number {
  return 1 - (Math.max(auc, 0.5) * 2 - 1);
}

export interface UtilityScore {
  auroc: number;
  /** average precision */
  auprc: number;
  /** F1 at the threshold that maximizes F1 on the classifier's own training data */
  f1: number;
  roc: RocCurve;
  /** the fitted model's P(y = 1) for each test row, [N test]; null when there was nothing to fit on */
  scores: Float64Array | null;
}

/** Fit on (trainX, trainY), score on (testX, testY); NaN scores when there is nothing to fit on. */
export function trainAndScore(
  kind: ModelKind,
  trainX: Matrix,
  trainY: ArrayLike<number>,
  testX: Matrix,
  testY: ArrayLike<number>,
  opts: ClassifierOptions,
): UtilityScore {
  // a candidate set without this label (a generator that writes none) has nothing to train on
  if (trainX.n === 0) return { auroc: NaN, auprc: NaN, f1: NaN, roc: { fpr: [0, 1], tpr: [0, 1] }, scores: null };
  const model = fitClassifier(kind, trainX, trainY, opts);
  const threshold = bestF1Threshold(model.predict(trainX), trainY);
  const p = model.predict(testX);
  return { auroc: auroc(p, testY), auprc: averagePrecision(p, testY), f1: f1Score(p, testY, threshold), roc: rocCurve(p, testY), scores: p };
}
