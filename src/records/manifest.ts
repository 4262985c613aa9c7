/**
 * manifest.json of a synthetic folder: written by `synehr generate` last, once every table is
 * complete, so a folder with a manifest is finished. It names what made the tables (run, weights
 * and tokenizer by their sha256, sampling settings, seed), the data config (config.data tells
 * covariate from label columns) and the row count of every table. Written and read through this
 * one schema; a manifest of another format_version is refused.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SynehrError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/files.ts';
import { dataConfigSchema } from './dataConfig.ts';
import { TABLE_NAMES, type TableCounts } from './schema.ts';

/** 2: weights and tokenizer named by the sha256 of their files; the manifest's schema is closed. */
export const MANIFEST_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 in hex');
const count = z.number().int().min(0);

export const manifestSchema = z
  .object({
    format_version: z.number().int(),
    kind: z.literal('synehr-synthetic'),
    /** the run that generated the tables */
    model: z.string().min(1),
    run_dir: z.string(),
    weights_sha256: sha256,
    tokenizer_sha256: sha256,
    /** the data config's name */
    data: z.string().min(1),
    seed: z.number().int(),
    n_samples: z.number().int().positive(),
    batch_size: z.number().int().positive(),
    sampling: z
      .object({
        temperature: z.number().positive(),
        top_k: z.number().int().min(0),
        top_p: z.number().gt(0).max(1),
        /** generate.value_temperature; manifests from before it sampled at 1 */
        value_temperature: z.number().positive().default(1),
        /** generate.guidance and the label it contrasted; manifests from before it had none */
        guidance: z.number().min(0).default(0),
        guidance_label: z.string().nullable().default(null),
        max_len: z.number().int().positive(),
        fix_covars: z.boolean(),
        /** sha256 of the condition prefixes (cohort or fix_covars), null when there were none */
        conditions_sha256: sha256.nullable(),
      })
      .strict(),
    formats: z.array(z.enum(['parquet', 'csv', 'arrow'])).min(1),
    counts: z.object({ patients: count, admissions: count, codes: count, events: count }).strict(),
    /** tokens generated, <pad> excluded, over every part (resumed ones included) */
    tokens: count,
    seconds: z.number().min(0),
    created: z.string(),
    /** the resolved config of the command; config.data is the data config of the tables */
    config: z.object({ data: dataConfigSchema }).passthrough(),
  })
  .strict();

export type SyntheticManifest = z.infer<typeof manifestSchema>;

export function manifestPath(dir: string): string {
  return join(dir, MANIFEST_FILE);
}

export async function writeManifest(dir: string, manifest: SyntheticManifest): Promise<void> {
  await writeFileAtomic(manifestPath(dir), JSON.stringify(manifestSchema.parse(manifest), null, 2) + '\n');
}

/** dir/manifest.json, validated; null when there is none. A broken or incomplete one is refused. */
export async function readManifest(dir: string): Promise<SyntheticManifest | null> {
  const file = manifestPath(dir);
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new SynehrError('E_MANIFEST', `${file}: not valid JSON: ${(e as Error).message}`);
  }
  const version = (raw as { format_version?: unknown } | null)?.format_version;
  if (version !== MANIFEST_VERSION) {
    const which = typeof version === 'number' && version > MANIFEST_VERSION ? 'a newer' : 'an older';
    throw new SynehrError(
      'E_MANIFEST',
      `${file}: format_version ${JSON.stringify(version)} was written by ${which} synehr (this one reads format_version ${MANIFEST_VERSION}); generate the folder again (overwrite=true)`,
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    const keys = issue.code === 'unrecognized_keys' ? ` (${(issue as { keys?: string[] }).keys?.join(', ')})` : '';
    throw new SynehrError('E_MANIFEST', `${file}: ${path}: ${issue.message}${keys}`);
  }
  return parsed.data;
}

/** The manifest must describe the tables beside it: their row counts, n_samples patients, its own data config. */
export function checkManifest(manifest: SyntheticManifest, actual: TableCounts, dir: string): void {
  const file = manifestPath(dir);
  const wrong = TABLE_NAMES.filter((t) => manifest.counts[t] !== actual[t]);
  if (wrong.length > 0) {
    const detail = wrong.map((t) => `${t}: manifest says ${manifest.counts[t]}, ${t}.parquet has ${actual[t]}`).join('; ');
    throw new SynehrError('E_MANIFEST', `${file}: counts do not match the tables (${detail})`);
  }
  if (manifest.counts.patients !== manifest.n_samples) {
    throw new SynehrError('E_MANIFEST', `${file}: counts.patients is ${manifest.counts.patients}, n_samples ${manifest.n_samples}: an incomplete generation`);
  }
  if (manifest.config.data.name !== manifest.data) {
    throw new SynehrError('E_MANIFEST', `${file}: data is "${manifest.data}" but config.data.name is "${manifest.config.data.name}"`);
  }
}
