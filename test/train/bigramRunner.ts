import type { ParamSpec } from '../../src/model/params.ts';
import type { ModelRunner, RunnerFactory } from '../../src/train/runner.ts';
import type { PackedBatch } from '../../src/train/batches.ts';
import type { TokenShard } from '../../src/train/batches.ts';
import { Rng } from '../../src/util/rng.ts';
import { modelConfigSchema } from '../../src/model/config.ts';
import { trainConfigSchema, type TrainConfig } from '../../src/train/config.ts';
import type { TrainModelOptions } from '../../src/train/trainer.ts';

/**
 * A stand-in model for trainer tests that need no ONNX graph: a bigram language model,
 * logits[t] = W[x_t] + b, with the exact softmax cross-entropy gradient in plain JS. Deterministic,
 * so resume and early-stopping logic can be checked bit for bit and fast.
 */
export function bigramSpecs(V: number): ParamSpec[] {
  return [
    { name: 'bigram.weight', shape: [V, V], decay: true, init: 'normal', std: 0.02, embedding: false },
    { name: 'bigram.bias', shape: [V], decay: false, init: 'zeros', std: 0, embedding: false },
  ];
}

export const bigramRunner: RunnerFactory = async ({ layout, vocabSize: V }) => {
  const wOff = layout.offsets[0]!;
  const bOff = layout.offsets[1]!;
  const logits = new Float64Array(V);
  const forward = (batch: PackedBatch, params: Float32Array, grad: Float32Array | null, scale: number): number => {
    let sum = 0;
    const n = batch.nTargets;
    for (let i = 0; i < batch.B * batch.T; i++) {
      const y = Number(batch.targets[i]);
      if (y < 0) continue;
      const x = Number(batch.inputIds[i]);
      let max = -Infinity;
      for (let v = 0; v < V; v++) {
        logits[v] = params[wOff + x * V + v]! + params[bOff + v]!;
        if (logits[v]! > max) max = logits[v]!;
      }
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(logits[v]! - max);
      sum += max + Math.log(z) - logits[y]!;
      if (grad) {
        for (let v = 0; v < V; v++) {
          const d = (scale * (Math.exp(logits[v]! - max) / z - (v === y ? 1 : 0))) / n;
          grad[wOff + x * V + v]! += d;
          grad[bOff + v]! += d;
        }
      }
    }
    return sum / n;
  };
  const runner: ModelRunner = {
    async lossAndGrad(batch, params, grad, scale, accumulate) {
      if (!accumulate) grad.fill(0);
      return forward(batch, params, grad, scale);
    },
    async loss(batch, params) {
      return forward(batch, params, null, 1);
    },
    async release() {},
  };
  return runner;
};

/**
 * A shard of P patients of random lengths in [minLen, maxLen], each `<s>=1 ... </s>=2`, with a
 * learnable structure (the next token is mostly (x + 1) mod V) so the loss can fall.
 */
export function syntheticShard(seed: number, P: number, V: number, minLen: number, maxLen: number): TokenShard {
  const rng = new Rng(seed);
  const offsets = new Uint32Array(P + 1);
  const ids: number[] = [];
  for (let p = 0; p < P; p++) {
    const n = minLen + rng.int(maxLen - minLen + 1);
    ids.push(1);
    let x = 3 + rng.int(V - 3);
    for (let j = 1; j < n - 1; j++) {
      ids.push(x);
      x = rng.float() < 0.9 ? 3 + ((x - 3 + 1) % (V - 3)) : 3 + rng.int(V - 3);
    }
    ids.push(2);
    offsets[p + 1] = ids.length;
  }
  return { ids: Uint16Array.from(ids), offsets, vocabSize: V };
}

/** The vocabulary, shards and model of the trainer tests that run the bigram stand-in. */
export const BIGRAM_V = 16;
const bigramTrainShard = syntheticShard(1, 120, BIGRAM_V, 3, 20);
const bigramValShard = syntheticShard(2, 30, BIGRAM_V, 3, 20);
export const bigramModel = modelConfigSchema.parse({ name: 'bigram', n_layer: 1, n_embd: 8, n_head: 1, n_ctx: 32 });

/** trainModel options for a 30-update bigram run in `runDir` (train keys and options overridable). */
export function bigramTrainOptions(runDir: string, train: Partial<TrainConfig>, extra: Partial<TrainModelOptions> = {}): TrainModelOptions {
  return {
    runDir,
    model: bigramModel,
    train: trainConfigSchema.parse({ batch_size: 2, lr: 0.05, warmup_steps: 3, max_steps: 30, eval_every: 5, eval_batches: 4, checkpoint_every: 7, log_every: 5, patience: 0, ...train }),
    seed: 1234,
    trainShard: bigramTrainShard,
    valShard: bigramValShard,
    vocabSize: BIGRAM_V,
    padId: 0,
    specs: bigramSpecs(BIGRAM_V),
    createRunner: bigramRunner,
    log: () => {},
    progress: false,
    ...extra,
  };
}
