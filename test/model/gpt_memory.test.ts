/**
 * The value memory (model.value_memory) in the GPT's graphs: the training graph's loss against the
 * plain-JS reference with the memory's mean embedding and its kernel of logit bonuses (and with the
 * labels' rows added whole, model.memory_labels), its float64 gradients (wme's and wmb's included) against
 * finite differences, a zero table against the model without memory, and the KV-cache inference
 * graph's logits against the reference and against cached decoding.
 */
import { describe, expect, it } from 'vitest';
import { createSession, float32Tensor, int64Tensor, scalarValue, type HostTensor, type Session } from '../../src/graph/runtime.ts';
import { buildEvalGraph, buildInferenceGraph, buildTrainingGraph, gradName, MEMORY_BEFORE_INPUT, MEMORY_INPUT, TRAINING_DATA_INPUTS } from '../../src/model/gpt.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import type { MemoryTable } from '../../src/tokenizer/vocabulary.ts';
import { referenceLoss, referenceTokenLosses, type ReferenceBatch } from './reference.ts';
import { Rng } from '../../src/util/rng.ts';
import { MEM_MODEL, TINY, TINY_MEMORY_TABLE, TINY_V, directionalGradCheck, feedsFor, packedBatch, randomParams, session } from './gptfixture.ts';

const MEM = MEM_MODEL;
const opts = { vocabSize: TINY_V, batch: 2, ctx: 8 };
const H = TINY.n_head;
const D = TINY.n_embd / H;

const TABLE = TINY_MEMORY_TABLE;

/** Each row's latest token per variable: one of its bins, or none (−1) a third of the time. */
function randomLatest(N: number, seed: number): number[] {
  const rng = new Rng(seed);
  const out: number[] = [];
  for (let n = 0; n < N; n++) out.push(rng.float() < 0.3 ? -1 : 3 + rng.int(4), rng.float() < 0.3 ? -1 : 7 + rng.int(3));
  return out;
}

/** Per row, each variable's value before its latest in `latest`: a random bin where it has a latest one, else −1. */
function randomBefore(latest: readonly number[], seed: number): number[] {
  const rng = new Rng(seed);
  return latest.map((u, i) => (u < 0 || rng.float() < 0.4 ? -1 : i % 2 === 0 ? 3 + rng.int(4) : 7 + rng.int(3)));
}

const memOpts = { ...opts, memory: TABLE };

function withMemory(batch: ReferenceBatch, seed: number): ReferenceBatch {
  return { ...batch, memory: { latest: randomLatest(batch.B * batch.T, seed), table: TABLE } };
}

describe('value memory in the GPT training graph', () => {
  it('takes the memory after the data inputs and learns transformer.wme.weight [V, C] and wmb [V], zeros at the start', () => {
    const built = buildTrainingGraph(MEM, memOpts);
    expect(built.inputNames).toEqual([...TRAINING_DATA_INPUTS, MEMORY_INPUT, ...built.params.map((p) => p.name)]);
    expect(built.outputNames).toContain(gradName('transformer.wme.weight'));
    const wme = gptParamSpecs(MEM, TINY_V).find((s) => s.name === 'transformer.wme.weight')!;
    expect(wme).toMatchObject({ shape: [TINY_V, TINY.n_embd], init: 'zeros', decay: false, embedding: true });
    expect(gptParamSpecs(MEM, TINY_V).find((s) => s.name === 'transformer.wmb.weight')).toMatchObject({ shape: [TINY_V], init: 'zeros', decay: false });
    // the first-value offsets are the refit's alone: not an input of the training graph
    expect(gptParamSpecs(MEM, TINY_V).find((s) => s.name === 'transformer.wma.weight')).toMatchObject({ shape: [TINY_V], init: 'zeros', decay: false, refitOnly: true });
    expect(built.inputNames).not.toContain('transformer.wma.weight');
    expect(built.outputNames).toContain(gradName('transformer.wmb.weight'));
    expect(gptParamSpecs(TINY, TINY_V).some((s) => s.name === 'transformer.wme.weight')).toBe(false);
    expect(buildEvalGraph(MEM, memOpts).inputNames.slice(0, 5)).toEqual([...TRAINING_DATA_INPUTS, MEMORY_INPUT]);
  });

  it('float32 loss equals the plain-JS reference with the memory\'s embedding and bonus; the memory changes it', async () => {
    const { specs, values } = randomParams(MEM, TINY_V, 3);
    const batch = withMemory(packedBatch(TINY_V, 4), 5);
    const s = await session(buildTrainingGraph(MEM, memOpts).model);
    const loss = scalarValue((await s.run(feedsFor(batch, specs, values, 'float32'), ['loss'])).loss!);
    const ref = referenceLoss(MEM, TINY_V, values, batch);
    expect(Math.abs(loss - ref) / ref).toBeLessThan(1e-5);
    const other = referenceLoss(MEM, TINY_V, values, withMemory(batch, 6));
    expect(Math.abs(other - ref)).toBeGreaterThan(1e-3);
  });

  it('float64 gradients, wme and wmb included, match central finite differences', async () => {
    const { specs, values } = randomParams(MEM, TINY_V, 7);
    const batch = withMemory(packedBatch(TINY_V, 8), 9);
    const s = await session(buildTrainingGraph(MEM, { ...memOpts, dtype: 'float64', attentionBlocks: 2 }).model);
    const r = await directionalGradCheck(s, specs, values, () => feedsFor(batch, specs, values, 'float64'), new Rng(10));
    expect(r.worstCoordinate, r.where).toBeLessThan(1e-5);
    expect(r.directionRelErr).toBeLessThan(1e-6);
  });

  it('zero tables give the loss of the model without memory, whatever the rows', async () => {
    const { specs, values } = randomParams(MEM, TINY_V, 11);
    values['transformer.wme.weight']!.fill(0);
    values['transformer.wmb.weight']!.fill(0);
    const batch = withMemory(packedBatch(TINY_V, 12), 13);
    const plain = randomParams(TINY, TINY_V, 11).specs;
    const withMem = await session(buildTrainingGraph(MEM, { ...memOpts, dtype: 'float64', primitiveLayerNorm: true }).model);
    const without = await session(buildTrainingGraph(TINY, { ...opts, dtype: 'float64', primitiveLayerNorm: true }).model);
    const a = scalarValue((await withMem.run(feedsFor(batch, specs, values, 'float64'), ['loss'])).loss!);
    const { memory: _, ...noMemory } = batch;
    const b = scalarValue((await without.run(feedsFor(noMemory, plain, values, 'float64'), ['loss'])).loss!);
    expect(a).toBeCloseTo(b, 12);
  });
});

/**
 * TINY_V's tokens with a label in the memory (model.memory_labels): variable 0's bins 3-6,
 * variable 1's 7-8, and the label's two values 9-10 as a third column (J = 3, labels = 1).
 */
const LABEL_TABLE: MemoryTable = (() => {
  const owner = Int32Array.from({ length: TINY_V }, (_, t) => (t >= 3 && t <= 6 ? 0 : t >= 7 && t <= 8 ? 1 : t >= 9 ? 2 : -1));
  return {
    variables: 3,
    labels: 1,
    owner,
    sets: Int32Array.from(owner, (o, t) => (o >= 0 ? t : -1)),
    step: new Int32Array(TINY_V),
    first: Int32Array.from(owner, (o) => (o === 0 ? 3 : o === 1 ? 7 : -1)),
  };
})();
const LABEL_MODEL: ModelConfig = { ...MEM, memory_labels: true };

/** Rows of LABEL_TABLE: each variable's latest bin or none, the label's value or none (a third of the time each). */
function withLabelMemory(batch: ReferenceBatch, seed: number): ReferenceBatch {
  const rng = new Rng(seed);
  const latest: number[] = [];
  for (let n = 0; n < batch.B * batch.T; n++) latest.push(rng.float() < 0.3 ? -1 : 3 + rng.int(4), rng.float() < 0.3 ? -1 : 7 + rng.int(2), rng.float() < 0.3 ? -1 : 9 + rng.int(2));
  return { ...batch, memory: { latest, table: LABEL_TABLE } };
}

describe('labels in the value memory (model.memory_labels)', () => {
  const labelOpts = { ...opts, memory: LABEL_TABLE };

  it('float32 loss equals the plain-JS reference, the label\'s row added whole beside the variables\' mean; without the label column it differs', async () => {
    const { specs, values } = randomParams(LABEL_MODEL, TINY_V, 21);
    const batch = withLabelMemory(packedBatch(TINY_V, 22), 23);
    const s = await session(buildTrainingGraph(LABEL_MODEL, labelOpts).model);
    const loss = scalarValue((await s.run(feedsFor(batch, specs, values, 'float32'), ['loss'])).loss!);
    const ref = referenceLoss(LABEL_MODEL, TINY_V, values, batch);
    expect(Math.abs(loss - ref) / ref).toBeLessThan(1e-5);
    // the label's column matters: with it emptied, the loss moves
    const noLabel = { ...batch, memory: { ...batch.memory!, latest: Array.from(batch.memory!.latest, (u, i) => (i % 3 === 2 ? -1 : u)) } };
    expect(Math.abs(referenceLoss(LABEL_MODEL, TINY_V, values, noLabel) - ref)).toBeGreaterThan(1e-3);
  });

  it('float64 gradients, wme\'s label rows included, match central finite differences', async () => {
    const { specs, values } = randomParams(LABEL_MODEL, TINY_V, 24);
    const batch = withLabelMemory(packedBatch(TINY_V, 25), 26);
    const s = await session(buildTrainingGraph(LABEL_MODEL, { ...labelOpts, dtype: 'float64', attentionBlocks: 2 }).model);
    const r = await directionalGradCheck(s, specs, values, () => feedsFor(batch, specs, values, 'float64'), new Rng(27));
    expect(r.worstCoordinate, r.where).toBeLessThan(1e-5);
    expect(r.directionRelErr).toBeLessThan(1e-6);
  });

  it('EXPECTED FAILURE - memory_labels without the value memory, and a table with labels for a model without them, are named', () => {
    expect(() => buildTrainingGraph({ ...TINY, memory_labels: true }, opts)).toThrow(/model\.memory_labels: true needs model\.value_memory: true/);
    expect(() => buildTrainingGraph(MEM, labelOpts)).toThrow(/the memory table has 1 label columns for a model with memory_labels false/);
  });
});

/** Tokens [1, S] at positions past.. after a cache of `past`, with their memory rows [S, J] and those before them. */
async function step(s: Session, ids: number[], memory: number[], before: number[], past: number, cache: HostTensor[] | null): Promise<{ logits: Float32Array; cache: HostTensor[] }> {
  const S = ids.length;
  const feeds: Record<string, HostTensor> = {
    input_ids: int64Tensor(ids, [1, S]),
    attention_mask: int64Tensor(new Array(past + S).fill(1), [1, past + S]),
    position_ids: int64Tensor(ids.map((_, i) => past + i), [1, S]),
    [MEMORY_INPUT]: int64Tensor(memory, [1, S, TABLE.variables]),
    [MEMORY_BEFORE_INPUT]: int64Tensor(before, [1, S, TABLE.variables]),
  };
  for (let l = 0; l < TINY.n_layer; l++) {
    feeds[`past_key_values.${l}.key`] = cache ? cache[2 * l]! : float32Tensor(new Float32Array(0), [1, H, 0, D]);
    feeds[`past_key_values.${l}.value`] = cache ? cache[2 * l + 1]! : float32Tensor(new Float32Array(0), [1, H, 0, D]);
  }
  const out = await s.run(feeds);
  const next: HostTensor[] = [];
  for (let l = 0; l < TINY.n_layer; l++) next.push(out[`present.${l}.key`]!, out[`present.${l}.value`]!);
  return { logits: out.logits!.data as Float32Array, cache: next };
}

describe('value memory in the KV-cache inference graph', () => {
  it('takes memory and memory_before after position_ids; full-sequence logits give the reference losses, cached decoding the same logits', async () => {
    // every parameter, the refit-only wma and wmp included: the inference graph adds wma while a
    // variable has no value, wmp while it has one before its latest
    const { values } = randomParams(MEM, TINY_V, 2, true);
    const weights = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
    const built = buildInferenceGraph(MEM, { vocabSize: TINY_V, weights, memory: TABLE });
    expect(() => buildInferenceGraph(MEM, { vocabSize: TINY_V, weights })).toThrow(/no memory table/);
    expect(built.inputNames.slice(0, 5)).toEqual(['input_ids', 'attention_mask', 'position_ids', MEMORY_INPUT, MEMORY_BEFORE_INPUT]);
    const s = await createSession(built.model, { threads: 1 });
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const T = ids.length;
    const memory = randomLatest(T, 3);
    const before = randomBefore(memory, 4);
    expect(before.some((u) => u >= 0)).toBe(true);
    const full = await step(s, ids, memory, before, 0, null);
    const batch = { B: 1, T, inputIds: ids, positionIds: ids.map((_, i) => i), docIds: new Array(T).fill(0), targets: [...ids.slice(1), -1] };
    const ref = referenceTokenLosses(MEM, TINY_V, values, { ...batch, memory: { latest: memory, table: TABLE, before } });
    // the kernel before matters here
    const noBefore = referenceTokenLosses(MEM, TINY_V, values, { ...batch, memory: { latest: memory, table: TABLE } });
    expect(ref.some((l, t) => Math.abs(l - noBefore[t]!) > 1e-3)).toBe(true);
    for (let t = 0; t < T - 1; t++) {
      const row = Array.from(full.logits.subarray(t * TINY_V, (t + 1) * TINY_V));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      expect(lse - row[ids[t + 1]!]!).toBeCloseTo(ref[t]!, 4);
    }
    const J = TABLE.variables;
    let r = await step(s, ids.slice(0, 3), memory.slice(0, 3 * J), before.slice(0, 3 * J), 0, null);
    for (let t = 3; t < T; t++) {
      r = await step(s, [ids[t]!], memory.slice(t * J, (t + 1) * J), before.slice(t * J, (t + 1) * J), t, r.cache);
      const want = full.logits.subarray(t * TINY_V, (t + 1) * TINY_V);
      r.logits.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    }
  });
});
