/**
 * W&B's transaction log, the `run-<id>.wandb` file that the W&B SDK writes for every run and that
 * `wandb sync` uploads. Written without the SDK, from the format as W&B defines it
 * (wandb/sdk/internal/datastore.py and core/pkg/leveldb/record.go in the wandb repository):
 *
 *   file   := header block*
 *   header := ":W&B" | uint16 0xBEE1 (little-endian) | uint8 version 0          7 bytes
 *   block  := chunk* zero padding                                                32 KiB, the first one 7 bytes short
 *   chunk  := uint32 CRC-32 (IEEE) of type and data | uint16 length | uint8 type | data
 *
 * which is LevelDB's log format with W&B's header in front and the IEEE CRC instead of CRC-32C.
 * A record larger than what is left of a block is split into FIRST, MIDDLE..., LAST chunks; a
 * block with fewer than 7 bytes left is padded with zeros. Each record is one
 * `wandb_internal.Record` protobuf (wandb/proto/wandb_internal.proto), of which we write:
 *
 *   Record        { int64 num = 1; HistoryRecord history = 2; SummaryRecord summary = 3;
 *                   MetricRecord metric = 12; RunRecord run = 17; RunExitRecord exit = 18;
 *                   HeaderRecord header = 21; }
 *   HeaderRecord  { VersionInfo version_info = 1; }   VersionInfo { string producer = 1; }
 *   RunRecord     { string run_id = 1; string entity = 2; string project = 3; ConfigRecord config = 4;
 *                   string display_name = 8; string host = 13; Timestamp start_time = 17; }
 *   ConfigRecord  { repeated ConfigItem update = 1; }        ConfigItem  { string key = 1; string value_json = 16; }
 *   HistoryRecord { repeated HistoryItem item = 1; HistoryStep step = 2; }   HistoryStep { int64 num = 1; }
 *   HistoryItem   { string key = 1; string value_json = 16; }
 *   SummaryRecord { repeated SummaryItem update = 1; }       SummaryItem { string key = 1; string value_json = 16; }
 *   MetricRecord  { string name = 1; MetricSummary summary = 7; MetricGoal goal = 8; }
 *   MetricSummary { bool min = 1; bool last = 5; }           MetricGoal GOAL_MINIMIZE = 1
 *   RunExitRecord { int32 exit_code = 1; int32 runtime = 2; }
 *   google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }
 *
 * `value_json` is JSON as W&B extends it: NaN, Infinity and -Infinity are written bare.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { ProtoWriter } from './protobuf.ts';

const BLOCK_SIZE = 32 * 1024;
const CHUNK_HEADER_SIZE = 7;
const CHUNK_FULL = 1;
const CHUNK_FIRST = 2;
const CHUNK_MIDDLE = 3;
const CHUNK_LAST = 4;

/** ":W&B", magic 0xBEE1 (little-endian), store version 0 */
export const WANDB_FILE_HEADER = Uint8Array.of(0x3a, 0x57, 0x26, 0x42, 0xe1, 0xbe, 0);

/** Frames records into W&B's LevelDB-style log; the caller writes the bytes it returns, in order. */
export class WandbLogFramer {
  /** bytes used in the current block; the file header takes the first 7 of block 0 */
  private blockOffset = WANDB_FILE_HEADER.length;

  /** the chunks (and any block padding before them) that hold one record */
  frame(record: Uint8Array): Uint8Array {
    const parts: Uint8Array[] = [];
    let pos = 0;
    let first = true;
    do {
      const left = BLOCK_SIZE - this.blockOffset;
      if (left < CHUNK_HEADER_SIZE) {
        parts.push(new Uint8Array(left));
        this.blockOffset = 0;
        continue;
      }
      const n = Math.min(left - CHUNK_HEADER_SIZE, record.length - pos);
      const last = pos + n === record.length;
      const type = first && last ? CHUNK_FULL : first ? CHUNK_FIRST : last ? CHUNK_LAST : CHUNK_MIDDLE;
      const chunk = new Uint8Array(CHUNK_HEADER_SIZE + n);
      chunk[6] = type;
      chunk.set(record.subarray(pos, pos + n), CHUNK_HEADER_SIZE);
      const view = new DataView(chunk.buffer);
      view.setUint32(0, crc32(chunk.subarray(6)), true); // over the type byte and the data
      view.setUint16(4, n, true);
      parts.push(chunk);
      this.blockOffset += chunk.length;
      pos += n;
      first = false;
      if (last) break;
    } while (true);
    return concat(parts);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** JSON as W&B's `value_json` takes it: standard JSON, with bare NaN / Infinity / -Infinity for non-finite numbers. */
export function wandbJson(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${wandbJson(v)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(wandbJson).join(',')}]`;
  return JSON.stringify(value) ?? 'null';
}

const REC_HISTORY = 2;
const REC_SUMMARY = 3;
const REC_METRIC = 12;
const REC_RUN = 17;
const REC_EXIT = 18;
const REC_HEADER = 21;

const METRIC_GOAL_MINIMIZE = 1;

/** key/value_json items (ConfigItem, HistoryItem and SummaryItem share the layout) */
function items(field: number, entries: [string, unknown][], into: ProtoWriter): ProtoWriter {
  for (const [key, value] of entries) into.message(field, new ProtoWriter().string(1, key).string(16, wandbJson(value)));
  return into;
}

export interface WandbRunInfo {
  runId: string;
  /** '' lets `wandb sync` use the syncing user's default entity */
  entity: string;
  project: string;
  displayName: string;
  host: string;
  /** Unix seconds */
  startTime: number;
  /** top-level config keys and their values */
  config: Record<string, unknown>;
}

/** Record encoders, one per kind of record synehr writes; `num` is the record's sequence number. */
export const wandbRecords = {
  header(num: number, producer: string): Uint8Array {
    const header = new ProtoWriter().message(1, new ProtoWriter().string(1, producer));
    return new ProtoWriter().uint64(1, num).message(REC_HEADER, header).finish();
  },

  run(num: number, run: WandbRunInfo): Uint8Array {
    const seconds = Math.floor(run.startTime);
    const timestamp = new ProtoWriter().uint64(1, seconds);
    const nanos = Math.round((run.startTime - seconds) * 1e9);
    if (nanos > 0) timestamp.uint64(2, Math.min(nanos, 999_999_999));
    const r = new ProtoWriter().string(1, run.runId);
    if (run.entity !== '') r.string(2, run.entity);
    r.string(3, run.project)
      .message(4, items(1, Object.entries(run.config), new ProtoWriter()))
      .string(8, run.displayName)
      .string(13, run.host)
      .message(17, timestamp);
    return new ProtoWriter().uint64(1, num).message(REC_RUN, r).finish();
  },

  /** a metric whose summary is `{min, last}` and whose goal is to go down (W&B's define_metric(name, summary="min,last", goal="minimize")) */
  minimizedMetric(num: number, name: string): Uint8Array {
    const summary = new ProtoWriter().uint64(1, 1).uint64(5, 1);
    const m = new ProtoWriter().string(1, name).message(7, summary).uint64(8, METRIC_GOAL_MINIMIZE);
    return new ProtoWriter().uint64(1, num).message(REC_METRIC, m).finish();
  },

  history(num: number, step: number, row: [string, unknown][]): Uint8Array {
    const h = items(1, row, new ProtoWriter()).message(2, new ProtoWriter().uint64(1, step));
    return new ProtoWriter().uint64(1, num).message(REC_HISTORY, h).finish();
  },

  summary(num: number, update: [string, unknown][]): Uint8Array {
    return new ProtoWriter().uint64(1, num).message(REC_SUMMARY, items(1, update, new ProtoWriter())).finish();
  },

  exit(num: number, exitCode: number, runtimeSeconds: number): Uint8Array {
    const e = new ProtoWriter();
    if (exitCode !== 0) e.uint64(1, exitCode);
    if (runtimeSeconds > 0) e.uint64(2, runtimeSeconds);
    return new ProtoWriter().uint64(1, num).message(REC_EXIT, e).finish();
  },
};

/**
 * An open run-<id>.wandb file. Each record goes to disk when it is written (the file is readable,
 * and syncable, at any moment; `wandb sync` marks a log with no exit record as a failed run).
 */
export class WandbLogWriter {
  readonly path: string;
  private fd: number | null;
  private readonly framer = new WandbLogFramer();
  private num = 0;

  constructor(path: string) {
    this.path = path;
    // 'wx': never truncate an existing log (W&B's writer opens with O_EXCL for the same reason)
    this.fd = openSync(path, 'wx');
    writeSync(this.fd, WANDB_FILE_HEADER);
  }

  /** the next record number (W&B numbers a log's records from 1) */
  nextNum(): number {
    return ++this.num;
  }

  write(record: Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.path}: write after close()`);
    writeSync(this.fd, this.framer.frame(record));
  }

  close(): void {
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}
