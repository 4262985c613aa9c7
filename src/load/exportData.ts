import { join } from 'node:path';
import { SynehrError } from '../util/errors.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import { eventVariables, streamRecords } from '../records/read.ts';
import { openRecordsDir } from '../records/recordsDir.ts';
import { exportMimic3 } from './mimic3.ts';
import { exportOmop } from './omop.ts';
import { exportFhir } from './fhir.ts';
import type { ExportReport } from './exportTypes.ts';

/** mimic3: MIMIC-III v1.4 CSV tables; omop: OMOP CDM 5.4 CSV tables; fhir: R4 transaction Bundles as NDJSON. */
export type ExportFormat = 'mimic3' | 'omop' | 'fhir';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['mimic3', 'omop', 'fhir'];

/** Units of the variables, from the folder's data config (data.variables[].unit). */
export function variableUnits(data: DataConfig): Map<string, string> {
  const units = new Map<string, string>();
  for (const v of data.variables) if (v.unit !== undefined) units.set(v.name, v.unit);
  return units;
}

export function defaultExportDir(dir: string, format: ExportFormat): string {
  return join(dir, 'export', format);
}

/** Checks a folder of records (as `load` does), then writes it in the given shape, one patient at a time. */
export async function exportSyntheticDir(options: { dir: string; format: string; outDir?: string | null; log?: (m: string) => void }): Promise<ExportReport> {
  const format = options.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    throw new SynehrError('E_USAGE', `format=${options.format} is not an export format; expected one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const src = await openRecordsDir(options.dir);
  const records = streamRecords(src.tables, { data: src.data, log: options.log });
  const opts = { outDir: options.outDir ?? defaultExportDir(options.dir, format), units: variableUnits(src.data), variables: await eventVariables(src.tables), log: options.log };
  if (format === 'mimic3') return exportMimic3(records, opts);
  if (format === 'omop') return exportOmop(records, opts);
  return exportFhir(records, opts);
}
