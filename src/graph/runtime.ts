/**
 * The project's one door to ONNX Runtime: the only module that imports onnxruntime-node.
 * Sessions, their options, a typed run wrapper and host-tensor helpers.
 *
 * Inputs are zero-copy; every output is copied back to JS (≈ 0.5 ms/MB), so graphs should keep
 * their outputs few: loss and gradients when training, token ids when sampling.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { SynehrError } from '../util/errors.ts';
import type { DType } from './tensor.ts';

export type HostTensor = ort.Tensor;
export type HostData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface SessionOptions {
  /** intra-op threads; 0 or undefined = ONNX Runtime's default (one per core) */
  threads?: number;
  /** 'cuda' needs an ONNX Runtime built with the CUDA execution provider */
  device?: 'cpu' | 'cuda';
  /** ORT's graph optimisations: 'all' fuses Transpose+MatMul, Gelu, LayerNorm patterns */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** 0 verbose … 4 fatal; default 3 (errors only) */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** memory pattern planning across runs with the same shapes (ORT default true) */
  enableMemPattern?: boolean;
  /** ORT's CPU memory arena (default true) */
  enableCpuMemArena?: boolean;
  /**
   * let idle intra-op threads spin between ops (ORT default true): a little faster on an idle
   * machine, wasted cycles on a shared one
   */
  allowSpinning?: boolean;
  /** write ORT's per-node profile (Chrome trace JSON) to <prefix>_<date>.json at endProfiling() */
  profileFilePrefix?: string;
  /**
   * ORT graph transformers to skip, by name (session config optimization.disable_specified_optimizers),
   * e.g. 'MatMulAddFusion'. ORT ignores a name it does not know, so a misspelt one does nothing.
   */
  disabledOptimizers?: readonly string[];
}

const ORT_DTYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/**
 * Whether this ONNX Runtime can run a device: cpu always; cuda when the CUDA provider library
 * sits beside the binding (onnxruntime-node's install script downloads it where CUDA is set up;
 * the project's .npmrc skips that download, so the default install has none).
 */
export function deviceAvailable(device: 'cpu' | 'cuda'): boolean {
  if (device === 'cpu') return true;
  if (ort.listSupportedBackends().some((b) => b.name === device && b.bundled)) return true;
  try {
    const dist = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
    const bin = path.join(dist, '..', 'bin', 'napi-v6', process.platform, process.arch);
    return fs.existsSync(path.join(bin, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

export class Session {
  private constructor(
    private readonly inner: ort.InferenceSession,
    readonly device: 'cpu' | 'cuda',
  ) {}

  static async create(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    if (device !== 'cpu' && device !== 'cuda') {
      throw new RangeError(`createSession: device must be 'cpu' or 'cuda', got '${String(device)}'`);
    }
    if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 0)) {
      throw new RangeError(`createSession: threads must be an integer ≥ 0, got ${opts.threads}`);
    }
    if (device === 'cuda' && !deviceAvailable('cuda')) {
      throw new SynehrError(
        'E_DEVICE',
        "device 'cuda' needs an ONNX Runtime with the CUDA execution provider; the installed onnxruntime-node " +
          `bundles only [${ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name).join(', ')}] and has no CUDA provider library ` +
          "(on a CUDA 12 machine, let onnxruntime-node's install script run, which package.json's allowScripts and .npmrc skip, with ONNXRUNTIME_NODE_INSTALL=cuda12; or use train.device=cpu)",
      );
    }
    const so: ort.InferenceSession.SessionOptions = {
      // ops the CUDA provider lacks fall back to the CPU one
      executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
      logSeverityLevel: opts.logSeverityLevel ?? 3,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    };
    if (opts.threads) so.intraOpNumThreads = opts.threads;
    if (opts.enableMemPattern !== undefined) so.enableMemPattern = opts.enableMemPattern;
    if (opts.enableCpuMemArena !== undefined) so.enableCpuMemArena = opts.enableCpuMemArena;
    // the Node binding takes flat config keys
    const extra: Record<string, string> = {};
    if (opts.allowSpinning === false) extra['session.intra_op.allow_spinning'] = '0';
    if (opts.disabledOptimizers?.length) extra['optimization.disable_specified_optimizers'] = opts.disabledOptimizers.join(',');
    if (Object.keys(extra).length) so.extra = extra;
    if (opts.profileFilePrefix) {
      so.enableProfiling = true;
      so.profileFilePrefix = opts.profileFilePrefix;
    }
    let inner: ort.InferenceSession;
    try {
      inner = await ort.InferenceSession.create(model, so);
    } catch (e) {
      throw new Error(`createSession: ONNX Runtime rejected the model (${model.byteLength} bytes): ${(e as Error).message}`, { cause: e });
    }
    return new Session(inner, device);
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  /** Runs the graph; `fetch` limits (and orders) the outputs copied back. */
  async run(feeds: Record<string, HostTensor>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    for (const name of this.inner.inputNames) {
      if (!(name in feeds)) throw new RangeError(`Session.run: missing input '${name}'`);
    }
    const out = fetch ? await this.inner.run(feeds, fetch) : await this.inner.run(feeds);
    return out as Record<string, HostTensor>;
  }

  /** Ends profiling (see SessionOptions.profileFilePrefix); ORT writes the trace file. */
  endProfiling(): void {
    this.inner.endProfiling();
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

export function createSession(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
  return Session.create(model, opts);
}

/**
 * A session over an .onnx file on disk (an export's sampler.onnx or model.onnx): a file that
 * cannot be read, or that ONNX Runtime refuses (truncated, damaged), is an E_ONNX error naming it.
 * (A graph built in memory that ORT refuses is a bug, and createSession's plain Error says so.)
 */
export async function createSessionFromFile(path: string, opts: SessionOptions = {}): Promise<Session> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new SynehrError('E_ONNX', `${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return await Session.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), opts);
  } catch (e) {
    if (e instanceof SynehrError) throw e;
    const why = String((e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message).split('\n')[0];
    throw new SynehrError('E_ONNX', `${path}: ONNX Runtime cannot load it (${why}); the file is damaged or truncated: export the run again (\`synehr export model=<run>\`)`, { cause: e });
  }
}

/** A host tensor over `data` (no copy). */
export function hostTensor(dtype: DType, data: HostData, dims: readonly number[]): HostTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) {
    throw new RangeError(`hostTensor: ${data.length} values for dims [${dims.join(', ')}] (${n} expected)`);
  }
  return new ort.Tensor(ORT_DTYPE[dtype], data as never, dims);
}

export function float32Tensor(data: Float32Array | number[], dims: readonly number[]): HostTensor {
  return hostTensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
}

export function float64Tensor(data: Float64Array | number[], dims: readonly number[]): HostTensor {
  return hostTensor('float64', data instanceof Float64Array ? data : Float64Array.from(data), dims);
}

export function int64Tensor(data: BigInt64Array | readonly number[], dims: readonly number[]): HostTensor {
  return hostTensor('int64', data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v)), dims);
}

/** The values of a float host tensor as numbers. */
export function toNumbers(t: HostTensor): number[] {
  const d = t.data;
  if (d instanceof BigInt64Array) return Array.from(d, Number);
  return Array.from(d as ArrayLike<number>);
}

/** A scalar output as a number. */
export function scalarValue(t: HostTensor): number {
  const d = t.data as ArrayLike<number | bigint>;
  if (d.length !== 1) throw new RangeError(`scalarValue: tensor has ${d.length} elements, expected 1`);
  return Number(d[0]);
}
