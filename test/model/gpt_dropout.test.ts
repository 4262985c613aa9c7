/**
 * Dropout in the GPT's training graph: where the masks go (against the plain-JS reference with the
 * same masks), its gradients (finite differences in float64, masks fixed), that a model without
 * dropout gets the graph it had before dropout existed, and that dropout is the identity at
 * inference (the evaluation and KV-cache graphs).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hostTensor, int64Tensor, scalarValue, type HostTensor } from '../../src/graph/runtime.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { buildEvalGraph, buildInferenceGraph, buildTrainingGraph, dropoutMaskSpecs, gradName, TRAINING_DATA_INPUTS, type DropoutMaskSpec } from '../../src/model/gpt.ts';
import { DropoutMasks } from '../../src/train/dropout.ts';
import { Rng } from '../../src/util/rng.ts';
import { directionalGradCheck, feedsFor, packedBatch, randomParams, session, TINY, TINY_V } from './gptfixture.ts';
import { referenceLoss, referenceTokenLosses } from './reference.ts';

const opts = { vocabSize: TINY_V, batch: 2, ctx: 8 };
const DROP: ModelConfig = { ...TINY, embd_pdrop: 0.2, resid_pdrop: 0.3 };

/** Masks as the trainer draws them, in the graph's dtype. */
function drawMasks(specs: DropoutMaskSpec[], seed: number, dtype: 'float32' | 'float64'): Record<string, HostTensor> {
  const m = new DropoutMasks(specs);
  m.fill(seed);
  return Object.fromEntries(
    specs.map((s) => {
      const data = m.feeds[s.name]!.data as Float32Array;
      return [s.name, hostTensor(dtype, dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data), s.shape)];
    }),
  );
}

const ones = (specs: DropoutMaskSpec[]): Record<string, HostTensor> =>
  Object.fromEntries(specs.map((s) => [s.name, hostTensor('float32', new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(1), s.shape)]));

const masksOf = (feeds: Record<string, HostTensor>) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as ArrayLike<number>]));

describe('dropout in the GPT training graph', () => {
  it('one mask input per site after the parameters; none without dropout, none in the evaluation graph', () => {
    const built = buildTrainingGraph(DROP, opts);
    const specs = dropoutMaskSpecs(DROP, opts.batch, opts.ctx);
    expect(specs.map((s) => [s.name, s.shape, s.p])).toEqual([
      ['dropout.embd', [16, 8], 0.2],
      ...[0, 1].flatMap((l) => [
        [`dropout.h.${l}.attn`, [16, 8], 0.3],
        [`dropout.h.${l}.mlp`, [16, 8], 0.3],
      ]),
    ]);
    expect(dropoutMaskSpecs({ ...TINY, resid_pdrop: 0.1 }, 2, 8).map((s) => s.name)).toEqual(['dropout.h.0.attn', 'dropout.h.0.mlp', 'dropout.h.1.attn', 'dropout.h.1.mlp']);
    expect(built.inputNames).toEqual([...TRAINING_DATA_INPUTS, ...built.params.map((p) => p.name), ...specs.map((s) => s.name)]);
    expect(dropoutMaskSpecs(TINY, 2, 8)).toEqual([]);
    expect(buildTrainingGraph(TINY, opts).inputNames).toEqual([...TRAINING_DATA_INPUTS, ...built.params.map((p) => p.name)]);
    expect(buildEvalGraph(DROP, opts).inputNames).toEqual([...TRAINING_DATA_INPUTS, ...built.params.map((p) => p.name)]);
  });

  it('p = 0 gives the graphs of before dropout existed, byte for byte', () => {
    // sha256 of the graphs as synehr built them at commit 251ace8, before dropout: a model without
    // dropout trains on the same graph, so its runs are the same bits. A change to the graph code
    // that is meant to change the graphs updates these.
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const tiny = { vocabSize: 37, batch: 2, ctx: 16 };
    expect(sha(buildTrainingGraph(TINY, tiny).model)).toBe('c4df0540e154974de95dc445c8c5260051f1982a27c619dfb650363b2bbf77c2');
    expect(sha(buildEvalGraph(TINY, tiny).model)).toBe('8a96df2fed31e6ae4c3da99ef18239ee94350c3da1dbd974dc028b66a3ba1f53');
    expect(sha(buildTrainingGraph(TINY, { ...tiny, dtype: 'float64' }).model)).toBe('7ea288163eda8e30f1a38b97a41d2e34354c34eb554e1328a88777418adce409');
    // gpt-small's shape at T 1024 (four causal attention blocks)
    const small: ModelConfig = { ...TINY, n_layer: 4, n_embd: 128, n_ctx: 1024 };
    expect(sha(buildTrainingGraph(small, { vocabSize: 37, batch: 2, ctx: 1024 }).model)).toBe('bd93992d4e8cfaec41aca8415fc6391919ba59430aa05e84f30c8d25e131dcd0');
  });

  it('masks of ones give the loss and gradients of the model without dropout, bit for bit', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 21);
    const batch = packedBatch(TINY_V, 22);
    const plain = await (await session(buildTrainingGraph(TINY, opts).model)).run(feedsFor(batch, specs, values, 'float32'));
    const dropped = await (await session(buildTrainingGraph(DROP, opts).model)).run({ ...feedsFor(batch, specs, values, 'float32'), ...ones(dropoutMaskSpecs(DROP, 2, 8)) });
    expect(scalarValue(dropped.loss!)).toBe(scalarValue(plain.loss!));
    for (const s of specs) expect(Array.from(dropped[gradName(s.name)]!.data as Float32Array), s.name).toEqual(Array.from(plain[gradName(s.name)]!.data as Float32Array));
  });

  it('with drawn masks, the loss is the plain-JS reference with the same masks applied (float32 and float64, 1 and 2 attention blocks)', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 23);
    const batch = packedBatch(TINY_V, 24);
    for (const attentionBlocks of [1, 2]) {
      const mspecs = dropoutMaskSpecs(DROP, 2, 8);
      const masks = drawMasks(mspecs, 7 + attentionBlocks, 'float64');
      const ref = referenceLoss(DROP, TINY_V, values, batch, masksOf(masks));
      const noDrop = referenceLoss(TINY, TINY_V, values, batch);
      // the masks matter: the loss moves well beyond the float32 tolerance below
      expect(Math.abs(ref - noDrop) / noDrop).toBeGreaterThan(1e-2);
      const s64 = await session(buildTrainingGraph(DROP, { ...opts, dtype: 'float64', attentionBlocks }).model);
      const o64 = await s64.run({ ...feedsFor(batch, specs, values, 'float64'), ...masks }, ['loss']);
      expect(scalarValue(o64.loss!)).toBeCloseTo(ref, 10);
      const s32 = await session(buildTrainingGraph(DROP, { ...opts, attentionBlocks }).model);
      const o32 = await s32.run({ ...feedsFor(batch, specs, values, 'float32'), ...drawMasks(mspecs, 7 + attentionBlocks, 'float32') }, ['loss']);
      expect(Math.abs(scalarValue(o32.loss!) - ref) / ref).toBeLessThan(1e-5);
    }
  });

  it('float64 gradients with the masks fixed match central finite differences (coordinates and a random direction)', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 25);
    const batch = packedBatch(TINY_V, 26);
    const masks = drawMasks(dropoutMaskSpecs(DROP, 2, 8), 3, 'float64');
    const s = await session(buildTrainingGraph(DROP, { ...opts, dtype: 'float64', attentionBlocks: 2 }).model);
    const r = await directionalGradCheck(s, specs, values, () => ({ ...feedsFor(batch, specs, values, 'float64'), ...masks }), new Rng(27));
    expect(r.worstCoordinate, r.where).toBeLessThan(1e-5);
    expect(r.directionRelErr).toBeLessThan(1e-6);
  });

  it('is the identity at inference: evaluation and KV-cache graphs are those of the model without dropout, and give the training graph\'s loss with dropout off', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 28);
    const weights = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
    expect(buildEvalGraph(DROP, opts).model).toEqual(buildEvalGraph(TINY, opts).model);
    const inference = buildInferenceGraph(DROP, { vocabSize: TINY_V, weights });
    expect(inference.model).toEqual(buildInferenceGraph(TINY, { vocabSize: TINY_V, weights }).model);
    // one patient of 8 tokens: the KV-cache graph's logits give token losses whose mean is the
    // training graph's loss with masks of ones, and the evaluation graph's
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const batch = { B: 1, T: 8, inputIds: ids, positionIds: ids.map((_, i) => i), docIds: new Array(8).fill(0), targets: [...ids.slice(1), -1] };
    const inf = await session(inference.model);
    const H = TINY.n_head;
    const D = TINY.n_embd / H;
    const feeds: Record<string, HostTensor> = {
      input_ids: int64Tensor(ids, [1, 8]),
      attention_mask: int64Tensor(new Array(8).fill(1), [1, 8]),
      position_ids: int64Tensor(batch.positionIds, [1, 8]),
    };
    for (let l = 0; l < TINY.n_layer; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = hostTensor('float32', new Float32Array(0), [1, H, 0, D]);
    const logits = (await inf.run(feeds)).logits!.data as Float32Array; // [1, 8, V]
    let sum = 0;
    for (let t = 0; t < 7; t++) {
      const row = Array.from(logits.subarray(t * TINY_V, (t + 1) * TINY_V));
      const max = Math.max(...row);
      sum += -(row[ids[t + 1]!]! - max - Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)));
    }
    const fromLogits = sum / 7;
    const one = { vocabSize: TINY_V, batch: 1, ctx: 8 };
    const train = await (await session(buildTrainingGraph(DROP, one).model)).run({ ...feedsFor(batch, specs, values, 'float32'), ...ones(dropoutMaskSpecs(DROP, 1, 8)) }, ['loss']);
    const evalLoss = await (await session(buildEvalGraph(DROP, one).model)).run(feedsFor(batch, specs, values, 'float32'));
    expect(Math.abs(scalarValue(train.loss!) - fromLogits) / fromLogits).toBeLessThan(1e-5);
    expect(scalarValue(evalLoss.loss!)).toBe(scalarValue(train.loss!));
    const ref = referenceTokenLosses(TINY, TINY_V, values, batch);
    expect(fromLogits).toBeCloseTo(Array.from(ref.slice(0, 7)).reduce((a, b) => a + b, 0) / 7, 5);
  });
});
