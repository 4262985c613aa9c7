/**
 * The one reader of the four record tables back into PatientRecords (the inverse of
 * writeRecordTables): admissions in `seq` order, codes in `seq` order, events sorted by hours (ties
 * keep file order). `streamRecords` yields one patient at a time; `readRecords` collects it.
 *
 * Tables that synehr wrote are grouped by patient (schema.ts LAYOUT_KEY) and stream with one row
 * group per table in memory. Tables from elsewhere are checked for that order first (a pass over
 * their key columns); when they are not grouped they are joined in memory, and `log` says so.
 * Which patients columns are covariates and which labels comes from the data config when one is
 * given, else from the files' metadata (schema.ts patientColumnRoles), never from column names.
 */
import type { DataConfig } from './dataConfig.ts';
import type { Admission, PatientRecord } from './types.ts';
import { SynehrError } from '../util/errors.ts';
import { openRecordTables, type CellValue, type RecordTable, type RecordTables } from './parquet.ts';
import { patientColumnRoles, TABLE_NAMES } from './schema.ts';

export interface ReadRecordsOptions {
  /** the data config: roles of the patients columns; its covariates and labels must be there */
  data?: DataConfig;
  /** keep only these patient ids */
  ids?: ReadonlySet<string>;
  /** told when the tables are not grouped by patient and are joined in memory */
  log?: (message: string) => void;
}

/** A table's rows with one row of look-ahead, a batch (a row group) decoded at a time. */
class Cursor {
  private cols: CellValue[][] = [];
  private i = 0;
  private n = 0;
  /** the row number (from 0) of the current row in the file */
  row = -1;
  private readonly it: AsyncGenerator<{ start: number; columns: { values: CellValue[] }[] }>;
  constructor(
    readonly table: RecordTable,
    columns: readonly string[],
  ) {
    this.it = table.batches({ columns });
  }
  /** Whether there is a current row (decoding the next batch when needed). */
  async more(): Promise<boolean> {
    while (this.i >= this.n) {
      const b = await this.it.next();
      if (b.done) return false;
      this.cols = b.value.columns.map((c) => c.values);
      this.i = 0;
      this.n = this.cols[0]!.length;
      this.row = b.value.start;
    }
    return true;
  }
  cell(j: number): CellValue {
    return this.cols[j]![this.i]!;
  }
  take(): void {
    this.i++;
    this.row++;
  }
}

function eventValue(table: RecordTable, row: number, num: CellValue, text: CellValue): number | string {
  if (num !== null) return Number(num);
  if (text === null) throw new SynehrError('E_INPUT', `${table.file}: row ${row}: both value_num and value_text are null`);
  return String(text);
}

function patientRecord(id: string, names: readonly string[], roles: Map<string, 'covariate' | 'label'>, cell: (j: number) => CellValue): PatientRecord {
  const rec: PatientRecord = { id, covariates: {}, labels: {}, admissions: [] };
  names.forEach((n, j) => {
    const v = cell(1 + j);
    if (roles.get(n) === 'label') {
      if (v !== null) rec.labels[n] = Number(v);
    } else rec.covariates[n] = typeof v === 'boolean' ? Number(v) : v;
  });
  return rec;
}

/** Whether the tables are grouped by patient in patient order, from their key columns alone. */
async function isGrouped(tables: RecordTables): Promise<boolean> {
  const patientOrd = new Map<string, number>();
  for await (const { columns } of tables.patients.batches({ columns: ['patient_id'] })) for (const v of columns[0]!.values) patientOrd.set(String(v), patientOrd.size);
  const admissionOrd = new Map<string, number>();
  let last = -1;
  let grouped = true;
  for await (const { columns } of tables.admissions.batches({ columns: ['admission_id', 'patient_id'] })) {
    const [aid, pid] = [columns[0]!.values, columns[1]!.values];
    for (let r = 0; r < aid.length; r++) {
      const o = patientOrd.get(String(pid[r])) ?? -1;
      if (o < last) grouped = false;
      last = o;
      admissionOrd.set(String(aid[r]), admissionOrd.size);
    }
  }
  for (const child of [tables.codes, tables.events]) {
    last = -1;
    for await (const { columns } of child.batches({ columns: ['admission_id'] })) {
      for (const v of columns[0]!.values) {
        const o = admissionOrd.get(String(v)) ?? -1;
        if (o < last) grouped = false;
        last = o;
      }
    }
  }
  return grouped;
}

async function* streamGrouped(tables: RecordTables, names: readonly string[], roles: Map<string, 'covariate' | 'label'>, ids?: ReadonlySet<string>): AsyncGenerator<PatientRecord> {
  const patients = new Cursor(tables.patients, ['patient_id', ...names]);
  const admissions = new Cursor(tables.admissions, ['admission_id', 'patient_id', 'seq']);
  const codes = new Cursor(tables.codes, ['admission_id', 'seq', 'code']);
  const events = new Cursor(tables.events, ['admission_id', 'hours', 'variable', 'value_num', 'value_text']);
  while (await patients.more()) {
    const rec = patientRecord(String(patients.cell(0)), names, roles, (j) => patients.cell(j));
    patients.take();
    const seqOf = new Map<Admission, number>();
    while ((await admissions.more()) && String(admissions.cell(1)) === rec.id) {
      const adm: Admission = { id: String(admissions.cell(0)), codes: [], events: [] };
      seqOf.set(adm, Number(admissions.cell(2)));
      admissions.take();
      const codeRows: [number, string][] = [];
      while ((await codes.more()) && String(codes.cell(0)) === adm.id) {
        codeRows.push([Number(codes.cell(1)), String(codes.cell(2))]);
        codes.take();
      }
      adm.codes = codeRows.sort((x, y) => x[0] - y[0]).map((c) => c[1]);
      let sorted = true;
      while ((await events.more()) && String(events.cell(0)) === adm.id) {
        const hours = Number(events.cell(1));
        if (adm.events.length > 0 && hours < adm.events[adm.events.length - 1]!.hours) sorted = false;
        adm.events.push({ hours, variable: String(events.cell(2)), value: eventValue(tables.events, events.row, events.cell(3), events.cell(4)) });
        events.take();
      }
      // stable: events at the same hour keep the order the table gave them
      if (!sorted) adm.events.sort((x, y) => x.hours - y.hours);
      rec.admissions.push(adm);
    }
    rec.admissions.sort((x, y) => seqOf.get(x)! - seqOf.get(y)!);
    if (!ids || ids.has(rec.id)) yield rec;
  }
  for (const c of [admissions, codes, events]) {
    if (await c.more()) {
      throw new SynehrError(
        'E_INPUT',
        `${c.table.file}: row ${c.row} (admission ${String(c.cell(0))}) is out of order or has no parent: a table written as grouped by patient is not (damaged, or edited by hand)`,
      );
    }
  }
}

async function* joinInMemory(tables: RecordTables, names: readonly string[], roles: Map<string, 'covariate' | 'label'>, ids?: ReadonlySet<string>): AsyncGenerator<PatientRecord> {
  const byPatient = new Map<string, PatientRecord>();
  const records: PatientRecord[] = [];
  for await (const { columns } of tables.patients.batches({ columns: ['patient_id', ...names] })) {
    for (let r = 0; r < columns[0]!.values.length; r++) {
      const rec = patientRecord(String(columns[0]!.values[r]), names, roles, (j) => columns[j]!.values[r]!);
      byPatient.set(rec.id, rec);
      records.push(rec);
    }
  }
  const orphan = (t: RecordTable, row: number, key: string, v: CellValue, parent: RecordTable) =>
    new SynehrError('E_INPUT', `${t.file}: row ${row}: ${key} ${JSON.stringify(v)} is not in ${parent.file}`);
  const byAdmission = new Map<string, Admission>();
  const seqOf = new Map<Admission, number>();
  for await (const { start, columns: [aid, apid, aseq] } of tables.admissions.batches({ columns: ['admission_id', 'patient_id', 'seq'] })) {
    for (let r = 0; r < aid!.values.length; r++) {
      const p = byPatient.get(String(apid!.values[r]));
      if (!p) throw orphan(tables.admissions, start + r, 'patient_id', apid!.values[r]!, tables.patients);
      const adm: Admission = { id: String(aid!.values[r]), codes: [], events: [] };
      byAdmission.set(adm.id, adm);
      seqOf.set(adm, Number(aseq!.values[r]));
      p.admissions.push(adm);
    }
  }
  const codeRows: { adm: Admission; seq: number; code: string }[] = [];
  for await (const { start, columns: [cadm, cseq, ccode] } of tables.codes.batches({ columns: ['admission_id', 'seq', 'code'] })) {
    for (let r = 0; r < cadm!.values.length; r++) {
      const adm = byAdmission.get(String(cadm!.values[r]));
      if (!adm) throw orphan(tables.codes, start + r, 'admission_id', cadm!.values[r]!, tables.admissions);
      codeRows.push({ adm, seq: Number(cseq!.values[r]), code: String(ccode!.values[r]) });
    }
  }
  codeRows.sort((a, b) => a.seq - b.seq);
  for (const c of codeRows) c.adm.codes.push(c.code);
  for await (const { start, columns: [eadm, ehours, evar, enum_, etext] } of tables.events.batches({ columns: ['admission_id', 'hours', 'variable', 'value_num', 'value_text'] })) {
    for (let r = 0; r < eadm!.values.length; r++) {
      const adm = byAdmission.get(String(eadm!.values[r]));
      if (!adm) throw orphan(tables.events, start + r, 'admission_id', eadm!.values[r]!, tables.admissions);
      adm.events.push({ hours: Number(ehours!.values[r]), variable: String(evar!.values[r]), value: eventValue(tables.events, start + r, enum_!.values[r]!, etext!.values[r]!) });
    }
  }
  for (const rec of records) {
    rec.admissions.sort((a, b) => seqOf.get(a)! - seqOf.get(b)!);
    for (const a of rec.admissions) a.events.sort((x, y) => x.hours - y.hours);
    if (!ids || ids.has(rec.id)) yield rec;
  }
}

/** Records from a folder of the four Parquet tables (or tables already opened), one patient at a time. */
export async function* streamRecords(from: string | RecordTables, opts: ReadRecordsOptions = {}): AsyncGenerator<PatientRecord> {
  const tables = typeof from === 'string' ? await openRecordTables(from) : from;
  const roles = patientColumnRoles(tables.patients.file, tables.patients.columns, opts.data);
  const names = tables.patients.columns.map((c) => c.name).filter((n) => n !== 'patient_id');
  const written = TABLE_NAMES.every((t) => tables[t].grouped);
  if (written || (await isGrouped(tables))) {
    yield* streamGrouped(tables, names, roles, opts.ids);
  } else {
    opts.log?.(`${tables.patients.file}: the tables are not grouped by patient; reading every record into memory first`);
    yield* joinInMemory(tables, names, roles, opts.ids);
  }
}

/** Every record of a folder of the four Parquet tables (streamRecords, collected). */
export async function readRecords(from: string | RecordTables, opts: ReadRecordsOptions = {}): Promise<PatientRecord[]> {
  const out: PatientRecord[] = [];
  for await (const r of streamRecords(from, opts)) out.push(r);
  return out;
}

/** Every variable of the events table, sorted (the MIMIC export resolves its ITEMIDs before the first row). */
export async function eventVariables(tables: RecordTables): Promise<string[]> {
  const seen = new Set<string>();
  for await (const { columns } of tables.events.batches({ columns: ['variable'] })) for (const v of columns[0]!.values) seen.add(String(v));
  return [...seen].sort();
}
