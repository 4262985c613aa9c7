/**
 * The inference graph in @huggingface/transformers (4.3.1) from a local folder: its greedy
 * continuation must equal our own greedy decoding through the same graph with the KV cache.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSession, float32Tensor, int64Tensor, type HostTensor } from '../../src/graph/runtime.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { buildInferenceGraph } from '../../src/model/gpt.ts';
import { randomParams } from './gptfixture.ts';

const CFG: ModelConfig = { name: 'gpt-hf-check', n_layer: 2, n_embd: 16, n_head: 2, n_ctx: 32, init_std: 0.02, embd_pdrop: 0, resid_pdrop: 0, value_memory: false, memory_labels: false };
const V = 40;
const EOS = 2;

async function ourGreedy(model: Uint8Array, prompt: number[], maxNew: number): Promise<number[]> {
  const s = await createSession(model, { threads: 1 });
  const H = CFG.n_head;
  const D = CFG.n_embd / H;
  const seq = [...prompt];
  let cache: HostTensor[] = [];
  for (let l = 0; l < CFG.n_layer; l++) cache.push(float32Tensor(new Float32Array(0), [1, H, 0, D]), float32Tensor(new Float32Array(0), [1, H, 0, D]));
  let input = [...prompt];
  for (let n = 0; n < maxNew; n++) {
    const past = seq.length - input.length;
    const feeds: Record<string, HostTensor> = {
      input_ids: int64Tensor(input, [1, input.length]),
      attention_mask: int64Tensor(new Array(seq.length).fill(1), [1, seq.length]),
      position_ids: int64Tensor(input.map((_, i) => past + i), [1, input.length]),
    };
    cache.forEach((t, i) => (feeds[`past_key_values.${i >> 1}.${i % 2 ? 'value' : 'key'}`] = t));
    const out = await s.run(feeds);
    const logits = (out.logits!.data as Float32Array).subarray((input.length - 1) * V, input.length * V);
    let best = 0;
    logits.forEach((v, i) => (v > logits[best]! ? (best = i) : 0));
    seq.push(best);
    if (best === EOS) break;
    cache = [];
    for (let l = 0; l < CFG.n_layer; l++) cache.push(out[`present.${l}.key`]!, out[`present.${l}.value`]!);
    input = [best];
  }
  return seq;
}

describe('inference graph in transformers.js', () => {
  it('greedy generation equals our own KV-cache greedy decoding', async () => {
    const { values } = randomParams(CFG, V, 21);
    const weights = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
    const model = buildInferenceGraph(CFG, { vocabSize: V, weights }).model;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synehr-hf-'));
    const dir = path.join(root, 'tiny');
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), model);
    const config = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_head: 2, n_layer: 2, n_embd: 16, n_positions: 32, n_ctx: 32, vocab_size: V, bos_token_id: 1, eos_token_id: EOS };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: EOS }));
    try {
      const hf = await import('@huggingface/transformers');
      hf.env.allowRemoteModels = false;
      hf.env.localModelPath = root;
      const m = await hf.AutoModelForCausalLM.from_pretrained('tiny', { dtype: 'fp32', local_files_only: true });
      const prompt = [1, 5, 7, 11];
      const ids = new hf.Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
      const mask = new hf.Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
      const out = (await m.generate({ input_ids: ids, attention_mask: mask, max_new_tokens: 10, do_sample: false } as never)) as { data: BigInt64Array };
      const theirs = Array.from(out.data, Number);
      const ours = await ourGreedy(model, prompt, 10);
      expect(theirs.length).toBeGreaterThan(prompt.length);
      expect(theirs).toEqual(ours);
      await m.dispose();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
