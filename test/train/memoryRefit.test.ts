/**
 * The value memory's refit (src/train/memoryRefit.ts): the compacted softmax against a dense
 * float64 reference and finite differences; the trunk's logits, with bonuses added back, against
 * the plain-JS GPT reference's losses; the refit reaching the optimum where, per variable, expected
 * and real first and later values agree; and the run file rewritten with only the bonuses changed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MEM_MODEL, TINY, TINY_MEMORY_TABLE as TABLE, TINY_V as V, randomParams } from '../model/gptfixture.ts';
import { referenceTokenLosses } from '../model/reference.ts';
import { loadSafetensors, saveSafetensors, tensorToFloat32 } from '../../src/model/safetensors.ts';
import { KernelProblem, kernelProblem, MEMORY_REFIT_METADATA, modelTables, refitMemoryKernel, refitParams, refitRunWeights } from '../../src/train/memoryRefit.ts';
import { MemoryRows } from '../../src/train/memory.ts';
import type { TokenShard } from '../../src/train/batches.ts';
import { Rng } from '../../src/util/rng.ts';

const J = TABLE.variables;

/** Random positions: logits [S, V], latest and before [S, J] (a bin of each variable or −1; before only with a latest), targets [S]. */
function randomPositions(S: number, seed: number): { logits: Float32Array; latest: number[]; before: number[]; targets: number[] } {
  const rng = new Rng(seed);
  const logits = Float32Array.from({ length: S * V }, () => 2 * rng.normal());
  const latest: number[] = [];
  const before: number[] = [];
  for (let s = 0; s < S; s++) {
    latest.push(rng.float() < 0.3 ? -1 : 3 + rng.int(4), rng.float() < 0.3 ? -1 : 7 + rng.int(3));
    before.push(latest[s * J]! >= 0 && rng.float() < 0.6 ? 3 + rng.int(4) : -1, latest[s * J + 1]! >= 0 && rng.float() < 0.6 ? 7 + rng.int(3) : -1);
  }
  const targets = Array.from({ length: S }, (_, s) => (s === S - 1 ? -1 : rng.int(V)));
  return { logits, latest, before, targets };
}

/** The parameters' size: the kernel [V], the offsets [J], the kernel before [V]. */
const W = V + J + V;

/**
 * The mean cross-entropy by a dense softmax over every token with the bonuses added: w [V + J + V]
 * = the kernel, each variable's offset, then the kernel on the value before the latest.
 */
function denseLoss(p: ReturnType<typeof randomPositions>, w: Float64Array): number {
  let sum = 0;
  let n = 0;
  p.targets.forEach((y, s) => {
    if (y < 0) return;
    const z = Array.from({ length: V }, (_, v) => {
      const j = TABLE.owner[v]!;
      const u = j >= 0 ? p.latest[s * J + j]! : -1;
      const u2 = j >= 0 ? p.before[s * J + j]! : -1;
      const kernel = u >= 0 ? w[TABLE.first[v]! + Math.abs(v - u)]! + (u2 >= 0 ? w[V + J + TABLE.first[v]! + Math.abs(v - u2)]! : 0) : 0;
      return p.logits[s * V + v]! + (j < 0 ? 0 : u >= 0 ? kernel : w[V + j]!);
    });
    const m = Math.max(...z);
    sum += m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0)) - z[y]!;
    n++;
  });
  return sum / n;
}

describe('the kernel problem', () => {
  const data = randomPositions(40, 1);
  const problem = new KernelProblem(TABLE);
  problem.add(data.logits, data.latest, data.before, data.targets);
  const w = Float64Array.from({ length: W }, (_, i) =>
    i >= 3 && i <= 9 ? 0.7 * Math.sin(i) : i === V ? -0.8 : i === V + 1 ? 0.5 : i >= V + J + 3 && i <= V + J + 9 ? 0.6 * Math.cos(i) : 0,
  );

  it('gives the dense softmax\'s loss, skipping the positions without a target', () => {
    expect(problem.positions).toBe(39);
    const got = problem.loss(w);
    expect(Math.abs(got - denseLoss(data, w))).toBeLessThan(1e-6);
    expect(Math.abs(problem.loss(new Float64Array(W)) - got)).toBeGreaterThan(1e-3);
    expect(Math.abs(problem.loss(Float64Array.from(w).fill(0, V, V + J)) - got)).toBeGreaterThan(1e-3);
    expect(Math.abs(problem.loss(Float64Array.from(w).fill(0, V + J)) - got)).toBeGreaterThan(1e-3);
  });

  it('gives gradients that match central finite differences of the dense loss, zero off the kernel', () => {
    const dw = new Float64Array(W);
    problem.loss(w, dw);
    const h = 1e-5;
    for (let i = 0; i < W; i++) {
      const plus = Float64Array.from(w);
      const minus = Float64Array.from(w);
      plus[i]! += h;
      minus[i]! -= h;
      const fd = (denseLoss(data, plus) - denseLoss(data, minus)) / (2 * h);
      expect(Math.abs(dw[i]! - fd), `entry ${i}: ${dw[i]} against ${fd}`).toBeLessThan(1e-6);
    }
    // entries 3-6 and 7-9 hold variable 0's kernel (distances 0-3) and variable 1's (0-2); 6 and 9 are
    // reachable, 10 and the specials are not; V and V + 1 are the offsets; the kernel before is laid out as the kernel, from V + J
    expect([0, 1, 2, 10, V + J, V + J + 1, V + J + 2, V + J + 10].map((i) => dw[i])).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([6, V, V + 1, V + J + 3, V + J + 6, V + J + 9].every((i) => dw[i] !== 0)).toBe(true);
    expect(() => problem.loss(new Float64Array(V))).toThrow(/parameters of 11, gradient of undefined, for 24/);
  });

  it('rejects logits and memory rows of the wrong size, and a value before the latest without a latest one', () => {
    expect(() => new KernelProblem(TABLE).add(new Float32Array(5), data.latest, data.before, data.targets)).toThrow(/5 logits, 80 and 80 memory cells for 40 targets/);
    const one = { logits: data.logits.subarray(0, 2 * V), targets: [4, -1] };
    expect(() => new KernelProblem(TABLE).add(one.logits, [-1, 8, -1, 8], [3, -1, -1, -1], one.targets)).toThrow(/variable 0 has a value before its latest at position 0 and no latest/);
  });
});

/** A shard of random patients over the tiny table's tokens: <s> (1), then values and token 10. */
function randomShard(P: number, seed: number): TokenShard {
  const rng = new Rng(seed);
  const seqs = Array.from({ length: P }, () => [1, ...Array.from({ length: 6 + rng.int(16) }, () => 3 + rng.int(8))]);
  const offsets = new Uint32Array(P + 1);
  seqs.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.length));
  return { ids: Uint16Array.from(seqs.flat()), offsets, vocabSize: V };
}

describe('the trunk\'s logits', () => {
  it('with bonuses added back give the plain-JS GPT reference\'s losses under those bonuses (n_ctx-truncated patients)', async () => {
    const { values } = randomParams(MEM_MODEL, V, 4, true);
    const weights = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
    const shard = randomShard(6, 5);
    const problem = await kernelProblem(MEM_MODEL, TABLE, weights, shard, [0, 1, 2, 3, 4, 5], { threads: 1 });
    // the reference's offsets: one per variable, as the refit ties them
    values['transformer.wma.weight'] = Float64Array.from({ length: V }, (_, v) => (TABLE.owner[v] === 0 ? -0.6 : TABLE.owner[v] === 1 ? 0.9 : 0));
    const params = refitParams(TABLE, values['transformer.wmb.weight']!, values['transformer.wma.weight'], values['transformer.wmp.weight']!);
    expect(Array.from(params.subarray(V, V + J))).toEqual([-0.6, 0.9]);
    let sum = 0;
    let n = 0;
    for (let p = 0; p < 6; p++) {
      const ids = Array.from(shard.ids.subarray(shard.offsets[p]!, shard.offsets[p + 1]!)).slice(0, TINY.n_ctx);
      const S = ids.length;
      const rows = new MemoryRows(TABLE, 1, S, { before: true });
      const latest = Array.from(rows.fill(ids, new Array<number>(S).fill(0), S), Number);
      const before = Array.from(rows.before!, Number);
      const losses = referenceTokenLosses(MEM_MODEL, V, values, {
        B: 1, T: S, inputIds: ids, positionIds: ids.map((_, i) => i), docIds: new Array<number>(S).fill(0), targets: [...ids.slice(1), -1], memory: { latest, table: TABLE, before },
      });
      for (const l of losses) if (!Number.isNaN(l)) (sum += l), n++;
    }
    expect(problem.positions).toBe(n);
    expect(Math.abs(problem.loss(params) - sum / n)).toBeLessThan(1e-5);
    const tables = modelTables(TABLE, params);
    expect(tables.wma).toEqual(Float32Array.from(values['transformer.wma.weight']));
    expect(tables.wmb).toEqual(Float32Array.from(values['transformer.wmb.weight']!));
    expect(tables.wmp).toEqual(Float32Array.from(values['transformer.wmp.weight']!));
    // the patients repeat their variables, so the kernel before is exercised
    expect(problem.loss(Float64Array.from(params).fill(0, V + J))).not.toBeCloseTo(problem.loss(params), 3);
  });
});

describe('the refit', () => {
  it('reaches the optimum: per variable, the expected first and later values equal the real ones, and the loss falls', async () => {
    const { values } = randomParams(MEM_MODEL, V, 6);
    const weights = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
    const r = await refitMemoryKernel(MEM_MODEL, TABLE, weights, randomShard(30, 7), null, { patients: 30, steps: 400, lr: 0.05, seed: 1, firstValues: true, before: true, session: { threads: 1 } });
    expect(r.valLoss).toBeNull();
    expect(r.bestStep).toBe(400);
    expect(r.trainLoss[1]).toBeLessThan(r.trainLoss[0] - 1e-3);
    // summed over a variable's kernel entries, the gradient is expected minus real values while it
    // has one; an offset's, while it has none
    const problem = await kernelProblem(MEM_MODEL, TABLE, weights, randomShard(30, 7), Array.from({ length: 30 }, (_, i) => i), { threads: 1 });
    const dw = new Float64Array(W);
    problem.loss(refitParams(TABLE, r.wmb, r.wma, r.wmp), dw);
    const before = new Float64Array(W);
    problem.loss(refitParams(TABLE, weights['transformer.wmb.weight']!, null, null), before);
    let worstBefore = 0;
    // and for the kernel before, expected minus real values while the variable has a value before its latest
    for (const [from, to] of [[3, 7], [7, 10], [V, V + 1], [V + 1, V + 2], [V + J + 3, V + J + 7], [V + J + 7, V + J + 10]] as const) {
      const sum = (g: Float64Array) => g.subarray(from, to).reduce((a, x) => a + x, 0);
      expect(Math.abs(sum(dw)), `entries ${from}-${to - 1}`).toBeLessThan(1e-4);
      worstBefore = Math.max(worstBefore, Math.abs(sum(before)));
    }
    expect(worstBefore).toBeGreaterThan(1e-2);
    // without first values, the offsets stay at zero and the kernel still reaches its optimum
    const kernelOnly = await refitMemoryKernel(MEM_MODEL, TABLE, weights, randomShard(30, 7), null, { patients: 30, steps: 400, lr: 0.05, seed: 1, firstValues: false, before: false, session: { threads: 1 } });
    expect(kernelOnly.wma).toEqual(new Float32Array(V));
    expect(kernelOnly.wmp).toEqual(new Float32Array(V));
    problem.loss(refitParams(TABLE, kernelOnly.wmb, kernelOnly.wma, kernelOnly.wmp), dw);
    expect(Math.abs(dw.subarray(3, 7).reduce((a, x) => a + x, 0))).toBeLessThan(1e-4);
    expect(kernelOnly.trainLoss[1]).toBeGreaterThan(r.trainLoss[1]);
    // the kernel before alone is off: fitting it lowers the loss further
    const noBefore = await refitMemoryKernel(MEM_MODEL, TABLE, weights, randomShard(30, 7), null, { patients: 30, steps: 400, lr: 0.05, seed: 1, firstValues: true, before: false, session: { threads: 1 } });
    expect(noBefore.wmp).toEqual(new Float32Array(V));
    expect(noBefore.trainLoss[1]).toBeGreaterThan(r.trainLoss[1] + 1e-4);
  });

  it('keeps the kernel of the best validation step, the trained one when no step beats it', async () => {
    const { values } = randomParams(MEM_MODEL, V, 8);
    const weights = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
    // a huge learning rate overshoots from step 1 on: the trained kernel stays
    const r = await refitMemoryKernel(MEM_MODEL, TABLE, weights, randomShard(20, 9), randomShard(10, 10), { patients: 20, steps: 10, lr: 50, seed: 1, firstValues: true, before: true, evalEvery: 1, session: { threads: 1 } });
    expect(r.bestStep).toBe(0);
    expect(r.wmb).toEqual(weights['transformer.wmb.weight']);
    expect(r.wma).toEqual(new Float32Array(V));
    expect(r.valLoss![1]).toBe(r.valLoss![0]);
    const good = await refitMemoryKernel(MEM_MODEL, TABLE, weights, randomShard(20, 9), randomShard(10, 10), { patients: 20, steps: 30, lr: 0.05, seed: 1, firstValues: true, before: true, evalEvery: 1, session: { threads: 1 } });
    expect(good.bestStep).toBeGreaterThan(0);
    expect(good.valLoss![1]).toBeLessThan(good.valLoss![0]);
    expect(good.valPatients).toBe(10);
  });
});

describe('refitRunWeights', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synehr-refit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rewrites model.safetensors with the new bonuses (adding wma and wmp to a file without them), every other tensor and the metadata kept, and stamps the refit; the same settings again change nothing', async () => {
    const { values } = randomParams(MEM_MODEL, V, 11, true);
    const path = join(dir, 'model.safetensors');
    const names = Object.keys(values).filter((n) => n !== 'transformer.wma.weight' && n !== 'transformer.wmp.weight');
    await saveSafetensors(path, names.map((name) => ({ name, dtype: 'F32' as const, shape: [values[name]!.length], data: Float32Array.from(values[name]!) })), { step: '7' });
    const opts = { patients: 20, steps: 20, lr: 0.05, seed: 3, firstValues: true, before: true, session: { threads: 1 } };
    const r = await refitRunWeights(path, MEM_MODEL, TABLE, randomShard(20, 12), randomShard(8, 13), opts);
    expect(r).not.toBeNull();
    const file = await loadSafetensors(path);
    expect(file.metadata.step).toBe('7');
    const stamp = JSON.parse(file.metadata[MEMORY_REFIT_METADATA]!);
    expect(stamp).toMatchObject({ settings: { patients: 20, steps: 20, lr: 0.05, seed: 3, first_values: true, before: true }, best_step: r!.bestStep, patients: [20, 8] });
    expect(file.tensors.map((t) => t.name)).toEqual([...names, 'transformer.wma.weight', 'transformer.wmp.weight']);
    const refitted: Record<string, Float32Array> = { 'transformer.wmb.weight': r!.wmb, 'transformer.wma.weight': r!.wma, 'transformer.wmp.weight': r!.wmp };
    for (const t of file.tensors) expect(tensorToFloat32(t), t.name).toEqual(refitted[t.name] ?? Float32Array.from(values[t.name]!));
    expect(r!.wma.some((x) => x !== 0)).toBe(true);
    expect(r!.wmp.some((x) => x !== 0)).toBe(true);
    expect(r!.wmb).not.toEqual(Float32Array.from(values['transformer.wmb.weight']!));
    expect(await refitRunWeights(path, MEM_MODEL, TABLE, randomShard(20, 12), randomShard(8, 13), opts)).toBeNull();
    const log: string[] = [];
    expect(await refitRunWeights(path, MEM_MODEL, TABLE, randomShard(20, 12), null, { ...opts, steps: 5, log: (m) => log.push(m) })).not.toBeNull();
    expect(log[0]).toMatch(/was refitted with other settings .*"steps":20.*refitting from its bonuses/);
  });

  it('EXPECTED FAILURE - a refit stamp that is not JSON is named with its file', async () => {
    const path = join(dir, 'stamped.safetensors');
    await saveSafetensors(path, [{ name: 'transformer.wmb.weight', dtype: 'F32', shape: [V], data: new Float32Array(V) }], { [MEMORY_REFIT_METADATA]: '{oops' });
    await expect(refitRunWeights(path, MEM_MODEL, TABLE, randomShard(4, 1), null, { patients: 4, steps: 1, lr: 0.05, seed: 1, firstValues: true, before: true })).rejects.toThrow(
      /stamped.safetensors: metadata 'memory_refit' is not JSON .*"\{oops"/,
    );
  });

  it('refuses weights without a memory kernel, naming the file', async () => {
    const path = join(dir, 'plain.safetensors');
    await saveSafetensors(path, [{ name: 'transformer.wte.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) }]);
    await expect(refitRunWeights(path, MEM_MODEL, TABLE, randomShard(4, 1), null, { patients: 4, steps: 1, lr: 0.05, seed: 1, firstValues: true, before: true })).rejects.toThrow(/plain.safetensors: no tensor 'transformer.wmb.weight'/);
  });
});
