/**
 * A folder of the four record tables as evaluate, load and export-data take it, checked before any
 * of them reads a row:
 *
 *   synthetic  data/synthetic/<run>/: manifest.json must be there, complete, and agree with the tables
 *   processed  data/processed/<data>/: data.json (the data config `synehr prepare` used) must be there
 *
 * The data config of the folder itself says which patients columns are covariates and which
 * labels, and every one it declares must be a column; the keys must be unique and resolve.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SynehrError } from '../util/errors.ts';
import { dataConfigSchema, type DataConfig } from './dataConfig.ts';
import { checkIntegrity } from './integrity.ts';
import { checkManifest, manifestPath, readManifest, type SyntheticManifest } from './manifest.ts';
import { openRecordTables, rowCounts, type RecordTables } from './parquet.ts';
import { patientColumnRoles } from './schema.ts';

export interface RecordsDir {
  dir: string;
  kind: 'synthetic' | 'processed';
  /** the data config the tables were written under */
  data: DataConfig;
  /** null for a processed folder */
  manifest: SyntheticManifest | null;
  tables: RecordTables;
}

/** The data config `synehr prepare` saved beside its tables. */
export function readPreparedDataConfig(dir: string): DataConfig | null {
  const file = join(dir, 'data.json');
  if (!existsSync(file)) return null;
  try {
    return dataConfigSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (e) {
    throw new SynehrError('E_INPUT', `${file}: not a data config (${(e as Error).message.split('\n')[0]}); prepare the folder again`);
  }
}

/**
 * Opens and checks a folder. `synthetic: true` accepts only a finished generation (with its
 * manifest); otherwise a folder written by `synehr prepare` is accepted too.
 */
export async function openRecordsDir(dir: string, opts: { synthetic?: boolean } = {}): Promise<RecordsDir> {
  if (!existsSync(dir)) throw new SynehrError('E_MISSING', `${dir}: no such folder`);
  const manifest = await readManifest(dir);
  let data: DataConfig;
  if (manifest) data = manifest.config.data;
  else {
    const prepared = opts.synthetic ? null : readPreparedDataConfig(dir);
    if (!prepared) {
      throw new SynehrError(
        'E_MANIFEST',
        `${manifestPath(dir)}: missing, so the folder is not a finished generation (an interrupted one continues with \`synehr generate ... resume=true\`)` +
          (opts.synthetic ? '' : ', nor a folder written by `synehr prepare` (no data.json)'),
      );
    }
    data = prepared;
  }
  const tables = await openRecordTables(dir);
  if (manifest) checkManifest(manifest, rowCounts(tables), dir);
  patientColumnRoles(tables.patients.file, tables.patients.columns, data);
  await checkIntegrity(tables);
  return { dir, kind: manifest ? 'synthetic' : 'processed', data, manifest, tables };
}
