/**
 * Benchmark: the round trip (real patients encoded and decoded back, no model) of tokenizer
 * settings, with the spread over seeds: each seed decodes the split afresh and runs the
 * evaluation's classifiers with their own folds. Prints, per setting, the figures issue 14 sets
 * targets on (detection AUCs, PRDC against the ceiling, time-gap KSComplement, events past the
 * window, the worst variable's KS, sd ratio and within-patient sd ratio, median tokens per
 * patient) as mean ± sd, and writes them as JSON.
 *
 *   npx tsx bench/roundtrip.ts [--data physionet2012] [--split test|val] [--seeds 3] [--out FILE]
 *                              [--setting name=key:value,key:value ...]
 *
 * Settings default to `default` (the tokenizer config's defaults) and `synehrgy`
 * (configs/tokenizer/synehrgy.yaml). The data must be prepared (`synehr prepare data=<d>`).
 * Choose settings on --split val; report the chosen ones on --split test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { dataConfigSchema } from '../src/records/dataConfig.ts';
import { readRecords } from '../src/records/tables.ts';
import { readSplit } from '../src/records/split.ts';
import { fitTokenizer } from '../src/tokenizer/fit.ts';
import { tokenizerConfigSchema, type TokenizerConfig } from '../src/tokenizer/config.ts';
import { roundTrip, roundTripTable } from '../src/tokenizer/roundtrip.ts';
import { evaluateSynthetic } from '../src/evaluate/evaluate.ts';
import { evalConfigSchema } from '../src/evaluate/config.ts';
import { Rng } from '../src/util/rng.ts';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const dataName = arg('--data', 'physionet2012');
const splitName = arg('--split', 'test') as 'val' | 'test';
const seeds = Number(arg('--seeds', '3'));

const raw = YAML.parse(readFileSync(join(ROOT, `configs/data/${dataName}.yaml`), 'utf8')) as Record<string, unknown>;
raw['processed_dir'] = `data/processed/${dataName}`;
const data = dataConfigSchema.parse(raw);
const processed = join(ROOT, 'data/processed', dataName);

const settings: [string, Partial<TokenizerConfig>][] = [];
for (let i = 0; i < process.argv.length; i++) {
  if (process.argv[i] !== '--setting') continue;
  const [name, spec] = process.argv[i + 1]!.split('=') as [string, string];
  settings.push([name, Object.fromEntries(spec.split(',').map((kv) => { const [k, v] = kv.split(':'); return [k!, JSON.parse(v!)]; }))]);
}
if (settings.length === 0) {
  settings.push(['default', {}], ['synehrgy', YAML.parse(readFileSync(join(ROOT, 'configs/tokenizer/synehrgy.yaml'), 'utf8')) as Partial<TokenizerConfig>]);
}

const split = await readSplit(processed);
const all = await readRecords(processed, { data, ids: new Set([...split.train, ...split[splitName]]) });
const pick = (ids: string[]) => {
  const s = new Set(ids);
  return all.filter((r) => s.has(r.id));
};
const train = pick(split.train);
const real = pick(split[splitName]);
console.error(`bench: ${real.length} ${splitName} patients of ${dataName} against ${train.length} train, ${seeds} seeds`);

const stat = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean: m, sd };
};
const out: Record<string, Record<string, { mean: number; sd: number }>> = {};
for (const [name, over] of settings) {
  const t0 = performance.now();
  const tok = fitTokenizer(train, data, tokenizerConfigSchema.parse(over));
  const fitSeconds = (performance.now() - t0) / 1000;
  const lengths = real.map((p) => tok.encodePatient(p, { unknown: 'drop' }).length).sort((a, b) => a - b);
  const figures: Record<string, number[]> = {};
  const add = (k: string, v: number | null) => (figures[k] ??= []).push(v ?? Number.NaN);
  for (let s = 0; s < seeds; s++) {
    const { decoded } = roundTrip(tok, real, 100 + s);
    const res = evaluateSynthetic({ train, test: real, synthetic: decoded, data, cfg: evalConfigSchema.parse({ seed: 200 + s }), rng: new Rng(200 + s) });
    const row = (k: string) => res.rows.find((r) => r.key === k)!;
    add('detection_auc_logistic', row('detection/auc_logistic').synthetic);
    add('detection_auc_boosting', row('detection/auc_boosting').synthetic);
    for (const p of ['precision', 'density', 'coverage']) {
      const r = row(`fidelity/prdc_${p}`);
      add(`prdc_${p}_of_ceiling`, r.synthetic! / r.ceiling!);
    }
    add('gap_ks_complement', row('fidelity/gap_ks_complement').synthetic);
    const t = roundTripTable(real, decoded, data, new Set(tok.codes.values));
    const vars = t.rows.filter((r) => r.field.startsWith('var:'));
    const big = vars.filter((r) => r.n >= 1000);
    add('max_hours', t.max_hours[1]);
    add('worst_ks_n1000', Math.max(...big.map((r) => r.ks)));
    add('worst_sd_ratio_dev_n1000', Math.max(...big.map((r) => Math.abs(r.sd_ratio - 1))));
    add('worst_within_sd_ratio_dev_n1000', Math.max(...big.filter((r) => r.within_sd_ratio !== null).map((r) => Math.abs(r.within_sd_ratio! - 1))));
    add('vars_ks_over_0.02', vars.filter((r) => r.ks > 0.02).length);
    add('vars_sd_ratio_outside_0.95_1.05', vars.filter((r) => Math.abs(r.sd_ratio - 1) > 0.05).length);
    add('vars_within_sd_outside_0.9_1.1', vars.filter((r) => r.within_sd_ratio !== null && Math.abs(r.within_sd_ratio - 1) > 0.1).length);
    if (t.codes) add('codes_exact_in_vocabulary', t.codes.exact_in_vocabulary);
  }
  out[name] = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, stat(v)]));
  out[name]!['vocab_size'] = { mean: tok.vocabSize, sd: 0 };
  out[name]!['median_tokens'] = { mean: lengths[lengths.length >> 1]!, sd: 0 };
  out[name]!['fit_seconds'] = { mean: fitSeconds, sd: 0 };
  console.error(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

const keys = Object.keys(out[settings[0]![0]]!);
const w = Math.max(...keys.map((k) => k.length));
console.log(`round trip, ${dataName} ${splitName} split (${real.length} patients), mean ± sd over ${seeds} seeds`);
console.log(`${'figure'.padEnd(w)}  ${settings.map(([n]) => n.padStart(18)).join('  ')}`);
for (const k of keys) {
  console.log(`${k.padEnd(w)}  ${settings.map(([n]) => { const f = out[n]![k]; return f ? `${f.mean.toFixed(3)} ± ${f.sd.toFixed(3)}`.padStart(18) : '—'.padStart(18); }).join('  ')}`);
}
const file = arg('--out', '');
if (file) writeFileSync(file, JSON.stringify({ data: dataName, split: splitName, seeds, patients: real.length, settings: Object.fromEntries(settings), figures: out }, null, 1) + '\n');
