import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { dataConfigSchema } from '../../src/records/dataConfig.ts';
import { readRecords, streamRecords, writeRecordTables } from '../../src/records/tables.ts';
import type { PatientRecord } from '../../src/records/types.ts';

const data = dataConfigSchema.parse({
  name: 't',
  loader: 'long',
  root: '.',
  covariates: [
    { name: 'age', type: 'numeric' },
    { name: 'gender', type: 'categorical' },
  ],
  labels: [{ name: 'death', main: true }, { name: 'los' }],
  code_systems: ['ICD9'],
  variables: [
    { name: 'HR', type: 'continuous' },
    { name: 'GCS', type: 'categorical' },
  ],
});

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synehr-tables-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const text = fc.string({ minLength: 0, maxLength: 12 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const admission = (pid: string, k: number) =>
  fc.record({
    codes: fc.array(fc.string({ minLength: 1, maxLength: 6 }).map((s) => `ICD9:${s}`), { maxLength: 4 }),
    events: fc
      .array(
        fc.oneof(
          fc.record({ hours: fc.double({ min: 0, max: 500, noNaN: true }), variable: fc.constant('HR'), value: finite }),
          fc.record({ hours: fc.double({ min: 0, max: 500, noNaN: true }), variable: fc.constant('GCS'), value: text }),
        ),
        { maxLength: 20 },
      )
      .map((ev) => ev.sort((a, b) => a.hours - b.hours)),
  }).map((a) => ({ id: `${pid}-a${k}`, ...a }));

const patient = (i: number) =>
  fc
    .record({
      age: fc.option(finite, { nil: null }),
      gender: fc.option(text, { nil: null }),
      death: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
      los: fc.option(finite, { nil: undefined }),
      nAdm: fc.integer({ min: 0, max: 3 }),
    })
    .chain((p) =>
      fc.tuple(...Array.from({ length: p.nAdm }, (_, k) => admission(`p${i}`, k))).map((admissions): PatientRecord => {
        const labels: Record<string, number> = {};
        if (p.death !== undefined) labels.death = p.death;
        if (p.los !== undefined) labels.los = p.los;
        return { id: `p${i}`, covariates: { age: p.age, gender: p.gender }, labels, admissions };
      }),
    );

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const records = fc.integer({ min: 0, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => patient(i))));

describe('records <-> Parquet tables', () => {
  it('round-trips any records exactly (property)', async () => {
    const dir = await tmp();
    await fc.assert(
      fc.asyncProperty(records, async (recs) => {
        const counts = await writeRecordTables(dir, recs, data);
        expect(counts.patients).toBe(recs.length);
        expect(counts.events).toBe(recs.reduce((s, r) => s + r.admissions.reduce((t, a) => t + a.events.length, 0), 0));
        const back = await readRecords(dir);
        expect(back).toEqual(recs);
        expect(await collect(streamRecords(dir))).toEqual(recs);
      }),
      { numRuns: 40 },
    );
  });

  it('streams an async iterable across many row groups and filters by id', async () => {
    const dir = await tmp();
    async function* many() {
      for (let p = 0; p < 300; p++) {
        yield {
          id: `p${p}`,
          covariates: { age: p, gender: p % 2 ? 'F' : 'M' },
          labels: { death: p % 2 },
          admissions: [{ id: `a${p}`, codes: ['ICD9:4019'], events: Array.from({ length: 300 }, (_, i) => ({ hours: i, variable: 'HR', value: p + i })) }],
        } satisfies PatientRecord;
      }
    }
    const counts = await writeRecordTables(dir, many(), data);
    expect(counts).toEqual({ patients: 300, admissions: 300, codes: 300, events: 90_000 });
    // 90,000 events = several row groups: streamed one row group at a time, same records
    expect(await collect(streamRecords(dir))).toEqual(await readRecords(dir));
    expect((await collect(streamRecords(dir, { ids: new Set(['p7']) }))).map((r) => r.id)).toEqual(['p7']);
    const back = await readRecords(dir, { ids: new Set(['p7', 'p299']) });
    expect(back.map((r) => r.id)).toEqual(['p7', 'p299']);
    expect(back[1]!.admissions[0]!.events[299]).toEqual({ hours: 299, variable: 'HR', value: 299 + 299 });
    expect(back[0]!.covariates).toEqual({ age: 7, gender: 'F' });
  });

  it('EXPECTED FAILURE - streamRecords on tables not in writer order', async () => {
    const a = await tmp();
    const b = await tmp();
    const rec = (id: string): PatientRecord => ({ id, covariates: {}, labels: {}, admissions: [{ id: `${id}-a`, codes: [], events: [{ hours: 0, variable: 'HR', value: 1 }] }] });
    await writeRecordTables(a, [rec('x')], data);
    await writeRecordTables(b, [rec('y')], data);
    await copyFile(join(b, 'events.parquet'), join(a, 'events.parquet'));
    await expect(collect(streamRecords(a))).rejects.toMatchObject({
      name: 'SynehrError',
      code: 'E_INPUT',
      message: `${join(a, 'events.parquet')}: row 0 (admission y-a) is out of order or has no parent: a table written as grouped by patient is not (damaged, or edited by hand)`,
    });
  });

  it('sorts events by hours when reading', async () => {
    const dir = await tmp();
    const rec: PatientRecord = { id: 'x', covariates: {}, labels: {}, admissions: [{ id: 'a', codes: [], events: [{ hours: 2, variable: 'HR', value: 1 }, { hours: 1, variable: 'HR', value: 2 }] }] };
    await writeRecordTables(dir, [rec], data);
    const [back] = await readRecords(dir);
    expect(back!.admissions[0]!.events.map((e) => e.hours)).toEqual([1, 2]);
  });

  it('writes CSV with RFC 4180 quoting', async () => {
    const dir = await tmp();
    const rec: PatientRecord = { id: 'x', covariates: { age: 1.5, gender: 'a,"b"' }, labels: { death: 1 }, admissions: [{ id: 'a', codes: ['ICD9:1'], events: [{ hours: 0.25, variable: 'GCS', value: 'line\nbreak' }] }] };
    const counts = await writeRecordTables(dir, [rec], data, { format: 'csv' });
    expect(counts.events).toBe(1);
    expect(await readFile(join(dir, 'patients.csv'), 'utf8')).toBe('patient_id,age,gender,death,los\nx,1.5,"a,""b""",1,\n');
    expect(await readFile(join(dir, 'events.csv'), 'utf8')).toBe('admission_id,hours,variable,value_num,value_text\na,0.25,GCS,,"line\nbreak"\n');
  });

  it('EXPECTED FAILURE - NaN value: throws and leaves no file behind', async () => {
    const dir = await tmp();
    const bad: PatientRecord = { id: 'x', covariates: {}, labels: {}, admissions: [{ id: 'a', codes: [], events: [{ hours: 0, variable: 'HR', value: NaN }] }] };
    await expect(writeRecordTables(dir, [bad], data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_RECORD', message: 'patient x, HR at 0 h: expected a finite number, got null' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('EXPECTED FAILURE - covariate not in the config', async () => {
    const dir = await tmp();
    const bad: PatientRecord = { id: 'x', covariates: { bmi: 3 }, labels: {}, admissions: [] };
    await expect(writeRecordTables(dir, [bad], data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_RECORD', message: 'patient x: covariate "bmi" is not in the data config' });
  });
});
