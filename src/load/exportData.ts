import { join } from 'node:path';
import { SynehrError } from '../util/errors.ts';
import { openSyntheticDir, recordsFromTables } from './synthetic.ts';
import { streamRecords, tableLayout } from './recordStream.ts';
import type { SyntheticManifest } from './manifest.ts';
import { exportMimic3 } from './mimic3.ts';
import { exportOmop } from './omop.ts';
import { exportFhir } from './fhir.ts';
import type { ExportReport } from './exportTypes.ts';

/** mimic3: MIMIC-III v1.4 CSV tables; omop: OMOP CDM 5.4 CSV tables; fhir: R4 transaction Bundles as NDJSON. */
export type ExportFormat = 'mimic3' | 'omop' | 'fhir';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['mimic3', 'omop', 'fhir'];

/** Units of the variables, from the manifest's data config (data.variables[].unit). */
export function unitsFromManifest(manifest: SyntheticManifest | null): Map<string, string> {
  const data = manifest?.config?.['data'] as { variables?: { name?: unknown; unit?: unknown }[] } | undefined;
  const units = new Map<string, string>();
  for (const v of data?.variables ?? []) if (typeof v?.name === 'string' && typeof v.unit === 'string') units.set(v.name, v.unit);
  return units;
}

export function defaultExportDir(dir: string, format: ExportFormat): string {
  return join(dir, 'export', format);
}

/** Checks a synthetic directory (as `load` does), then writes it in the given shape, streaming where it can. */
export async function exportSyntheticDir(options: { dir: string; format: string; outDir?: string | null; log?: (m: string) => void }): Promise<ExportReport> {
  const format = options.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    throw new SynehrError('E_USAGE', `format=${options.format} is not an export format; expected one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const src = await openSyntheticDir(options.dir);
  // tables written by src/records stream one patient at a time; others are joined in memory first
  const layout = await tableLayout(src);
  const records = layout.grouped ? streamRecords(src) : await recordsFromTables(src);
  if (!layout.grouped) options.log?.(`${options.dir}: the tables are not grouped by patient; reading every record into memory first`);
  const opts = { outDir: options.outDir ?? defaultExportDir(options.dir, format), units: unitsFromManifest(src.manifest), variables: layout.variables, log: options.log };
  if (format === 'mimic3') return exportMimic3(records, opts);
  if (format === 'omop') return exportOmop(records, opts);
  return exportFhir(records, opts);
}
