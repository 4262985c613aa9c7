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
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\np,a,1,measurement,heart_rate,high\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv:3: heart_rate: value "high" is not a number/) });
    });
    it('EXPECTED FAILURE - negative time', async () => {
      await expect(loadAll(await longFile('p,a,-1,measurement,heart_rate,80\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv:2: time "-1" is not a number >= 0 \(hours since the admission start\)/) });
    });
    it('EXPECTED FAILURE - unparsable time', async () => {
      await expect(loadAll(await longFile('p,a,1h,measurement,heart_rate,80\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv:2: time "1h" is not a number >= 0/) });
    });
    it('EXPECTED FAILURE - unknown code system', async () => {
      await expect(loadAll(await longFile('p,a,,code,ICD9:4019,\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv:2: code "ICD9:4019": system "ICD9" is not in data\.code_systems \["ICD10"\]/) });
    });
    it('EXPECTED FAILURE - unknown kind', async () => {
      await expect(loadAll(await longFile('p,a,0,vital,heart_rate,80\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv:2: kind "vital" is not one of covariate, label, code, measurement/) });
    });
    it('EXPECTED FAILURE - patient with no data', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\nq,,,covariate,age,40\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv: patient q has no codes and no measurements/) });
    });
    it('EXPECTED FAILURE - unknown issue kind in options.tolerate', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\n', ['typos']))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_CONFIG_VALUE', message: expect.stringContaining('data.options.tolerate: unknown issue kind "typos"; expected one of malformed_row, ') });
    });
    it('EXPECTED FAILURE - missing file', async () => {
      await expect(loadAll(await config('long_example', '/nonexistent'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringContaining('/nonexistent: data.root is not a directory (data=long_example;') });
      const dir = await scratch();
      await expect(loadAll(await config('long_example', dir))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringContaining(`${dir}/records.csv: not found (data.root "${dir}" + options.file "records.csv")`) });
    });
    it('EXPECTED FAILURE - wrong header', async () => {
      const dir = await scratch();
      await writeFile(join(dir, 'records.csv'), 'patient,admission_id,time,kind,name,value\np,a,0,measurement,heart_rate,80\n');
      await expect(loadAll(await config('long_example', dir))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv:1: wrong header: missing column patient_id/) });
    });
    it('EXPECTED FAILURE - malformed CSV (a row with too many fields)', async () => {
      await expect(loadAll(await longFile('p,a,0,measurement,heart_rate,80\np,a,0,measurement,heart_rate,80,extra,more\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/records\.csv/) });
    });
    it('EXPECTED FAILURE - defect 6: a covariate given twice (age 67, then 99) names both lines', async () => {
      const data = await longFile('p,,,covariate,age,67\np,a,0,measurement,heart_rate,80\np,,,covariate,age,99\n');
      await expect(loadAll(data)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(data.root, 'records.csv')}:4: patient p: covariate age = 99 here, 67 at line 2` });
      // the same value again is no conflict; tolerated, the first is kept and the conflict counted
      expect((await loadAll(await longFile('p,,,covariate,age,67\np,a,0,measurement,heart_rate,80\np,,,covariate,age,67\n'))).records[0]!.covariates.age).toBe(67);
      const { records, source } = await loadAll(await longFile('p,,,covariate,age,67\np,a,0,measurement,heart_rate,80\np,,,covariate,age,99\n', ['conflict']));
      expect(records[0]!.covariates.age).toBe(67);
      expect(source.issues.toJSON().tolerated.conflict!.count).toBe(1);
    });
    it('EXPECTED FAILURE - defect 6: a label given twice with two values, and a label outside its values', async () => {
      const twice = await longFile('p,,,label,mortality,0\np,a,0,measurement,heart_rate,80\np,,,label,mortality,1\n');
      await expect(loadAll(twice)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(twice.root, 'records.csv')}:4: patient p: label mortality = 1 here, 0 at line 2` });
      const seven = await longFile('p,,,label,mortality,7\np,a,0,measurement,heart_rate,80\n');
      await expect(loadAll(seven)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(seven.root, 'records.csv')}:2: patient p: label mortality = 7 is not one of its declared values [0,1]` });
    });
    it('EXPECTED FAILURE - defect 6: a malformed row at line 25 is reported at line 25, not as a wrong header', async () => {
      const rows = Array.from({ length: 30 }, (_, i) => `p${i},p${i}-a,${i % 3},measurement,heart_rate,${60 + i}`);
      rows[23] = 'p23,p23-a,1,measurement,heart_rate,80,extra';
      const data = await longFile(rows.join('\n') + '\n');
      await expect(loadAll(data)).rejects.toMatchObject({ code: 'E_INPUT', message: expect.stringMatching(new RegExp(`^${join(data.root, 'records.csv').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:25: .*Expected Number of Columns: 6 Found: 7`)) });
    });
    it('EXPECTED FAILURE - defect 6: a typo in a variable, covariate or label name is an error with a guess', async () => {
      const data = await longFile('p,a,0,measurement,heart_rat,80\n');
      await expect(loadAll(data)).rejects.toMatchObject({
        code: 'E_INPUT',
        message: `${join(data.root, 'records.csv')}:2: variable "heart_rat" is not declared in data=long_example; did you mean "heart_rate"? (tolerate unknown_name to drop such rows)`,
      });
      await expect(loadAll(await longFile('p,,,covariate,sx,F\np,a,0,measurement,heart_rate,80\n'))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/covariate "sx" is not declared in data=long_example; did you mean "sex"\?/) });
      const { source } = await loadAll(await longFile('p,a,0,measurement,heart_rat,80\np,a,0,measurement,heart_rate,80\n', ['unknown_name']));
      expect(source.issues.toJSON()).toMatchObject({ tolerated: { unknown_name: { count: 1 } }, ignored: { heart_rat: 1 } });
    });
    it('EXPECTED FAILURE - defect 6: a time after the declared window', async () => {
      const data = await longFile('p,a,50,measurement,heart_rate,80\n');
      await expect(loadAll({ ...data, window_hours: 48 })).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(data.root, 'records.csv')}:2: time 50 hours is after the data's window of 48 h (data.window_hours)` });
      expect((await loadAll(data)).records).toHaveLength(1); // no window declared: no limit
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
