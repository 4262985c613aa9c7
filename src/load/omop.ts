import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import { CsvWriter } from './csvWriter.ts';
import { diedInHospital, eventTimeMs, isProcedureSystem, patientTimeline, sexOf, splitCode, sqlDate, sqlDateTime } from './timeline.ts';
import type { ExportOptions, ExportReport, RecordSource } from './exportTypes.ts';

/**
 * Synthetic records as OMOP CDM 5.4 tables (CSV, one file per table, columns in the CDM's order):
 * person, observation_period, visit_occurrence (one per admission), condition_occurrence (diagnosis
 * codes), procedure_occurrence (procedure codes), measurement (every event) and death (patients
 * with an in-hospital-death label).
 *
 * Concept ids. No OMOP vocabulary ships with synehr, so every *_concept_id that needs a lookup
 * (conditions, procedures, measurements, units, values, races) is 0, "No matching concept", as the
 * CDM prescribes for unmapped source codes, and the *_source_value columns keep the original
 * codes and names exactly ("ICD9:4019", "HR"), so a user's vocabulary mapping can fill them later.
 * Only these fixed standard concepts are used:
 *   8507 MALE, 8532 FEMALE (Gender); 9201 Inpatient Visit (Visit);
 *   32817 EHR (Type Concept: the provenance of every row).
 * Ids are integers from 1 in record order; calendar times as in timeline.ts.
 */

export const CONCEPT = {
  male: 8507,
  female: 8532,
  inpatientVisit: 9201,
  ehr: 32817,
  noMatchingConcept: 0,
} as const;

const HEADERS = {
  person: ['person_id', 'gender_concept_id', 'year_of_birth', 'month_of_birth', 'day_of_birth', 'birth_datetime', 'race_concept_id', 'ethnicity_concept_id', 'location_id', 'provider_id', 'care_site_id', 'person_source_value', 'gender_source_value', 'gender_source_concept_id', 'race_source_value', 'race_source_concept_id', 'ethnicity_source_value', 'ethnicity_source_concept_id'],
  observation_period: ['observation_period_id', 'person_id', 'observation_period_start_date', 'observation_period_end_date', 'period_type_concept_id'],
  visit_occurrence: ['visit_occurrence_id', 'person_id', 'visit_concept_id', 'visit_start_date', 'visit_start_datetime', 'visit_end_date', 'visit_end_datetime', 'visit_type_concept_id', 'provider_id', 'care_site_id', 'visit_source_value', 'visit_source_concept_id', 'admitted_from_concept_id', 'admitted_from_source_value', 'discharged_to_concept_id', 'discharged_to_source_value', 'preceding_visit_occurrence_id'],
  condition_occurrence: ['condition_occurrence_id', 'person_id', 'condition_concept_id', 'condition_start_date', 'condition_start_datetime', 'condition_end_date', 'condition_end_datetime', 'condition_type_concept_id', 'condition_status_concept_id', 'stop_reason', 'provider_id', 'visit_occurrence_id', 'visit_detail_id', 'condition_source_value', 'condition_source_concept_id', 'condition_status_source_value'],
  procedure_occurrence: ['procedure_occurrence_id', 'person_id', 'procedure_concept_id', 'procedure_date', 'procedure_datetime', 'procedure_end_date', 'procedure_end_datetime', 'procedure_type_concept_id', 'modifier_concept_id', 'quantity', 'provider_id', 'visit_occurrence_id', 'visit_detail_id', 'procedure_source_value', 'procedure_source_concept_id', 'modifier_source_value'],
  measurement: ['measurement_id', 'person_id', 'measurement_concept_id', 'measurement_date', 'measurement_datetime', 'measurement_time', 'measurement_type_concept_id', 'operator_concept_id', 'value_as_number', 'value_as_concept_id', 'unit_concept_id', 'range_low', 'range_high', 'provider_id', 'visit_occurrence_id', 'visit_detail_id', 'measurement_source_value', 'measurement_source_concept_id', 'unit_source_value', 'unit_source_concept_id', 'value_source_value', 'measurement_event_id', 'meas_event_field_concept_id'],
  death: ['person_id', 'death_date', 'death_datetime', 'death_type_concept_id', 'cause_concept_id', 'cause_source_value', 'cause_source_concept_id'],
} as const;
type OmopTable = keyof typeof HEADERS;

function genderSourceValue(rec: PatientRecord): string | null {
  for (const [k, v] of Object.entries(rec.covariates)) if (/^(gender|sex)$/i.test(k)) return v === null ? null : String(v);
  return null;
}

export async function exportOmop(records: RecordSource, opts: ExportOptions): Promise<ExportReport> {
  await mkdir(opts.outDir, { recursive: true });
  const w = {} as Record<OmopTable, CsvWriter>;
  for (const name of Object.keys(HEADERS) as OmopTable[]) w[name] = new CsvWriter(join(opts.outDir, `${name}.csv`), HEADERS[name]);
  const units = opts.units ?? new Map<string, string>();
  const E = CONCEPT.ehr;
  let visitId = 0;
  let conditionId = 0;
  let procedureId = 0;
  let measurementId = 0;

  let i = -1;
  let noBirth = 0;
  for await (const rec of records) {
    i++;
    const personId = i + 1;
    const tl = patientTimeline(rec, i);
    if (tl.birthMs === null) noBirth++;
    const sex = sexOf(rec);
    const birth = tl.birthMs === null ? null : new Date(tl.birthMs);
    await w.person.write([
      personId, sex === 'M' ? CONCEPT.male : sex === 'F' ? CONCEPT.female : 0,
      // year_of_birth is required by the CDM; without an age covariate it cannot be known, so it stays empty
      birth?.getUTCFullYear() ?? null, birth ? birth.getUTCMonth() + 1 : null, birth?.getUTCDate() ?? null, birth ? sqlDateTime(birth.getTime()) : null,
      0, 0, null, null, null, rec.id, genderSourceValue(rec), 0, null, 0, null, 0,
    ]);
    const first = tl.admissions[0];
    const last = tl.admissions.at(-1);
    if (first && last) await w.observation_period.write([personId, personId, sqlDate(first.startMs), sqlDate(last.endMs), E]);
    if (diedInHospital(rec) && last) await w.death.write([personId, sqlDate(last.endMs), sqlDateTime(last.endMs), E, 0, null, 0]);

    let preceding: number | null = null;
    for (let k = 0; k < rec.admissions.length; k++) {
      const adm = rec.admissions[k]!;
      const { startMs, endMs } = tl.admissions[k]!;
      const visit = ++visitId;
      await w.visit_occurrence.write([visit, personId, CONCEPT.inpatientVisit, sqlDate(startMs), sqlDateTime(startMs), sqlDate(endMs), sqlDateTime(endMs), E, null, null, adm.id, 0, 0, null, 0, null, preceding]);
      preceding = visit;
      for (const code of adm.codes) {
        const { system } = splitCode(code);
        if (isProcedureSystem(system)) {
          await w.procedure_occurrence.write([++procedureId, personId, 0, sqlDate(startMs), sqlDateTime(startMs), null, null, E, 0, null, null, visit, null, code, 0, null]);
        } else {
          await w.condition_occurrence.write([++conditionId, personId, 0, sqlDate(startMs), sqlDateTime(startMs), sqlDate(endMs), sqlDateTime(endMs), E, 0, null, null, visit, null, code, 0, null]);
        }
      }
      for (const e of adm.events) {
        const t = eventTimeMs(startMs, e.hours);
        const num = typeof e.value === 'number' ? e.value : null;
        await w.measurement.write([++measurementId, personId, 0, sqlDate(t), sqlDateTime(t), sqlDateTime(t).slice(11), E, null, num, null, null, null, null, null, visit, null, e.variable, 0, units.get(e.variable) ?? null, null, String(e.value), null, null]);
      }
    }
  }

  const files: Record<string, number> = {};
  for (const name of Object.keys(w) as OmopTable[]) {
    await w[name].close();
    files[`${name}.csv`] = w[name].rows;
  }
  const notes = ['concept ids are 0 (no vocabulary at hand) except gender 8507/8532, visit 9201 and type 32817; *_source_value keep the original codes'];
  if (noBirth > 0) notes.push(`${noBirth} patients without an age covariate have an empty year_of_birth`);
  return { format: 'omop', outDir: opts.outDir, files, notes };
}
