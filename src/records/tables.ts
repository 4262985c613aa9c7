/**
 * The four-table form of PatientRecord (DESIGN.md, "The canonical record"):
 *
 *   patients(patient_id, ...covariates, ...labels)
 *   admissions(admission_id, patient_id, seq)
 *   codes(admission_id, seq, code)
 *   events(admission_id, hours, variable, value_num, value_text)
 *
 * Written streaming: rows are buffered per table up to BATCH_ROWS, then handed to parquet-wasm's
 * streaming writer as one row group, so a writer never holds more than one batch per table.
 * Files are written under temporary names and renamed when all four are complete.
 */
import { createWriteStream, openAsBlob, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  DataType,
  Field,
  Float64,
  Int32,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
} from 'apache-arrow';
import * as pw from 'parquet-wasm';
import type { DataConfig } from './dataConfig.ts';
import type { Admission, PatientRecord } from './types.ts';
import { SynehrError } from '../util/errors.ts';

export const TABLE_NAMES = ['patients', 'admissions', 'codes', 'events'] as const;
export type TableName = (typeof TABLE_NAMES)[number];
export type TableFormat = 'parquet' | 'csv';

export interface TableCounts {
  patients: number;
  admissions: number;
  codes: number;
  events: number;
}

/** Rows per Parquet row group: large enough for good compression, small enough to stream. */
const BATCH_ROWS = 64 * 1024;
/** Field metadata key telling a patients column's role, so readRecords needs no data config. */
const ROLE_KEY = 'synehr.role';

type ColumnKind = 'utf8' | 'float64' | 'int32';
interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  role?: 'id' | 'covariate' | 'label';
}

/** The column layout of the four tables for a data config. */
export function tableColumns(data: DataConfig): Record<TableName, ColumnSpec[]> {
  const seen = new Set<string>(['patient_id']);
  const patients: ColumnSpec[] = [{ name: 'patient_id', kind: 'utf8', role: 'id' }];
  for (const c of data.covariates) {
    if (seen.has(c.name)) throw new SynehrError('E_CONFIG_VALUE', `data.covariates: column name "${c.name}" is used twice`);
    seen.add(c.name);
    patients.push({ name: c.name, kind: c.type === 'numeric' ? 'float64' : 'utf8', role: 'covariate' });
  }
  for (const l of data.labels) {
    if (seen.has(l.name)) throw new SynehrError('E_CONFIG_VALUE', `data.labels: column name "${l.name}" is also a covariate or label`);
    seen.add(l.name);
    patients.push({ name: l.name, kind: 'float64', role: 'label' });
  }
  return {
    patients,
    admissions: [
      { name: 'admission_id', kind: 'utf8' },
      { name: 'patient_id', kind: 'utf8' },
      { name: 'seq', kind: 'int32' },
    ],
    codes: [
      { name: 'admission_id', kind: 'utf8' },
      { name: 'seq', kind: 'int32' },
      { name: 'code', kind: 'utf8' },
    ],
    events: [
      { name: 'admission_id', kind: 'utf8' },
      { name: 'hours', kind: 'float64' },
      { name: 'variable', kind: 'utf8' },
      { name: 'value_num', kind: 'float64' },
      { name: 'value_text', kind: 'utf8' },
    ],
  };
}

type Cell = string | number | null;

/** One table being written: buffers a batch of rows column-wise, flushes it to a sink. */
interface TableSink {
  /** returns a promise only when the row completed a batch that must be flushed (await it) */
  push(row: Cell[]): Promise<void> | undefined;
  close(): Promise<void>;
  abort(): Promise<void>;
  rows: number;
}

function arrowType(kind: ColumnKind): DataType {
  return kind === 'utf8' ? new Utf8() : kind === 'int32' ? new Int32() : new Float64();
}

function arrowSchema(cols: ColumnSpec[]): Schema {
  return new Schema(
    cols.map((c) => new Field(c.name, arrowType(c.kind), c.role !== 'id' || c.kind !== 'utf8', c.role ? new Map([[ROLE_KEY, c.role]]) : undefined)),
  );
}

/** Column buffers -> one Arrow RecordBatch. Float columns go in as typed arrays with a validity bitmap. */
function buildBatch(schema: Schema, cols: ColumnSpec[], buf: Cell[][], n: number): RecordBatch {
  const children = cols.map((c, j) => {
    const values = buf[j]!;
    if (c.kind === 'utf8') return utf8Data(values as (string | null)[], n);
    const data = c.kind === 'int32' ? new Int32Array(n) : new Float64Array(n);
    const bitmap = new Uint8Array((n + 7) >> 3);
    let nullCount = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null || v === undefined) nullCount++;
      else {
        data[i] = v as number;
        bitmap[i >> 3]! |= 1 << (i & 7);
      }
    }
    return makeData({ type: arrowType(c.kind) as Float64, length: n, nullCount, nullBitmap: nullCount ? bitmap : null, data: data as Float64Array });
  });
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return new RecordBatch(schema, struct);
}

const encoder = new TextEncoder();

/**
 * A Utf8 column built by hand: Arrow's generic builder costs ~1 µs a value, and the id and
 * variable columns repeat a few strings many times, so encoded bytes are cached per batch.
 */
function utf8Data(values: (string | null)[], n: number) {
  const cache = new Map<string, Uint8Array>();
  const offsets = new Int32Array(n + 1);
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  let bytes = new Uint8Array(Math.max(64, n * 8));
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const s = values[i];
    if (s === null || s === undefined) nullCount++;
    else {
      bitmap[i >> 3]! |= 1 << (i & 7);
      let enc = cache.get(s);
      if (enc === undefined) {
        enc = encoder.encode(s);
        if (cache.size < 4096) cache.set(s, enc);
      }
      if (pos + enc.length > bytes.length) {
        const grown = new Uint8Array(Math.max(bytes.length * 2, pos + enc.length));
        grown.set(bytes.subarray(0, pos));
        bytes = grown;
      }
      bytes.set(enc, pos);
      pos += enc.length;
    }
    offsets[i + 1] = pos;
  }
  return makeData({ type: new Utf8(), length: n, nullCount, nullBitmap: nullCount ? bitmap : null, valueOffsets: offsets, data: bytes.subarray(0, pos) });
}

/** Arrow JS batch -> parquet-wasm batch (through the IPC stream format, the only bridge it offers). */
function toWasmBatch(batch: RecordBatch): pw.RecordBatch {
  const t = pw.Table.fromIPCStream(tableToIPC(new Table([batch]), 'stream'));
  const b = t.recordBatches();
  if (b.length !== 1) throw new Error(`expected one record batch, got ${b.length}`);
  return b[0]!;
}

/**
 * A Parquet file written one row group at a time. parquet-wasm's transformParquetStream pulls
 * batches from a ReadableStream; `push` waits while a batch is still queued, which bounds memory.
 */
function parquetSink(path: string, cols: ColumnSpec[]): TableSink {
  const schema = arrowSchema(cols);
  const ABORT = 'abort' as const;
  const queue: (pw.RecordBatch | null | typeof ABORT)[] = [];
  let wake: (() => void) | null = null; // the stream waits for a batch
  let drained: (() => void) | null = null; // the writer waits for room
  const source = new ReadableStream<pw.RecordBatch>(
    {
      async pull(ctrl) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const b = queue.shift()!;
        drained?.();
        drained = null;
        if (b === ABORT) ctrl.error(new Error('write aborted'));
        else if (b === null) ctrl.close();
        else ctrl.enqueue(b);
      },
    },
    { highWaterMark: 0 },
  );
  // row groups of 4 batches: small enough that streamRecords decodes one at a time cheaply
  const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.ZSTD).setMaxRowGroupSize(4 * BATCH_ROWS).build();
  const file: WriteStream = createWriteStream(path);
  const done = pw.transformParquetStream(source, props).then((out) => out.pipeTo(Writable.toWeb(file)));
  let failure: unknown = null;
  done.catch((e) => {
    failure = e;
    drained?.();
  });
  const buf: Cell[][] = cols.map(() => []);
  let n = 0;
  let batches = 0;
  const enqueue = async (b: pw.RecordBatch | null) => {
    while (queue.length >= 1 && failure === null) await new Promise<void>((r) => (drained = r));
    if (failure !== null) throw failure;
    queue.push(b);
    wake?.();
    wake = null;
  };
  const flush = async () => {
    const batch = buildBatch(schema, cols, buf, n);
    for (const col of buf) col.length = 0;
    n = 0;
    batches++;
    await enqueue(toWasmBatch(batch));
  };
  return {
    rows: 0,
    push(row) {
      for (let j = 0; j < row.length; j++) buf[j]!.push(row[j]!);
      n++;
      this.rows++;
      return n >= BATCH_ROWS ? flush() : undefined;
    },
    async close() {
      // an empty table still needs one (empty) batch so the file carries its schema
      if (n > 0 || batches === 0) await flush();
      await enqueue(null);
      await done;
    },
    async abort() {
      for (const b of queue) if (b !== null && b !== ABORT) b.free();
      queue.length = 0;
      queue.push(ABORT);
      wake?.();
      wake = null;
      await done.catch(() => undefined);
      file.destroy();
    },
  };
}

/** RFC 4180 quoting: fields with a comma, quote or newline are quoted, quotes doubled. */
export function csvField(v: Cell): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? String(v) : v;
  return /[",\n\r]/.test(s) || (typeof v === 'string' && s !== s.trim()) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvSink(path: string, cols: ColumnSpec[]): TableSink {
  const file = createWriteStream(path);
  let failure: unknown = null;
  file.on('error', (e) => (failure = e));
  let chunk: string[] = [cols.map((c) => csvField(c.name)).join(',') + '\n'];
  let size = 0;
  const write = async () => {
    if (failure !== null) throw failure;
    const s = chunk.join('');
    chunk = [];
    size = 0;
    if (!file.write(s)) await once(file, 'drain');
  };
  return {
    rows: 0,
    push(row) {
      const line = row.map(csvField).join(',') + '\n';
      chunk.push(line);
      size += line.length;
      this.rows++;
      return size > 1 << 20 ? write() : undefined;
    },
    async close() {
      await write();
      file.end();
      await once(file, 'finish');
      if (failure !== null) throw failure;
    },
    async abort() {
      file.destroy();
    },
  };
}

function finiteOrNull(v: unknown, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new SynehrError('E_RECORD', `${what}: expected a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Write records as the four tables in `dir` (created if needed). Streams: records may come from an
 * async iterable of any length; each table holds at most one batch in memory. All four files are
 * written under temporary names and renamed only once every table is complete.
 */
export async function writeRecordTables(
  dir: string,
  records: Iterable<PatientRecord> | AsyncIterable<PatientRecord>,
  data: DataConfig,
  opts: { format?: TableFormat } = {},
): Promise<TableCounts> {
  const format = opts.format ?? 'parquet';
  const layout = tableColumns(data);
  await mkdir(dir, { recursive: true });
  const tag = `.tmp-${process.pid}-${Date.now().toString(36)}`;
  const final = (t: TableName) => join(dir, `${t}.${format}`);
  const sinks = {} as Record<TableName, TableSink>;
  for (const t of TABLE_NAMES) sinks[t] = (format === 'csv' ? csvSink : parquetSink)(final(t) + tag, layout[t]);
  const covCols = layout.patients.filter((c) => c.role === 'covariate');
  const labelCols = layout.patients.filter((c) => c.role === 'label');
  const known = new Set(layout.patients.map((c) => c.name));
  try {
    for await (const r of records) {
      const where = `patient ${r.id}`;
      for (const k of Object.keys(r.covariates)) if (!known.has(k)) throw new SynehrError('E_RECORD', `${where}: covariate "${k}" is not in the data config`);
      for (const k of Object.keys(r.labels)) if (!known.has(k)) throw new SynehrError('E_RECORD', `${where}: label "${k}" is not in the data config`);
      const row: Cell[] = [r.id];
      for (const c of covCols) {
        const v = r.covariates[c.name] ?? null;
        if (c.kind === 'float64') row.push(finiteOrNull(v, `${where}, covariate ${c.name}`));
        else row.push(v === null ? null : String(v));
      }
      for (const c of labelCols) row.push(finiteOrNull(r.labels[c.name], `${where}, label ${c.name}`));
      await sinks.patients.push(row);
      for (let a = 0; a < r.admissions.length; a++) {
        const adm = r.admissions[a]!;
        await sinks.admissions.push([adm.id, r.id, a]);
        for (let s = 0; s < adm.codes.length; s++) await sinks.codes.push([adm.id, s, adm.codes[s]!]);
        for (const e of adm.events) {
          const hours = finiteOrNull(e.hours, `${where}, admission ${adm.id}, hours`);
          if (typeof e.value === 'number') {
            const p = sinks.events.push([adm.id, hours, e.variable, finiteOrNull(e.value, `${where}, ${e.variable} at ${e.hours} h`), null]);
            if (p) await p;
          } else {
            const p = sinks.events.push([adm.id, hours, e.variable, null, e.value]);
            if (p) await p;
          }
        }
      }
    }
    for (const t of TABLE_NAMES) await sinks[t].close();
  } catch (e) {
    for (const t of TABLE_NAMES) await sinks[t].abort().catch(() => undefined);
    for (const t of TABLE_NAMES) await rm(final(t) + tag, { force: true });
    throw e;
  }
  for (const t of TABLE_NAMES) await rename(final(t) + tag, final(t));
  return { patients: sinks.patients.rows, admissions: sinks.admissions.rows, codes: sinks.codes.rows, events: sinks.events.rows };
}

/** Read one Parquet table into an Arrow JS table. */
export async function readParquetTable(path: string): Promise<Table> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SynehrError('E_INPUT', `${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return tableFromIPC(pw.readParquet(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).intoIPCStream());
  } catch (e) {
    throw new SynehrError('E_INPUT', `${path}: not a readable Parquet file (${String((e as Error).message ?? e)})`);
  }
}

/** A column as a JS array with nulls kept (Vector.toArray drops validity for numeric columns). */
function columnValues(t: Table, name: string, path: string): Cell[] {
  const v = t.getChild(name);
  if (!v) throw new SynehrError('E_INPUT', `${path}: missing column "${name}"`);
  const out: Cell[] = new Array(v.length);
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
    } else if ((DataType.isFloat(d.type) || DataType.isInt(d.type)) && d.values && !(d.values instanceof BigInt64Array)) {
      const vals = d.values as Float64Array | Int32Array;
      for (let k = 0; k < d.length; k++) out[i++] = valid(k) ? vals[d.offset + k]! : null;
    } else {
      const part = makeVector(d);
      for (let k = 0; k < d.length; k++) {
        const x = part.get(k);
        out[i++] = x === null || x === undefined ? null : typeof x === 'bigint' ? Number(x) : (x as string | number);
      }
    }
  }
  return out;
}

export interface ReadRecordsOptions {
  /** keep only these patient ids */
  ids?: ReadonlySet<string>;
  /** column roles when the files carry no synehr.role metadata (written by another tool) */
  data?: DataConfig;
}

/**
 * Read the four Parquet tables back into records (the inverse of writeRecordTables): admissions in
 * `seq` order, codes in `seq` order, events sorted by hours (ties keep file order).
 */
export async function readRecords(dir: string, opts: ReadRecordsOptions = {}): Promise<PatientRecord[]> {
  const paths = Object.fromEntries(TABLE_NAMES.map((t) => [t, join(dir, `${t}.parquet`)])) as Record<TableName, string>;
  for (const t of TABLE_NAMES) {
    await stat(paths[t]).catch(() => {
      throw new SynehrError('E_INPUT', `${paths[t]}: missing (expected the four tables ${TABLE_NAMES.join(', ')} in ${dir})`);
    });
  }
  const pt = await readParquetTable(paths.patients);
  const roles = new Map<string, string>();
  for (const f of pt.schema.fields) {
    const role = f.metadata.get(ROLE_KEY);
    if (role) roles.set(f.name, role);
  }
  if (opts.data) {
    for (const c of opts.data.covariates) roles.set(c.name, 'covariate');
    for (const l of opts.data.labels) roles.set(l.name, 'label');
  }
  const pids = columnValues(pt, 'patient_id', paths.patients) as string[];
  const patients = new Map<string, PatientRecord>();
  const byAdmission = new Map<string, Admission>();
  const covCols = pt.schema.fields.filter((f) => roles.get(f.name) === 'covariate').map((f) => [f.name, columnValues(pt, f.name, paths.patients)] as const);
  const labelCols = pt.schema.fields.filter((f) => roles.get(f.name) === 'label').map((f) => [f.name, columnValues(pt, f.name, paths.patients)] as const);
  for (const f of pt.schema.fields) {
    if (f.name !== 'patient_id' && !roles.has(f.name)) {
      throw new SynehrError('E_INPUT', `${paths.patients}: column "${f.name}" has no synehr.role metadata; pass the data config to readRecords`);
    }
  }
  for (let i = 0; i < pids.length; i++) {
    const id = String(pids[i]);
    if (opts.ids && !opts.ids.has(id)) continue;
    const covariates: PatientRecord['covariates'] = {};
    for (const [name, col] of covCols) covariates[name] = col[i] ?? null;
    const labels: PatientRecord['labels'] = {};
    for (const [name, col] of labelCols) if (col[i] !== null) labels[name] = col[i] as number;
    patients.set(id, { id, covariates, labels, admissions: [] });
  }

  const at = await readParquetTable(paths.admissions);
  const aid = columnValues(at, 'admission_id', paths.admissions);
  const apid = columnValues(at, 'patient_id', paths.admissions);
  const aseq = columnValues(at, 'seq', paths.admissions);
  const admSeq = new Map<Admission, number>();
  for (let i = 0; i < aid.length; i++) {
    const p = patients.get(String(apid[i]));
    if (!p) continue;
    const adm: Admission = { id: String(aid[i]), codes: [], events: [] };
    p.admissions.push(adm);
    byAdmission.set(adm.id, adm);
    admSeq.set(adm, aseq[i] as number);
  }
  for (const p of patients.values()) p.admissions.sort((a, b) => admSeq.get(a)! - admSeq.get(b)!);

  const ct = await readParquetTable(paths.codes);
  const cid = columnValues(ct, 'admission_id', paths.codes);
  const cseq = columnValues(ct, 'seq', paths.codes);
  const ccode = columnValues(ct, 'code', paths.codes);
  const codeSeq: [Admission, number, string][] = [];
  for (let i = 0; i < cid.length; i++) {
    const adm = byAdmission.get(String(cid[i]));
    if (adm) codeSeq.push([adm, cseq[i] as number, String(ccode[i])]);
  }
  codeSeq.sort((x, y) => x[1] - y[1]);
  for (const [adm, , code] of codeSeq) adm.codes.push(code);

  const et = await readParquetTable(paths.events);
  // batch by batch: five full-length column arrays of a large events table would double the memory
  for (const batch of et.batches) {
    const part = new Table(batch);
    const eid = columnValues(part, 'admission_id', paths.events);
    const ehours = columnValues(part, 'hours', paths.events);
    const evar = columnValues(part, 'variable', paths.events);
    const enumeric = columnValues(part, 'value_num', paths.events);
    const etext = columnValues(part, 'value_text', paths.events);
    let adm: Admission | undefined;
    let admId: unknown = undefined;
    for (let i = 0; i < eid.length; i++) {
      if (eid[i] !== admId) {
        admId = eid[i];
        adm = byAdmission.get(String(admId));
      }
      if (adm) adm.events.push({ hours: ehours[i] as number, variable: evar[i] as string, value: (enumeric[i] ?? etext[i]) as number | string });
    }
  }
  for (const adm of byAdmission.values()) {
    // Array.prototype.sort is stable, so ties keep file order
    let sorted = true;
    for (let i = 1; i < adm.events.length; i++) if (adm.events[i]!.hours < adm.events[i - 1]!.hours) sorted = false;
    if (!sorted) adm.events.sort((a, b) => a.hours - b.hours);
  }
  return [...patients.values()];
}

/** One Parquet table read one row group at a time, as column arrays, with a row cursor. */
class RowGroupCursor {
  private group = -1;
  private cols: Cell[][] = [];
  private i = 0;
  private constructor(
    private readonly file: pw.ParquetFile,
    private readonly groups: number,
    private readonly names: string[],
    readonly path: string,
  ) {}

  static async open(path: string, names: string[]): Promise<RowGroupCursor> {
    try {
      // openAsBlob reads lazily: only the footer and the row group asked for leave the disk
      const file = await pw.ParquetFile.fromFile((await openAsBlob(path)) as unknown as Blob);
      return new RowGroupCursor(file, file.metadata().numRowGroups(), names, path);
    } catch (e) {
      throw new SynehrError('E_INPUT', `${path}: not a readable Parquet file (${String((e as Error).message ?? e)})`);
    }
  }

  /** The current row's cells (in `names` order), or null at the end. */
  async peek(): Promise<Cell[] | null> {
    while (this.cols.length === 0 || this.i >= this.cols[0]!.length) {
      if (++this.group >= this.groups) return null;
      const t = tableFromIPC((await this.file.read({ rowGroups: [this.group] })).intoIPCStream());
      this.cols = this.names.map((n) => columnValues(t, n, this.path));
      this.i = 0;
    }
    return this.cols.map((c) => c[this.i]!);
  }

  /** The value of one column at the current row (after peek returned non-null). */
  cell(j: number): Cell {
    return this.cols[j]![this.i]!;
  }

  take(): void {
    this.i++;
  }
}

/**
 * Stream records from the four Parquet tables in bounded memory: one row group per table at a
 * time. Needs the order writeRecordTables writes (admissions, codes and events grouped by patient
 * in patient order); files in any other order are an E_INPUT error pointing to readRecords.
 */
export async function* streamRecords(dir: string, opts: ReadRecordsOptions = {}): AsyncGenerator<PatientRecord> {
  const path = (t: TableName) => join(dir, `${t}.parquet`);
  for (const t of TABLE_NAMES) {
    await stat(path(t)).catch(() => {
      throw new SynehrError('E_INPUT', `${path(t)}: missing (expected the four tables ${TABLE_NAMES.join(', ')} in ${dir})`);
    });
  }
  const pfile = await pw.ParquetFile.fromFile((await openAsBlob(path('patients'))) as unknown as Blob);
  const fields = tableFromIPC((await pfile.read({ limit: 0 })).intoIPCStream()).schema.fields;
  const roles = new Map<string, string>();
  for (const f of fields) {
    const role = f.metadata.get(ROLE_KEY);
    if (role) roles.set(f.name, role);
  }
  if (opts.data) {
    for (const c of opts.data.covariates) roles.set(c.name, 'covariate');
    for (const l of opts.data.labels) roles.set(l.name, 'label');
  }
  const covNames = fields.filter((f) => roles.get(f.name) === 'covariate').map((f) => f.name);
  const labelNames = fields.filter((f) => roles.get(f.name) === 'label').map((f) => f.name);
  const patients = await RowGroupCursor.open(path('patients'), ['patient_id', ...covNames, ...labelNames]);
  const admissions = await RowGroupCursor.open(path('admissions'), ['admission_id', 'patient_id']);
  const codes = await RowGroupCursor.open(path('codes'), ['admission_id', 'code']);
  const events = await RowGroupCursor.open(path('events'), ['admission_id', 'hours', 'variable', 'value_num', 'value_text']);
  const order = (what: string) => new SynehrError('E_INPUT', `${dir}: ${what} are not in writer order (grouped by patient, in patient order); use readRecords`);
  for (let p = await patients.peek(); p; p = await patients.peek()) {
    patients.take();
    const id = String(p[0]);
    const covariates: PatientRecord['covariates'] = {};
    covNames.forEach((n, j) => (covariates[n] = p[1 + j] ?? null));
    const labels: PatientRecord['labels'] = {};
    labelNames.forEach((n, j) => {
      const v = p[1 + covNames.length + j];
      if (v !== null && v !== undefined) labels[n] = v as number;
    });
    const rec: PatientRecord = { id, covariates, labels, admissions: [] };
    while ((await admissions.peek()) && String(admissions.cell(1)) === id) {
      const adm: Admission = { id: String(admissions.cell(0)), codes: [], events: [] };
      admissions.take();
      while ((await codes.peek()) && String(codes.cell(0)) === adm.id) {
        adm.codes.push(String(codes.cell(1)));
        codes.take();
      }
      while ((await events.peek()) && String(events.cell(0)) === adm.id) {
        adm.events.push({ hours: events.cell(1) as number, variable: String(events.cell(2)), value: (events.cell(3) ?? events.cell(4)) as number | string });
        events.take();
      }
      let sorted = true;
      for (let i = 1; i < adm.events.length; i++) if (adm.events[i]!.hours < adm.events[i - 1]!.hours) sorted = false;
      if (!sorted) adm.events.sort((a, b) => a.hours - b.hours);
      rec.admissions.push(adm);
    }
    if (!opts.ids || opts.ids.has(id)) yield rec;
  }
  if (await admissions.peek()) throw order(`admissions (admission ${String(admissions.cell(0))} of patient ${String(admissions.cell(1))})`);
  if (await codes.peek()) throw order(`codes (of admission ${String(codes.cell(0))})`);
  if (await events.peek()) throw order(`events (of admission ${String(events.cell(0))})`);
}
