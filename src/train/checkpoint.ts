import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { ParamLayout } from '../model/init.ts';
import { writeFileAtomic } from '../util/files.ts';
import { SynehrError } from '../util/errors.ts';
import type { DataOrderState } from './batches.ts';

/**
 * A training checkpoint: everything `resume=true` needs to continue bit for bit.
 *
 *   [0, 8)          magic "SYNEHRCK"
 *   [8, 12)         format version, uint32 LE (CHECKPOINT_VERSION)
 *   [12, 16)        H, the JSON header's byte length, uint32 LE (padded with spaces so the data
 *                   starts on a multiple of 64 bytes)
 *   [16, 16 + H)    JSON CheckpointHeader
 *   [16 + H, EOF)   float32 LE: params [N] | AdamW m [N] | AdamW v [N] | with train.ema_decay,
 *                   the weight average's sum [N] (src/train/ema.ts); N = layout.total (the flat
 *                   layout of src/model/init.ts, padding included)
 *
 * Version 1 (before the weight average) is version 2 without it, and is read as such.
 * The header carries a CRC-32 of the data, so a file damaged after it was written is caught on load
 * rather than trained on. Files are written atomically (temporary file, fsync, rename).
 */
export const CHECKPOINT_MAGIC = 'SYNEHRCK';
export const CHECKPOINT_VERSION = 2;
/** the versions this synehr reads */
const READS = [1, 2];
const PREFIX = 16;
const DATA_ALIGN = 64;

export interface EarlyStoppingState {
  /** lowest validation loss so far (null before the first evaluation) */
  bestValLoss: number | null;
  bestStep: number | null;
  /** evaluations in a row without improvement */
  badEvals: number;
}

export interface CheckpointHeader {
  /** optimizer updates done */
  step: number;
  /** AdamW's t (bias-correction count); equals step unless updates were skipped */
  adamT: number;
  seed: number;
  vocabSize: number;
  /** the model's shape, compared on resume */
  model: { n_layer: number; n_embd: number; n_head: number; n_ctx: number };
  /** what fixes the data order, compared on resume */
  batchSize: number;
  gradAccum: number;
  /** train.ema_decay, compared on resume (null: no weight average; absent in version 1) */
  emaDecay: number | null;
  /** each parameter's name, shape and offset in the flat arrays */
  params: Array<{ name: string; shape: number[]; offset: number }>;
  total: number;
  dataOrder: DataOrderState;
  early: EarlyStoppingState;
  /** training tokens seen (real tokens, not padding) */
  tokensSeen: number;
  /** set when training ended (max_steps, early stopping or the time budget), so a resume knows there is nothing left */
  finished: 'max_steps' | 'early_stopping' | 'max_minutes' | null;
  /** seconds of the update loop so far, over every process of the run (0 when absent: older files) */
  trainSeconds: number;
  /** train.max_minutes the run was planned with (null: none, and absent in older files) */
  maxMinutes: number | null;
  /** the updates the schedule spans, as last planned under maxMinutes (null: train.max_steps) */
  plannedSteps: number | null;
  /** CRC-32 of the data section */
  crc32: number;
}

export interface Checkpoint {
  header: CheckpointHeader;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** the weight average's sum, present exactly when header.emaDecay is not null */
  ema: Float32Array | null;
}

export function encodeCheckpoint(ck: Checkpoint): Uint8Array {
  const N = ck.header.total;
  if ((ck.ema === null) !== (ck.header.emaDecay === null)) {
    throw new RangeError(`checkpoint: the weight average is ${ck.ema ? 'present' : 'missing'}, header.emaDecay is ${ck.header.emaDecay}`);
  }
  const arrays = [ck.params, ck.m, ck.v, ...(ck.ema ? [ck.ema] : [])];
  arrays.forEach((a, k) => {
    if (a.length !== N) throw new RangeError(`checkpoint ${['params', 'm', 'v', 'ema'][k]} has ${a.length} floats, header.total is ${N}`);
  });
  const dataBytes = arrays.length * N * 4;
  const data = new Uint8Array(dataBytes);
  arrays.forEach((a, k) => data.set(new Uint8Array(a.buffer, a.byteOffset, N * 4), k * N * 4));
  const header: CheckpointHeader = { ...ck.header, crc32: crc32(data) };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (DATA_ALIGN - ((PREFIX + json.length) % DATA_ALIGN)) % DATA_ALIGN;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(PREFIX + json.length + dataBytes);
  out.set(Buffer.from(CHECKPOINT_MAGIC, 'latin1'), 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, CHECKPOINT_VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, PREFIX);
  out.set(data, PREFIX + json.length);
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  const fail = (msg: string): never => {
    throw new SynehrError('E_CHECKPOINT', `${source}: ${msg}`);
  };
  if (bytes.length < PREFIX) fail(`truncated: ${bytes.length} bytes, shorter than the ${PREFIX}-byte prefix`);
  const magic = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (magic !== CHECKPOINT_MAGIC) {
    fail(`not a synehr checkpoint (magic ${JSON.stringify(magic)}, expected "${CHECKPOINT_MAGIC}"); model.safetensors holds weights only and cannot be resumed from`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (!READS.includes(version)) {
    fail(`checkpoint format version ${version}; this synehr reads versions ${READS.join(' and ')} (retrain, or use the synehr that wrote it)`);
  }
  const H = dv.getUint32(12, true);
  if (PREFIX + H > bytes.length) fail(`truncated: the header needs ${H} bytes, the file has ${bytes.length - PREFIX} after the prefix`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(PREFIX, PREFIX + H)).toString('utf8')) as CheckpointHeader;
  } catch (e) {
    return fail(`corrupt header (${(e as Error).message})`);
  }
  const N = header.total;
  if (!Number.isSafeInteger(N) || N < 0) fail(`corrupt header: total ${JSON.stringify(N)}`);
  header.emaDecay ??= null;
  header.trainSeconds ??= 0;
  header.maxMinutes ??= null;
  header.plannedSteps ??= null;
  const nArrays = header.emaDecay === null ? 3 : 4;
  const start = PREFIX + H;
  const need = nArrays * N * 4;
  if (bytes.length - start !== need) {
    fail(`${bytes.length - start < need ? 'truncated' : 'trailing bytes'}: the data section has ${bytes.length - start} bytes, the header promises ${need}`);
  }
  const data = bytes.subarray(start);
  const sum = crc32(data);
  if (sum !== header.crc32) fail(`corrupt data: CRC-32 ${sum.toString(16)} does not match the header's ${Number(header.crc32).toString(16)}`);
  // copied into fresh arrays: a Float32Array needs 4-byte alignment, which the file buffer need not have
  const f = (k: number): Float32Array => new Float32Array(data.buffer.slice(data.byteOffset + k * N * 4, data.byteOffset + (k + 1) * N * 4));
  return { header, params: f(0), m: f(1), v: f(2), ema: nArrays === 4 ? f(3) : null };
}

/**
 * Refuse a checkpoint of another model or data order: names the first thing that differs. Batch
 * size and accumulation fix the data order, so changing them would not continue the same run;
 * nor would another weight-average decay.
 */
export function checkCompatible(
  header: CheckpointHeader,
  expect: Pick<CheckpointHeader, 'vocabSize' | 'model' | 'batchSize' | 'gradAccum' | 'seed' | 'emaDecay'> & { layout: ParamLayout },
  source: string,
): void {
  const fail = (msg: string): never => {
    throw new SynehrError('E_CHECKPOINT', `${source}: checkpoint does not match this run: ${msg}`);
  };
  for (const k of ['n_layer', 'n_embd', 'n_head', 'n_ctx'] as const) {
    if (header.model?.[k] !== expect.model[k]) fail(`model.${k} is ${header.model?.[k]} in the checkpoint, ${expect.model[k]} in the config`);
  }
  if (header.vocabSize !== expect.vocabSize) fail(`vocabulary size ${header.vocabSize} in the checkpoint, ${expect.vocabSize} in the tokenizer`);
  if (header.batchSize !== expect.batchSize) fail(`train.batch_size is ${header.batchSize} in the checkpoint, ${expect.batchSize} in the config`);
  if (header.gradAccum !== expect.gradAccum) fail(`train.grad_accum is ${header.gradAccum} in the checkpoint, ${expect.gradAccum} in the config`);
  if (header.seed !== expect.seed) fail(`seed is ${header.seed} in the checkpoint, ${expect.seed} in the config`);
  // the average is over this run's updates at one decay: another decay, or none, is another run
  if (header.emaDecay !== expect.emaDecay) fail(`train.ema_decay is ${header.emaDecay} in the checkpoint, ${expect.emaDecay} in the config`);
  const specs = expect.layout.specs;
  if (header.params.length !== specs.length) fail(`${header.params.length} parameters in the checkpoint, the model has ${specs.length}`);
  header.params.forEach((p, i) => {
    const s = specs[i]!;
    if (p.name !== s.name || p.shape.join(',') !== s.shape.join(',') || p.offset !== expect.layout.offsets[i]) {
      fail(`parameter ${i} is '${p.name}' [${p.shape.join(', ')}] in the checkpoint, '${s.name}' [${s.shape.join(', ')}] in the model`);
    }
  });
  if (header.total !== expect.layout.total) fail(`${header.total} floats in the checkpoint, the model's layout has ${expect.layout.total}`);
}

const FILE_RE = /^step-(\d+)\.ckpt$/;

export function checkpointFileName(step: number): string {
  return `step-${String(step).padStart(8, '0')}.ckpt`;
}

/** Write checkpoints/step-XXXXXXXX.ckpt atomically and keep only the newest `keep` of them. */
export async function saveCheckpoint(dir: string, ck: Checkpoint, keep = 2): Promise<string> {
  const path = join(dir, checkpointFileName(ck.header.step));
  await writeFileAtomic(path, encodeCheckpoint(ck));
  const steps = await listCheckpointSteps(dir);
  for (const s of steps.slice(0, Math.max(0, steps.length - keep))) await rm(join(dir, checkpointFileName(s)), { force: true });
  return path;
}

/** Steps of the checkpoints in `dir`, ascending; [] when the folder does not exist. */
export async function listCheckpointSteps(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => FILE_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The newest checkpoint in `dir`, or null when there is none. */
export async function loadLatestCheckpoint(dir: string): Promise<{ path: string; checkpoint: Checkpoint } | null> {
  const steps = await listCheckpointSteps(dir);
  if (steps.length === 0) return null;
  const path = join(dir, checkpointFileName(steps[steps.length - 1]!));
  return { path, checkpoint: await loadCheckpoint(path) };
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SynehrError('E_CHECKPOINT', `${path}: cannot read checkpoint (${(e as Error).message})`);
  }
  return decodeCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
