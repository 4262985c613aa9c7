import { join } from 'node:path';
import { openRecordsDir } from '../records/recordsDir.ts';
import { loadTables, openPGlite, openPostgres, redactUrl, type LoadOptions, type LoadReport } from './database.ts';

export interface LoadSyntheticOptions extends Partial<LoadOptions> {
  /** a synthetic directory: the four tables and manifest.json */
  dir: string;
  /** postgres://... ; null = an embedded PGlite database in <dir>/pglite */
  url: string | null;
}

/** The embedded database's folder when no url is given: beside the tables it was loaded from. */
export function defaultPGliteDir(dir: string): string {
  return join(dir, 'pglite');
}

/** Checks a folder of records (records/recordsDir.ts), then loads it into PostgreSQL (url) or PGlite (no url). */
export async function loadSyntheticDir(options: LoadSyntheticOptions): Promise<LoadReport & { where: string }> {
  const { dir, url, ...loadOptions } = options;
  const src = await openRecordsDir(dir);
  const where = url === null ? defaultPGliteDir(dir) : redactUrl(url);
  const session = url === null ? await openPGlite(where) : await openPostgres(url);
  try {
    const report = await loadTables(session, src.tables, loadOptions);
    return { ...report, where };
  } finally {
    await session.close();
  }
}
