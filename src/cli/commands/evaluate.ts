/**
 * `synehr evaluate model=<run> [eval.synthetic=DIR] [eval.<key>=<value>...]`: compare the run's
 * synthetic records (data/synthetic/<run>/, or eval.synthetic) with the real training split and
 * the held-out test split of data/processed/<data>/, beside the two references (real vs real, and
 * independent marginals), and write saved_models/<run>/eval/metrics.json and report.html.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandContext } from '../context.ts';
import { readRecords } from '../../records/tables.ts';
import { readSplit } from '../../records/split.ts';
import { evaluateSynthetic } from '../../evaluate/evaluate.ts';
import { formatSummaryTable, writeReport } from '../../evaluate/report.ts';
import { processedDir } from '../../records/dataConfig.ts';
import { Rng } from '../../util/rng.ts';
import { SynehrError } from '../../util/errors.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const { config } = ctx;
  const runName = config.run_name;
  if (runName === null) throw new SynehrError('E_RUN', 'synehr evaluate reads a trained run: pass model=<run_name>');
  const real = processedDir(config.data, ctx.workDir);
  if (!existsSync(join(real, 'split.json'))) {
    throw new SynehrError('E_INPUT', `${real}: no processed data (split.json missing); run \`synehr prepare data=${config.data.name}\` first`);
  }
  const given = typeof ctx.flags.synthetic === 'string' ? ctx.flags.synthetic : config.eval.synthetic;
  const synDir = given === null ? join(ctx.workDir, 'data', 'synthetic', runName) : resolve(ctx.workDir, given);
  if (!existsSync(synDir)) {
    throw new SynehrError(
      'E_INPUT',
      `${synDir}: no synthetic records; run \`synehr generate model=${runName}\` first, or point eval.synthetic at a folder of the four tables`,
    );
  }

  const t0 = performance.now();
  const split = await readSplit(real);
  const all = await readRecords(real, { data: config.data, ids: new Set([...split.train, ...split.test]) });
  const trainIds = new Set(split.train);
  const testIds = new Set(split.test);
  const train = all.filter((r) => trainIds.has(r.id));
  const test = all.filter((r) => testIds.has(r.id));
  const synthetic = await readRecords(synDir, { data: config.data });
  ctx.log(
    `evaluate: ${synthetic.length} synthetic patients (${synDir}) against ${train.length} train and ${test.length} test (${real}), read in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (synthetic.length === 0) throw new SynehrError('E_INPUT', `${synDir}: the tables hold no patients`);

  const result = evaluateSynthetic({ train, test, synthetic, data: config.data, cfg: config.eval, rng: new Rng(config.eval.seed), log: ctx.log });
  const paths = await writeReport(await ctx.runDir(), result);
  ctx.log(formatSummaryTable(result));
  ctx.log(`evaluate: ${result.meta.seconds.toFixed(1)} s; metrics in ${paths.metrics}; report in ${paths.report}`);
}
