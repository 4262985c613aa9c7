/**
 * The weight average (train.ema_decay, src/train/ema.ts): the running sum against the weighted
 * average it stands for, the trainer validating and keeping the average, and resume with it.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { paramLayout, paramViews } from '../../src/model/init.ts';
import { decodeSafetensors, tensorToFloat32 } from '../../src/model/safetensors.ts';
import { loadLatestCheckpoint } from '../../src/train/checkpoint.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { emaUpdate, emaWeights } from '../../src/train/ema.ts';
import type { RunnerFactory } from '../../src/train/runner.ts';
import { trainModel, type TrainModelOptions } from '../../src/train/trainer.ts';
import { Rng } from '../../src/util/rng.ts';
import { BIGRAM_V, bigramRunner, bigramSpecs, bigramTrainOptions } from './bigramRunner.ts';

/** Σ_k d^(t−k) w_k / Σ_k d^(t−k) over w_1..w_t, in float64. */
function weightedAverage(ws: Float32Array[], d: number): Float64Array {
  const t = ws.length;
  const out = new Float64Array(ws[0]!.length);
  let norm = 0;
  ws.forEach((w, k) => {
    const c = d ** (t - 1 - k);
    norm += c;
    for (let i = 0; i < w.length; i++) out[i]! += c * w[i]!;
  });
  return out.map((x) => x / norm);
}

const maxRelDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1e-3, Math.abs(b[i]!)));
  return worst;
};

describe('emaUpdate / emaWeights', () => {
  it('the bias-corrected sum is the decay-weighted average of the weights after each update, the initial ones left out', () => {
    const rng = new Rng(4);
    const n = 50;
    const w0 = Float32Array.from({ length: n }, () => 100 * rng.normal()); // far from the rest: any share of it would show
    for (const d of [0.5, 0.9, 0.999]) {
      const sum = new Float32Array(n);
      const seen: Float32Array[] = [];
      const out = new Float32Array(n);
      expect(Array.from(emaWeights(out, sum, w0, d, 0))).toEqual(Array.from(w0));
      for (let t = 1; t <= 40; t++) {
        const w = Float32Array.from({ length: n }, () => 1 + rng.normal());
        seen.push(w);
        emaUpdate(sum, w, d);
        expect(maxRelDiff(emaWeights(out, sum, w0, d, t), weightedAverage(seen, d)), `d ${d} t ${t}`).toBeLessThan(1e-5);
      }
    }
    // constant weights average to themselves
    const sum = new Float32Array(3);
    const c = Float32Array.from([0.25, -3, 7]);
    for (let t = 0; t < 100; t++) emaUpdate(sum, c, 0.99);
    expect(maxRelDiff(emaWeights(new Float32Array(3), sum, c, 0.99, 100), c)).toBeLessThan(1e-5);
  });
});

const V = BIGRAM_V;
const tmp = () => mkdtemp(join(tmpdir(), 'synehr-ema-'));
const options = (runDir: string, train: Partial<TrainConfig>, extra: Partial<TrainModelOptions> = {}): TrainModelOptions =>
  bigramTrainOptions(runDir, { ema_decay: 0.8, ...train }, { seed: 99, ...extra });

describe('trainModel with train.ema_decay', () => {
  it('validates the average of the weights after each update, and model.safetensors keeps the best average', async () => {
    const dir = await tmp();
    // the trainer's weights before each update (so after the one before), and what validation saw
    const trajectory: Float32Array[] = [];
    const evaluated: { step: number; weights: Float32Array; want: Float64Array | null }[] = [];
    let live: Float32Array | null = null;
    const watching: RunnerFactory = async (args) => {
      const inner = await bigramRunner(args);
      return {
        ...inner,
        async lossAndGrad(b, p, g, s, a, seed) {
          live = p;
          trajectory.push(Float32Array.from(p));
          return inner.lossAndGrad(b, p, g, s, a, seed);
        },
        async loss(b, w) {
          const step = trajectory.length;
          if (evaluated.at(-1)?.step !== step) {
            // after `step` updates: w_1..w_{step-1} were recorded before later updates, w_step is live now
            const after = step === 0 ? null : [...trajectory.slice(1), Float32Array.from(live!)];
            evaluated.push({ step, weights: Float32Array.from(w), want: after && weightedAverage(after, 0.8) });
          }
          return inner.loss(b, w);
        },
      };
    };
    const r = await trainModel(options(join(dir, 'run'), {}, { createRunner: watching }));
    expect(evaluated.map((e) => e.step)).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(Array.from(evaluated[0]!.weights)).toEqual(Array.from(trajectory[0]!));
    for (const e of evaluated.slice(1)) expect(maxRelDiff(e.weights, e.want!), `step ${e.step}`).toBeLessThan(1e-5);
    // the average is not the raw weights (the test would pass vacuously otherwise)
    expect(maxRelDiff(evaluated.at(-1)!.weights, live!)).toBeGreaterThan(1e-3);
    const st = decodeSafetensors(new Uint8Array(await readFile(join(dir, 'run', 'model.safetensors'))));
    const best = evaluated.find((e) => e.step === r.bestStep)!;
    const views = paramViews(paramLayout(bigramSpecs(V)), best.weights);
    expect(st.tensors.map((t) => Array.from(tensorToFloat32(t)))).toEqual(views.map((v) => Array.from(v)));
  });

  it('resume=true after an interruption ends with the same weights, moments, average and best weights as an uninterrupted run', async () => {
    const dir = await tmp();
    await trainModel(options(join(dir, 'a'), { grad_accum: 2 }));
    const ac = new AbortController();
    await trainModel(options(join(dir, 'b'), { grad_accum: 2 }, { signal: ac.signal, onStep: (s) => s === 13 && ac.abort() }));
    await trainModel(options(join(dir, 'b'), { grad_accum: 2 }, { resume: true }));
    const ca = (await loadLatestCheckpoint(join(dir, 'a', 'checkpoints')))!.checkpoint;
    const cb = (await loadLatestCheckpoint(join(dir, 'b', 'checkpoints')))!.checkpoint;
    expect(cb.header.step).toBe(30);
    expect(cb.header.emaDecay).toBe(0.8);
    for (const k of ['params', 'm', 'v', 'ema'] as const) expect(Buffer.from(cb[k]!.buffer).equals(Buffer.from(ca[k]!.buffer)), k).toBe(true);
    expect((await readFile(join(dir, 'b', 'model.safetensors'))).equals(await readFile(join(dir, 'a', 'model.safetensors')))).toBe(true);
  });

  it('EXPECTED FAILURE - resume with another train.ema_decay, or without one, is refused naming the key', async () => {
    const dir = join(await tmp(), 'r');
    const ac = new AbortController();
    await trainModel(options(dir, {}, { signal: ac.signal, onStep: (s) => s === 4 && ac.abort() }));
    await expect(trainModel(options(dir, { ema_decay: 0.9 }, { resume: true }))).rejects.toMatchObject({
      code: 'E_CHECKPOINT',
      message: expect.stringMatching(/checkpoint does not match this run: train\.ema_decay is 0\.8 in the checkpoint, 0\.9 in the config$/),
    });
    await expect(trainModel(options(dir, { ema_decay: null }, { resume: true }))).rejects.toThrowError(/train\.ema_decay is 0\.8 in the checkpoint, null in the config/);
  });
});
