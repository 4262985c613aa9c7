/**
 * The exported folder (onnx/model.onnx + config.json + generation_config.json) loads in
 * @huggingface/transformers from local files only and gives the same next-token logits as
 * synehr's own inference graph run through src/graph/runtime.ts.
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRun } from '../../src/generate/export.ts';
import { generateConfigSchema } from '../../src/generate/config.ts';
import { createSession, float32Tensor, int64Tensor } from '../../src/graph/runtime.ts';
import { buildInferenceGraph } from '../../src/model/gpt.ts';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { cohortArb, tokCfg, toyData } from '../tokenizer/helpers.ts';
import { writeRun, type ToyRun } from './helpers.ts';

let root: string;
let run: ToyRun;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synehr-export-'));
  const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
  const tok = fitTokenizer(cohort, toyData, tokCfg());
  run = await writeRun(join(root, 'run-a'), tok, { seed: 3 });
  await exportRun(run.dir, run.model, generateConfigSchema.parse({}));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('export', () => {
  it('transformers.js loads the folder offline and its logits equal those of synehr inference graph, full and cached', async () => {
    const tf = await import('@huggingface/transformers');
    tf.env.allowRemoteModels = false;
    tf.env.allowLocalModels = true;
    tf.env.localModelPath = dirname(run.dir) + '/';
    const hf = await tf.AutoModelForCausalLM.from_pretrained(basename(run.dir), { local_files_only: true, dtype: 'fp32', device: 'cpu' });

    const V = run.tok.vocab.length;
    const ours = await createSession(buildInferenceGraph(run.model, { vocabSize: V, weights: run.weights }).model, { threads: 1 });
    const H = run.model.n_head;
    const D = run.model.n_embd / H;
    // a few valid sequences: encoded patients' first tokens, and one arbitrary id string
    const seqs = [
      Array.from(run.tok.encodePatient(run.cohort[0]!)).slice(0, 20),
      Array.from(run.tok.encodePatient(run.cohort[1]!)).slice(0, 7),
      [run.tok.bos, 9, 3, 17, 2, 30, 11, 5, 5, 1],
    ];
    let maxDiff = 0;
    for (const ids of seqs) {
      const T = ids.length;
      const feeds: Record<string, ReturnType<typeof int64Tensor>> = {
        input_ids: int64Tensor(ids, [1, T]),
        attention_mask: int64Tensor(new Array(T).fill(1), [1, T]),
        position_ids: int64Tensor(ids.map((_, i) => i), [1, T]),
      };
      for (let l = 0; l < run.model.n_layer; l++) {
        feeds[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
        feeds[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
      }
      const a = (await ours.run(feeds)).logits!.data as Float32Array; // [1, T, V]
      const input_ids = new tf.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, T]);
      const attention_mask = new tf.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]);
      const out = (await hf({ input_ids, attention_mask })) as { logits: { data: Float32Array; dims: number[] } };
      expect(out.logits.dims).toEqual([1, T, V]);
      const b = out.logits.data;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));

      // synehr's cached path: T − 1 tokens, then the last one against their cache
      const first = await ours.run({
        ...feeds,
        input_ids: int64Tensor(ids.slice(0, T - 1), [1, T - 1]),
        attention_mask: int64Tensor(new Array(T - 1).fill(1), [1, T - 1]),
        position_ids: int64Tensor(ids.slice(0, T - 1).map((_, i) => i), [1, T - 1]),
      });
      const step: Record<string, ReturnType<typeof int64Tensor>> = {
        input_ids: int64Tensor([ids[T - 1]!], [1, 1]),
        attention_mask: int64Tensor(new Array(T).fill(1), [1, T]),
        position_ids: int64Tensor([T - 1], [1, 1]),
      };
      for (let l = 0; l < run.model.n_layer; l++) {
        step[`past_key_values.${l}.key`] = first[`present.${l}.key`]!;
        step[`past_key_values.${l}.value`] = first[`present.${l}.value`]!;
      }
      const last = (await ours.run(step)).logits!.data as Float32Array; // [1, 1, V]
      for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(last[v]! - b[(T - 1) * V + v]!));
    }
    console.log(`export: transformers.js vs synehr logits, max abs difference ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-4);
    await hf.dispose();
  });
});
