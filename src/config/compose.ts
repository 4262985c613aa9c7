import { join } from 'node:path';
import type { z } from 'zod';
import { SynehrError } from '../util/errors.ts';
import { resolveAlias } from './aliases.ts';
import { checkKnownKeys, unknownKeyError, unknownOptionError, validationError } from './errors.ts';
import { findGroupOption, findPrimaryConfig, listGroupOptions, readYamlMapping } from './files.ts';
import { interpolate } from './interpolate.ts';
import { parseOverride, type Override } from './overrides.ts';
import { fillDefaults, GROUPS, groupSchemas, isGroup, lookupSchema, synehrConfigSchema, type GroupName } from './schema.ts';
import { deepMerge, deletePath, getPath, hasPath, isPlainObject, setPath, showValue, type Tree } from './tree.ts';
import type { SynehrConfig } from './types.ts';

export interface ComposeOptions {
  /** config roots, searched in order (user dirs first, the package's configs/ last) */
  searchPath: readonly string[];
  /** overrides in the order they apply: the user config's, then the command line's */
  overrides: readonly string[];
  /** the subcommand, which decides what the flat alias batch_size means */
  command?: string;
  /**
   * A saved run's resolved config (saved_models/<run>/config.yaml): the base instead of
   * config.yaml's defaults list. Group choices then replace that group's whole section.
   */
  base?: Tree;
  /** for ${oc.env:NAME} */
  env?: NodeJS.ProcessEnv;
}

export interface ComposeResult {
  config: SynehrConfig;
  /** the option chosen per group (null = the group was removed; absent = taken from base) */
  choices: Partial<Record<GroupName, string | null>>;
  /** config files read, in merge order */
  files: string[];
}

type DefaultsEntry = { group: GroupName; option: string | null } | '_self_';

const SCHEMA = synehrConfigSchema as unknown as z.core.$ZodType;

/**
 * Hydra's composition: start from every schema's defaults, merge config.yaml's defaults list in
 * order (each group's option file under its key; `_self_`, implicitly last, is config.yaml's own
 * keys), apply the overrides in order, interpolate, validate. Group choices (`model=gpt`) act on
 * the defaults list before anything merges, wherever they stand among the overrides.
 */
export function compose(opts: ComposeOptions): ComposeResult {
  const command = opts.command ?? 'config';
  const parsed = opts.overrides.map((text) => {
    const o = parseOverride(text);
    if (o.sweep) {
      throw new SynehrError(
        'E_CONFIG_OVERRIDE',
        `override '${text}' is a sweep over ${o.sweep.length} values: add -m (--multirun) to run one job per value, or quote the value to pass one string: ${o.path.join('.')}='${o.valueText}'`,
      );
    }
    return resolveAlias(o, command);
  });
  const isChoice = (o: Override) => o.path.length === 1 && isGroup(o.path[0]!);
  const choiceOverrides = parsed.filter(isChoice);
  const keyOverrides = parsed.filter((o) => !isChoice(o));
  const files: string[] = [];
  const choices: Partial<Record<GroupName, string | null>> = {};

  const loadOption = (group: GroupName, option: string): Tree => {
    const content = loadGroupOption(opts.searchPath, group, option, files, []);
    checkKnownKeys(SCHEMA, content, [group], `in ${files[files.length - 1]}`);
    return content;
  };
  const groupDefaults = (group: GroupName): Tree =>
    (fillDefaults(groupSchemas[group] as unknown as z.core.$ZodType, {}) as Tree) ?? {};

  let cfg: Tree;
  if (opts.base) {
    cfg = structuredClone(opts.base);
    for (const o of choiceOverrides) {
      const group = o.path[0] as GroupName;
      const option = choiceValue(o);
      if (o.kind === 'delete' || option === null) {
        cfg[group] = groupDefaults(group);
        choices[group] = null;
      } else {
        cfg[group] = deepMerge(groupDefaults(group), loadOption(group, option)) as Tree;
        choices[group] = option;
      }
    }
  } else {
    const primaryFile = findPrimaryConfig(opts.searchPath);
    if (!primaryFile) {
      throw new SynehrError('E_CONFIG_FILE', `no config.yaml in the config search path: ${opts.searchPath.join(', ')}`);
    }
    files.push(primaryFile);
    const primary = readYamlMapping(primaryFile);
    const defaults = parseDefaultsList(primary.defaults, primaryFile);
    delete primary.defaults;
    checkKnownKeys(SCHEMA, primary, [], `in ${primaryFile}`);
    applyChoiceOverrides(defaults, choiceOverrides);

    cfg = fillDefaults(SCHEMA, {}) as Tree;
    for (const g of GROUPS) cfg[g] = groupDefaults(g);
    for (const entry of defaults) {
      if (entry === '_self_') {
        cfg = deepMerge(cfg, primary) as Tree;
      } else {
        choices[entry.group] = entry.option;
        if (entry.option !== null) cfg[entry.group] = deepMerge(cfg[entry.group], loadOption(entry.group, entry.option));
      }
    }
  }
  cfg = fillDefaults(SCHEMA, cfg) as Tree;

  for (const o of keyOverrides) applyKeyOverride(cfg, o);
  cfg = fillDefaults(SCHEMA, cfg) as Tree;
  const resolved = interpolate(cfg, opts.env);
  const result = synehrConfigSchema.safeParse(resolved);
  if (!result.success) throw validationError(SCHEMA, resolved, result.error.issues as any);
  return { config: result.data as SynehrConfig, choices, files };

  function applyChoiceOverrides(defaults: DefaultsEntry[], overrides: readonly Override[]): void {
    for (const o of overrides) {
      const group = o.path[0] as GroupName;
      const entry = defaults.find((e): e is Exclude<DefaultsEntry, '_self_'> => e !== '_self_' && e.group === group);
      const option = o.kind === 'delete' ? null : choiceValue(o);
      if (o.kind === 'delete') {
        if (!entry) throw new SynehrError('E_CONFIG_OVERRIDE', `cannot delete config group '${group}' ('${o.text}'): it is not in the defaults list`);
        if (o.value !== undefined && entry.option !== o.value) {
          throw new SynehrError('E_CONFIG_OVERRIDE', `cannot delete config group '${group}' ('${o.text}'): its option is '${entry.option}'`);
        }
        entry.option = null;
        continue;
      }
      if (o.kind === 'add' && entry) {
        throw new SynehrError(
          'E_CONFIG_OVERRIDE',
          `cannot add config group '${group}' ('${o.text}'): it is already in the defaults list; use ${group}=${option} to choose another option`,
        );
      }
      if (o.kind === 'set' && !entry) {
        throw new SynehrError(
          'E_CONFIG_OVERRIDE',
          `cannot choose an option for config group '${group}' ('${o.text}'): it is not in the defaults list; use +${group}=${option} to add it`,
        );
      }
      if (entry) {
        entry.option = option;
      } else {
        // a new group goes before _self_, so config.yaml's own keys still merge last
        const self = defaults.indexOf('_self_');
        defaults.splice(self < 0 ? defaults.length : self, 0, { group, option });
      }
      if (option !== null && !findGroupOption(opts.searchPath, group, option)) {
        throw unknownOptionError(group, option, listGroupOptions(opts.searchPath, group), opts.searchPath.map((r) => join(r, group)));
      }
    }
  }
}

function choiceValue(o: Override): string | null {
  if (o.kind === 'delete') return null;
  if (o.value === null) return null;
  if (typeof o.value !== 'string' || o.value === '') {
    throw new SynehrError(
      'E_CONFIG_OVERRIDE',
      `config group '${o.path[0]}' takes an option name ('${o.text}'), got ${showValue(o.value)}`,
    );
  }
  return o.value;
}

function parseDefaultsList(list: unknown, file: string): DefaultsEntry[] {
  if (list === undefined) return ['_self_'];
  if (!Array.isArray(list)) throw new SynehrError('E_CONFIG_FILE', `${file}: 'defaults' must be a list, got ${showValue(list)}`);
  const out: DefaultsEntry[] = [];
  for (const item of list) {
    if (item === '_self_') {
      out.push('_self_');
      continue;
    }
    if (!isPlainObject(item) || Object.keys(item).length !== 1) {
      throw new SynehrError('E_CONFIG_FILE', `${file}: a defaults entry is '_self_' or 'group: option', got ${showValue(item)}`);
    }
    const [group, option] = Object.entries(item)[0]!;
    if (!isGroup(group)) {
      throw unknownKeyError([group], 0, [...GROUPS], option, `defaults list in ${file}`);
    }
    if (option !== null && typeof option !== 'string') {
      throw new SynehrError('E_CONFIG_FILE', `${file}: the option of group '${group}' must be a name or null, got ${showValue(option)}`);
    }
    out.push({ group, option });
  }
  // Hydra 1.1+: without an explicit _self_, the primary config's own keys merge last.
  if (!out.includes('_self_')) out.push('_self_');
  return out;
}

/**
 * A group option file, after its own `defaults: [other, ...]` (options of the same group it
 * extends, merged first). `chain` detects an option that extends itself.
 */
function loadGroupOption(searchPath: readonly string[], group: GroupName, option: string, files: string[], chain: string[]): Tree {
  const file = findGroupOption(searchPath, group, option);
  if (!file) {
    throw unknownOptionError(group, option, listGroupOptions(searchPath, group), searchPath.map((r) => join(r, group)));
  }
  if (chain.includes(option)) {
    throw new SynehrError('E_CONFIG_FILE', `config group '${group}': options extend each other in a cycle: ${[...chain, option].join(' -> ')}`);
  }
  const content = readYamlMapping(file);
  let merged: Tree = {};
  if (content.defaults !== undefined) {
    const parents = content.defaults;
    if (!Array.isArray(parents) || parents.some((p) => typeof p !== 'string')) {
      throw new SynehrError('E_CONFIG_FILE', `${file}: 'defaults' in a group option lists other options of '${group}' by name, got ${showValue(parents)}`);
    }
    for (const p of parents as string[]) merged = deepMerge(merged, loadGroupOption(searchPath, group, p, files, [...chain, option])) as Tree;
    delete content.defaults;
  }
  files.push(file);
  return deepMerge(merged, content) as Tree;
}

function applyKeyOverride(cfg: Tree, o: Override): void {
  const key = o.path.join('.');
  const found = lookupSchema(SCHEMA, o.path);
  const exists = hasPath(cfg, o.path);
  if (found.kind === 'unknown' && !exists) {
    throw unknownKeyError(o.path, found.index, found.allowed, o.value, `override '${o.text}'`);
  }
  switch (o.kind) {
    case 'set':
    case 'force':
      setValue();
      return;
    case 'add':
      if (exists) {
        throw new SynehrError(
          'E_CONFIG_OVERRIDE',
          `cannot add config key '${key}' ('${o.text}'): it is already set to ${showValue(getPath(cfg, o.path))}; use ${key}=... to change it or ++${key}=... to set it either way`,
        );
      }
      setValue();
      return;
    case 'delete':
      if (!exists) throw new SynehrError('E_CONFIG_OVERRIDE', `cannot delete config key '${key}' ('${o.text}'): it is not set`);
      if (o.value !== undefined && JSON.stringify(getPath(cfg, o.path)) !== JSON.stringify(o.value)) {
        throw new SynehrError(
          'E_CONFIG_OVERRIDE',
          `cannot delete config key '${key}' ('${o.text}'): its value is ${showValue(getPath(cfg, o.path))}, not ${showValue(o.value)}`,
        );
      }
      deletePath(cfg, o.path);
      return;
  }
  function setValue(): void {
    try {
      setPath(cfg, o.path, o.value);
    } catch (e) {
      throw new SynehrError('E_CONFIG_OVERRIDE', `cannot set config key '${key}' ('${o.text}'): ${(e as Error).message}`);
    }
  }
}
