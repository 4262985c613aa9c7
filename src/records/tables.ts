/**
 * Writing records as the four tables of schema.ts, as Parquet (what the stages read) or CSV (for
 * people). Streaming: rows are buffered per table up to BATCH_ROWS, then handed to parquet-wasm's
 * streaming writer as one row group, so a writer never holds more than one batch per table.
 * Files are written under temporary names and renamed when all four are complete. Rows come out
 * grouped by patient in patient order, and every Parquet table says so in its schema metadata
 * (schema.ts LAYOUT_KEY), so read.ts can stream them back one patient at a time.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DataType, Field, Float64, Int32, makeData, RecordBatch, Schema, Struct, Table, tableToIPC, Utf8 } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import type { DataConfig } from './dataConfig.ts';
import type { PatientRecord } from './types.ts';
import { SynehrError } from '../util/errors.ts';
import { CsvWriter } from './csv.ts';
import { GROUPED_LAYOUT, LAYOUT_KEY, ROLE_KEY, TABLE_NAMES, tableColumns, type ColumnKind, type ColumnSpec, type TableCounts, type TableName } from './schema.ts';

export type TableFormat = 'parquet' | 'csv';

// the records' front door: the schema, the readers and the writer from one import
export { TABLE_NAMES, tableColumns, type TableCounts, type TableName } from './schema.ts';
export { readRecords, streamRecords, type ReadRecordsOptions } from './read.ts';
export { readParquetTable } from './parquet.ts';

/** Rows per Parquet row group: large enough for good compression, small enough to stream. */
const BATCH_ROWS = 64 * 1024;

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
    new Map([[LAYOUT_KEY, GROUPED_LAYOUT]]),
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

function csvSink(path: string, cols: ColumnSpec[]): TableSink {
  const file = new CsvWriter(path, cols.map((c) => c.name));
  return {
    rows: 0,
    push(row) {
      this.rows++;
      return file.write(row);
    },
    close: () => file.close(),
    async abort() {
      file.abort();
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
