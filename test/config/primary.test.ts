import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compose } from '../../src/config/compose.ts';
import { evalConfigSchema } from '../../src/evaluate/config.ts';
import { SynehrError } from '../../src/util/errors.ts';

// Primary configs and option files written on the fly: the defaults list's own rules and file errors.
const ROOT = join(import.meta.dirname, '..', '..');
const BUILTIN = join(ROOT, 'configs');
const tmpRoot = mkdtempSync(join(tmpdir(), 'synehr-primary-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;

function configRoot(files: Record<string, string>): string {
  const dir = join(tmpRoot, `c${n++}`);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return dir;
}

function failure(fn: () => unknown): SynehrError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SynehrError) return e;
    throw e;
  }
  throw new Error('expected a SynehrError');
}

const PARTIAL = 'defaults:\n  - data: physionet2012\n  - model: gpt-tiny\n';

describe('the defaults list', () => {
  it('+group=option adds a group the list lacks; group=option on it is an error that says to use +', () => {
    const dir = configRoot({ 'config.yaml': PARTIAL, 'eval/strict.yaml': 'k: 9\n' });
    const added = compose({ searchPath: [dir, BUILTIN], overrides: ['+eval=strict'] });
    expect(added.choices.eval).toBe('strict');
    expect(added.config.eval.k).toBe(9);
    // a group outside the list still gets its schema defaults
    const plain = compose({ searchPath: [dir, BUILTIN], overrides: [] });
    expect(plain.choices.eval).toBeUndefined();
    expect(plain.config.eval).toEqual(evalConfigSchema.parse({}));
    expect(failure(() => compose({ searchPath: [dir, BUILTIN], overrides: ['eval=strict'] })).message).toBe(
      "cannot choose an option for config group 'eval' ('eval=strict'): it is not in the defaults list; use +eval=strict to add it",
    );
    expect(compose({ searchPath: [dir, BUILTIN], overrides: ['++eval=strict'] }).config.eval.k).toBe(9);
  });

  it('_self_ first: the option files win over config.yaml\'s own keys', () => {
    const first = configRoot({ 'config.yaml': 'defaults:\n  - _self_\n  - data: physionet2012\n  - model: gpt-tiny\nmodel:\n  n_ctx: 5\n' });
    const last = configRoot({ 'config.yaml': 'defaults:\n  - data: physionet2012\n  - model: gpt-tiny\nmodel:\n  n_ctx: 5\n' });
    expect(compose({ searchPath: [first, BUILTIN], overrides: [] }).config.model.n_ctx).toBe(64);
    expect(compose({ searchPath: [last, BUILTIN], overrides: [] }).config.model.n_ctx).toBe(5);
  });

  it('EXPECTED FAILURE - an unknown group in the defaults list', () => {
    const dir = configRoot({ 'config.yaml': 'defaults:\n  - modle: gpt\n' });
    expect(failure(() => compose({ searchPath: [dir], overrides: [] })).message).toBe(
      `unknown config key 'modle' = "gpt" (defaults list in ${join(dir, 'config.yaml')}); did you mean 'model'? allowed top-level keys: data, tokenizer, model, train, generate, eval, tracking, load`,
    );
  });

  it('EXPECTED FAILURE - a malformed defaults entry, an unknown top-level key in config.yaml', () => {
    const a = configRoot({ 'config.yaml': 'defaults:\n  - [data, x]\n' });
    expect(failure(() => compose({ searchPath: [a], overrides: [] })).message).toBe(
      `${join(a, 'config.yaml')}: a defaults entry is '_self_' or 'group: option', got ["data","x"]`,
    );
    const b = configRoot({ 'config.yaml': `${PARTIAL}sed: 1\n` });
    expect(failure(() => compose({ searchPath: [b, BUILTIN], overrides: [] })).message).toMatch(
      /^unknown config key 'sed' = 1 \(in .*config\.yaml\); did you mean 'seed'\? allowed top-level keys: run_name, seed, /,
    );
  });

  it('EXPECTED FAILURE - YAML errors name the file; a list where a mapping belongs', () => {
    const dir = configRoot({ 'config.yaml': PARTIAL, 'model/broken.yaml': 'n_ctx: [1,\n', 'model/list.yaml': '- 1\n' });
    const broken = failure(() => compose({ searchPath: [dir, BUILTIN], overrides: ['model=broken'] }));
    expect(broken.code).toBe('E_CONFIG_FILE');
    expect(broken.message.startsWith(`YAML error in ${join(dir, 'model', 'broken.yaml')}: `)).toBe(true);
    expect(failure(() => compose({ searchPath: [dir, BUILTIN], overrides: ['model=list'] })).message).toBe(
      `${join(dir, 'model', 'list.yaml')}: expected a mapping of keys at the top, got a list`,
    );
  });

  it('a config root earlier on the search path shadows a built-in option file', () => {
    const dir = configRoot({ 'model/gpt.yaml': 'name: my-gpt\nn_embd: 64\n' });
    const { config, files } = compose({ searchPath: [dir, BUILTIN], overrides: ['model=gpt'] });
    expect(config.model).toMatchObject({ name: 'my-gpt', n_embd: 64 });
    expect(files).toContain(join(dir, 'model', 'gpt.yaml'));
    expect(files).not.toContain(join(BUILTIN, 'model', 'gpt.yaml'));
    // config.yaml still comes from the built-in root, the first that has one
    expect(files[0]).toBe(join(BUILTIN, 'config.yaml'));
  });

  it('EXPECTED FAILURE - no config.yaml anywhere on the search path', () => {
    const dir = configRoot({ 'model/x.yaml': 'n_ctx: 1\n' });
    expect(failure(() => compose({ searchPath: [dir], overrides: [] })).message).toBe(`no config.yaml in the config search path: ${dir}`);
  });
});
