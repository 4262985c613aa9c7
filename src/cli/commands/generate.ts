/**
 * `synehr generate model=<run> n_samples=N batch_size=B [temperature= top_k= top_p= seed=]
 * [fix_covars=true]`: N synthetic patients from the run's sampler into data/synthetic/<run>/ (or
 * generate.out_dir). Ctrl-C stops between batches (exit 130); `resume=true` continues with the
 * same settings.
 */
import { existsSync } from 'node:fs';
import type { CommandContext } from '../context.ts';
import { cohortPrefixes, generateSynthetic } from '../../generate/generate.ts';
import { loadTokenizer } from '../../tokenizer/file.ts';
import { readParquetTable } from '../../records/tables.ts';
import { dataPaths, runPaths } from '../../config/runPaths.ts';
import { join } from 'node:path';

export async function run(ctx: CommandContext): Promise<void> {
  const cfg = ctx.config;
  await ctx.runDir();
  const paths = runPaths(cfg, ctx.workDir);
  const data = dataPaths(cfg.data, ctx.workDir);
  const patientsPath = join(data.processed, 'patients.parquet');
  let realIds: Set<string> | undefined;
  if (existsSync(patientsPath)) {
    const table = await readParquetTable(patientsPath);
    realIds = new Set(Array.from(table.getChild('patient_id')!.toArray() as ArrayLike<unknown>, String));
  }
  const cohort = cfg.generate.cohort.length > 0 ? cohortPrefixes(cfg.generate.cohort, loadTokenizer(paths.tokenizer)) : undefined;
  // Ctrl-C stops between batches: complete parts stay on disk for resume=true
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  ctx.log(`generate: ${cfg.generate.n_samples} patients from ${paths.dir} in batches of ${cfg.generate.batch_size}, seed ${cfg.generate.seed}`);
  const r = await generateSynthetic({
    signal: interrupt.signal,
    runDir: paths.dir,
    runName: paths.runName,
    outDir: paths.synthetic,
    model: cfg.model,
    data: cfg.data,
    gen: cfg.generate,
    config: cfg,
    resume: cfg.resume,
    overwrite: cfg.overwrite,
    realIds,
    trainShardPath: data.shard('train'),
    cohortPrefixes: cohort,
    threads: cfg.train.threads,
    log: ctx.log,
  }).finally(() => process.off('SIGINT', onSigint));
  ctx.log(
    `wrote ${r.counts.patients} patients, ${r.counts.admissions} admissions, ${r.counts.codes} codes, ${r.counts.events} events to ${r.outDir} ` +
      `in ${r.seconds.toFixed(1)} s (${(r.tokens / r.seconds).toFixed(0)} tokens/s, ${(r.counts.patients / r.seconds).toFixed(1)} patients/s)`,
  );
}
