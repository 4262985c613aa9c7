import type { ParamLayout } from '../model/init.ts';
import { paramViews } from '../model/init.ts';
import type { ParamSpec } from '../model/params.ts';
import { createSession, float32Tensor, int64Tensor, scalarValue, type HostTensor, type Session, type SessionOptions } from '../graph/runtime.ts';
import { MEMORY_INPUT, type DropoutMaskSpec } from '../model/gpt.ts';
import type { PackedBatch } from './batches.ts';
import { DropoutMasks } from './dropout.ts';
import { MemoryRows } from './memory.ts';
import type { MemoryTable } from '../tokenizer/vocabulary.ts';

/**
 * What the trainer needs from a model: its loss and gradients on a packed batch, and its loss
 * alone. The GPT's ONNX graphs implement it (createGraphRunner); tests also use small JS models.
 */
export interface ModelRunner {
  /**
   * The mean loss over the batch's counted targets (targets != -1), and its gradient with respect
   * to the flat parameters, scaled by `scale`: written into `grad` (accumulate = false) or added
   * to it (accumulate = true). `grad` has the layout of the parameters; padding stays untouched.
   * `dropoutSeed` seeds this micro-batch's dropout masks (src/train/dropout.ts); a model without
   * dropout ignores it.
   */
  lossAndGrad(batch: PackedBatch, params: Float32Array, grad: Float32Array, scale: number, accumulate: boolean, dropoutSeed: number): Promise<number>;
  /** The mean loss of the flat weights `params` alone (validation), without dropout: the trainer's own or the weight average. */
  loss(batch: PackedBatch, params: Float32Array): Promise<number>;
  release(): Promise<void>;
}

/** Builds a runner for one model shape and batch shape; `params` is the flat array training will update in place. */
export type RunnerFactory = (args: {
  layout: ParamLayout;
  params: Float32Array;
  /** windows per batch */
  B: number;
  /** tokens per window */
  T: number;
  vocabSize: number;
}) => Promise<ModelRunner>;

/** A built ONNX graph: its bytes and the names of its inputs and outputs. */
export interface GraphBytes {
  model: Uint8Array;
  inputNames: readonly string[];
  outputNames: readonly string[];
}

/**
 * A runner over ONNX graphs with inputs input_ids, position_ids, doc_ids, targets ([B, T] int64)
 * then every parameter by name (and, in the training graph, the `dropout` masks), and outputs
 * `loss` then `grad.<name>` (training graph) or `loss` alone (eval graph).
 *
 * The parameter tensors wrap views of the flat array once, at creation: ONNX Runtime reads inputs
 * without copying, so every run sees the weights AdamW just updated in place. loss() of another
 * flat array (the weight average) wraps views of that one, once per array.
 */
export async function createGraphRunner(opts: {
  train: GraphBytes;
  /** a loss-only graph for validation; without it validation runs the training graph and drops the gradients */
  eval?: GraphBytes;
  layout: ParamLayout;
  params: Float32Array;
  B: number;
  T: number;
  session?: SessionOptions;
  /** the training graph's dropout mask inputs, drawn afresh for every lossAndGrad */
  dropout?: readonly DropoutMaskSpec[];
  /** the value memory's table, for graphs with the `memory` input (model.value_memory) */
  memory?: MemoryTable;
}): Promise<ModelRunner> {
  const { layout, B, T } = opts;
  const specs = layout.specs;
  const feedsOf = (flat: Float32Array): Record<string, HostTensor> => {
    const views = paramViews(layout, flat);
    return Object.fromEntries(specs.map((s: ParamSpec, i) => [s.name, float32Tensor(views[i]!, s.shape)]));
  };
  const paramFeeds = feedsOf(opts.params);
  const otherFeeds = new WeakMap<Float32Array, Record<string, HostTensor>>();
  const gradNames = specs.map((s) => `grad.${s.name}`);
  for (const name of ['loss', ...gradNames]) {
    if (!opts.train.outputNames.includes(name)) throw new Error(`training graph has no output '${name}' (outputs: ${opts.train.outputNames.slice(0, 4).join(', ')}, ...)`);
  }
  for (const name of (opts.dropout ?? []).map((m) => m.name)) {
    if (!opts.train.inputNames.includes(name)) throw new Error(`training graph has no dropout mask input '${name}'`);
  }
  const trainSession = await createSession(opts.train.model, opts.session);
  const evalSession: Session = opts.eval ? await createSession(opts.eval.model, opts.session) : trainSession;
  const fetchTrain = ['loss', ...gradNames];
  const hasMemory = opts.train.inputNames.includes(MEMORY_INPUT);
  if (hasMemory !== (opts.memory !== undefined)) {
    throw new Error(hasMemory ? `the training graph takes '${MEMORY_INPUT}' but the runner has no memory table` : `the runner has a memory table but the training graph takes no '${MEMORY_INPUT}'`);
  }
  const memory = opts.memory ? new MemoryRows(opts.memory, B, T) : null;
  const J = opts.memory?.variables ?? 0;

  const feeds = (batch: PackedBatch, weights = paramFeeds): Record<string, HostTensor> => {
    if (batch.B !== B || batch.T !== T) throw new RangeError(`batch is [${batch.B}, ${batch.T}], the graph was built for [${B}, ${T}]`);
    return {
      input_ids: int64Tensor(batch.inputIds, [B, T]),
      position_ids: int64Tensor(batch.positionIds, [B, T]),
      doc_ids: int64Tensor(batch.docIds, [B, T]),
      targets: int64Tensor(batch.targets, [B, T]),
      ...(memory ? { [MEMORY_INPUT]: int64Tensor(memory.fill(batch.inputIds, batch.docIds, T), [B * T, J]) } : {}),
      ...weights,
    };
  };

  // drawn before each run: drawing the next micro-batch's masks while ONNX Runtime ran this one
  // (its run leaves the JS thread free) measured no faster on two cores that ORT's threads fill
  const masks = new DropoutMasks(opts.dropout ?? []);
  return {
    async lossAndGrad(batch, _params, grad, scale, accumulate, dropoutSeed) {
      if (!masks.empty) masks.fill(dropoutSeed);
      const out = await trainSession.run(masks.empty ? feeds(batch) : { ...feeds(batch), ...masks.feeds }, fetchTrain);
      specs.forEach((_, i) => {
        const g = out[gradNames[i]!]!.data as Float32Array;
        const o = layout.offsets[i]!;
        if (!accumulate && scale === 1) grad.set(g, o);
        else if (!accumulate) for (let j = 0; j < g.length; j++) grad[o + j] = scale * g[j]!;
        else for (let j = 0; j < g.length; j++) grad[o + j]! += scale * g[j]!;
      });
      return scalarValue(out.loss!);
    },
    async loss(batch, weights) {
      let w = weights === opts.params ? paramFeeds : otherFeeds.get(weights);
      if (!w) otherFeeds.set(weights, (w = feedsOf(weights)));
      const out = await evalSession.run(feeds(batch, w), ['loss']);
      return scalarValue(out.loss!);
    },
    async release() {
      await trainSession.release();
      if (evalSession !== trainSession) await evalSession.release();
    },
  };
}
