import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PatientRecord } from '../../src/records/types.ts';
import type { SqlSession } from '../../src/load/database.ts';
import { covariateNames, labelNames } from './fixtures.ts';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `synehr-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Reads the loaded tables back into records with plain SQL, independently of src/load's reader. */
export async function recordsFromDatabase(session: SqlSession, schema: string): Promise<PatientRecord[]> {
  const s = `"${schema}"`;
  const patients = await session.query(`SELECT * FROM ${s}.patients ORDER BY patient_id`);
  const admissions = await session.query(`SELECT admission_id, patient_id FROM ${s}.admissions ORDER BY patient_id, seq`);
  const codes = await session.query(`SELECT admission_id, code FROM ${s}.codes ORDER BY admission_id, seq`);
  const events = await session.query(`SELECT admission_id, hours, variable, value_num, value_text FROM ${s}.events ORDER BY event_id`);
  const byPatient = new Map<string, PatientRecord>();
  for (const p of patients) {
    const rec: PatientRecord = { id: String(p['patient_id']), covariates: {}, labels: {}, admissions: [] };
    for (const c of covariateNames) rec.covariates[c] = p[c] as number | string | null;
    for (const l of labelNames) rec.labels[l] = Number(p[l]);
    byPatient.set(rec.id, rec);
  }
  const byAdmission = new Map<string, PatientRecord['admissions'][number]>();
  for (const a of admissions) {
    const adm = { id: String(a['admission_id']), codes: [] as string[], events: [] as PatientRecord['admissions'][number]['events'] };
    byAdmission.set(adm.id, adm);
    byPatient.get(String(a['patient_id']))!.admissions.push(adm);
  }
  for (const c of codes) byAdmission.get(String(c['admission_id']))!.codes.push(String(c['code']));
  for (const e of events) {
    const value = e['value_num'] !== null ? Number(e['value_num']) : String(e['value_text']);
    byAdmission.get(String(e['admission_id']))!.events.push({ hours: Number(e['hours']), variable: String(e['variable']), value });
  }
  return [...byPatient.values()];
}

export function sortById(records: PatientRecord[]): PatientRecord[] {
  return [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export async function tableCounts(session: SqlSession, schema: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['patients', 'admissions', 'codes', 'events']) {
    out[t] = Number((await session.query(`SELECT count(*)::int AS n FROM "${schema}".${t}`))[0]!['n']);
  }
  return out;
}
