import { z } from 'zod';
import { dataConfigSchema } from '../records/dataConfig.ts';
import { tokenizerConfigSchema } from '../tokenizer/config.ts';
import { modelConfigSchema } from '../model/config.ts';
import { trainConfigSchema } from '../train/config.ts';
import { generateConfigSchema } from '../generate/config.ts';
import { evalConfigSchema } from '../evaluate/config.ts';
import { trackingConfigSchema } from '../tracking/config.ts';
import { loadConfigSchema } from '../load/config.ts';

/** The config groups, in the order of config.yaml's defaults list. */
export const GROUPS = ['data', 'tokenizer', 'model', 'train', 'generate', 'eval', 'tracking', 'load'] as const;
export type GroupName = (typeof GROUPS)[number];

export function isGroup(name: string): name is GroupName {
  return (GROUPS as readonly string[]).includes(name);
}

/** Each group's schema is owned by its stage (see the imports); this file only assembles them. */
export const groupSchemas: Record<GroupName, z.ZodType> = {
  data: dataConfigSchema,
  tokenizer: tokenizerConfigSchema,
  model: modelConfigSchema,
  train: trainConfigSchema,
  generate: generateConfigSchema,
  eval: evalConfigSchema,
  tracking: trackingConfigSchema,
  load: loadConfigSchema,
};

/** Where each group's schema is defined, for help texts that quote its why-comments. */
export const groupSchemaSources: Record<GroupName, { file: string; exportName: string }> = {
  data: { file: 'src/records/dataConfig.ts', exportName: 'dataConfigSchema' },
  tokenizer: { file: 'src/tokenizer/config.ts', exportName: 'tokenizerConfigSchema' },
  model: { file: 'src/model/config.ts', exportName: 'modelConfigSchema' },
  train: { file: 'src/train/config.ts', exportName: 'trainConfigSchema' },
  generate: { file: 'src/generate/config.ts', exportName: 'generateConfigSchema' },
  eval: { file: 'src/evaluate/config.ts', exportName: 'evalConfigSchema' },
  tracking: { file: 'src/tracking/config.ts', exportName: 'trackingConfigSchema' },
  load: { file: 'src/load/config.ts', exportName: 'loadConfigSchema' },
};

/** The top-level keys beside the groups (see config.yaml). */
export const topLevelSchema = z
  .object({
    // saved_models/<run_name>/; null = train names the run <data>_<model>_<date>-<time>
    run_name: z.string().nullable().default(null),
    // the master seed; stages derive their own streams from it and it is logged with every run
    seed: z.number().int().default(42),
    // continue a run that exists (training from its checkpoint) instead of refusing to reuse its name; for this command only, never saved in a run's config
    resume: z.boolean().default(false),
    // replace a run that exists: its directory is emptied first; for this command only, never saved in a run's config
    overwrite: z.boolean().default(false),
  })
  .strict();

/** The whole composed config: top-level keys and one object per group, every level strict. */
export const synehrConfigSchema = topLevelSchema.extend(groupSchemas).strict();

// ---- walking zod schemas (zod 4 internals: `_zod.def.type` names the kind) ----

type AnySchema = z.core.$ZodType;

function def(s: AnySchema): Record<string, any> {
  return (s as any)._zod.def;
}

export function schemaKind(s: AnySchema): string {
  return def(s).type as string;
}

/** Strips default / optional / nullable / readonly / catch / pipe-input wrappers. */
export function unwrapSchema(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const d = def(cur);
    if (['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(d.type)) cur = d.innerType;
    else if (d.type === 'pipe') cur = d.in;
    else return cur;
  }
}

export function objectShape(s: AnySchema): Record<string, AnySchema> | undefined {
  const u = unwrapSchema(s);
  return schemaKind(u) === 'object' ? (def(u).shape as Record<string, AnySchema>) : undefined;
}

export function hasDefault(s: AnySchema): boolean {
  return schemaKind(s) === 'default' || schemaKind(s) === 'prefault';
}

export function defaultValue(s: AnySchema): unknown {
  return structuredClone(def(s).defaultValue);
}

export function isOptional(s: AnySchema): boolean {
  let cur = s;
  for (;;) {
    const k = schemaKind(cur);
    if (k === 'optional' || k === 'default' || k === 'prefault') return true;
    if (k === 'nullable' || k === 'readonly') cur = def(cur).innerType;
    else return false;
  }
}

export type SchemaLookup =
  | { kind: 'known'; schema: AnySchema }
  /** inside a record or unknown value: any key is allowed */
  | { kind: 'open' }
  /** `path[index]` is not a key of the object at path[0..index) */
  | { kind: 'unknown'; index: number; allowed: string[] };

/** What the schema says about a key path: known, inside an open record, or unknown (and where). */
export function lookupSchema(root: AnySchema, path: readonly string[]): SchemaLookup {
  let cur = root;
  for (let i = 0; i < path.length; i++) {
    const u = unwrapSchema(cur);
    const k = schemaKind(u);
    const seg = path[i]!;
    if (k === 'object') {
      const shape = def(u).shape as Record<string, AnySchema>;
      if (!Object.prototype.hasOwnProperty.call(shape, seg)) {
        const catchall = def(u).catchall;
        if (catchall && schemaKind(catchall) !== 'never') return { kind: 'open' };
        return { kind: 'unknown', index: i, allowed: Object.keys(shape) };
      }
      cur = shape[seg]!;
    } else if (k === 'record') {
      cur = def(u).valueType;
    } else if (k === 'array') {
      if (!/^\d+$/.test(seg)) return { kind: 'unknown', index: i, allowed: ['<index>'] };
      cur = def(u).element;
    } else if (k === 'tuple') {
      const items = def(u).items as AnySchema[];
      if (!/^\d+$/.test(seg) || Number(seg) >= items.length) {
        return { kind: 'unknown', index: i, allowed: items.map((_, j) => String(j)) };
      }
      cur = items[Number(seg)]!;
    } else if (k === 'union') {
      // the first alternative the rest of the path fits (gap_edges: 'fit' or a list of edges)
      let last: SchemaLookup = { kind: 'unknown', index: i, allowed: [] };
      for (const option of def(u).options as AnySchema[]) {
        const r = lookupSchema(option, path.slice(i));
        if (r.kind !== 'unknown') return r;
        last = { ...r, index: r.index + i };
      }
      return last;
    } else if (k === 'unknown' || k === 'any') {
      return { kind: 'open' };
    } else {
      return { kind: 'unknown', index: i, allowed: [] };
    }
  }
  return { kind: 'known', schema: cur };
}

/**
 * `value` with the schema's defaults filled in wherever a key is missing, recursively. Unknown keys
 * are kept (validation reports them). Missing keys without a default stay missing.
 */
export function fillDefaults(schema: AnySchema, value: unknown): unknown {
  if (value === undefined) {
    if (!hasDefault(schema)) return undefined;
    value = defaultValue(schema);
  }
  const u = unwrapSchema(schema);
  const k = schemaKind(u);
  if (k === 'object' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const shape = def(u).shape as Record<string, AnySchema>;
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const [key, sub] of Object.entries(shape)) {
      const filled = fillDefaults(sub, out[key]);
      if (filled !== undefined) out[key] = filled;
    }
    return out;
  }
  if (k === 'array' && Array.isArray(value)) {
    return value.map((v) => fillDefaults(def(u).element, v) ?? v);
  }
  return value;
}
