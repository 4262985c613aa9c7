import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SynehrError } from '../util/errors.ts';
import { openSyntheticDir, recordsFromTables } from './synthetic.ts';
import { streamRecords, tableLayout } from './recordStream.ts';
import type { SyntheticManifest } from './manifest.ts';
import { exportMimic3 } from './mimic3.ts';
import { exportOmop } from './omop.ts';
import { exportFhir } from './fhir.ts';
import type { ExportReport } from './exportTypes.ts';
import type { VariableSpecLite } from './variableCodes.ts';

/** mimic3: MIMIC-III v1.4 CSV tables; omop: OMOP CDM 5.4 CSV tables; fhir: R4 transaction Bundles as NDJSON. */
export type ExportFormat = 'mimic3' | 'omop' | 'fhir';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['mimic3', 'omop', 'fhir'];

/**
 * The data config's variables of a directory: from the manifest's config (a synthetic directory), else
 * from data.json (a processed directory of real records, which `synehr prepare` writes), else none.
 */
export async function variableSpecsOf(dir: string, manifest: SyntheticManifest | null): Promise<Map<string, VariableSpecLite>> {
  let data = manifest?.config?.['data'] as { variables?: unknown } | undefined;
  const dataJson = join(dir, 'data.json');
  if (data === undefined && existsSync(dataJson)) {
    try {
      data = JSON.parse(await readFile(dataJson, 'utf8')) as { variables?: unknown };
    } catch (e) {
      throw new SynehrError('E_INPUT', `${dataJson}: not valid JSON: ${(e as Error).message}`);
    }
  }
  return specsFromDataConfig(data);
}

/** name -> { unit, ucum, loinc } of a data config's variables list, tolerating what is not a string. */
export function specsFromDataConfig(data: { variables?: unknown } | undefined): Map<string, VariableSpecLite> {
  const specs = new Map<string, VariableSpecLite>();
  const list = Array.isArray(data?.variables) ? (data.variables as Record<string, unknown>[]) : [];
  for (const v of list) {
    if (typeof v?.['name'] !== 'string') continue;
    const spec: VariableSpecLite = { name: v['name'] };
    for (const k of ['type', 'unit', 'ucum', 'loinc'] as const) if (typeof v[k] === 'string') spec[k] = v[k] as string;
    specs.set(spec.name, spec);
  }
  return specs;
}

export function defaultExportDir(dir: string, format: ExportFormat): string {
  return join(dir, 'export', format);
}

/** Checks a synthetic directory (as `load` does), then writes it in the given shape, streaming where it can. */
export async function exportSyntheticDir(options: { dir: string; format: string; outDir?: string | null; vocabDir?: string; log?: (m: string) => void }): Promise<ExportReport> {
  const format = options.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    throw new SynehrError('E_ARG', `format=${options.format} is not an export format; expected one of ${EXPORT_FORMATS.join(', ')}`);
  }
  const src = await openSyntheticDir(options.dir);
  // tables written by src/records stream one patient at a time; others are joined in memory first
  const layout = await tableLayout(src);
  const records = layout.grouped ? streamRecords(src) : await recordsFromTables(src);
  if (!layout.grouped) options.log?.(`${options.dir}: the tables are not grouped by patient; reading every record into memory first`);
  const opts = { outDir: options.outDir ?? defaultExportDir(options.dir, format), specs: await variableSpecsOf(options.dir, src.manifest), variables: layout.variables, log: options.log, ...(options.vocabDir ? { vocabDir: options.vocabDir } : {}) };
  if (options.vocabDir && format !== 'omop') throw new SynehrError('E_ARG', `vocab=${options.vocabDir}: only format=omop reads a vocabulary`);
  if (format === 'mimic3') return exportMimic3(records, opts);
  if (format === 'omop') return exportOmop(records, opts);
  return exportFhir(records, opts);
}
