import { join } from 'node:path';
import type { PatientRecord, Admission } from '../records/types.ts';
import { checkManifestCounts, labelNames, readManifest, type SyntheticManifest } from './manifest.ts';
import { checkIntegrity, readRecordTables, type ColumnInfo, type RecordTables } from './tables.ts';
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
  await checkIntegrity(tables);
  return { dir, manifest, tables };
}

/**
 * The tables joined back into canonical records (the exports are written from these). Covariate and
 * label columns are told apart by the role src/records/tables.ts writes in the Parquet metadata, else
 * by the manifest's data config, else by name (in_hospital_death, mortality, *_death, los* are labels).
 */
export async function recordsFromTables(src: SyntheticDir): Promise<PatientRecord[]> {
  const { tables } = src;
  const declared = labelNames(src.manifest);
  const isLabel = (c: ColumnInfo) => (c.role !== undefined ? c.role === 'label' : declared.size > 0 ? declared.has(c.name) : /death|mortality|^los/i.test(c.name));
  const byPatient = new Map<string, PatientRecord>();
  const records: PatientRecord[] = [];
  for await (const { columns } of tables.patients.batches()) {
    const pid = columns.find((c) => c.name === 'patient_id')!.values;
    const others = columns.filter((c) => c.name !== 'patient_id');
    for (let r = 0; r < pid.length; r++) {
      const rec: PatientRecord = { id: String(pid[r]), covariates: {}, labels: {}, admissions: [] };
      for (const c of others) {
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
  }
  const byAdmission = new Map<string, Admission>();
  const seqOf = new Map<Admission, number>();
  for await (const { columns: [aid, apid, aseq] } of tables.admissions.batches({ columns: ['admission_id', 'patient_id', 'seq'] })) {
    for (let r = 0; r < aid!.values.length; r++) {
      const adm: Admission = { id: String(aid!.values[r]), codes: [], events: [] };
      byAdmission.set(adm.id, adm);
      seqOf.set(adm, Number(aseq!.values[r]));
      byPatient.get(String(apid!.values[r]))!.admissions.push(adm);
    }
  }
  const codeRows: { adm: string; seq: number; code: string }[] = [];
  for await (const { columns: [cadm, cseq, ccode] } of tables.codes.batches({ columns: ['admission_id', 'seq', 'code'] })) {
    for (let r = 0; r < cadm!.values.length; r++) codeRows.push({ adm: String(cadm!.values[r]), seq: Number(cseq!.values[r]), code: String(ccode!.values[r]) });
  }
  codeRows.sort((a, b) => a.seq - b.seq);
  for (const c of codeRows) byAdmission.get(c.adm)!.codes.push(c.code);
  for await (const { start, columns: [eadm, ehours, evar, enum_, etext] } of tables.events.batches({ columns: ['admission_id', 'hours', 'variable', 'value_num', 'value_text'] })) {
    for (let r = 0; r < eadm!.values.length; r++) {
      const value = enum_!.values[r] !== null ? Number(enum_!.values[r]) : etext!.values[r];
      if (value === null || value === undefined) {
        throw new SynehrError('E_INPUT', `${join(src.dir, 'events.parquet')}: row ${start + r}: both value_num and value_text are null`);
      }
      byAdmission.get(String(eadm!.values[r]))!.events.push({ hours: Number(ehours!.values[r]), variable: String(evar!.values[r]), value: value as number | string });
    }
  }
  for (const rec of records) {
    rec.admissions.sort((a, b) => seqOf.get(a)! - seqOf.get(b)!);
    // stable sort: events at the same hour keep the order the table gave them
    for (const a of rec.admissions) a.events.sort((x, y) => x.hours - y.hours);
  }
  return records;
}
