import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import { CsvWriter } from './csvWriter.ts';
import { resolveItems } from './itemMap.ts';
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
 * admission index. Calendar times: see timeline.ts. Columns the records have nothing for are empty.
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

function careUnit(record: PatientRecord): string | null {
  const v = findCovariate(record, ['icutype', 'icu_type', 'first_careunit', 'careunit']);
  if (v === null) return null;
  return ICU_TYPES[String(v)] ?? String(v);
}

/** A number as MIMIC writes VALUE: the shortest exact decimal. */
function valueText(v: number | string): string {
  return typeof v === 'number' ? String(v) : v;
}

export async function exportMimic3(records: RecordSource, opts: ExportOptions): Promise<ExportReport> {
  await mkdir(opts.outDir, { recursive: true });
  const w = {} as Record<MimicTable, CsvWriter>;
  for (const name of Object.keys(HEADERS) as MimicTable[]) w[name] = new CsvWriter(join(opts.outDir, `${name}.csv`), HEADERS[name]);
  if (!opts.variables && !Array.isArray(records)) throw new Error('exportMimic3: streamed records need opts.variables');
  const variables = opts.variables ?? (records as PatientRecord[]).flatMap((r) => r.admissions.flatMap((a) => a.events.map((e) => e.variable)));
  const items = resolveItems(variables);
  const skippedSystems = new Map<string, number>();
  const units = opts.units ?? new Map<string, string>();
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
    const timeline = patientTimeline(rec, i);
    const died = diedInHospital(rec);
    const lastEnd = timeline.admissions.at(-1)?.endMs ?? null;
    const dod = died && lastEnd !== null ? sqlDateTime(lastEnd) : null;
    const unit = careUnit(rec);
    await w.PATIENTS.write([subjectId, subjectId, sexOf(rec), timeline.birthMs === null ? null : sqlDateTime(timeline.birthMs), dod, dod, null, died ? 1 : 0]);

    for (let k = 0; k < rec.admissions.length; k++) {
      const adm = rec.admissions[k]!;
      const { startMs, endMs } = timeline.admissions[k]!;
      const hadmId = FIRST_HADM_ID + hadmIndex;
      const icustayId = FIRST_ICUSTAY_ID + hadmIndex;
      hadmIndex++;
      const diesHere = died && k === rec.admissions.length - 1;
      await w.ADMISSIONS.write([hadmId, subjectId, hadmId, sqlDateTime(startMs), sqlDateTime(endMs), diesHere ? sqlDateTime(endMs) : null, null, null, diesHere ? 'DEAD/EXPIRED' : null, null, null, null, null, null, null, null, null, diesHere ? 1 : 0, adm.events.length > 0 ? 1 : 0]);
      const los = Math.round(((endMs - startMs) / 86_400_000) * 1e4) / 1e4;
      await w.ICUSTAYS.write([icustayId, subjectId, hadmId, icustayId, 'synehr', unit, unit, null, null, sqlDateTime(startMs), sqlDateTime(endMs), los]);
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
        if (proc) await w.PROCEDURES_ICD.write([++procRow, subjectId, hadmId, ++procSeq, value]);
        else await w.DIAGNOSES_ICD.write([++diagRow, subjectId, hadmId, ++diagSeq, value]);
      }

      for (const e of adm.events) {
        const item = items.get(e.variable)!;
        const time = sqlDateTime(eventTimeMs(startMs, e.hours));
        const num = typeof e.value === 'number' ? e.value : null;
        const uom = units.get(e.variable) ?? null;
        if (item.table === 'labevents') await w.LABEVENTS.write([++labRow, subjectId, hadmId, item.itemid, time, valueText(e.value), num, uom, null]);
        else if (item.table === 'outputevents') await w.OUTPUTEVENTS.write([++outRow, subjectId, hadmId, icustayId, time, item.itemid, num ?? valueText(e.value), uom, null, null, null, null, null]);
        else await w.CHARTEVENTS.write([++chartRow, subjectId, hadmId, icustayId, item.itemid, time, null, null, valueText(e.value), num, uom, null, null, null, null]);
      }
    }
  }

  let dRow = 0;
  let dLabRow = 0;
  for (const [variable, item] of [...items].sort((a, b) => a[1].itemid - b[1].itemid)) {
    if (item.table === 'labevents') await w.D_LABITEMS.write([++dLabRow, item.itemid, item.label, null, null, item.loinc ?? null]);
    else await w.D_ITEMS.write([++dRow, item.itemid, item.label, item.local ? variable : null, item.local ? 'synehr' : null, item.table, null, units.get(variable) ?? null, null, null]);
  }

  const files: Record<string, number> = {};
  for (const name of Object.keys(w) as MimicTable[]) {
    await w[name].close();
    files[`${name}.csv`] = w[name].rows;
  }
  const notes: string[] = [];
  for (const [system, n] of skippedSystems) notes.push(`${n} codes of system ${system} left out: DIAGNOSES_ICD and PROCEDURES_ICD hold ICD-9 codes only`);
  const local = [...items.values()].filter((i) => i.local);
  if (local.length > 0) notes.push(`${local.length} variables not in the MIMIC-III item map got local ITEMIDs from 900000 (see D_ITEMS.csv): ${local.map((i) => i.label).join(', ')}`);
  for (const n of notes) opts.log?.(n);
  return { format: 'mimic3', outDir: opts.outDir, files, notes };
}
