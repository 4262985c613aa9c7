/**
 * Generation throughput and memory, side by side in one run on the same trained weights (issue 6):
 *   - synehr: sampler.onnx, the whole grammar-constrained loop in one ONNX Loop, one call per batch;
 *   - transformers.js: @huggingface/transformers' `generate` on the exported onnx/model.onnx
 *     (unconstrained sampling: it knows no grammar), B rows of exactly L new tokens;
 *   - a JS-driven loop: one InferenceSession.run of onnx/model.onnx per step, the KV cache going
 *     out to JS and back each step, the grammar mask and Gumbel-max draw in JS;
 *   - peak RSS of `generateSynthetic` writing 1,000 and 20,000 patients (child processes).
 *
 * Tokens/s counts generated tokens (synehr: non-pad tokens of the rows; the baselines: B · L).
 * The baselines run L = synehr's mean row length at that batch (the same work per row), capped at
 * --budget tokens per batch (default 32768: full length up to batch 64, 128 steps at 256) to bound
 * the run; a capped baseline has a shorter cache, which is cheaper per token and favours it.
 * The RSS children write --rss patients with --rss-max-len 32 (short records: the memory of the
 * driver, tables and parts is what grows with N, not the model's) in batches of --rss-batch 512.
 *
 * Run: npx tsx bench/generate.ts [--run saved_models/<run>] [--batches 1,16,64,256] [--threads 2]
 *        [--budget 32768] [--rss 1000,20000] [--rss-max-len 32] [--profile 64] [--skip hf,js]
 * (--batches 0 or --rss 0 skip a part)
 * Without --run it trains gpt-small on the embedded PhysioNet 2012 set for --steps (300) updates in
 * a temporary directory first (slow: about 10 minutes on an idle 2-core machine). The machine may
 * be shared: compare the columns of one run (ratios), and read the CPU-seconds beside wall time.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { generateConfigSchema } from '../src/generate/config.ts';
import { exportIsCurrent, exportRun, loadTrainedRun } from '../src/generate/export.ts';
import { Sampler, generateSynthetic } from '../src/generate/generate.ts';
import { createSession, float32Tensor, int64Tensor, type HostTensor } from '../src/graph/runtime.ts';
import { modelConfigSchema, type ModelConfig } from '../src/model/config.ts';
import { dataConfigSchema } from '../src/records/dataConfig.ts';
import { Rng } from '../src/util/rng.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'synehr.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const THREADS = Number(arg('threads', '2'));
const BATCHES = arg('batches', '1,16,64,256').split(',').map(Number).filter((b) => b > 0);
const BUDGET = Number(arg('budget', '32768'));
const RSS_N = arg('rss', '1000,20000').split(',').map(Number).filter((n) => n > 0);
const RSS_MAX_LEN = Number(arg('rss-max-len', '32'));
const RSS_BATCH = Number(arg('rss-batch', '512'));
const SKIP = new Set(arg('skip', '').split(','));

interface Timing {
  wall: number;
  cpu: number;
}
async function timed<T>(f: () => Promise<T>): Promise<[T, Timing]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await f();
  const c = process.cpuUsage(c0);
  return [r, { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }];
}

/** A trained run: --run <dir>, or gpt-small trained here on the embedded PhysioNet data. */
function trainedRun(work: string): { dir: string; model: ModelConfig } {
  const given = arg('run', '');
  let dir: string;
  if (given) {
    // a copy, so export writes nothing into the caller's run
    dir = join(work, 'saved_models', basename(resolve(given)));
    cpSync(resolve(given), dir, { recursive: true, filter: (s) => !s.includes('checkpoints') });
  } else {
    const steps = arg('steps', '300');
    const run = (args: string[]) => {
      console.error(`bench: synehr ${args.join(' ')}`);
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0) throw new Error(`synehr ${args[0]} failed (${r.status})`);
    };
    run(['prepare', 'data=physionet2012']);
    run(['tokenize', 'data=physionet2012']);
    run(['train', 'data=physionet2012', 'model=gpt-small', `train.max_steps=${steps}`, 'run_name=bench', 'tracking=none']);
    dir = join(work, 'saved_models', 'bench');
  }
  const cfg = YAML.parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as { model: unknown };
  return { dir, model: modelConfigSchema.parse(cfg.model) };
}

interface Row {
  method: string;
  B: number;
  L: number;
  tokens: number;
  t: Timing;
}

function fmt(rows: Row[]): void {
  const head = ['method', 'B', 'steps', 'tokens', 'wall s', 'CPU s', 'tokens/s', 'patients/s', 'tokens/CPU-s'];
  const lines = rows.map((r) => [
    r.method,
    String(r.B),
    String(r.L),
    String(r.tokens),
    r.t.wall.toFixed(2),
    r.t.cpu.toFixed(2),
    (r.tokens / r.t.wall).toFixed(0),
    r.method.startsWith('synehr') ? (r.B / r.t.wall).toFixed(2) : '-',
    (r.tokens / r.t.cpu).toFixed(0),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  console.log(line(head));
  for (const l of lines) console.log(line(l));
}

async function main(): Promise<void> {
  if (process.argv.includes('--child-rss')) return childRss();
  const work = mkdtempSync(join(tmpdir(), 'synehr-bench-generate-'));
  try {
    const { dir, model } = trainedRun(work);
    const gen = generateConfigSchema.parse({});
    if (!(await exportIsCurrent(dir))) await exportRun(dir, model, gen);
    const run = await loadTrainedRun(dir, model);
    const tok = run.tokenizer;
    const V = tok.vocab.length;
    console.log(`bench/generate: ${dir}: ${model.name} (n_layer ${model.n_layer}, n_embd ${model.n_embd}, n_head ${model.n_head}, n_ctx ${model.n_ctx}), vocab ${V}, ${THREADS} threads`);
    const sampler = await Sampler.open(join(dir, 'sampler.onnx'), tok, model.n_ctx, THREADS);

    const profileB = Number(arg('profile', '0'));
    if (profileB > 0) {
      await profileSampler(join(dir, 'sampler.onnx'), tok.bos, model.n_ctx, profileB, work);
      return;
    }

    const rows: Row[] = [];
    for (const B of BATCHES) {
      const prefixes = Array.from({ length: B }, () => [tok.bos]);
      const [out, t] = await timed(() => sampler.sample(prefixes, { temperature: 1, topK: 0, topP: 1, seed: 1000 + B }));
      let tokens = 0;
      for (const id of out.ids) if (id !== tok.pad) tokens++;
      rows.push({ method: 'synehr sampler.onnx', B, L: out.T, tokens, t });
      const L = Math.max(8, Math.min(Math.round(tokens / B), Math.floor(BUDGET / B)));

      if (!SKIP.has('js')) {
        const [jsTokens, tj] = await timed(() => jsKvLoop(join(dir, 'onnx', 'model.onnx'), model, tok, B, L));
        rows.push({ method: 'JS-driven KV loop', B, L, tokens: jsTokens, t: tj });
      }
      if (!SKIP.has('hf')) {
        const [hfTokens, th] = await timed(() => transformersGenerate(dir, tok.bos, B, L));
        rows.push({ method: 'transformers.js generate', B, L, tokens: hfTokens, t: th });
      }
      console.error(`bench: batch ${B} done`);
    }
    if (rows.length > 0) fmt(rows);
    for (const B of BATCHES) {
      const s = rows.find((r) => r.B === B && r.method.startsWith('synehr'))!;
      const h = rows.find((r) => r.B === B && r.method.startsWith('transformers'));
      const j = rows.find((r) => r.B === B && r.method.startsWith('JS'));
      const ratio = (r: Row | undefined) => (r ? `${(s.tokens / s.t.wall / (r.tokens / r.t.wall)).toFixed(1)}× (CPU ${(s.tokens / s.t.cpu / (r.tokens / r.t.cpu)).toFixed(1)}×)` : '-');
      console.log(`batch ${B}: synehr vs transformers.js ${ratio(h)}, vs JS loop ${ratio(j)}`);
    }

    if (RSS_N.length > 0) {
      console.log(`\npeak RSS of generateSynthetic (child process, batch ${RSS_BATCH}, max_len ${RSS_MAX_LEN}):`);
      const peaks: number[] = [];
      for (const n of RSS_N) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child-rss', dir, String(n), join(work, `rss-${n}`), String(RSS_MAX_LEN), String(THREADS), String(RSS_BATCH)], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          cwd: ROOT,
        });
        if (r.status !== 0) throw new Error(`RSS child for ${n} patients failed: ${r.stdout}`);
        const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { peakMB: number; seconds: number; tokens: number };
        peaks.push(res.peakMB);
        console.log(`  ${n} patients: peak RSS ${res.peakMB.toFixed(0)} MB, ${res.seconds.toFixed(1)} s, ${(res.tokens / res.seconds).toFixed(0)} tokens/s, ${(n / res.seconds).toFixed(1)} patients/s`);
      }
      if (peaks.length > 1) console.log(`  growth ${RSS_N[0]} → ${RSS_N[RSS_N.length - 1]}: ${(peaks[peaks.length - 1]! - peaks[0]!).toFixed(0)} MB`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The JS-driven loop: one run of the KV-cache inference graph per step, sampling in JS. */
async function jsKvLoop(modelPath: string, model: ModelConfig, tok: Awaited<ReturnType<typeof loadTrainedRun>>['tokenizer'], B: number, L: number): Promise<number> {
  const bytes = readFileSync(modelPath);
  const s = await createSession(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { threads: THREADS });
  const A = tok.automaton;
  const V = tok.vocab.length;
  const H = model.n_head;
  const D = model.n_embd / H;
  const maxLen = L + 1;
  const rng = new Rng(B);
  const cur = new BigInt64Array(B).fill(BigInt(tok.bos)); // [B]
  const state = new Int32Array(B);
  for (let b = 0; b < B; b++) state[b] = A.step(A.startState, tok.bos);
  let past: Record<string, HostTensor> = {};
  for (let l = 0; l < model.n_layer; l++) {
    past[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [B, H, 0, D]);
    past[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [B, H, 0, D]);
  }
  let tokens = 0;
  for (let pos = 0; pos < maxLen - 1; pos++) {
    const out = await s.run({
      input_ids: int64Tensor(cur, [B, 1]),
      attention_mask: int64Tensor(new BigInt64Array(B * (pos + 1)).fill(1n), [B, pos + 1]),
      position_ids: int64Tensor(new BigInt64Array(B).fill(BigInt(pos)), [B, 1]),
      ...past,
    });
    past = {};
    for (let l = 0; l < model.n_layer; l++) {
      past[`past_key_values.${l}.key`] = out[`present.${l}.key`]!;
      past[`past_key_values.${l}.value`] = out[`present.${l}.value`]!;
    }
    const logits = out.logits!.data as Float32Array; // [B, 1, V]
    const left = maxLen - pos - 2;
    let open = 0;
    for (let b = 0; b < B; b++) {
      if (state[b] === A.endState) {
        cur[b] = BigInt(tok.pad);
        continue;
      }
      let best = -1;
      let bestScore = -Infinity;
      for (let v = 0; v < V; v++) {
        const n = A.step(state[b]!, v);
        if (n < 0 || A.distToEnd[n]! > left) continue;
        const score = logits[b * V + v]! - Math.log(-Math.log(rng.float() + 1e-12) + 1e-12);
        if (score > bestScore) (best = v), (bestScore = score);
      }
      cur[b] = BigInt(best);
      state[b] = A.step(state[b]!, best);
      tokens++;
      if (state[b] !== A.endState) open++;
    }
    if (open === 0) break;
  }
  await s.release();
  return tokens;
}

/** transformers.js generate: B rows of exactly L new tokens after <s>, sampled, no grammar. */
async function transformersGenerate(runDir: string, bos: number, B: number, L: number): Promise<number> {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.localModelPath = dirname(runDir) + '/';
  const m = await tf.AutoModelForCausalLM.from_pretrained(basename(runDir), {
    local_files_only: true,
    dtype: 'fp32',
    device: 'cpu',
    session_options: { intraOpNumThreads: THREADS, interOpNumThreads: 1 },
  });
  const input_ids = new tf.Tensor('int64', new BigInt64Array(B).fill(BigInt(bos)), [B, 1]);
  const attention_mask = new tf.Tensor('int64', new BigInt64Array(B).fill(1n), [B, 1]);
  const out = (await m.generate({ input_ids, attention_mask, max_new_tokens: L, min_new_tokens: L, do_sample: true, top_k: 0 } as never)) as { dims: number[] };
  await m.dispose();
  return B * (out.dims[1]! - 1);
}

/** ORT's per-node profile of one sampler call, aggregated by op type (Loop body nodes included). */
async function profileSampler(samplerPath: string, bos: number, maxLen: number, B: number, work: string): Promise<void> {
  const bytes = readFileSync(samplerPath);
  const prefix = join(work, 'sampler-profile');
  const s = await createSession(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { threads: THREADS, profileFilePrefix: prefix });
  const [, t] = await timed(() =>
    s.run({
      prefix: int64Tensor(new Array(B).fill(bos), [B, 1]),
      max_len: int64Tensor([maxLen], []),
      temperature: float32Tensor([1], []),
      top_k: int64Tensor([0], []),
      top_p: float32Tensor([1], []),
      value_temperature: float32Tensor([1], []),
      seed: int64Tensor([1], []),
    }),
  );
  s.endProfiling();
  const file = readdirSync(work).find((f) => f.startsWith('sampler-profile'))!;
  const events = JSON.parse(readFileSync(join(work, file), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  const byOp = new Map<string, { us: number; n: number }>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    if (op === 'Loop' || op === 'If') continue; // containers: their bodies' nodes are listed themselves
    const x = byOp.get(op) ?? { us: 0, n: 0 };
    x.us += e.dur;
    x.n++;
    total += e.dur;
    byOp.set(op, x);
  }
  console.log(`profile: batch ${B}, ${t.wall.toFixed(2)} s wall (${t.cpu.toFixed(2)} CPU s), ${(total / 1e6).toFixed(2)} s in kernels`);
  for (const [op, x] of [...byOp].sort((a, b) => b[1].us - a[1].us).slice(0, 20)) {
    console.log(`  ${op.padEnd(22)} ${(x.us / 1e6).toFixed(3).padStart(8)} s  ${((100 * x.us) / total).toFixed(1).padStart(5)} %  ${String(x.n).padStart(7)} calls`);
  }
}

/** Child: generate n patients into outDir and print peak RSS (VmHWM) as JSON. */
async function childRss(): Promise<void> {
  const i = process.argv.indexOf('--child-rss');
  const [dir, n, outDir, maxLen, threads, batch] = process.argv.slice(i + 1);
  const cfg = YAML.parse(readFileSync(join(dir!, 'config.yaml'), 'utf8')) as { model: unknown; data: unknown };
  const model = modelConfigSchema.parse(cfg.model);
  const data = dataConfigSchema.parse(cfg.data);
  const gen = generateConfigSchema.parse({ n_samples: Number(n), batch_size: Number(batch), max_len: Number(maxLen), seed: 5 });
  const r = await generateSynthetic({ runDir: dir!, runName: 'bench', outDir: outDir!, model, data, gen, config: {}, resume: false, overwrite: true, threads: Number(threads), progress: false });
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  const peakMB = hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ peakMB, seconds: r.seconds, tokens: r.tokens }));
}

if (!existsSync(CLI)) throw new Error(`bench/generate: ${CLI} not found`);
await main();
