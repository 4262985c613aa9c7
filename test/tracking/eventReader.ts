/**
 * An independent reader for TensorBoard event files, written from the format's description rather
 * than from src/tracking: a bit-by-bit CRC-32C (no table), a TFRecord unframer, and a generic
 * protobuf wire-format decoder. Tests parse what the tracker wrote with it.
 */

/** Bitwise CRC-32C, reflected polynomial 0x82F63B78. Deliberately the slow textbook form. */
export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (~crc) >>> 0;
}

export function masked(crc: number): number {
  const rot = ((crc >>> 15) | (crc << 17)) >>> 0;
  return (rot + 0xa282ead8) >>> 0;
}

/** Splits a TFRecord stream into records, checking both CRCs of each; throws naming the offset. */
export function readTfRecords(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < file.length) {
    if (o + 12 > file.length) throw new Error(`truncated header at byte ${o}`);
    const len = Number(view.getBigUint64(o, true));
    const lenCrc = view.getUint32(o + 8, true);
    if (lenCrc !== masked(crc32cBitwise(file.subarray(o, o + 8)))) throw new Error(`bad length CRC at byte ${o}`);
    const data = file.subarray(o + 12, o + 12 + len);
    if (data.length !== len || o + 16 + len > file.length) throw new Error(`truncated record at byte ${o}`);
    const dataCrc = view.getUint32(o + 12 + len, true);
    if (dataCrc !== masked(crc32cBitwise(data))) throw new Error(`bad data CRC at byte ${o}`);
    out.push(data);
    o += 16 + len;
  }
  return out;
}

export type Field =
  | { no: number; wire: 0; value: bigint }
  | { no: number; wire: 1; value: DataView }
  | { no: number; wire: 2; value: Uint8Array }
  | { no: number; wire: 5; value: DataView };

export function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let o = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (o >= buf.length) throw new Error('truncated varint');
      const b = buf[o++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) return v;
    }
  };
  while (o < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ no, wire, value: varint() });
    else if (wire === 1) {
      fields.push({ no, wire, value: new DataView(buf.buffer, buf.byteOffset + o, 8) });
      o += 8;
    } else if (wire === 2) {
      const n = Number(varint());
      fields.push({ no, wire, value: buf.subarray(o, o + n) });
      o += n;
    } else if (wire === 5) {
      fields.push({ no, wire, value: new DataView(buf.buffer, buf.byteOffset + o, 4) });
      o += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  if (o !== buf.length) throw new Error('message overruns its buffer');
  return fields;
}

export interface ParsedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
  texts: Record<string, string>;
  /** plugin name per tag, from Summary.Value.metadata.plugin_data */
  plugins: Record<string, string>;
}

const utf8 = new TextDecoder();

function bytesOf(fields: Field[], no: number): Uint8Array[] {
  return fields.filter((f) => f.no === no && f.wire === 2).map((f) => f.value as Uint8Array);
}

/** tensorflow.Event: wall_time=1 (double), step=2 (int64), file_version=3, summary=5 */
export function parseEvent(data: Uint8Array): ParsedEvent {
  const f = decodeFields(data);
  const ev: ParsedEvent = { wallTime: NaN, step: 0, scalars: {}, texts: {}, plugins: {} };
  for (const x of f) {
    if (x.no === 1 && x.wire === 1) ev.wallTime = x.value.getFloat64(0, true);
    if (x.no === 2 && x.wire === 0) ev.step = Number(x.value);
    if (x.no === 3 && x.wire === 2) ev.fileVersion = utf8.decode(x.value);
  }
  for (const summary of bytesOf(f, 5)) {
    for (const valueBytes of bytesOf(decodeFields(summary), 1)) {
      const v = decodeFields(valueBytes);
      const tag = utf8.decode(bytesOf(v, 1)[0]);
      const simple = v.find((x) => x.no === 2 && x.wire === 5);
      if (simple) ev.scalars[tag] = (simple.value as DataView).getFloat32(0, true);
      for (const meta of bytesOf(v, 9)) {
        for (const plugin of bytesOf(decodeFields(meta), 1)) {
          ev.plugins[tag] = utf8.decode(bytesOf(decodeFields(plugin), 1)[0]);
        }
      }
      for (const tensor of bytesOf(v, 8)) {
        const t = decodeFields(tensor);
        const dtype = t.find((x) => x.no === 1 && x.wire === 0);
        if (dtype?.value !== 7n) throw new Error(`tensor of tag ${tag} is not DT_STRING`);
        const shape = bytesOf(t, 2)[0];
        if (shape === undefined || decodeFields(shape).some((d) => d.no === 2)) throw new Error(`text tensor ${tag} is not a scalar`);
        ev.texts[tag] = utf8.decode(bytesOf(t, 8)[0]);
      }
    }
  }
  return ev;
}

export function readEventFile(file: Uint8Array): ParsedEvent[] {
  return readTfRecords(file).map(parseEvent);
}
