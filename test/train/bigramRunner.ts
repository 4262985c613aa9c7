import type { ParamSpec } from '../../src/model/params.ts';
import type { ModelRunner, RunnerFactory } from '../../src/train/runner.ts';
import type { PackedBatch } from '../../src/train/batches.ts';
import type { TokenShard } from '../../src/train/batches.ts';
import { Rng } from '../../src/util/rng.ts';

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
