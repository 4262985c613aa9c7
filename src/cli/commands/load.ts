/**
 * `synehr load synthetic=<dir> | model=<run> [target=postgres|s3] [url=...] [mode=replace|append]
 * [schema=synehr]`: the four record tables of a folder, checked, into a database (PostgreSQL, or an
 * embedded PGlite database in <dir>/pglite when no url is given) or onto an S3-compatible object
 * store. The files are not changed or converted (that is `export-data`). Options: the `load`
 * config group (src/load/config.ts); the short words set its keys.
 */
import type { CommandContext } from '../context.ts';
import { SynehrError } from '../../util/errors.ts';
import { loadSyntheticDir } from '../../load/loadSynthetic.ts';
import { uploadSyntheticDir } from '../../load/s3.ts';
import { redactUrl } from '../../load/database.ts';
import { recordsDirToLoad } from '../../config/runPaths.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const o = ctx.config.load;
  const dir = recordsDirToLoad(ctx.config, ctx.workDir, ctx.command);
  if (o.target === 's3') {
    if (o.url === null) throw new SynehrError('E_CONFIG_VALUE', 'load.target=s3 needs load.url=s3://<bucket>/<prefix> (url=...)');
    const report = await uploadSyntheticDir({ dir, url: o.url, endpoint: o.endpoint ?? undefined, region: o.region ?? undefined, log: (m) => ctx.log(m) });
    ctx.log(`load: ${report.keys.length} objects, ${report.bytes} bytes into s3://${report.bucket}`);
    return;
  }
  if (o.url !== null && !/^postgres(ql)?:\/\//.test(o.url)) {
    throw new SynehrError('E_CONFIG_VALUE', `config key 'load.url' = ${redactUrl(o.url)} is not a PostgreSQL URL; expected postgres://user@host:port/database`);
  }
  const report = await loadSyntheticDir({ dir, url: o.url, mode: o.mode, schema: o.schema, log: (m) => ctx.log(m) });
  const total = Object.values(report.rows).reduce((a, b) => a + b, 0);
  ctx.log(
    `load: ${report.rows.patients} patients, ${report.rows.admissions} admissions, ${report.rows.codes} codes, ${report.rows.events} events ` +
      `(${o.mode}) into ${report.where} schema ${report.schema} in ${report.seconds.toFixed(2)} s (${Math.round(total / report.seconds)} rows/s)`,
  );
}
