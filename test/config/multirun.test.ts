import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expandMultirun } from '../../src/config/multirun.ts';
import { SynehrError } from '../../src/util/errors.ts';

describe('multirun expansion', () => {
  it('Cartesian product in override order, the last sweep varying fastest', () => {
    expect(expandMultirun(['model=gpt-tiny,gpt', 'seed=1', 'train.lr=1e-3,3e-4,1e-4'])).toEqual([
      ['model=gpt-tiny', 'seed=1', 'train.lr=1e-3'],
      ['model=gpt-tiny', 'seed=1', 'train.lr=3e-4'],
      ['model=gpt-tiny', 'seed=1', 'train.lr=1e-4'],
      ['model=gpt', 'seed=1', 'train.lr=1e-3'],
      ['model=gpt', 'seed=1', 'train.lr=3e-4'],
      ['model=gpt', 'seed=1', 'train.lr=1e-4'],
    ]);
  });
  it('keeps prefixes and element text (lists, quotes) intact', () => {
    expect(expandMultirun(["++generate.formats=[csv],[csv,arrow]", "run_name='a,b',c"])).toEqual([
      ['++generate.formats=[csv]', "run_name='a,b'"],
      ['++generate.formats=[csv]', 'run_name=c'],
      ['++generate.formats=[csv,arrow]', "run_name='a,b'"],
      ['++generate.formats=[csv,arrow]', 'run_name=c'],
    ]);
  });
  it("Hydra's range() and choice()", () => {
    expect(expandMultirun(['model.n_layer=range(1,4)'])).toEqual([['model.n_layer=1'], ['model.n_layer=2'], ['model.n_layer=3']]);
    expect(expandMultirun(['train.lr=range(0.3, 0, -0.1)']).map((j) => j[0])).toEqual(['train.lr=0.3', 'train.lr=0.2', 'train.lr=0.1']);
    expect(expandMultirun(["model=choice(gpt-tiny, 'gpt')"])).toEqual([['model=gpt-tiny'], ["model='gpt'"]]);
    expect(() => expandMultirun(['x=range(1)'])).toThrow("bad override 'x=range(1)': range() takes 2 or 3 numbers (start, stop[, step ≠ 0]), got '1'");
    expect(() => expandMultirun(['x=range(3,1)'])).toThrow("bad override 'x=range(3,1)': range(3,1) is empty");
  });
  it('no sweep: one job with the overrides as given', () => {
    expect(expandMultirun(['a=1', '~b'])).toEqual([['a=1', '~b']]);
    expect(expandMultirun([])).toEqual([[]]);
  });
  it('job count is the product of the sweep sizes, every combination once (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }), (sizes) => {
        const overrides = sizes.map((n, k) => `k${k}=${Array.from({ length: n }, (_, i) => `v${i}`).join(',')}`);
        const jobs = expandMultirun(overrides);
        expect(jobs.length).toBe(sizes.reduce((a, b) => a * b, 1));
        expect(new Set(jobs.map((j) => j.join(' '))).size).toBe(jobs.length);
        // nested loops as the reference order
        let ref: string[][] = [[]];
        sizes.forEach((n, k) => {
          ref = ref.flatMap((job) => Array.from({ length: n }, (_, i) => [...job, `k${k}=v${i}`]));
        });
        expect(jobs).toEqual(ref);
      }),
    );
  });
  it('EXPECTED FAILURE - too many jobs', () => {
    const e = (() => {
      try {
        expandMultirun(['a=1,2,3', 'b=1,2,3'], 8);
      } catch (err) {
        return err as SynehrError;
      }
      throw new Error('no error');
    })();
    expect(e.message).toBe('the multirun sweep has more than 8 jobs; sweep fewer values');
  });
});
