import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, Type, type DataType, type Schema } from 'apache-arrow';
import { ParquetFile, readSchema } from 'parquet-wasm/node';
import { SynehrError } from '../util/errors.ts';

/**
 * The four record tables of DESIGN.md ("The canonical record") as the load stage sees them: plain
 * columns with a SQL type each, streamed in batches from a synthetic (or processed) directory's
 * Parquet files.
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

export interface ColumnInfo {
  name: string;
  type: SqlType;
  /** patients columns written by src/records/tables.ts say whether they are a covariate or a label */
  role?: string;
}

export interface Column extends ColumnInfo {
  /** one value per row of the batch; null = SQL NULL */
  values: CellValue[];
}

export interface BatchOptions {
  /** read only these columns (by name); default: all, in file order */
  columns?: readonly string[];
  /** rows per batch: bounds memory (a batch is decoded at a time) */
  batchRows?: number;
}

/**
 * One of the four tables, opened but not decoded: its columns and row count come from the Parquet
 * footer, its rows are streamed in batches, so a table larger than memory can be checked and loaded.
 */
export interface RecordTable {
  name: TableName;
  /** the Parquet file it came from, for error messages */
  file: string;
  columns: ColumnInfo[];
  rowCount: number;
  /** The rows in batches, each column given its canonical type (ids text, seq integer, ...). */
  batches(options?: BatchOptions): AsyncGenerator<{ start: number; columns: Column[] }>;
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

/** Rows per batch when reading: 64 Ki rows of events is a few MB of JS values. */
export const DEFAULT_BATCH_ROWS = 65_536;

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

/**
 * How a stored value becomes its canonical type: ids are text even when a writer stored them as
 * integers, seq is an integer even when stored as a float. Null when no conversion is needed.
 */
function conversion(file: string, name: string, from: SqlType, to: SqlType): ((v: CellValue, row: number) => CellValue) | null {
  if (from === to) return null;
  if (to === 'text') return (v) => (v === null ? null : String(v));
  return (v, row) => {
    if (v === null) return null;
    const n = Number(v);
    if (!Number.isFinite(n) || (to === 'integer' && !Number.isInteger(n))) {
      throw new SynehrError('E_INPUT', `${file}: row ${row}: column "${name}" = ${JSON.stringify(v)}; expected ${to === 'integer' ? 'an integer' : 'a number'}`);
    }
    return n;
  };
}

/** Opens one Parquet file: reads its footer (schema, row count); rows are decoded by batches(). */
export async function readRecordTable(file: string, name: TableName): Promise<RecordTable> {
  let pq: ParquetFile;
  let schema: Schema;
  let rowCount: number;
  try {
    const bytes = await readFile(file);
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    schema = tableFromIPC(readSchema(view).intoIPCStream()).schema;
    pq = await ParquetFile.fromFile(new Blob([view]));
    rowCount = Number(pq.metadata().fileMetadata().numRows());
  } catch (e) {
    throw new SynehrError('E_INPUT', `${file}: cannot read as Parquet: ${(e as Error).message}`, { cause: e });
  }
  const stored = new Map<string, SqlType>();
  const columns: ColumnInfo[] = schema.fields.map((field) => {
    const type = sqlTypeOf(field.type, file, field.name);
    stored.set(field.name, type);
    const role = field.metadata.get(ROLE_KEY);
    return { name: field.name, type, ...(role ? { role } : {}) };
  });
  for (const req of REQUIRED_COLUMNS[name]) {
    const col = columns.find((c) => c.name === req.name);
    if (!col) {
      throw new SynehrError('E_INPUT', `${file}: missing column "${req.name}" (the ${name} table has: ${columns.map((c) => c.name).join(', ')})`);
    }
    col.type = req.type;
  }
  const infoOf = new Map(columns.map((c) => [c.name, c]));

  async function* batches(options: BatchOptions = {}): AsyncGenerator<{ start: number; columns: Column[] }> {
    const names = options.columns ?? columns.map((c) => c.name);
    for (const n of names) if (!infoOf.has(n)) throw new SynehrError('E_INPUT', `${file}: missing column "${n}"`);
    const convert = names.map((n) => conversion(file, n, stored.get(n)!, infoOf.get(n)!.type));
    let stream: ReadableStream;
    try {
      stream = await pq.stream({ batchSize: options.batchRows ?? DEFAULT_BATCH_ROWS, columns: [...names] });
    } catch (e) {
      throw new SynehrError('E_INPUT', `${file}: cannot read as Parquet: ${(e as Error).message}`, { cause: e });
    }
    let start = 0;
    for await (const batch of stream as unknown as AsyncIterable<{ intoIPCStream(): Uint8Array }>) {
      const t = tableFromIPC(batch.intoIPCStream());
      const out: Column[] = names.map((n, i) => {
        const vector = t.getChild(n)!;
        const values: CellValue[] = new Array(t.numRows);
        const f = convert[i];
        // iterating a Vector walks its chunks once; get(r) would search for the chunk on every row
        let r = 0;
        if (f) for (const v of vector) values[r] = f(toCell(v), start + r++);
        else for (const v of vector) values[r++] = toCell(v);
        return { ...infoOf.get(n)!, values };
      });
      yield { start, columns: out };
      start += t.numRows;
    }
  }

  return { name, file, columns, rowCount, batches };
}

/** Reads patients/admissions/codes/events.parquet from a directory. */
export async function readRecordTables(dir: string): Promise<RecordTables> {
  const missing = TABLE_NAMES.filter((n) => !existsSync(join(dir, `${n}.parquet`)));
  if (missing.length > 0) {
    const csvOnly = missing.every((n) => existsSync(join(dir, `${n}.csv`)));
    throw new SynehrError(
      'E_INPUT',
      `${dir}: missing ${missing.map((n) => `${n}.parquet`).join(', ')}; a synthetic directory holds patients, admissions, codes and events.parquet` +
        (csvOnly ? ' (this one has CSV tables: generate with generate.formats=[parquet])' : ''),
    );
  }
  const [patients, admissions, codes, events] = await Promise.all(TABLE_NAMES.map((n) => readRecordTable(join(dir, `${n}.parquet`), n)));
  return { patients: patients!, admissions: admissions!, codes: codes!, events: events! };
}

/** How many rows each table has. */
export function rowCounts(tables: RecordTables): Record<TableName, number> {
  return { patients: tables.patients.rowCount, admissions: tables.admissions.rowCount, codes: tables.codes.rowCount, events: tables.events.rowCount };
}

/** Beyond this many violations the message says "and N more". */
const MAX_REPORTED = 3;

function describeViolations(kind: string, found: string[]): string {
  const shown = found.slice(0, MAX_REPORTED).join('; ');
  return found.length > MAX_REPORTED ? `${kind}: ${shown}; and ${found.length - MAX_REPORTED} more` : `${kind}: ${shown}`;
}

/** Keys seen in a table's batches: duplicates and nulls reported, the set returned for the children. */
async function checkUnique(table: RecordTable, keys: string[], problems: string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const found: string[] = [];
  for await (const { start, columns } of table.batches({ columns: keys })) {
    const n = columns[0]!.values.length;
    for (let r = 0; r < n; r++) {
      const parts = columns.map((c) => c.values[r]);
      if (parts.some((p) => p === null)) {
        found.push(`row ${start + r}: ${keys.join(', ')} is null`);
        continue;
      }
      const key = parts.length === 1 ? String(parts[0]) : parts.map(String).join('\u0000');
      if (seen.has(key)) found.push(`row ${start + r}: ${keys.join(', ')} = ${parts.map((p) => JSON.stringify(p)).join(', ')} appears twice`);
      seen.add(key);
    }
  }
  if (found.length > 0) problems.push(describeViolations(`${table.file}: primary key (${keys.join(', ')}) violated in ${found.length} rows`, found));
  return seen;
}

async function checkForeignKey(child: RecordTable, col: string, parent: RecordTable, parentKeys: Set<string>, problems: string[], alsoNotNull?: string): Promise<void> {
  const found: string[] = [];
  const nulls: string[] = [];
  const wanted = alsoNotNull ? [col, alsoNotNull] : [col];
  for await (const { start, columns } of child.batches({ columns: wanted })) {
    const values = columns[0]!.values;
    for (let r = 0; r < values.length; r++) {
      const v = values[r]!;
      if (v === null || !parentKeys.has(String(v))) found.push(`row ${start + r}: ${col} = ${JSON.stringify(v)}`);
      if (alsoNotNull && columns[1]!.values[r] === null) nulls.push(`row ${start + r}`);
    }
  }
  if (found.length > 0) {
    problems.push(describeViolations(`${child.file}: foreign key ${child.name}.${col} -> ${parent.name}.${col} fails in ${found.length} rows (not in ${parent.file})`, found));
  }
  if (nulls.length > 0) problems.push(describeViolations(`${child.file}: ${alsoNotNull} is null in ${nulls.length} rows`, nulls));
}

/**
 * The keys the database will enforce, checked before any connection is opened so that a bad
 * directory is refused with the rows that break it rather than with a server's constraint name.
 * Streams every table; holds only the patient and admission ids.
 */
export async function checkIntegrity(tables: RecordTables): Promise<void> {
  const problems: string[] = [];
  const patientIds = await checkUnique(tables.patients, ['patient_id'], problems);
  const admissionIds = await checkUnique(tables.admissions, ['admission_id'], problems);
  await checkUnique(tables.codes, ['admission_id', 'seq'], problems);
  await checkForeignKey(tables.admissions, 'patient_id', tables.patients, patientIds, problems);
  await checkForeignKey(tables.codes, 'admission_id', tables.admissions, admissionIds, problems);
  await checkForeignKey(tables.events, 'admission_id', tables.admissions, admissionIds, problems, 'hours');
  if (problems.length > 0) throw new SynehrError('E_INTEGRITY', `refused: the tables fail the key check: ${problems.join(' | ')}`);
}
