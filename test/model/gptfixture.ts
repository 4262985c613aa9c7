/** Shared fixtures for the GPT graph tests: a tiny config, random parameters, packed batches. */
import { createSession, hostTensor, int64Tensor, scalarValue, type HostTensor, type Session } from '../../src/graph/runtime.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import type { MemoryTable } from '../../src/tokenizer/vocabulary.ts';
import { gptParamSpecs, trainedParamSpecs, type ParamSpec } from '../../src/model/params.ts';
import type { ReferenceBatch } from './reference.ts';
import { Rng } from '../../src/util/rng.ts';

export const TINY: ModelConfig = { name: 'gpt-tiny', n_layer: 2, n_embd: 8, n_head: 2, n_ctx: 16, init_std: 0.02, embd_pdrop: 0, resid_pdrop: 0, value_memory: false, memory_labels: false };
export const TINY_V = 11;
/** TINY with the value memory (TINY_MEMORY_TABLE's two variables) */
export const MEM_MODEL: ModelConfig = { ...TINY, value_memory: true, memory_labels: false };

/**
 * A memory table over TINY_V = 11 tokens: specials 0-2, variable 0's four bins 3-6, variable 1's
 * three bins 7-9, and token 10 of no variable.
 */
export const TINY_MEMORY_TABLE: MemoryTable = (() => {
  const owner = Int32Array.from({ length: TINY_V }, (_, t) => (t >= 3 && t <= 6 ? 0 : t >= 7 && t <= 9 ? 1 : -1));
  return {
    variables: 2,
    labels: 0,
    owner,
    sets: Int32Array.from(owner, (o, t) => (o >= 0 ? t : -1)),
    step: new Int32Array(TINY_V),
    first: Int32Array.from(owner, (o) => (o === 0 ? 3 : o === 1 ? 7 : -1)),
  };
})();

/**
 * Parameters with non-trivial values (std 0.3, LayerNorm gains near 1) so every path matters: the
 * trained ones (what the training graph takes), or with `all` the refit-only ones too.
 */
export function randomParams(cfg: ModelConfig, V: number, seed: number, all = false): { specs: ParamSpec[]; values: Record<string, Float64Array> } {
  const rng = new Rng(seed);
  const specs = all ? gptParamSpecs(cfg, V) : trainedParamSpecs(cfg, V);
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
  if (batch.memory) feeds.memory = int64Tensor(Array.from(batch.memory.latest), [batch.B * batch.T, batch.memory.table.variables]);
  for (const s of specs) {
    const v = values[s.name]!;
    feeds[s.name] = hostTensor(dtype, dtype === 'float64' ? v : Float32Array.from(v), s.shape);
  }
  return feeds;
}

export async function session(model: Uint8Array): Promise<Session> {
  return createSession(model, { threads: 1 });
}

/**
 * The float64 training graph's gradients against central finite differences of its own loss:
 * three random coordinates of every parameter, and the whole gradient along one random direction.
 * `feeds` reads the current `values` (they are perturbed in place and restored).
 */
export async function directionalGradCheck(
  s: Session,
  specs: ParamSpec[],
  values: Record<string, Float64Array>,
  feeds: () => Record<string, HostTensor>,
  rng: Rng,
  eps = 1e-6,
): Promise<{ worstCoordinate: number; where: string; directionRelErr: number }> {
  const out = await s.run(feeds());
  const loss = async () => scalarValue((await s.run(feeds(), ['loss'])).loss!);
  let worst = 0;
  let where = '';
  for (const spec of specs) {
    const p = values[spec.name]!;
    const an = out[`grad.${spec.name}`]!.data as Float64Array;
    for (let k = 0; k < 3; k++) {
      const i = rng.int(p.length);
      const o = p[i]!;
      p[i] = o + eps;
      const lp = await loss();
      p[i] = o - eps;
      const lm = await loss();
      p[i] = o;
      const fd = (lp - lm) / (2 * eps);
      const err = Math.abs(fd - an[i]!) / Math.max(1e-4, Math.abs(fd) + Math.abs(an[i]!));
      if (err > worst) [worst, where] = [err, `${spec.name}[${i}] analytic ${an[i]} fd ${fd}`];
    }
  }
  const dir = specs.map((sp) => Float64Array.from({ length: values[sp.name]!.length }, () => rng.normal()));
  let analytic = 0;
  specs.forEach((sp, k) => (out[`grad.${sp.name}`]!.data as Float64Array).forEach((gv, i) => (analytic += gv * dir[k]![i]!)));
  const shift = async (h: number) => {
    const saved = specs.map((sp) => Float64Array.from(values[sp.name]!));
    specs.forEach((sp, k) => values[sp.name]!.forEach((v, i, a) => (a[i] = v + h * dir[k]![i]!)));
    const l = await loss();
    specs.forEach((sp, k) => values[sp.name]!.set(saved[k]!));
    return l;
  };
  const fd = ((await shift(eps)) - (await shift(-eps))) / (2 * eps);
  return { worstCoordinate: worst, where, directionRelErr: Math.abs(fd - analytic) / Math.abs(fd) };
}
