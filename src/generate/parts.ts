/**
 * The parts of a generation in progress: parts/part-<nnnnn>/ under the output folder, each the four
 * tables of a fixed run of batches and a part.json saying how they were made. A part is complete
 * when its part.json is there (it is written last, and the folder renamed into place after it).
 *
 *   { "format_version": 1, "settings": { n_samples, batch_size, patients_per_part, seed,
 *     temperature, top_k, top_p, max_len, fix_covars, conditions_sha256, weights_sha256,
 *     tokenizer_sha256 }, "patients": 1024, "tokens": 187801 }
 *
 * `resume=true` continues only with the settings every complete part was made with; a part made
 * otherwise is refused, naming the setting that differs.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SynehrError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/files.ts';

export const PART_STAMP_VERSION = 1;
export const PARTS_DIR = 'parts';
const PART_FILE = 'part.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const partSettingsSchema = z
  .object({
    n_samples: z.number().int().positive(),
    batch_size: z.number().int().positive(),
    patients_per_part: z.number().int().positive(),
    seed: z.number().int(),
    temperature: z.number(),
    top_k: z.number().int(),
    top_p: z.number(),
    value_temperature: z.number().default(1),
    guidance: z.number().default(0),
    guidance_label: z.string().nullable().default(null),
    max_len: z.number().int().positive(),
    fix_covars: z.boolean(),
    conditions_sha256: sha256.nullable(),
    weights_sha256: sha256,
    tokenizer_sha256: sha256,
  })
  .strict();

export type PartSettings = z.infer<typeof partSettingsSchema>;

const partStampSchema = z
  .object({
    format_version: z.literal(PART_STAMP_VERSION),
    settings: partSettingsSchema,
    patients: z.number().int().min(0),
    tokens: z.number().int().min(0),
  })
  .strict();

export type PartStamp = z.infer<typeof partStampSchema>;

/** How each setting is named to the user. */
const SETTING_NAMES: Record<keyof PartSettings, string> = {
  n_samples: 'generate.n_samples',
  batch_size: 'generate.batch_size',
  patients_per_part: 'patients per part',
  seed: 'generate.seed',
  temperature: 'generate.temperature',
  top_k: 'generate.top_k',
  top_p: 'generate.top_p',
  value_temperature: 'generate.value_temperature',
  guidance: 'generate.guidance',
  guidance_label: 'the guided label (generate.guidance_label, or the main label)',
  max_len: 'the maximum length (generate.max_len or model.n_ctx)',
  fix_covars: 'generate.fix_covars',
  conditions_sha256: 'the conditions (generate.cohort, or the training patients of fix_covars; sha256)',
  weights_sha256: "the run's weights (model.safetensors, sha256)",
  tokenizer_sha256: "the run's tokenizer (sha256)",
};

export function partName(part: number): string {
  return `part-${String(part).padStart(5, '0')}`;
}

export async function writePartStamp(partDir: string, stamp: Omit<PartStamp, 'format_version'>): Promise<void> {
  await writeFileAtomic(join(partDir, PART_FILE), JSON.stringify(partStampSchema.parse({ format_version: PART_STAMP_VERSION, ...stamp }), null, 2) + '\n');
}

/**
 * The complete parts of `partsDir`, by name, each checked against `settings`. A folder of another
 * name is ignored (a part being written, a merge in progress); a part whose stamp is missing,
 * broken or made with other settings is an error naming it and, for settings, the one that differs.
 */
export async function completeParts(partsDir: string, settings: PartSettings): Promise<Map<string, PartStamp>> {
  const done = new Map<string, PartStamp>();
  if (!existsSync(partsDir)) return done;
  for (const name of (await readdir(partsDir)).filter((d) => /^part-\d{5}$/.test(d)).sort()) {
    const file = join(partsDir, name, PART_FILE);
    const fix = 'resume with the settings it was started with, or pass overwrite=true to start again';
    let stamp: PartStamp;
    try {
      stamp = partStampSchema.parse(JSON.parse(await readFile(file, 'utf8')));
    } catch (e) {
      throw new SynehrError('E_MISMATCH', `${file}: ${existsSync(file) ? `not a part stamp of this synehr (${(e as Error).message.split('\n')[0]})` : 'missing'}: ${fix}`);
    }
    const differ = (Object.keys(SETTING_NAMES) as (keyof PartSettings)[]).filter((k) => stamp.settings[k] !== settings[k]);
    if (differ.length > 0) {
      const show = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 12)}…` : JSON.stringify(v));
      const detail = differ.map((k) => `${SETTING_NAMES[k]} was ${show(stamp.settings[k])} there, is ${show(settings[k])} now`).join('; ');
      throw new SynehrError('E_MISMATCH', `${join(partsDir, name)} was generated with other settings (${detail}): ${fix}`);
    }
    done.set(name, stamp);
  }
  return done;
}
