import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SynehrError } from '../util/errors.ts';
import { TABLE_NAMES, rowCounts, type RecordTables } from './tables.ts';

/**
 * manifest.json of a synthetic directory (written by `synehr generate`): which model and tokenizer
 * made the tables, with what config and seed, and how many rows each table has. The load stage
 * reads only what it needs and keeps the rest (passthrough), so the generator may add fields.
 */
const countsSchema = z
  .object({
    patients: z.number().int().min(0),
    admissions: z.number().int().min(0),
    codes: z.number().int().min(0),
    events: z.number().int().min(0),
  })
  .passthrough();

/** The manifest layout this reader knows (src/generate/generate.ts MANIFEST_VERSION). */
export const MANIFEST_FORMAT_VERSION = 1;

export const manifestSchema = z
  .object({
    format_version: z.number().int().positive().max(MANIFEST_FORMAT_VERSION, { message: `written by a newer synehr (this one reads format_version ${MANIFEST_FORMAT_VERSION})` }).optional(),
    model: z.string().optional(),
    seed: z.number().int().optional(),
    counts: countsSchema,
    // the resolved config of the run; data.covariates / data.labels tell covariate from label columns
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export type SyntheticManifest = z.infer<typeof manifestSchema>;

/**
 * Reads and validates dir/manifest.json. A directory without one (e.g. data/processed/<name>/, real
 * records) is accepted and returns null; a manifest that is there but broken is refused.
 */
export async function readManifest(dir: string): Promise<SyntheticManifest | null> {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new SynehrError('E_MANIFEST', `${file}: not valid JSON: ${(e as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new SynehrError('E_MANIFEST', `${file}: ${path}: ${issue.message}`);
  }
  return parsed.data;
}

/** The row counts the manifest promises must be the row counts the tables have. */
export function checkManifestCounts(manifest: SyntheticManifest, tables: RecordTables, dir: string): void {
  const actual = rowCounts(tables);
  const wrong = TABLE_NAMES.filter((t) => manifest.counts[t] !== actual[t]);
  if (wrong.length > 0) {
    const detail = wrong.map((t) => `${t}: manifest says ${manifest.counts[t]}, ${t}.parquet has ${actual[t]}`).join('; ');
    throw new SynehrError('E_MANIFEST', `${join(dir, 'manifest.json')}: counts do not match the tables (${detail})`);
  }
}

/** Names of the label columns of the patients table, from the manifest's data config if it has one. */
export function labelNames(manifest: SyntheticManifest | null): Set<string> {
  const data = manifest?.config?.['data'] as { labels?: { name?: unknown }[] } | undefined;
  const names = new Set<string>();
  for (const l of data?.labels ?? []) if (typeof l?.name === 'string') names.add(l.name);
  return names;
}
