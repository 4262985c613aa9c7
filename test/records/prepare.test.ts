import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareData } from '../../src/cli/commands/prepare.ts';
import { readDataConfigFile } from '../../src/records/dataConfig.ts';
import { readSplit } from '../../src/records/split.ts';
import { readRecords } from '../../src/records/tables.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function physionetFixture(root?: string) {
  const data = await readDataConfigFile(join(ROOT, 'configs/data/physionet2012.yaml'));
  return { ...data, root: root ?? join(ROOT, 'test/fixtures/physionet2012'), options: { ...data.options, records: 'set-a.tar.gz' } };
}

describe('prepareData', () => {
  it('writes the four tables, split, summary and data config; records read back equal the loaded ones', async () => {
    const out = await mkdtemp(join(tmpdir(), 'synehr-prep-'));
    dirs.push(out);
    const logs: string[] = [];
    const data = await physionetFixture();
    const dir = join(out, 'processed/physionet2012');
    const res = await prepareData(data, { resolvePath: (p) => resolve(ROOT, p), outDir: dir, log: (m) => logs.push(m) });
    expect((await readdir(dir)).sort()).toEqual(['admissions.parquet', 'codes.parquet', 'data.json', 'events.parquet', 'patients.parquet', 'split.json', 'summary.json']);
    expect(await readdir(join(out, 'processed'))).toEqual(['physionet2012']);
    expect(res.counts).toEqual({ patients: 2, admissions: 2, codes: 0, events: 268 });
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ patients: 2, measurements: 268, issues: { tolerated: { empty_patient: { count: 1 } } } });
    // HCT: one value in each record (132539 has 3, 139060 has 1)
    expect(summary.variables.HCT).toMatchObject({ count: 4, patients: 2, missing: 0 });
    expect(summary.variables.ALP).toMatchObject({ count: 0, patients: 0, missing: 1 });
    expect(summary.covariates.height).toMatchObject({ count: 0, missing: 1 });
    const split = await readSplit(dir);
    expect([...split.train, ...split.val, ...split.test].sort()).toEqual(['132539', '139060']);
    expect(split.stratified_by).toBe('in_hospital_death');
    const back = await readRecords(dir);
    expect(back.map((r) => r.id)).toEqual(['132539', '139060']);
    expect(back[0]!.admissions[0]!.events).toHaveLength(267);
    expect(logs.join('\n')).toMatch(/physionet2012: 2 patients, 2 admissions, 0 codes \(0 distinct\), 268 measurements/);
  });

  it('EXPECTED FAILURE - a bad input leaves the previous output untouched and no temporary folder', async () => {
    const out = await mkdtemp(join(tmpdir(), 'synehr-prep-'));
    dirs.push(out);
    const dir = join(out, 'p');
    await prepareData(await physionetFixture(), { resolvePath: (p) => resolve(ROOT, p), outDir: dir });
    const before = await readFile(join(dir, 'events.parquet'));
    const src = join(out, 'src');
    await cp(join(ROOT, 'test/fixtures/physionet2012'), src, { recursive: true });
    await writeFile(join(src, 'set-a/139060.txt'), 'Time,Parameter,Value\n00:00,RecordID,139060\n01:00,HR,fast\n');
    const bad = { ...(await physionetFixture(src)), options: { ...(await physionetFixture()).options, records: 'set-a' } };
    await expect(prepareData(bad, { resolvePath: (p) => resolve(ROOT, p), outDir: dir })).rejects.toThrow(/139060\.txt:3: HR: value "fast" is not a number/);
    expect(await readFile(join(dir, 'events.parquet'))).toEqual(before);
    expect((await readdir(out)).sort()).toEqual(['p', 'src']);
  });

  it('the temporary folder of a prepare that was killed is removed; one of a running prepare is left alone', async () => {
    const out = await mkdtemp(join(tmpdir(), 'synehr-prep-'));
    dirs.push(out);
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    await mkdir(join(out, `p.tmp-${gone}`));
    await mkdir(join(out, `p.old-${gone}`));
    await mkdir(join(out, `p.tmp-${process.ppid}`)); // a live process's
    await prepareData(await physionetFixture(), { resolvePath: (p) => resolve(ROOT, p), outDir: join(out, 'p') });
    expect((await readdir(out)).sort()).toEqual(['p', `p.tmp-${process.ppid}`]);
  });

  it('data.export_csv adds CSV copies of the four tables', async () => {
    const out = await mkdtemp(join(tmpdir(), 'synehr-prep-'));
    dirs.push(out);
    await prepareData({ ...(await physionetFixture()), export_csv: true }, { resolvePath: (p) => resolve(ROOT, p), outDir: out + '/p' });
    expect((await readdir(join(out, 'p/csv'))).sort()).toEqual(['admissions.csv', 'codes.csv', 'events.csv', 'patients.csv']);
    const events = (await readFile(join(out, 'p/csv/events.csv'), 'utf8')).trim().split('\n');
    expect(events).toHaveLength(1 + 268);
    expect(events[1]).toBe(`132539,${7 / 60},GCS,15,`);
  });

  it('writes CSV tables on request', async () => {
    const out = await mkdtemp(join(tmpdir(), 'synehr-prep-'));
    dirs.push(out);
    await prepareData(await physionetFixture(), { resolvePath: (p) => resolve(ROOT, p), outDir: out + '/csv', format: 'csv' });
    const patients = await readFile(join(out, 'csv/patients.csv'), 'utf8');
    expect(patients.split('\n')[0]).toBe('patient_id,age,gender,height,icu_type,weight,in_hospital_death,length_of_stay,survival');
    expect(patients.split('\n')[1]).toBe('132539,54,female,,surgical,,0,5,');
  });
});

describe('synehr prepare (the command)', () => {
  it('prepares the embedded long-format example from a fresh working directory', async () => {
    const { spawnSync } = await import('node:child_process');
    const cwd = await mkdtemp(join(tmpdir(), 'synehr-cli-'));
    dirs.push(cwd);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/synehr.js'), 'prepare', 'data=long_example'], { cwd, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/long_example: 3 patients, 4 admissions, 4 codes \(3 distinct\), 10 measurements/);
    const dir = join(cwd, 'data/processed/long_example');
    expect((await readRecords(dir)).map((p) => p.id)).toEqual(['p001', 'p002', 'p003']);
  });

  it('EXPECTED FAILURE - a missing data.root prints one line and exits non-zero', async () => {
    const { spawnSync } = await import('node:child_process');
    const cwd = await mkdtemp(join(tmpdir(), 'synehr-cli-'));
    dirs.push(cwd);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/synehr.js'), 'prepare', 'data=physionet2012', 'data.root=/nonexistent'], { cwd, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^synehr: error: \/nonexistent: data\.root is not a directory \(data=physionet2012; set data\.root=PATH to where the physionet2012 files are\)$/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
