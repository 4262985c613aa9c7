import { join } from 'node:path';
import { SynehrError } from '../util/errors.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import { eventVariables, streamRecords } from '../records/read.ts';
import { openRecordsDir } from '../records/recordsDir.ts';
import { exportMimic3 } from './mimic3.ts';
import { exportOmop } from './omop.ts';
import { exportFhir } from './fhir.ts';
import type { ExportReport } from './exportTypes.ts';
import type { VariableSpecLite } from './variableCodes.ts';

/** mimic3: MIMIC-III v1.4 CSV tables; omop: OMOP CDM 5.4 CSV tables; fhir: R4 transaction Bundles as NDJSON. */
export type ExportFormat = 'mimic3' | 'omop' | 'fhir';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['mimic3', 'omop', 'fhir'];

/**
 * name -> { type, unit, ucum, loinc } of the folder's data config's variables (the manifest's
 * config of a synthetic folder, data.json of a processed one): what the exports need beyond a
 * variable's name (src/load/variableCodes.ts).
 */
export function specsFromDataConfig(data: Pick<DataConfig, 'variables'>): Map<string, VariableSpecLite> {
  const specs = new Map<string, VariableSpecLite>();
  for (const v of data.variables) {
    const spec: VariableSpecLite = { name: v.name, type: v.type };
    if (v.unit !== undefined) spec.unit = v.unit;
    if (v.ucum !== undefined) spec.ucum = v.ucum;
    if (v.loinc !== undefined) spec.loinc = v.loinc;
    specs.set(v.name, spec);
  }
  return specs;
}

export function defaultExportDir(dir: string, format: ExportFormat): string {
  return join(dir, 'export', format);
}

/**
 * Checks a folder of records (as `load` does), then writes it in the given shape, one patient at a
 * time. `vocabDir` (format=omop only) is an Athena vocabulary download to map codes through.
 */
export async function exportSyntheticDir(options: { dir: string; format: string; outDir?: string | null; vocabDir?: string | null; log?: (m: string) => void }): Promise<ExportReport> {
  const format = options.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    throw new SynehrError('E_USAGE', `format=${options.format} is not an export format; expected one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const vocabDir = options.vocabDir ?? null;
  if (vocabDir !== null && format !== 'omop') throw new SynehrError('E_CONFIG_VALUE', `load.vocab=${vocabDir}: only format=omop reads a vocabulary, not format=${format}`);
  const src = await openRecordsDir(options.dir);
  const records = streamRecords(src.tables, { data: src.data, log: options.log });
  const opts = {
    outDir: options.outDir ?? defaultExportDir(options.dir, format),
    specs: specsFromDataConfig(src.data),
    variables: await eventVariables(src.tables),
    log: options.log,
    ...(vocabDir !== null ? { vocabDir } : {}),
  };
  if (format === 'mimic3') return exportMimic3(records, opts);
  if (format === 'omop') return exportOmop(records, opts);
  return exportFhir(records, opts);
}
