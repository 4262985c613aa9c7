/**
 * Checks and small conversions of input records shared by fitting and encoding (internal to the
 * tokenizer). Messages name the patient, admission and event they are about.
 */
import type { Measurement } from '../records/types.ts';
import { SynehrError } from '../util/errors.ts';

/** The string a categorical value is stored under; throws (building `where` only then) for anything else. */
export function categoryKey(v: unknown, where: () => string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  throw new SynehrError('E_INPUT', `${where()} = ${JSON.stringify(v)} is not a category (a string or finite number)`);
}

export function checkCodeSystem(code: string, systems: string[], where: string): void {
  const colon = code.indexOf(':');
  const system = colon > 0 ? code.slice(0, colon) : '';
  if (!systems.includes(system)) {
    throw new SynehrError(
      'E_INPUT',
      `${where}: code '${code}' has ${system ? `unknown code system '${system}'` : 'no code system prefix (SYSTEM:code)'}; the data config allows ${systems.length ? systems.join(', ') : 'no code systems'}`,
    );
  }
}

/** The events in hours order, stable (ties keep record order): the array itself when already sorted. */
export function sortedByHours(events: Measurement[], where: string): Measurement[] {
  let sorted = true;
  for (let i = 0; i < events.length; i++) {
    const h = events[i]!.hours;
    if (typeof h !== 'number' || !Number.isFinite(h) || h < 0) {
      throw new SynehrError('E_INPUT', `${where}, event ${i} (variable '${events[i]!.variable}'): hours = ${h} is not a finite number >= 0`);
    }
    if (i > 0 && h < events[i - 1]!.hours) sorted = false;
  }
  if (sorted) return events;
  return events
    .map((e, i) => [e, i] as const)
    .sort((a, b) => a[0].hours - b[0].hours || a[1] - b[1])
    .map(([e]) => e);
}

export function listNames(xs: { name: string }[]): string {
  const names = xs.map((x) => x.name);
  return names.length > 12 ? `${names.slice(0, 12).join(', ')}, ... (${names.length} in all)` : names.join(', ') || 'none';
}

export function firstDuplicate(xs: string[]): string | null {
  const seen = new Set<string>();
  for (const x of xs) {
    if (seen.has(x)) return x;
    seen.add(x);
  }
  return null;
}
