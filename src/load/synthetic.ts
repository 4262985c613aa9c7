import { join } from 'node:path';
import type { PatientRecord, Admission } from '../records/types.ts';
import { checkManifestCounts, labelNames, readManifest, type SyntheticManifest } from './manifest.ts';
import { checkIntegrity, column, readRecordTables, type Column, type RecordTables } from './tables.ts';
import { SynehrError } from '../util/errors.ts';

/** A synthetic directory that passed the checks: its manifest (null if it has none) and its tables. */
export interface SyntheticDir {
  dir: string;
  manifest: SyntheticManifest | null;
  tables: RecordTables;
}

/**
 * Opens a directory of the four record tables and refuses it, with the reason, when its manifest is
 * broken, its counts disagree with the tables, or a key is duplicated or dangling.
 */
export async function openSyntheticDir(dir: string): Promise<SyntheticDir> {
  const manifest = await readManifest(dir);
  const tables = await readRecordTables(dir);
  if (manifest) checkManifestCounts(manifest, tables, dir);
  checkIntegrity(tables);
  return { dir, manifest, tables };
}

/**
 * The tables joined back into canonical records (the exports are written from these). Covariate and
 * label columns are told apart by the role src/records/tables.ts writes in the Parquet metadata, else
 * by the manifest's data config, else by name (in_hospital_death, mortality, *_death, los* are labels).
 */
export function recordsFromTables(src: SyntheticDir): PatientRecord[] {
  const { tables } = src;
  const declared = labelNames(src.manifest);
  const patientCols = tables.patients.columns.filter((c) => c.name !== 'patient_id');
  const isLabel = (c: Column) => (c.role !== undefined ? c.role === 'label' : declared.size > 0 ? declared.has(c.name) : /death|mortality|^los/i.test(c.name));
  const pid = column(tables.patients, 'patient_id').values;
  const byPatient = new Map<string, PatientRecord>();
  const records: PatientRecord[] = [];
  for (let r = 0; r < tables.patients.rowCount; r++) {
    const rec: PatientRecord = { id: String(pid[r]), covariates: {}, labels: {}, admissions: [] };
    for (const c of patientCols) {
      const v = c.values[r]!;
      if (isLabel(c)) {
        if (v !== null) rec.labels[c.name] = Number(v);
      } else {
        rec.covariates[c.name] = typeof v === 'boolean' ? Number(v) : v;
      }
    }
    byPatient.set(rec.id, rec);
    records.push(rec);
  }
  const aid = column(tables.admissions, 'admission_id').values;
  const apid = column(tables.admissions, 'patient_id').values;
  const aseq = column(tables.admissions, 'seq').values;
  const byAdmission = new Map<string, Admission>();
  const seqOf = new Map<Admission, number>();
  for (let r = 0; r < tables.admissions.rowCount; r++) {
    const adm: Admission = { id: String(aid[r]), codes: [], events: [] };
    byAdmission.set(adm.id, adm);
    seqOf.set(adm, Number(aseq[r] ?? r));
    byPatient.get(String(apid[r]))!.admissions.push(adm);
  }
  const codeRows: { adm: string; seq: number; code: string }[] = [];
  const cadm = column(tables.codes, 'admission_id').values;
  const cseq = column(tables.codes, 'seq').values;
  const ccode = column(tables.codes, 'code').values;
  for (let r = 0; r < tables.codes.rowCount; r++) codeRows.push({ adm: String(cadm[r]), seq: Number(cseq[r]), code: String(ccode[r]) });
  codeRows.sort((a, b) => a.seq - b.seq);
  for (const c of codeRows) byAdmission.get(c.adm)!.codes.push(c.code);
  const eadm = column(tables.events, 'admission_id').values;
  const ehours = column(tables.events, 'hours').values;
  const evar = column(tables.events, 'variable').values;
  const enum_ = column(tables.events, 'value_num').values;
  const etext = column(tables.events, 'value_text').values;
  for (let r = 0; r < tables.events.rowCount; r++) {
    const value = enum_[r] !== null ? Number(enum_[r]) : etext[r];
    if (value === null || value === undefined) {
      throw new SynehrError('E_INPUT', `${join(src.dir, 'events.parquet')}: row ${r}: both value_num and value_text are null`);
    }
    byAdmission.get(String(eadm[r]))!.events.push({ hours: Number(ehours[r]), variable: String(evar[r]), value: value as number | string });
  }
  for (const rec of records) {
    rec.admissions.sort((a, b) => seqOf.get(a)! - seqOf.get(b)!);
    // stable sort: events at the same hour keep the order the table gave them
    for (const a of rec.admissions) a.events.sort((x, y) => x.hours - y.hours);
  }
  return records;
}
