/**
 * `synehr export-data synthetic=<dir> format=mimic3|omop|fhir [out=<dir>]`: a synthetic (or
 * processed) directory of the four record tables as MIMIC-III tables, OMOP CDM 5.4 tables or FHIR R4
 * transaction Bundles (see src/load/mimic3.ts, omop.ts, fhir.ts). Default out: <dir>/export/<format>.
 */
import { resolve } from 'node:path';
import type { CommandContext } from '../context.ts';
import { SynehrError } from '../../util/errors.ts';
import { exportSyntheticDir, EXPORT_FORMATS } from '../../load/exportData.ts';
import { flagString, syntheticDirOf } from '../../load/cliArgs.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const dir = syntheticDirOf(ctx);
  const format = flagString(ctx, 'format');
  if (format === undefined) throw new SynehrError('E_USAGE', `export-data needs format=<${EXPORT_FORMATS.join('|')}>`);
  const out = flagString(ctx, 'out');
  const report = await exportSyntheticDir({ dir, format, outDir: out === undefined ? null : resolve(ctx.workDir, out), log: (m) => ctx.log(m) });
  const files = Object.entries(report.files).map(([f, n]) => `${f} ${n}`).join(', ');
  ctx.log(`export-data: ${report.format} into ${report.outDir}: ${files}`);
}
