/**
 * `synehr load synthetic=<dir> [target=postgres|s3] [url=...] [mode=replace|append] [schema=synehr]`:
 * a synthetic (or processed) directory of the four record tables into PostgreSQL, into an embedded
 * PGlite database (<dir>/pglite, when no url is given), or onto an S3-compatible object store.
 * `model=<run>` instead of synthetic= loads data/synthetic/<run>/ (or generate.out_dir).
 */
import type { CommandContext } from '../context.ts';
import { SynehrError } from '../../util/errors.ts';
import { loadSyntheticDir } from '../../load/loadSynthetic.ts';
import { uploadSyntheticDir } from '../../load/s3.ts';
import { redactUrl, type LoadMode } from '../../load/database.ts';
import { flagString, syntheticDirOf } from '../../load/cliArgs.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const dir = syntheticDirOf(ctx);
  const target = flagString(ctx, 'target') ?? 'postgres';
  const url = flagString(ctx, 'url') ?? null;
  if (target === 's3') {
    if (url === null) throw new SynehrError('E_USAGE', 'target=s3 needs url=s3://<bucket>/<prefix>');
    const report = await uploadSyntheticDir({ dir, url, endpoint: flagString(ctx, 'endpoint'), region: flagString(ctx, 'region'), log: (m) => ctx.log(m) });
    ctx.log(`load: ${report.keys.length} objects, ${report.bytes} bytes into s3://${report.bucket}`);
    return;
  }
  if (target !== 'postgres') throw new SynehrError('E_USAGE', `target=${target} is not a load target; expected postgres or s3`);
  const mode = flagString(ctx, 'mode') ?? 'replace';
  if (mode !== 'replace' && mode !== 'append') throw new SynehrError('E_USAGE', `mode=${mode}; expected replace or append`);
  if (url !== null && !/^postgres(ql)?:\/\//.test(url)) throw new SynehrError('E_USAGE', `url=${redactUrl(url)} is not a PostgreSQL URL; expected postgres://user@host:port/database`);
  const report = await loadSyntheticDir({ dir, url, mode: mode as LoadMode, schema: flagString(ctx, 'schema') ?? 'synehr', log: (m) => ctx.log(m) });
  const total = Object.values(report.rows).reduce((a, b) => a + b, 0);
  ctx.log(
    `load: ${report.rows.patients} patients, ${report.rows.admissions} admissions, ${report.rows.codes} codes, ${report.rows.events} events ` +
      `(${mode}) into ${report.where} schema ${report.schema} in ${report.seconds.toFixed(2)} s (${Math.round(total / report.seconds)} rows/s)`,
  );
}
