import YAML from 'yaml';
import { GROUPS } from '../config/schema.ts';
import { findGroupOption, listGroupOptions } from '../config/files.ts';
import { SynehrError } from '../util/errors.ts';
import type { CommandContext } from './context.ts';

/**
 * `synehr config show [overrides...]`: the composed config as YAML on stdout (Hydra's --cfg job).
 * `synehr config options`: each group's options and the file each comes from.
 */
export async function runConfigCommand(ctx: CommandContext, searchPath: readonly string[], write: (s: string) => void): Promise<number> {
  const sub = ctx.args.find((a) => !a.startsWith('-'));
  if (sub === 'show' || sub === undefined) {
    write(YAML.stringify(ctx.config));
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
  throw new SynehrError('E_USAGE', `unknown config subcommand '${sub}'; use 'synehr config show [overrides...]' or 'synehr config options'`);
}
