/**
 * tokenizer.json: the whole fitted tokenizer in one self-contained file (vocabulary, bins, series
 * models, window and the automaton as a transition table), with a kind and a format version that
 * are checked on reading.
 *
 * Version 2 (this one): bins keep their shares and atoms (`mass`, `atoms`) instead of a few
 * interpolated quantiles, continuous variables a series model, gap bins their `min_step`, covariates
 * and labels `required`, and the tokenizer its `window_hours`. Files of version 1 are refused:
 * their decoder lost per-patient statistics, so they are refitted, not converted.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AutomatonJSON } from './automaton.ts';
import { tokenizerConfigSchema } from './config.ts';
import { Tokenizer } from './tokenizer.ts';
import type { TokenizerParts } from './vocabulary.ts';
import { SynehrError } from '../util/errors.ts';

export const TOKENIZER_FORMAT_VERSION = 2;

export interface TokenizerJSON extends TokenizerParts {
  format_version: number;
  kind: 'synehr-tokenizer';
  automaton: AutomatonJSON;
}

export function tokenizerToJSON(tok: Tokenizer): TokenizerJSON {
  return { format_version: TOKENIZER_FORMAT_VERSION, kind: 'synehr-tokenizer', ...tok.parts, special: { ...tok.special }, automaton: tok.automaton.toJSON() };
}

/** Writes tokenizer.json whole or not at all (a temporary file renamed into place). */
export function saveTokenizer(tok: Tokenizer, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(tokenizerToJSON(tok)) + '\n');
  renameSync(tmp, path);
}

/** Reads tokenizer.json; refuses a file of another format version or kind with a clear error. */
export function loadTokenizer(path: string): Tokenizer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SynehrError('E_TOKENIZER_FILE', `${path}: cannot read tokenizer (${(e as Error).message}); run \`synehr tokenize\` first`);
  }
  let j: TokenizerJSON;
  try {
    j = JSON.parse(text) as TokenizerJSON;
  } catch (e) {
    throw new SynehrError('E_TOKENIZER_FILE', `${path}: not valid JSON (${(e as Error).message})`);
  }
  return tokenizerFromJSON(j, path);
}

export function tokenizerFromJSON(j: TokenizerJSON, source = 'tokenizer.json'): Tokenizer {
  if (typeof j !== 'object' || j === null || j.kind !== 'synehr-tokenizer') {
    throw new SynehrError('E_TOKENIZER_FILE', `${source}: not a synehr tokenizer (kind is ${JSON.stringify((j as { kind?: unknown })?.kind)})`);
  }
  if (j.format_version !== TOKENIZER_FORMAT_VERSION) {
    throw new SynehrError(
      'E_TOKENIZER_VERSION',
      `${source}: tokenizer format_version ${JSON.stringify(j.format_version)} is not supported (this synehr reads version ${TOKENIZER_FORMAT_VERSION}); re-run \`synehr tokenize\` to refit it`,
    );
  }
  try {
    // a file without label_position is from before the key existed, when the labels came first
    // (its automaton says so); the schema's default is no longer that
    const raw = j.config as Record<string, unknown> | undefined;
    const config = tokenizerConfigSchema.parse(raw && typeof raw === 'object' && !('label_position' in raw) ? { ...raw, label_position: 'first' } : raw);
    const { format_version: _v, kind: _k, automaton, ...parts } = j;
    return new Tokenizer({ ...parts, config }, automaton);
  } catch (e) {
    if (e instanceof SynehrError) throw new SynehrError(e.code, `${source}: ${e.message}`);
    throw new SynehrError('E_TOKENIZER_FILE', `${source}: malformed tokenizer (${(e as Error).message})`);
  }
}
