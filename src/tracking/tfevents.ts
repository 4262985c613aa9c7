/**
 * TensorBoard event files: `events.out.tfevents.<unix seconds>.<host>`, a TFRecord stream of
 * `tensorflow.Event` protobufs. Each record is
 *
 *   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
 *
 * The first event carries `file_version: "brain.Event:2"`; later ones carry a `Summary`.
 * Field numbers (tensorflow/core/util/event.proto, summary.proto, tensor.proto):
 *   Event         { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary       { repeated Value value = 1; }
 *   Summary.Value { string tag = 1; float simple_value = 2; TensorProto tensor = 8; SummaryMetadata metadata = 9; }
 *   SummaryMetadata { PluginData plugin_data = 1; }   PluginData { string plugin_name = 1; bytes content = 2; }
 *   TensorProto   { DataType dtype = 1; TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { maskedCrc32c } from './crc32c.ts';
import { ProtoWriter } from './protobuf.ts';

/** tensorflow.DataType DT_STRING */
const DT_STRING = 7;

export const EVENT_FILE_VERSION = 'brain.Event:2';

/** The file name TensorBoard (and `wandb sync --sync-tensorboard`) looks for. */
export function eventFileName(wallTimeSeconds: number, host: string): string {
  return `events.out.tfevents.${Math.floor(wallTimeSeconds)}.${host}`;
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export function encodeFileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).uint64(2, 0).string(3, EVENT_FILE_VERSION).finish();
}

/** One Event holding a Summary with one `simple_value` per scalar. */
export function encodeScalarsEvent(wallTime: number, step: number, scalars: Record<string, number>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(scalars)) {
    summary.message(1, new ProtoWriter().string(1, tag).float(2, value));
  }
  return new ProtoWriter().double(1, wallTime).uint64(2, step).message(5, summary).finish();
}

/**
 * One Event holding a text summary in the form tf.summary.text writes: a scalar DT_STRING tensor
 * tagged with the "text" plugin, which TensorBoard's text dashboard renders as Markdown.
 */
export function encodeTextEvent(wallTime: number, step: number, tag: string, text: string): Uint8Array {
  const tensor = new ProtoWriter()
    .uint64(1, DT_STRING)
    .message(2, new ProtoWriter()) // shape {}: a scalar
    .bytes(8, new TextEncoder().encode(text));
  const metadata = new ProtoWriter().message(1, new ProtoWriter().string(1, 'text'));
  const value = new ProtoWriter().string(1, tag).message(9, metadata).message(8, tensor);
  return new ProtoWriter().double(1, wallTime).uint64(2, step).message(5, new ProtoWriter().message(1, value)).finish();
}

/**
 * Appends events to one file. Writes are synchronous so that TensorBoard (and our dashboard) see a
 * step as soon as it is logged, and a crash loses nothing already logged.
 */
export class EventFileWriter {
  readonly path: string;
  private fd: number | null;

  constructor(dir: string, wallTime: number, host: string = osHostname()) {
    this.path = join(dir, eventFileName(wallTime, host));
    this.fd = openSync(this.path, 'a');
    this.write(encodeFileVersionEvent(wallTime));
  }

  write(event: Uint8Array): void {
    if (this.fd === null) throw new Error(`event file ${this.path} is closed`);
    writeSync(this.fd, frameRecord(event));
  }

  flush(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
