import type { z } from 'zod';
import { schemaKind } from './schema.ts';

type AnySchema = z.core.$ZodType;

function def(s: AnySchema): Record<string, any> {
  return (s as any)._zod.def;
}

function numberBounds(s: AnySchema): { int: boolean; bounds: string[] } {
  let int = false;
  const bounds: string[] = [];
  for (const c of (def(s).checks ?? []) as AnySchema[]) {
    const d = def(c);
    if (d.check === 'number_format' && /int/.test(String(d.format))) int = true;
    else if (d.check === 'greater_than') bounds.push(`${d.inclusive ? '>=' : '>'} ${d.value}`);
    else if (d.check === 'less_than') bounds.push(`${d.inclusive ? '<=' : '<'} ${d.value}`);
    else if (d.check === 'multiple_of') bounds.push(`multiple of ${d.value}`);
  }
  if (def(s).format && /int/.test(String(def(s).format))) int = true;
  return { int, bounds };
}

/**
 * A schema's type as a reader wants it in an error or a help line: `integer > 0`,
 * `"uniform" | "quantile"`, `number[]`, `string | null`.
 */
export function describeType(s: AnySchema): string {
  const d = def(s);
  switch (schemaKind(s)) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return describeType(d.innerType);
    case 'pipe':
      return describeType(d.in);
    case 'nullable':
      return `${describeType(d.innerType)} | null`;
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
    case 'int': {
      const { int, bounds } = numberBounds(s);
      return [int ? 'integer' : 'number', bounds.join(' and ')].filter(Boolean).join(' ');
    }
    case 'enum':
      return Object.values(d.entries as Record<string, unknown>)
        .map((v) => JSON.stringify(v))
        .join(' | ');
    case 'literal':
      return (d.values as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
    case 'array': {
      const el = describeType(d.element);
      return /[ |]/.test(el) ? `(${el})[]` : `${el}[]`;
    }
    case 'tuple':
      return `[${(d.items as AnySchema[]).map(describeType).join(', ')}]`;
    case 'object':
      return 'object';
    case 'record':
      return `map of ${describeType(d.valueType)}`;
    case 'union':
      return (d.options as AnySchema[]).map(describeType).join(' | ');
    case 'unknown':
    case 'any':
      return 'any';
    default:
      return schemaKind(s);
  }
}

/** The enum's values when the schema (under its wrappers) is an enum, for did-you-mean. */
export function enumValues(s: AnySchema): string[] | undefined {
  let cur = s;
  for (;;) {
    const k = schemaKind(cur);
    if (['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch'].includes(k)) cur = def(cur).innerType;
    else if (k === 'enum') return Object.values(def(cur).entries as Record<string, unknown>).map(String);
    else return undefined;
  }
}
