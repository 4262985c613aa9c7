/**
 * The KV-cache inference graph (Hugging Face GPT-2 layout): its logits against the plain-JS
 * reference, and step-by-step decoding with the cache against one pass over the whole sequence.
 */
import { describe, expect, it } from 'vitest';
import { createSession, float32Tensor, int64Tensor, type HostTensor, type Session } from '../../src/graph/runtime.ts';
import { Graph, serializeModel, type Tensor } from '../../src/graph/index.ts';
import { buildInferenceGraph, gptCachedStep, weightInitializers } from '../../src/model/gpt.ts';
import { referenceTokenLosses } from './reference.ts';
import { TINY, TINY_V, randomParams } from './gptfixture.ts';

const H = TINY.n_head;
const D = TINY.n_embd / TINY.n_head;

function weights32(values: Record<string, Float64Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
}

/** Runs tokens [B = 1, S] at positions past..past+S-1 after a cache of length `past`. */
async function step(s: Session, ids: number[], past: number, cache: HostTensor[] | null): Promise<{ logits: Float32Array; cache: HostTensor[] }> {
  const S = ids.length;
  const feeds: Record<string, HostTensor> = {
    input_ids: int64Tensor(ids, [1, S]),
    attention_mask: int64Tensor(new Array(past + S).fill(1), [1, past + S]),
    position_ids: int64Tensor(ids.map((_, i) => past + i), [1, S]),
  };
  for (let l = 0; l < TINY.n_layer; l++) {
    feeds[`past_key_values.${l}.key`] = cache ? cache[2 * l]! : float32Tensor(new Float32Array(0), [1, H, 0, D]);
    feeds[`past_key_values.${l}.value`] = cache ? cache[2 * l + 1]! : float32Tensor(new Float32Array(0), [1, H, 0, D]);
  }
  const out = await s.run(feeds);
  const next: HostTensor[] = [];
  for (let l = 0; l < TINY.n_layer; l++) next.push(out[`present.${l}.key`]!, out[`present.${l}.value`]!);
  expect(out[`present.0.key`]!.dims).toEqual([1, H, past + S, D]);
  return { logits: out.logits!.data as Float32Array, cache: next };
}

describe('GPT inference graph (KV cache, Hugging Face layout)', () => {
  it('has the Hugging Face input and output names', () => {
    const { values } = randomParams(TINY, TINY_V, 1);
    const built = buildInferenceGraph(TINY, { vocabSize: TINY_V, weights: weights32(values) });
    expect(built.inputNames.slice(0, 5)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value']);
    expect(built.outputNames.slice(0, 3)).toEqual(['logits', 'present.0.key', 'present.0.value']);
    expect(built.outputNames).toHaveLength(1 + 2 * TINY.n_layer);
  });

  it('full-sequence logits give the reference token losses; cached decoding gives the same logits', async () => {
    const { values } = randomParams(TINY, TINY_V, 2);
    const s = await createSession(buildInferenceGraph(TINY, { vocabSize: TINY_V, weights: weights32(values) }).model, { threads: 1 });
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const T = ids.length;
    const full = await step(s, ids, 0, null);
    const ref = referenceTokenLosses(TINY, TINY_V, values, {
      B: 1,
      T,
      inputIds: ids,
      positionIds: ids.map((_, i) => i),
      docIds: new Array(T).fill(0),
      targets: [...ids.slice(1), -1],
    });
    for (let t = 0; t < T - 1; t++) {
      const row = Array.from(full.logits.subarray(t * TINY_V, (t + 1) * TINY_V));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      expect(lse - row[ids[t + 1]!]!).toBeCloseTo(ref[t]!, 4);
    }
    // prefix of 5 in one call, then one token at a time through the cache
    let r = await step(s, ids.slice(0, 5), 0, null);
    for (let t = 5; t < T; t++) {
      r = await step(s, [ids[t]!], t, r.cache);
      const want = full.logits.subarray(t * TINY_V, (t + 1) * TINY_V);
      r.logits.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    }
  });

  it('left padding: a padded row gives the logits of the same tokens unpadded', async () => {
    const { values } = randomParams(TINY, TINY_V, 5);
    const s = await createSession(buildInferenceGraph(TINY, { vocabSize: TINY_V, weights: weights32(values) }).model, { threads: 1 });
    const feeds: Record<string, HostTensor> = {
      // row 0: [pad, 3, 1, 4] (mask 0 on the pad); row 1: [3, 1, 4, 1]
      input_ids: int64Tensor([0, 3, 1, 4, 3, 1, 4, 1], [2, 4]),
      attention_mask: int64Tensor([0, 1, 1, 1, 1, 1, 1, 1], [2, 4]),
      position_ids: int64Tensor([1, 0, 1, 2, 0, 1, 2, 3], [2, 4]),
    };
    for (let l = 0; l < TINY.n_layer; l++) {
      feeds[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [2, H, 0, D]);
      feeds[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [2, H, 0, D]);
    }
    const logits = (await s.run(feeds)).logits!.data as Float32Array; // [2, 4, V]
    for (let t = 1; t < 4; t++) {
      for (let v = 0; v < TINY_V; v++) expect(logits[(0 * 4 + t) * TINY_V + v]).toBeCloseTo(logits[(1 * 4 + t - 1) * TINY_V + v]!, 5);
    }
  });

  it('gptCachedStep inside an ONNX Loop (KV cache carried, last-position logits) decodes as the inference graph does', async () => {
    const { values } = randomParams(TINY, TINY_V, 4);
    const weights = weights32(values);
    const steps = 6;
    const g = new Graph('greedy_loop');
    const start = g.input('start', 'int64', [1, 1]);
    const p = weightInitializers(g, TINY, TINY_V, weights);
    const body = g.subgraph('body');
    const iter = body.input('iter', 'int64', []);
    const cond = body.input('cond', 'bool', []);
    const tok = body.input('tok', 'int64', [1, 1]);
    const past: [Tensor, Tensor][] = [];
    for (let l = 0; l < TINY.n_layer; l++) past.push([body.input(`pk${l}`, 'float32', [1, H, 'P', D]), body.input(`pv${l}`, 'float32', [1, H, 'P', D])]);
    const positions = body.reshape(iter, [1, 1]);
    // one query at the newest position sees every cached key: no mask needed
    const { logits, present } = gptCachedStep(body, TINY, p, { ids: tok, positions, past, bias: body.scalar(0), lastOnly: true });
    expect(logits.shape).toEqual([1, 1, TINY_V]);
    const next = body.argMax(logits, -1, false); // [1, 1]
    body.output(body.identity(cond), 'cond_out');
    body.output(next, 'tok_out');
    present.forEach(([k, v], l) => {
      body.output(k, `nk${l}`);
      body.output(v, `nv${l}`);
    });
    body.output(body.identity(next), 'scan_tok');
    const empty = g.constantOfShape([1, H, 0, D], 0, 'float32');
    const outs = g.loop(g.scalar(steps, 'int64'), g.constant([1], 'bool', [], 'true'), [start, ...past.flatMap(() => [empty, empty])], body);
    g.output(g.reshape(outs[outs.length - 1]!, [1, steps]), 'tokens');
    const s = await createSession(serializeModel(g), { threads: 1 });
    const loopTokens = Array.from((await s.run({ start: int64Tensor([3], [1, 1]) })).tokens!.data as BigInt64Array, Number);
    // the same greedy decoding, step by step through the inference graph
    const inf = await createSession(buildInferenceGraph(TINY, { vocabSize: TINY_V, weights }).model, { threads: 1 });
    const seq = [3];
    let cache: HostTensor[] | null = null;
    for (let n = 0; n < steps; n++) {
      const r = await step(inf, [seq[n]!], n, cache);
      let best = 0;
      r.logits.forEach((v, i) => (v > r.logits[best]! ? (best = i) : 0));
      seq.push(best);
      cache = r.cache;
    }
    expect(loopTokens).toEqual(seq.slice(1));
  });

  it('BAD CALL - a missing or mis-sized weight is named', () => {
    const { values } = randomParams(TINY, TINY_V, 3);
    const w = weights32(values);
    delete w['transformer.ln_f.bias'];
    expect(() => buildInferenceGraph(TINY, { vocabSize: TINY_V, weights: w })).toThrow(/weight 'transformer.ln_f.bias' is missing/);
    w['transformer.ln_f.bias'] = new Float32Array(3);
    expect(() => buildInferenceGraph(TINY, { vocabSize: TINY_V, weights: w })).toThrow(/'transformer.ln_f.bias' has 3 values, shape \[8\] needs 8/);
  });
});
