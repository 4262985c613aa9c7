/**
 * Benchmark: how strongly synthetic records carry a binary label's signature (docs/quality.md,
 * "Label guidance"), against real ones.
 *
 *   npx tsx bench/signature.ts <synthetic dir>... [--data physionet2012] [--label in_hospital_death] [--split train] [--out FILE]
 *
 * For every utility feature (the evaluation's, src/evaluate/features.ts: covariates, and each
 * variable's min, max, mean, sd and missingness, standardized and imputed on the training split)
 * it takes the standardized difference between the patients with the label 1 and those with 0,
 * (mean₁ − mean₀) / pooled sd, in the real split and in each synthetic folder. It prints, per
 * folder, the label's rate, the correlation of the synthetic differences with the real ones, and
 * their size: the slope of synthetic on real through the origin (1 = as strong as real, below 1
 * weaker), with the features whose differences move most. A model that samples a record's label
 * and then writes a record that hardly depends on it gives a small slope, and classifiers trained
 * on its records learn little about the label (TSTR).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { dataConfigSchema, mainLabel } from '../src/records/dataConfig.ts';
import { readRecords } from '../src/records/tables.ts';
import { readSplit } from '../src/records/split.ts';
import { fitFeatureEncoder, type Matrix } from '../src/evaluate/features.ts';
import type { PatientRecord } from '../src/records/types.ts';
import { taker } from './args.ts';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const take = taker(argv);
const dataName = take('--data', 'physionet2012');
const splitName = take('--split', 'train');
const outFile = take('--out', '');
const data = dataConfigSchema.parse(YAML.parse(readFileSync(join(ROOT, 'configs/data', `${dataName}.yaml`), 'utf8')));
const label = take('--label', mainLabel(data) ?? '');
if (!data.labels.some((l) => l.name === label)) throw new Error(`bench/signature: --label ${label}: no such label in data config ${dataName} (known: ${data.labels.map((l) => l.name).join(', ')})`);
const dirs = argv;
if (dirs.length === 0) throw new Error('bench/signature: give one or more synthetic folders, e.g. data/synthetic/quality-default-s1');

const processed = join(ROOT, 'data/processed', dataName);
const split = await readSplit(processed);
if (splitName !== 'train' && splitName !== 'val' && splitName !== 'test') throw new Error(`bench/signature: --split ${splitName}: expected train, val or test`);
const ids = split[splitName];
const real = await readRecords(processed, { data, ids: new Set(ids) });
const enc = fitFeatureEncoder(real, data, { labels: false, topCodes: 0 });

interface Signature {
  n: number;
  rate: number;
  /** [D] standardized difference, label 1 against 0; NaN where a feature does not vary */
  d: Float64Array;
}

function signature(records: readonly PatientRecord[], where: string): Signature {
  const y = records.map((r, i) => {
    const v = r.labels[label];
    if (v !== 0 && v !== 1) throw new Error(`bench/signature: ${where}: patient ${r.id} (row ${i}) has ${label} = ${JSON.stringify(v)}; expected 0 or 1`);
    return v;
  });
  const x: Matrix = enc.encode(records);
  const D = x.d;
  const d = new Float64Array(D);
  const n1 = y.filter((v) => v === 1).length;
  const n0 = y.length - n1;
  if (n1 < 2 || n0 < 2) throw new Error(`bench/signature: ${where}: ${n1} patients with ${label} = 1 and ${n0} with 0; need two of each`);
  for (let c = 0; c < D; c++) {
    let s0 = 0, s1 = 0, q0 = 0, q1 = 0;
    for (let i = 0; i < y.length; i++) {
      const v = x.x[i * D + c]!;
      if (y[i] === 1) (s1 += v), (q1 += v * v);
      else (s0 += v), (q0 += v * v);
    }
    const m0 = s0 / n0;
    const m1 = s1 / n1;
    const pooled = (q0 - n0 * m0 * m0 + (q1 - n1 * m1 * m1)) / (n0 + n1 - 2);
    d[c] = pooled > 1e-12 ? (m1 - m0) / Math.sqrt(pooled) : Number.NaN;
  }
  return { n: records.length, rate: n1 / records.length, d };
}

const ref = signature(real, `${processed} (${splitName})`);
const rows: Record<string, unknown>[] = [];
console.log(`bench/signature: ${label}, real ${splitName} split: ${ref.n} patients, rate ${ref.rate.toFixed(3)}; ${enc.names.length} features`);
// the ceiling: real patients of another split, read the same way
const ceilingSplit = splitName === 'train' ? 'val' : 'train';
const sets: { name: string; ceiling: boolean; records: () => Promise<PatientRecord[]> }[] = [
  { name: `ceiling: the real ${ceilingSplit} split`, ceiling: true, records: () => readRecords(processed, { data, ids: new Set(split[ceilingSplit]) }) },
  ...dirs.map((dir) => ({ name: dir, ceiling: false, records: () => readRecords(resolve(dir), { data }) })),
];
let ceiling: Record<string, unknown> | null = null;
for (const { name: dir, ceiling: isCeiling, records: read } of sets) {
  const records = await read();
  const s = signature(records, dir);
  // the features that vary in both
  const cols = Array.from({ length: enc.names.length }, (_, c) => c).filter((c) => Number.isFinite(ref.d[c]!) && Number.isFinite(s.d[c]!));
  const mean = (a: Float64Array) => cols.reduce((t, c) => t + a[c]!, 0) / cols.length;
  const mr = mean(ref.d);
  const ms = mean(s.d);
  let sxy = 0, sxx = 0, syy = 0, through = 0, rr = 0;
  for (const c of cols) {
    sxy += (ref.d[c]! - mr) * (s.d[c]! - ms);
    sxx += (ref.d[c]! - mr) ** 2;
    syy += (s.d[c]! - ms) ** 2;
    through += ref.d[c]! * s.d[c]!;
    rr += ref.d[c]! ** 2;
  }
  const r = sxy / Math.sqrt(sxx * syy);
  const slope = through / rr;
  const strongest = cols
    .slice()
    .sort((a, b) => Math.abs(ref.d[b]!) - Math.abs(ref.d[a]!))
    .slice(0, 8)
    .map((c) => ({ feature: enc.names[c]!, real: ref.d[c]!, synthetic: s.d[c]! }));
  console.log(`${dir}: ${s.n} patients, rate ${s.rate.toFixed(3)}; correlation with real ${r.toFixed(3)}, size (slope through 0) ${slope.toFixed(3)} over ${cols.length} features`);
  console.log(`  strongest real differences (real / synthetic): ${strongest.map((f) => `${f.feature} ${f.real.toFixed(2)} / ${f.synthetic.toFixed(2)}`).join(', ')}`);
  const row = { dir, patients: s.n, rate: s.rate, correlation: r, slope, features: cols.length, strongest };
  if (isCeiling) ceiling = { split: ceilingSplit, ...row };
  else rows.push(row);
}
if (outFile) {
  writeFileSync(outFile, JSON.stringify({ label, data: dataName, split: splitName, real: { patients: ref.n, rate: ref.rate }, ceiling, synthetic: rows, created: new Date().toISOString() }, null, 1) + '\n');
  console.error(`bench/signature: wrote ${outFile}`);
}
