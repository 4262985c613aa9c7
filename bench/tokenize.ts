/**
 * Tokenizer benchmark: fit on PhysioNet 2012 set-a and encode all of it (target: all of set-a in
 * under 5 s). Records come from `synehr prepare`'s output when it exists
 * (data/processed/physionet2012/, or SYNEHR_BENCH_PROCESSED=<dir>), else from the raw set-a files
 * parsed directly (SYNEHR_BENCH_SETA=<dir>, default ../shared/data/physionet2012/set-a).
 *
 *   npx tsx bench/tokenize.ts [repeats=3]
 *
 * Prints load, fit, encode and decode times and encoding throughput in tokens/s (best of the repeats),
 * as wall-clock seconds and as this process's CPU seconds (user + system): on a shared machine the
 * CPU figure is the steadier of the two.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { emptyEncodeStats } from '../src/tokenizer/tokenizer.ts';
import { fitTokenizer } from '../src/tokenizer/fit.ts';
import { tokenizerConfigSchema } from '../src/tokenizer/config.ts';
import { buildTokenShard } from '../src/tokenizer/shards.ts';
import { dataConfigSchema, type DataConfig } from '../src/records/dataConfig.ts';
import type { PatientRecord } from '../src/records/types.ts';
import { Rng } from '../src/util/rng.ts';
import { readPhysionetDir, physionetDataConfig } from '../test/tokenizer/physionet.ts';

const repeats = Number(process.argv[2] ?? 3);
const root = resolve(new URL('..', import.meta.url).pathname);

async function loadRecords(): Promise<{ records: PatientRecord[]; data: DataConfig; source: string }> {
  const processed = process.env.SYNEHR_BENCH_PROCESSED ?? join(process.cwd(), 'data/processed/physionet2012');
  if (existsSync(join(processed, 'patients.parquet'))) {
    const { readRecords } = await import('../src/records/tables.ts');
    const raw = parseYaml(readFileSync(join(root, 'configs/data/physionet2012.yaml'), 'utf8')) as Record<string, unknown>;
    const data = dataConfigSchema.parse({ ...raw, processed_dir: processed });
    return { records: await readRecords(processed, { data }), data, source: `${processed} (synehr prepare)` };
  }
  const dir = process.env.SYNEHR_BENCH_SETA ?? resolve(root, '../shared/data/physionet2012/set-a');
  const outcomes = resolve(dir, '../Outcomes-a.txt');
  return { records: readPhysionetDir(dir, outcomes), data: physionetDataConfig, source: `${dir} (raw files)` };
}

function best(times: number[]): number {
  return Math.min(...times);
}

/** Runs fn, appending its wall-clock and CPU milliseconds. */
function timed<T>(wall: number[], cpu: number[], fn: () => T): T {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  return out;
}

const t0 = performance.now();
const { records, data, source } = await loadRecords();
const loadMs = performance.now() - t0;
let events = 0;
for (const p of records) for (const a of p.admissions) events += a.events.length;
console.log(`records: ${records.length} patients, ${events} measurements from ${source}; loaded in ${(loadMs / 1000).toFixed(2)} s`);

const cfg = tokenizerConfigSchema.parse({});
const fitMs: number[] = [];
const encMs: number[] = [];
const decMs: number[] = [];
const fitCpu: number[] = [];
const encCpu: number[] = [];
const decCpu: number[] = [];
let tokens = 0;
for (let r = 0; r < repeats; r++) {
  const tok = timed(fitMs, fitCpu, () => fitTokenizer(records, data, cfg));
  const seqs = timed(encMs, encCpu, () => {
    const stats = emptyEncodeStats();
    const s = records.map((p) => tok.encodePatient(p, { stats }));
    tokens = buildTokenShard(s, records.map((p) => p.id), tok.vocabSize).ids.length;
    return s;
  });
  timed(decMs, decCpu, () => {
    const rng = new Rng(r);
    for (const s of seqs) tok.decode(s, { rng });
  });
  if (r === 0) console.log(`vocabulary ${tok.vocabSize} tokens; ${tokens} tokens in all (${(tokens / records.length).toFixed(1)} per patient)`);
}
const line = (name: string, wall: number[], cpu: number[], perSecond: boolean): void => {
  const w = best(wall) / 1000;
  const c = best(cpu) / 1000;
  const rate = perSecond ? `  ${(tokens / w / 1e6).toFixed(2)} M tokens/s wall, ${(tokens / c / 1e6).toFixed(2)} M tokens/s CPU` : '';
  console.log(`${name.padEnd(7)} ${w.toFixed(3)} s wall  ${c.toFixed(3)} s CPU${rate}`);
};
line('fit', fitMs, fitCpu, false);
line('encode', encMs, encCpu, true);
line('decode', decMs, decCpu, true);
const fit = best(fitMs) / 1000;
const enc = best(encMs) / 1000;
console.log(
  `fit + encode all of set-a: ${(fit + enc).toFixed(3)} s wall, ${((best(fitCpu) + best(encCpu)) / 1000).toFixed(3)} s CPU (target < 5 s)`,
);
