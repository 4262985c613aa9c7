/**
 * Reading the four record tables from Parquet: each table is opened from its footer (columns, types,
 * roles, row groups) and its rows are decoded one row group at a time, so a table larger than memory
 * can be checked, streamed into records (read.ts) or copied into a database.
 *
 * Decoding goes through parquet-wasm's synchronous readParquet: a damaged page then raises an error
 * that names the file, where the streaming reader panics inside WebAssembly (`unreachable`) outside
 * any try/catch and takes the process down.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, makeVector, tableFromIPC, Type, type Schema, type Table } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { SynehrError } from '../util/errors.ts';
import { GROUPED_LAYOUT, LAYOUT_KEY, REQUIRED_COLUMNS, ROLE_KEY, TABLE_NAMES, type SqlType, type TableCounts, type TableName } from './schema.ts';

export type CellValue = string | number | boolean | null;

export interface ColumnInfo {
  name: string;
  type: SqlType;
  /** patients columns written by synehr carry their role: "id" | "covariate" | "label" */
  role?: string;
}

export interface Column extends ColumnInfo {
  /** one value per row of the batch; null = missing */
  values: CellValue[];
}

export interface BatchOptions {
  /** read only these columns (by name); default: all, in file order */
  columns?: readonly string[];
  /** rows per batch at most (a row group is decoded at a time and cut into batches) */
  batchRows?: number;
}

/** One table, opened but not decoded. */
export interface RecordTable {
  name: TableName;
  /** the Parquet file it came from, for error messages */
  file: string;
  columns: ColumnInfo[];
  rowCount: number;
  /** written by synehr's writer: rows grouped by patient in patient order (schema.ts LAYOUT_KEY) */
  grouped: boolean;
  /** The rows in batches, each column given its canonical type (ids text, seq integer, ...). */
  batches(options?: BatchOptions): AsyncGenerator<{ start: number; columns: Column[] }>;
}

export type RecordTables = Record<TableName, RecordTable>;

/** Rows per batch when no size is asked for: one row group of synehr's writer. */
export const DEFAULT_BATCH_ROWS = 1 << 18;

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new SynehrError('E_INPUT', `${path}: cannot read (${(e as Error).message})`);
  }
}

function damaged(path: string, e: unknown): SynehrError {
  const detail = String((e as Error)?.message ?? e).replace(/^Error: /, '');
  return new SynehrError('E_INPUT', `${path}: not a readable Parquet file, or damaged (${detail})`, { cause: e });
}

/** Read one Parquet table whole into an Arrow JS table. */
export async function readParquetTable(path: string): Promise<Table> {
  const bytes = await readBytes(path);
  try {
    return tableFromIPC(pw.readParquet(bytes).intoIPCStream());
  } catch (e) {
    throw damaged(path, e);
  }
}

/** A column as a JS array with nulls kept (Vector.toArray drops validity for numeric columns). */
export function columnValues(t: Table, name: string, path: string): CellValue[] {
  const v = t.getChild(name);
  if (!v) throw new SynehrError('E_INPUT', `${path}: missing column "${name}"`);
  const out: CellValue[] = new Array(v.length);
  let i = 0;
  // straight from the buffers: the Vector iterator costs ~1 µs a value
  for (const d of v.data) {
    const valid = (k: number) => d.nullCount === 0 || !d.nullBitmap || ((d.nullBitmap[(d.offset + k) >> 3]! >> ((d.offset + k) & 7)) & 1) === 1;
    if (DataType.isUtf8(d.type) && d.valueOffsets && d.values) {
      const offs = d.valueOffsets as Int32Array;
      const bytes = d.values as Uint8Array;
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      // ids and variable names repeat in runs: reuse the previous string when the bytes match
      let prevStart = -1;
      let prevEnd = -1;
      let prev = '';
      for (let k = 0; k < d.length; k++) {
        if (!valid(k)) {
          out[i++] = null;
          continue;
        }
        const a = offs[d.offset + k]!;
        const b = offs[d.offset + k + 1]!;
        if (prevStart >= 0 && b - a === prevEnd - prevStart && buf.compare(buf, a, b, prevStart, prevEnd) === 0) out[i++] = prev;
        else {
          prev = buf.toString('utf8', a, b);
          prevStart = a;
          prevEnd = b;
          out[i++] = prev;
        }
      }
    } else if ((DataType.isFloat(d.type) || DataType.isInt(d.type)) && d.values && !(d.values instanceof BigInt64Array) && !(d.values instanceof BigUint64Array)) {
      const vals = d.values as Float64Array | Int32Array;
      for (let k = 0; k < d.length; k++) out[i++] = valid(k) ? vals[d.offset + k]! : null;
    } else {
      const part = makeVector(d);
      for (let k = 0; k < d.length; k++) {
        const x: unknown = part.get(k);
        out[i++] = x === null || x === undefined ? null : typeof x === 'bigint' ? Number(x) : typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean' ? x : String(x);
      }
    }
  }
  return out;
}

function sqlTypeOf(t: DataType, file: string, column: string): SqlType {
  switch (t.typeId) {
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Dictionary: // dictionary-encoded strings
    case Type.Null:
      return 'text';
    case Type.Float:
      return 'double precision';
    case Type.Int:
      return (t as unknown as { bitWidth: number }).bitWidth > 32 ? 'bigint' : 'integer';
    case Type.Bool:
      return 'boolean';
    default:
      throw new SynehrError('E_INPUT', `${file}: column "${column}" has Arrow type ${String(t)}; expected a string, number or boolean column`);
  }
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

/** Opens one Parquet file of the four: its footer (schema, row groups); rows are decoded by batches(). */
export async function openRecordTable(file: string, name: TableName): Promise<RecordTable> {
  const bytes = await readBytes(file);
  let schema: Schema;
  const groupRows: number[] = [];
  try {
    schema = tableFromIPC(pw.readSchema(bytes).intoIPCStream()).schema;
    const meta = (await pw.ParquetFile.fromFile(new Blob([bytes]))).metadata();
    for (let g = 0; g < meta.numRowGroups(); g++) groupRows.push(Number(meta.rowGroup(g).numRows()));
  } catch (e) {
    throw damaged(file, e);
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
    const size = options.batchRows ?? DEFAULT_BATCH_ROWS;
    let start = 0;
    for (let g = 0; g < groupRows.length; g++) {
      let values: CellValue[][];
      try {
        const t = tableFromIPC(pw.readParquet(bytes, { rowGroups: [g], columns: [...names] }).intoIPCStream());
        values = names.map((n) => columnValues(t, n, file));
      } catch (e) {
        throw e instanceof SynehrError ? e : damaged(file, e);
      }
      const rows = values[0]?.length ?? groupRows[g]!;
      for (let i = 0; i < names.length; i++) {
        const f = convert[i];
        if (f) values[i] = values[i]!.map((v, r) => f(v, start + r));
      }
      for (let at = 0; at < rows; at += size) {
        const end = Math.min(rows, at + size);
        const cut = at === 0 && end === rows;
        yield { start: start + at, columns: names.map((n, i) => ({ ...infoOf.get(n)!, values: cut ? values[i]! : values[i]!.slice(at, end) })) };
      }
      start += rows;
    }
  }

  const rowCount = groupRows.reduce((a, b) => a + b, 0);
  return { name, file, columns, rowCount, grouped: schema.metadata.get(LAYOUT_KEY) === GROUPED_LAYOUT, batches };
}

/** patients/admissions/codes/events.parquet of a directory, opened. */
export async function openRecordTables(dir: string): Promise<RecordTables> {
  const missing = TABLE_NAMES.filter((n) => !existsSync(join(dir, `${n}.parquet`)));
  if (missing.length > 0) {
    const csvOnly = missing.every((n) => existsSync(join(dir, `${n}.csv`)));
    throw new SynehrError(
      'E_INPUT',
      `${dir}: missing ${missing.map((n) => `${n}.parquet`).join(', ')}; a folder of records holds patients, admissions, codes and events.parquet` +
        (csvOnly ? ' (this one has CSV tables: generate with generate.formats=[parquet])' : ''),
    );
  }
  const [patients, admissions, codes, events] = await Promise.all(TABLE_NAMES.map((n) => openRecordTable(join(dir, `${n}.parquet`), n)));
  return { patients: patients!, admissions: admissions!, codes: codes!, events: events! };
}

export function rowCounts(tables: RecordTables): TableCounts {
  return { patients: tables.patients.rowCount, admissions: tables.admissions.rowCount, codes: tables.codes.rowCount, events: tables.events.rowCount };
}
