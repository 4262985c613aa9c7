/**
 * `synehr prepare data=<name> [data.root=PATH] [data.export_csv=true]`: raw source ->
 * data/processed/<name>/ with the four record tables, split.json, summary.json and data.json (the
 * data config used), and csv/ with the same tables as CSV when asked. One pass over the
 * source, streaming: each record is validated, summarized and written as it comes, so memory does
 * not grow with the data set beyond the ids the split needs. The folder is built under a temporary
 * name and swapped in at the end, so a failed run leaves the previous output untouched.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CommandContext } from '../context.ts';
import { processedDir, type DataConfig } from '../../records/dataConfig.ts';
import type { PatientRecord } from '../../records/types.ts';
import { streamRecords, writeRecordTables, type TableCounts, type TableFormat } from '../../records/tables.ts';
import { RecordValidator } from '../../records/validate.ts';
import { splitPatients, type Split } from '../../records/split.ts';
import { formatSummary, SummaryBuilder, type DataSummary } from '../../records/summary.ts';
import { loadSource, type InputIssues, type OnProgress } from '../../sources/index.ts';
import { SynehrError } from '../../util/errors.ts';

export interface PrepareOptions {
  /** resolves data.root and other config paths (the CLI resolves against the project, then the package) */
  resolvePath: (p: string) => string;
  /** the output folder; default data.processed_dir resolved against `outRoot` */
  outDir?: string;
  /** where a relative processed_dir lands (the user's working directory) */
  outRoot?: string;
  /** table format; the pipeline reads Parquet, CSV is for people */
  format?: TableFormat;
  onProgress?: OnProgress;
  log?: (message: string) => void;
}

export interface PrepareResult {
  dir: string;
  counts: TableCounts;
  split: Split;
  summary: DataSummary & { issues: ReturnType<InputIssues['toJSON']>; seconds: number };
}


/** Whether a process with this id is running (a signal-0 probe). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<dir>.tmp-<pid>` / `<dir>.old-<pid>` folders a prepare left when it was killed (its process is gone). */
async function removeAbandoned(dir: string): Promise<void> {
  const name = basename(dir);
  const mine = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(tmp|old)-(\\d+)$`);
  for (const entry of await readdir(dirname(dir)).catch(() => [] as string[])) {
    const m = mine.exec(entry);
    if (m && !alive(Number(m[2]))) await rm(join(dirname(dir), entry), { recursive: true, force: true });
  }
}

export async function prepareData(data: DataConfig, opts: PrepareOptions): Promise<PrepareResult> {
  const t0 = performance.now();
  const dir = opts.outDir ?? processedDir(data, opts.outRoot ?? process.cwd());
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await removeAbandoned(dir);

  const source = loadSource(data, opts.resolvePath, opts.onProgress);
  const validator = new RecordValidator(data);
  const summary = new SummaryBuilder(data);
  const mainLabel = data.labels.find((l) => l.main)?.name ?? null;
  const ids: string[] = [];
  const strata = new Map<string, number | undefined>();

  async function* checked(): AsyncGenerator<PatientRecord> {
    for await (const r of source) {
      const problems = validator.check(r);
      if (problems.length) throw new SynehrError('E_RECORD', `${data.name} (loader ${data.loader}): ${problems[0]!.message}`);
      ids.push(r.id);
      if (mainLabel) strata.set(r.id, r.labels[mainLabel]);
      summary.add(r);
      yield r;
    }
  }

  let counts: TableCounts;
  let split: Split;
  try {
    counts = await writeRecordTables(tmp, checked(), data, { format: opts.format });
    if (counts.patients === 0) throw new SynehrError('E_INPUT', `${data.name}: the source at ${opts.resolvePath(data.root)} yielded no patients`);
    split = splitPatients(ids, strata, data.split, data.split.seed, mainLabel);
    const s = { ...summary.finish(), issues: source.issues.toJSON(), seconds: Math.round((performance.now() - t0) / 10) / 100 };
    await writeFile(join(tmp, 'split.json'), JSON.stringify(split, null, 1) + '\n');
    await writeFile(join(tmp, 'summary.json'), JSON.stringify(s, null, 2) + '\n');
    await writeFile(join(tmp, 'data.json'), JSON.stringify(data, null, 2) + '\n');
    // CSV copies for people, from the Parquet just written (one more streaming pass, not a reload)
    if (data.export_csv && (opts.format ?? 'parquet') === 'parquet') await writeRecordTables(join(tmp, 'csv'), streamRecords(tmp), data, { format: 'csv' });
    // swap in: the old folder is moved aside first so that a crash never leaves half of each
    const old = `${dir}.old-${process.pid}`;
    const hadOld = await rename(dir, old).then(
      () => true,
      () => false,
    );
    await rename(tmp, dir);
    if (hadOld) await rm(old, { recursive: true, force: true });
    opts.log?.(formatSummary(s, s.issues));
    opts.log?.(`wrote ${dir} (${counts.patients} patients; split ${split.train.length}/${split.val.length}/${split.test.length}) in ${s.seconds} s`);
    return { dir, counts, split, summary: s };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export async function run(ctx: CommandContext): Promise<void> {
  const data = ctx.config.data;
  let last = 0;
  await prepareData(data, {
    resolvePath: (p) => ctx.resolvePath(p),
    outRoot: ctx.workDir,
    log: (m) => ctx.log(m),
    onProgress: (p) => {
      const now = Date.now();
      if (now - last < 2000) return;
      last = now;
      ctx.log(`prepare ${data.name}: ${p.done}${p.total ? `/${p.total}` : ''} ${p.unit}`);
    },
  });
}
