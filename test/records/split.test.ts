import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSplit, splitPatients } from '../../src/records/split.ts';

const ratios = { train: 0.8, val: 0.1, test: 0.1 };

describe('splitPatients', () => {
  it('is a partition of the ids, for any ids, labels and seed (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 200 }), fc.integer(), (ids, seed) => {
        const strata = new Map(ids.map((id, i) => [id, i % 3 === 0 ? 1 : 0]));
        const s = splitPatients(ids, strata, ratios, seed, 'death');
        const all = [...s.train, ...s.val, ...s.test];
        expect(all.sort()).toEqual([...ids].sort());
        expect(new Set(all).size).toBe(ids.length);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the main label prevalence in every part (stratified)', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `p${i}`);
    const strata = new Map(ids.map((id, i) => [id, i < 140 ? 1 : 0]));
    const s = splitPatients(ids, strata, ratios, 7, 'death');
    const pos = (part: string[]) => part.filter((id) => strata.get(id) === 1).length;
    expect([s.train.length, s.val.length, s.test.length]).toEqual([800, 100, 100]);
    expect([pos(s.train), pos(s.val), pos(s.test)]).toEqual([112, 14, 14]);
  });

  it('depends only on the ids and the seed, not their order', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `p${i}`);
    const a = splitPatients(ids, new Map(), ratios, 1, null);
    const b = splitPatients([...ids].reverse(), new Map(), ratios, 1, null);
    const c = splitPatients(ids, new Map(), ratios, 2, null);
    expect(b).toEqual(a);
    expect(c.test).not.toEqual(a.test);
  });

  it('EXPECTED FAILURE - ratios that do not add up to 1', () => {
    expect(() => splitPatients(['a'], new Map(), { train: 0.8, val: 0.2, test: 0.2 }, 1, null)).toThrow('data.split: train + val + test must be 1, got 0.8 + 0.2 + 0.2 = 1.2');
  });

  it('readSplit round-trips and rejects a broken file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synehr-split-'));
    try {
      const s = splitPatients(['a', 'b', 'c'], new Map(), ratios, 3, null);
      await writeFile(join(dir, 'split.json'), JSON.stringify(s));
      expect(await readSplit(dir)).toEqual(s);
      await writeFile(join(dir, 'split.json'), JSON.stringify({ ...s, train: 'a' }));
      await expect(readSplit(dir)).rejects.toThrow(/split\.json: train: /);
      await rm(join(dir, 'split.json'));
      await expect(readSplit(dir)).rejects.toThrow(/split\.json: missing; run `synehr prepare` first/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
