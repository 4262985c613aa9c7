import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { main, PACKAGE_ROOT } from '../../src/cli/main.ts';
import { compose } from '../../src/config/compose.ts';
import { writeRecordTables } from '../../src/records/tables.ts';
import { toyData, toyRecords } from './toy.ts';
import { fixtureManifest } from '../load/fixtures.ts';
import type { PatientRecord } from '../../src/records/types.ts';

const data = { ...toyData, processed_dir: 'data/processed/toy' };

/** Synthetic tables as `synehr generate` leaves them: the four tables and a complete manifest. */
async function writeGenerated(dir: string, records: PatientRecord[]): Promise<void> {
  const counts = await writeRecordTables(dir, records, data);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(fixtureManifest({ ...counts }, data)));
}

/** A working directory with prepared toy data, a trained run's config.yaml and its synthetic tables. */
async function workspace(withSynthetic: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'synehr-evalcmd-'));
  const real = [...toyRecords(160, 1), ...toyRecords(60, 2)];
  await writeRecordTables(join(dir, 'data/processed/toy'), real, data);
  const split = { seed: 1, ratios: { train: 0.7, val: 0, test: 0.3 }, stratified_by: null, train: real.slice(0, 160).map((r) => r.id), val: [], test: real.slice(160).map((r) => r.id) };
  await writeFile(join(dir, 'data/processed/toy/split.json'), JSON.stringify(split));
  if (withSynthetic) await writeGenerated(join(dir, 'data/synthetic/run1'), toyRecords(150, 3));
  const { config } = compose({ searchPath: [join(PACKAGE_ROOT, 'configs')], overrides: ['run_name=run1'] });
  await mkdir(join(dir, 'saved_models/run1'), { recursive: true });
  await writeFile(join(dir, 'saved_models/run1/config.yaml'), YAML.stringify({ ...config, data }));
  return dir;
}

describe('synehr evaluate', () => {
  it('reads the processed splits and the synthetic tables, writes eval/metrics.json and report.html, prints the table', async () => {
    const dir = await workspace(true);
    try {
      let err = '';
      const code = await main(['evaluate', 'model=run1', 'eval.cv_folds=3', 'eval.boosting.trees=20', 'eval.bootstrap=200'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) });
      expect(code, err).toBe(0);
      const metrics = JSON.parse(await readFile(join(dir, 'saved_models/run1/eval/metrics.json'), 'utf8'));
      expect(metrics.meta.sizes).toMatchObject({ train: 160, test: 60, synthetic: 150, floor: 150 });
      expect(metrics.meta.bootstrap.replicates).toBe(200);
      const tstr = metrics.rows.find((r: { key: string }) => r.key === 'utility/death/boosting/tstr_auroc');
      expect(tstr.ci.synthetic).toEqual([expect.any(Number), expect.any(Number)]);
      expect(err).toContain('evaluate: bootstrap intervals (200 replicates)');
      expect(err).toMatch(/\n  95% interval \(bootstrap\) +\| +\[0\.\d{3}, [01]\.\d{3}\] \|/);
      expect(existsSync(join(dir, 'saved_models/run1/eval/report.html'))).toBe(true);
      expect(err).toMatch(/metric\s+\|\s+synthetic \|\s+ceiling \|\s+floor/);
      expect(err).toContain('report.html');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('EXPECTED FAILURE - no synthetic records: one line naming the folder and the command to run', async () => {
    const dir = await workspace(false);
    try {
      let err = '';
      const code = await main(['evaluate', 'model=run1'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) });
      expect(code).toBe(2);
      expect(err).toBe(`synehr: error: ${join(dir, 'data/synthetic/run1')}: no synthetic records; run \`synehr generate model=run1\` first, or point eval.synthetic at a folder of the four tables\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('synthetic=<dir> (SynEHRgy-style, a command key) points evaluate at another folder', async () => {
    const dir = await workspace(false);
    try {
      await writeGenerated(join(dir, 'elsewhere'), toyRecords(40, 4));
      let err = '';
      const code = await main(['evaluate', 'model=run1', 'synthetic=elsewhere', 'eval.cv_folds=3', 'eval.boosting.trees=20'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) });
      expect(code, err).toBe(0);
      const metrics = JSON.parse(await readFile(join(dir, 'saved_models/run1/eval/metrics.json'), 'utf8'));
      expect(metrics.meta.sizes.synthetic).toBe(40);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('EXPECTED FAILURE - a negative eval.bootstrap is refused by name before anything is read', async () => {
    const dir = await workspace(true);
    try {
      let err = '';
      const code = await main(['evaluate', 'model=run1', 'eval.bootstrap=-5'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) });
      expect(code).toBe(2);
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err).toMatch(/eval\.bootstrap/);
      expect(err).toMatch(/-5/);
      expect(existsSync(join(dir, 'saved_models/run1/eval/metrics.json'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('defect 5: generate.out_dir names the synthetic folder for evaluate too', async () => {
    const dir = await workspace(false);
    try {
      await writeGenerated(join(dir, 'out', 'gen'), toyRecords(45, 5));
      let err = '';
      const code = await main(['evaluate', 'model=run1', 'generate.out_dir=out/gen', 'eval.cv_folds=3', 'eval.boosting.trees=20'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) });
      expect(code, err).toBe(0);
      const metrics = JSON.parse(await readFile(join(dir, 'saved_models/run1/eval/metrics.json'), 'utf8'));
      expect(metrics.meta.sizes.synthetic).toBe(45);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('EXPECTED FAILURE - defect 3: a synthetic folder with duplicated patient ids, or without its manifest, is refused, not deduplicated', async () => {
    const dir = await workspace(false);
    try {
      const syn = join(dir, 'data/synthetic/run1');
      const records = toyRecords(50, 6);
      // 24 patients written twice, as a resume with another batch size used to leave them
      await writeGenerated(syn, [...records, ...records.slice(0, 24)]);
      let err = '';
      const code = await main(['evaluate', 'model=run1'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) });
      expect(code).toBe(2);
      expect(err).toMatch(/^synehr: error: refused: the tables fail the key check: .*patients\.parquet: primary key \(patient_id\) violated in 24 rows/);
      await rm(join(syn, 'manifest.json'));
      err = '';
      expect(await main(['evaluate', 'model=run1'], { cwd: dir, stdout: () => {}, stderr: (s) => (err += s) })).toBe(2);
      expect(err).toBe(`synehr: error: ${join(syn, 'manifest.json')}: missing, so the folder is not a finished generation (an interrupted one continues with \`synehr generate ... resume=true\`)\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
