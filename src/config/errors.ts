import type { z } from 'zod';
import { SynehrError } from '../util/errors.ts';
import { didYouMean } from './didYouMean.ts';
import { describeType, enumValues } from './describeType.ts';
import { lookupSchema, objectShape } from './schema.ts';
import { getPath, showValue } from './tree.ts';

type AnySchema = z.core.$ZodType;

/**
 * The config's error messages, one line each, built here so that every path (a YAML file, an
 * override, the final validation) words the same mistake the same way. docs/configuration.md
 * quotes them and test/config/errors.test.ts pins them.
 */

/**
 * `path[index]` is not a key of the object at `path[0..index)`:
 * unknown config key 'model.n_ctxx' = 512 (override 'model.n_ctxx=512'); did you mean 'model.n_ctx'? allowed keys of 'model': name, n_layer, ...
 */
export function unknownKeyError(
  path: readonly string[],
  index: number,
  allowed: readonly string[],
  value: unknown,
  origin?: string,
): SynehrError {
  const bad = path.slice(0, index + 1).join('.');
  const parent = path.slice(0, index).join('.');
  const full = path.join('.');
  const guess = didYouMean(path[index]!, allowed);
  const where = parent === '' ? 'top-level keys' : `keys of '${parent}'`;
  return new SynehrError(
    'E_CONFIG_KEY',
    `unknown config key '${bad}'` +
      (full !== bad ? ` in '${full}'` : '') +
      (value !== undefined ? ` = ${showValue(value)}` : '') +
      (origin ? ` (${origin})` : '') +
      (guess ? `; did you mean '${parent === '' ? guess : `${parent}.${guess}`}'?` : ';') +
      ` allowed ${where}: ${allowed.length > 0 ? allowed.join(', ') : '(none: not an object)'}`,
  );
}

/** unknown option 'gpt-smal' for config group 'model'; did you mean 'gpt-small'? available: gpt, gpt-small, gpt-tiny */
export function unknownOptionError(group: string, option: string, available: readonly string[], searched: readonly string[]): SynehrError {
  const guess = didYouMean(option, available);
  return new SynehrError(
    'E_CONFIG_OPTION',
    `unknown option '${option}' for config group '${group}'` +
      (guess ? `; did you mean '${guess}'?` : ';') +
      ` available: ${available.length > 0 ? available.join(', ') : '(none)'} (searched ${searched.join(', ')})`,
  );
}

/**
 * Every key in `tree` must be known to `schema` (recursively, open records excepted); `base` is
 * where the tree sits in the whole config (e.g. ["model"] for a model option file).
 */
export function checkKnownKeys(schema: AnySchema, tree: unknown, base: readonly string[], origin: string): void {
  if (typeof tree !== 'object' || tree === null) return;
  const entries = Array.isArray(tree) ? tree.map((v, i) => [String(i), v] as const) : Object.entries(tree);
  for (const [k, v] of entries) {
    const path = [...base, k];
    const found = lookupSchema(schema, path);
    if (found.kind === 'unknown') throw unknownKeyError(path, found.index, found.allowed, getPath(tree, [k]), origin);
    if (found.kind === 'known') checkKnownKeys(schema, v, path, origin);
  }
}

interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  values?: unknown[];
}

/** The first zod issue as one line naming the key path and the value (and how many more there are). */
export function validationError(schema: AnySchema, value: unknown, issues: readonly ZodIssueLike[]): SynehrError {
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  const path = first.path.map(String);
  if (first.code === 'unrecognized_keys') {
    const key = first.keys![0]!;
    const allowed = Object.keys(objectShape(lookupAt(schema, path)) ?? {});
    const err = unknownKeyError([...path, key], path.length, allowed, getPath(value, [...path, key]));
    return new SynehrError(err.code, err.message + more);
  }
  const leaf = lookupAt(schema, path);
  const v = getPath(value, path);
  const key = path.join('.');
  let text: string;
  if (v === undefined) {
    text = `config key '${key}' is required: expected ${describeType(leaf)}`;
  } else if (first.code === 'invalid_value' && first.values) {
    const allowed = first.values.map(String);
    const guess = typeof v === 'string' ? didYouMean(v, allowed) : undefined;
    text =
      `config key '${key}' = ${showValue(v)}: expected one of ${first.values.map((x) => JSON.stringify(x)).join(', ')}` +
      (guess ? `; did you mean ${JSON.stringify(guess)}?` : '');
  } else if (first.code === 'invalid_type') {
    const values = enumValues(leaf);
    const guess = values && typeof v === 'string' ? didYouMean(v, values) : undefined;
    text =
      `config key '${key}' = ${showValue(v)}: expected ${describeType(leaf)}, got ${typeName(v)}` +
      (guess ? `; did you mean ${JSON.stringify(guess)}?` : '');
  } else if ((first.code === 'too_small' || first.code === 'too_big') && typeof v === 'number') {
    text = `config key '${key}' = ${showValue(v)}: expected ${describeType(leaf)}`;
  } else {
    text = `config key '${key}' = ${showValue(v)}: ${first.message.replace(/^Invalid input: /, '')}`;
  }
  return new SynehrError('E_CONFIG_TYPE', text + more);
}

function lookupAt(schema: AnySchema, path: readonly string[]): AnySchema {
  const found = lookupSchema(schema, path);
  return found.kind === 'known' ? found.schema : schema;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}
