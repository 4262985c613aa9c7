import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, Type, type DataType, type Table } from 'apache-arrow';
import { readParquet } from 'parquet-wasm/node';
import { SynehrError } from '../util/errors.ts';

/**
 * The four record tables of DESIGN.md ("The canonical record") as the load stage sees them: plain
 * columns with a SQL type each, read from a synthetic (or processed) directory's Parquet files.
 * The load stage works on tables rather than on PatientRecords so that it can check keys row by row
 * and copy any covariate/label columns a data set has, whatever they are called.
 */

/** Field metadata key src/records/tables.ts writes on patients columns: "id" | "covariate" | "label". */
const ROLE_KEY = 'synehr.role';

export const TABLE_NAMES = ['patients', 'admissions', 'codes', 'events'] as const;
export type TableName = (typeof TABLE_NAMES)[number];

/** The SQL type a column is created with, in PostgreSQL spelling. */
export type SqlType = 'text' | 'double precision' | 'integer' | 'bigint' | 'boolean';

export type CellValue = string | number | boolean | null;

export interface Column {
  name: string;
  type: SqlType;
  /** patients columns written by src/records/tables.ts say whether they are a covariate or a label */
  role?: string;
  /** one value per row; null = SQL NULL */
  values: CellValue[];
}

export interface RecordTable {
  name: TableName;
  /** the Parquet file it came from, for error messages */
  file: string;
  columns: Column[];
  rowCount: number;
}

export type RecordTables = Record<TableName, RecordTable>;

/**
 * The columns every table must have, with the type they are loaded as; patients has any number of
 * covariate and label columns after patient_id.
 */
export const REQUIRED_COLUMNS: Record<TableName, readonly { name: string; type: SqlType }[]> = {
  patients: [{ name: 'patient_id', type: 'text' }],
  admissions: [
    { name: 'admission_id', type: 'text' },
    { name: 'patient_id', type: 'text' },
    { name: 'seq', type: 'integer' },
  ],
  codes: [
    { name: 'admission_id', type: 'text' },
    { name: 'seq', type: 'integer' },
    { name: 'code', type: 'text' },
  ],
  events: [
    { name: 'admission_id', type: 'text' },
    { name: 'hours', type: 'double precision' },
    { name: 'variable', type: 'text' },
    { name: 'value_num', type: 'double precision' },
    { name: 'value_text', type: 'text' },
  ],
};

function sqlTypeOf(t: DataType, file: string, column: string): SqlType {
  switch (t.typeId) {
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Dictionary: // dictionary-encoded strings
      return 'text';
    case Type.Float:
      return 'double precision';
    case Type.Int: {
      const bits = (t as unknown as { bitWidth: number }).bitWidth;
      return bits > 32 ? 'bigint' : 'integer';
    }
    case Type.Bool:
      return 'boolean';
    case Type.Null:
      return 'text';
    default:
      throw new SynehrError('E_INPUT', `${file}: column "${column}" has Arrow type ${String(t)}; expected a string, number or boolean column`);
  }
}

function toCell(v: unknown): CellValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return String(v);
}

/** Reads one Parquet file into columns. */
export async function readRecordTable(file: string, name: TableName): Promise<RecordTable> {
  let arrow: Table;
  try {
    const bytes = await readFile(file);
    arrow = tableFromIPC(readParquet(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).intoIPCStream());
  } catch (e) {
    throw new SynehrError('E_INPUT', `${file}: cannot read as Parquet: ${(e as Error).message}`, { cause: e });
  }
  const columns: Column[] = arrow.schema.fields.map((field, i) => {
    const vector = arrow.getChildAt(i)!;
    const values: CellValue[] = new Array(arrow.numRows);
    // iterating a Vector walks its chunks once; get(r) would search for the chunk on every row
    let r = 0;
    for (const v of vector) values[r++] = toCell(v);
    const role = field.metadata.get(ROLE_KEY);
    return { name: field.name, type: sqlTypeOf(field.type, file, field.name), values, ...(role ? { role } : {}) };
  });
  const table: RecordTable = { name, file, columns, rowCount: arrow.numRows };
  conformRequiredColumns(table);
  return table;
}

/**
 * Checks that a table has its required columns and gives each its canonical type: ids are text
 * even when a writer stored them as integers, seq is an integer even when stored as a float.
 */
function conformRequiredColumns(table: RecordTable): void {
  for (const req of REQUIRED_COLUMNS[table.name]) {
    const col = table.columns.find((c) => c.name === req.name);
    if (!col) {
      const have = table.columns.map((c) => c.name).join(', ');
      throw new SynehrError('E_INPUT', `${table.file}: missing column "${req.name}" (the ${table.name} table has: ${have})`);
    }
    if (col.type === req.type) continue;
    if (req.type === 'text') {
      col.values = col.values.map((v) => (v === null ? null : String(v)));
    } else if (req.type === 'integer' || req.type === 'double precision') {
      col.values = col.values.map((v, r) => {
        if (v === null) return null;
        const n = Number(v);
        if (!Number.isFinite(n) || (req.type === 'integer' && !Number.isInteger(n))) {
          throw new SynehrError('E_INPUT', `${table.file}: row ${r}: column "${req.name}" = ${JSON.stringify(v)}; expected ${req.type === 'integer' ? 'an integer' : 'a number'}`);
        }
        return n;
      });
    }
    col.type = req.type;
  }
}

/** Reads patients/admissions/codes/events.parquet from a directory. */
export async function readRecordTables(dir: string): Promise<RecordTables> {
  const missing = TABLE_NAMES.filter((n) => !existsSync(join(dir, `${n}.parquet`)));
  if (missing.length > 0) {
    throw new SynehrError('E_INPUT', `${dir}: missing ${missing.map((n) => `${n}.parquet`).join(', ')}; a synthetic directory holds patients, admissions, codes and events.parquet`);
  }
  const [patients, admissions, codes, events] = await Promise.all(TABLE_NAMES.map((n) => readRecordTable(join(dir, `${n}.parquet`), n)));
  return { patients, admissions, codes, events };
}

export function column(table: RecordTable, name: string): Column {
  const col = table.columns.find((c) => c.name === name);
  if (!col) throw new SynehrError('E_INPUT', `${table.file}: missing column "${name}"`);
  return col;
}

/** How many rows each table has, in TABLE_NAMES order. */
export function rowCounts(tables: RecordTables): Record<TableName, number> {
  return { patients: tables.patients.rowCount, admissions: tables.admissions.rowCount, codes: tables.codes.rowCount, events: tables.events.rowCount };
}

/** Beyond this many violations the message says "and N more". */
const MAX_REPORTED = 3;

function describeViolations(kind: string, found: string[]): string {
  const shown = found.slice(0, MAX_REPORTED).join('; ');
  return found.length > MAX_REPORTED ? `${kind}: ${shown}; and ${found.length - MAX_REPORTED} more` : `${kind}: ${shown}`;
}

function checkUnique(table: RecordTable, keys: string[], problems: string[]): Set<string> {
  const cols = keys.map((k) => column(table, k));
  const seen = new Set<string>();
  const found: string[] = [];
  for (let r = 0; r < table.rowCount; r++) {
    const parts = cols.map((c) => c.values[r]);
    if (parts.some((p) => p === null)) {
      found.push(`row ${r}: ${keys.join(', ')} is null`);
      continue;
    }
    const key = parts.map(String).join('\u0000');
    if (seen.has(key)) found.push(`row ${r}: ${keys.join(', ')} = ${parts.map((p) => JSON.stringify(p)).join(', ')} appears twice`);
    seen.add(key);
  }
  if (found.length > 0) problems.push(describeViolations(`${table.file}: primary key (${keys.join(', ')}) violated in ${found.length} rows`, found));
  return seen;
}

function checkForeignKey(child: RecordTable, col: string, parent: RecordTable, parentKeys: Set<string>, problems: string[]): void {
  const values = column(child, col).values;
  const found: string[] = [];
  for (let r = 0; r < child.rowCount; r++) {
    const v = values[r];
    if (v === null || !parentKeys.has(String(v))) found.push(`row ${r}: ${col} = ${JSON.stringify(v)}`);
  }
  if (found.length > 0) {
    problems.push(describeViolations(`${child.file}: foreign key ${child.name}.${col} -> ${parent.name}.${col} fails in ${found.length} rows (not in ${parent.file})`, found));
  }
}

/**
 * The keys the database will enforce, checked before any connection is opened so that a bad
 * directory is refused with the rows that break it rather than with a server's constraint name.
 */
export function checkIntegrity(tables: RecordTables): void {
  const problems: string[] = [];
  const patientIds = checkUnique(tables.patients, ['patient_id'], problems);
  const admissionIds = checkUnique(tables.admissions, ['admission_id'], problems);
  checkUnique(tables.codes, ['admission_id', 'seq'], problems);
  checkForeignKey(tables.admissions, 'patient_id', tables.patients, patientIds, problems);
  checkForeignKey(tables.codes, 'admission_id', tables.admissions, admissionIds, problems);
  checkForeignKey(tables.events, 'admission_id', tables.admissions, admissionIds, problems);
  const hours = column(tables.events, 'hours').values;
  const badHours: string[] = [];
  for (let r = 0; r < tables.events.rowCount; r++) if (hours[r] === null) badHours.push(`row ${r}`);
  if (badHours.length > 0) problems.push(describeViolations(`${tables.events.file}: hours is null in ${badHours.length} rows`, badHours));
  if (problems.length > 0) throw new SynehrError('E_INTEGRITY', `refused: the tables fail the key check: ${problems.join(' | ')}`);
}
