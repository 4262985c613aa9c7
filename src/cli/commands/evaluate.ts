/**
 * `synehr evaluate model=<run> [eval.synthetic=DIR] [eval.<key>=<value>...]`: compare the run's
 * synthetic records (runPaths: generate.out_dir or data/synthetic/<run>/, or eval.synthetic) with
 * the real training split and the held-out test split of data/processed/<data>/, beside the two
 * references (real vs real, and independent marginals), and write saved_models/<run>/eval/
 * metrics.json and report.html. The synthetic folder must be a finished generation of this data
 * config: its manifest complete and agreeing with its tables, its keys unique.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandContext } from '../context.ts';
import { readRecords } from '../../records/tables.ts';
import { openRecordsDir } from '../../records/recordsDir.ts';
import { readSplit } from '../../records/split.ts';
import { evaluateSynthetic } from '../../evaluate/evaluate.ts';
import { formatSummaryTable, writeReport } from '../../evaluate/report.ts';
import { dataPaths, runPaths } from '../../config/runPaths.ts';
import { dataConfigHash } from '../../records/dataConfigHash.ts';
import { Rng } from '../../util/rng.ts';
import { SynehrError } from '../../util/errors.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const { config } = ctx;
  await ctx.runDir();
  const paths = runPaths(config, ctx.workDir);
  const real = dataPaths(config.data, ctx.workDir);
  if (!existsSync(real.split)) {
    throw new SynehrError('E_MISSING', `${real.processed}: no processed data (split.json missing); run \`synehr prepare data=${config.data.name}\` first`);
  }
  const given = config.eval.synthetic;
  const synDir = given === null ? paths.synthetic : resolve(ctx.workDir, given);
  if (!existsSync(synDir)) {
    throw new SynehrError(
      'E_MISSING',
      `${synDir}: no synthetic records; run \`synehr generate model=${paths.runName}\` first, or point eval.synthetic at a folder of the four tables`,
    );
  }

  const t0 = performance.now();
  const syn = await openRecordsDir(synDir, { synthetic: true });
  if (dataConfigHash(syn.data) !== dataConfigHash(config.data)) {
    throw new SynehrError(
      'E_MISMATCH',
      `${synDir} holds records of data config '${syn.data.name}' (its manifest), another than run ${paths.runName}'s data=${config.data.name} (covariates, labels, variables, codes or split differ)`,
    );
  }
  const split = await readSplit(real.processed);
  const held = split[config.eval.holdout];
  const all = await readRecords(real.processed, { data: config.data, ids: new Set([...split.train, ...held]) });
  const trainIds = new Set(split.train);
  const testIds = new Set(held);
  const train = all.filter((r) => trainIds.has(r.id));
  const test = all.filter((r) => testIds.has(r.id));
  const synthetic = await readRecords(syn.tables, { data: syn.data });
  ctx.log(
    `evaluate: ${synthetic.length} synthetic patients (${synDir}) against ${train.length} train and ${test.length} ${config.eval.holdout} (${real.processed}), read in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const result = evaluateSynthetic({ train, test, synthetic, data: config.data, cfg: config.eval, rng: new Rng(config.eval.seed), log: ctx.log });
  const out = await writeReport(paths.evalDir, result);
  ctx.log(formatSummaryTable(result));
  ctx.log(`evaluate: ${result.meta.seconds.toFixed(1)} s; metrics in ${out.metrics}; report in ${out.report}`);
}
