/**
 * The one seeded generator (src/util/rng.ts): xoshiro128** checked against the output of its
 * reference implementation, and the derived draws against their definitions.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.ts';

describe('Rng', () => {
  it('xoshiro128** from the state [1, 2, 3, 4] gives the reference implementation output', () => {
    // the first ten outputs of Blackman & Vigna's xoshiro128starstar.c (v1.1, prng.di.unimi.it)
    // from s = {1, 2, 3, 4}, as rand_xoshiro's `reference` test lists them
    // (rust-random/rngs, rand_xoshiro/src/xoshiro128starstar.rs)
    const r = Rng.fromState([1, 2, 3, 4]);
    expect(Array.from({ length: 10 }, () => r.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  it('float() takes the top 27 and 26 bits of two outputs: a 53-bit uniform in [0, 1)', () => {
    const a = Rng.fromState([1, 2, 3, 4]);
    const b = Rng.fromState([1, 2, 3, 4]);
    for (let i = 0; i < 100; i++) {
      const x = a.float();
      const hi = b.nextU32() >>> 5;
      const lo = b.nextU32() >>> 6;
      expect(x).toBe((hi * 2 ** 26 + lo) / 2 ** 53);
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it('seeding through splitmix32 is fixed: checkpoints, splits and generated batches depend on it', () => {
    // the state for seed 42 as a C version of the same recurrence (x += 0x9e3779b9, then murmur3's
    // fmix32) computes it, and the next three outputs of xoshiro128** from it; a change here changes
    // every seeded result of the project
    const r = new Rng(42);
    expect(r.state()).toEqual(SEEDED_42_STATE);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual(SEEDED_42_OUTPUTS);
    // nearby seeds give unrelated streams; state() / fromState() resume one exactly
    expect(new Rng(43).state()).not.toEqual(SEEDED_42_STATE);
    const s = new Rng(7);
    s.float();
    const resumed = Rng.fromState(s.state());
    expect(Array.from({ length: 5 }, () => resumed.nextU32())).toEqual(Array.from({ length: 5 }, () => s.nextU32()));
  });

  it('fillDropoutMask decides two elements per nextU32 output (low 16 bits first) and leaves the stream where nextU32 would', () => {
    for (const n of [1, 2, 7, 1000]) {
      const a = new Rng(9);
      const b = new Rng(9);
      const out = new Float32Array(n);
      a.fillDropoutMask(out, 6554, 1.25);
      const want: number[] = [];
      for (let i = 0; i < n; i += 2) {
        const r = b.nextU32();
        want.push((r & 0xffff) < 6554 ? 0 : 1.25);
        if (i + 1 < n) want.push(r >>> 16 < 6554 ? 0 : 1.25);
      }
      expect(Array.from(out)).toEqual(want);
      expect(a.state()).toEqual(b.state());
    }
    // thresholds 0 and 65535 keep everything and drop all but 1/65536
    const big = new Float32Array(1 << 16);
    new Rng(1).fillDropoutMask(big, 0, 1);
    expect(big.every((v) => v === 1)).toBe(true);
    new Rng(1).fillDropoutMask(big, 65535, 1);
    expect(big.filter((v) => v !== 0).length).toBeLessThan(8);
  });

  it('EXPECTED FAILURE - a dropout threshold outside [0, 65536)', () => {
    expect(() => new Rng(1).fillDropoutMask(new Float32Array(2), 65536, 1)).toThrow('Rng.fillDropoutMask: dropThreshold must be an integer in [0, 65536), got 65536');
    expect(() => new Rng(1).fillDropoutMask(new Float32Array(2), 0.5, 1)).toThrow(RangeError);
  });

  it('EXPECTED FAILURE - a state that is not four uint32 words', () => {
    expect(() => Rng.fromState([1, 2, 3])).toThrow(RangeError);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow('Rng state must be four uint32 words, got [1,2,3,4294967296]');
  });
});

const SEEDED_42_STATE = [939911724, 3948730756, 321366731, 3317318717];
const SEEDED_42_OUTPUTS = [2837322924, 544945897, 479756282];
