import { float32Tensor, type HostTensor } from '../graph/runtime.ts';
import type { DropoutMaskSpec } from '../model/gpt.ts';
import { Rng } from '../util/rng.ts';

/**
 * The training graph's dropout masks (src/model/gpt.ts dropoutMaskSpecs), drawn in JS and fed as
 * inputs. Every micro-batch gets fresh masks from its own seed (dropoutSeed), so a resumed run
 * draws the masks the uninterrupted one drew: nothing about them is state a checkpoint must keep.
 *
 * Drawn in JS rather than in the graph: ONNX Runtime's RandomUniformLike keeps its generator's
 * state inside the session (a resumed process would start it over), and a counter hash in int64
 * ops (the sampler's uniformFromCounter, a dozen passes over every element) took 260 ms at 1
 * thread for gpt-small's 4.7M mask elements a step, where Rng.fillDropoutMask took 10-18 ms
 * (~2.5 ns an element). The probability is rounded to a multiple of 2⁻¹⁶ (0.1 → 0.100006) and
 * the kept elements are scaled by 1 / (1 − that probability), so a mask's expectation is 1 (up
 * to float32's rounding of the scale).
 */
export class DropoutMasks {
  /** one float32 input per mask, over buffers refilled in place (ONNX Runtime reads them zero-copy) */
  readonly feeds: Record<string, HostTensor> = {};
  private readonly sites: { data: Float32Array; threshold: number; kept: number }[] = [];

  constructor(specs: readonly DropoutMaskSpec[]) {
    for (const s of specs) {
      const threshold = Math.round(s.p * 65536);
      if (!(s.p >= 0 && threshold < 65536)) throw new RangeError(`dropout mask ${s.name}: p must be in [0, 1 − 2⁻¹⁷), got ${s.p}`);
      const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      this.feeds[s.name] = float32Tensor(data, s.shape);
      this.sites.push({ data, threshold, kept: 1 / (1 - threshold / 65536) });
    }
  }

  get empty(): boolean {
    return this.sites.length === 0;
  }

  /** Draws every mask, in spec order, from one stream seeded by `seed`. */
  fill(seed: number): void {
    const rng = new Rng(seed);
    for (const s of this.sites) rng.fillDropoutMask(s.data, s.threshold, s.kept);
  }
}

/**
 * The seed of one micro-batch's masks: the run's dropout stream key plus the micro-batch's index
 * in the whole run (step · grad_accum + micro). Rng's splitmix32 seeding gives neighbouring seeds
 * unrelated streams.
 */
export function dropoutSeed(key: number, step: number, gradAccum: number, micro: number): number {
  return (key + step * gradAccum + micro) >>> 0;
}
