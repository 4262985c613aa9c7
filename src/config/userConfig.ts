import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { z } from 'zod';
import { SynehrError } from '../util/errors.ts';
import { didYouMean } from './didYouMean.ts';
import { isPlainObject } from './tree.ts';

/**
 * A user's project config, found by cosmiconfig from the working directory up to the project root
 * (the nearest package.json): `synehr.config.{ts,js,mjs,cjs,json,yaml,yml}`, `.synehrrc` (YAML or
 * JSON), `.synehrrc.{json,yaml,yml,js,mjs,cjs,ts}`, `.config/synehrrc*`, or `package.json#synehr`.
 *
 *   export default {
 *     config_paths: ['./configs'],        // searched before the package's configs/ (alias: searchPath)
 *     overrides: ['data=mydata', 'model=gpt'],   // applied before the command line's
 *   };
 *
 * `overrides` may also be a mapping ({ data: 'mydata', 'train.lr': 3e-4 }): each value is taken as
 * it is (JSON-quoted into key=value), so a string with a comma is one string, never a sweep.
 */
export interface UserConfig {
  /** the file it came from */
  filepath: string;
  /** absolute config roots, in search order */
  configPaths: string[];
  /** override strings, applied before the command line's */
  overrides: string[];
}

const MODULE = 'synehr';

export const USER_CONFIG_PLACES = [
  'package.json',
  `.${MODULE}rc`,
  `.${MODULE}rc.json`,
  `.${MODULE}rc.yaml`,
  `.${MODULE}rc.yml`,
  `.${MODULE}rc.js`,
  `.${MODULE}rc.ts`,
  `.${MODULE}rc.mjs`,
  `.${MODULE}rc.cjs`,
  `.config/${MODULE}rc`,
  `.config/${MODULE}rc.json`,
  `.config/${MODULE}rc.yaml`,
  `.config/${MODULE}rc.yml`,
  `.config/${MODULE}rc.js`,
  `.config/${MODULE}rc.ts`,
  `.config/${MODULE}rc.mjs`,
  `.config/${MODULE}rc.cjs`,
  `${MODULE}.config.js`,
  `${MODULE}.config.ts`,
  `${MODULE}.config.mjs`,
  `${MODULE}.config.cjs`,
  `${MODULE}.config.json`,
  `${MODULE}.config.yaml`,
  `${MODULE}.config.yml`,
];

/**
 * TypeScript configs load through tsx (already our runtime), not cosmiconfig's default loader,
 * which would compile with the `typescript` package, a dev dependency a user need not have.
 */
const loadTs: Loader = async (filepath) => {
  const { tsImport } = await import('tsx/esm/api');
  const mod = (await tsImport(pathToFileURL(filepath).href, import.meta.url)) as { default?: unknown };
  let v: unknown = mod.default ?? mod;
  // in a CommonJS package the ES module arrives wrapped once more: { default: { default: config } }
  if (isPlainObject(v) && 'default' in v && (Object.keys(v).length === 1 || '__esModule' in v)) v = v.default;
  return v;
};

const userConfigSchema = z
  .object({
    config_paths: z.union([z.string(), z.array(z.string())]).optional(),
    searchPath: z.union([z.string(), z.array(z.string())]).optional(),
    overrides: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
  })
  .strict();

const USER_KEYS = ['config_paths', 'searchPath', 'overrides'];

/** The user config found from `cwd`, or null. Errors name the file. */
export async function discoverUserConfig(cwd: string): Promise<UserConfig | null> {
  const explorer = cosmiconfig(MODULE, {
    searchPlaces: USER_CONFIG_PLACES,
    searchStrategy: 'project',
    loaders: { '.ts': loadTs },
    cache: false,
  });
  let found;
  try {
    found = await explorer.search(cwd);
  } catch (e) {
    if (e instanceof SynehrError) throw e;
    throw new SynehrError('E_CONFIG_FILE', `cannot load the synehr user config: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!found || found.isEmpty) return null;
  return normalizeUserConfig(found.config, found.filepath);
}

/** A user config file read explicitly (--config-file), with the same checks as a discovered one. */
export async function loadUserConfig(filepath: string): Promise<UserConfig> {
  const explorer = cosmiconfig(MODULE, { loaders: { '.ts': loadTs }, cache: false });
  let found;
  try {
    found = await explorer.load(resolve(filepath));
  } catch (e) {
    throw new SynehrError('E_CONFIG_FILE', `cannot load ${filepath}: ${(e as Error).message.split('\n')[0]}`);
  }
  return normalizeUserConfig(found?.config ?? {}, resolve(filepath));
}

export function normalizeUserConfig(raw: unknown, filepath: string): UserConfig {
  if (!isPlainObject(raw)) {
    throw new SynehrError('E_CONFIG_FILE', `${filepath}: a synehr user config is an object with ${USER_KEYS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  for (const k of Object.keys(raw)) {
    if (!USER_KEYS.includes(k)) {
      const guess = didYouMean(k, USER_KEYS);
      throw new SynehrError(
        'E_CONFIG_KEY',
        `unknown key '${k}' in ${filepath}` + (guess ? `; did you mean '${guess}'?` : ';') + ` allowed keys: ${USER_KEYS.join(', ')}`,
      );
    }
  }
  const parsed = userConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SynehrError('E_CONFIG_TYPE', `${filepath}: '${issue.path.join('.')}' ${issue.message.replace(/^Invalid input: /, '')}`);
  }
  const u = parsed.data;
  const dir = dirname(filepath);
  const asList = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const configPaths = [...asList(u.config_paths), ...asList(u.searchPath)].map((p) => resolve(dir, p));
  const overrides = Array.isArray(u.overrides)
    ? u.overrides
    : Object.entries(u.overrides ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return { filepath, configPaths, overrides };
}
