import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { readDataConfigFile, type DataConfig } from '../../src/records/dataConfig.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { loadSource, type SourceStream } from '../../src/sources/index.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'test/fixtures');

/** The project's data config, pointed at a fixture folder, with option overrides. */
export async function config(name: string, root: string, options: Record<string, unknown> = {}, extra: Partial<DataConfig> = {}): Promise<DataConfig> {
  const data = await readDataConfigFile(join(ROOT, 'configs/data', `${name}.yaml`));
  return { ...data, root, options: { ...data.options, ...options }, ...extra };
}

/** Paths in configs resolve against the project (embedded item map, GEM). */
export const resolvePath = (p: string) => resolve(ROOT, p);

export async function loadAll(data: DataConfig): Promise<{ records: PatientRecord[]; source: SourceStream }> {
  const source = loadSource(data, resolvePath);
  const records: PatientRecord[] = [];
  for await (const r of source) records.push(r);
  return { records, source };
}

const dirs: string[] = [];
/** A temporary copy of a fixture folder (or an empty folder), removed after the file's tests. */
export async function scratch(from?: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synehr-src-'));
  dirs.push(d);
  if (from) await cp(from, d, { recursive: true });
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
