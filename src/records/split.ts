/**
 * The train/val/test split by patient, written as split.json next to the processed tables:
 *
 *   { "seed": 42, "ratios": { "train": 0.8, "val": 0.1, "test": 0.1 },
 *     "stratified_by": "in_hospital_death", "train": [ids], "val": [ids], "test": [ids] }
 *
 * Stratified by the main label: each label value's patients are shuffled with the seeded Rng and
 * cut by the ratios, so every part keeps the label's prevalence. Ids are listed sorted.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Rng } from '../util/rng.ts';
import { SynehrError } from '../util/errors.ts';

export interface SplitRatios {
  train: number;
  val: number;
  test: number;
}

export interface Split {
  seed: number;
  ratios: SplitRatios;
  /** the label the split is stratified by, or null */
  stratified_by: string | null;
  train: string[];
  val: string[];
  test: string[];
}

const splitFileSchema = z.object({
  seed: z.number().int(),
  ratios: z.object({ train: z.number(), val: z.number(), test: z.number() }),
  stratified_by: z.string().nullable().default(null),
  train: z.array(z.string()),
  val: z.array(z.string()),
  test: z.array(z.string()),
});

/**
 * Cut `n` items by ratios with the largest-remainder rule, so the counts add up to n exactly and a
 * small stratum still gets its fair share.
 */
function cutCounts(n: number, r: SplitRatios): [number, number, number] {
  const exact = [r.train * n, r.val * n, r.test * n];
  const counts = exact.map(Math.floor) as [number, number, number];
  let left = n - counts[0] - counts[1] - counts[2];
  const order = [0, 1, 2].sort((a, b) => exact[b]! - counts[b]! - (exact[a]! - counts[a]!) || a - b);
  for (let k = 0; left > 0; k = (k + 1) % 3, left--) counts[order[k]!]!++;
  return counts;
}

/**
 * Split patients. `strata` maps a patient id to its main-label value (undefined = no value); pass
 * an empty map, or leave `stratifiedBy` null, for a plain random split.
 */
export function splitPatients(
  ids: readonly string[],
  strata: ReadonlyMap<string, number | string | undefined>,
  ratios: SplitRatios,
  seed: number,
  stratifiedBy: string | null,
): Split {
  const sum = ratios.train + ratios.val + ratios.test;
  if (Math.abs(sum - 1) > 1e-9) {
    throw new SynehrError('E_CONFIG_VALUE', `data.split: train + val + test must be 1, got ${ratios.train} + ${ratios.val} + ${ratios.test} = ${sum}`);
  }
  const groups = new Map<string, string[]>();
  // sort first so the split depends only on the set of ids and the seed, not on load order
  for (const id of [...ids].sort()) {
    const key = stratifiedBy === null ? '' : String(strata.get(id) ?? '<missing>');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(id);
  }
  const rng = new Rng(seed);
  const out: Split = { seed, ratios: { ...ratios }, stratified_by: stratifiedBy, train: [], val: [], test: [] };
  for (const key of [...groups.keys()].sort()) {
    const g = rng.shuffle(groups.get(key)!);
    const [nTrain, nVal] = cutCounts(g.length, ratios);
    out.train.push(...g.slice(0, nTrain));
    out.val.push(...g.slice(nTrain, nTrain + nVal));
    out.test.push(...g.slice(nTrain + nVal));
  }
  out.train.sort();
  out.val.sort();
  out.test.sort();
  return out;
}

/** Read `split.json` from a processed folder. */
export async function readSplit(dir: string): Promise<Split> {
  const path = join(dir, 'split.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new SynehrError('E_MISSING', `${path}: missing; run \`synehr prepare\` first`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SynehrError('E_INPUT', `${path}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = splitFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SynehrError('E_INPUT', `${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
