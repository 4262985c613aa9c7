import { join } from 'node:path';
import type { Admission, PatientRecord } from '../records/types.ts';
import { SynehrError } from '../util/errors.ts';
import { labelNames } from './manifest.ts';
import type { SyntheticDir } from './synthetic.ts';
import type { CellValue, ColumnInfo, RecordTable } from './tables.ts';

/**
 * Records streamed from the four tables one patient at a time, for exports of any size. This needs
 * the tables grouped the way src/records/tables.ts writes them: admissions in runs per patient, in
 * the patients' order, and codes and events in runs per admission, in the admissions' order.
 * tableLayout() tells, from the key columns alone, whether a directory is grouped so, and collects
 * the variables (the MIMIC export resolves its ITEMIDs before the first row).
 */

export interface TableLayout {
  grouped: boolean;
  /** every variable of the events table, sorted */
  variables: string[];
}

async function* rows(table: RecordTable, columns: string[]): AsyncGenerator<CellValue[]> {
  for await (const { columns: cols } of table.batches({ columns })) {
    const n = cols[0]!.values.length;
    for (let r = 0; r < n; r++) yield cols.map((c) => c.values[r]!);
  }
}

/** Whether a child table's key column visits its parents' ordinals in non-decreasing order. */
async function runsFollow(table: RecordTable, column: string, ordinal: ReadonlyMap<string, number>, also?: (row: CellValue[]) => void): Promise<boolean> {
  let last = -1;
  let ok = true;
  for await (const row of rows(table, also ? [column, 'variable'] : [column])) {
    const o = ordinal.get(String(row[0]))!;
    if (o < last) ok = false;
    last = o;
    also?.(row);
  }
  return ok;
}

export async function tableLayout(src: SyntheticDir): Promise<TableLayout> {
  const { tables } = src;
  const patientOrd = new Map<string, number>();
  for await (const [id] of rows(tables.patients, ['patient_id'])) patientOrd.set(String(id), patientOrd.size);
  const admissionOrd = new Map<string, number>();
  let grouped = true;
  let last = -1;
  for await (const [id, pid] of rows(tables.admissions, ['admission_id', 'patient_id'])) {
    const o = patientOrd.get(String(pid))!;
    if (o < last) grouped = false;
    last = o;
    admissionOrd.set(String(id), admissionOrd.size);
  }
  const variables = new Set<string>();
  grouped = (await runsFollow(tables.codes, 'admission_id', admissionOrd)) && grouped;
  grouped = (await runsFollow(tables.events, 'admission_id', admissionOrd, (row) => variables.add(String(row[1])))) && grouped;
  return { grouped, variables: [...variables].sort() };
}

/** A row source with one row of look-ahead. */
class Peekable {
  private head: CellValue[] | null | undefined;
  constructor(private readonly it: AsyncGenerator<CellValue[]>) {}
  async peek(): Promise<CellValue[] | null> {
    if (this.head === undefined) {
      const n = await this.it.next();
      this.head = n.done ? null : n.value;
    }
    return this.head;
  }
  take(): void {
    this.head = undefined;
  }
}

/**
 * One patient at a time, in the patients table's order (see tableLayout: the tables must be
 * grouped). Admissions, codes and events are ordered as recordsFromTables orders them.
 */
export async function* streamRecords(src: SyntheticDir): AsyncGenerator<PatientRecord> {
  const { tables } = src;
  const declared = labelNames(src.manifest);
  const isLabel = (c: ColumnInfo) => (c.role !== undefined ? c.role === 'label' : declared.size > 0 ? declared.has(c.name) : /death|mortality|^los/i.test(c.name));
  const names = tables.patients.columns.map((c) => c.name);
  const info = tables.patients.columns;
  const admissions = new Peekable(rows(tables.admissions, ['admission_id', 'patient_id', 'seq']));
  const codes = new Peekable(rows(tables.codes, ['admission_id', 'seq', 'code']));
  const events = new Peekable(rows(tables.events, ['admission_id', 'hours', 'variable', 'value_num', 'value_text']));
  let eventRow = 0;
  for await (const p of rows(tables.patients, names)) {
    const rec: PatientRecord = { id: String(p[names.indexOf('patient_id')]), covariates: {}, labels: {}, admissions: [] };
    info.forEach((c, i) => {
      if (c.name === 'patient_id') return;
      const v = p[i]!;
      if (isLabel(c)) {
        if (v !== null) rec.labels[c.name] = Number(v);
      } else rec.covariates[c.name] = typeof v === 'boolean' ? Number(v) : v;
    });
    const seqOf = new Map<Admission, number>();
    for (let a = await admissions.peek(); a && String(a[1]) === rec.id; a = await admissions.peek()) {
      admissions.take();
      const adm: Admission = { id: String(a[0]), codes: [], events: [] };
      seqOf.set(adm, Number(a[2]));
      const codeRows: [number, string][] = [];
      for (let c = await codes.peek(); c && String(c[0]) === adm.id; c = await codes.peek()) {
        codes.take();
        codeRows.push([Number(c[1]), String(c[2])]);
      }
      adm.codes = codeRows.sort((x, y) => x[0] - y[0]).map((c) => c[1]);
      for (let e = await events.peek(); e && String(e[0]) === adm.id; e = await events.peek()) {
        events.take();
        const value = e[3] !== null ? Number(e[3]) : e[4];
        if (value === null || value === undefined) {
          throw new SynehrError('E_INPUT', `${join(src.dir, 'events.parquet')}: row ${eventRow}: both value_num and value_text are null`);
        }
        eventRow++;
        adm.events.push({ hours: Number(e[1]), variable: String(e[2]), value: value as number | string });
      }
      adm.events.sort((x, y) => x.hours - y.hours);
      rec.admissions.push(adm);
    }
    rec.admissions.sort((x, y) => seqOf.get(x)! - seqOf.get(y)!);
    yield rec;
  }
  if ((await admissions.peek()) || (await codes.peek()) || (await events.peek())) {
    // tableLayout said grouped: rows left over mean the tables changed under us
    throw new Error(`${src.dir}: rows left after the last patient while streaming records; the tables are not grouped by patient`);
  }
}
