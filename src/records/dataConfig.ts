import { join } from 'node:path';
import { z } from 'zod';
import { SynehrError } from '../util/errors.ts';

/**
 * The `data` config group: what a data set holds and how to load it. Loaders (src/sources/) and the
 * tokenizer read it, so a new data set is a new YAML file under configs/data/ plus, at most, a loader.
 */
export const covariateSpecSchema = z
  .object({
    name: z.string().min(1),
    // numeric covariates are binned by the tokenizer; categorical ones get one token per value
    type: z.enum(['numeric', 'categorical']),
    unit: z.string().optional(),
    // plausible range [lo, hi]; values outside it are input errors unless data.tolerate says otherwise
    range: z.tuple([z.number(), z.number()]).optional(),
    // allowed values of a categorical covariate, as strings
    values: z.array(z.string()).optional(),
  })
  .strict();

export const variableSpecSchema = z
  .object({
    name: z.string().min(1),
    type: z.enum(['continuous', 'categorical']),
    unit: z.string().optional(),
    // the unit as a UCUM code (e.g. '/min' for unit bpm), for FHIR Quantities, OMOP units and unit conversions
    ucum: z.string().optional(),
    // the variable's LOINC code, where the MIMIC item map (src/load/itemMap.ts) does not know it
    loinc: z.string().optional(),
    range: z.tuple([z.number(), z.number()]).optional(),
    values: z.array(z.string()).optional(),
  })
  .strict();

export const labelSpecSchema = z
  .object({
    name: z.string().min(1),
    // the label the split is stratified by and utility is measured on
    main: z.boolean().default(false),
    // labels are small integers (0/1 for binary outcomes); a value outside them is an input error
    values: z.array(z.number()).optional(),
    // plausible range [lo, hi] of a numeric label (e.g. days in hospital); outside it is an input error
    range: z.tuple([z.number(), z.number()]).optional(),
  })
  .strict();

export const splitSchema = z
  .object({
    // ratios by patient; they must add up to 1
    train: z.number().min(0).max(1).default(0.8),
    val: z.number().min(0).max(1).default(0.1),
    test: z.number().min(0).max(1).default(0.1),
    // a fixed seed makes the split reproducible across machines
    seed: z.number().int().default(42),
  })
  .strict();

export const dataConfigSchema = z
  .object({
    // the option's name; also the folder under data/processed/ and tokenizer/
    name: z.string().min(1),
    // which loader in src/sources/ reads the raw files
    loader: z.enum(['physionet2012', 'mimic3', 'synthea', 'long']),
    // where the raw files are; relative paths are resolved against the project root
    root: z.string(),
    // where `synehr prepare` writes the four tables, the split and the summary
    processed_dir: z.string().default('data/processed/${data.name}'),
    // `synehr prepare` also writes the four tables as CSV under <processed_dir>/csv/ (the pipeline reads Parquet)
    export_csv: z.boolean().default(false),
    split: splitSchema.default({ train: 0.8, val: 0.1, test: 0.1, seed: 42 }),
    covariates: z.array(covariateSpecSchema).default([]),
    labels: z.array(labelSpecSchema).default([]),
    // code systems a code prefix may name, e.g. ["ICD9", "ICD10"]; an unknown prefix is an error
    code_systems: z.array(z.string()).default([]),
    variables: z.array(variableSpecSchema).default([]),
    // the observation window in hours since an admission's start (48 for PhysioNet 2012): a time
    // after it is an input error at prepare, and decoding and sampling keep every event inside it;
    // null = none declared (the tokenizer then takes the training split's latest event)
    window_hours: z.number().positive().nullable().default(null),
    // loader-specific options (file names, item maps, GEM mapping, tolerance of bad rows)
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type CovariateSpec = z.infer<typeof covariateSpecSchema>;
export type VariableSpec = z.infer<typeof variableSpecSchema>;
export type LabelSpec = z.infer<typeof labelSpecSchema>;
export type DataConfig = z.infer<typeof dataConfigSchema>;

/**
 * Read one data config YAML file directly (tests, benchmarks, scripts). The CLI composes configs
 * through src/config/ instead; this only fills in `${data.name}` and validates.
 */
export async function readDataConfigFile(path: string, overrides: Partial<DataConfig> = {}): Promise<DataConfig> {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SynehrError('E_CONFIG_FILE', `${path}: cannot read the data config (${(e as Error).message})`);
  }
  let tree: unknown;
  try {
    tree = parse(text);
  } catch (e) {
    throw new SynehrError('E_CONFIG_FILE', `${path}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) {
    throw new SynehrError('E_CONFIG_FILE', `${path}: a data config is a mapping of keys (name, loader, root, ...), got ${Array.isArray(tree) ? 'a list' : JSON.stringify(tree)}`);
  }
  const parsed = dataConfigSchema.safeParse({ ...(tree as Record<string, unknown>), ...overrides });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? ` (${(issue as { keys?: string[] }).keys?.join(', ')})` : '';
    const code = issue.code === 'unrecognized_keys' ? 'E_CONFIG_KEY' : 'E_CONFIG_TYPE';
    throw new SynehrError(code, `${path}: data${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}${keys}`);
  }
  const data = parsed.data;
  data.processed_dir = data.processed_dir.replace(/\$\{data\.name\}/g, data.name);
  return data;
}

/** The processed folder of a data config (processed_dir with `${data.name}` filled in if still there). */
/** The label utility is measured on and guidance contrasts by default: the one marked main, else the first; null without labels. */
export function mainLabel(data: DataConfig): string | null {
  return (data.labels.find((l) => l.main) ?? data.labels[0])?.name ?? null;
}

export function processedDir(data: DataConfig, outRoot: string): string {
  const rel = data.processed_dir.replace(/\$\{data\.name\}/g, data.name);
  return rel.startsWith('/') ? rel : join(outRoot, rel);
}
