/**
 * The GPT's graphs: the float32 loss against the plain-JS reference, the float64 gradients against
 * finite differences, the float32 gradients (LayerNormalization op) against the float64 ones, and
 * packing: no attention across documents.
 */
import { describe, expect, it } from 'vitest';
import { scalarValue } from '../../src/graph/runtime.ts';
import { buildEvalGraph, buildTrainingGraph, defaultAttentionBlocks, gradName, trainingGraph, TRAINING_DATA_INPUTS } from '../../src/model/gpt.ts';
import { referenceLoss, referenceTokenLosses } from './reference.ts';
import { Rng } from '../../src/util/rng.ts';
import { TINY, TINY_V, directionalGradCheck, feedsFor, packedBatch, randomParams, session } from './gptfixture.ts';

const opts = { vocabSize: TINY_V, batch: 2, ctx: 8 };

describe('GPT training graph', () => {
  it('names its inputs and outputs as documented', () => {
    const built = buildTrainingGraph(TINY, opts);
    expect(built.inputNames).toEqual([...TRAINING_DATA_INPUTS, ...built.params.map((p) => p.name)]);
    expect(built.outputNames).toEqual(['loss', ...built.params.map((p) => gradName(p.name))]);
  });

  it('float32 loss equals the plain-JS float64 reference forward pass', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 3);
    const batch = packedBatch(TINY_V, 4);
    const s = await session(buildTrainingGraph(TINY, opts).model);
    const out = await s.run(feedsFor(batch, specs, values, 'float32'), ['loss']);
    const ref = referenceLoss(TINY, TINY_V, values, batch);
    expect(ref).toBeGreaterThan(0.5);
    expect(Math.abs(scalarValue(out.loss!) - ref) / ref).toBeLessThan(1e-5);
    const e = await session(buildEvalGraph(TINY, opts).model);
    const ev = await e.run(feedsFor(batch, specs, values, 'float32'));
    expect(Object.keys(ev)).toEqual(['loss']);
    expect(scalarValue(ev.loss!)).toBeCloseTo(scalarValue(out.loss!), 6);
  });

  it('float64 gradients match central finite differences (coordinates and a random direction)', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 5);
    const batch = packedBatch(TINY_V, 6);
    // two attention blocks, so the finite differences cover the block split too
    const s = await session(buildTrainingGraph(TINY, { ...opts, dtype: 'float64', attentionBlocks: 2 }).model);
    const out = await s.run(feedsFor(batch, specs, values, 'float64'), ['loss']);
    expect(scalarValue(out.loss!)).toBeCloseTo(referenceLoss(TINY, TINY_V, values, batch), 10);
    const r = await directionalGradCheck(s, specs, values, () => feedsFor(batch, specs, values, 'float64'), new Rng(7));
    expect(r.worstCoordinate, r.where).toBeLessThan(1e-5);
    expect(r.directionRelErr).toBeLessThan(1e-6);
  });

  it('causal attention blocks (2 and 4) give the same loss and gradients as one block', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 14);
    const batch = packedBatch(TINY_V, 15);
    const runWith = async (attentionBlocks: number) => (await session(buildTrainingGraph(TINY, { ...opts, dtype: 'float64', attentionBlocks }).model)).run(feedsFor(batch, specs, values, 'float64'));
    const one = await runWith(1);
    for (const nb of [2, 4]) {
      const out = await runWith(nb);
      expect(scalarValue(out.loss!)).toBeCloseTo(scalarValue(one.loss!), 12);
      for (const spec of specs) {
        const a = out[gradName(spec.name)]!.data as Float64Array;
        (one[gradName(spec.name)]!.data as Float64Array).forEach((v, i) => expect(a[i], `${spec.name}[${i}] with ${nb} blocks`).toBeCloseTo(v, 12));
      }
    }
    expect(() => buildTrainingGraph(TINY, { ...opts, attentionBlocks: 3 })).toThrow(/attentionBlocks must be a positive integer dividing ctx = 8, got 3/);
  });

  it('float32 gradients (LayerNormalization op) agree with the float64 ones', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 8);
    const batch = packedBatch(TINY_V, 9);
    const s32 = await session(buildTrainingGraph(TINY, opts).model);
    const s64 = await session(buildTrainingGraph(TINY, { ...opts, dtype: 'float64' }).model);
    const o32 = await s32.run(feedsFor(batch, specs, values, 'float32'));
    const o64 = await s64.run(feedsFor(batch, specs, values, 'float64'));
    for (const spec of specs) {
      const a = o32[gradName(spec.name)]!.data as Float32Array;
      const b = o64[gradName(spec.name)]!.data as Float64Array;
      let diff = 0;
      let norm = 0;
      b.forEach((v, i) => ((diff = Math.max(diff, Math.abs(v - a[i]!))), (norm = Math.max(norm, Math.abs(v)))));
      expect(diff / norm, spec.name).toBeLessThan(1e-4);
    }
  });

  it('packing: a document is unaffected by the document packed before it', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 10);
    const s = await session(buildTrainingGraph(TINY, opts).model);
    const base = packedBatch(TINY_V, 11);
    // only doc 1 (row 0, tokens 3..7) has targets
    const onlyDoc1 = { ...base, targets: Array.from(base.targets, (t, i) => (base.docIds[i] === 1 ? t : -1)) };
    const changed = { ...onlyDoc1, inputIds: Array.from(onlyDoc1.inputIds, (t, i) => (base.docIds[i] === 0 ? (t + 5) % TINY_V : t)) };
    const a = await s.run(feedsFor(onlyDoc1, specs, values, 'float32'));
    const b = await s.run(feedsFor(changed, specs, values, 'float32'));
    expect(scalarValue(b.loss!)).toBe(scalarValue(a.loss!));
    for (const spec of specs) {
      expect(Array.from(b[gradName(spec.name)]!.data as Float32Array), spec.name).toEqual(Array.from(a[gradName(spec.name)]!.data as Float32Array));
    }
    // doc 1 alone at the start of a row (padding after) gives the same token losses
    const alone = {
      ...base,
      inputIds: [...Array.from(base.inputIds).slice(3, 8), 0, 0, 0, ...Array.from(base.inputIds).slice(8)],
      positionIds: [0, 1, 2, 3, 4, 0, 0, 0, ...Array.from(base.positionIds).slice(8)],
      docIds: [1, 1, 1, 1, 1, 9, 9, 9, ...Array.from(base.docIds).slice(8)],
      targets: [...Array.from(onlyDoc1.targets).slice(3, 8), -1, -1, -1, ...Array.from(onlyDoc1.targets).slice(8)],
    };
    const c = await s.run(feedsFor(alone, specs, values, 'float32'), ['loss']);
    expect(scalarValue(c.loss!)).toBeCloseTo(scalarValue(a.loss!), 5);
    const refPacked = referenceTokenLosses(TINY, TINY_V, values, onlyDoc1).slice(3, 7);
    const refAlone = referenceTokenLosses(TINY, TINY_V, values, alone).slice(0, 4);
    refPacked.forEach((v, i) => expect(v).toBeCloseTo(refAlone[i]!, 10));
  });

  it('target weights: the loss is Σ w[target] · nll over the count of targets, with gradients that match finite differences, and the evaluation graph stays the plain mean', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 16);
    const batch = packedBatch(TINY_V, 17);
    // the batch's first two target tokens weigh 7 and 0.25, the rest 1 (train.main_label_weight puts one weight on a label's tokens)
    const [a, b] = [...new Set(Array.from(batch.targets).filter((t) => t >= 0))];
    const targetWeights = Float32Array.from({ length: TINY_V }, (_, v) => (v === a ? 7 : v === b ? 0.25 : 1));
    const weighted = { ...opts, dtype: 'float64' as const, targetWeights };
    const s = await session(buildTrainingGraph(TINY, weighted).model);
    const out = await s.run(feedsFor(batch, specs, values, 'float64'), ['loss']);
    const token = referenceTokenLosses(TINY, TINY_V, values, batch);
    let sum = 0;
    let count = 0;
    let reweighted = 0;
    Array.from(batch.targets).forEach((t, i) => {
      if (t < 0) return;
      sum += targetWeights[t]! * token[i]!;
      count++;
      if (t === a || t === b) reweighted++;
    });
    expect(reweighted).toBeGreaterThan(0);
    const ref = sum / count;
    expect(Math.abs(ref - referenceLoss(TINY, TINY_V, values, batch))).toBeGreaterThan(0.05);
    expect(scalarValue(out.loss!)).toBeCloseTo(ref, 10);
    const r = await directionalGradCheck(s, specs, values, () => feedsFor(batch, specs, values, 'float64'), new Rng(18));
    expect(r.worstCoordinate, r.where).toBeLessThan(1e-5);
    expect(r.directionRelErr).toBeLessThan(1e-6);
    // the evaluation graph ignores them (gptRunnerFactory gives them to the training graph only)
    const e = await session(buildEvalGraph(TINY, { ...opts, dtype: 'float64' }).model);
    expect(scalarValue((await e.run(feedsFor(batch, specs, values, 'float64'))).loss!)).toBeCloseTo(referenceLoss(TINY, TINY_V, values, batch), 10);
    expect(() => buildTrainingGraph(TINY, { ...opts, targetWeights: new Float32Array(TINY_V - 1) })).toThrow(/targetWeights has 10 entries for a vocabulary of 11/);
  });

  it('all-ignored targets give loss 0 and zero gradients, not NaN', async () => {
    const { specs, values } = randomParams(TINY, TINY_V, 12);
    const batch = { ...packedBatch(TINY_V, 13), targets: new Array(16).fill(-1) };
    const s = await session(buildTrainingGraph(TINY, opts).model);
    const out = await s.run(feedsFor(batch, specs, values, 'float32'));
    expect(scalarValue(out.loss!)).toBe(0);
    expect(Array.from(out[gradName('transformer.wte.weight')]!.data as Float32Array).every((v) => v === 0)).toBe(true);
  });

  it('the float32 graph has no float64 leftovers, no OneHot, and one Gemm or MatMul per product', () => {
    const { g } = trainingGraph(TINY, opts);
    expect(g.initializers.filter((c) => c.dtype === 'float64').map((c) => c.name)).toEqual([]);
    const ops = g.nodes.map((n) => n.op);
    expect(ops).not.toContain('OneHot');
    // the target mask, and the keep mask of each causal attention block (one at ctx 8)
    expect(g.nodes.filter((n) => n.op === 'Cast').length).toBe(1 + defaultAttentionBlocks(opts.ctx));
    // forward: 6 linear products per block (q, k and v on slices of c_attn's weight, c_proj, c_fc,
    // the MLP's c_proj), each one MatMul, and the tied head one Gemm; backward: two Gemms for each.
    // Attention: per block and causal query block, 2 MatMuls forward and 4 backward.
    const L = TINY.n_layer;
    expect(ops.filter((o) => o === 'Gemm').length).toBe(2 * 6 * L + 3);
    expect(ops.filter((o) => o === 'MatMul').length).toBe(6 * L + 6 * L * defaultAttentionBlocks(opts.ctx));
  });

  it('BAD CALL - ctx beyond n_ctx, float64 with the LayerNormalization op', () => {
    expect(() => buildTrainingGraph(TINY, { ...opts, ctx: 17 })).toThrow(/ctx must be an integer in \[1, n_ctx = 16\], got 17/);
    expect(() => buildTrainingGraph(TINY, { ...opts, dtype: 'float64', primitiveLayerNorm: false })).toThrow(/primitiveLayerNorm/);
  });
});
