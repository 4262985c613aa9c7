/** Shared fixtures for the GPT graph tests: a tiny config, random parameters, packed batches. */
import { createSession, hostTensor, int64Tensor, type HostTensor, type Session } from '../../src/graph/runtime.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { gptParamSpecs, type ParamSpec } from '../../src/model/params.ts';
import type { ReferenceBatch } from './reference.ts';
import { Rng } from '../../src/util/rng.ts';

export const TINY: ModelConfig = { name: 'gpt-tiny', n_layer: 2, n_embd: 8, n_head: 2, n_ctx: 16, init_std: 0.02 };
export const TINY_V = 11;

/** Parameters with non-trivial values (std 0.3, LayerNorm gains near 1) so every path matters. */
export function randomParams(cfg: ModelConfig, V: number, seed: number): { specs: ParamSpec[]; values: Record<string, Float64Array> } {
  const rng = new Rng(seed);
  const specs = gptParamSpecs(cfg, V);
  const values: Record<string, Float64Array> = {};
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const base = s.init === 'ones' ? 1 : 0;
    values[s.name] = Float64Array.from({ length: n }, () => base + 0.3 * rng.normal());
  }
  return { specs, values };
}

/** Two rows of T = 8: row 0 packs doc 0 (3 tokens) then doc 1 (5); row 1 holds doc 2 (6) then padding. */
export function packedBatch(V: number, seed: number): ReferenceBatch {
  const rng = new Rng(seed);
  const B = 2;
  const T = 8;
  const docIds = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3];
  const positionIds = [0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 0, 1];
  const inputIds = Array.from({ length: B * T }, () => rng.int(V));
  const targets = inputIds.map((_, i) => (i + 1 < B * T && docIds[i + 1] === docIds[i] ? inputIds[i + 1]! : -1));
  targets[14] = -1; // padding
  targets[15] = -1;
  return { B, T, inputIds, positionIds, docIds, targets };
}

export function feedsFor(batch: ReferenceBatch, specs: ParamSpec[], values: Record<string, Float64Array>, dtype: 'float32' | 'float64'): Record<string, HostTensor> {
  const dims = [batch.B, batch.T];
  const feeds: Record<string, HostTensor> = {
    input_ids: int64Tensor(Array.from(batch.inputIds), dims),
    position_ids: int64Tensor(Array.from(batch.positionIds), dims),
    doc_ids: int64Tensor(Array.from(batch.docIds), dims),
    targets: int64Tensor(Array.from(batch.targets), dims),
  };
  for (const s of specs) {
    const v = values[s.name]!;
    feeds[s.name] = hostTensor(dtype, dtype === 'float64' ? v : Float32Array.from(v), s.shape);
  }
  return feeds;
}

export async function session(model: Uint8Array): Promise<Session> {
  return createSession(model, { threads: 1 });
}
