/**
 * Token shards: one split's token ids, every patient's sequence back to back, with an index of
 * where each patient starts. Little-endian layout:
 *
 *   offset  size       field
 *   0       8          magic "SYNTOKS\0"
 *   8       4          format version (1)
 *   12      4          bytes per id: 2 (uint16, when the vocabulary fits) or 4 (uint32)
 *   16      4          vocabulary size V
 *   20      4          number of patients P
 *   24      8          number of tokens N (uint64)
 *   32      32         the tokenizer's vocabulary hash (ASCII hex), to match a shard to its tokenizer.json
 *   64      4          byte length of the patient-id block J
 *   68      60         reserved, zero
 *   128     4 (P+1)    offsets: patient p's ids are ids[offsets[p], offsets[p+1])  (uint32)
 *   ...     0-2        zero padding to a multiple of 4
 *   ...     N * bytes  ids
 *   ...     J          patient ids as a UTF-8 JSON array of strings
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SynehrError } from '../util/errors.ts';

export const SHARD_MAGIC = 'SYNTOKS\0';
export const SHARD_VERSION = 1;
const HEADER_BYTES = 128;

export interface TokenShard {
  /** [N] every patient's token ids, concatenated */
  ids: Uint16Array | Uint32Array;
  /** [P+1] patient p spans ids[offsets[p], offsets[p+1]) */
  offsets: Uint32Array;
  vocabSize: number;
  /** [P] the patients' ids, in shard order */
  patientIds: string[];
  /** the tokenizer's vocabHash() ('' when unknown) */
  vocabHash: string;
  version: number;
}

/** Concatenates per-patient sequences into a shard (uint16 ids when vocabSize <= 65536). */
export function buildTokenShard(
  sequences: ArrayLike<number>[],
  patientIds: string[],
  vocabSize: number,
  vocabHash = '',
): TokenShard {
  if (patientIds.length !== sequences.length) {
    throw new RangeError(`buildTokenShard: ${sequences.length} sequences but ${patientIds.length} patient ids`);
  }
  let N = 0;
  for (const s of sequences) N += s.length;
  if (N > 0xffffffff) throw new RangeError(`buildTokenShard: ${N} tokens do not fit uint32 offsets`);
  const ids = vocabSize <= 0x10000 ? new Uint16Array(N) : new Uint32Array(N);
  const offsets = new Uint32Array(sequences.length + 1);
  let at = 0;
  sequences.forEach((s, p) => {
    offsets[p] = at;
    ids.set(s, at);
    at += s.length;
  });
  offsets[sequences.length] = at;
  return { ids, offsets, vocabSize, patientIds, vocabHash, version: SHARD_VERSION };
}

export function writeTokenShard(path: string, shard: Omit<TokenShard, 'version'>): void {
  const { ids, offsets, vocabSize, patientIds, vocabHash } = shard;
  const P = offsets.length - 1;
  const N = ids.length;
  const bytes = ids.BYTES_PER_ELEMENT;
  if (P < 0 || offsets[0] !== 0 || offsets[P] !== N) {
    throw new RangeError(`writeTokenShard: offsets must run from 0 to ${N} tokens, got ${offsets[0]}..${offsets[P]}`);
  }
  if (patientIds.length !== P) throw new RangeError(`writeTokenShard: ${P} patients but ${patientIds.length} patient ids`);
  if (bytes === 2 && vocabSize > 0x10000) throw new RangeError(`writeTokenShard: vocabulary of ${vocabSize} does not fit uint16 ids`);
  const idJson = Buffer.from(JSON.stringify(patientIds), 'utf8');
  const offsetsEnd = HEADER_BYTES + 4 * (P + 1);
  const idsStart = align4(offsetsEnd);
  const total = idsStart + N * bytes + idJson.length;
  const buf = Buffer.alloc(total);
  buf.write(SHARD_MAGIC, 0, 'latin1');
  buf.writeUInt32LE(SHARD_VERSION, 8);
  buf.writeUInt32LE(bytes, 12);
  buf.writeUInt32LE(vocabSize, 16);
  buf.writeUInt32LE(P, 20);
  buf.writeBigUInt64LE(BigInt(N), 24);
  buf.write(vocabHash.slice(0, 32).padEnd(32, '\0'), 32, 'latin1');
  buf.writeUInt32LE(idJson.length, 64);
  Buffer.from(offsets.buffer, offsets.byteOffset, offsets.byteLength).copy(buf, HEADER_BYTES);
  Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength).copy(buf, idsStart);
  idJson.copy(buf, idsStart + N * bytes);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, buf);
}

/** Reads and checks a shard: magic, version, sizes, offsets monotone, every id < vocabSize. */
export function readTokenShard(path: string): TokenShard {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SynehrError('E_SHARD', `${path}: cannot read token shard (${(e as Error).message}); run \`synehr tokenize\` first`);
  }
  return parseTokenShard(buf, path);
}

export function parseTokenShard(buf: Buffer, path = 'token shard'): TokenShard {
  const bad = (msg: string): SynehrError => new SynehrError('E_SHARD', `${path}: ${msg}`);
  if (buf.length < HEADER_BYTES) throw bad(`${buf.length} bytes is shorter than the ${HEADER_BYTES}-byte header; not a synehr token shard`);
  const magic = buf.toString('latin1', 0, 8);
  if (magic !== SHARD_MAGIC) {
    throw bad(`wrong magic ${JSON.stringify(magic)} (expected ${JSON.stringify(SHARD_MAGIC)}); not a synehr token shard`);
  }
  const version = buf.readUInt32LE(8);
  if (version !== SHARD_VERSION) {
    throw bad(`token shard version ${version} is not supported (this synehr reads version ${SHARD_VERSION}); rerun \`synehr tokenize\``);
  }
  const bytes = buf.readUInt32LE(12);
  if (bytes !== 2 && bytes !== 4) throw bad(`bytes per id is ${bytes}, expected 2 or 4 (corrupt header)`);
  const vocabSize = buf.readUInt32LE(16);
  const P = buf.readUInt32LE(20);
  const N = Number(buf.readBigUInt64LE(24));
  const vocabHash = buf.toString('latin1', 32, 64).replace(/\0+$/, '');
  const J = buf.readUInt32LE(64);
  const idsStart = align4(HEADER_BYTES + 4 * (P + 1));
  const expected = idsStart + N * bytes + J;
  if (buf.length !== expected) {
    throw bad(`file is ${buf.length} bytes but its header (P=${P} patients, N=${N} tokens) implies ${expected}: truncated or corrupt`);
  }
  // copy into fresh, aligned arrays: a Buffer's byteOffset need not be a multiple of 4
  const offsets = new Uint32Array(P + 1);
  Buffer.from(offsets.buffer).set(buf.subarray(HEADER_BYTES, HEADER_BYTES + 4 * (P + 1)));
  const ids = bytes === 2 ? new Uint16Array(N) : new Uint32Array(N);
  Buffer.from(ids.buffer).set(buf.subarray(idsStart, idsStart + N * bytes));
  if (offsets[0] !== 0 || offsets[P] !== N) throw bad(`offsets run from ${offsets[0]} to ${offsets[P]}, expected 0 to ${N} (corrupt index)`);
  for (let p = 0; p < P; p++) {
    if (offsets[p + 1]! < offsets[p]!) throw bad(`offsets[${p + 1}] = ${offsets[p + 1]} < offsets[${p}] = ${offsets[p]} (corrupt index)`);
  }
  for (let i = 0; i < N; i++) {
    if (ids[i]! >= vocabSize) throw bad(`token ${i} has id ${ids[i]} >= vocabulary size ${vocabSize} (corrupt ids)`);
  }
  let patientIds: string[];
  try {
    patientIds = JSON.parse(buf.toString('utf8', idsStart + N * bytes)) as string[];
  } catch {
    throw bad('patient-id block is not valid JSON (corrupt)');
  }
  if (!Array.isArray(patientIds) || patientIds.length !== P) throw bad(`patient-id block lists ${patientIds?.length} ids for ${P} patients (corrupt)`);
  return { ids, offsets, vocabSize, patientIds, vocabHash, version };
}

/** Patient p's token ids (a view, no copy). */
export function shardPatient(shard: Pick<TokenShard, 'ids' | 'offsets'>, p: number): Uint16Array | Uint32Array {
  return shard.ids.subarray(shard.offsets[p]!, shard.offsets[p + 1]!);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
