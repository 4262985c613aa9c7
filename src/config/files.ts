import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { SynehrError } from '../util/errors.ts';
import { isPlainObject, type Tree } from './tree.ts';

/**
 * The config search path: a list of config roots (each like the package's configs/, holding
 * config.yaml and one folder per group), searched in order; the first file found wins, so a user's
 * configs/data/mydata.yaml or configs/model/gpt.yaml shadows the built-in one.
 */

/** A YAML file as a mapping; an empty file is {}. Errors name the file. */
export function readYamlMapping(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SynehrError('E_CONFIG_FILE', `cannot read ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new SynehrError('E_CONFIG_FILE', `YAML error in ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) throw new SynehrError('E_CONFIG_FILE', `${file}: expected a mapping of keys at the top, got ${Array.isArray(doc) ? 'a list' : typeof doc}`);
  return doc;
}

/** The options of a group across the search path, first-found order, without duplicates. */
export function listGroupOptions(searchPath: readonly string[], group: string): string[] {
  const seen = new Set<string>();
  for (const root of searchPath) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    const names = readdirSync(dir)
      .map((f) => /^(.+)\.ya?ml$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .sort();
    for (const n of names) seen.add(n);
  }
  return [...seen];
}

export function findGroupOption(searchPath: readonly string[], group: string, option: string): string | undefined {
  for (const root of searchPath) {
    for (const ext of ['.yaml', '.yml']) {
      const f = join(root, group, option + ext);
      if (existsSync(f)) return f;
    }
  }
  return undefined;
}

export function findPrimaryConfig(searchPath: readonly string[]): string | undefined {
  for (const root of searchPath) {
    const f = join(root, 'config.yaml');
    if (existsSync(f)) return f;
  }
  return undefined;
}
