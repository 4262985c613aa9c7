/**
 * Benchmark: whether a model's sampled series stay near a patient's level as real ones do
 * (docs/quality.md, "What the detector separates on"), per variable, against the training split.
 *
 *   npx tsx bench/drift.ts saved_models/<run> [--patients 1000] [--seed 7] [--out FILE]
 *
 * It samples N unconditioned patients from the run's model.safetensors as the memory calibration
 * does (temperature 1; src/generate/calibrate.ts sampleRows), and reads the same statistics of each
 * variable's series from them and from the run's training shard (bench/seriesDrift.ts): the mean
 * step in bins, the lag-1 autocorrelation of steps (negative where a move tends to be undone), the
 * within-patient sd of bins and the distance from the first value to the last. It prints them
 * side by side with the sampled / real ratios, and their means over the variables that both sides
 * have (weighted by each one's real patients with 2 or more values). The validation split's real
 * patients, read the same way, are the ceiling: what patients the model never saw give against the
 * training split. With --out it writes them as JSON.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { sampleRows } from '../src/generate/calibrate.ts';
import { modelConfigSchema } from '../src/model/config.ts';
import { modelMemoryTable } from '../src/model/gpt.ts';
import { loadSafetensors, tensorToFloat32 } from '../src/model/safetensors.ts';
import { loadTokenizer } from '../src/tokenizer/file.ts';
import { readTokenShard, shardPatient } from '../src/tokenizer/shards.ts';
import { seriesDrift, type VariableDrift } from './seriesDrift.ts';
import { taker } from './args.ts';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const take = taker(argv);
const patients = Number(take('--patients', '1000'));
const seed = Number(take('--seed', '7'));
const outFile = take('--out', '');
const run = argv[0];
if (!run) throw new Error('bench/drift: give a run directory, e.g. saved_models/quality-default-s1');
if (!Number.isInteger(patients) || patients < 1) throw new Error(`bench/drift: --patients ${patients}: expected a positive integer`);
for (const f of ['synehr_tokenizer.json', 'config.yaml', 'model.safetensors']) {
  if (!existsSync(join(run, f))) throw new Error(`bench/drift: ${join(run, f)} is missing: give a trained run`);
}
const tok = loadTokenizer(join(run, 'synehr_tokenizer.json'));
const cfg = YAML.parse(readFileSync(join(run, 'config.yaml'), 'utf8')) as { model?: unknown; data?: { processed_dir?: string } };
const model = modelConfigSchema.parse(cfg.model);
if (!model.value_memory) throw new Error(`bench/drift: ${run} has no value memory (model.value_memory=false); the sampler it uses needs one`);
if (!cfg.data?.processed_dir) throw new Error(`bench/drift: ${join(run, 'config.yaml')} names no data.processed_dir`);
const readShard = (split: string) => {
  const path = resolve(ROOT, cfg.data!.processed_dir!, 'tokens', `${split}.bin`);
  const shard = readTokenShard(path);
  if (shard.vocabSize !== tok.vocabSize) throw new Error(`bench/drift: ${path} has vocabulary size ${shard.vocabSize}, the run's tokenizer ${tok.vocabSize}: re-tokenize with the run's tokenizer`);
  return shard;
};
const shard = readShard('train');
const valShard = readShard('val');
const file = await loadSafetensors(join(run, 'model.safetensors'));
const weights = Object.fromEntries(file.tensors.map((t) => [t.name, tensorToFloat32(t)]));
const table = modelMemoryTable(model, tok);
if (!table) throw new Error(`bench/drift: ${run} has no value memory (model.value_memory)`);

const t0 = performance.now();
const sampledRows = await sampleRows(model, tok, weights, patients, seed, 64, undefined);
const seconds = (performance.now() - t0) / 1000;
const patientsOf = (sh: typeof shard) => Array.from({ length: sh.offsets.length - 1 }, (_, p) => shardPatient(sh, p));
const real = seriesDrift(patientsOf(shard), table);
const sampled = seriesDrift(sampledRows, table);
// the ceiling: real patients the model never saw, against the same training split
const heldOut = seriesDrift(patientsOf(valShard), table);

const f = (x: number | null, d = 3): string => (x === null ? '—' : x.toFixed(d));
const ratio = (s: number | null, r: number | null): number | null => (s === null || r === null || r === 0 ? null : s / r);
console.log(`bench/drift: ${run}, ${patients} sampled patients (seed ${seed}, ${seconds.toFixed(0)} s) against ${shard.offsets.length - 1} training patients; ${valShard.offsets.length - 1} validation patients as the ceiling`);
console.log(`${'variable'.padEnd(14)} ${'rows real/syn'.padStart(13)} | ${'mean step'.padStart(17)} | ${'step autocorr: real, syn, held-out'.padStart(22)} | ${'sd (ratio)'.padStart(22)} | ${'|last − first| (ratio)'.padStart(22)}`);
const rows = tok.variables.map((v, j) => ({ variable: v.name, real: real[j]!, sampled: sampled[j]!, heldOut: heldOut[j]! }));
for (const r of rows) {
  const { real: a, sampled: b } = r;
  console.log(
    `${r.variable.padEnd(14)} ${`${a.rows}/${b.rows}`.padStart(13)} | ${`${f(a.meanStep)} ${f(b.meanStep)}`.padStart(17)} | ${`${f(a.stepAutocorr)} ${f(b.stepAutocorr)} ${f(r.heldOut.stepAutocorr)}`.padStart(22)} | ` +
      `${`${f(a.sd)} ${f(b.sd)} (${f(ratio(b.sd, a.sd), 2)})`.padStart(22)} | ${`${f(a.drift, 2)} ${f(b.drift, 2)} (${f(ratio(b.drift, a.drift), 2)})`.padStart(22)}`,
  );
}
// the means over the variables where both sides have the statistic (and, for ratios, a nonzero real
// one), each weighted by its real rows: the frequently measured vitals and labs carry the detector
const summaryOf = (side: 'sampled' | 'heldOut') => {
  const weighted = (k: Exclude<keyof VariableDrift, 'rows'>, x: (r: (typeof rows)[number]) => number): number => {
    const rs = rows.filter((r) => r.real[k] !== null && r[side][k] !== null && r.real[k] !== 0);
    return rs.reduce((a, r) => a + r.real.rows * x(r), 0) / rs.reduce((a, r) => a + r.real.rows, 0);
  };
  return {
    step_autocorr_real: weighted('stepAutocorr', (r) => r.real.stepAutocorr!),
    step_autocorr: weighted('stepAutocorr', (r) => r[side].stepAutocorr!),
    mean_step_ratio: weighted('meanStep', (r) => r[side].meanStep! / r.real.meanStep!),
    sd_ratio: weighted('sd', (r) => r[side].sd! / r.real.sd!),
    drift_ratio: weighted('drift', (r) => r[side].drift! / r.real.drift!),
  };
};
const summary = { sampled: summaryOf('sampled'), held_out: summaryOf('heldOut') };
for (const [name, x] of [['sampled', summary.sampled], ['held-out real', summary.held_out]] as const) {
  console.log(
    `${name}, means over the variables weighted by their real rows: step autocorrelation ${f(x.step_autocorr)} (training split ${f(x.step_autocorr_real)}); ` +
      `against the training split: mean step ${f(x.mean_step_ratio)}, sd ${f(x.sd_ratio)}, |last − first| ${f(x.drift_ratio)}`,
  );
}
if (outFile) {
  const json = { run, patients, seed, training_patients: shard.offsets.length - 1, summary, variables: rows };
  writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`wrote ${outFile}`);
}
