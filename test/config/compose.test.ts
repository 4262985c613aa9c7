import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compose } from '../../src/config/compose.ts';
import { GROUPS, synehrConfigSchema } from '../../src/config/schema.ts';
import { listGroupOptions } from '../../src/config/files.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { modelConfigSchema } from '../../src/model/config.ts';
import { trainConfigSchema } from '../../src/train/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'config', 'basic');
const BUILTIN = join(ROOT, 'configs');
const SP = [FIXTURE, BUILTIN];

function fails(fn: () => unknown): SynehrError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SynehrError) return e;
    throw e;
  }
  throw new Error('expected a SynehrError');
}

describe('schema defaults', () => {
  it('the model schema defaults are the shipped default option, configs/model/gpt-small.yaml, but for the value memory, which only the option turns on', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const file = parse(readFileSync(join(import.meta.dirname, '../../configs/model/gpt-small.yaml'), 'utf8')) as Record<string, unknown>;
    const small = modelConfigSchema.parse(file);
    expect(small.value_memory).toBe(true);
    expect(modelConfigSchema.parse({})).toEqual({ ...small, value_memory: false });
  });

  it("train=quick (README: `npm start -- train=quick`) is the default recipe with 600 updates instead of the schema's, and no memory refit, calibration or weight average", () => {
    const recipe = compose({ searchPath: [BUILTIN], overrides: [] }).config.train;
    const quick = compose({ searchPath: [BUILTIN], overrides: ['train=quick'] }).config.train;
    expect(recipe).toEqual(trainConfigSchema.parse({}));
    expect(recipe.max_steps).toBeGreaterThan(600);
    expect(recipe.memory_refit_patients).toBeGreaterThan(0);
    expect(recipe.memory_calibration_patients).toBeGreaterThan(0);
    expect(recipe.ema_decay).toBe(0.998);
    expect(quick).toEqual({ ...recipe, max_steps: 600, memory_refit_patients: 0, memory_calibration_patients: 0, ema_decay: null });
  });
});

describe('composition order: schema defaults < option file < _self_ < overrides', () => {
  it('each layer wins over the one before, key by key', () => {
    const { config, choices, files } = compose({ searchPath: SP, overrides: [] });
    // schema default (no layer sets it)
    expect(config.model.init_std).toBe(modelConfigSchema.parse({}).init_std);
    // option file model/small.yaml
    expect(config.model.n_layer).toBe(2);
    // _self_ (config.yaml's own model.n_head) beats the option file's n_head: 2
    expect(config.model.n_head).toBe(8);
    // top level from config.yaml
    expect(config.seed).toBe(7);
    expect(choices).toEqual({ data: 'tiny', tokenizer: 'default', model: 'small', train: 'default', generate: 'default', eval: 'default', tracking: 'default' });
    expect(files.map((f) => f.slice(ROOT.length + 1))).toEqual([
      'test/fixtures/config/basic/config.yaml',
      'test/fixtures/config/basic/data/tiny.yaml',
      'configs/tokenizer/default.yaml',
      'test/fixtures/config/basic/model/small.yaml',
      'configs/train/default.yaml',
      'configs/generate/default.yaml',
      'configs/eval/default.yaml',
      'configs/tracking/default.yaml',
    ]);
    // the result is a fixed point of the top-level schema
    expect(synehrConfigSchema.parse(config)).toEqual(config);
  });

  it('command-line overrides beat everything, later ones beat earlier ones', () => {
    const { config } = compose({ searchPath: SP, overrides: ['model.n_head=4', 'seed=1', 'seed=2'] });
    expect(config.model.n_head).toBe(4);
    expect(config.seed).toBe(2);
  });

  it('group=option swaps the file wherever it stands among the overrides', () => {
    const { config } = compose({ searchPath: SP, overrides: ['model.n_ctx=99', 'model=gpt-tiny'] });
    expect(config.model).toMatchObject({ name: 'gpt-tiny', n_layer: 1, n_embd: 32, n_ctx: 99 });
  });

  it('an option file may extend another of its group (defaults: [small])', () => {
    const { config, files } = compose({ searchPath: SP, overrides: ['model=wide'] });
    expect(config.model).toMatchObject({ name: 'wide', n_layer: 2, n_embd: 256, n_ctx: 128 });
    expect(files.filter((f) => f.includes('/model/')).map((f) => f.split('/').pop())).toEqual(['small.yaml', 'wide.yaml']);
  });

  it('with only the built-in configs, config.yaml is the package\'s', () => {
    const alone = compose({ searchPath: [BUILTIN], overrides: ['model=gpt'] });
    expect(alone.config.model.n_embd).toBe(384);
    expect(alone.config.data.name).toBe('physionet2012');
  });
});

describe('the built-in configs', () => {
  it('every option of every group composes and validates', () => {
    const checked: string[] = [];
    for (const g of GROUPS) {
      for (const option of listGroupOptions([BUILTIN], g)) {
        const { config } = compose({ searchPath: [BUILTIN], overrides: [`${g}=${option}`] });
        expect(synehrConfigSchema.parse(config)).toEqual(config);
        checked.push(`${g}=${option}`);
      }
    }
    expect(checked).toEqual(expect.arrayContaining(['data=physionet2012', 'model=gpt', 'model=gpt-small', 'model=gpt-tiny', 'tokenizer=default', 'train=default', 'tracking=default']));
  });
  it('the model options have the shapes the design names, head sizes a multiple of 8', () => {
    const shape = (m: string) => {
      const c = compose({ searchPath: [BUILTIN], overrides: [`model=${m}`] }).config.model;
      expect((c.n_embd / c.n_head) % 8).toBe(0);
      return [c.name, c.n_layer, c.n_embd, c.n_head, c.n_ctx];
    };
    expect(shape('gpt')).toEqual(['gpt', 4, 384, 4, 1024]);
    expect(shape('gpt-tiny')).toEqual(['gpt-tiny', 1, 32, 2, 64]);
    expect(shape('gpt-small')[0]).toBe('gpt-small');
  });
});

describe('override forms', () => {
  it('group=null removes the group: its keys are the schema defaults', () => {
    const { config, choices } = compose({ searchPath: SP, overrides: ['model=null'] });
    expect(choices.model).toBeNull();
    // schema defaults, and config.yaml's own (_self_) n_head
    expect(config.model).toEqual({ ...modelConfigSchema.parse({}), n_head: 8 });
  });

  it('++ sets an existing key and adds an open one; + adds inside an open record', () => {
    const { config } = compose({ searchPath: SP, overrides: ['++model.n_ctx=64', '+data.options.sep=";"', '++data.options.n=3'] });
    expect(config.model.n_ctx).toBe(64);
    expect(config.data.options).toEqual({ sep: ';', n: 3 });
  });

  it('~key falls back to the schema default; ~group=option only when it holds that option', () => {
    const { config } = compose({ searchPath: SP, overrides: ['~model.n_layer'] });
    expect(config.model.n_layer).toBe(modelConfigSchema.parse({}).n_layer);
    const removed = compose({ searchPath: SP, overrides: ['~model=small'] });
    expect(removed.choices.model).toBeNull();
    expect(removed.config.model.n_ctx).toBe(modelConfigSchema.parse({}).n_ctx);
  });

  it('lists replace lists; typed values reach the schema as typed', () => {
    const { config } = compose({ searchPath: SP, overrides: ['generate.formats=[csv,arrow]', 'train.lr=3e-4', 'train.decay_embeddings=true'] });
    expect(config.generate.formats).toEqual(['csv', 'arrow']);
    expect(config.train.lr).toBe(3e-4);
    expect(config.train.decay_embeddings).toBe(true);
  });

  it('SynEHRgy aliases: hparams.*, preprocess.*, n_samples, fix_covars, batch_size by command', () => {
    const train = compose({
      searchPath: SP,
      command: 'train',
      overrides: ['hparams.n_ctx=1024', 'hparams.n_layer=3', 'hparams.n_embd=96', 'hparams.n_head=3', 'hparams.mini_batch=16', 'hparams.lr=1e-4', 'preprocess.bin_type=uniform', 'preprocess.n_bins=7', 'batch_size=32'],
    }).config;
    expect(train.model).toMatchObject({ n_ctx: 1024, n_layer: 3, n_embd: 96, n_head: 3 });
    expect(train.train).toMatchObject({ batch_size: 32, lr: 1e-4 });
    expect(train.tokenizer).toMatchObject({ bin_type: 'uniform', n_bins: 7 });
    const gen = compose({ searchPath: SP, command: 'generate', overrides: ['n_samples=30000', 'batch_size=1024', 'fix_covars=true'] }).config;
    expect(gen.generate).toMatchObject({ n_samples: 30000, batch_size: 1024, fix_covars: true });
    expect(gen.train.batch_size).toBe(trainConfigSchema.parse({}).batch_size);
  });
});

describe('override errors (exact messages)', () => {
  const cases: [string[], string, string][] = [
    [['+model.n_ctx=3'], 'E_CONFIG_OVERRIDE', "cannot add config key 'model.n_ctx' ('+model.n_ctx=3'): it is already set to 128; use model.n_ctx=... to change it or ++model.n_ctx=... to set it either way"],
    [['~data.options.nope'], 'E_CONFIG_OVERRIDE', "cannot delete config key 'data.options.nope' ('~data.options.nope'): it is not set"],
    [['~model.n_ctx=5'], 'E_CONFIG_OVERRIDE', "cannot delete config key 'model.n_ctx' ('~model.n_ctx=5'): its value is 128, not 5"],
    [['+model=gpt'], 'E_CONFIG_OVERRIDE', "cannot add config group 'model' ('+model=gpt'): it is already in the defaults list; use model=gpt to choose another option"],
    [['~model=gpt'], 'E_CONFIG_OVERRIDE', "cannot delete config group 'model' ('~model=gpt'): its option is 'small'"],
    [['model=3'], 'E_CONFIG_OVERRIDE', "config group 'model' takes an option name ('model=3'), got 3"],
    [['train.lr=1e-3,3e-4'], 'E_CONFIG_OVERRIDE', "override 'train.lr=1e-3,3e-4' is a sweep over 2 values: add -m (--multirun) to run one job per value, or quote the value to pass one string: train.lr='1e-3,3e-4'"],
    [['data.covariates.5.name=x'], 'E_CONFIG_OVERRIDE', "cannot set config key 'data.covariates.5.name' ('data.covariates.5.name=x'): index 5 is out of range [0, 1] at data.covariates"],
    [['hparams.epochs=10'], 'E_CONFIG_KEY', "'hparams.epochs' (from 'hparams.epochs=10') has no synehr equivalent; synehr counts optimizer updates, not epochs: set train.max_steps (training also stops early after train.patience evaluations without improvement)"],
    [['hparams.nctx=10'], 'E_CONFIG_KEY', "unknown SynEHRgy alias 'hparams.nctx' in 'hparams.nctx=10'; did you mean 'hparams.n_ctx'? known: hparams.n_ctx, hparams.n_positions, hparams.n_layer, hparams.n_embd, hparams.n_head, hparams.mini_batch, hparams.batch_size, hparams.lr, hparams.weight_decay, hparams.warmup_steps, hparams.patience, hparams.max_steps, hparams.epochs, hparams.vocab_size"],
  ];
  for (const [overrides, code, message] of cases) {
    it(overrides.join(' '), () => {
      const e = fails(() => compose({ searchPath: SP, overrides }));
      expect(e.code).toBe(code);
      expect(e.message).toBe(message);
    });
  }
  it('batch_size is ambiguous outside train and generate', () => {
    expect(fails(() => compose({ searchPath: SP, command: 'evaluate', overrides: ['batch_size=4'] })).message).toBe(
      "'batch_size' (from 'batch_size=4') has no synehr equivalent; it is ambiguous for 'evaluate': use train.batch_size or generate.batch_size",
    );
  });
  it('an option that extends itself in a cycle', () => {
    expect(fails(() => compose({ searchPath: SP, overrides: ['model=loop-a'] })).message).toBe(
      "config group 'model': options extend each other in a cycle: loop-a -> loop-b -> loop-a",
    );
  });
});

describe('interpolation', () => {
  it('whole-string references keep their type; embedded ones become text; defaults interpolate too', () => {
    const { config } = compose({ searchPath: SP, overrides: ['train=interp', 'run_name=${data.name}-${model.n_layer}L'] });
    expect(config.train.batch_size).toBe(2);
    expect(config.run_name).toBe('tiny-2L');
    expect(config.data.processed_dir).toBe('data/processed/tiny');
  });
  it('references see overrides, whichever order they come in', () => {
    const { config } = compose({ searchPath: SP, overrides: ['train=interp', 'model.n_layer=5'] });
    expect(config.train.batch_size).toBe(5);
  });
  it('${oc.env:NAME,default} reads the environment', () => {
    const env = { SYNEHR_TEST_RUN: 'from-env' };
    expect(compose({ searchPath: SP, env, overrides: ['run_name=${oc.env:SYNEHR_TEST_RUN}'] }).config.run_name).toBe('from-env');
    expect(compose({ searchPath: SP, env: {}, overrides: ['run_name=${oc.env:SYNEHR_TEST_RUN,dflt}'] }).config.run_name).toBe('dflt');
  });
  it('EXPECTED FAILURE - a cycle names the chain', () => {
    const e = fails(() => compose({ searchPath: SP, overrides: ['run_name=${data.root}', 'data.root=${data.name}', 'data.name=${run_name}'] }));
    expect(e.code).toBe('E_CONFIG_INTERPOLATION');
    expect(e.message).toBe('interpolation cycle: run_name -> data.root -> data.name -> run_name');
  });
  it('EXPECTED FAILURE - a self-reference is a cycle of one', () => {
    expect(fails(() => compose({ searchPath: SP, overrides: ['run_name=x${run_name}'] })).message).toBe('interpolation cycle: run_name -> run_name');
  });
  it('EXPECTED FAILURE - a missing key, with did-you-mean', () => {
    expect(fails(() => compose({ searchPath: SP, overrides: ['run_name=${model.n_layers}'] })).message).toBe(
      "interpolation '${model.n_layers}' in 'run_name': no key 'model.n_layers'; did you mean 'model.n_layer'?",
    );
  });
});

describe('a saved run as the base', () => {
  it('keeps the base, applies overrides, and group=option replaces that group', () => {
    const saved = compose({ searchPath: SP, overrides: ['model.n_ctx=77', 'generate.top_k=5', 'run_name=r1'] }).config;
    const base = JSON.parse(JSON.stringify(saved));
    const again = compose({ searchPath: SP, base, overrides: ['generate.temperature=0.5'] }).config;
    expect(again.model.n_ctx).toBe(77);
    expect(again.generate).toMatchObject({ top_k: 5, temperature: 0.5 });
    const swapped = compose({ searchPath: SP, base, overrides: ['generate=default'] }).config;
    expect(swapped.generate.top_k).toBe(0);
    expect(swapped.model.n_ctx).toBe(77);
  });
});

describe('composeConfig (the API for tests and notebooks)', () => {
  it('composes from the built-in configs like config show, fixture dirs first', async () => {
    const { composeConfig } = await import('../../src/config/index.ts');
    expect(composeConfig(['model=gpt', 'hparams.n_ctx=512']).model).toMatchObject({ name: 'gpt', n_ctx: 512 });
    expect(composeConfig([], { configDirs: [FIXTURE] }).data.name).toBe('tiny');
  });
});
