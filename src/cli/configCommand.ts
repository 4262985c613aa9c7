import YAML from 'yaml';
import { didYouMean } from '../config/didYouMean.ts';
import { findGroupOption, listGroupOptions } from '../config/files.ts';
import { GROUPS } from '../config/schema.ts';
import { getPath, hasPath, isPlainObject } from '../config/tree.ts';
import { SynehrError } from '../util/errors.ts';
import type { CommandContext } from './context.ts';

/**
 * `synehr config show [key.path] [overrides...]`: the composed config as YAML on stdout (Hydra's
 * --cfg job), or only the part at key.path (a scalar prints bare, for scripts:
 * `synehr config show model.n_ctx` prints 1024).
 * `synehr config options`: each group's options and the file each comes from.
 */
export async function runConfigCommand(ctx: CommandContext, searchPath: readonly string[], write: (s: string) => void): Promise<number> {
  const words = ctx.args.filter((a) => !a.startsWith('-'));
  const [sub = 'show', ...rest] = words;
  if (sub === 'show') {
    if (rest.length > 1) throw new SynehrError('E_USAGE', `config show takes at most one key path, got ${rest.join(', ')}`);
    if (rest.length === 0) {
      write(YAML.stringify(ctx.config));
      return 0;
    }
    const path = rest[0]!.split('.');
    if (!hasPath(ctx.config, path)) {
      let i = 0;
      while (hasPath(ctx.config, path.slice(0, i + 1))) i++;
      const parent = getPath(ctx.config, path.slice(0, i));
      const keys = isPlainObject(parent) ? Object.keys(parent) : [];
      const guess = didYouMean(path[i]!, keys);
      const prefix = path.slice(0, i).join('.');
      throw new SynehrError(
        'E_CONFIG_KEY',
        `config show: no key '${rest[0]}'` + (guess ? `; did you mean '${prefix ? `${prefix}.` : ''}${guess}'?` : ''),
      );
    }
    const v = getPath(ctx.config, path);
    write(typeof v === 'object' && v !== null ? YAML.stringify(v) : `${String(v)}\n`);
    return 0;
  }
  if (sub === 'options') {
    const lines: string[] = [];
    for (const g of GROUPS) {
      lines.push(`${g}:`);
      for (const o of listGroupOptions(searchPath, g)) lines.push(`  ${o}: ${findGroupOption(searchPath, g, o)}`);
    }
    write(lines.join('\n') + '\n');
    return 0;
  }
  throw new SynehrError('E_USAGE', `unknown config subcommand '${sub}'; use 'synehr config show [key.path] [overrides...]' or 'synehr config options'`);
}
