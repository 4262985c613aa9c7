import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import { CsvWriter } from './csvWriter.ts';
import { dottedIcd9 } from './fhir.ts';
import { athenaConcepts, shippedConcepts } from './omopConcepts.ts';
import { codeBookOf } from './variableCodes.ts';
import { diedInHospital, eventTimeMs, isProcedureSystem, patientTimeline, sexOf, splitCode, sqlDate, sqlDateTime } from './timeline.ts';
import type { ExportOptions, ExportReport, RecordSource } from './exportTypes.ts';

/**
 * Synthetic records as OMOP CDM 5.4 tables (CSV, one file per table, columns in the CDM's order):
 * person, observation_period, visit_occurrence (one per admission), condition_occurrence (diagnosis
 * codes), procedure_occurrence (procedure codes), measurement (every event) and death (patients
 * with an in-hospital-death label).
 *
 * Concept ids (omopConcepts.ts): measurement_concept_id from the variable's LOINC code and
 * unit_concept_id from its UCUM unit, through the source-to-concept map that ships with the data
 * configs (configs/omop/source_to_concept_map.csv, each id cited there); with `vocab=DIR`, through an
 * Athena download instead, which also maps ICD-9-CM / ICD-10-CM diagnoses and ICD-9 / ICD-10-PCS
 * procedures to their standard concepts along "Maps to" (condition_source_concept_id keeps the ICD
 * concept). Codes neither knows are 0, "No matching concept", as the CDM prescribes, never NULL.
 * Source values are the codes as their vocabularies write them (ICD-9-CM 401.9, procedure 39.61,
 * ICD-10-CM I25.10), so that a later mapping finds them. Fixed standard concepts:
 *   8507 MALE, 8532 FEMALE (Gender); 9201 Inpatient Visit (Visit);
 *   32817 EHR (Type Concept: the provenance of every row).
 * A categorical value that is a number (PhysioNet's MechVent "1") is also value_as_number.
 * cdm_source has one row saying what made the data.
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
  cdm_source: ['cdm_source_name', 'cdm_source_abbreviation', 'cdm_holder', 'source_description', 'source_documentation_reference', 'cdm_etl_reference', 'source_release_date', 'cdm_release_date', 'cdm_version', 'cdm_version_concept_id', 'vocabulary_version'],
} as const;

/** A record's code system as OMOP vocabulary_ids, with the code as those vocabularies write it. */
export function omopSourceCode(system: string, code: string): { vocabularies: string[]; code: string } {
  const proc = isProcedureSystem(system);
  if (/^icd-?9/i.test(system)) return { vocabularies: [proc ? 'ICD9Proc' : 'ICD9CM'], code: dottedIcd9(code, proc) };
  if (/^icd-?10/i.test(system)) {
    if (proc) return { vocabularies: ['ICD10PCS'], code };
    const dotted = code.length > 3 && !code.includes('.') ? `${code.slice(0, 3)}.${code.slice(3)}` : code;
    return { vocabularies: ['ICD10CM', 'ICD10'], code: dotted };
  }
  return { vocabularies: [], code };
}
type OmopTable = keyof typeof HEADERS;

function genderSourceValue(rec: PatientRecord): string | null {
  for (const [k, v] of Object.entries(rec.covariates)) if (/^(gender|sex)$/i.test(k)) return v === null ? null : String(v);
  return null;
}

export async function exportOmop(records: RecordSource, opts: ExportOptions): Promise<ExportReport> {
  await mkdir(opts.outDir, { recursive: true });
  const w = {} as Record<OmopTable, CsvWriter>;
  for (const name of Object.keys(HEADERS) as OmopTable[]) w[name] = new CsvWriter(join(opts.outDir, `${name}.csv`), HEADERS[name]);
  const codesOf = codeBookOf(opts);
  const concepts = opts.vocabDir ? await athenaConcepts(opts.vocabDir) : shippedConcepts();
  const mapCode = (code: string) => {
    const { system, value } = splitCode(code);
    const src = omopSourceCode(system, value);
    for (const v of src.vocabularies) {
      const m = concepts.map(v, src.code);
      if (m.source !== 0) return { ...m, sourceValue: src.code };
    }
    return { source: 0, standard: 0, sourceValue: src.code };
  };
  const conceptOfVariable = new Map<string, { measurement: number; unit: number }>();
  const variableConcepts = (v: string) => {
    let c = conceptOfVariable.get(v);
    if (!c) {
      const codes = codesOf(v);
      c = { measurement: codes.loinc ? concepts.map('LOINC', codes.loinc).standard : 0, unit: codes.ucum ? concepts.map('UCUM', codes.ucum).standard : 0 };
      conceptOfVariable.set(v, c);
    }
    return c;
  };
  let mapped = 0;
  let unmapped = 0;
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
        const c = mapCode(code);
        if (c.standard !== 0) mapped++;
        else unmapped++;
        if (isProcedureSystem(system)) {
          await w.procedure_occurrence.write([++procedureId, personId, c.standard, sqlDate(startMs), sqlDateTime(startMs), null, null, E, 0, null, null, visit, null, c.sourceValue, c.source, null]);
        } else {
          await w.condition_occurrence.write([++conditionId, personId, c.standard, sqlDate(startMs), sqlDateTime(startMs), sqlDate(endMs), sqlDateTime(endMs), E, 0, null, null, visit, null, c.sourceValue, c.source, null]);
        }
      }
      for (const e of adm.events) {
        const t = eventTimeMs(startMs, e.hours);
        // a categorical value that is a number ("1": on a ventilator) is that number too
        const num = typeof e.value === 'number' ? e.value : e.value.trim() !== '' && Number.isFinite(Number(e.value)) ? Number(e.value) : null;
        const vc = variableConcepts(e.variable);
        const codes = codesOf(e.variable);
        const unitSource = codes.unit ?? codes.ucum;
        await w.measurement.write([
          ++measurementId, personId, vc.measurement, sqlDate(t), sqlDateTime(t), sqlDateTime(t).slice(11), E, null, num,
          // a text value has no concept without a vocabulary of its answers: 0, as for any unmapped code
          typeof e.value === 'string' ? 0 : null,
          vc.unit, null, null, null, visit, null, e.variable.slice(0, 50), 0, unitSource?.slice(0, 50) ?? null, 0, String(e.value).slice(0, 50), null, null,
        ]);
      }
    }
  }

  const today = new Date().toISOString().slice(0, 10);
  await w.cdm_source.write([
    'synehr synthetic records', 'synehr', 'synehr', 'Synthetic patient records generated by synehr (a GPT trained on structured health records); no row describes a real person. Calendar dates are shifted to 2150 onwards.',
    null, null, today, today, 'CDM v5.4', concepts.cdmVersion, concepts.version,
  ]);
  const files: Record<string, number> = {};
  for (const name of Object.keys(w) as OmopTable[]) {
    await w[name].close();
    files[`${name}.csv`] = w[name].rows;
  }
  const unmappedVariables = [...conceptOfVariable].filter(([, c]) => c.measurement === 0).map(([v]) => v).sort();
  const notes = [
    `concepts from ${opts.vocabDir ? `the vocabulary in ${opts.vocabDir}` : 'configs/omop/source_to_concept_map.csv (no vocabulary given: codes of conditions and procedures are 0)'}: ${mapped} of ${mapped + unmapped} codes mapped, ${conceptOfVariable.size - unmappedVariables.length} of ${conceptOfVariable.size} variables`,
  ];
  if (unmappedVariables.length > 0) notes.push(`measurement_concept_id 0 for ${unmappedVariables.join(', ')}`);
  if (noBirth > 0) notes.push(`${noBirth} patients without an age covariate have an empty year_of_birth`);
  return { format: 'omop', outDir: opts.outDir, files, notes };
}
