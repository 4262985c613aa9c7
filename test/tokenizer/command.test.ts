import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/commands/tokenize.ts';
import type { CommandContext } from '../../src/cli/context.ts';
import type { SynehrConfig } from '../../src/config/types.ts';
import { writeRecordTables } from '../../src/records/tables.ts';
import { splitPatients } from '../../src/records/split.ts';
import { loadTokenizer } from '../../src/tokenizer/file.ts';
import { readTokenShard, shardPatient } from '../../src/tokenizer/shards.ts';
import { fixturePatients, physionetDataConfig } from './physionet.ts';
import { tokCfg } from './helpers.ts';

function fakeContext(workDir: string, processed: string, logs: string[]): CommandContext {
  const config = {
    data: { ...physionetDataConfig, processed_dir: processed },
    tokenizer: tokCfg(),
  } as unknown as SynehrConfig;
  return {
    command: 'tokenize',
    args: [],
    flags: {},
    job: { index: 0, count: 1 },
    config,
    overrides: [`data=${physionetDataConfig.name}`],
    workDir,
    packageRoot: workDir,
    resolvePath: (p) => join(workDir, p),
    runDir: async () => {
      throw new Error('tokenize needs no run directory');
    },
    log: (m) => logs.push(m),
  };
}

describe('synehr tokenize (command)', () => {
  it('reads prepared tables and split.json, writes tokenizer/<data>/tokenizer.json and data/processed/<data>/tokens/', async () => {
    const work = mkdtempSync(join(tmpdir(), 'synehr-tokcmd-'));
    const processed = 'data/processed/fx';
    const patients = fixturePatients();
    await writeRecordTables(join(work, processed), patients, physionetDataConfig);
    const strata = new Map(patients.map((p) => [p.id, p.labels.in_hospital_death]));
    const split = splitPatients(patients.map((p) => p.id), strata, { train: 0.7, val: 0.15, test: 0.15 }, 42, 'in_hospital_death');
    writeFileSync(join(work, processed, 'split.json'), JSON.stringify(split));
    writeFileSync(join(work, processed, 'data.json'), JSON.stringify({ ...physionetDataConfig, processed_dir: processed }));

    const logs: string[] = [];
    await run(fakeContext(work, processed, logs));

    const tok = loadTokenizer(join(work, 'tokenizer', physionetDataConfig.name, 'tokenizer.json'));
    tok.checkDataConfig(physionetDataConfig);
    const byId = new Map(patients.map((p) => [p.id, p]));
    for (const name of ['train', 'val', 'test'] as const) {
      const shard = readTokenShard(join(work, processed, 'tokens', `${name}.bin`));
      expect(shard.patientIds).toEqual(split[name]);
      shard.patientIds.forEach((id, i) => {
        expect(Array.from(shardPatient(shard, i))).toEqual(Array.from(tok.encodePatient(byId.get(id)!, { unknown: 'drop' })));
      });
    }
    expect(existsSync(join(work, processed, 'tokens', 'report.json'))).toBe(true);
    const text = logs.join('\n');
    expect(text).toMatch(/tokenizer for 'physionet2012-fixture': \d+ tokens/);
    expect(text).toMatch(/^train\s+28\s/m);
  });

  it('EXPECTED FAILURE - tables prepared under another data config (data.json) are refused', async () => {
    const work = mkdtempSync(join(tmpdir(), 'synehr-tokcmd-'));
    const processed = 'data/processed/fx';
    mkdirSync(join(work, processed), { recursive: true });
    const other = { ...physionetDataConfig, variables: physionetDataConfig.variables.slice(1) };
    writeFileSync(join(work, processed, 'data.json'), JSON.stringify(other));
    await expect(run(fakeContext(work, processed, []))).rejects.toMatchObject({
      name: 'SynehrError',
      code: 'E_MISMATCH',
      message: expect.stringMatching(/data\/processed\/fx was prepared with another data config than data=physionet2012-fixture \(it differs in variables\); rerun `synehr prepare data=physionet2012-fixture`/),
    });
  });

  it('EXPECTED FAILURE - no prepared data: names the missing split.json and the command to run', async () => {
    const work = mkdtempSync(join(tmpdir(), 'synehr-tokcmd-'));
    await expect(run(fakeContext(work, 'data/processed/none', []))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_MISSING', message: expect.stringMatching(/split\.json: missing; run `synehr prepare` first/) });
  });
});
