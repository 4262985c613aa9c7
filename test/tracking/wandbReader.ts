/**
 * An independent reader of W&B transaction logs (`run-<id>.wandb`), written from the format's
 * definition rather than from synehr's writer: LevelDB's log format (google/leveldb
 * doc/log_format.md) with W&B's 7-byte file header and the IEEE CRC-32 (wandb
 * core/pkg/leveldb/record.go, wandb/sdk/internal/datastore.py), records decoded by protobufjs
 * with W&B's own wandb_internal.proto (test/fixtures/wandb/). Strict where W&B's reader is:
 * a bad header, a bad checksum, a chunk that crosses a block, or a MIDDLE/LAST chunk with no
 * FIRST is an error.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const BLOCK = 32768;
const HEADER = 7;

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit. */
function crc32Ieee(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The records of a .wandb file as raw bytes, in order. */
export function readWandbChunks(file: Uint8Array): Uint8Array[] {
  if (file.length < 7) throw new Error(`file of ${file.length} bytes has no W&B header`);
  const ident = new TextDecoder().decode(file.subarray(0, 4));
  const magic = file[4] | (file[5] << 8);
  if (ident !== ':W&B' || magic !== 0xbee1 || file[6] !== 0) {
    throw new Error(`bad W&B header: ${JSON.stringify(ident)} magic 0x${magic.toString(16)} version ${file[6]}`);
  }
  const records: Uint8Array[] = [];
  let partial: Uint8Array[] | null = null;
  let pos = 7;
  while (pos < file.length) {
    const inBlock = pos % BLOCK;
    if (BLOCK - inBlock < HEADER) {
      // trailer: must be zeros
      for (let i = pos; i < pos + (BLOCK - inBlock) && i < file.length; i++) if (file[i] !== 0) throw new Error(`non-zero block trailer at ${i}`);
      pos += BLOCK - inBlock;
      continue;
    }
    if (pos + HEADER > file.length) throw new Error(`truncated chunk header at ${pos}`);
    const view = new DataView(file.buffer, file.byteOffset + pos, HEADER);
    const checksum = view.getUint32(0, true);
    const length = view.getUint16(4, true);
    const type = file[pos + 6];
    const end = pos + HEADER + length;
    if (inBlock + HEADER + length > BLOCK) throw new Error(`chunk at ${pos} crosses its block`);
    if (end > file.length) throw new Error(`chunk at ${pos} runs past the end of the file`);
    if (crc32Ieee(file.subarray(pos + 6, end)) !== checksum) throw new Error(`checksum mismatch in chunk at ${pos}`);
    const data = file.subarray(pos + HEADER, end);
    if (type === 1) {
      if (partial !== null) throw new Error(`FULL chunk at ${pos} inside a fragmented record`);
      records.push(data);
    } else if (type === 2) {
      if (partial !== null) throw new Error(`FIRST chunk at ${pos} inside a fragmented record`);
      partial = [data];
    } else if (type === 3 || type === 4) {
      if (partial === null) throw new Error(`${type === 3 ? 'MIDDLE' : 'LAST'} chunk at ${pos} with no FIRST`);
      partial.push(data);
      if (type === 4) {
        records.push(Buffer.concat(partial));
        partial = null;
      }
    } else {
      throw new Error(`chunk type ${type} at ${pos}`);
    }
    pos = end;
  }
  if (partial !== null) throw new Error('file ends inside a fragmented record');
  return records;
}

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'wandb');
let recordType: protobuf.Type | null = null;

/** wandb_internal.Record, from W&B's .proto files. */
export function wandbRecordType(): protobuf.Type {
  if (recordType === null) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('wandb/') ? join(fixtures, target) : target);
    root.loadSync('wandb/proto/wandb_internal.proto', { keepCase: true });
    recordType = root.lookupType('wandb_internal.Record');
  }
  return recordType;
}

/** Every record of a .wandb file, decoded, as plain objects (int64 as numbers, defaults omitted). */
export function readWandbFile(path: string): Record<string, any>[] {
  const type = wandbRecordType();
  return readWandbChunks(new Uint8Array(readFileSync(path))).map((bytes) =>
    type.toObject(type.decode(bytes), { longs: Number, enums: String, oneofs: true }),
  );
}

/** A W&B extended-JSON value (NaN, Infinity and -Infinity bare). */
export function parseWandbJson(text: string): unknown {
  return JSON.parse(text.replace(/(?<=[:,[]|^)(-?Infinity|NaN)(?=[,}\]]|$)/g, '"__$1__"'), (_k, v) =>
    v === '__NaN__' ? NaN : v === '__Infinity__' ? Infinity : v === '__-Infinity__' ? -Infinity : v,
  );
}
