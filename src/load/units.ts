import { createRequire } from 'node:module';
import { SynehrError } from '../util/errors.ts';

/**
 * Units of measure for the exports: every variable's unit as a UCUM code (the Unified Code for Units
 * of Measure, https://ucum.org), which FHIR Quantities and HL7's vital-signs profiles require, OMOP's
 * unit concepts are keyed by, and which lets the MIMIC export convert a value to the unit of the MIMIC
 * item it is filed under. Codes are checked, and conversions computed, by the National Library of
 * Medicine's UCUM library (@lhncbc/ucum-lhc), not by tables of our own.
 */

interface UcumValidation {
  status: 'valid' | 'invalid' | 'error';
  ucumCode: string | null;
  unit: { name: string } | null;
  msg: string[];
}
interface UcumConversion {
  status: 'succeeded' | 'failed' | 'error';
  toVal: number | null;
  msg: string[];
}
interface UcumUtils {
  validateUnitString(code: string, suggest?: boolean): UcumValidation;
  convertUnitTo(from: string, value: number, to: string, options?: { molecularWeight?: number; charge?: number }): UcumConversion;
}

let utils: UcumUtils | undefined;
function ucum(): UcumUtils {
  // the package is CommonJS without types; its tables load once, on first use (~50 ms)
  utils ??= (createRequire(import.meta.url)('@lhncbc/ucum-lhc') as { UcumLhcUtils: { getInstance(): UcumUtils } }).UcumLhcUtils.getInstance();
  return utils;
}

/** UCUM's own web page of a code system, FHIR's Quantity.system for UCUM codes. */
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

/** Whether a string is a valid UCUM code (case-sensitive, as UCUM is), and UCUM's name for it. */
export function checkUcum(code: string): { valid: boolean; name: string | null; message: string } {
  const r = ucum().validateUnitString(code, false);
  return { valid: r.status === 'valid' && r.ucumCode === code, name: r.unit?.name ?? null, message: r.msg.join('; ') };
}

/**
 * Clinical spellings that are not UCUM, as data sets and MIMIC-III write them, with the UCUM code they
 * mean. A data config's own `ucum:` always wins; this table only serves configs (and manifests of
 * earlier runs) that give a unit without one. Enzyme "IU/L" is U/L, as LOINC writes it for ALT, AST
 * and ALP; "cells/nL" and "K/uL" are 10^3 per microliter; "points" is a score.
 */
const CLINICAL_SPELLINGS: Readonly<Record<string, string>> = {
  'bpm': '/min',
  'BPM': '/min',
  'insp/min': '/min',
  'mmHg': 'mm[Hg]',
  'mm Hg': 'mm[Hg]',
  '°C': 'Cel',
  'Deg. C': 'Cel',
  'mEq/L': 'meq/L',
  'μg/L': 'ug/L',
  'µg/L': 'ug/L',
  'IU/L': 'U/L',
  'cells/nL': '10*3/uL',
  'K/uL': '10*3/uL',
  'm/uL': '10*6/uL',
  'sec': 's',
  'points': '{score}',
  'fraction': '1',
  'units': '[pH]',
  'ng/ml': 'ng/mL',
  'ml': 'mL',
  'years': 'a',
};

/**
 * The UCUM code of a variable: its data config's `ucum`, else its `unit` when that already is UCUM,
 * else the unit's usual clinical spelling. Null when the variable has neither (a unitless value);
 * an error naming the variable when a unit is given but cannot be read as UCUM.
 */
export function ucumOfVariable(v: { name: string; unit?: string | undefined; ucum?: string | undefined }): string | null {
  if (v.ucum !== undefined) {
    const c = checkUcum(v.ucum);
    if (!c.valid) throw new SynehrError('E_CONFIG_VALUE', `data.variables[${v.name}].ucum: ${JSON.stringify(v.ucum)} is not a UCUM code (${c.message || 'see https://ucum.org'})`);
    return v.ucum;
  }
  if (v.unit === undefined || v.unit === '') return null;
  if (checkUcum(v.unit).valid) return v.unit;
  const known = CLINICAL_SPELLINGS[v.unit];
  if (known !== undefined) return known;
  throw new SynehrError('E_CONFIG_VALUE', `data.variables[${v.name}].unit: ${JSON.stringify(v.unit)} is not a UCUM code and not a spelling synehr knows; add ucum: <code> to the variable (e.g. ucum: '/min' for beats per minute)`);
}

/**
 * The factor that takes a value in UCUM unit `from` to UCUM unit `to`, or null when they measure
 * different things. Moles and mass need the substance's molar mass (g/mol), moles and equivalents
 * its charge. Every conversion the exports make is linear through zero except temperatures, which
 * this refuses (null) rather than scale wrongly.
 */
export function conversionFactor(from: string, to: string, substance: { molarMass?: number | undefined; charge?: number | undefined } = {}): number | null {
  if (from === to) return 1;
  const opts: { molecularWeight?: number; charge?: number } = {};
  if (substance.molarMass !== undefined) opts.molecularWeight = substance.molarMass;
  if (substance.charge !== undefined) opts.charge = substance.charge;
  const at1 = ucum().convertUnitTo(from, 1, to, opts);
  const at0 = ucum().convertUnitTo(from, 0, to, opts);
  if (at1.status !== 'succeeded' || at1.toVal === null || at0.toVal === null) return null;
  if (Math.abs(at0.toVal) > 1e-12) return null;
  return at1.toVal;
}

/** value x factor without binary noise (0.35 x 100 = 35, not 35.00000000000001). */
export function scaled(value: number, factor: number): number {
  return factor === 1 ? value : Number((value * factor).toPrecision(12));
}
