import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { compose } from '../../src/config/compose.ts';
import {
  checkRunName,
  createModelRunDir,
  createOutputsDir,
  defaultRunName,
  listRuns,
} from '../../src/config/runDir.ts';
import { writeFileAtomic } from '../../src/util/files.ts';
import type { SynehrConfig } from '../../src/config/types.ts';
import { SynehrError } from '../../src/util/errors.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SP = [join(ROOT, 'test', 'fixtures', 'config', 'basic'), join(ROOT, 'configs')];
const tmpRoot = mkdtempSync(join(tmpdir(), 'synehr-rundir-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;
const work = () => {
  const d = join(tmpRoot, `w${n++}`);
  return d;
};

function cfg(overrides: string[]): SynehrConfig {
  return compose({ searchPath: SP, overrides }).config;
}

describe('saved_models/<run_name>/', () => {
  it('holds the resolved config.yaml, which composes back to the same config, and overrides.yaml', async () => {
    const w = work();
    const config = cfg(['run_name=r1', 'model.n_ctx=96']);
    const dir = await createModelRunDir(w, config, ['run_name=r1', 'model.n_ctx=96']);
    expect(dir).toBe(join(w, 'saved_models', 'r1'));
    const saved = YAML.parse(readFileSync(join(dir, 'config.yaml'), 'utf8'));
    expect(saved).toEqual(config);
    // round trip: the saved file as a base composes to the same config
    expect(compose({ searchPath: SP, base: saved, overrides: [] }).config).toEqual(config);
    expect(YAML.parse(readFileSync(join(dir, 'overrides.yaml'), 'utf8'))).toEqual(['run_name=r1', 'model.n_ctx=96']);
    expect(readdirSync(dir).sort()).toEqual(['config.yaml', 'overrides.yaml']); // no temp files left
    expect(await listRuns(w)).toEqual(['r1']);
  });

  it('EXPECTED FAILURE - a name in use is refused; resume keeps the files, overwrite empties the folder', async () => {
    const w = work();
    await createModelRunDir(w, cfg(['run_name=r']), []);
    writeFileSync(join(w, 'saved_models', 'r', 'model.safetensors'), 'weights');
    await expect(createModelRunDir(w, cfg(['run_name=r']), [])).rejects.toThrow(
      new SynehrError(
        'E_RUN_EXISTS',
        `run 'r' exists (${join(w, 'saved_models', 'r')}); pass resume=true to continue it, overwrite=true to replace it, or choose another run_name`,
      ),
    );
    await createModelRunDir(w, cfg(['run_name=r', 'resume=true', 'seed=3']), ['resume=true']);
    expect(existsSync(join(w, 'saved_models', 'r', 'model.safetensors'))).toBe(true);
    expect(YAML.parse(readFileSync(join(w, 'saved_models', 'r', 'config.yaml'), 'utf8')).seed).toBe(3);
    await createModelRunDir(w, cfg(['run_name=r', 'overwrite=true']), ['overwrite=true']);
    expect(readdirSync(join(w, 'saved_models', 'r')).sort()).toEqual(['config.yaml', 'overrides.yaml']);
  });

  it('two processes racing for one new name: exactly one wins', async () => {
    const w = work();
    const results = await Promise.allSettled([createModelRunDir(w, cfg(['run_name=race']), []), createModelRunDir(w, cfg(['run_name=race']), [])]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('EXPECTED FAILURE - a run name is one folder name', () => {
    for (const bad of ['../x', 'a/b', '.hidden', '-x', '']) {
      expect(() => checkRunName(bad)).toThrow(
        `config key 'run_name' = ${JSON.stringify(bad)}: expected one folder name (letters, digits, _ . + -, not starting with . or -)`,
      );
    }
    expect(() => checkRunName('mimic3_gpt-small_20261123-150405')).not.toThrow();
  });

  it('the default name is <data>_<model>_<date>-<time>', () => {
    expect(defaultRunName(cfg([]), new Date(2026, 10, 23, 15, 4, 5))).toBe('tiny_small_20261123-150405');
  });
});

describe('outputs/<date>/<time>/', () => {
  it('one folder per run, _1 on a clash within the second, /<job> under a multirun', async () => {
    const w = work();
    const now = new Date(2026, 10, 23, 9, 8, 7);
    const a = await createOutputsDir(w, cfg([]), ['seed=1'], now);
    const b = await createOutputsDir(w, cfg([]), [], now);
    const j = await createOutputsDir(w, cfg([]), [], now, { index: 1, count: 2 });
    expect([a, b, j]).toEqual([
      join(w, 'outputs', '2026-11-23', '09-08-07'),
      join(w, 'outputs', '2026-11-23', '09-08-07_1'),
      join(w, 'outputs', '2026-11-23', '09-08-07', '1'),
    ]);
    expect(YAML.parse(readFileSync(join(a, 'overrides.yaml'), 'utf8'))).toEqual(['seed=1']);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole and leaves no temp file', async () => {
    const w = work();
    const f = join(w, 'sub', 'x.txt');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(readdirSync(join(w, 'sub'))).toEqual(['x.txt']);
  });
});
