/** Reading a data config file directly (tests, benchmarks, notebooks): every mistake a one-line SynehrError. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDataConfigFile } from '../../src/records/dataConfig.ts';
import { SynehrError } from '../../src/util/errors.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synehr-dataconfig-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function refusal(text: string | null): Promise<SynehrError> {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  if (text !== null) await writeFile(file, text);
  const e = await readDataConfigFile(file).catch((err: unknown) => err);
  expect(e).toBeInstanceOf(SynehrError);
  expect((e as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  expect((e as Error).message).not.toContain('\n');
  return e as SynehrError;
}

describe('readDataConfigFile', () => {
  it('EXPECTED FAILURE - defect 10: a missing file, broken YAML, a list, a wrong type and an unknown key are SynehrErrors naming the file', async () => {
    expect(await refusal(null)).toMatchObject({ code: 'E_CONFIG_FILE', message: expect.stringContaining('cannot read the data config') });
    expect(await refusal('name: [unclosed')).toMatchObject({ code: 'E_CONFIG_FILE', message: expect.stringContaining('not valid YAML') });
    expect(await refusal('- a\n- b\n')).toMatchObject({ code: 'E_CONFIG_FILE', message: expect.stringContaining('a data config is a mapping of keys') });
    expect(await refusal('name: x\nloader: long\nroot: .\nsplit: { train: "most" }\n')).toMatchObject({ code: 'E_CONFIG_TYPE', message: expect.stringContaining(': data.split.train: ') });
    expect(await refusal('name: x\nloader: long\nroot: .\ncovariate: []\n')).toMatchObject({ code: 'E_CONFIG_KEY', message: expect.stringContaining('(covariate)') });
  });
});
