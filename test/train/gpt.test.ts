/**
 * The trainer with the real GPT graphs (gpt-tiny): packing cannot leak between patients, a handful
 * of sequences overfit, and an interrupted run resumes to the same bytes.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelConfigSchema } from '../../src/model/config.ts';
import { initParams, paramLayout } from '../../src/model/init.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { BatchPacker } from '../../src/train/batches.ts';
import { loadLatestCheckpoint } from '../../src/train/checkpoint.ts';
import { trainConfigSchema, type TrainConfig } from '../../src/train/config.ts';
import { gptRunnerFactory } from '../../src/train/gptRunner.ts';
import { trainModel, type TrainModelOptions } from '../../src/train/trainer.ts';
import { Rng } from '../../src/util/rng.ts';
import { syntheticShard } from './bigramRunner.ts';

const TINY = modelConfigSchema.parse({ name: 'gpt-tiny', n_layer: 1, n_embd: 32, n_head: 2, n_ctx: 64 });
const DROPPED = { ...TINY, embd_pdrop: 0.1, resid_pdrop: 0.1 };
const V = 24;
const tmp = () => mkdtemp(join(tmpdir(), 'synehr-gpt-train-'));

function randomPatient(rng: Rng, n: number): number[] {
  return [1, ...Array.from({ length: n - 2 }, () => 3 + rng.int(V - 3)), 2];
}

describe('trainer with the GPT graphs (gpt-tiny)', () => {
  it("packing: a patient's loss is the same alone or packed beside others, in any slot", async () => {
    const specs = gptParamSpecs(TINY, V);
    const layout = paramLayout(specs);
    // larger-than-init weights so attention is far from uniform and any leak would show
    const params = initParams(layout, new Rng(3)).map((x) => x * 10);
    const B = 1;
    const T = 64;
    const runner = await gptRunnerFactory(TINY, { threads: 1 })({ layout, params, B, T, vocabSize: V });
    const rng = new Rng(11);
    const a = randomPatient(rng, 20);
    const b = randomPatient(rng, 25);
    const c = randomPatient(rng, 15);
    const lossOf = async (...patients: number[][]) => {
      const p = new BatchPacker(B, T, 0);
      for (const x of patients) expect(p.tryAdd(x)).toBe(true);
      const batch = p.finish();
      return { loss: await runner.loss(batch, params), n: batch.nTargets };
    };
    const la = await lossOf(a);
    const lb = await lossOf(b);
    const lc = await lossOf(c);
    expect(la.loss).toBeGreaterThan(1);
    const mix = (...xs: { loss: number; n: number }[]) => xs.reduce((s, x) => s + x.loss * x.n, 0) / xs.reduce((s, x) => s + x.n, 0);
    for (const [packed, want] of [
      [await lossOf(a, b), mix(la, lb)],
      [await lossOf(b, a), mix(la, lb)],
      [await lossOf(c, b, a), mix(la, lb, lc)],
    ] as const) {
      expect(Math.abs(packed.loss - want) / want).toBeLessThan(2e-6);
    }
    await runner.release();
  });

  const opts = (runDir: string, train: Partial<TrainConfig>, extra: Partial<TrainModelOptions> = {}): TrainModelOptions => ({
    runDir,
    model: TINY,
    train: trainConfigSchema.parse({ threads: 1, batch_size: 2, patience: 0, log_every: 10, ...train }),
    seed: 7,
    trainShard: syntheticShard(5, 40, V, 8, 40),
    valShard: syntheticShard(6, 10, V, 8, 40),
    vocabSize: V,
    padId: 0,
    createRunner: gptRunnerFactory(TINY, { threads: 1 }),
    log: () => {},
    progress: false,
    ...extra,
  });

  it('overfits a handful of sequences to near-zero loss', async () => {
    const rng = new Rng(2);
    const seqs = Array.from({ length: 4 }, () => randomPatient(rng, 14));
    const offsets = new Uint32Array(seqs.length + 1);
    seqs.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.length));
    const shard = { ids: Uint16Array.from(seqs.flat()), offsets, vocabSize: V };
    const r = await trainModel(
      opts(join(await tmp(), 'overfit'), { lr: 1e-2, warmup_steps: 10, max_steps: 150, weight_decay: 0, eval_every: 150, eval_batches: 1, schedule: 'constant' }, {
        trainShard: shard,
        valShard: shard,
      }),
    );
    // the first token after <s> is random across sequences, so it cannot be learned: near-zero but not zero
    expect(r.initialValLoss!).toBeGreaterThan(2.5);
    expect(r.bestValLoss!).toBeLessThan(0.15);
  });

  it.each([
    [1, 'no dropout', 1],
    [2, 'no dropout', 1],
    [1, 'dropout 0.1, weight average 0.9, 2 micro-batches a step', 2],
  ] as const)('an interrupted and resumed run ends with the same bytes as an uninterrupted one (%i threads, %s)', async (threads, what, gradAccum) => {
    const dir = await tmp();
    const ema_decay = what === 'no dropout' ? null : 0.9;
    const train = { lr: 3e-3, warmup_steps: 2, max_steps: 12, eval_every: 4, eval_batches: 2, checkpoint_every: 5, threads, grad_accum: gradAccum, ema_decay };
    const model = what === 'no dropout' ? TINY : DROPPED;
    const createRunner = gptRunnerFactory(model, { threads });
    await trainModel(opts(join(dir, 'a'), train, { createRunner, model }));
    const ac = new AbortController();
    const first = await trainModel(opts(join(dir, 'b'), train, { createRunner, model, signal: ac.signal, onStep: (s) => s === 7 && ac.abort() }));
    expect(first.stoppedBy).toBe('interrupted');
    await trainModel(opts(join(dir, 'b'), train, { createRunner, model, resume: true }));
    const ca = (await loadLatestCheckpoint(join(dir, 'a', 'checkpoints')))!.checkpoint;
    const cb = (await loadLatestCheckpoint(join(dir, 'b', 'checkpoints')))!.checkpoint;
    expect(cb.header.step).toBe(12);
    for (const k of ['params', 'm', 'v'] as const) expect(Buffer.from(cb[k].buffer).equals(Buffer.from(ca[k].buffer))).toBe(true);
    expect(cb.ema === null ? null : Buffer.from(cb.ema.buffer).equals(Buffer.from(ca.ema!.buffer))).toBe(ema_decay === null ? null : true);
    expect((await readFile(join(dir, 'b', 'model.safetensors'))).equals(await readFile(join(dir, 'a', 'model.safetensors')))).toBe(true);
  });

  it('the runner\'s loss() evaluates the flat weights it is given (the weight average), read in place at every call', async () => {
    const specs = gptParamSpecs(TINY, V);
    const layout = paramLayout(specs);
    const params = initParams(layout, new Rng(3));
    const other = initParams(layout, new Rng(4));
    const rng = new Rng(5);
    const p = new BatchPacker(2, 64, 0);
    for (let i = 0; i < 4; i++) p.tryAdd(randomPatient(rng, 20));
    const batch = p.finish();
    const make = (w: Float32Array) => gptRunnerFactory(TINY, { threads: 1 })({ layout, params: w, B: 2, T: 64, vocabSize: V });
    const runner = await make(params);
    const alone = await make(Float32Array.from(other));
    const own = await runner.loss(batch, params);
    expect(await runner.loss(batch, other)).toBe(await alone.loss(batch, other));
    expect(await runner.loss(batch, other)).not.toBe(own);
    expect(await runner.loss(batch, params)).toBe(own);
    // the same array rewritten (as the trainer rewrites the average before each validation)
    other.set(params);
    expect(await runner.loss(batch, other)).toBe(own);
    await runner.release();
    await alone.release();
  });

  it('dropout: the masks change training but not validation, and the seed fixes them', async () => {
    const dir = await tmp();
    const train = { lr: 3e-3, warmup_steps: 2, max_steps: 6, eval_every: 3, eval_batches: 2, checkpoint_every: 100 };
    const run = async (name: string, model: typeof TINY, seed = 7) => {
      const r = await trainModel(opts(join(dir, name), train, { createRunner: gptRunnerFactory(model, { threads: 1 }), model, seed }));
      return { r, params: (await loadLatestCheckpoint(join(dir, name, 'checkpoints')))!.checkpoint.params };
    };
    const plain = await run('plain', TINY);
    const dropped = await run('dropped', DROPPED);
    const again = await run('again', DROPPED);
    const reseeded = await run('reseeded', DROPPED, 8);
    // same init (it does not depend on dropout): the step-0 validation loss is the same bits
    expect(dropped.r.initialValLoss).toBe(plain.r.initialValLoss);
    expect(Buffer.from(dropped.params.buffer).equals(Buffer.from(plain.params.buffer))).toBe(false);
    expect(Buffer.from(again.params.buffer).equals(Buffer.from(dropped.params.buffer))).toBe(true);
    expect(reseeded.r.initialValLoss).not.toBe(dropped.r.initialValLoss);
  });
});
