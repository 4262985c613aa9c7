/**
 * bench/seriesDrift.ts on rows whose statistics are worked out by hand, including a relative-bin
 * step and a variable with too few values for some of them.
 */
import { describe, expect, it } from 'vitest';
import { seriesDrift } from '../../bench/seriesDrift.ts';
import type { MemoryTable } from '../../src/tokenizer/vocabulary.ts';

// tokens 0 and 1: no variable; 2-4: variable 0's bins 0-2; 5-6: variable 1's bins 0-1;
// 7: variable 0's relative step +1
const table: MemoryTable = {
  variables: 2,
  labels: 0,
  owner: Int32Array.from([-1, -1, 0, 0, 0, 1, 1, 0]),
  sets: Int32Array.from([-1, -1, 2, 3, 4, 5, 6, -1]),
  step: Int32Array.from([0, 0, 0, 0, 0, 0, 0, 1]),
  first: Int32Array.from([-1, -1, 2, 2, 2, 5, 5, -1]),
};

describe('seriesDrift', () => {
  it('reads each variable\'s steps, their autocorrelation, its sd and its drift', () => {
    // variable 0: row A has bins 0, 2, 1, then a step to 2; row B 1, 1. Variable 1: row A 0, 1; row C one value
    const rows = [[0, 2, 5, 4, 3, 7, 6, 1], [0, 3, 3, 1], [0, 6, 1]];
    const [v0, v1] = seriesDrift(rows, table);
    // steps +2, −1, +1 and 0; pairs of steps (2, −1) and (−1, 1) in row A only
    expect(v0!.rows).toBe(2);
    expect(v0!.meanStep).toBeCloseTo(4 / 4, 12);
    expect(v0!.stepAutocorr).toBeCloseTo((2 * -1 + -1 * 1) / (4 + 1), 12);
    // row A's sd of 0, 2, 1, 2 (mean 1.25): √(2.75 / 3); row B has 2 values only
    expect(v0!.sd).toBeCloseTo(Math.sqrt(2.75 / 3), 12);
    expect(v0!.drift).toBeCloseTo((2 + 0) / 2, 12);
    // one step, no pair of steps, no row with 3 values; row C's single value counts for nothing
    expect(v1).toEqual({ rows: 1, meanStep: 1, stepAutocorr: null, sd: null, drift: 1 });
  });

  it('refuses a step with no earlier value and a token outside the vocabulary, naming the row', () => {
    expect(() => seriesDrift([[0, 2], [0, 7]], table)).toThrow(/token 7 of row 1 steps from an earlier value of variable 0/);
    expect(() => seriesDrift([[0, 8]], table)).toThrow(/token 8 of row 0 is outside the vocabulary of 8/);
  });
});
