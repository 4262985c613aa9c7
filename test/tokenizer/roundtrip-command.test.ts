import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/commands/roundtrip.ts';
import type { CommandContext } from '../../src/cli/context.ts';
import type { SynehrConfig } from '../../src/config/types.ts';
import { writeRecordTables } from '../../src/records/tables.ts';
import { splitPatients } from '../../src/records/split.ts';
import { evalConfigSchema } from '../../src/evaluate/config.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { fixturePatients, physionetDataConfig } from './physionet.ts';
import { tokCfg } from './helpers.ts';

async function prepared(): Promise<{ work: string; processed: string }> {
  const work = mkdtempSync(join(tmpdir(), 'synehr-rtcmd-'));
  const processed = 'data/processed/fx';
  const patients = fixturePatients();
  await writeRecordTables(join(work, processed), patients, physionetDataConfig);
  const strata = new Map(patients.map((p) => [p.id, p.labels.in_hospital_death]));
  writeFileSync(join(work, processed, 'split.json'), JSON.stringify(splitPatients(patients.map((p) => p.id), strata, { train: 0.5, val: 0.25, test: 0.25 }, 42, 'in_hospital_death')));
  return { work, processed };
}

function context(work: string, processed: string, split: 'val' | 'test', logs: string[]): CommandContext {
  const config = {
    data: { ...physionetDataConfig, processed_dir: processed },
    tokenizer: tokCfg(),
    eval: evalConfigSchema.parse({ roundtrip_split: split, k: 3, cv_folds: 2, boosting: { trees: 10, depth: 2, learning_rate: 0.3, bins: 8 } }),
  } as unknown as SynehrConfig;
  return {
    command: 'roundtrip',
    args: [],
    flags: {},
    job: { index: 0, count: 1 },
    config,
    overrides: [],
    workDir: work,
    packageRoot: work,
    resolvePath: (p) => join(work, p),
    runDir: async () => {
      throw new Error('roundtrip needs no run directory');
    },
    log: (m) => logs.push(m),
  };
}

describe('synehr roundtrip (command)', () => {
  it("writes roundtrip/metrics.json with evaluate's row keys and the per-field table, and report.html with it", async () => {
    const { work, processed } = await prepared();
    const logs: string[] = [];
    await run(context(work, processed, 'test', logs));
    const m = JSON.parse(readFileSync(join(work, processed, 'roundtrip', 'metrics.json'), 'utf8'));
    const keys = m.rows.map((r: { key: string }) => r.key);
    for (const k of ['detection/auc_boosting', 'detection/auc_logistic', 'fidelity/prdc_precision', 'fidelity/gap_ks_complement']) expect(keys).toContain(k);
    expect(m.roundtrip.split).toBe('test');
    expect(m.roundtrip.patients).toBe(10);
    const hr = m.roundtrip.rows.find((r: { field: string }) => r.field === 'var:HR');
    expect(hr.n).toBeGreaterThan(100);
    expect(hr.sd_ratio).toBeGreaterThan(0.8);
    expect(hr.sd_ratio).toBeLessThan(1.25);
    const html = readFileSync(join(work, processed, 'roundtrip', 'report.html'), 'utf8');
    expect(html).toContain('Round trip per field');
    expect(html).toContain('var:HR');
    expect(logs.join('\n')).toMatch(/roundtrip: 10 test patients encoded and decoded by a tokenizer of \d+ tokens fitted on 20 train/);
  });

  it('EXPECTED FAILURE - no prepared data names what to run', async () => {
    await expect(run(context(mkdtempSync(join(tmpdir(), 'synehr-rtcmd-')), 'data/processed/none', 'val', []))).rejects.toThrow(SynehrError);
    await expect(run(context(mkdtempSync(join(tmpdir(), 'synehr-rtcmd-')), 'data/processed/none', 'val', []))).rejects.toThrow(/split\.json missing\); run `synehr prepare data=physionet2012-fixture` first/);
  });
});
