import { createHash } from 'node:crypto';
import type { DataConfig } from './dataConfig.ts';

/**
 * sha256 of the parts of a data config that shape a fitted tokenizer and the records it is fitted
 * on (keys in sorted order): the declared covariates, labels, variables and code systems, the
 * observation window, and the split, which decides the training patients. Paths and loader
 * options are left out, so moving the data does not invalidate a tokenizer, and so are the
 * labelling fields of covariates and variables (unit, UCUM and LOINC codes), which only the
 * exports read.
 */
export function dataConfigHash(data: DataConfig): string {
  const relevant = {
    covariates: data.covariates.map(withoutLabelling),
    labels: data.labels,
    variables: data.variables.map(withoutLabelling),
    code_systems: data.code_systems,
    window_hours: data.window_hours,
    split: data.split,
  };
  return createHash('sha256').update(canonicalJSON(relevant)).digest('hex');
}

/** JSON with object keys sorted and undefined members left out, so equal configs hash equally. */
export function canonicalJSON(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJSON).join(',')}]`;
  if (x !== null && typeof x === 'object') {
    const keys = Object.keys(x).filter((k) => (x as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON((x as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}

/** A covariate or variable spec without the fields that name it for other tools. */
function withoutLabelling<T extends object>(spec: T): Omit<T, 'unit' | 'ucum' | 'loinc'> {
  const { unit: _u, ucum: _c, loinc: _l, ...rest } = spec as T & { unit?: unknown; ucum?: unknown; loinc?: unknown };
  return rest;
}
