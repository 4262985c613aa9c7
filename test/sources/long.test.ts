import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { config, FIXTURES, loadAll, ROOT, scratch } from './helpers.ts';

const HEADER = 'patient_id,admission_id,time,kind,name,value\n';

async function longFile(body: string, tolerate: string[] = []) {
  const dir = await scratch();
  await writeFile(join(dir, 'records.csv'), HEADER + body);
  return config('long_example', dir, { tolerate });
}

describe('long loader', () => {
  it('loads the example file: values checked by hand', async () => {
    const { records } = await loadAll(await config('long_example', join(ROOT, 'data/long-example')));
    expect(records.map((r) => r.id)).toEqual(['p001', 'p002', 'p003']);
    const p1 = records[0]!;
    expect(p1.covariates).toEqual({ age: 67, sex: 'F' });
    expect(p1.labels).toEqual({ mortality: 0 });
    expect(p1.admissions.map((a) => a.id)).toEqual(['p001-a1', 'p001-a2']);
    expect(p1.admissions[0]!.codes).toEqual(['ICD10:I10', 'ICD10:E119']);
    expect(p1.admissions[0]!.events).toEqual([
      { hours: 0, variable: 'heart_rate', value: 88 },
      { hours: 0, variable: 'glucose', value: 142 },
      { hours: 1.5, variable: 'heart_rate', value: 92 },
      { hours: 1.5, variable: 'consciousness', value: 'alert' },
    ]);
    expect(p1.admissions[1]).toEqual({ id: 'p001-a2', codes: ['ICD10:I10'], events: [{ hours: 0, variable: 'heart_rate', value: 75 }] });
    expect(records[2]!.covariates).toEqual({ age: null, sex: 'F' });
  });

  it('accepts rows of a patient spread over the file, minutes as the time unit, and Parquet', async () => {
    // test/fixtures/long/records.csv: rows of a and b interleaved; records.parquet: the same rows
    const csv = await config('long_example', join(FIXTURES, 'long'), { time_unit: 'minutes' });
    const { records } = await loadAll(csv);
    expect(records).toEqual([
      {
        id: 'a',
        covariates: { age: null, sex: 'M' },
        labels: {},
        admissions: [{ id: 'a1', codes: ['ICD10:I10'], events: [{ hours: 0, variable: 'heart_rate', value: 60 }, { hours: 0, variable: 'consciousness', value: 'alert' }, { hours: 1.5, variable: 'heart_rate', value: 80 }] }],
      },
      {
        id: 'b',
        covariates: { age: null, sex: null },
        labels: { mortality: 1 },
        admissions: [
          { id: 'b1', codes: ['ICD10:J189'], events: [{ hours: 0.5, variable: 'heart_rate', value: 70 }] },
          { id: 'b2', codes: ['ICD10:I10'], events: [{ hours: 0.25, variable: 'glucose', value: 101.5 }] },
        ],
      },
    ]);
    const pq = await config('long_example', join(FIXTURES, 'long'), { time_unit: 'minutes', file: 'records.parquet' });
    expect((await loadAll(pq)).records).toEqual(records);
  });

  describe('bad input', () => {
    it('EXPECTED FAILURE - non-numeric value of a continuous variable names file:line', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\np,a,1,measurement,heart_rate,high\n'))).rejects.toThrow(/records\.csv:3: heart_rate: value "high" is not a number/);
    });
    it('EXPECTED FAILURE - negative time', async () => {
      await expect(loadAll(await longFile('p,a,-1,measurement,heart_rate,80\n'))).rejects.toThrow(/records\.csv:2: time "-1" is not a number >= 0 \(hours since the admission start\)/);
    });
    it('EXPECTED FAILURE - unparsable time', async () => {
      await expect(loadAll(await longFile('p,a,1h,measurement,heart_rate,80\n'))).rejects.toThrow(/records\.csv:2: time "1h" is not a number >= 0/);
    });
    it('EXPECTED FAILURE - unknown code system', async () => {
      await expect(loadAll(await longFile('p,a,,code,ICD9:4019,\n'))).rejects.toThrow(/records\.csv:2: code "ICD9:4019": system "ICD9" is not in data\.code_systems \["ICD10"\]/);
    });
    it('EXPECTED FAILURE - unknown kind', async () => {
      await expect(loadAll(await longFile('p,a,0,vital,heart_rate,80\n'))).rejects.toThrow(/records\.csv:2: kind "vital" is not one of covariate, label, code, measurement/);
    });
    it('EXPECTED FAILURE - patient with no data', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\nq,,,covariate,age,40\n'))).rejects.toThrow(/records\.csv: patient q has no codes and no measurements/);
    });
    it('EXPECTED FAILURE - unknown issue kind in options.tolerate', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\n', ['typos']))).rejects.toThrow('data.options.tolerate: unknown issue kind "typos"; expected one of malformed_row, ');
    });
    it('EXPECTED FAILURE - missing file', async () => {
      await expect(loadAll(await config('long_example', '/nonexistent'))).rejects.toThrow('/nonexistent: data.root is not a directory (data=long_example;');
      const dir = await scratch();
      await expect(loadAll(await config('long_example', dir))).rejects.toThrow(`${dir}/records.csv: not found (data.root "${dir}" + options.file "records.csv")`);
    });
    it('EXPECTED FAILURE - wrong header', async () => {
      const dir = await scratch();
      await writeFile(join(dir, 'records.csv'), 'patient,admission_id,time,kind,name,value\np,a,0,measurement,heart_rate,80\n');
      await expect(loadAll(await config('long_example', dir))).rejects.toThrow(/records\.csv:1: wrong header: missing column patient_id/);
    });
    it('EXPECTED FAILURE - malformed CSV (a row with too many fields)', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\np,a,0,measurement,heart_rate,80,extra,more\n'))).rejects.toThrow(/records\.csv/);
    });
    it('tolerated: bad rows are counted, good ones kept', async () => {
      const data = await longFile('p,a,0,measurement,heart_rate,80\np,a,x,measurement,heart_rate,81\np,a,1,measurement,heart_rate,high\np,a,,code,ICD9:1,\np,a,2,measurement,heart_rate,900\n', ['bad_time', 'non_numeric', 'unknown_code_system', 'out_of_range']);
      const { records, source } = await loadAll(data);
      expect(records[0]!.admissions[0]).toEqual({ id: 'a', codes: [], events: [{ hours: 0, variable: 'heart_rate', value: 80 }] });
      const t = source.issues.toJSON().tolerated;
      expect(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.count]))).toEqual({ bad_time: 1, non_numeric: 1, out_of_range: 1, unknown_code_system: 1 });
    });
  });
});
