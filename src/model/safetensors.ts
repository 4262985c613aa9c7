import { readFile } from 'node:fs/promises';
import { SynehrError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/files.ts';

/**
 * Read and write the safetensors format (https://github.com/huggingface/safetensors, "Format"):
 *
 *   [0, 8)        N, the header's byte length, an unsigned 64-bit little-endian integer
 *   [8, 8 + N)    a UTF-8 JSON object: { "__metadata__"?: {string: string},
 *                   "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
 *                 which may end in spaces (0x20) so that the data starts aligned
 *   [8 + N, EOF)  the byte buffer; data_offsets are relative to its start, little-endian, row-major,
 *                 and together cover it with no holes and no overlap
 *
 * We write the header padded to a multiple of 8 bytes (as the reference implementation does), the
 * metadata first, then tensors in the order given. `format: "pt"` in the metadata lets Hugging Face
 * transformers load the file.
 */

export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** The typed arrays a tensor can be written from; F16 and BF16 are written from their raw Uint16 bits. */
export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** the tensor's bytes, little-endian, row-major (a view into the file's buffer when read) */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: SafetensorsTensor[];
  metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB: a corrupt length should not allocate gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

/** Serialize tensors (and string metadata) to safetensors bytes. */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`safetensors metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name)) {
      throw new RangeError(`safetensors tensor name '${t.name}' is reserved or repeated`);
    }
    seen.add(t.name);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const nbytes = numel * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== nbytes) {
      throw new RangeError(
        `safetensors tensor '${t.name}': shape [${t.shape.join(', ')}] of ${t.dtype} needs ${nbytes} bytes, data has ${t.data.byteLength}`,
      );
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    // typed arrays are host-endian; every platform Node runs on here is little-endian
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Parse safetensors bytes. `source` names the file in errors. Tensor bytes are views into `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SynehrError('E_SAFETENSORS', `${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, the 8-byte header length is missing`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} exceeds ${MAX_HEADER_BYTES} bytes: not a safetensors file, or corrupt`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`truncated: header says ${n} header bytes, the file has only ${bytes.length - 8} after the length`);
  const headerBytes = bytes.subarray(8, 8 + n);
  if (headerBytes[0] !== 0x7b) fail(`header does not start with '{': not a safetensors file, or corrupt`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensor[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`__metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`tensor '${name}': entry is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
      fail(`tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor '${name}': shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    }
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0) || off[0] > off[1]) {
      fail(`tensor '${name}': data_offsets ${JSON.stringify(off)} is not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = off as [number, number];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
    }
    if (end > data.length) fail(`truncated: tensor '${name}' ends at byte ${end} of the data, which has only ${data.length}`);
    tensors.push({ name, dtype, shape, bytes: data.subarray(begin, end) });
  }
  // the byte buffer must be covered exactly: sorted by offset, each tensor starts where the last ended
  const spans = tensors.map((t) => [t.bytes.byteOffset - data.byteOffset, t.bytes.byteOffset - data.byteOffset + t.bytes.length, t.name] as const);
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at) fail(`tensor '${name}' starts at data byte ${begin}, expected ${at} (a hole or an overlap)`);
    at = end;
  }
  if (at !== data.length) fail(`the data holds ${data.length} bytes but the tensors cover ${at} (trailing bytes)`);
  return { tensors, metadata };
}

/** A tensor's values as Float32 (F32 copied, F64/F16/BF16 converted); other dtypes are refused. */
export function tensorToFloat32(t: SafetensorsTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    case 'BF16': {
      // bfloat16 is the top half of a float32
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    default:
      throw new TypeError(`tensor '${t.name}' has dtype ${t.dtype}; expected a floating-point dtype (F32, F64, F16, BF16)`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Write a safetensors file atomically: a temporary file in the same folder, fsync, then rename. */
export async function saveSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SynehrError('E_INPUT', `${path}: cannot read safetensors file (${(e as Error).message})`);
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/**
 * The settings a stage stamped as JSON under metadata `key` (a `{settings, ...}` record), or
 * undefined when there is no such key; a value that is not JSON is an error naming the file and key.
 */
export function stampedSettings(file: SafetensorsFile, key: string, path: string): unknown {
  const raw = file.metadata[key];
  if (raw === undefined) return undefined;
  try {
    return (JSON.parse(raw) as { settings?: unknown }).settings;
  } catch (e) {
    throw new SynehrError('E_SAFETENSORS', `${path}: metadata '${key}' is not JSON (${(e as Error).message}): ${JSON.stringify(raw.slice(0, 80))}`);
  }
}
