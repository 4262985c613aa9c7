import type { ModelConfig } from '../model/config.ts';
import { buildInferenceGraph, MEMORY_BEFORE_INPUT, MEMORY_INPUT, valueBlocks } from '../model/gpt.ts';
import { createSession, float32Tensor, int64Tensor, type HostTensor, type SessionOptions } from '../graph/runtime.ts';
import type { MemoryTable } from '../tokenizer/vocabulary.ts';
import { loadSafetensors, saveSafetensors, stampedSettings, tensorToFloat32 } from '../model/safetensors.ts';
import { SynehrError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { TokenShard } from './batches.ts';
import { MemoryRows } from './memory.ts';

/**
 * Refitting the value memory's logit bonuses on the frozen trunk, after training: the kernel
 * (transformer.wmb.weight [V]), the first-value offsets (transformer.wma.weight [V], one number
 * per variable) and the kernel on the value before the latest (transformer.wmp.weight [V]), the
 * last two fitted by the refit only.
 *
 * Why: trained jointly with the trunk, the kernel is far from its own optimum. For rare labs the
 * model expects too few later values of a variable its patient already has, and too many first
 * ones, so synthetic patients have those labs measured once too often (bench/conditionals.ts;
 * docs/quality.md, "Calibrating the memory"). With the trunk fixed, the loss is convex in the
 * bonuses. Summed over one variable's kernel entries, its gradient is "expected minus real later
 * values"; for its offset, "expected minus real first values": at the optimum they agree.
 *
 * Notation: S = a patient's positions (its first n_ctx tokens), V = vocab, J = variables; z = the
 * trunk's logits (no bonus), w [V + J + V] = the kernel, the offsets, then the kernel before. A
 * value token v of variable j gets w[first_j + |v − u|] while j's latest value token is u, plus
 * w[V + J + first_j + |v − u'|] while its value before that is u', and w[V + j] while j has none;
 * every other logit gets nothing.
 *
 * The loss is a softmax over V at every position, but only the bonused entries change with w, so
 * each position is kept as: C = Σ exp(z − m) over the tokens of no variable's values (m = the
 * position's max logit); per token of a variable with a value, its exp(z − m) and kernel indices; per
 * variable without one, the sum of its tokens' exp(z − m) (they share w[V + j]). A step then costs
 * one multiply-add per entry and no exp.
 */

export interface MemoryRefitOptions {
  /** training patients whose positions the bonuses are fitted on (a seeded sample of the train shard) */
  patients: number;
  /** full-batch Adam steps */
  steps: number;
  lr: number;
  /** the sample's seed */
  seed: number;
  /** fit the first-value offsets too (false: they keep their values, the kernel alone is fitted) */
  firstValues: boolean;
  /** fit the kernel on the value before the latest too (false: wmp keeps its values) */
  before: boolean;
  /** validation loss every this many steps; the best step's bonuses are kept */
  evalEvery?: number;
  session?: SessionOptions;
  log?: (message: string) => void;
}

export interface MemoryRefitResult {
  /** the bonuses to keep: the best validation step's (the last step's without validation) */
  wmb: Float32Array;
  /** [V]: each value token holds its variable's offset, other tokens 0 */
  wma: Float32Array;
  /** [V] the kernel on the value before the latest */
  wmp: Float32Array;
  trainPatients: number;
  valPatients: number;
  /** mean cross-entropy per target, before (the trained bonuses) and after */
  trainLoss: [number, number];
  valLoss: [number, number] | null;
  /** the step whose bonuses are kept; 0 = the trained ones were best */
  bestStep: number;
  seconds: number;
}

/** Per variable j, its value tokens' first id and count (valueBlocks by variable; −1 / 0 for none). */
function blocksByVariable(table: MemoryTable): { first: Int32Array; n: Int32Array } {
  const first = new Int32Array(table.variables).fill(-1);
  const n = new Int32Array(table.variables);
  for (const b of valueBlocks(table)) {
    first[b.j] = b.first;
    n[b.j] = b.n;
  }
  return { first, n };
}

/**
 * The refit's parameters [V + J + V] from the model's tables: the kernel, each variable's offset
 * (its first token's wma), then the kernel before (wmp); wma and wmp are 0 where the weights have none.
 */
export function refitParams(table: MemoryTable, wmb: ArrayLike<number>, wma: ArrayLike<number> | null, wmp: ArrayLike<number> | null): Float64Array {
  const V = table.owner.length;
  const J = table.variables;
  const { first } = blocksByVariable(table);
  const w = new Float64Array(V + J + V);
  for (let i = 0; i < V; i++) w[i] = wmb[i]!;
  if (wma) first.forEach((f, j) => (w[V + j] = f >= 0 ? wma[f]! : 0));
  if (wmp) for (let i = 0; i < V; i++) w[V + J + i] = wmp[i]!;
  return w;
}

/** The model's tables from the refit's parameters: wmb = w[0, V); wma [V] = each value token's variable's offset; wmp = w[V + J, V + J + V). */
export function modelTables(table: MemoryTable, w: Float64Array): { wmb: Float32Array; wma: Float32Array; wmp: Float32Array } {
  const V = table.owner.length;
  const J = table.variables;
  const { first, n } = blocksByVariable(table);
  const wma = new Float32Array(V);
  first.forEach((f, j) => wma.fill(w[V + j]!, f, f + n[j]!));
  return { wmb: Float32Array.from(w.subarray(0, V)), wma, wmp: Float32Array.from(w.subarray(V + J, V + J + V)) };
}

/**
 * The bonuses' softmax problem over a set of positions (see the file comment): the trunk's logits
 * reduced to what the bonuses can change.
 */
export class KernelProblem {
  private readonly V: number;
  private readonly J: number;
  private readonly blockFirst: Int32Array;
  private readonly blockN: Int32Array;
  /** the parameters: V + J + V */
  readonly size: number;
  positions = 0;
  private entries = 0;
  /** [positions] Σ exp(z − m) over the unbonused tokens */
  private rest = new Float64Array(1024);
  /** [positions] z_target − m */
  private target = new Float64Array(1024);
  /** [positions] the target's parameter index, −1 when it has no bonus; and its second (the kernel before), −1 for none */
  private targetK = new Int32Array(1024);
  private targetK2 = new Int32Array(1024);
  /** [positions + 1] position p's entries are [start[p], start[p + 1]) */
  private start = new Int32Array(1025);
  /** [entries] exp(z − m) of a bonused token, or the sum over a variable without a value; its parameter index, and its second (size: none) */
  private e = new Float32Array(1 << 16);
  private k = new Int32Array(1 << 16);
  private k2 = new Int32Array(1 << 16);

  constructor(table: MemoryTable) {
    this.V = table.owner.length;
    this.J = table.variables;
    this.size = this.V + this.J + this.V;
    const b = blocksByVariable(table);
    this.blockFirst = b.first;
    this.blockN = b.n;
  }

  /**
   * Adds a patient's positions: logits [S, V] without the bonuses, latest and before [S, J]
   * (MemoryRows with `before`), and targets [S] (the next token, −1 where none: that position is skipped).
   */
  add(logits: Float32Array, latest: ArrayLike<number | bigint>, before: ArrayLike<number | bigint>, targets: ArrayLike<number>): void {
    const { V, J } = this;
    const S = targets.length;
    if (logits.length !== S * V || latest.length !== S * J || before.length !== S * J) {
      throw new RangeError(`KernelProblem.add: ${logits.length} logits, ${latest.length} and ${before.length} memory cells for ${S} targets (V ${V}, J ${J})`);
    }
    const paramOf = new Int32Array(V); // per token of this position: parameter index, −1 none
    const paramOf2 = new Int32Array(V); // and its second, −1 none
    for (let s = 0; s < S; s++) {
      const y = targets[s]!;
      if (y < 0) continue;
      if (y >= V) throw new RangeError(`KernelProblem.add: target ${y} at position ${s} is outside the vocabulary of ${V}`);
      const z = logits.subarray(s * V, (s + 1) * V);
      let m = -Infinity;
      for (let v = 0; v < V; v++) if (z[v]! > m) m = z[v]!;
      paramOf.fill(-1);
      paramOf2.fill(-1);
      this.reserve(this.positions + 1, this.entries + V);
      let at = this.entries;
      for (let j = 0; j < J; j++) {
        const f = this.blockFirst[j]!;
        const n = this.blockN[j]!;
        if (n === 0) continue;
        const u = Number(latest[s * J + j]!);
        const u2 = Number(before[s * J + j]!);
        if (u2 >= 0 && u < 0) throw new RangeError(`KernelProblem.add: variable ${j} has a value before its latest at position ${s} and no latest`);
        if (u >= 0) {
          for (let v = f; v < f + n; v++) {
            paramOf[v] = f + Math.abs(v - u);
            if (u2 >= 0) paramOf2[v] = V + J + f + Math.abs(v - u2);
            this.e[at] = Math.exp(z[v]! - m);
            this.k2[at] = u2 >= 0 ? paramOf2[v]! : this.size;
            this.k[at++] = paramOf[v]!;
          }
        } else {
          let sum = 0;
          for (let v = f; v < f + n; v++) {
            paramOf[v] = V + j;
            sum += Math.exp(z[v]! - m);
          }
          this.e[at] = sum;
          this.k2[at] = this.size;
          this.k[at++] = V + j;
        }
      }
      let rest = 0;
      for (let v = 0; v < V; v++) if (paramOf[v]! < 0) rest += Math.exp(z[v]! - m);
      const p = this.positions++;
      this.rest[p] = rest;
      this.target[p] = z[y]! - m;
      this.targetK[p] = paramOf[y]!;
      this.targetK2[p] = paramOf2[y]!;
      this.entries = at;
      this.start[p + 1] = at;
    }
  }

  private reserve(positions: number, entries: number): void {
    const grow = <T extends Float64Array | Float32Array | Int32Array>(a: T, n: number, make: (n: number) => T): T => {
      if (n <= a.length) return a;
      const b = make(Math.max(n, 2 * a.length));
      b.set(a);
      return b;
    };
    this.rest = grow(this.rest, positions, (n) => new Float64Array(n));
    this.target = grow(this.target, positions, (n) => new Float64Array(n));
    this.targetK = grow(this.targetK, positions, (n) => new Int32Array(n));
    this.targetK2 = grow(this.targetK2, positions, (n) => new Int32Array(n));
    this.start = grow(this.start, positions + 1, (n) => new Int32Array(n));
    this.e = grow(this.e, entries, (n) => new Float32Array(n));
    this.k = grow(this.k, entries, (n) => new Int32Array(n));
    this.k2 = grow(this.k2, entries, (n) => new Int32Array(n));
  }

  /**
   * The mean cross-entropy per target under parameters w [V + J + V]; with dw [V + J + V] given,
   * its gradient is written there (overwriting it).
   */
  loss(w: Float64Array, dw?: Float64Array): number {
    if (w.length !== this.size || (dw && dw.length !== this.size)) throw new RangeError(`KernelProblem.loss: parameters of ${w.length}, gradient of ${dw?.length}, for ${this.size}`);
    // index size is "no second parameter": exp(0), and its gradient is thrown away
    const ew = new Float64Array(this.size + 1);
    for (let i = 0; i < this.size; i++) ew[i] = Math.exp(w[i]!);
    ew[this.size] = 1;
    const g = dw ? new Float64Array(this.size + 1) : null;
    const { rest, target, targetK, targetK2, start, e, k, k2 } = this;
    let sum = 0;
    for (let p = 0; p < this.positions; p++) {
      let total = rest[p]!;
      for (let i = start[p]!; i < start[p + 1]!; i++) total += e[i]! * ew[k[i]!]! * ew[k2[i]!]!;
      const ky = targetK[p]!;
      const ky2 = targetK2[p]!;
      sum += Math.log(total) - target[p]! - (ky >= 0 ? w[ky]! : 0) - (ky2 >= 0 ? w[ky2]! : 0);
      if (!g) continue;
      const inv = 1 / total;
      for (let i = start[p]!; i < start[p + 1]!; i++) {
        const q = e[i]! * ew[k[i]!]! * ew[k2[i]!]! * inv;
        g[k[i]!]! += q;
        g[k2[i]!]! += q;
      }
      if (ky >= 0) g[ky]! -= 1;
      if (ky2 >= 0) g[ky2]! -= 1;
    }
    const n = Math.max(this.positions, 1);
    if (dw && g) for (let i = 0; i < this.size; i++) dw[i] = g[i]! / n;
    return sum / n;
  }
}

/** `count` distinct patients of a shard in a seeded random order (all of them when it holds fewer). */
export function samplePatients(shard: TokenShard, count: number, rng: Rng): number[] {
  const P = shard.offsets.length - 1;
  return rng.shuffle(Array.from({ length: P }, (_, i) => i)).slice(0, Math.min(count, P)).sort((a, b) => a - b);
}

/**
 * The trunk's logits for the given patients (their first n_ctx tokens, one at a time through the
 * inference graph with zero bonuses), added to a new KernelProblem.
 */
export async function kernelProblem(
  model: ModelConfig,
  table: MemoryTable,
  weights: Record<string, Float32Array>,
  shard: TokenShard,
  patients: readonly number[],
  session: SessionOptions = {},
): Promise<KernelProblem> {
  const V = table.owner.length;
  const J = table.variables;
  const H = model.n_head;
  const D = model.n_embd / H;
  const trunk = { ...weights, 'transformer.wmb.weight': new Float32Array(V), 'transformer.wma.weight': new Float32Array(V), 'transformer.wmp.weight': new Float32Array(V) };
  const graph = buildInferenceGraph(model, { vocabSize: V, memory: table, weights: trunk });
  const s = await createSession(graph.model, session);
  const problem = new KernelProblem(table);
  const past: Record<string, HostTensor> = {};
  for (let l = 0; l < model.n_layer; l++) {
    for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
  }
  try {
    for (const p of patients) {
      const ids = Array.from(shard.ids.subarray(shard.offsets[p]!, shard.offsets[p + 1]!).subarray(0, model.n_ctx));
      const S = ids.length;
      if (S < 2) continue;
      const rows = new MemoryRows(table, 1, S, { before: true });
      const latest = rows.fill(ids, new Array<number>(S).fill(0), S); // [S, J]
      const before = rows.before!; // [S, J]
      const out = await s.run({
        input_ids: int64Tensor(ids, [1, S]),
        attention_mask: int64Tensor(new Array<number>(S).fill(1), [1, S]),
        position_ids: int64Tensor(ids.map((_, i) => i), [1, S]),
        [MEMORY_INPUT]: int64Tensor(latest, [1, S, J]),
        [MEMORY_BEFORE_INPUT]: int64Tensor(before, [1, S, J]),
        ...past,
      }, ['logits']);
      const targets = ids.map((_, i) => (i + 1 < S ? ids[i + 1]! : -1));
      problem.add(out.logits!.data as Float32Array, latest, before, targets);
    }
  } finally {
    await s.release();
  }
  return problem;
}

/**
 * Refits the bonuses on `opts.patients` training patients with full-batch Adam from the trained
 * ones (wma: 0 where the weights have none), keeping the step with the lowest validation loss (on
 * up to as many validation patients).
 */
export async function refitMemoryKernel(
  model: ModelConfig,
  table: MemoryTable,
  weights: Record<string, Float32Array>,
  trainShard: TokenShard,
  valShard: TokenShard | null,
  opts: MemoryRefitOptions,
): Promise<MemoryRefitResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const V = table.owner.length;
  const rng = new Rng(opts.seed);
  const trainIds = samplePatients(trainShard, opts.patients, rng);
  const valIds = valShard ? samplePatients(valShard, opts.patients, rng) : [];
  const train = await kernelProblem(model, table, weights, trainShard, trainIds, opts.session);
  const val = valShard && valIds.length > 0 ? await kernelProblem(model, table, weights, valShard, valIds, opts.session) : null;
  log(
    `memory refit: trunk logits of ${trainIds.length} training and ${valIds.length} validation patients ` +
      `(${train.positions.toLocaleString('en')} and ${(val?.positions ?? 0).toLocaleString('en')} positions) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const w = refitParams(table, weights['transformer.wmb.weight']!, weights['transformer.wma.weight'] ?? null, weights['transformer.wmp.weight'] ?? null); // [V + J + V]
  const N = w.length;
  const dw = new Float64Array(N);
  const m1 = new Float64Array(N);
  const m2 = new Float64Array(N);
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const trainBefore = train.loss(w);
  const valBefore = val ? val.loss(w) : null;
  let best = { step: 0, loss: valBefore ?? Infinity, w: Float64Array.from(w) };
  let trainLoss = trainBefore;
  const evalEvery = opts.evalEvery ?? 5;
  for (let step = 1; step <= opts.steps; step++) {
    trainLoss = train.loss(w, dw);
    if (!opts.firstValues) dw.fill(0, V, V + table.variables);
    if (!opts.before) dw.fill(0, V + table.variables);
    for (let i = 0; i < N; i++) {
      m1[i] = b1 * m1[i]! + (1 - b1) * dw[i]!;
      m2[i] = b2 * m2[i]! + (1 - b2) * dw[i]! ** 2;
      w[i]! -= (opts.lr * (m1[i]! / (1 - b1 ** step))) / (Math.sqrt(m2[i]! / (1 - b2 ** step)) + eps);
    }
    if (val && (step % evalEvery === 0 || step === opts.steps)) {
      const v = val.loss(w);
      if (v < best.loss) best = { step, loss: v, w: Float64Array.from(w) };
      if (step % (4 * evalEvery) === 0 || step === opts.steps) log(`memory refit: step ${step}/${opts.steps}: train ${trainLoss.toFixed(4)}, val ${v.toFixed(4)}`);
    }
  }
  if (!val) best = { step: opts.steps, loss: Infinity, w: Float64Array.from(w) };
  return {
    ...modelTables(table, best.w),
    trainPatients: trainIds.length,
    valPatients: valIds.length,
    trainLoss: [trainBefore, train.loss(best.w)],
    valLoss: val ? [valBefore!, best.loss] : null,
    bestStep: best.step,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The safetensors metadata key that records a refit: its settings and losses (JSON). */
export const MEMORY_REFIT_METADATA = 'memory_refit';

/**
 * The train command's last step with model.value_memory: refits the bonuses of the run's
 * model.safetensors and rewrites the file with them (adding wma to a file from before it), the
 * other tensors as they were, and the refit's settings and losses under MEMORY_REFIT_METADATA. A
 * file already refitted with these settings is left alone (a resumed finished run); one refitted
 * with others is refitted again from its bonuses.
 */
export async function refitRunWeights(
  path: string,
  model: ModelConfig,
  table: MemoryTable,
  trainShard: TokenShard,
  valShard: TokenShard | null,
  opts: MemoryRefitOptions,
): Promise<MemoryRefitResult | null> {
  const log = opts.log ?? (() => {});
  const file = await loadSafetensors(path);
  const settings = { patients: opts.patients, steps: opts.steps, lr: opts.lr, seed: opts.seed, first_values: opts.firstValues, before: opts.before };
  if (file.metadata[MEMORY_REFIT_METADATA] !== undefined) {
    const previous = stampedSettings(file, MEMORY_REFIT_METADATA, path);
    if (JSON.stringify(previous) === JSON.stringify(settings)) {
      log(`memory refit: ${path} already has its bonuses refitted with these settings`);
      return null;
    }
    log(`memory refit: ${path} was refitted with other settings (${JSON.stringify(previous)}); refitting from its bonuses`);
  }
  const weights = Object.fromEntries(file.tensors.map((t) => [t.name, tensorToFloat32(t)]));
  if (!weights['transformer.wmb.weight']) throw new SynehrError('E_RUN', `${path}: no tensor 'transformer.wmb.weight': the weights are not a value-memory model's`);
  const r = await refitMemoryKernel(model, table, weights, trainShard, valShard, opts);
  const refitted: Record<string, Float32Array> = { 'transformer.wmb.weight': r.wmb, 'transformer.wma.weight': r.wma, 'transformer.wmp.weight': r.wmp };
  const tensors = file.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: refitted[t.name] ?? weights[t.name]! }));
  for (const [name, data] of Object.entries(refitted)) if (!weights[name]) tensors.push({ name, dtype: 'F32', shape: [data.length], data });
  const record = { settings, best_step: r.bestStep, train_loss: r.trainLoss, val_loss: r.valLoss, patients: [r.trainPatients, r.valPatients] };
  await saveSafetensors(path, tensors, { ...file.metadata, [MEMORY_REFIT_METADATA]: JSON.stringify(record) });
  const f = (x: [number, number] | null) => (x ? `${x[0].toFixed(4)} → ${x[1].toFixed(4)}` : '-');
  log(`memory refit: train loss ${f(r.trainLoss)}, val loss ${f(r.valLoss)} (step ${r.bestStep}/${opts.steps}) in ${r.seconds.toFixed(0)} s`);
  return r;
}
