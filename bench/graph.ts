/**
 * Training-graph throughput: ms per step, tokens/s and achieved GFLOP/s of buildTrainingGraph for
 * the `gpt` and `gpt-small` shapes, beside ONNX Runtime's raw MatMul GFLOP/s in the same run.
 *
 *   npx tsx bench/graph.ts [--threads 2] [--steps 3] [--only gpt-small] [--batch-small 4] [--batch-gpt 4]
 *                          [--blocks N] [--profile] [--no-spin]
 *
 * The machine's load average is printed with the figures: on a shared 2-core machine, other
 * users' work shows up as slower steps and a slower raw MatMul alike, so compare the ratio.
 * --profile adds ORT's per-op-type kernel time of one step (where the time goes).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createSession, float32Tensor, int64Tensor, type HostTensor } from '../src/graph/runtime.ts';
import YAML from 'yaml';
import { modelConfigSchema, type ModelConfig } from '../src/model/config.ts';
import { buildTrainingGraph, trainingStepFlops, TRAINING_SESSION_OPTIONS } from '../src/model/gpt.ts';
import { Rng } from '../src/util/rng.ts';
import { rawMatMul, startTiming, type Timing } from './rawMatMul.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const threads = Number(arg('threads', '2'));
const steps = Number(arg('steps', '3'));
const only = arg('only', '');
const V = Number(arg('vocab', '430')); // the PhysioNet 2012 tokenizer's vocabulary
const blocks = process.argv.includes('--blocks') ? Number(arg('blocks', '1')) : undefined;
const profile = process.argv.includes('--profile');
// ORT's idle threads spin-wait by default; on a shared machine that only burns others' cycles
const allowSpinning = !process.argv.includes('--no-spin');

/** The shipped model configs (configs/model/<name>.yaml), as the plain GPT (bench/memory.ts measures the value memory). */
function shipped(name: string): ModelConfig {
  const path = new URL(`../configs/model/${name}.yaml`, import.meta.url);
  return modelConfigSchema.parse({ ...YAML.parse(fs.readFileSync(path, 'utf8')), value_memory: false });
}

const MODELS: { cfg: ModelConfig; batch: number }[] = [
  { cfg: shipped('gpt-small'), batch: Number(arg('batch-small', '4')) },
  { cfg: shipped('gpt'), batch: Number(arg('batch-gpt', '4')) },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function benchModel(cfg: ModelConfig, B: number): Promise<void> {
  const T = cfg.n_ctx;
  const t0 = performance.now();
  const built = buildTrainingGraph(cfg, { vocabSize: V, batch: B, ctx: T, attentionBlocks: blocks });
  const s = await createSession(built.model, { ...TRAINING_SESSION_OPTIONS, threads, allowSpinning });
  const buildMs = performance.now() - t0;
  const rng = new Rng(2);
  const feeds: Record<string, HostTensor> = {};
  const dims = [B, T];
  // packed windows of ~100-token documents
  feeds.input_ids = int64Tensor(Array.from({ length: B * T }, () => rng.int(V)), dims);
  feeds.position_ids = int64Tensor(Array.from({ length: B * T }, (_, i) => (i % T) % 100), dims);
  feeds.doc_ids = int64Tensor(Array.from({ length: B * T }, (_, i) => Math.floor((i % T) / 100)), dims);
  feeds.targets = int64Tensor(Array.from({ length: B * T }, () => rng.int(V)), dims);
  for (const p of built.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    feeds[p.name] = float32Tensor(Float32Array.from({ length: n }, () => (p.init === 'ones' ? 1 : p.init === 'zeros' ? 0 : p.std * rng.normal())), p.shape);
  }
  await s.run(feeds); // warm-up
  const C = cfg.n_embd;
  const mm = await rawMatMul(B * T, C, 4 * C, { threads, allowSpinning }); // the model's widest layer
  // steps and raw MatMul runs interleaved, so both see the same load from the machine's other users
  const stepT: Timing[] = [];
  const mmT: Timing[] = [];
  for (let i = 0; i < steps; i++) {
    const t = startTiming();
    await s.run(feeds);
    stepT.push(t());
    mmT.push(await mm.time());
  }
  await mm.release();
  const ms = median(stepT.map((t) => t.wall));
  // the fastest step: the best estimate of an idle machine when others load it
  const best = Math.min(...stepT.map((t) => t.wall));
  const bestRaw = mm.flops / (Math.min(...mmT.map((t) => t.wall)) * 1e6);
  const flops = trainingStepFlops(cfg, V, B, T);
  const raw = mm.flops / (median(mmT.map((t) => t.wall)) * 1e6);
  const achieved = flops / (ms * 1e6);
  // the same ratio per CPU second: close to the idle-machine ratio when others load the machine
  const rawCpu = mm.flops / (median(mmT.map((t) => t.cpu)) * 1e6);
  const achievedCpu = flops / (median(stepT.map((t) => t.cpu)) * 1e6);
  console.log(
    `${cfg.name.padEnd(9)} L=${cfg.n_layer} C=${C} H=${cfg.n_head} T=${T} V=${V} B=${B}: ${ms.toFixed(0)} ms/step (median of ${steps}), ` +
      `${((B * T) / (ms / 1000)).toFixed(0)} tokens/s, ${achieved.toFixed(0)} GFLOP/s = ${((100 * achieved) / raw).toFixed(0)}% of raw MatMul ` +
      `[${B * T}x${C}]·[${C}x${4 * C}] ${raw.toFixed(0)} GFLOP/s; graph build+load ${buildMs.toFixed(0)} ms, model ${(built.model.byteLength / 1e3).toFixed(0)} kB; ` +
      `peak RSS ${(process.resourceUsage().maxRSS / 1e6).toFixed(1)} GB; load average ${os.loadavg()[0]!.toFixed(1)}\n` +
      `          fastest step: ${best.toFixed(0)} ms = ${((B * T) / (best / 1000)).toFixed(0)} tokens/s, ${(flops / (best * 1e6)).toFixed(0)} GFLOP/s; fastest raw MatMul ${bestRaw.toFixed(0)} GFLOP/s\n` +
      `          per CPU second: ${achievedCpu.toFixed(0)} GFLOP/CPU-s = ${((100 * achievedCpu) / rawCpu).toFixed(0)}% of raw MatMul's ${rawCpu.toFixed(0)} GFLOP/CPU-s ` +
      `(step ${median(stepT.map((t) => t.cpu)).toFixed(0)} CPU-ms)`,
  );
  await s.release();
  if (profile) await profileStep(built.model, feeds);
}

/** One profiled step: kernel time per op type, largest first. */
async function profileStep(model: Uint8Array, feeds: Record<string, HostTensor>): Promise<void> {
  const prefix = `${os.tmpdir()}/synehr-graph-profile-${process.pid}`;
  const s = await createSession(model, { ...TRAINING_SESSION_OPTIONS, threads, profileFilePrefix: prefix });
  await s.run(feeds);
  await s.run(feeds);
  s.endProfiling();
  await s.release();
  const dir = os.tmpdir();
  const file = fs.readdirSync(dir).find((f) => f.startsWith(`synehr-graph-profile-${process.pid}`));
  if (!file) return;
  const events = JSON.parse(fs.readFileSync(`${dir}/${file}`, 'utf8')) as { cat?: string; name: string; ts: number; dur: number; args?: { op_name?: string } }[];
  fs.rmSync(`${dir}/${file}`);
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs[runs.length - 1]!;
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < last.ts || e.ts > last.ts + last.dur) continue;
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const top = [...byOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  console.log(`  profile (${(last.dur / 1000).toFixed(0)} ms step): ` + top.map(([op, us]) => `${op} ${((100 * us) / total).toFixed(0)}%`).join(', '));
}

console.log(`bench/graph.ts: ${threads} threads${allowSpinning ? '' : ' (no spinning)'}, ${os.cpus()[0]?.model ?? '?'}, ${new Date().toISOString()}`);
for (const m of MODELS) if (!only || m.cfg.name === only) await benchModel(m.cfg, m.batch);
{
  // a large square GEMM: the best this ORT and machine do, for scale
  const sq = await rawMatMul(2048, 2048, 2048, { threads, allowSpinning });
  const ts: Timing[] = [];
  for (let i = 0; i < 3; i++) ts.push(await sq.time());
  const wall = median(ts.map((t) => t.wall));
  const cpu = median(ts.map((t) => t.cpu));
  console.log(`raw MatMul [2048x2048]·[2048x2048]: ${(sq.flops / (wall * 1e6)).toFixed(0)} GFLOP/s, ${(sq.flops / (cpu * 1e6)).toFixed(0)} GFLOP/CPU-s; load average ${os.loadavg()[0]!.toFixed(1)}`);
}
