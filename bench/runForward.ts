/**
 * Teacher-forced forward passes of an exported run over a split's real patients, for the benches
 * that read a model's next-token distributions (bench/conditionals.ts, bench/labelPrediction.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { createSession, float32Tensor, int64Tensor, type HostTensor } from '../src/graph/runtime.ts';
import { MEMORY_BEFORE_INPUT, MEMORY_INPUT } from '../src/model/gpt.ts';
import { readTokenShard } from '../src/tokenizer/shards.ts';
import { loadTokenizer } from '../src/tokenizer/file.ts';
import type { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import type { TokenShard } from '../src/train/batches.ts';
import type { MemoryTable } from '../src/tokenizer/vocabulary.ts';
import { MemoryRows } from '../src/train/memory.ts';

const ROOT = resolve(import.meta.dirname, '..');

export interface RunForward {
  tok: Tokenizer;
  /** the split's token shard, from the run's data.processed_dir */
  shard: TokenShard;
  memory: MemoryTable | null;
  nCtx: number;
  /** logits [S, V] at every position of `ids` (at most nCtx of them) */
  logits(ids: number[]): Promise<Float32Array>;
}

/** The exported run `run` (a directory) and its `split`'s shard; `bench` names the caller in errors. */
export async function loadRunForward(run: string, split: string, bench: string): Promise<RunForward> {
  for (const f of ['synehr_tokenizer.json', 'config.json', 'config.yaml', join('onnx', 'model.onnx')]) {
    if (!existsSync(join(run, f))) throw new Error(`${bench}: ${join(run, f)} is missing: export the run first (synehr export)`);
  }
  const tok = loadTokenizer(join(run, 'synehr_tokenizer.json'));
  const hf = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { n_layer: number; n_head: number; n_embd: number; n_ctx: number; synehr_value_memory?: boolean; synehr_memory_labels?: boolean };
  const processed = (YAML.parse(readFileSync(join(run, 'config.yaml'), 'utf8')) as { data?: { processed_dir?: string } }).data?.processed_dir;
  if (!processed) throw new Error(`${bench}: ${join(run, 'config.yaml')} names no data.processed_dir`);
  const shardPath = resolve(ROOT, processed, 'tokens', `${split}.bin`);
  const shard = readTokenShard(shardPath);
  if (shard.vocabSize !== tok.vocabSize) throw new Error(`${bench}: ${shardPath} has vocabulary size ${shard.vocabSize}, the run's tokenizer ${tok.vocabSize}: re-tokenize with the run's tokenizer`);
  const memory = hf.synehr_value_memory === true ? tok.memoryTable({ labels: hf.synehr_memory_labels === true }) : null;
  const session = await createSession(readFileSync(join(run, 'onnx', 'model.onnx')), {});
  const J = tok.variables.length;
  const H = hf.n_head;
  const D = hf.n_embd / H;
  const logits = async (ids: number[]): Promise<Float32Array> => {
    const S = ids.length;
    if (S > hf.n_ctx) throw new RangeError(`${bench}: ${S} tokens past n_ctx ${hf.n_ctx}`);
    const feeds: Record<string, HostTensor> = {
      input_ids: int64Tensor(ids, [1, S]),
      attention_mask: int64Tensor(new Array<number>(S).fill(1), [1, S]),
      position_ids: int64Tensor(ids.map((_, i) => i), [1, S]),
    };
    if (memory) {
      const rows = new MemoryRows(memory, 1, S, { before: true });
      feeds[MEMORY_INPUT] = int64Tensor(rows.fill(ids, new Array<number>(S).fill(0), S), [1, S, J]);
      feeds[MEMORY_BEFORE_INPUT] = int64Tensor(rows.before!, [1, S, J]);
    }
    for (let l = 0; l < hf.n_layer; l++) {
      feeds[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
      feeds[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
    }
    return (await session.run(feeds)).logits!.data as Float32Array;
  };
  return { tok, shard, memory, nCtx: hf.n_ctx, logits };
}
