import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import { knownMimicItem } from './itemMap.ts';
import { UCUM_SYSTEM } from './units.ts';
import { codeBookOf, type VariableCodes } from './variableCodes.ts';
import { diedInHospital, eventTimeMs, fhirDateTime, isProcedureSystem, patientTimeline, sexOf, splitCode, sqlDate } from './timeline.ts';
import type { ExportOptions, ExportReport, RecordSource } from './exportTypes.ts';

/**
 * Synthetic records as FHIR R4 transaction Bundles, one patient per Bundle, one Bundle per line of
 * bundles.ndjson: a Patient, an Encounter per admission, a Condition per diagnosis code, a Procedure
 * per procedure code and an Observation per event. Entries reference each other by urn:uuid
 * fullUrls, which a server resolves when it processes the transaction; the uuids are derived from the
 * synthetic ids (name-based, SHA-1), so the same records always give the same Bundles.
 *
 * Posting a Bundle twice changes nothing the second time: every entry is a conditional create
 * (request.ifNoneExist) on an identifier of its own. Patient and Encounter are identified by the
 * synthetic patient and admission ids; a Condition, Procedure or Observation by its entry's uuid
 * (system urn:ietf:rfc:3986, value urn:uuid:..., FHIR's way of writing a URI as an identifier).
 *
 * Observations carry the variable's LOINC code where it has one (variableCodes.ts), a
 * valueQuantity with the unit as the data config writes it and its UCUM code (system
 * http://unitsofmeasure.org), and, for vital signs, the category and meta.profile of HL7's FHIR R4
 * vital-signs profiles (heart rate, respiratory rate, body temperature, weight, height, oxygen
 * saturation; the other vital-sign codes, such as systolic blood pressure alone, the base vitalsigns
 * profile).
 */

export const FHIR_SYSTEMS = {
  /** identifiers: the synthetic patient and admission ids */
  patientId: 'urn:synehr:patient-id',
  admissionId: 'urn:synehr:admission-id',
  icd9cm: 'http://hl7.org/fhir/sid/icd-9-cm',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  loinc: 'http://loinc.org',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  dataAbsentReason: 'http://terminology.hl7.org/CodeSystem/data-absent-reason',
  uri: 'urn:ietf:rfc:3986',
  ucum: UCUM_SYSTEM,
} as const;

const VITALS = 'http://hl7.org/fhir/StructureDefinition/';
/**
 * HL7's FHIR R4 vital-signs profiles by the LOINC code each fixes, with the UCUM units it allows
 * (profiles-others.json of the R4 definitions; value sets ucum-bodyweight, ucum-bodytemp,
 * ucum-bodylength). The rest of the vital-signs value set (observation-vitalsignresult) gets the
 * base profile.
 */
const VITAL_SIGN_PROFILES: Readonly<Record<string, { profile: string; units: readonly string[] }>> = {
  '8867-4': { profile: 'heartrate', units: ['/min'] },
  '9279-1': { profile: 'resprate', units: ['/min'] },
  '8310-5': { profile: 'bodytemp', units: ['Cel', '[degF]'] },
  '29463-7': { profile: 'bodyweight', units: ['kg', 'g', '[lb_av]'] },
  '8302-2': { profile: 'bodyheight', units: ['cm', '[in_i]'] },
  '9843-4': { profile: 'headcircum', units: ['cm', '[in_i]'] },
  '2708-6': { profile: 'oxygensat', units: ['%'] },
  '39156-5': { profile: 'bmi', units: ['kg/m2'] },
};
const VITAL_SIGN_CODES = new Set(['85353-1', '9279-1', '8867-4', '2708-6', '8310-5', '8302-2', '9843-4', '29463-7', '39156-5', '85354-9', '8480-6', '8462-4', '8478-0']);
/** LOINC's Glasgow coma score panel and its parts: assessments, "survey" in FHIR's categories */
const SURVEY_CODES = new Set(['9269-2', '9267-6', '9268-4', '9270-0']);

/** The profile an Observation of this code and unit meets, if it is a vital sign. */
export function vitalSignProfile(loinc: string | null, ucum: string | null): string | null {
  if (loinc === null || !VITAL_SIGN_CODES.has(loinc)) return null;
  const p = VITAL_SIGN_PROFILES[loinc];
  return p && ucum !== null && p.units.includes(ucum) ? VITALS + p.profile : VITALS + 'vitalsigns';
}

type Json = Record<string, unknown>;

export interface BundleEntry {
  fullUrl: string;
  resource: Json & { resourceType: string };
  request: { method: 'POST' | 'PUT'; url: string; ifNoneExist?: string };
}

export interface TransactionBundle {
  resourceType: 'Bundle';
  type: 'transaction';
  entry: BundleEntry[];
}

/** A name-based UUID (RFC 4122 version 5 layout over SHA-1) of a string. */
export function nameUuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** ICD-9-CM as FHIR writes it, with the dot: 4019 -> 401.9, E8889 -> E888.9; procedures 3961 -> 39.61. */
export function dottedIcd9(code: string, procedure: boolean): string {
  const head = procedure ? 2 : code.startsWith('E') ? 4 : 3;
  return code.length > head && !code.includes('.') ? `${code.slice(0, head)}.${code.slice(head)}` : code;
}

function codeConcept(code: string): Json {
  const { system, value } = splitCode(code);
  const proc = isProcedureSystem(system);
  const coding = /^icd-?9/i.test(system)
    ? [{ system: FHIR_SYSTEMS.icd9cm, code: dottedIcd9(value, proc) }]
    : /^icd-?10/i.test(system) && !proc
      ? [{ system: FHIR_SYSTEMS.icd10cm, code: value }]
      : undefined;
  // text keeps the code exactly as the record has it
  return coding ? { coding, text: code } : { text: code };
}

function observationValue(value: number | string, codes: VariableCodes): Json {
  if (typeof value === 'string') {
    // a FHIR string is never empty
    return value === '' ? { dataAbsentReason: { coding: [{ system: FHIR_SYSTEMS.dataAbsentReason, code: 'unknown' }], text: 'empty value' } } : { valueString: value };
  }
  if (!Number.isFinite(value)) {
    // JSON has no NaN or Infinity; FHIR says why the value is absent instead
    const code = Number.isNaN(value) ? 'not-a-number' : value > 0 ? 'positive-infinity' : 'negative-infinity';
    return { dataAbsentReason: { coding: [{ system: FHIR_SYSTEMS.dataAbsentReason, code }] } };
  }
  if (codes.ucum === null) return { valueQuantity: { value } };
  // Quantity.unit is for people: the data config's spelling, else the UCUM code itself
  return { valueQuantity: { value, unit: codes.unit ?? codes.ucum, system: FHIR_SYSTEMS.ucum, code: codes.ucum } };
}

/** A conditional create on an identifier: posting the entry again finds the resource instead. */
function conditionalPost(type: string, identifier: { system: string; value: string }): BundleEntry['request'] {
  return { method: 'POST', url: type, ifNoneExist: `identifier=${identifier.system}|${encodeURIComponent(identifier.value)}` };
}

/** One patient's transaction Bundle. `index` places the patient on the calendar (timeline.ts). */
export function patientBundle(rec: PatientRecord, index: number, codesOf: (variable: string) => VariableCodes = codeBookOf({})): TransactionBundle {
  const tl = patientTimeline(rec, index);
  const sex = sexOf(rec);
  const died = diedInHospital(rec);
  const lastEnd = tl.admissions.at(-1)?.endMs;
  const patientUrl = `urn:uuid:${nameUuid(`synehr:Patient:${rec.id}`)}`;
  const entry: BundleEntry[] = [];
  const patient: Json & { resourceType: string } = {
    resourceType: 'Patient',
    identifier: [{ system: FHIR_SYSTEMS.patientId, value: rec.id }],
    gender: sex === 'M' ? 'male' : sex === 'F' ? 'female' : 'unknown',
  };
  if (tl.birthMs !== null) patient['birthDate'] = sqlDate(tl.birthMs);
  if (died && lastEnd !== undefined) patient['deceasedDateTime'] = fhirDateTime(lastEnd);
  entry.push({ fullUrl: patientUrl, resource: patient, request: conditionalPost('Patient', { system: FHIR_SYSTEMS.patientId, value: rec.id }) });

  rec.admissions.forEach((adm, k) => {
    const { startMs, endMs } = tl.admissions[k]!;
    const encounterUrl = `urn:uuid:${nameUuid(`synehr:Encounter:${rec.id}:${adm.id}`)}`;
    const subject = { reference: patientUrl };
    const encounter = { reference: encounterUrl };
    const admissionIdentifier = { system: FHIR_SYSTEMS.admissionId, value: adm.id };
    entry.push({
      fullUrl: encounterUrl,
      resource: {
        resourceType: 'Encounter',
        identifier: [admissionIdentifier],
        status: 'finished',
        class: { system: FHIR_SYSTEMS.actCode, code: 'IMP', display: 'inpatient encounter' },
        subject,
        period: { start: fhirDateTime(startMs), end: fhirDateTime(endMs) },
      },
      request: conditionalPost('Encounter', admissionIdentifier),
    });
    adm.codes.forEach((code, j) => {
      const proc = isProcedureSystem(splitCode(code).system);
      const url = `urn:uuid:${nameUuid(`synehr:${proc ? 'Procedure' : 'Condition'}:${rec.id}:${adm.id}:${j}`)}`;
      const identifier = { system: FHIR_SYSTEMS.uri, value: url };
      const resource: Json & { resourceType: string } = proc
        ? { resourceType: 'Procedure', identifier: [identifier], status: 'completed', code: codeConcept(code), subject, encounter }
        : {
            resourceType: 'Condition',
            identifier: [identifier],
            category: [{ coding: [{ system: FHIR_SYSTEMS.conditionCategory, code: 'encounter-diagnosis' }] }],
            code: codeConcept(code),
            subject,
            encounter,
            recordedDate: fhirDateTime(startMs),
          };
      entry.push({ fullUrl: url, resource, request: conditionalPost(resource.resourceType, identifier) });
    });
    adm.events.forEach((e, j) => {
      const codes = codesOf(e.variable);
      const coding = codes.loinc ? [{ system: FHIR_SYSTEMS.loinc, code: codes.loinc }] : undefined;
      const profile = typeof e.value === 'number' ? vitalSignProfile(codes.loinc, codes.ucum) : null;
      const category = knownMimicItem(e.variable)?.table === 'labevents' ? 'laboratory' : codes.loinc && VITAL_SIGN_CODES.has(codes.loinc) ? 'vital-signs' : codes.loinc && SURVEY_CODES.has(codes.loinc) ? 'survey' : undefined;
      const url = `urn:uuid:${nameUuid(`synehr:Observation:${rec.id}:${adm.id}:${j}`)}`;
      const identifier = { system: FHIR_SYSTEMS.uri, value: url };
      entry.push({
        fullUrl: url,
        resource: {
          resourceType: 'Observation',
          ...(profile ? { meta: { profile: [profile] } } : {}),
          identifier: [identifier],
          status: 'final',
          ...(category ? { category: [{ coding: [{ system: FHIR_SYSTEMS.observationCategory, code: category }] }] } : {}),
          // text is the variable's name in the data config, exactly
          code: coding ? { coding, text: e.variable } : { text: e.variable },
          subject,
          encounter,
          effectiveDateTime: fhirDateTime(eventTimeMs(startMs, e.hours)),
          ...observationValue(e.value, codes),
        },
        request: conditionalPost('Observation', identifier),
      });
    });
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

/** Writes bundles.ndjson: one transaction Bundle per patient, one per line. */
export async function exportFhir(records: RecordSource, opts: ExportOptions): Promise<ExportReport> {
  await mkdir(opts.outDir, { recursive: true });
  const file = join(opts.outDir, 'bundles.ndjson');
  const out = createWriteStream(file);
  const counts: Record<string, number> = {};
  const codesOf = codeBookOf(opts);
  const noUnit = new Set<string>();
  let i = 0;
  for await (const rec of records) {
    const bundle = patientBundle(rec, i++, codesOf);
    for (const a of rec.admissions) for (const e of a.events) if (typeof e.value === 'number' && codesOf(e.variable).ucum === null) noUnit.add(e.variable);
    for (const e of bundle.entry) counts[e.resource.resourceType] = (counts[e.resource.resourceType] ?? 0) + 1;
    if (!out.write(JSON.stringify(bundle) + '\n')) await once(out, 'drain');
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const notes = [`resources: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`];
  if (noUnit.size > 0) notes.push(`${noUnit.size} numeric variables have no unit in the data config, so their Quantities carry no UCUM code: ${[...noUnit].sort().join(', ')} (give data.variables[].ucum)`);
  for (const n of notes.slice(1)) opts.log?.(n);
  return { format: 'fhir', outDir: opts.outDir, files: { 'bundles.ndjson': i }, notes };
}
