import type { PatientRecord } from '../records/types.ts';

/**
 * Synthetic records keep time as hours since each admission's start; the MIMIC-, OMOP- and
 * FHIR-shaped exports need calendar times. This places every patient on a calendar, the same way
 * for every export so that they agree with each other:
 *
 * - patient i's first admission starts at ANCHOR + (i mod 3653) days + 8 h: MIMIC-III's own shifted
 *   years (2100-2210), so a synthetic date can never be read as a real one;
 * - an admission lasts until its last event plus one hour, at least one day;
 * - the next admission of the same patient starts 30 days after the previous one ends, on the hour;
 * - date of birth = first admission - age (years of 365.25 days), when an age covariate exists.
 */
export const ANCHOR_MS = Date.UTC(2150, 0, 1);

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const YEAR_MS = 365.25 * DAY_MS;

export interface AdmissionTimes {
  /** ms since the epoch (UTC) */
  startMs: number;
  endMs: number;
}

export interface PatientTimeline {
  admissions: AdmissionTimes[];
  /** null when the record has no age covariate */
  birthMs: number | null;
}

/** The covariate a record's age or sex is in: matched by name, case-insensitively. */
export function findCovariate(record: PatientRecord, names: readonly string[]): number | string | null {
  for (const [k, v] of Object.entries(record.covariates)) if (names.includes(k.toLowerCase())) return v;
  return null;
}

export function patientTimeline(record: PatientRecord, index: number): PatientTimeline {
  let start = ANCHOR_MS + (index % 3653) * DAY_MS + 8 * HOUR_MS;
  const admissions: AdmissionTimes[] = [];
  for (const adm of record.admissions) {
    const lastHours = adm.events.reduce((m, e) => Math.max(m, e.hours), 0);
    const end = start + Math.max(DAY_MS, Math.ceil(lastHours + 1) * HOUR_MS);
    admissions.push({ startMs: start, endMs: end });
    start = Math.ceil((end + 30 * DAY_MS) / HOUR_MS) * HOUR_MS;
  }
  const age = Number(findCovariate(record, ['age']));
  const first = admissions[0]?.startMs ?? ANCHOR_MS;
  const birthMs = Number.isFinite(age) && findCovariate(record, ['age']) !== null ? Math.round((first - age * YEAR_MS) / 1000) * 1000 : null;
  return { admissions, birthMs };
}

/** An event's calendar time, to the second (MIMIC's CHARTTIME resolution). */
export function eventTimeMs(admissionStartMs: number, hours: number): number {
  return admissionStartMs + Math.round(hours * 3600) * 1000;
}

/** "2150-01-01 08:00:00", MIMIC-III's and OMOP's datetime spelling (UTC, no zone). */
export function sqlDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** "2150-01-01" */
export function sqlDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** "2150-01-01T08:00:00Z", FHIR's dateTime/instant with a zone. */
export function fhirDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * Sex from a gender/sex covariate: "M"/"F" for strings starting with m/f (male, Female, ...);
 * PhysioNet 2012's numeric coding 1 = male, 0 = female; anything else unknown (null).
 */
export function sexOf(record: PatientRecord): 'M' | 'F' | null {
  const v = findCovariate(record, ['gender', 'sex']);
  if (typeof v === 'number') return v === 1 ? 'M' : v === 0 ? 'F' : null;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === '1' || s.startsWith('m')) return 'M';
    if (s === '0' || s.startsWith('f') || s.startsWith('w')) return 'F';
  }
  return null;
}

/** Splits "ICD9:4019" into its system and code; a code without a prefix has system "". */
export function splitCode(code: string): { system: string; value: string } {
  const i = code.indexOf(':');
  return i < 0 ? { system: '', value: code } : { system: code.slice(0, i), value: code.slice(i + 1) };
}

/** Procedure code systems are named with PROC (e.g. ICD9PROC, ICD9_PROC, ICD10PCS). */
export function isProcedureSystem(system: string): boolean {
  return /proc|pcs|cpt/i.test(system);
}

/** A label that says the patient died in hospital (in_hospital_death, hospital_expire_flag, mortality...). */
export function diedInHospital(record: PatientRecord): boolean {
  return Object.entries(record.labels).some(([k, v]) => /death|expire|mortality/i.test(k) && v === 1);
}
