/**
 * `synehr export-data synthetic=<dir> | model=<run> format=mimic3|omop|fhir [out=<dir>] [vocab=<dir>]`:
 * the four record tables of a folder (synthetic or processed), checked, converted into new files
 * shaped as MIMIC-III tables, OMOP CDM 5.4 tables or FHIR R4 transaction Bundles (src/load/mimic3.ts,
 * omop.ts, fhir.ts). Default out: <dir>/export/<format>. Not to be confused with `synehr export`,
 * which exports the trained model to ONNX. Options: the `load` config group (src/load/config.ts).
 */
import { resolve } from 'node:path';
import type { CommandContext } from '../context.ts';
import { SynehrError } from '../../util/errors.ts';
import { exportSyntheticDir, EXPORT_FORMATS } from '../../load/exportData.ts';
import { recordsDirToLoad } from '../../config/runPaths.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const o = ctx.config.load;
  const dir = recordsDirToLoad(ctx.config, ctx.workDir, ctx.command);
  if (o.format === null) throw new SynehrError('E_USAGE', `export-data needs format=<${EXPORT_FORMATS.join('|')}>`);
  const report = await exportSyntheticDir({
    dir,
    format: o.format,
    outDir: o.out === null ? null : resolve(ctx.workDir, o.out),
    vocabDir: o.vocab === null ? null : resolve(ctx.workDir, o.vocab),
    log: (m) => ctx.log(m),
  });
  const files = Object.entries(report.files).map(([f, n]) => `${f} ${n}`).join(', ');
  ctx.log(`export-data: ${report.format} into ${report.outDir}: ${files}`);
}
