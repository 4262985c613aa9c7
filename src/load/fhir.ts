import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import { knownMimicItem } from './itemMap.ts';
import { diedInHospital, eventTimeMs, fhirDateTime, isProcedureSystem, patientTimeline, sexOf, splitCode, sqlDate } from './timeline.ts';
import type { ExportOptions, ExportReport, RecordSource } from './exportTypes.ts';

/**
 * Synthetic records as FHIR R4 transaction Bundles, one patient per Bundle, one Bundle per line of
 * bundles.ndjson: a Patient, an Encounter per admission, a Condition per diagnosis code, a Procedure
 * per procedure code and an Observation per event. Entries reference each other by urn:uuid
 * fullUrls, which a server resolves when it processes the transaction; the uuids are derived from the
 * synthetic ids (name-based, SHA-1), so the same records always give the same Bundles. The Patient is
 * a conditional create on its identifier, so posting the same Bundle twice creates it once.
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
} as const;

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

function observationValue(value: number | string, unit: string | undefined): Json {
  if (typeof value === 'string') {
    // a FHIR string is never empty
    return value === '' ? { dataAbsentReason: { coding: [{ system: FHIR_SYSTEMS.dataAbsentReason, code: 'unknown' }], text: 'empty value' } } : { valueString: value };
  }
  if (!Number.isFinite(value)) {
    // JSON has no NaN or Infinity; FHIR says why the value is absent instead
    const code = Number.isNaN(value) ? 'not-a-number' : value > 0 ? 'positive-infinity' : 'negative-infinity';
    return { dataAbsentReason: { coding: [{ system: FHIR_SYSTEMS.dataAbsentReason, code }] } };
  }
  return { valueQuantity: unit ? { value, unit } : { value } };
}

/** One patient's transaction Bundle. `index` places the patient on the calendar (timeline.ts). */
export function patientBundle(rec: PatientRecord, index: number, units: ReadonlyMap<string, string> = new Map()): TransactionBundle {
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
  entry.push({
    fullUrl: patientUrl,
    resource: patient,
    request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${FHIR_SYSTEMS.patientId}|${encodeURIComponent(rec.id)}` },
  });

  rec.admissions.forEach((adm, k) => {
    const { startMs, endMs } = tl.admissions[k]!;
    const encounterUrl = `urn:uuid:${nameUuid(`synehr:Encounter:${rec.id}:${adm.id}`)}`;
    const subject = { reference: patientUrl };
    const encounter = { reference: encounterUrl };
    entry.push({
      fullUrl: encounterUrl,
      resource: {
        resourceType: 'Encounter',
        identifier: [{ system: FHIR_SYSTEMS.admissionId, value: adm.id }],
        status: 'finished',
        class: { system: FHIR_SYSTEMS.actCode, code: 'IMP', display: 'inpatient encounter' },
        subject,
        period: { start: fhirDateTime(startMs), end: fhirDateTime(endMs) },
      },
      request: { method: 'POST', url: 'Encounter' },
    });
    adm.codes.forEach((code, j) => {
      const proc = isProcedureSystem(splitCode(code).system);
      const url = `urn:uuid:${nameUuid(`synehr:${proc ? 'Procedure' : 'Condition'}:${rec.id}:${adm.id}:${j}`)}`;
      const resource: Json & { resourceType: string } = proc
        ? { resourceType: 'Procedure', status: 'completed', code: codeConcept(code), subject, encounter }
        : {
            resourceType: 'Condition',
            category: [{ coding: [{ system: FHIR_SYSTEMS.conditionCategory, code: 'encounter-diagnosis' }] }],
            code: codeConcept(code),
            subject,
            encounter,
            recordedDate: fhirDateTime(startMs),
          };
      entry.push({ fullUrl: url, resource, request: { method: 'POST', url: resource.resourceType } });
    });
    adm.events.forEach((e, j) => {
      const item = knownMimicItem(e.variable);
      const coding = item?.loinc ? [{ system: FHIR_SYSTEMS.loinc, code: item.loinc }] : undefined;
      const category = item?.table === 'labevents' ? 'laboratory' : item?.loinc ? 'vital-signs' : undefined;
      entry.push({
        fullUrl: `urn:uuid:${nameUuid(`synehr:Observation:${rec.id}:${adm.id}:${j}`)}`,
        resource: {
          resourceType: 'Observation',
          status: 'final',
          ...(category ? { category: [{ coding: [{ system: FHIR_SYSTEMS.observationCategory, code: category }] }] } : {}),
          // text is the variable's name in the data config, exactly
          code: coding ? { coding, text: e.variable } : { text: e.variable },
          subject,
          encounter,
          effectiveDateTime: fhirDateTime(eventTimeMs(startMs, e.hours)),
          ...observationValue(e.value, units.get(e.variable)),
        },
        request: { method: 'POST', url: 'Observation' },
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
  let i = 0;
  for await (const rec of records) {
    const bundle = patientBundle(rec, i++, opts.units);
    for (const e of bundle.entry) counts[e.resource.resourceType] = (counts[e.resource.resourceType] ?? 0) + 1;
    if (!out.write(JSON.stringify(bundle) + '\n')) await once(out, 'drain');
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const notes = [`resources: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`];
  return { format: 'fhir', outDir: opts.outDir, files: { 'bundles.ndjson': i }, notes };
}
