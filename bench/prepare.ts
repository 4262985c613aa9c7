/**
 * `synehr prepare` throughput and memory.
 *
 *   npx tsx bench/prepare.ts                 # set-a, then the MIMIC-III demo scaled 1x, 10x, 50x
 *   npx tsx bench/prepare.ts --scales 1,50   # choose the MIMIC-III scales
 *
 * Each case runs in its own child process, so its peak RSS (getrusage maxrss) is its own.
 * The scaled MIMIC-III copies replicate every patient of the embedded demo under new ids
 * (SUBJECT_ID, HADM_ID, ICUSTAY_ID, ROW_ID shifted per copy) in all seven tables, written by
 * DuckDB as plain CSV (the full MIMIC-III is often unpacked too; gzip would make writing the
 * copies, not preparing them, the slow part) into a temporary folder removed afterwards. Memory that stays
 * flat as the input grows is the point: the loader streams, DuckDB sorts under a memory limit.
 *
 * Targets (issue 3): set-a in under 15 s; peak RSS under 2 GiB at 50x.
 *
 * Measured 2026-11-23 on the 2-core dev machine while other jobs ran (load average 15-20, so
 * wall times are well above CPU times). x1 and x10 are from a first run at nice 5 (load ~20);
 * set-a and x50 from a second run at normal priority, after CHARTEVENTS became one scan:
 *
 *   | case                 | input rows | wall s | CPU s | patients | measurements | peak RSS MiB |
 *   | physionet2012 set-a  |  1,757,980 |   10.7 |   6.1 |    3,997 |    1,733,601 |          261 |
 *   | MIMIC-III demo x1    |    834,429 |   47.5 |   5.1 |       99 |      157,139 |          365 |
 *   | MIMIC-III demo x10   |  8,344,290 |  195.3 |  23.3 |      990 |    1,571,390 |          793 |
 *   | MIMIC-III demo x50   | 41,721,450 |  256.8 | 107.3 |    4,950 |    7,856,950 |        1,304 |
 *
 * Input rows for MIMIC-III are CHARTEVENTS + LABEVENTS rows. RSS grows until DuckDB's buffer pool
 * reaches its memory_limit (1 GB, data.options.memory_limit), then stays there: sampled every
 * 15 s during both x50 runs it sat between 1.06 and 1.32 GB from the first minute to the end.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { prepareData } from '../src/cli/commands/prepare.ts';
import { readDataConfigFile } from '../src/records/dataConfig.ts';

const ROOT = resolve(import.meta.dirname, '..');

interface CaseResult {
  case: string;
  seconds: number;
  /** user + system CPU of the whole process (DuckDB's threads included): fairer than wall time on a shared machine */
  cpu_seconds: number;
  input_rows: number;
  rows_per_s: number;
  patients: number;
  measurements: number;
  peak_rss_mib: number;
}

/** One case, in this process: prepare into a temporary folder, report as one JSON line. */
async function runCase(name: string, root: string | null, inputRows: number): Promise<void> {
  const data = await readDataConfigFile(join(ROOT, 'configs/data', `${name}.yaml`));
  if (root) data.root = root;
  const out = await mkdtemp(join(tmpdir(), 'synehr-bench-out-'));
  try {
    const t0 = performance.now();
    const res = await prepareData(data, { resolvePath: (p) => resolve(ROOT, p), outDir: join(out, name) });
    const seconds = (performance.now() - t0) / 1000;
    const r: CaseResult = {
      case: `${name}${root ? ` (${root.split('/').pop()})` : ''}`,
      seconds: Math.round(seconds * 100) / 100,
      cpu_seconds: Math.round((process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e4) / 100,
      input_rows: inputRows,
      rows_per_s: Math.round(inputRows / seconds),
      patients: res.counts.patients,
      measurements: res.counts.events,
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    console.log(JSON.stringify(r));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const TABLES: Record<string, { ids: string[] }> = {
  PATIENTS: { ids: ['ROW_ID', 'SUBJECT_ID'] },
  ADMISSIONS: { ids: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID'] },
  ICUSTAYS: { ids: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID'] },
  DIAGNOSES_ICD: { ids: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID'] },
  PROCEDURES_ICD: { ids: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID'] },
  CHARTEVENTS: { ids: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID'] },
  LABEVENTS: { ids: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID'] },
};

/** Write the demo replicated `scale` times into `dir`; returns the CHARTEVENTS + LABEVENTS row count. */
async function scaleMimic(dir: string, scale: number): Promise<number> {
  const db = await DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '1GB' });
  const conn = await db.connect();
  let rows = 0;
  for (const [table, { ids }] of Object.entries(TABLES)) {
    const src = `read_csv('${join(ROOT, 'data/mimic3-demo', `${table}.csv.gz`)}', header = true, all_varchar = true)`;
    const cols = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRows().map((r) => String(r[0]));
    // ids shifted by copy k: far apart enough never to collide with the demo's own
    const select = cols
      .map((c) => (ids.includes(c) ? `CASE WHEN "${c}" IS NULL THEN NULL ELSE CAST(CAST("${c}" AS BIGINT) + k * 100000000 AS VARCHAR) END AS "${c}"` : `"${c}"`))
      .join(', ');
    await conn.run(`COPY (SELECT ${select} FROM ${src}, range(${scale}) AS t(k)) TO '${join(dir, `${table}.csv`)}' (HEADER)`);
    if (table === 'CHARTEVENTS' || table === 'LABEVENTS') {
      rows += Number((await conn.runAndReadAll(`SELECT count(*) FROM ${src}`)).getRows()[0]![0]) * scale;
    }
  }
  conn.closeSync();
  db.closeSync();
  return rows;
}

function child(args: string[]): CaseResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/prepare.ts'), ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench case ${args.join(' ')} failed:\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as CaseResult;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--case') {
    await runCase(argv[1]!, argv[2] === '-' ? null : argv[2]!, Number(argv[3]));
    return;
  }
  const scalesArg = argv.indexOf('--scales');
  const scales = scalesArg >= 0 ? argv[scalesArg + 1]!.split(',').map(Number) : [1, 10, 50];
  const results: CaseResult[] = [];
  // set-a: 1,757,980 data rows in the 4,000 record files (header lines excluded)
  results.push(child(['--case', 'physionet2012', '-', '1757980']));
  console.log(JSON.stringify(results.at(-1)));
  for (const k of scales) {
    const dir = await mkdtemp(join(tmpdir(), `synehr-bench-mimic-x${k}-`));
    try {
      const t0 = performance.now();
      const rows = await scaleMimic(dir, k);
      console.error(`MIMIC-III demo x${k}: ${rows} event rows written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      results.push(child(['--case', 'mimic3_demo', dir, String(rows)]));
      console.log(JSON.stringify(results.at(-1)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  console.log('\n| case | input rows | wall s | CPU s | rows/s (wall) | patients | measurements | peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.case} | ${r.input_rows} | ${r.seconds} | ${r.cpu_seconds} | ${r.rows_per_s} | ${r.patients} | ${r.measurements} | ${r.peak_rss_mib} |`);
}

await main();
