import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { main, parseFlags, type MainIO } from '../../src/cli/main.ts';
import { COMMANDS } from '../../src/cli/commandTable.ts';
import { modelConfigSchema } from '../../src/model/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FAKES = join(ROOT, 'test', 'fixtures', 'cli', 'commands');
const FIXTURE_CONFIGS = join(ROOT, 'test', 'fixtures', 'config', 'basic');
const tmpRoot = mkdtempSync(join(tmpdir(), 'synehr-cli-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;

/** A fresh working directory (with a package.json so no user config above it is found). */
function workDir(files: Record<string, string> = {}): string {
  const d = join(tmpRoot, `w${n++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'package.json'), '{"name":"w"}');
  for (const [f, t] of Object.entries(files)) {
    mkdirSync(join(d, f, '..'), { recursive: true });
    writeFileSync(join(d, f), t);
  }
  return d;
}

async function run(argv: string[], cwd = workDir()): Promise<{ code: number; out: string; err: string; cwd: string }> {
  let out = '';
  let err = '';
  const io: Partial<MainIO> = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), cwd, commandsDir: FAKES, env: {} };
  const code = await main(argv, io);
  return { code, out, err, cwd };
}

function seen(cwd: string, command: string, job = 0): any {
  return JSON.parse(readFileSync(join(cwd, `seen-${command}-${job}.json`), 'utf8'));
}

const CD = ['-cd', FIXTURE_CONFIGS];

describe('dispatch and exit codes', () => {
  it('--version prints package.json version', async () => {
    const r = await run(['--version']);
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
    expect(r).toMatchObject({ code: 0, out: `${version}\n`, err: '' });
  });
  it('no command: usage on stderr, exit 2; --help: usage on stdout, exit 0, every command listed', async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: synehr <command>');
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.out).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });
  it('EXPECTED FAILURE - unknown command, with did-you-mean: one line, exit 2', async () => {
    const r = await run(['trian']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "synehr: error: unknown command 'trian'; did you mean 'train'? commands: prepare, tokenize, roundtrip, train, export, generate, evaluate, dashboard, load, config, pipeline, export-data\n",
    );
  });
  it('a command whose module is missing is a bug: its stack naming the module, exit 1', async () => {
    const r = await run(['export', ...CD]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(join(FAKES, 'export.ts'));
  });
  it('defect 1: resuming a run created with overwrite=true keeps its files, and overwrite is not replayed', async () => {
    const cwd = workDir();
    expect((await run(['train', ...CD, 'run_name=ow2', 'overwrite=true'], cwd)).code).toBe(0);
    const runDir = join(cwd, 'saved_models', 'ow2');
    // a config.yaml as older versions wrote it: the overwrite=true of the command that made the run
    const saved = YAML.parse(readFileSync(join(runDir, 'config.yaml'), 'utf8'));
    writeFileSync(join(runDir, 'config.yaml'), YAML.stringify({ ...saved, overwrite: true }));
    mkdirSync(join(runDir, 'checkpoints'));
    writeFileSync(join(runDir, 'checkpoints', 'ckpt-000020.bin'), 'state');
    writeFileSync(join(runDir, 'model.safetensors'), 'weights');
    const resumed = await run(['train', ...CD, 'run_name=ow2', 'resume=true', 'train.max_steps=40'], cwd);
    expect(resumed.code).toBe(0);
    expect(existsSync(join(runDir, 'checkpoints', 'ckpt-000020.bin'))).toBe(true);
    expect(existsSync(join(runDir, 'model.safetensors'))).toBe(true);
    expect(seen(cwd, 'train')).toMatchObject({ resume: true, overwrite: false });
    // a command reading the run does not inherit it either (generate would replace a finished generation)
    expect((await run(['generate', ...CD, 'model=ow2'], cwd)).code).toBe(0);
    expect(seen(cwd, 'generate')).toMatchObject({ resume: false, overwrite: false });
  });
  it('EXPECTED FAILURE - resume=true with overwrite=true is refused: a resume never empties a run', async () => {
    const cwd = workDir();
    expect((await run(['train', ...CD, 'run_name=both'], cwd)).code).toBe(0);
    writeFileSync(join(cwd, 'saved_models', 'both', 'model.safetensors'), 'weights');
    const r = await run(['train', ...CD, 'run_name=both', 'resume=true', 'overwrite=true'], cwd);
    expect(r).toMatchObject({ code: 2, err: "synehr: error: resume=true continues run 'both' and overwrite=true would empty it first: pass one of the two\n" });
    expect(existsSync(join(cwd, 'saved_models', 'both', 'model.safetensors'))).toBe(true);
  });
  it('a SynehrError from a command: one line (newlines folded), exit 2', async () => {
    const r = await run(['load', ...CD]);
    expect(r).toMatchObject({ code: 2, err: 'synehr: error: no database at postgres://nowhere second line\n' });
  });
  it('a stage stopped by Ctrl-C (E_INTERRUPTED): one line, exit 130 as shells expect', async () => {
    const cwd = workDir();
    expect((await run(['train', ...CD, 'run_name=i1'], cwd)).code).toBe(0);
    const r = await run(['export-data', ...CD, 'model=i1', '--interrupt'], cwd);
    expect(r).toMatchObject({ code: 130, err: 'synehr: interrupted: stopped after 3 of 9 parts: run again with resume=true\n' });
  });
  it('any other error is a bug: its stack, exit 1', async () => {
    const r = await run(['evaluate', ...CD]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^TypeError: kaboom in evaluate\n\s+at /);
  });
  it('a command may return its exit code', async () => {
    expect((await run(['tokenize', ...CD])).code).toBe(5);
  });
  it('EXPECTED FAILURE - a config error: one line, exit 2, the command never runs', async () => {
    const r = await run(['train', ...CD, 'model.n_ctxx=3']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "synehr: error: unknown config key 'model.n_ctxx' = 3 (override 'model.n_ctxx=3'); did you mean 'model.n_ctx'? allowed keys of 'model': name, n_layer, n_embd, n_head, n_ctx, init_std, embd_pdrop, resid_pdrop, value_memory, memory_labels\n",
    );
    expect(existsSync(join(r.cwd, 'seen-train-0.json'))).toBe(false);
  });
});

describe('the context a command gets', () => {
  it('train: overrides, pass-through flags, saved_models/<run_name>/ with config.yaml and overrides.yaml', async () => {
    const r = await run(['train', ...CD, 'run_name=r1', 'hparams.n_ctx=256', '--dry-run', '--threads', '2', 'extra']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('train ran\n');
    const s = seen(r.cwd, 'train');
    expect(s).toMatchObject({
      command: 'train',
      runName: 'r1',
      overrides: ['run_name=r1', 'hparams.n_ctx=256'],
      args: ['--dry-run', '--threads', '2', 'extra'],
      flags: { 'dry-run': true, threads: '2' },
      job: { index: 0, count: 1 },
      runDir: join(r.cwd, 'saved_models', 'r1'),
      sameRunDir: true,
    });
    expect(s.model.n_ctx).toBe(256);
    const saved = YAML.parse(readFileSync(join(r.cwd, 'saved_models', 'r1', 'config.yaml'), 'utf8'));
    expect(saved.model.n_ctx).toBe(256);
    expect(saved.run_name).toBe('r1');
    expect(YAML.parse(readFileSync(join(r.cwd, 'saved_models', 'r1', 'overrides.yaml'), 'utf8'))).toEqual(['run_name=r1', 'hparams.n_ctx=256']);

    // the same name again is refused
    const again = await run(['train', ...CD, 'run_name=r1'], r.cwd);
    expect(again.code).toBe(2);
    expect(again.err).toBe(
      `synehr: error: run 'r1' exists (${join(r.cwd, 'saved_models', 'r1')}); pass resume=true to continue it, overwrite=true to replace it, or choose another run_name\n`,
    );
    // resume: the saved config is the base (n_ctx stays 256), this command line's overrides apply
    expect((await run(['train', ...CD, 'run_name=r1', 'resume=true', 'train.max_steps=9'], r.cwd)).code).toBe(0);
    const resumed = seen(r.cwd, 'train');
    expect([resumed.model.n_ctx, resumed.runName]).toEqual([256, 'r1']);
    const resumedSaved = YAML.parse(readFileSync(join(r.cwd, 'saved_models', 'r1', 'config.yaml'), 'utf8'));
    // resume and overwrite belong to the command they were given with: the saved config keeps neither
    expect([resumedSaved.model.n_ctx, resumedSaved.train.max_steps, resumedSaved.resume, resumedSaved.overwrite]).toEqual([256, 9, false, false]);

    // generate model=r1: the saved config is the base, further overrides apply, run_name is r1
    const g = await run(['generate', ...CD, 'model=r1', 'n_samples=7', 'batch_size=3'], r.cwd);
    expect(g.code).toBe(0);
    const gs = seen(r.cwd, 'generate');
    expect(gs).toMatchObject({ runName: 'r1', runDir: join(r.cwd, 'saved_models', 'r1'), overrides: ['model=r1', 'n_samples=7', 'batch_size=3'] });
    expect(gs.model.n_ctx).toBe(256);
    expect(gs.generate).toMatchObject({ n_samples: 7, batch_size: 3 });

    // --cfg job prints the config generate would run with, and runs nothing (export is not even built)
    const cfg = await run(['export', ...CD, 'model=r1', 'generate.top_k=4', '--cfg', 'job'], r.cwd);
    expect(cfg.code).toBe(0);
    const printed = YAML.parse(cfg.out);
    expect([printed.run_name, printed.model.n_ctx, printed.generate.top_k]).toEqual(['r1', 256, 4]);
  });

  it('train without run_name names the run <data>_<model>_<date>-<time>, and ${run_name} interpolates to it', async () => {
    const r = await run(['train', ...CD, 'generate.out_dir=out/${run_name}']);
    const s = seen(r.cwd, 'train');
    expect(s.runName).toMatch(/^tiny_small_\d{8}-\d{6}$/);
    expect(s.generate.out_dir).toBe(`out/${s.runName}`);
  });

  it('EXPECTED FAILURE - generate model=<missing run>, with did-you-mean over saved_models/', async () => {
    const cwd = workDir();
    expect((await run(['train', ...CD, 'run_name=mimic_a'], cwd)).code).toBe(0);
    const r = await run(['generate', ...CD, 'model=mimic_b'], cwd);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `synehr: error: no trained run 'mimic_b' (${join(cwd, 'saved_models', 'mimic_b', 'config.yaml')} not found); did you mean 'mimic_a'? runs in ${join(cwd, 'saved_models')}: mimic_a\n`,
    );
  });

  it('EXPECTED FAILURE - generate without model=: runDir() says what to pass', async () => {
    const r = await run(['generate', ...CD]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`synehr: error: synehr generate reads a trained run: pass model=<run_name> (runs in ${join(r.cwd, 'saved_models')}: (none))\n`);
  });

  it('prepare: outputs/<date>/<time>/ and model= picks the group option', async () => {
    const r = await run(['prepare', ...CD, 'model=gpt-tiny']);
    expect(r.code).toBe(0);
    const s = seen(r.cwd, 'prepare');
    expect(s.model.name).toBe('gpt-tiny');
    expect(s.runDir).toMatch(new RegExp(`^${join(r.cwd, 'outputs').replace(/[.]/g, '\\.')}/\\d{4}-\\d{2}-\\d{2}/\\d{2}-\\d{2}-\\d{2}$`));
    expect(readdirSync(s.runDir).sort()).toEqual(['config.yaml', 'overrides.yaml']);
  });

  it("a command's short key=value words (CommandSpec.keys) set the config keys they stand for, as strings", async () => {
    const cwd = workDir();
    expect((await run(['train', ...CD, 'run_name=r2'], cwd)).code).toBe(0);
    // export-data's short words synthetic, format and out are the load group's keys
    const r = await run(['export-data', ...CD, 'model=r2', 'synthetic=some/dir', 'format=omop', "out=a=b,c'd", 'n_samples=3'], cwd);
    expect(r.code, r.err).toBe(0);
    const s = seen(cwd, 'export-data');
    expect(s.load).toMatchObject({ synthetic: 'some/dir', format: 'omop', out: "a=b,c'd" });
    expect(s.flags).toEqual({});
    expect(s.overrides).toEqual(['model=r2', "load.synthetic='some/dir'", "load.format='omop'", "load.out='a=b,c\\'d'", 'n_samples=3']);
    expect(s.generate.n_samples).toBe(3);
    // the long form works as well, and a bad value is refused by the schema, naming the key
    expect((await run(['export-data', ...CD, 'model=r2', 'load.format=fhir'], cwd)).code).toBe(0);
    expect(seen(cwd, 'export-data').load.format).toBe('fhir');
    const bad = await run(['export-data', ...CD, 'model=r2', 'format=hl7'], cwd);
    expect(bad).toMatchObject({ code: 2, err: `synehr: error: config key 'load.format' = "hl7": expected one of "mimic3", "omop", "fhir"\n` });
  });

  it('dashboard gets --port through ctx.flags', async () => {
    const r = await run(['dashboard', ...CD, '--port', '6007', '--host=0.0.0.0']);
    expect(seen(r.cwd, 'dashboard').flags).toEqual({ port: '6007', host: '0.0.0.0' });
  });

  it('-m: one job per combination, run_name suffixed _<job>', async () => {
    const r = await run(['train', ...CD, '-m', 'run_name=sweep', 'model.n_layer=1,3', 'seed=5,6']);
    expect(r.code).toBe(0);
    const jobs = [0, 1, 2, 3].map((j) => seen(r.cwd, 'train', j));
    expect(jobs.map((j) => [j.runName, j.model.n_layer, j.seed, j.job.count])).toEqual([
      ['sweep_0', 1, 5, 4],
      ['sweep_1', 1, 6, 4],
      ['sweep_2', 3, 5, 4],
      ['sweep_3', 3, 6, 4],
    ]);
    expect(jobs[3].overrides).toEqual(['run_name=sweep', 'model.n_layer=3', 'seed=6']);
    expect(readdirSync(join(r.cwd, 'saved_models')).sort()).toEqual(['sweep_0', 'sweep_1', 'sweep_2', 'sweep_3']);
    expect(YAML.parse(readFileSync(join(r.cwd, 'saved_models', 'sweep_2', 'config.yaml'), 'utf8')).run_name).toBe('sweep_2');
    expect(r.err).toContain('[multirun] job 3/4: run_name=sweep model.n_layer=3 seed=6\n');
  });

  it('a user config in the working directory adds its config dir and default overrides', async () => {
    const cwd = workDir({
      'synehr.config.mjs': `export default { config_paths: ['${FIXTURE_CONFIGS}'], overrides: ['seed=99', 'run_name=from-user'] };`,
    });
    const r = await run(['train', 'seed=100'], cwd);
    expect(r.code).toBe(0);
    expect(seen(cwd, 'train')).toMatchObject({ runName: 'from-user', seed: 100 });
  });
});

describe('config flags', () => {
  it('--config-file uses that user config; a missing --config-dir is an error', async () => {
    const cwd = workDir({ 'elsewhere/cfg.yaml': `config_paths: ['${FIXTURE_CONFIGS}']\noverrides: [seed=31]\n` });
    const r = await run(['config', 'show', 'seed', '--config-file', 'elsewhere/cfg.yaml'], cwd);
    expect([r.code, r.out]).toEqual([0, '31\n']);
    const bad = await run(['config', 'show', '-cd', 'no/such/dir'], cwd);
    expect([bad.code, bad.err]).toEqual([2, `synehr: error: --config-dir ${join(cwd, 'no/such/dir')}: no such directory\n`]);
    const noValue = await run(['config', 'show', '--config-file'], cwd);
    expect([noValue.code, noValue.err]).toEqual([2, 'synehr: error: --config-file needs a value\n']);
  });
});

describe('config show and help', () => {
  it('config show prints the composed YAML, which parses back to the same values', async () => {
    const r = await run(['config', 'show', ...CD, 'model=gpt', 'hparams.n_ctx=333']);
    expect(r.code).toBe(0);
    const shown = YAML.parse(r.out);
    expect(shown.model).toEqual({ name: 'gpt', n_layer: 4, n_embd: 384, n_head: 8, n_ctx: 333, init_std: 0.02, embd_pdrop: 0, resid_pdrop: 0, value_memory: false, memory_labels: false });
    expect(shown.data.name).toBe('tiny');
  });

  it('config show <key.path> prints that part; a scalar bare; a wrong path with did-you-mean', async () => {
    expect((await run(['config', 'show', 'model.n_ctx', ...CD, 'hparams.n_ctx=333'])).out).toBe('333\n');
    expect(YAML.parse((await run(['config', 'show', 'data.split', ...CD])).out)).toEqual({ train: 0.8, val: 0.1, test: 0.1, seed: 42 });
    const bad = await run(['config', 'show', 'model.nctx', ...CD]);
    expect([bad.code, bad.err]).toEqual([2, "synehr: error: config show: no key 'model.nctx'; did you mean 'model.n_ctx'?\n"]);
  });

  it('config options lists each group\'s options with the file that wins', async () => {
    const r = await run(['config', 'options', ...CD]);
    expect(r.out).toContain(`  small: ${join(FIXTURE_CONFIGS, 'model', 'small.yaml')}\n`);
    expect(r.out).toMatch(/^model:$/m);
    expect(r.out).toContain(`  gpt-tiny: ${join(ROOT, 'configs', 'model', 'gpt-tiny.yaml')}\n`);
  });

  it('<command> --help lists its groups and their keys with type, default and the why-comment from the schema source', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    const src = readFileSync(join(ROOT, 'src', 'model', 'config.ts'), 'utf8');
    const why = /\/\/ (context length[^\n]*)\n\s*n_ctx:/.exec(src)![1]!;
    expect(r.out).toMatch(/^synehr train: Train the GPT/);
    expect(r.out).toContain('Config groups read: data, tokenizer, model, train, tracking.');
    expect(r.out).toMatch(/^model {2}\(choose with model=<option>: gpt, gpt-small, gpt-tiny; default gpt-small\)$/m);
    expect(r.out).toContain(`      ${why}\n`);
    // a required key: no schema default, the default option's value beside it
    expect(r.out).toMatch(/^ {2}loader +"physionet2012" \| "mimic3" \| "synthea" \| "long" +\(required\) +\(physionet2012: physionet2012\)$/m);
    // a schema default the default option changes
    // each model key: the schema default, and gpt-small's value beside it where the file changes it
    const schema = modelConfigSchema.parse({});
    const small = YAML.parse(readFileSync(join(ROOT, 'configs', 'model', 'gpt-small.yaml'), 'utf8'));
    for (const key of ['n_layer', 'n_embd', 'n_head', 'n_ctx'] as const) {
      const beside = small[key] !== schema[key] ? ` +\\(gpt-small: ${small[key]}\\)` : '';
      expect(r.out).toMatch(new RegExp(`^ {2}${key} +integer > 0 += ${schema[key]}${beside}$`, 'm'));
    }
    expect(r.out).not.toMatch(/^generate {2}\(/m);
  });

  it('parseFlags', () => {
    expect(parseFlags(['--port', '80', '-v', '--x=1=2', 'pos', '--last'])).toEqual({ port: '80', v: true, x: '1=2', last: true });
    expect(parseFlags(['-n', 'pos', 'key=value', 'word'])).toEqual({ n: 'pos', key: 'value' });
  });
});

describe('createContext', () => {
  it('resolvePath: the working directory first, then the package, else the working directory', async () => {
    const { createContext, PACKAGE_ROOT } = await import('../../src/cli/main.ts');
    const { findCommand } = await import('../../src/cli/commandTable.ts');
    const cwd = workDir({ 'mine/file.txt': 'x', 'configs/config.yaml': 'defaults: []\n' });
    const ctx = await createContext({
      spec: findCommand('prepare')!,
      overrides: [],
      userOverrides: [],
      args: [],
      searchPath: [FIXTURE_CONFIGS, join(ROOT, 'configs')],
      workDir: cwd,
      now: new Date(),
      job: { index: 0, count: 1 },
      log: () => {},
    });
    expect(ctx.resolvePath('mine/file.txt')).toBe(join(cwd, 'mine/file.txt'));
    expect(ctx.resolvePath('configs/config.yaml')).toBe(join(cwd, 'configs/config.yaml'));
    expect(ctx.resolvePath('configs/model/gpt.yaml')).toBe(join(PACKAGE_ROOT, 'configs/model/gpt.yaml'));
    expect(ctx.resolvePath('nowhere/x')).toBe(join(cwd, 'nowhere/x'));
    expect(ctx.resolvePath('/abs/x')).toBe('/abs/x');
    expect(PACKAGE_ROOT).toBe(ROOT);
  });
});
