import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { describeType } from '../config/describeType.ts';
import { defaultValue, groupSchemas, groupSchemaSources, hasDefault, isOptional, objectShape, topLevelSchema, type GroupName } from '../config/schema.ts';

type AnySchema = z.core.$ZodType;

/**
 * The keys of a config group as help and docs show them: name, type, default and the why-comment.
 * The text is the schema's `.describe()` when it has one, else the `//` comment lines right above
 * the key in the schema's source (STYLE.md asks for a why-comment per field, so the source is
 * where that text lives; reading it keeps one copy).
 */
export interface KeyDoc {
  key: string;
  type: string;
  /** the default as YAML-ish text, or undefined when the key is required (no default) */
  default?: string;
  optional: boolean;
  text: string;
}

/**
 * `// comment` lines right above each key of `export const <name> = z.object({...})` in a source
 * file (keys at the object's own indentation; nested objects' lines are skipped).
 */
export function commentsOfSchema(source: string, exportName: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = source.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^export const ${exportName}\\b`).test(l));
  if (start < 0) return out;
  const open = lines.findIndex((l, i) => i >= start && /\.object\(\{\s*$/.test(l));
  if (open < 0) return out;
  const indentOf = (l: string) => l.length - l.trimStart().length;
  const first = lines.slice(open + 1).find((l) => l.trim() !== '');
  if (first === undefined) return out;
  const keyIndent = indentOf(first);
  let comment: string[] = [];
  for (const line of lines.slice(open + 1)) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const indent = indentOf(line);
    if (indent < keyIndent) break;
    if (indent > keyIndent) continue;
    const c = /^\/\/\s?(.*)$/.exec(trimmed);
    if (c) {
      comment.push(c[1]!);
      continue;
    }
    const k = /^([A-Za-z_]\w*)\s*:/.exec(trimmed);
    if (k && comment.length > 0) out.set(k[1]!, comment.join(' '));
    comment = [];
  }
  return out;
}

function showDefault(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return v === '' ? "''" : v;
  return JSON.stringify(v);
}

export function keyDocs(schema: AnySchema, comments: Map<string, string>): KeyDoc[] {
  const shape = objectShape(schema) ?? {};
  return Object.entries(shape).map(([key, s]) => {
    const described = (s as unknown as { description?: string }).description;
    return {
      key,
      type: describeType(s),
      default: hasDefault(s) ? showDefault(defaultValue(s)) : undefined,
      optional: isOptional(s),
      text: described ?? comments.get(key) ?? '',
    };
  });
}

export function groupKeyDocs(packageRoot: string, group: GroupName): KeyDoc[] {
  const src = groupSchemaSources[group];
  const file = join(packageRoot, src.file);
  const comments = existsSync(file) ? commentsOfSchema(readFileSync(file, 'utf8'), src.exportName) : new Map<string, string>();
  return keyDocs(groupSchemas[group] as unknown as AnySchema, comments);
}

export function topLevelKeyDocs(packageRoot: string): KeyDoc[] {
  const file = join(packageRoot, 'src/config/schema.ts');
  const comments = existsSync(file) ? commentsOfSchema(readFileSync(file, 'utf8'), 'topLevelSchema') : new Map<string, string>();
  return keyDocs(topLevelSchema as unknown as AnySchema, comments);
}
