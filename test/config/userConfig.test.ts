import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverUserConfig, loadUserConfig } from '../../src/config/userConfig.ts';
import { compose } from '../../src/config/compose.ts';
import { SynehrError } from '../../src/util/errors.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const tmpRoot = mkdtempSync(join(tmpdir(), 'synehr-usercfg-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

let n = 0;
/** A fresh project folder (package.json stops cosmiconfig's upward search there). */
function project(files: Record<string, string>, packageJson: object = { name: 'p' }): string {
  const dir = join(tmpRoot, `p${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const CASES: [string, string][] = [
  ['synehr.config.ts', "const paths: string[] = ['my-configs'];\nexport default { config_paths: paths, overrides: ['seed=11'] };\n"],
  ['synehr.config.js', "export default { config_paths: ['my-configs'], overrides: ['seed=11'] };\n"],
  ['synehr.config.mjs', "export default { config_paths: ['my-configs'], overrides: ['seed=11'] };\n"],
  ['synehr.config.cjs', "module.exports = { config_paths: ['my-configs'], overrides: ['seed=11'] };\n"],
  ['synehr.config.json', '{ "config_paths": ["my-configs"], "overrides": ["seed=11"] }\n'],
  ['synehr.config.yaml', 'config_paths: [my-configs]\noverrides: [seed=11]\n'],
  ['.synehrrc', 'config_paths: [my-configs]\noverrides: [seed=11]\n'],
  ['.synehrrc.json', '{ "searchPath": "my-configs", "overrides": { "seed": 11 } }\n'],
  ['.synehrrc.yaml', 'searchPath: my-configs\noverrides: { seed: 11 }\n'],
  ['.synehrrc.ts', "export default { config_paths: ['my-configs'], overrides: { seed: 11 } satisfies Record<string, number> };\n"],
  ['.config/synehrrc.json', '{ "config_paths": ["../my-configs"], "overrides": ["seed=11"] }\n'],
];

describe('cosmiconfig discovery, one file kind each', () => {
  for (const [file, text] of CASES) {
    it(file, async () => {
      const dir = project({ [file]: text });
      const sub = join(dir, 'src', 'deep');
      mkdirSync(sub, { recursive: true });
      const found = await discoverUserConfig(sub); // searched upward from a subfolder
      expect(found).toEqual({ filepath: join(dir, file), configPaths: [join(dir, 'my-configs')], overrides: ['seed=11'] });
    });
  }
  it('synehr.config.ts in an ES module package ("type": "module")', async () => {
    const dir = project({ 'synehr.config.ts': "export default { overrides: ['seed=12'] as string[] };\n" }, { name: 'p', type: 'module' });
    expect(await discoverUserConfig(dir)).toEqual({ filepath: join(dir, 'synehr.config.ts'), configPaths: [], overrides: ['seed=12'] });
  });
  it('package.json#synehr', async () => {
    const dir = project({}, { name: 'p', synehr: { config_paths: ['cfg'], overrides: ['model=gpt'] } });
    expect(await discoverUserConfig(dir)).toEqual({ filepath: join(dir, 'package.json'), configPaths: [join(dir, 'cfg')], overrides: ['model=gpt'] });
  });
  it('none: null', async () => {
    expect(await discoverUserConfig(project({}))).toBeNull();
  });
  it('a mapping of overrides keeps values as given: a string with a comma is not a sweep', async () => {
    const dir = project({ '.synehrrc.json': '{ "overrides": { "run_name": "a,b", "generate.formats": ["csv"] } }' });
    expect((await discoverUserConfig(dir))!.overrides).toEqual(['run_name="a,b"', 'generate.formats=["csv"]']);
  });
});

describe('a user config dir holds its own data option, searched before the built-in configs', () => {
  it('composes data=mydata from outside the package, with the user overrides first', async () => {
    const dir = project({
      'synehr.config.yaml': 'config_paths: [configs]\noverrides: [data=mydata, model=gpt-tiny]\n',
      'configs/data/mydata.yaml': 'name: mydata\nloader: long\nroot: raw/mydata\n',
    });
    const user = (await discoverUserConfig(dir))!;
    const { config } = compose({ searchPath: [...user.configPaths, join(ROOT, 'configs')], overrides: [...user.overrides, 'model.n_ctx=32'] });
    expect(config.data).toMatchObject({ name: 'mydata', loader: 'long', processed_dir: 'data/processed/mydata' });
    expect(config.model).toMatchObject({ name: 'gpt-tiny', n_ctx: 32 });
  });
});

describe('EXPECTED FAILURE - user config errors name the file', () => {
  it('an unknown key, with did-you-mean', async () => {
    const dir = project({ '.synehrrc.json': '{ "overides": [] }' });
    await expect(discoverUserConfig(dir)).rejects.toThrow(
      new SynehrError('E_CONFIG_KEY', `unknown key 'overides' in ${join(dir, '.synehrrc.json')}; did you mean 'overrides'? allowed keys: config_paths, searchPath, overrides`),
    );
  });
  it('a wrong type', async () => {
    const dir = project({ 'synehr.config.json': '{ "overrides": 3 }' });
    const err = await discoverUserConfig(dir).catch((e: unknown) => e as SynehrError);
    expect((err as SynehrError).message).toMatch(new RegExp(`^${join(dir, 'synehr.config.json').replace(/[.]/g, '\\.')}: 'overrides' `));
  });
  it('broken YAML', async () => {
    const dir = project({ '.synehrrc.yaml': 'overrides: [a\n' });
    const err = (await discoverUserConfig(dir).catch((e: unknown) => e)) as SynehrError;
    expect(err).toBeInstanceOf(SynehrError);
    expect(err.message).toContain('cannot load the synehr user config');
    expect(err.message).toContain('.synehrrc.yaml');
  });
  it('--config-file loads an explicit file', async () => {
    const dir = project({ 'elsewhere/my.yaml': 'overrides: [seed=5]\n' });
    expect(await loadUserConfig(join(dir, 'elsewhere/my.yaml'))).toEqual({ filepath: join(dir, 'elsewhere/my.yaml'), configPaths: [], overrides: ['seed=5'] });
  });
});
