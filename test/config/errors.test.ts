import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compose } from '../../src/config/compose.ts';
import { didYouMean, levenshtein, typoDistance } from '../../src/config/didYouMean.ts';
import { SynehrError } from '../../src/util/errors.ts';
import fc from 'fast-check';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'config', 'basic');
const BUILTIN = join(ROOT, 'configs');
const SP = [FIXTURE, BUILTIN];

function failure(overrides: string[]): SynehrError {
  try {
    compose({ searchPath: SP, overrides });
  } catch (e) {
    if (e instanceof SynehrError) return e;
    throw e;
  }
  throw new Error(`expected ${overrides.join(' ')} to fail`);
}

const MODEL_KEYS = 'name, n_layer, n_embd, n_head, n_ctx, init_std, embd_pdrop, resid_pdrop, value_memory, memory_labels';
const TOP_KEYS = 'run_name, seed, resume, overwrite, data, tokenizer, model, train, generate, eval, tracking, load';

describe('EXPECTED FAILURE - validation messages name the key path, the value, what is allowed', () => {
  const cases: [string[], string, string][] = [
    [
      ['model.n_ctxx=512'],
      'E_CONFIG_KEY',
      `unknown config key 'model.n_ctxx' = 512 (override 'model.n_ctxx=512'); did you mean 'model.n_ctx'? allowed keys of 'model': ${MODEL_KEYS}`,
    ],
    [
      ['modle.n_ctx=512'],
      'E_CONFIG_KEY',
      `unknown config key 'modle' in 'modle.n_ctx' = 512 (override 'modle.n_ctx=512'); did you mean 'model'? allowed top-level keys: ${TOP_KEYS}`,
    ],
    [['+zzz=1'], 'E_CONFIG_KEY', `unknown config key 'zzz' = 1 (override '+zzz=1'); allowed top-level keys: ${TOP_KEYS}`],
    [
      ['data.split.tran=0.5'],
      'E_CONFIG_KEY',
      "unknown config key 'data.split.tran' = 0.5 (override 'data.split.tran=0.5'); did you mean 'data.split.train'? allowed keys of 'data.split': train, val, test, seed",
    ],
    [['model.n_ctx=abc'], 'E_CONFIG_TYPE', `config key 'model.n_ctx' = "abc": expected integer > 0, got a string`],
    [['model.n_ctx=1.5'], 'E_CONFIG_TYPE', `config key 'model.n_ctx' = 1.5: expected integer > 0, got a number`],
    [['model.n_ctx=0'], 'E_CONFIG_TYPE', `config key 'model.n_ctx' = 0: expected integer > 0`],
    [['train.beta1=2'], 'E_CONFIG_TYPE', `config key 'train.beta1' = 2: expected number >= 0 and <= 1`],
    [['model.resid_pdrop=1'], 'E_CONFIG_TYPE', `config key 'model.resid_pdrop' = 1: expected number >= 0 and <= 0.99`],
    [['resume=yes'], 'E_CONFIG_TYPE', `config key 'resume' = "yes": expected boolean, got a string`],
    [['run_name=[a]'], 'E_CONFIG_TYPE', `config key 'run_name' = ["a"]: expected string | null, got a list`],
    [
      ['tokenizer.bin_type=quantil'],
      'E_CONFIG_TYPE',
      `config key 'tokenizer.bin_type' = "quantil": expected one of "uniform", "quantile", "quantile_ueq"; did you mean "quantile"?`,
    ],
    [['generate.formats=[parquet,xlsx]'], 'E_CONFIG_TYPE', `config key 'generate.formats.1' = "xlsx": expected one of "parquet", "csv", "arrow"`],
    [['~data.loader'], 'E_CONFIG_TYPE', `config key 'data.loader' is required: expected "physionet2012" | "mimic3" | "synthea" | "long"`],
    [['model.n_ctx=abc', 'model.n_head=x'], 'E_CONFIG_TYPE', `config key 'model.n_head' = "x": expected integer > 0, got a string (and 1 more problem)`],
    [
      ['model=gpt-smal'],
      'E_CONFIG_OPTION',
      `unknown option 'gpt-smal' for config group 'model'; did you mean 'gpt-small'? available: loop-a, loop-b, small, typo, wide, gpt, gpt-small, gpt-tiny (searched ${FIXTURE}/model, ${BUILTIN}/model)`,
    ],
    [
      ['tracking=nothing'],
      'E_CONFIG_OPTION',
      `unknown option 'nothing' for config group 'tracking'; available: default, none, wandb (searched ${FIXTURE}/tracking, ${BUILTIN}/tracking)`,
    ],
    [
      ['model=typo'],
      'E_CONFIG_KEY',
      `unknown config key 'model.n_layers' = 3 (in ${FIXTURE}/model/typo.yaml); did you mean 'model.n_layer'? allowed keys of 'model': ${MODEL_KEYS}`,
    ],
  ];
  for (const [overrides, code, message] of cases) {
    it(overrides.join(' '), () => {
      const e = failure(overrides);
      expect(e.code).toBe(code);
      expect(e.message).toBe(message);
      expect(e.message).not.toContain('\n');
    });
  }
});

describe('did-you-mean', () => {
  // the textbook recursion, as an independent reference
  function naive(a: string, b: string): number {
    if (a.length === 0) return b.length;
    if (b.length === 0) return a.length;
    const cost = a[a.length - 1] === b[b.length - 1] ? 0 : 1;
    return Math.min(naive(a.slice(0, -1), b) + 1, naive(a, b.slice(0, -1)) + 1, naive(a.slice(0, -1), b.slice(0, -1)) + cost);
  }
  it('levenshtein equals the naive recursion', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), (a, b) => {
        expect(levenshtein(a, b)).toBe(naive(a, b));
      }),
      { numRuns: 300 },
    );
  });
  it('typoDistance is levenshtein with adjacent swaps at cost 1', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), (a, b) => {
        const t = typoDistance(a, b);
        expect(t).toBeLessThanOrEqual(levenshtein(a, b));
        expect(t).toBe(typoDistance(b, a));
      }),
      { numRuns: 300 },
    );
    expect(typoDistance('modle', 'model')).toBe(1);
    expect(levenshtein('modle', 'model')).toBe(2);
    expect(typoDistance('ca', 'abc')).toBe(3);
  });
  it('suggests close names only', () => {
    expect(didYouMean('n_ctxx', ['n_layer', 'n_ctx'])).toBe('n_ctx');
    expect(didYouMean('lr', ['seed', 'name'])).toBeUndefined();
    expect(didYouMean('QUANTILE', ['uniform', 'quantile'])).toBe('quantile');
  });
});
