/**
 * The training graph's dropout masks as the trainer draws them (src/train/dropout.ts): their
 * statistics, their seeding, and the runner drawing them from the micro-batch's seed alone.
 */
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../src/model/config.ts';
import { dropoutMaskSpecs } from '../../src/model/gpt.ts';
import { initParams, paramLayout } from '../../src/model/init.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { BatchPacker } from '../../src/train/batches.ts';
import { DropoutMasks, dropoutSeed } from '../../src/train/dropout.ts';
import { gptRunnerFactory } from '../../src/train/gptRunner.ts';
import { Rng } from '../../src/util/rng.ts';

const maskData = (m: DropoutMasks, name: string) => Float32Array.from(m.feeds[name]!.data as Float32Array);

describe('dropout masks', () => {
  it('drop a share p of the elements (binomial bounds) and scale the rest so that the mean is 1', () => {
    for (const p of [0.05, 0.1, 0.5]) {
      const n = 1 << 18;
      const m = new DropoutMasks([{ name: 'm', shape: [n], p }]);
      m.fill(3);
      const x = maskData(m, 'm');
      const dropped = x.filter((v) => v === 0).length;
      const pEff = Math.round(p * 65536) / 65536;
      // five standard deviations of Binomial(n, p)
      expect(Math.abs(dropped - n * pEff)).toBeLessThan(5 * Math.sqrt(n * pEff * (1 - pEff)));
      const kept = Math.fround(1 / (1 - pEff));
      expect(new Set(x.filter((v) => v !== 0))).toEqual(new Set([kept]));
      // the expectation of an element is exactly 1 (up to float32's rounding of the scale)
      expect(Math.abs((1 - pEff) * kept - 1)).toBeLessThan(1e-7);
    }
  });

  it('the same seed gives the same masks; another seed, and every other site, other ones', () => {
    const specs = [
      { name: 'a', shape: [64, 32], p: 0.3 },
      { name: 'b', shape: [64, 32], p: 0.3 },
    ];
    const m = new DropoutMasks(specs);
    m.fill(11);
    const a11 = maskData(m, 'a');
    const b11 = maskData(m, 'b');
    m.fill(12);
    const a12 = maskData(m, 'a');
    m.fill(11);
    expect(maskData(m, 'a')).toEqual(a11);
    expect(maskData(m, 'b')).toEqual(b11);
    expect(a12).not.toEqual(a11);
    expect(b11).not.toEqual(a11);
    // consecutive micro-batches get consecutive seeds; grad_accum and micro number them in the run
    expect(dropoutSeed(100, 0, 1, 0)).toBe(100);
    expect(dropoutSeed(100, 3, 2, 1)).toBe(107);
    expect(dropoutSeed(2 ** 32 - 1, 0, 1, 1)).toBe(0);
  });

  it('EXPECTED FAILURE - a probability that rounds to 1', () => {
    expect(() => new DropoutMasks([{ name: 'm', shape: [4], p: 0.99999999 }])).toThrow('dropout mask m: p must be in [0, 1 − 2⁻¹⁷), got 0.99999999');
  });
});

describe('the GPT runner with dropout', () => {
  it('the masks depend on the micro-batch\'s seed alone: any order of seeds gives the same results', async () => {
    const cfg: ModelConfig = { name: 't', n_layer: 1, n_embd: 16, n_head: 2, n_ctx: 16, init_std: 0.02, embd_pdrop: 0.2, resid_pdrop: 0.2, value_memory: false, memory_labels: false };
    const V = 13;
    const layout = paramLayout(gptParamSpecs(cfg, V));
    const params = initParams(layout, new Rng(1));
    const rng = new Rng(2);
    const packer = new BatchPacker(2, 16, 0);
    for (let i = 0; i < 2; i++) packer.tryAdd(Array.from({ length: 16 }, () => rng.int(V)));
    const batch = packer.finish();
    const run = async (seeds: number[]) => {
      const runner = await gptRunnerFactory(cfg, { threads: 1 })({ layout, params, B: 2, T: 16, vocabSize: V });
      const grad = new Float32Array(layout.total);
      const out: { loss: number; grad: number[] }[] = [];
      for (const s of seeds) out.push({ loss: await runner.lossAndGrad(batch, params, grad, 1, false, s), grad: Array.from(grad) });
      await runner.release();
      return out;
    };
    const inOrder = await run([5, 6, 7]);
    const shuffled = await run([7, 5, 6]);
    expect(shuffled[0]).toEqual(inOrder[2]);
    expect(shuffled[1]).toEqual(inOrder[0]);
    expect(shuffled[2]).toEqual(inOrder[1]);
    // the masks matter, and the evaluation loss has none
    expect(inOrder[1]!.loss).not.toBe(inOrder[0]!.loss);
    const runner = await gptRunnerFactory({ ...cfg, embd_pdrop: 0, resid_pdrop: 0, value_memory: false }, { threads: 1 })({ layout, params, B: 2, T: 16, vocabSize: V });
    const withDropout = await gptRunnerFactory(cfg, { threads: 1 })({ layout, params, B: 2, T: 16, vocabSize: V });
    expect(await withDropout.loss(batch, params)).toBe(await runner.loss(batch, params));
    expect(dropoutMaskSpecs(cfg, 2, 16).length).toBe(3);
    await runner.release();
    await withDropout.release();
  });
});
