import { knownMimicItem } from './itemMap.ts';
import { ucumOfVariable } from './units.ts';

/**
 * What the exports need to know of a variable beyond its name: its unit as the data config spells it
 * (a FHIR Quantity's human-readable unit, OMOP's unit_source_value, MIMIC's VALUEUOM for a local
 * item), the same unit as a UCUM code, and its LOINC code. They come from the data config's variable
 * (`unit`, `ucum`, `loinc`), the MIMIC item map's LOINC code, or the name itself when the variable is
 * named by a LOINC code (Synthea's observations are).
 */
export interface VariableSpecLite {
  name: string;
  type?: string;
  unit?: string;
  ucum?: string;
  loinc?: string;
}

export interface VariableCodes {
  unit: string | null;
  ucum: string | null;
  loinc: string | null;
}

/**
 * LOINC codes are digits, a hyphen and a mod-10 check digit (LOINC Users' Guide, "Check digit
 * calculation"): "8867-4" is one, "8867-5" and "HR" are not.
 */
export function isLoincCode(s: string): boolean {
  const m = /^(\d{1,7})-(\d)$/.exec(s);
  if (!m) return false;
  // Luhn-style: from the right, double every other digit starting with the rightmost
  const digits = m[1]!.split('').reverse().map(Number);
  let sum = 0;
  digits.forEach((d, i) => {
    const v = i % 2 === 0 ? d * 2 : d;
    sum += v > 9 ? v - 9 : v;
  });
  return (10 - (sum % 10)) % 10 === Number(m[2]);
}

export function variableCodes(name: string, spec: VariableSpecLite | undefined): VariableCodes {
  const unit = spec?.unit ?? null;
  const ucum = ucumOfVariable({ name, unit: spec?.unit, ucum: spec?.ucum });
  const loinc = spec?.loinc ?? knownMimicItem(name)?.loinc ?? (isLoincCode(name) ? name : null);
  return { unit, ucum, loinc };
}

/** One lookup per variable for a whole export (UCUM validation is not free). */
export function variableCodeBook(specs: ReadonlyMap<string, VariableSpecLite>): (name: string) => VariableCodes {
  const cache = new Map<string, VariableCodes>();
  return (name) => {
    let c = cache.get(name);
    if (!c) {
      c = variableCodes(name, specs.get(name));
      cache.set(name, c);
    }
    return c;
  };
}

/** Specs from a plain name -> unit map (tests and callers that have only units). */
export function specsFromUnits(units: ReadonlyMap<string, string>): Map<string, VariableSpecLite> {
  return new Map([...units].map(([name, unit]) => [name, { name, unit }]));
}

/** The code book of an export: from its data config's variables, else from a bare unit map. */
export function codeBookOf(opts: { specs?: ReadonlyMap<string, VariableSpecLite>; units?: ReadonlyMap<string, string> }): (name: string) => VariableCodes {
  return variableCodeBook(opts.specs ?? specsFromUnits(opts.units ?? new Map()));
}
