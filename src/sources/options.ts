import { z } from 'zod';
import type { DataConfig } from '../records/dataConfig.ts';
import { SynehrError } from '../util/errors.ts';

/** Options every loader understands. */
export const commonOptions = {
  // issue kinds (src/sources/issues.ts) that are counted and dropped instead of failing the load
  tolerate: z.array(z.string()).default([]),
};

/** Parse `data.options` with a loader's schema; unknown keys and wrong types name the key. */
export function loaderOptions<S extends z.ZodType>(data: DataConfig, schema: S): z.infer<S> {
  const parsed = schema.safeParse(data.options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = ['data', 'options', ...issue.path.map(String)].join('.');
    const keys = issue.code === 'unrecognized_keys' ? ` (${(issue as { keys?: string[] }).keys?.join(', ')})` : '';
    throw new SynehrError('E_CONFIG_VALUE', `${key}: ${issue.message}${keys} (loader ${data.loader})`);
  }
  return parsed.data;
}
