/**
 * run.json of a trained run: what it was trained from, checked by every later stage.
 *
 *   { "format_version": 1, "kind": "synehr-run", "data": "physionet2012",
 *     "tokenizer_sha256": "<sha256 of the tokenizer file's bytes>" }
 *
 * `synehr train` copies the fitted tokenizer into the run (runPaths RUN_TOKENIZER_FILE) and
 * records its hash; a resume refuses a tokenizer refitted since, and export and generate refuse a
 * run whose copy was replaced or edited: a tokenizer with the same vocabulary but other bins would
 * decode the same tokens to other values, silently.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { RunFiles } from '../config/runPaths.ts';
import { SynehrError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/files.ts';

export const RUN_STAMP_VERSION = 1;

const runStampSchema = z
  .object({
    format_version: z.literal(RUN_STAMP_VERSION),
    kind: z.literal('synehr-run'),
    /** the data config's name */
    data: z.string().min(1),
    tokenizer_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export type RunStamp = z.infer<typeof runStampSchema>;

/** sha256 of a file's bytes, in hex, read in chunks. */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    throw new SynehrError('E_MISSING', `${path}: cannot read (${(e as Error).message})`);
  }
  return h.digest('hex');
}

const short = (h: string) => `${h.slice(0, 12)}…`;

export async function readRunStamp(files: RunFiles): Promise<RunStamp> {
  if (!existsSync(files.stamp)) {
    throw new SynehrError('E_RUN', `${files.stamp}: missing: ${files.dir} is not a run trained by this synehr (train it again)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(files.stamp, 'utf8'));
  } catch (e) {
    throw new SynehrError('E_RUN', `${files.stamp}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = runStampSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SynehrError('E_RUN', `${files.stamp}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export async function writeRunStamp(files: RunFiles, stamp: Omit<RunStamp, 'format_version' | 'kind'>): Promise<void> {
  const full: RunStamp = { format_version: RUN_STAMP_VERSION, kind: 'synehr-run', ...stamp };
  await writeFileAtomic(files.stamp, JSON.stringify(runStampSchema.parse(full), null, 2) + '\n');
}

/**
 * The run's copy of its tokenizer must be the file it was trained with; returns its sha256.
 * A replaced or hand-edited copy is refused, naming both hashes.
 */
export async function checkRunTokenizer(files: RunFiles): Promise<string> {
  const stamp = await readRunStamp(files);
  if (!existsSync(files.tokenizer)) throw new SynehrError('E_RUN', `${files.tokenizer}: missing: the run's copy of the tokenizer it was trained with`);
  const now = await fileSha256(files.tokenizer);
  if (now !== stamp.tokenizer_sha256) {
    throw new SynehrError(
      'E_MISMATCH',
      `${files.tokenizer} is not the tokenizer this run was trained with (sha256 ${short(stamp.tokenizer_sha256)} at training, ${short(now)} now): put the run's own tokenizer back, or train a new run with this one`,
    );
  }
  return now;
}

/**
 * Training's side: the fitted tokenizer becomes the run's copy and its hash the stamp. On resume the
 * fitted file must be the one the run started with (a refit since, even with the same vocabulary,
 * would change what the trained tokens mean).
 */
export async function installRunTokenizer(files: RunFiles, fittedPath: string, o: { data: string; resume: boolean }): Promise<string> {
  const hash = await fileSha256(fittedPath);
  if (o.resume && existsSync(files.stamp)) {
    const stamp = await readRunStamp(files);
    if (stamp.tokenizer_sha256 !== hash) {
      throw new SynehrError(
        'E_MISMATCH',
        `${fittedPath} changed since run ${files.dir} started (sha256 ${short(stamp.tokenizer_sha256)} then, ${short(hash)} now): ` +
          'resume continues with the tokenizer it started with; train a new run (another run_name) with this one',
      );
    }
  }
  await copyFile(fittedPath, files.tokenizer);
  if ((await fileSha256(files.tokenizer)) !== hash) throw new Error(`${fittedPath} changed while it was copied to ${files.tokenizer}`);
  await writeRunStamp(files, { data: o.data, tokenizer_sha256: hash });
  return hash;
}
