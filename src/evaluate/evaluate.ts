import type { PatientRecord } from '../records/types.ts';
import { mainLabel, type DataConfig } from '../records/dataConfig.ts';
import type { Rng } from '../util/rng.ts';
import type { EvalConfig } from './config.ts';
import { fitFeatureEncoder, stackRows, takeColumns, takeRows, type FeatureEncoder, type Matrix } from './features.ts';
import { kNearest } from './neighbours.ts';
import { sampleIndependentMarginals } from './marginals.ts';
import {
  codeFidelity,
  codeStatistics,
  marginalScores,
  pooledValues,
  timeSeriesFidelity,
  timeSeriesStatistics,
  type CodeStatistics,
  type TimeSeriesStatistics,
} from './fidelity.ts';
import { attributeInference, exactCopyRate, proximity, type ProximityResult } from './proximity.ts';
import { detection, trainAndScore, type ClassifierOptions, type ModelKind } from './detection.ts';
import { finiteMean, quantile, type RocCurve } from './stats.ts';
import { BOOTSTRAP_LEVEL, bootstrapAurocIntervals, type Interval, type ScoredRows } from './bootstrap.ts';
import { SynehrError } from '../util/errors.ts';

/**
 * The whole evaluation of one synthetic set: every metric for the synthetic records and for two
 * references, so each figure can be read against what is attainable and what is trivial.
 *
 * - synthetic: the generator's records against the real training split (fidelity, detection,
 *   privacy) and the held-out test split (utility, privacy).
 * - ceiling: real against real. Fidelity and detection compare the test split with the training
 *   split (a perfect generator is another sample from the same population); utility is TRTR
 *   (train on real train, test on real test); privacy uses half of the test split as the candidate
 *   set and the other half as the holdout, since a candidate set must not be its own holdout.
 * - floor: `sampleIndependentMarginals` (every field from its training marginal, no dependence
 *   between fields), as many records as the synthetic set, measured exactly like the synthetic set.
 */
export interface EvaluateInput {
  train: readonly PatientRecord[];
  test: readonly PatientRecord[];
  synthetic: readonly PatientRecord[];
  data: DataConfig;
  cfg: EvalConfig;
  rng: Rng;
  /** progress lines (stderr in the CLI) */
  log?: (message: string) => void;
}

/** Which direction is good: larger, smaller, closer to 0.5, closer to 0, or neither (descriptive). */
export type Best = 'max' | 'min' | 'half' | 'zero' | 'none';

export interface MetricRow {
  /** stable key, e.g. "fidelity/tcd", "utility/in_hospital_death/logistic/tstr_auroc" */
  key: string;
  group: 'fidelity' | 'detection' | 'utility' | 'privacy';
  /** human name, after SDMetrics / synthcity / SynEHRgy where they have one */
  name: string;
  best: Best;
  /** shown in the printed summary (aggregates) or only in the report and metrics.json (per field) */
  summary: boolean;
  synthetic: number | null;
  ceiling: number | null;
  floor: number | null;
  /**
   * 95% percentile bootstrap intervals of the three figures (eval.bootstrap replicates), on the
   * utility AUROCs and the detection AUCs only; null where the figure is null
   */
  ci?: { synthetic: Interval | null; ceiling: Interval | null; floor: Interval | null };
}

export interface HistogramPlot {
  field: string;
  /** the data config's unit of the field, when it has one */
  unit?: string;
  /** numeric fields: bin edges, [B + 1]; categorical ones: the categories, [B] */
  edges?: number[];
  /** 'log': the edges are spaced evenly in log10 (a heavy right tail, see numericHistogram) */
  scale?: 'linear' | 'log';
  categories?: string[];
  /** shares per bin, [B] */
  real: number[];
  synthetic: number[];
  floor: number[];
}

export interface RocPlot {
  title: string;
  curves: { label: string; fpr: number[]; tpr: number[] }[];
}

export interface PlotData {
  histograms: HistogramPlot[];
  /** per code (the most prevalent in either set), patient prevalence real vs synthetic */
  prevalence: { code: string; real: number; synthetic: number }[];
  /** forward-filled correlation matrices, [V, V] row-major, null where undefined */
  correlation: { variables: string[]; real: (number | null)[]; synthetic: (number | null)[] };
  roc: RocPlot[];
  /** DCR histograms of the synthetic set: shares per bin of distances to train and to holdout */
  dcr: { edges: number[]; train: number[]; holdout: number[] };
}

export interface EvalResult {
  meta: {
    created: string;
    /** the eval section it ran with (holdout split, seed, k, bootstrap...): `synehr pipeline` re-runs evaluate when it differs */
    config: EvalConfig;
    seed: number;
    k: number;
    cv_folds: number;
    sizes: { train: number; test: number; synthetic: number; floor: number; feature_rows: number };
    labels: string[];
    attribute: string | null;
    feature_columns: number;
    references: { ceiling: string; floor: string };
    /** the intervals' replicates (0 = none), coverage and what they resample */
    bootstrap: { replicates: number; level: number; method: string };
    seconds: number;
  };
  rows: MetricRow[];
  plots: PlotData;
}

type Triple = { synthetic: number | null; ceiling: number | null; floor: number | null };
type Which = 'synthetic' | 'ceiling' | 'floor';

/**
 * Rows scored once and the figures that are AUROCs of them: one test split with the utility
 * models' predictions on it, or one real-vs-candidate set with its out-of-fold detection scores.
 */
interface IntervalJob {
  name: string;
  rows: ScoredRows;
  figures: { key: string; which: Which; scores: Float64Array | null }[];
}

const finiteOrNull = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

export function evaluateSynthetic(input: EvaluateInput): EvalResult {
  const t0 = performance.now();
  const { train, test, synthetic, data, cfg, rng } = input;
  const log = input.log ?? (() => {});
  if (train.length <= cfg.k) throw new SynehrError('E_EVAL_INPUT', `evaluate: the training split has ${train.length} patients; PRDC needs more than k = ${cfg.k}`);
  if (test.length < 4) throw new SynehrError('E_EVAL_INPUT', `evaluate: the test split has ${test.length} patients; the ceiling needs at least 4`);
  if (synthetic.length <= cfg.k) throw new SynehrError('E_EVAL_INPUT', `evaluate: ${synthetic.length} synthetic patients; PRDC needs more than k = ${cfg.k}`);

  const labels = utilityLabels(data, cfg);
  const attribute = chooseAttribute(data, cfg);
  const opts: ClassifierOptions = {
    logistic: { l2: cfg.l2 },
    boosting: { trees: cfg.boosting.trees, depth: cfg.boosting.depth, learningRate: cfg.boosting.learning_rate, bins: cfg.boosting.bins },
  };
  const floor = sampleIndependentMarginals(train, cfg.n_marginals ?? synthetic.length, rng.fork('marginals'), data);
  const cap = (set: readonly PatientRecord[], label: string) => sample(set, cfg.max_rows, rng.fork(`cap:${label}`));
  const trainF = cap(train, 'train');
  const synF = cap(synthetic, 'synthetic');
  const floorF = cap(floor, 'floor');
  const testF = cap(test, 'test');
  const halves = rng.fork('halves').shuffle(testF.slice());
  const testA = halves.slice(0, Math.floor(halves.length / 2));
  const testB = halves.slice(Math.floor(halves.length / 2));

  // --- record-level fidelity
  let t = performance.now();
  const realCodes = codeStatistics(train);
  const realTs = timeSeriesStatistics(train, data);
  const rows: MetricRow[] = [];
  const statsOf = (set: readonly PatientRecord[]) => ({ codes: codeStatistics(set), ts: timeSeriesStatistics(set, data) });
  const cand = { synthetic: statsOf(synthetic), ceiling: statsOf(test), floor: statsOf(floor) };
  fidelityRows(rows, train, { synthetic, ceiling: test, floor }, data, realCodes, realTs, cand);
  log(`evaluate: record-level fidelity ${sec(t)}`);

  // --- feature space
  t = performance.now();
  const enc = fitFeatureEncoder(train, data, { labels: true, topCodes: cfg.top_codes });
  const R = enc.encode(trainF);
  const X = { synthetic: enc.encode(synF), floor: enc.encode(floorF), test: enc.encode(testF), testA: enc.encode(testA), testB: enc.encode(testB) };
  const knnR = kNearest(R, R, cfg.k, true);
  const prox = {
    synthetic: proximity(R, X.synthetic, X.test, cfg.k, rng.fork('prox:syn'), knnR),
    floor: proximity(R, X.floor, X.test, cfg.k, rng.fork('prox:floor'), knnR),
    ceiling: proximity(R, X.testA, X.testB, cfg.k, rng.fork('prox:ceil'), knnR),
  };
  // the ceiling's PRDC uses the whole test split: PRDC needs no holdout, and more rows make it fairer
  const ceilingPrdc = proximity(R, X.test, X.testB, cfg.k, rng.fork('prox:ceil-prdc'), knnR).prdc;
  log(`evaluate: nearest neighbours (${R.n} train rows × ${enc.names.length} features) ${sec(t)}`);
  const prdcRow = (key: keyof ProximityResult['prdc'], name: string) =>
    push(rows, `fidelity/prdc_${key}`, 'fidelity', name, 'max', true, {
      synthetic: prox.synthetic.prdc[key],
      ceiling: ceilingPrdc[key],
      floor: prox.floor.prdc[key],
    });
  prdcRow('precision', 'PRDC precision');
  prdcRow('recall', 'PRDC recall');
  prdcRow('density', 'PRDC density');
  prdcRow('coverage', 'PRDC coverage');

  t = performance.now();
  // a test split smaller than cv_folds has no cross-validated ceiling; its figures stay empty
  const detOrNull = (c: Matrix, label: string) => (c.n >= cfg.cv_folds ? detection(R, c, cfg.cv_folds, rng.fork(label), opts) : null);
  const det = {
    synthetic: detection(R, X.synthetic, cfg.cv_folds, rng.fork('det:syn'), opts),
    ceiling: detOrNull(X.test, 'det:ceil'),
    floor: detection(R, X.floor, cfg.cv_folds, rng.fork('det:floor'), opts),
  };
  log(`evaluate: detection ${sec(t)}`);
  // detection's AUC is the mean of the folds' AUCs: its intervals resample the out-of-fold scores
  // within each class and fold (detection.ts stratifies its folds by class)
  const jobs: IntervalJob[] = [];
  for (const which of ['synthetic', 'ceiling', 'floor'] as const) {
    const d = det[which];
    if (!d) continue;
    jobs.push({
      name: `detection:${which}`,
      rows: { labels: d.labels, groups: d.folds },
      figures: [
        { key: 'detection/auc_logistic', which, scores: d.logistic.oof },
        { key: 'detection/auc_boosting', which, scores: d.boosting.oof },
      ],
    });
  }
  push(rows, 'detection/auc_logistic', 'detection', 'Detection AUC, logistic regression (0.5 best)', 'half', true, map3(det, (d) => d?.logistic.auc ?? NaN));
  push(rows, 'detection/auc_boosting', 'detection', 'Detection AUC, gradient-boosted trees (0.5 best)', 'half', true, map3(det, (d) => d?.boosting.auc ?? NaN));
  push(rows, 'detection/logistic_detection', 'detection', 'LogisticDetection (SDMetrics)', 'max', true, map3(det, (d) => d?.logisticDetection ?? NaN));

  // --- utility
  t = performance.now();
  const uenc = fitFeatureEncoder(train, data, { labels: false, topCodes: cfg.top_codes });
  const utilRoc: RocPlot[] = [];
  for (const label of labels) {
    const xy = (set: readonly PatientRecord[]) => {
      const kept = set.filter((r) => typeof r.labels[label] === 'number' && Number.isFinite(r.labels[label]));
      return { x: uenc.encode(kept), y: kept.map((r) => (r.labels[label]! > 0 ? 1 : 0)) };
    };
    const tr = xy(trainF);
    const te = xy(test);
    const sy = xy(synF);
    const fl = xy(floorF);
    if (te.y.length === 0 || new Set(te.y).size < 2) {
      log(`evaluate: label ${label} has one class in the test split; utility skipped`);
      continue;
    }
    const curves: RocPlot['curves'] = [];
    // the intervals resample the test patients (within each outcome) and keep each trained model
    // fixed: they cover the test split's sampling noise, not another synthetic set or training run
    const job: IntervalJob = { name: `utility:${label}`, rows: { labels: te.y }, figures: [] };
    jobs.push(job);
    for (const kind of ['logistic', 'boosting'] as ModelKind[]) {
      const trtr = trainAndScore(kind, tr.x, tr.y, te.x, te.y, opts);
      const tstr = { synthetic: trainAndScore(kind, sy.x, sy.y, te.x, te.y, opts), floor: trainAndScore(kind, fl.x, fl.y, te.x, te.y, opts) };
      const aug = {
        synthetic: trainAndScore(kind, stackRows(tr.x, sy.x), [...tr.y, ...sy.y], te.x, te.y, opts),
        floor: trainAndScore(kind, stackRows(tr.x, fl.x), [...tr.y, ...fl.y], te.x, te.y, opts),
      };
      const model = kind === 'logistic' ? 'logistic regression' : 'gradient-boosted trees';
      for (const [m, by] of [['tstr_auroc', tstr], ['augmented_auroc', aug]] as const) {
        job.figures.push(
          { key: `utility/${label}/${kind}/${m}`, which: 'synthetic', scores: by.synthetic.scores },
          { key: `utility/${label}/${kind}/${m}`, which: 'ceiling', scores: trtr.scores },
          { key: `utility/${label}/${kind}/${m}`, which: 'floor', scores: by.floor.scores },
        );
      }
      for (const m of ['auroc', 'auprc', 'f1'] as const) {
        const M = m.toUpperCase();
        push(rows, `utility/${label}/${kind}/tstr_${m}`, 'utility', `TSTR ${M}, ${label}, ${model} (ceiling: TRTR)`, 'max', m === 'auroc', {
          synthetic: tstr.synthetic[m],
          ceiling: trtr[m],
          floor: tstr.floor[m],
        });
      }
      push(rows, `utility/${label}/${kind}/augmented_auroc`, 'utility', `Augmented (real + synthetic) AUROC, ${label}, ${model} (ceiling: TRTR)`, 'max', false, {
        synthetic: aug.synthetic.auroc,
        ceiling: trtr.auroc,
        floor: aug.floor.auroc,
      });
      curves.push({ label: `TRTR ${kind}`, ...thin(trtr.roc) }, { label: `TSTR ${kind}`, ...thin(tstr.synthetic.roc) });
    }
    utilRoc.push({ title: `Utility: ${label} on the test split`, curves });
  }
  log(`evaluate: utility ${sec(t)}`);

  // --- privacy
  t = performance.now();
  push(rows, 'privacy/dcr_train_median', 'privacy', 'DCR to train, median', 'none', true, map3(prox, (p) => p.dcrTrainMedian));
  push(rows, 'privacy/dcr_holdout_median', 'privacy', 'DCR to holdout, median', 'none', true, map3(prox, (p) => p.dcrHoldoutMedian));
  push(rows, 'privacy/share_closer_to_train', 'privacy', 'Share closer to train than holdout', 'none', true, map3(prox, (p) => p.shareCloserToTrain));
  push(rows, 'privacy/chance_share_closer_to_train', 'privacy', 'Share closer to train by chance, |train| / (|train| + |holdout|)', 'none', false, map3(prox, (p) => p.chanceShareCloserToTrain));
  push(rows, 'privacy/dcr_overfitting_protection', 'privacy', 'DCROverfittingProtection (SDMetrics)', 'max', true, map3(prox, (p) => p.dcrOverfittingProtection));
  push(rows, 'privacy/nndr_mean', 'privacy', 'NNDR, mean', 'none', true, map3(prox, (p) => p.nndrMean));
  push(rows, 'privacy/exact_copy_rate', 'privacy', 'Exact-copy rate', 'min', true, {
    synthetic: exactCopyRate(synthetic, train),
    ceiling: exactCopyRate(test, train),
    floor: exactCopyRate(floor, train),
  });
  push(rows, 'privacy/mia_auroc', 'privacy', 'kNN membership inference AUROC (0.5 best)', 'half', true, map3(prox, (p) => p.miaAuroc));
  push(rows, 'privacy/nnaa', 'privacy', 'NNAA, adversarial accuracy vs train (0.5 best)', 'half', true, map3(prox, (p) => p.nnaa.aaTrain));
  push(rows, 'privacy/nnaa_privacy_loss', 'privacy', 'NNAA privacy loss, AA_holdout − AA_train (0 best)', 'zero', true, map3(prox, (p) => p.nnaa.privacyLoss));
  if (attribute) {
    const ai = attributeRows(attribute, data, enc, R, trainF, { synthetic: [X.synthetic, synF], floor: [X.floor, floorF], ceiling: [X.testA, testA] }, { synthetic: [X.test, testF], floor: [X.test, testF], ceiling: [X.testB, testB] }, cfg.k, rng);
    const better = ai.kind === 'numeric' ? 'max' : 'min';
    const unit = ai.kind === 'numeric' ? 'MAE' : 'accuracy';
    push(rows, 'privacy/attribute_inference_train', 'privacy', `Attribute inference of ${attribute}, ${unit} on train`, better, false, ai.train);
    push(rows, 'privacy/attribute_inference_holdout', 'privacy', `Attribute inference of ${attribute}, ${unit} on holdout`, 'none', false, ai.holdout);
    push(rows, 'privacy/attribute_inference_gap', 'privacy', `Attribute inference of ${attribute}, ${unit} train − holdout (0 best)`, 'zero', true, ai.gap);
  }
  log(`evaluate: privacy ${sec(t)}`);

  // last, so that its stream leaves every other figure as it is without intervals
  if (cfg.bootstrap > 0) {
    t = performance.now();
    attachIntervals(rows, jobs, cfg.bootstrap, rng.fork('bootstrap'));
    log(`evaluate: bootstrap intervals (${cfg.bootstrap} replicates) ${sec(t)}`);
  }

  const plots = plotData(train, synthetic, floor, data, realCodes, cand.synthetic.codes, realTs, cand.synthetic.ts, det, prox, utilRoc);
  return {
    meta: {
      created: new Date().toISOString(),
      config: cfg,
      seed: cfg.seed,
      k: cfg.k,
      cv_folds: cfg.cv_folds,
      sizes: { train: train.length, test: test.length, synthetic: synthetic.length, floor: floor.length, feature_rows: R.n },
      labels,
      attribute,
      feature_columns: enc.names.length,
      references: {
        ceiling:
          'real vs real: the test split against the training split (utility: TRTR; privacy: half the test split against the other half as holdout); ' +
          'a test split much smaller than the synthetic set scores lower on size-sensitive metrics (KS, TV, PRDC coverage) from sampling noise alone',
        floor: 'independent marginals: each field drawn from its training marginal',
      },
      bootstrap: {
        replicates: cfg.bootstrap,
        level: BOOTSTRAP_LEVEL,
        method:
          'percentile bootstrap of the scored rows, resampled within each class, with the models kept fixed: utility resamples the test patients, ' +
          'detection the out-of-fold scores within each fold; the intervals leave out the spread from another synthetic set, training run or fold split',
      },
      seconds: (performance.now() - t0) / 1000,
    },
    rows,
    plots,
  };
}

function push(rows: MetricRow[], key: string, group: MetricRow['group'], name: string, best: Best, summary: boolean, v: { synthetic: number; ceiling: number; floor: number } | Triple): void {
  rows.push({
    key,
    group,
    name,
    best,
    summary,
    synthetic: finiteOrNull(v.synthetic ?? undefined),
    ceiling: finiteOrNull(v.ceiling ?? undefined),
    floor: finiteOrNull(v.floor ?? undefined),
  });
}

/** Each job's intervals onto its rows' `ci`; a figure that is null keeps a null interval. */
function attachIntervals(rows: MetricRow[], jobs: readonly IntervalJob[], replicates: number, rng: Rng): void {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  for (const job of jobs) {
    const intervals = bootstrapAurocIntervals(job.rows, job.figures.map((f) => f.scores), replicates, rng.fork(job.name));
    job.figures.forEach((f, i) => {
      const row = byKey.get(f.key)!;
      row.ci ??= { synthetic: null, ceiling: null, floor: null };
      row.ci[f.which] = row[f.which] === null ? null : intervals[i]!;
    });
  }
}

function map3<T>(o: { synthetic: T; ceiling: T; floor: T }, f: (t: T) => number): { synthetic: number; ceiling: number; floor: number } {
  return { synthetic: f(o.synthetic), ceiling: f(o.ceiling), floor: f(o.floor) };
}

/** Wall time since `t` (the stage logs; the benchmark reports CPU time separately). */
function sec(t: number): string {
  return `${((performance.now() - t) / 1000).toFixed(1)} s`;
}

/** A seeded random subset of at most `n` records (all of them, in order, when there are few enough). */
function sample<T>(set: readonly T[], n: number, rng: Rng): T[] {
  if (set.length <= n) return set.slice();
  return rng.shuffle(set.slice()).slice(0, n);
}

function utilityLabels(data: DataConfig, cfg: EvalConfig): string[] {
  const known = new Set(data.labels.map((l) => l.name));
  for (const l of cfg.labels) {
    if (!known.has(l)) {
      throw new SynehrError('E_CONFIG_VALUE', `eval.labels: unknown label "${l}"; the data config declares ${[...known].map((k) => `"${k}"`).join(', ') || 'none'}`);
    }
  }
  if (cfg.labels.length) return cfg.labels;
  const main = mainLabel(data);
  return main ? [main] : [];
}

function chooseAttribute(data: DataConfig, cfg: EvalConfig): string | null {
  if (cfg.attribute !== null) {
    if (!data.covariates.some((c) => c.name === cfg.attribute)) {
      throw new SynehrError(
        'E_CONFIG_VALUE',
        `eval.attribute: unknown covariate "${cfg.attribute}"; the data config declares ${data.covariates.map((c) => `"${c.name}"`).join(', ') || 'none'}`,
      );
    }
    return cfg.attribute;
  }
  return (data.covariates.find((c) => c.type === 'categorical') ?? data.covariates[0])?.name ?? null;
}

function fidelityRows(
  rows: MetricRow[],
  train: readonly PatientRecord[],
  sets: { synthetic: readonly PatientRecord[]; ceiling: readonly PatientRecord[]; floor: readonly PatientRecord[] },
  data: DataConfig,
  realCodes: CodeStatistics,
  realTs: TimeSeriesStatistics,
  cand: Record<'synthetic' | 'ceiling' | 'floor', { codes: CodeStatistics; ts: TimeSeriesStatistics }>,
): void {
  const marg = map3raw(sets, (s) => marginalScores(train, s, data));
  const meanOf = (metric: string) =>
    map3(marg, (fs) => finiteMean(fs.filter((f) => f.metric === metric).map((f) => f.score)));
  push(rows, 'fidelity/ks_complement_mean', 'fidelity', 'KSComplement, mean over numeric fields', 'max', true, meanOf('KSComplement'));
  push(rows, 'fidelity/tv_complement_mean', 'fidelity', 'TVComplement, mean over discrete fields', 'max', true, meanOf('TVComplement'));
  marg.synthetic.forEach((f, i) =>
    push(rows, `fidelity/marginal/${f.field}`, 'fidelity', `${f.metric}, ${f.field}`, 'max', false, {
      synthetic: f.score,
      ceiling: marg.ceiling[i]!.score,
      floor: marg.floor[i]!.score,
    }),
  );
  const codes = map3raw(cand, (c) => codeFidelity(realCodes, c.codes));
  push(rows, 'fidelity/code_prevalence_r', 'fidelity', 'Code prevalence Pearson r', 'max', true, map3(codes, (c) => c.prevalenceR));
  for (let n = 1; n <= 3; n++) {
    push(rows, `fidelity/ngram_r/${n}`, 'fidelity', `${['Unigram', 'Bigram', 'Trigram'][n - 1]} r (per admission)`, 'max', true, map3(codes, (c) => c.ngramR[n - 1]!));
  }
  push(rows, 'fidelity/sequential_bigram_r', 'fidelity', 'Sequential bigram r (consecutive admissions)', 'max', true, map3(codes, (c) => c.sequentialBigramR));
  push(rows, 'fidelity/jsd_codes_per_admission', 'fidelity', 'JSD, codes per admission', 'min', true, map3(codes, (c) => c.jsdCodesPerAdmission));
  push(rows, 'fidelity/jsd_admissions_per_patient', 'fidelity', 'JSD, admissions per patient', 'min', true, map3(codes, (c) => c.jsdAdmissionsPerPatient));
  const ts = map3raw(cand, (c) => timeSeriesFidelity(realTs, c.ts));
  push(rows, 'fidelity/tcd', 'fidelity', 'TCD, temporal correlation difference', 'min', true, map3(ts, (x) => x.tcd));
  push(rows, 'fidelity/measurement_count_ks_mean', 'fidelity', 'Measurements per patient, KSComplement mean over variables', 'max', true, map3(ts, (x) => finiteMean(x.measurementCountScores.map((s) => s.score))));
  push(rows, 'fidelity/measurement_count_r', 'fidelity', 'Measurements per variable, Pearson r of means', 'max', true, map3(ts, (x) => x.measurementCountR));
  ts.synthetic.measurementCountScores.forEach((s, i) =>
    push(rows, `fidelity/measurement_count/${s.variable}`, 'fidelity', `Measurements per patient, KSComplement, ${s.variable}`, 'max', false, {
      synthetic: s.score,
      ceiling: ts.ceiling.measurementCountScores[i]!.score,
      floor: ts.floor.measurementCountScores[i]!.score,
    }),
  );
  push(rows, 'fidelity/gap_ks_complement', 'fidelity', 'Time gaps, KSComplement', 'max', true, map3(ts, (x) => x.gapKSComplement));
  push(rows, 'fidelity/gap_jsd', 'fidelity', 'Time gaps, JSD on HALO bins', 'min', true, map3(ts, (x) => x.gapJSD));
}

function map3raw<A, B>(o: { synthetic: A; ceiling: A; floor: A }, f: (a: A) => B): { synthetic: B; ceiling: B; floor: B } {
  return { synthetic: f(o.synthetic), ceiling: f(o.ceiling), floor: f(o.floor) };
}

function attributeRows(
  attribute: string,
  data: DataConfig,
  enc: FeatureEncoder,
  R: Matrix,
  trainF: readonly PatientRecord[],
  cands: Record<'synthetic' | 'floor' | 'ceiling', [Matrix, readonly PatientRecord[]]>,
  holds: Record<'synthetic' | 'floor' | 'ceiling', [Matrix, readonly PatientRecord[]]>,
  k: number,
  rng: Rng,
): { kind: 'numeric' | 'categorical'; train: Triple; holdout: Triple; gap: Triple } {
  const spec = data.covariates.find((c) => c.name === attribute)!;
  const numeric = spec.type === 'numeric';
  const cols = enc.groups.flatMap((g, c) => (g === `cov:${attribute}` ? [] : [c]));
  const target = (r: PatientRecord): string | number | null => {
    const v = r.covariates[attribute];
    if (numeric) return typeof v === 'number' && Number.isFinite(v) ? v : null;
    return v === null || v === undefined ? 'missing' : String(v);
  };
  const usable = (x: Matrix, recs: readonly PatientRecord[]) => {
    const idx = recs.flatMap((r, i) => (target(r) === null ? [] : [i]));
    return { x: takeColumns(takeRows(x, idx), cols), y: idx.map((i) => target(recs[i]!)!) };
  };
  const out = { train: {} as Triple, holdout: {} as Triple, gap: {} as Triple };
  for (const which of ['synthetic', 'ceiling', 'floor'] as const) {
    const c = usable(...cands[which]);
    const h = usable(...holds[which]);
    // members: training rows, as many as the holdout has, so the two success rates compare
    const memberIdx = rng.fork(`attr:${which}`).shuffle(Array.from({ length: R.n }, (_, i) => i)).slice(0, Math.max(1, holds[which][0].n));
    const m = usable(takeRows(R, memberIdx), memberIdx.map((i) => trainF[i]!));
    if (c.x.n === 0 || m.x.n === 0 || h.x.n === 0) {
      out.train[which] = out.holdout[which] = out.gap[which] = null;
      continue;
    }
    const ai = attributeInference(attribute, c.x, c.y, m.x, m.y, h.x, h.y, k);
    out.train[which] = ai.train;
    out.holdout[which] = ai.holdout;
    out.gap[which] = ai.train - ai.holdout;
  }
  return { kind: numeric ? 'numeric' : 'categorical', ...out };
}

/** At most ~200 points of an ROC curve, for plots. */
function thin(roc: RocCurve): { fpr: number[]; tpr: number[] } {
  const n = roc.fpr.length;
  const step = Math.max(1, Math.ceil(n / 200));
  const fpr: number[] = [];
  const tpr: number[] = [];
  for (let i = 0; i < n; i += step) {
    fpr.push(round(roc.fpr[i]!));
    tpr.push(round(roc.tpr[i]!));
  }
  if ((n - 1) % step !== 0) {
    fpr.push(round(roc.fpr[n - 1]!));
    tpr.push(round(roc.tpr[n - 1]!));
  }
  return { fpr, tpr };
}

function round(v: number, digits = 5): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function shares(counts: number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => round(total ? c / total : 0));
}

/**
 * A right tail this many times the median (the 99.5th percentile over the median, all values
 * positive) is drawn on a log scale: ALT, AST or bilirubin on a linear one put nearly every value
 * in the first of 30 bins.
 */
export const LOG_SCALE_TAIL_RATIO = 10;

/**
 * Shares of the real, synthetic and floor values in 30 bins over the real values' 0.5th to 99.5th
 * percentiles (values outside count in the end bins); log-spaced bins for a heavy right tail.
 */
function numericHistogram(field: string, unit: string | undefined, real: number[], syn: number[], floor: number[], bins = 30): HistogramPlot | null {
  if (real.length === 0) return null;
  let lo = quantile(real, 0.005);
  let hi = quantile(real, 0.995);
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const log = lo > 0 && hi / quantile(real, 0.5) >= LOG_SCALE_TAIL_RATIO;
  // t maps a value to the axis: log10 on a log scale; non-positive values land in the first bin
  const t = log ? (x: number) => (x > 0 ? Math.log10(x) : -Infinity) : (x: number) => x;
  const [t0, t1] = [t(lo), t(hi)];
  const edges = Array.from({ length: bins + 1 }, (_, i) => (log ? 10 ** (t0 + ((t1 - t0) * i) / bins) : lo + ((hi - lo) * i) / bins));
  const hist = (v: number[]) => {
    const c = new Array<number>(bins).fill(0);
    for (const x of v) c[Math.min(bins - 1, Math.max(0, Math.floor(((t(x) - t0) / (t1 - t0)) * bins)))]!++;
    return shares(c);
  };
  return {
    field,
    ...(unit ? { unit } : {}),
    edges: edges.map((e) => roundSignificant(e)),
    scale: log ? 'log' : 'linear',
    real: hist(real),
    synthetic: hist(syn),
    floor: hist(floor),
  };
}

/** 6 significant digits: log-spaced edges of small values would round to 0 at a fixed number of decimals. */
function roundSignificant(v: number): number {
  return v === 0 ? 0 : Number(v.toPrecision(6));
}

function categoricalHistogram(field: string, unit: string | undefined, real: string[], syn: string[], floor: string[]): HistogramPlot {
  const cats = [...new Set([...real, ...syn, ...floor])].sort();
  const hist = (v: string[]) => {
    const m = new Map<string, number>();
    for (const x of v) m.set(x, (m.get(x) ?? 0) + 1);
    return shares(cats.map((c) => m.get(c) ?? 0));
  };
  return { field, ...(unit ? { unit } : {}), categories: cats, real: hist(real), synthetic: hist(syn), floor: hist(floor) };
}

function plotData(
  train: readonly PatientRecord[],
  synthetic: readonly PatientRecord[],
  floor: readonly PatientRecord[],
  data: DataConfig,
  realCodes: CodeStatistics,
  synCodes: CodeStatistics,
  realTs: TimeSeriesStatistics,
  synTs: TimeSeriesStatistics,
  det: { synthetic: ReturnType<typeof detection>; ceiling: ReturnType<typeof detection> | null; floor: ReturnType<typeof detection> },
  prox: Record<'synthetic' | 'ceiling' | 'floor', ProximityResult>,
  utilRoc: RocPlot[],
): PlotData {
  const histograms: HistogramPlot[] = [];
  const pools = [pooledValues(train), pooledValues(synthetic), pooledValues(floor)];
  const values = (set: readonly PatientRecord[], v: string) => pools[set === train ? 0 : set === synthetic ? 1 : 2]!.get(v) ?? [];
  for (const c of data.covariates) {
    const get = (set: readonly PatientRecord[]) => set.map((r) => r.covariates[c.name] ?? null);
    if (c.type === 'numeric') {
      const num = (a: (number | string | null)[]) => a.filter((v): v is number => typeof v === 'number');
      const h = numericHistogram(`cov:${c.name}`, c.unit, num(get(train)), num(get(synthetic)), num(get(floor)));
      if (h) histograms.push(h);
    } else {
      const cat = (a: (number | string | null)[]) => a.map((v) => (v === null ? 'missing' : String(v)));
      histograms.push(categoricalHistogram(`cov:${c.name}`, undefined, cat(get(train)), cat(get(synthetic)), cat(get(floor))));
    }
  }
  for (const v of data.variables) {
    if (v.type === 'continuous') {
      const h = numericHistogram(`var:${v.name}`, v.unit, values(train, v.name).map(Number), values(synthetic, v.name).map(Number), values(floor, v.name).map(Number));
      if (h) histograms.push(h);
    } else {
      histograms.push(categoricalHistogram(`var:${v.name}`, v.unit, values(train, v.name).map(String), values(synthetic, v.name).map(String), values(floor, v.name).map(String)));
    }
  }
  const codes = [...new Set([...realCodes.prevalence.keys(), ...synCodes.prevalence.keys()])]
    .map((code) => ({ code, real: round(realCodes.prevalence.get(code) ?? 0), synthetic: round(synCodes.prevalence.get(code) ?? 0) }))
    .sort((a, b) => Math.max(b.real, b.synthetic) - Math.max(a.real, a.synthetic))
    .slice(0, 500);
  const mat = (m: Float64Array) => Array.from(m, (v) => (Number.isFinite(v) ? round(v, 4) : null));
  const s = prox.synthetic;
  const hi = Math.max(quantile(s.dcrTrain, 0.99), quantile(s.dcrHoldout, 0.99), 1e-9);
  const bins = 40;
  const edges = Array.from({ length: bins + 1 }, (_, i) => round((hi * i) / bins));
  const dh = (v: Float64Array) => {
    const c = new Array<number>(bins).fill(0);
    for (const x of v) c[Math.min(bins - 1, Math.floor((x / hi) * bins))]!++;
    return shares(c);
  };
  return {
    histograms,
    prevalence: codes,
    correlation: { variables: realTs.variables, real: mat(realTs.correlation), synthetic: mat(synTs.correlation) },
    roc: [
      {
        title: 'Detection: real vs candidate (out-of-fold)',
        curves: [
          { label: 'synthetic, logistic', ...thin(det.synthetic.logistic.roc) },
          { label: 'synthetic, boosting', ...thin(det.synthetic.boosting.roc) },
          { label: 'floor, boosting', ...thin(det.floor.boosting.roc) },
          ...(det.ceiling ? [{ label: 'ceiling, boosting', ...thin(det.ceiling.boosting.roc) }] : []),
        ],
      },
      ...utilRoc,
      {
        title: 'kNN membership inference',
        curves: [
          { label: 'synthetic', ...thin(prox.synthetic.miaRoc) },
          { label: 'floor', ...thin(prox.floor.miaRoc) },
          { label: 'ceiling', ...thin(prox.ceiling.miaRoc) },
        ],
      },
    ],
    dcr: { edges, train: dh(s.dcrTrain), holdout: dh(s.dcrHoldout) },
  };
}
