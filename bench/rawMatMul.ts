/**
 * ONNX Runtime's raw MatMul rate, the ceiling the training benchmarks (bench/train.ts,
 * bench/graph.ts) measure synehr against: [M, K] x [K, N] as four products with different right
 * operands (so none is merged with another), each cut to one element, so no large output is copied
 * back to JS (≈ 0.5 ms/MB) and the time is the kernels'.
 */
import { Graph, serializeModel, type Tensor } from '../src/graph/index.ts';
import { createSession, float32Tensor, type HostTensor } from '../src/graph/runtime.ts';
import { Rng } from '../src/util/rng.ts';

/** Wall and process CPU milliseconds (CPU time counts ORT's threads too, and is what other users cannot take away). */
export interface Timing {
  wall: number;
  cpu: number;
}

export function startTiming(): () => Timing {
  const w = performance.now();
  const c = process.cpuUsage();
  return () => {
    const d = process.cpuUsage(c);
    return { wall: performance.now() - w, cpu: (d.user + d.system) / 1000 };
  };
}

export interface RawMatMul {
  label: string;
  /** floating-point operations of one [M, K] x [K, N] product */
  flops: number;
  /** per product, averaged over enough runs that thread wake-ups do not dominate a small GEMM */
  time(): Promise<Timing>;
  /** GFLOP/s of the fastest of three time() calls */
  gflops(): Promise<number>;
  release(): Promise<void>;
}

/**
 * `allowSpinning` false (the default here) keeps this session's idle threads from spin-waiting
 * on the cores another session (the training graph) is using between its runs.
 */
export async function rawMatMul(M: number, K: number, N: number, opts: { threads: number; allowSpinning?: boolean }): Promise<RawMatMul> {
  const g = new Graph('matmul_bench');
  const a = g.input('a', 'float32', [M, K]);
  let sum: Tensor | null = null;
  for (let i = 0; i < 4; i++) {
    const corner = g.slice(g.matMul(a, g.input(`w${i}`, 'float32', [K, N])), [0, 0], [1, 1]);
    sum = sum ? g.add(sum, corner) : corner;
  }
  g.output(sum!, 'sum');
  const s = await createSession(serializeModel(g), { threads: opts.threads, allowSpinning: opts.allowSpinning ?? false });
  const rng = new Rng(2);
  const feeds: Record<string, HostTensor> = { a: float32Tensor(Float32Array.from({ length: M * K }, () => rng.normal()), [M, K]) };
  for (let i = 0; i < 4; i++) feeds[`w${i}`] = float32Tensor(Float32Array.from({ length: K * N }, () => rng.normal() / Math.sqrt(K)), [K, N]);
  await s.run(feeds);
  const flops = 2 * M * K * N;
  const runs = Math.max(1, Math.ceil(2e10 / (4 * flops)));
  const time = async (): Promise<Timing> => {
    const t = startTiming();
    for (let i = 0; i < runs; i++) await s.run(feeds);
    const r = t();
    return { wall: r.wall / (4 * runs), cpu: r.cpu / (4 * runs) };
  };
  const gflops = async () => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) best = Math.min(best, (await time()).wall);
    return flops / (best / 1000) / 1e9;
  };
  return { label: `[${M}, ${K}] x [${K}, ${N}]`, flops, time, gflops, release: () => s.release() };
}
