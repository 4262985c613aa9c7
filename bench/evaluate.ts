/**
 * Benchmark: the full evaluation (every metric, three candidate sets, the report) of 4,000
 * synthetic against 4,000 real PhysioNet 2012 set-a patients; the target is under 2 minutes on
 * two cores. Real records come from data/processed/physionet2012/ when `synehr prepare` has been
 * run, else straight from the embedded raw set-a through the loader. Real = the train and val
 * splits as training data (3,600) and the test split (400). Until a trained model exists, the
 * synthetic stand-in is an independent-marginals sample of 4,000 (so its figures equal the floor's).
 *
 *   npx tsx bench/evaluate.ts [--out DIR] [--synthetic DIR]
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { dataConfigSchema } from '../src/records/dataConfig.ts';
import type { PatientRecord } from '../src/records/types.ts';
import { readRecords } from '../src/records/tables.ts';
import { readSplit, splitPatients } from '../src/records/split.ts';
import { loadSource } from '../src/sources/index.ts';
import { evalConfigSchema } from '../src/evaluate/config.ts';
import { evaluateSynthetic } from '../src/evaluate/evaluate.ts';
import { sampleIndependentMarginals } from '../src/evaluate/marginals.ts';
import { formatSummaryTable, writeReport } from '../src/evaluate/report.ts';
import { Rng } from '../src/util/rng.ts';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

const raw = YAML.parse(readFileSync(join(ROOT, 'configs/data/physionet2012.yaml'), 'utf8')) as Record<string, unknown>;
raw['processed_dir'] = 'data/processed/physionet2012';
const data = dataConfigSchema.parse(raw);

const t0 = performance.now();
const processed = join(ROOT, 'data/processed/physionet2012');
let all: PatientRecord[];
let split: { train: string[]; val: string[]; test: string[] };
if (existsSync(join(processed, 'split.json'))) {
  split = await readSplit(processed);
  all = await readRecords(processed, { data });
  console.error(`bench: read ${all.length} prepared patients from ${processed}`);
} else {
  all = [];
  for await (const r of loadSource(data, (p) => resolve(ROOT, p))) all.push(r);
  const main = data.labels.find((l) => l.main)!.name;
  split = splitPatients(all.map((r) => r.id), new Map(all.map((r) => [r.id, r.labels[main]])), data.split, data.split.seed, main);
  console.error(`bench: loaded ${all.length} patients from the raw set-a (no prepared data yet)`);
}
const trainIds = new Set([...split.train, ...split.val]);
const testIds = new Set(split.test);
const train = all.filter((r) => trainIds.has(r.id));
const test = all.filter((r) => testIds.has(r.id));
const loadSeconds = (performance.now() - t0) / 1000;

const synDir = arg('--synthetic');
const synthetic = synDir ? await readRecords(resolve(synDir), { data }) : sampleIndependentMarginals(train, 4000, new Rng(123), data);
console.error(`bench: ${synthetic.length} synthetic (${synDir ?? 'independent-marginals stand-in'}), ${train.length} train, ${test.length} test; data in ${loadSeconds.toFixed(1)} s`);

const t1 = performance.now();
const cpu0 = process.cpuUsage();
const result = evaluateSynthetic({
  train,
  test,
  synthetic,
  data,
  cfg: evalConfigSchema.parse({}),
  rng: new Rng(7),
  log: (m) => console.error(`  ${m}`),
});
const out = arg('--out') ?? (await mkdtemp(join(tmpdir(), 'synehr-bench-eval-')));
const paths = await writeReport(join(out, 'eval'), result);
const seconds = (performance.now() - t1) / 1000;
const cpu = process.cpuUsage(cpu0);
// CPU time is what the evaluation costs on a core of its own (it is single-threaded); wall time
// also counts whatever else the two cores are doing, so both are printed
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(formatSummaryTable(result));
console.log(
  `\nfull evaluation of ${synthetic.length} synthetic vs ${train.length + test.length} real: ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU (target < 120 s); load average ${loadavg()[0]!.toFixed(1)}; report ${paths.report}`,
);
process.exitCode = cpuSeconds < 120 ? 0 : 1;
