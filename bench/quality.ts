/**
 * Benchmark: the quality of what synehr generates, with its spread over seeds (issue 15).
 *
 * For each seed it runs the whole pipeline as a user would (`synehr pipeline`, in this checkout):
 * train with the named budget, export, generate as many synthetic patients as the training split
 * holds, evaluate against the held-out split; then it prints, per figure, the mean ± sd over seeds
 * beside the ceiling (real vs real) and the floor (independent marginals) and the target, with
 * wall time and training tokens/s, and writes the table as JSON.
 *
 *   npx tsx bench/quality.ts [--seeds 3 | --seed-list 1,3] [--holdout test|val] [--tag NAME] [--reuse TAG [--collect]] [--out FILE] [overrides...]
 *
 * Overrides are the pipeline's own (`train=quick`, `train.max_steps=3000`, `model=gpt`,
 * `generate.temperature=0.9` ...); with none it measures the default recipe (`npm start`).
 * Choose settings with --holdout val; report the chosen ones with --holdout test (the default).
 * The runs train for the recipe's updates whatever the machine's speed (`train.max_minutes=null`
 * unless an override sets it), so figures from machines of other speeds compare.
 * The seeds are 1..N: each sets the training seed (init, data order), the generation seed and the
 * evaluation seed. Runs go to saved_models/quality-<tag>-s<seed>/ and are overwritten.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { readRecords } from '../src/records/tables.ts';
import { dataConfigSchema } from '../src/records/dataConfig.ts';
import { loadSafetensors } from '../src/model/safetensors.ts';
import { MEMORY_REFIT_METADATA } from '../src/train/memoryRefit.ts';
import { MEMORY_CALIBRATION_METADATA } from '../src/generate/calibrate.ts';
import { taker } from './args.ts';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const take = taker(argv);
// --seed-list runs (or collects) the seeds named, e.g. the one a series is missing
const seedCount = Number(take('--seeds', '3'));
const seedList = take('--seed-list', '');
const seedNumbers = seedList ? seedList.split(',').map(Number) : Array.from({ length: seedCount }, (_, i) => i + 1);
if (seedNumbers.length === 0 || seedNumbers.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`bench/quality: --seed-list ${seedList}: expected positive integers, e.g. 1,3`);
const seeds = seedNumbers.length;
const holdout = take('--holdout', 'test');
const tag = take('--tag', 'default');
const outFile = take('--out', '');
// sampling settings on models trained already: --reuse TAG generates and evaluates anew from the
// runs quality-TAG-s<seed> (the pipeline resumes them: prepare, tokenize, train and export are
// current and skipped); the overrides should then change only generate.* or eval.*
const reuse = take('--reuse', '');
// --collect: only read the runs quality-TAG-s<seed> as they are (each evaluated on --holdout already)
const collect = argv.includes('--collect');
if (collect) argv.splice(argv.indexOf('--collect'), 1);
if (collect && !reuse) throw new Error('bench/quality: --collect reads the runs of --reuse TAG; give --reuse');
// the recipe at its fixed number of updates, so that runs on machines of other speeds compare;
// `train.max_minutes=17` (npm start's budget) measures what npm start gives on this machine
const overrides = argv.some((a) => a.startsWith('train.max_minutes=')) ? argv : [...argv, 'train.max_minutes=null'];

interface Figure {
  key: string;
  name: string;
  /** target as text, e.g. '≥ TRTR − 0.03' */
  target: string;
  /** the value of one run; ceiling and floor where they exist */
  get(m: Metrics): { synthetic: number | null; ceiling?: number | null; floor?: number | null };
}
interface Row {
  key: string;
  synthetic: number | null;
  ceiling: number | null;
  floor: number | null;
}
interface Metrics {
  rows: Map<string, Row>;
  maxHours: number;
  windowHours: number | null;
  tokensPerSecond: number;
  trainSeconds: number;
  /** optimizer updates the run made (fewer than train.max_steps after early stopping or under train.max_minutes) */
  updates: number;
  valLoss: number;
  /** the value memory's refit: its validation loss after minus before (its own patients), null without one */
  refitValDelta: number | null;
  /** the calibration's first round: mean |sampled − real| share of patients with each variable, before its step */
  calibrationError: number | null;
  /** seconds this invocation spent on the run (under --reuse: generation and evaluation only); null with --collect */
  wallSeconds: number | null;
}

const row = (m: Metrics, key: string): Row => {
  const r = m.rows.get(key);
  if (!r) throw new Error(`bench/quality: metrics.json has no row '${key}'`);
  return r;
};
const triple = (key: string) => (m: Metrics) => row(m, key);
/** a row only some data sets have (codes): absent, it is a blank */
const optional = (key: string) => (m: Metrics) => m.rows.get(key) ?? { synthetic: null, ceiling: null, floor: null };
const share = (key: string) => (m: Metrics) => {
  const r = row(m, key);
  return { synthetic: r.synthetic !== null && r.ceiling ? r.synthetic / r.ceiling : null, ceiling: 1, floor: r.floor !== null && r.ceiling ? r.floor / r.ceiling : null };
};

const FIGURES: Figure[] = [
  { key: 'tstr_logistic', name: 'TSTR AUROC, logistic (ceiling: TRTR)', target: '≥ TRTR − 0.03', get: triple('utility/in_hospital_death/logistic/tstr_auroc') },
  { key: 'tstr_boosting', name: 'TSTR AUROC, boosted trees (ceiling: TRTR)', target: '≥ TRTR − 0.03', get: triple('utility/in_hospital_death/boosting/tstr_auroc') },
  { key: 'det_logistic', name: 'Detection AUC, logistic', target: '≤ 0.65', get: triple('detection/auc_logistic') },
  { key: 'det_boosting', name: 'Detection AUC, boosted trees', target: '≤ 0.70', get: triple('detection/auc_boosting') },
  { key: 'prdc_precision', name: 'PRDC precision / ceiling', target: '≥ 0.8', get: share('fidelity/prdc_precision') },
  { key: 'prdc_recall', name: 'PRDC recall / ceiling', target: '≥ 0.8', get: share('fidelity/prdc_recall') },
  { key: 'prdc_density', name: 'PRDC density / ceiling', target: '≥ 0.8', get: share('fidelity/prdc_density') },
  { key: 'prdc_coverage', name: 'PRDC coverage / ceiling', target: '≥ 0.8', get: share('fidelity/prdc_coverage') },
  { key: 'ks_complement', name: 'KSComplement, mean', target: '≥ ceiling − 0.01', get: triple('fidelity/ks_complement_mean') },
  { key: 'tv_complement', name: 'TVComplement, mean', target: '≥ ceiling − 0.01', get: triple('fidelity/tv_complement_mean') },
  { key: 'tcd', name: 'TCD (temporal correlation difference)', target: '≤ 1.5 × ceiling', get: triple('fidelity/tcd') },
  { key: 'measurements_ks', name: 'Measurements per patient, KSComplement', target: '≥ 0.93', get: triple('fidelity/measurement_count_ks_mean') },
  { key: 'code_prevalence_r', name: 'Code prevalence, Pearson r (data with codes)', target: '', get: optional('fidelity/code_prevalence_r') },
  { key: 'code_bigram_r', name: 'Code bigrams, Pearson r (data with codes)', target: '', get: optional('fidelity/ngram_r/2') },
  { key: 'gap_ks', name: 'Time gaps, KSComplement', target: '', get: triple('fidelity/gap_ks_complement') },
  { key: 'mia', name: 'kNN membership inference AUROC', target: '≤ 0.55', get: triple('privacy/mia_auroc') },
  { key: 'exact_copies', name: 'Exact-copy rate', target: '0', get: triple('privacy/exact_copy_rate') },
  { key: 'closer_to_train', name: 'Share closer to train than holdout', target: 'within 0.05 of ceiling', get: triple('privacy/share_closer_to_train') },
  { key: 'nnaa_loss', name: 'NNAA privacy loss', target: '≤ 0.03', get: triple('privacy/nnaa_privacy_loss') },
  { key: 'max_hours', name: 'Latest synthetic event, hours', target: '≤ window', get: (m) => ({ synthetic: m.maxHours, ceiling: m.windowHours }) },
  { key: 'val_loss', name: 'val/loss (best)', target: '', get: (m) => ({ synthetic: m.valLoss }) },
  { key: 'refit_val_delta', name: 'memory refit: change in its validation loss', target: '', get: (m) => ({ synthetic: m.refitValDelta }) },
  { key: 'calibration_error', name: 'memory calibration: presence share error before it', target: '', get: (m) => ({ synthetic: m.calibrationError }) },
  { key: 'tokens_per_s', name: 'training tokens/s', target: '', get: (m) => ({ synthetic: m.tokensPerSecond }) },
  { key: 'train_minutes', name: 'training minutes', target: '', get: (m) => ({ synthetic: m.trainSeconds / 60 }) },
  { key: 'train_updates', name: 'training updates', target: '', get: (m) => ({ synthetic: m.updates }) },
  { key: 'wall_minutes', name: 'pipeline minutes (train, export, generate, evaluate)', target: '', get: (m) => ({ synthetic: m.wallSeconds === null ? null : m.wallSeconds / 60 }) },
];

function synehr(args: string[], log: string): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/synehr.js'), ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  writeFileSync(log, `${r.stdout}\n${r.stderr}`);
  if (r.status !== 0) throw new Error(`bench/quality: synehr ${args.join(' ')} exited ${r.status}; see ${log}`);
}

/** The training split's size: as many synthetic patients as it holds. */
function trainSize(): number {
  const dataName = (overrides.find((o) => o.startsWith('data=')) ?? 'data=physionet2012').slice(5);
  const splitFile = join(ROOT, 'data/processed', dataName, 'split.json');
  // prepared data stays: `synehr prepare` replaces the folder, token shards included, which would
  // make every run re-tokenize, and a run trained with another tokenizer config unable to resume
  if (!existsSync(splitFile)) synehr(['prepare', ...overrides.filter((o) => o.startsWith('data'))], join(ROOT, 'saved_models', `quality-${tag}-prepare.log`));
  const split = JSON.parse(readFileSync(splitFile, 'utf8')) as { train: string[] };
  return split.train.length;
}

async function runOnce(seed: number, n: number): Promise<Metrics> {
  const run = `quality-${reuse || tag}-s${seed}`;
  const dir = join(ROOT, 'saved_models', run);
  mkdirSync(join(ROOT, 'saved_models'), { recursive: true });
  const t0 = performance.now();
  if (!collect) synehr(
    ['pipeline', `run_name=${run}`, reuse ? 'resume=true' : 'overwrite=true', `seed=${seed}`, `generate.seed=${seed}`, `generate.n_samples=${n}`, `eval.seed=${seed}`, `eval.holdout=${holdout}`, 'tracking.tensorboard=false', ...overrides],
    join(ROOT, 'saved_models', `quality-${tag}-s${seed}.log`),
  );
  // --collect runs nothing, so it has no wall time to report
  const wallSeconds = collect ? null : (performance.now() - t0) / 1000;
  const metrics = JSON.parse(readFileSync(join(dir, 'eval', 'metrics.json'), 'utf8')) as { rows: Row[]; meta: { config?: { holdout?: string } } };
  const evaluated = metrics.meta.config?.holdout;
  if (evaluated === undefined) throw new Error(`bench/quality: ${dir}/eval/metrics.json does not say which split it was evaluated on (it predates meta.config); evaluate it with eval.holdout=${holdout}`);
  if (evaluated !== holdout) throw new Error(`bench/quality: ${dir}/eval/metrics.json is on the ${evaluated} split, not ${holdout}; evaluate it with eval.holdout=${holdout}`);
  const logged = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const tps = logged.filter((l) => typeof l['tokens_per_s'] === 'number').map((l) => l['tokens_per_s']!);
  const val = logged.filter((l) => typeof l['val/loss'] === 'number').map((l) => l['val/loss']!);
  const times = logged.filter((l) => typeof l['time'] === 'number').map((l) => l['time']!);
  const weightsMeta = (await loadSafetensors(join(dir, 'model.safetensors'))).metadata;
  const stamp = weightsMeta[MEMORY_REFIT_METADATA];
  const refitVal = stamp ? (JSON.parse(stamp) as { val_loss: [number, number] | null }).val_loss : null;
  const calibration = weightsMeta[MEMORY_CALIBRATION_METADATA];
  const calibrationRounds = calibration ? (JSON.parse(calibration) as { rounds: { mean_error: number }[] }).rounds : [];
  // the synthetic tables: the latest event of any admission
  const cfg = YAML.parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as { data?: unknown };
  const data = dataConfigSchema.parse(cfg.data);
  const synDir = join(ROOT, 'data/synthetic', run);
  const synthetic = await readRecords(synDir, { data });
  let maxHours = 0;
  for (const r of synthetic) for (const a of r.admissions) for (const e of a.events) maxHours = Math.max(maxHours, e.hours);
  return {
    rows: new Map(metrics.rows.map((r) => [r.key, r])),
    maxHours,
    windowHours: data.window_hours ?? null,
    tokensPerSecond: tps.length ? tps.slice(Math.floor(tps.length / 2)).reduce((a, b) => a + b, 0) / Math.ceil(tps.length / 2) : Number.NaN,
    trainSeconds: times.length > 1 ? times[times.length - 1]! - times[0]! : Number.NaN,
    updates: Math.max(...logged.filter((l) => typeof l['train/loss'] === 'number').map((l) => l['step']!)),
    valLoss: val.length ? Math.min(...val) : Number.NaN,
    refitValDelta: refitVal ? refitVal[1] - refitVal[0] : null,
    calibrationError: calibrationRounds[0]?.mean_error ?? null,
    wallSeconds,
  };
}

/** mean ± sd over the seeds, and each seed's value in seed_list's order (null where a run has none), for paired comparisons */
const stat = (xs: (number | null | undefined)[]): { mean: number; sd: number; n: number; values: (number | null)[] } | null => {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const values = xs.map((x) => (typeof x === 'number' && Number.isFinite(x) ? x : null));
  return { mean: m, sd: v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0, n: v.length, values };
};

const n = trainSize();
console.error(`bench/quality: ${seeds} seeds, ${n} synthetic patients each, holdout=${holdout}, overrides: ${overrides.join(' ') || '(the default recipe)'}`);
const runs: Metrics[] = [];
for (const s of seedNumbers) {
  const m = await runOnce(s, n);
  runs.push(m);
  console.error(`bench/quality: seed ${s} ${m.wallSeconds === null ? 'read' : `done in ${(m.wallSeconds / 60).toFixed(1)} min`}`);
}

const table = FIGURES.map((f) => {
  const vals = runs.map((m) => f.get(m));
  return { key: f.key, name: f.name, target: f.target, synthetic: stat(vals.map((v) => v.synthetic)), ceiling: stat(vals.map((v) => v.ceiling)), floor: stat(vals.map((v) => v.floor)) };
});
const fmt = (s: { mean: number; sd: number } | null, sd = true) => (s === null ? '—' : sd && s.sd > 0 ? `${s.mean.toFixed(3)} ± ${s.sd.toFixed(3)}` : s.mean.toFixed(3));
const w = Math.max(...table.map((t) => t.name.length));
console.log(`quality: ${tag}, ${seeds} seeds, ${n} synthetic patients, holdout ${holdout}; overrides: ${overrides.join(' ') || '(default recipe)'}`);
console.log(`${'figure'.padEnd(w)} | ${'synthetic (mean ± sd)'.padStart(22)} | ${'ceiling'.padStart(16)} | ${'floor'.padStart(16)} | target`);
for (const t of table) console.log(`${t.name.padEnd(w)} | ${fmt(t.synthetic).padStart(22)} | ${fmt(t.ceiling).padStart(16)} | ${fmt(t.floor).padStart(16)} | ${t.target}`);
if (outFile) {
  writeFileSync(outFile, JSON.stringify({ tag, seeds, seed_list: seedNumbers, holdout, overrides, n_synthetic: n, created: new Date().toISOString(), figures: table }, null, 1) + '\n');
  console.error(`bench/quality: wrote ${outFile}`);
}
