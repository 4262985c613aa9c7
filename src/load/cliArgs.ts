import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandContext } from '../cli/context.ts';
import { SynehrError } from '../util/errors.ts';

/** A `key=value` word of load/export-data (CommandSpec.keys puts them in ctx.flags). */
export function flagString(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.flags[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new SynehrError('E_USAGE', `${name}= needs a value`);
  return v;
}

/**
 * The directory to read: synthetic=<dir> (against the working directory), else the synthetic
 * output of model=<run> (generate.out_dir, or data/synthetic/<run>).
 */
export function syntheticDirOf(ctx: CommandContext): string {
  const given = flagString(ctx, 'synthetic');
  let dir: string;
  if (given !== undefined) dir = resolve(ctx.workDir, given);
  else if (ctx.config.run_name) dir = ctx.config.generate.out_dir ? resolve(ctx.workDir, ctx.config.generate.out_dir) : join(ctx.workDir, 'data', 'synthetic', ctx.config.run_name);
  else throw new SynehrError('E_USAGE', `synehr ${ctx.command} needs synthetic=<dir> (a folder of the four tables) or model=<run>`);
  if (!existsSync(dir)) throw new SynehrError('E_INPUT', `${dir}: no such directory${given === undefined ? `; run \`synehr generate model=${ctx.config.run_name}\` first` : ''}`);
  return dir;
}
