import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import { SynehrError } from '../util/errors.ts';
import { CsvWriter } from './csvWriter.ts';
import { resolveItems, type MimicItem } from './itemMap.ts';
import { conversionFactor, scaled } from './units.ts';
import { codeBookOf } from './variableCodes.ts';
import { diedInHospital, eventTimeMs, findCovariate, isProcedureSystem, patientTimeline, sexOf, splitCode, sqlDateTime } from './timeline.ts';
import type { ExportOptions, ExportReport, RecordSource } from './exportTypes.ts';

/**
 * Synthetic records as MIMIC-III v1.4 tables (the column names and order of the real CSVs), so that
 * code written for MIMIC-III (mimic3-benchmarks, SynEHRgy's own preprocessing) runs on them:
 * PATIENTS, ADMISSIONS, ICUSTAYS (one ICU stay spanning each admission), DIAGNOSES_ICD and
 * PROCEDURES_ICD (ICD-9 codes; other systems are counted in the report's notes), CHARTEVENTS,
 * LABEVENTS and OUTPUTEVENTS (by the item map's LINKSTO), D_ITEMS and D_LABITEMS for the items used,
 * and SYNEHR_IDS, which ties the integer ids back to the synthetic ones.
 *
 * Ids: SUBJECT_ID = 1 + patient index, HADM_ID = 100000 + admission index, ICUSTAY_ID = 200000 +
 * admission index. Calendar times: see timeline.ts.
 *
 * The files load with mimic-code's own build (mimic-iii/buildmimic/postgres: create tables, \copy
 * ... CSV HEADER NULL '', constraints, indexes, checks, run with ON_ERROR_STOP). So every column its
 * schema declares NOT NULL is filled: from a covariate of the same name where the records have one
 * (admission_type, admission_location, discharge_location, insurance, ethnicity), else with MIMIC's
 * own spelling of "not recorded" where MIMIC has one (ETHNICITY 'UNKNOWN/NOT SPECIFIED',
 * ADMISSION_LOCATION '** INFO NOT AVAILABLE **') and 'UNKNOWN' otherwise (ADMISSION_TYPE, INSURANCE,
 * DISCHARGE_LOCATION of a survivor, a care unit, GENDER 'U' of a patient of unknown sex); ward ids,
 * which MIMIC numbers from 1, are 0: a synthetic stay was on no real ward. A value longer than
 * mimic-code's column is an error that names the patient, rather than a load that fails later.
 *
 * Values are filed under their MIMIC item in that item's unit (itemMap.ts): a value in another
 * unit is converted (UCUM, units.ts), e.g. PhysioNet's magnesium from mmol/L to MIMIC's mg/dL; a unit
 * that cannot be converted gets a local item instead. Items MIMIC charts as a score with text (GCS
 * eye, verbal, motor, total) have VALUENUM = the score, as mimic-code's GCS concept reads them.
 */

const HEADERS = {
  PATIENTS: ['ROW_ID', 'SUBJECT_ID', 'GENDER', 'DOB', 'DOD', 'DOD_HOSP', 'DOD_SSN', 'EXPIRE_FLAG'],
  ADMISSIONS: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ADMITTIME', 'DISCHTIME', 'DEATHTIME', 'ADMISSION_TYPE', 'ADMISSION_LOCATION', 'DISCHARGE_LOCATION', 'INSURANCE', 'LANGUAGE', 'RELIGION', 'MARITAL_STATUS', 'ETHNICITY', 'EDREGTIME', 'EDOUTTIME', 'DIAGNOSIS', 'HOSPITAL_EXPIRE_FLAG', 'HAS_CHARTEVENTS_DATA'],
  ICUSTAYS: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID', 'DBSOURCE', 'FIRST_CAREUNIT', 'LAST_CAREUNIT', 'FIRST_WARDID', 'LAST_WARDID', 'INTIME', 'OUTTIME', 'LOS'],
  DIAGNOSES_ICD: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'SEQ_NUM', 'ICD9_CODE'],
  PROCEDURES_ICD: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'SEQ_NUM', 'ICD9_CODE'],
  CHARTEVENTS: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID', 'ITEMID', 'CHARTTIME', 'STORETIME', 'CGID', 'VALUE', 'VALUENUM', 'VALUEUOM', 'WARNING', 'ERROR', 'RESULTSTATUS', 'STOPPED'],
  LABEVENTS: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ITEMID', 'CHARTTIME', 'VALUE', 'VALUENUM', 'VALUEUOM', 'FLAG'],
  OUTPUTEVENTS: ['ROW_ID', 'SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID', 'CHARTTIME', 'ITEMID', 'VALUE', 'VALUEUOM', 'STORETIME', 'CGID', 'STOPPED', 'NEWBOTTLE', 'ISERROR'],
  D_ITEMS: ['ROW_ID', 'ITEMID', 'LABEL', 'ABBREVIATION', 'DBSOURCE', 'LINKSTO', 'CATEGORY', 'UNITNAME', 'PARAM_TYPE', 'CONCEPTID'],
  D_LABITEMS: ['ROW_ID', 'ITEMID', 'LABEL', 'FLUID', 'CATEGORY', 'LOINC_CODE'],
  SYNEHR_IDS: ['SUBJECT_ID', 'HADM_ID', 'ICUSTAY_ID', 'PATIENT_ID', 'ADMISSION_ID'],
} as const;
type MimicTable = keyof typeof HEADERS;

export const FIRST_HADM_ID = 100_000;
export const FIRST_ICUSTAY_ID = 200_000;

/** PhysioNet 2012's ICUType (1-4 raw, or the names configs/data/physionet2012.yaml gives them), as MIMIC-III care units. */
const ICU_TYPES: Record<string, string> = {
  '1': 'CCU', '2': 'CSRU', '3': 'MICU', '4': 'SICU',
  coronary_care: 'CCU', cardiac_surgery_recovery: 'CSRU', medical: 'MICU', surgical: 'SICU',
};

function careUnit(record: PatientRecord): string {
  const v = findCovariate(record, ['icutype', 'icu_type', 'first_careunit', 'careunit']);
  if (v === null) return UNKNOWN;
  return ICU_TYPES[String(v)] ?? String(v);
}

const UNKNOWN = 'UNKNOWN';

/** An ADMISSIONS column from the covariate of that name, else the given "not recorded" spelling. */
function admissionField(record: PatientRecord, column: string, otherwise: string): string {
  const v = findCovariate(record, [column]);
  return v === null || v === '' ? otherwise : String(v);
}

/** Widths of mimic-code's VARCHAR columns that hold values from the records. */
const WIDTH: Readonly<Record<string, number>> = {
  'ADMISSIONS.ADMISSION_TYPE': 50, 'ADMISSIONS.ADMISSION_LOCATION': 50, 'ADMISSIONS.DISCHARGE_LOCATION': 50, 'ADMISSIONS.INSURANCE': 255, 'ADMISSIONS.ETHNICITY': 200,
  'ICUSTAYS.FIRST_CAREUNIT': 20, 'CHARTEVENTS.VALUE': 255, 'CHARTEVENTS.VALUEUOM': 50, 'LABEVENTS.VALUE': 200, 'LABEVENTS.VALUEUOM': 20, 'OUTPUTEVENTS.VALUEUOM': 30,
  'DIAGNOSES_ICD.ICD9_CODE': 10, 'PROCEDURES_ICD.ICD9_CODE': 10, 'D_ITEMS.LABEL': 200, 'D_ITEMS.ABBREVIATION': 100, 'D_ITEMS.UNITNAME': 100,
};

function fit<T extends string | null>(column: keyof typeof WIDTH & string, value: T, where: string): T {
  const width = WIDTH[column]!;
  if (value !== null && value.length > width) {
    throw new SynehrError('E_INPUT', `${where}: ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)} has ${value.length} characters; MIMIC-III's ${column} (mimic-code's schema) holds at most ${width}`);
  }
  return value;
}

/** The score a charted GCS text starts with: "4 Spontaneously" -> 4, "1.0 ET/Trach" -> 1. */
function leadingNumber(v: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)/.exec(v);
  return m ? Number(m[1]) : null;
}

/** A number as MIMIC writes VALUE: the shortest exact decimal. */
function valueText(v: number | string): string {
  return typeof v === 'number' ? String(v) : v;
}

/** How one variable is filed: its item, the unit written, and the factor to that unit. */
interface Filing {
  item: MimicItem & { local: boolean };
  uom: string | null;
  factor: number;
}

export async function exportMimic3(records: RecordSource, opts: ExportOptions): Promise<ExportReport> {
  await mkdir(opts.outDir, { recursive: true });
  const w = {} as Record<MimicTable, CsvWriter>;
  for (const name of Object.keys(HEADERS) as MimicTable[]) w[name] = new CsvWriter(join(opts.outDir, `${name}.csv`), HEADERS[name]);
  if (!opts.variables && !Array.isArray(records)) throw new Error('exportMimic3: streamed records need opts.variables');
  const variables = opts.variables ?? (records as PatientRecord[]).flatMap((r) => r.admissions.flatMap((a) => a.events.map((e) => e.variable)));
  const codesOf = codeBookOf(opts);
  const notes: string[] = [];
  const unconvertible: string[] = [];
  // a known item takes the variable when the variable's unit converts to the item's
  const factorOf = (v: string, item: MimicItem): number | null => {
    const ucum = codesOf(v).ucum;
    if (item.ucum === undefined || ucum === null) return 1;
    return conversionFactor(ucum, item.ucum, item);
  };
  const items = resolveItems(variables, (v, item) => {
    const ok = factorOf(v, item) !== null;
    if (!ok) unconvertible.push(`${v} (${codesOf(v).ucum} is not convertible to item ${item.itemid}'s ${item.ucum})`);
    return ok;
  });
  const filings = new Map<string, Filing>();
  for (const [v, item] of items) {
    const codes = codesOf(v);
    const factor = item.local ? 1 : factorOf(v, item)!;
    filings.set(v, { item, uom: item.local ? codes.unit ?? codes.ucum : item.uom ?? codes.unit, factor });
    if (factor !== 1) notes.push(`${v}: values converted from ${codes.ucum} to ${item.ucum} (x ${factor}), the unit of MIMIC item ${item.itemid} ${item.label}`);
  }
  if (unconvertible.length > 0) notes.push(`filed under local items because their unit differs from the MIMIC item's: ${unconvertible.join('; ')}`);
  const skippedSystems = new Map<string, number>();
  let unknownSex = 0;
  let noBirth = 0;
  let textOutputs = 0;
  let hadmIndex = 0;
  let chartRow = 0;
  let labRow = 0;
  let outRow = 0;
  let diagRow = 0;
  let procRow = 0;

  let i = -1;
  for await (const rec of records) {
    i++;
    const subjectId = i + 1;
    const where = `patient ${JSON.stringify(rec.id)}`;
    const timeline = patientTimeline(rec, i);
    const died = diedInHospital(rec);
    const lastEnd = timeline.admissions.at(-1)?.endMs ?? null;
    const dod = died && lastEnd !== null ? sqlDateTime(lastEnd) : null;
    const unit = fit('ICUSTAYS.FIRST_CAREUNIT', careUnit(rec), where);
    const sex = sexOf(rec);
    if (sex === null) unknownSex++;
    if (timeline.birthMs === null) noBirth++;
    await w.PATIENTS.write([subjectId, subjectId, sex ?? 'U', timeline.birthMs === null ? null : sqlDateTime(timeline.birthMs), dod, dod, null, died ? 1 : 0]);

    for (let k = 0; k < rec.admissions.length; k++) {
      const adm = rec.admissions[k]!;
      const { startMs, endMs } = timeline.admissions[k]!;
      const hadmId = FIRST_HADM_ID + hadmIndex;
      const icustayId = FIRST_ICUSTAY_ID + hadmIndex;
      hadmIndex++;
      const diesHere = died && k === rec.admissions.length - 1;
      await w.ADMISSIONS.write([
        hadmId, subjectId, hadmId, sqlDateTime(startMs), sqlDateTime(endMs), diesHere ? sqlDateTime(endMs) : null,
        fit('ADMISSIONS.ADMISSION_TYPE', admissionField(rec, 'admission_type', UNKNOWN), where),
        fit('ADMISSIONS.ADMISSION_LOCATION', admissionField(rec, 'admission_location', '** INFO NOT AVAILABLE **'), where),
        fit('ADMISSIONS.DISCHARGE_LOCATION', diesHere ? 'DEAD/EXPIRED' : admissionField(rec, 'discharge_location', UNKNOWN), where),
        fit('ADMISSIONS.INSURANCE', admissionField(rec, 'insurance', UNKNOWN), where),
        null, null, null,
        fit('ADMISSIONS.ETHNICITY', admissionField(rec, 'ethnicity', 'UNKNOWN/NOT SPECIFIED'), where),
        null, null, null, diesHere ? 1 : 0, adm.events.length > 0 ? 1 : 0,
      ]);
      const los = Math.round(((endMs - startMs) / 86_400_000) * 1e4) / 1e4;
      await w.ICUSTAYS.write([icustayId, subjectId, hadmId, icustayId, 'synehr', unit, unit, 0, 0, sqlDateTime(startMs), sqlDateTime(endMs), los]);
      await w.SYNEHR_IDS.write([subjectId, hadmId, icustayId, rec.id, adm.id]);

      let diagSeq = 0;
      let procSeq = 0;
      for (const code of adm.codes) {
        const { system, value } = splitCode(code);
        const proc = isProcedureSystem(system);
        if (!/^icd-?9/i.test(system)) {
          skippedSystems.set(system || '(none)', (skippedSystems.get(system || '(none)') ?? 0) + 1);
          continue;
        }
        if (proc) await w.PROCEDURES_ICD.write([++procRow, subjectId, hadmId, ++procSeq, fit('PROCEDURES_ICD.ICD9_CODE', value, where)]);
        else await w.DIAGNOSES_ICD.write([++diagRow, subjectId, hadmId, ++diagSeq, fit('DIAGNOSES_ICD.ICD9_CODE', value, where)]);
      }

      for (const e of adm.events) {
        const { item, uom, factor } = filings.get(e.variable)!;
        const time = sqlDateTime(eventTimeMs(startMs, e.hours));
        const num = typeof e.value === 'number' ? scaled(e.value, factor) : item.numericPrefix ? leadingNumber(e.value) : null;
        const text = typeof e.value === 'number' ? String(num) : e.value;
        if (item.table === 'labevents') await w.LABEVENTS.write([++labRow, subjectId, hadmId, item.itemid, time, fit('LABEVENTS.VALUE', text, where), num, fit('LABEVENTS.VALUEUOM', uom, where), null]);
        else if (item.table === 'outputevents') {
          // OUTPUTEVENTS.VALUE is a number in MIMIC-III: text cannot go there
          if (num === null) textOutputs++;
          await w.OUTPUTEVENTS.write([++outRow, subjectId, hadmId, icustayId, time, item.itemid, num, fit('OUTPUTEVENTS.VALUEUOM', uom, where), null, null, null, null, null]);
        } else await w.CHARTEVENTS.write([++chartRow, subjectId, hadmId, icustayId, item.itemid, time, null, null, fit('CHARTEVENTS.VALUE', text, where), num, fit('CHARTEVENTS.VALUEUOM', uom, where), null, null, null, null]);
      }
    }
  }

  let dRow = 0;
  let dLabRow = 0;
  for (const [variable, { item, uom }] of [...filings].sort((a, b) => a[1].item.itemid - b[1].item.itemid)) {
    const where = `variable ${JSON.stringify(variable)}`;
    if (item.table === 'labevents') await w.D_LABITEMS.write([++dLabRow, item.itemid, item.label, item.fluid ?? UNKNOWN, item.category ?? UNKNOWN, item.loinc ?? null]);
    else await w.D_ITEMS.write([++dRow, item.itemid, fit('D_ITEMS.LABEL', item.label, where), item.local ? fit('D_ITEMS.ABBREVIATION', variable, where) : null, item.local ? 'synehr' : null, item.table, null, fit('D_ITEMS.UNITNAME', uom, where), null, null]);
  }

  const files: Record<string, number> = {};
  for (const name of Object.keys(w) as MimicTable[]) {
    await w[name].close();
    files[`${name}.csv`] = w[name].rows;
  }
  for (const [system, n] of skippedSystems) notes.push(`${n} codes of system ${system} left out: DIAGNOSES_ICD and PROCEDURES_ICD hold ICD-9 codes only`);
  const local = [...items.values()].filter((i) => i.local);
  if (local.length > 0) notes.push(`${local.length} variables not in the MIMIC-III item map got local ITEMIDs from 900000 (see D_ITEMS.csv): ${local.map((i) => i.label).join(', ')}`);
  if (unknownSex > 0) notes.push(`${unknownSex} patients of unknown sex have GENDER 'U'`);
  if (noBirth > 0) notes.push(`${noBirth} patients without an age covariate have no DOB, which mimic-code's PATIENTS requires`);
  if (textOutputs > 0) notes.push(`${textOutputs} OUTPUTEVENTS rows had a text value, which MIMIC's numeric VALUE cannot hold: VALUE is empty`);
  for (const n of notes) opts.log?.(n);
  return { format: 'mimic3', outDir: opts.outDir, files, notes };
}
