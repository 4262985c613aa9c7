/**
 * The config API for code outside the CLI (tests, notebooks, benchmarks):
 *
 *   const config = composeConfig(['data=physionet2012', 'model=gpt-tiny']);
 *
 * composes from the package's configs/ (plus any `configDirs`, searched first) exactly as
 * `synehr config show <overrides>` does, without a user config.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compose } from './compose.ts';
import type { SynehrConfig } from './types.ts';

export { compose, type ComposeOptions, type ComposeResult } from './compose.ts';
export { discoverUserConfig, loadUserConfig, type UserConfig } from './userConfig.ts';
export { expandMultirun } from './multirun.ts';
export { writeFileAtomic } from '../util/files.ts';
export { GROUPS, synehrConfigSchema, groupSchemas, type GroupName } from './schema.ts';
export type { SynehrConfig } from './types.ts';

/** The package's built-in config root. */
export const BUILTIN_CONFIG_DIR = join(fileURLToPath(new URL('../../', import.meta.url)), 'configs');

export function composeConfig(
  overrides: readonly string[] = [],
  opts: { configDirs?: readonly string[]; command?: string } = {},
): SynehrConfig {
  return compose({ searchPath: [...(opts.configDirs ?? []), BUILTIN_CONFIG_DIR], overrides, command: opts.command }).config;
}
