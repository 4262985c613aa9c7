import { readFile, truncate, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { config, FIXTURES, loadAll, scratch } from './helpers.ts';

const FIX = join(FIXTURES, 'physionet2012');

describe('physionet2012 loader', () => {
  it('reads the fixture directory: covariates, labels, events checked by hand', async () => {
    const data = await config('physionet2012', FIX, { records: 'set-a' });
    const { records, source } = await loadAll(data);
    // 140501 has only static descriptors: tolerated (empty_patient) and counted
    expect(records.map((r) => r.id)).toEqual(['132539', '139060']);
    expect(source.issues.toJSON().tolerated.empty_patient!.count).toBe(1);
    const [a, b] = records as [(typeof records)[0], (typeof records)[0]];
    // 132539.txt: Age 54, Gender 0, Height -1, ICUType 4, Weight -1
    expect(a.covariates).toEqual({ age: 54, gender: 'female', height: null, icu_type: 'surgical', weight: null });
    // Outcomes-a.txt: 132539,6,1,5,-1,0 (Survival -1 = no recorded death: no label)
    expect(a.labels).toEqual({ in_hospital_death: 0, length_of_stay: 5 });
    expect(a.admissions).toHaveLength(1);
    const ev = a.admissions[0]!.events;
    // 273 rows - 6 static descriptors (Weight -1 at 00:00 included) = 267, none -1
    expect(ev).toHaveLength(267);
    expect(ev.slice(0, 3)).toEqual([
      { hours: 7 / 60, variable: 'GCS', value: 15 },
      { hours: 7 / 60, variable: 'HR', value: 73 },
      { hours: 7 / 60, variable: 'NIDiasABP', value: 65 },
    ]);
    expect(ev[ev.length - 1]).toEqual({ hours: 47 + 37 / 60, variable: 'Urine', value: 280 });
    expect(ev.filter((e) => e.variable === 'RespRate')).toHaveLength(42);
    // 139060.txt: one measurement, 05:58 HCT 25.3; Outcomes: Survival 0, Length_of_stay -1
    expect(b.admissions[0]!.events).toEqual([{ hours: 5 + 58 / 60, variable: 'HCT', value: 25.3 }]);
    expect(b.labels).toEqual({ in_hospital_death: 0, survival: 0 });
    expect(b.covariates).toMatchObject({ age: 42, gender: 'male', icu_type: 'coronary_care' });
  });

  it('reads the same records straight from a .tar.gz', async () => {
    const fromDir = await loadAll(await config('physionet2012', FIX, { records: 'set-a' }));
    const fromTar = await loadAll(await config('physionet2012', FIX, { records: 'set-a.tar.gz' }));
    expect(fromTar.records).toEqual(fromDir.records);
  });

  it('turns later Weight rows into measurements and keeps duplicate times', async () => {
    const dir = await scratch(FIX);
    const text = (await readFile(join(dir, 'set-a/139060.txt'), 'utf8')).replace('00:00,Weight,-1', '00:00,Weight,80') + '05:58,HCT,26\n06:00,Weight,79.5\n';
    await writeFile(join(dir, 'set-a/139060.txt'), text);
    const { records } = await loadAll(await config('physionet2012', dir, { records: 'set-a' }));
    const r = records.find((x) => x.id === '139060')!;
    expect(r.covariates.weight).toBe(80);
    expect(r.admissions[0]!.events).toEqual([
      { hours: 5 + 58 / 60, variable: 'HCT', value: 25.3 },
      { hours: 5 + 58 / 60, variable: 'HCT', value: 26 },
      { hours: 6, variable: 'Weight', value: 79.5 },
    ]);
  });

  describe('bad input', () => {
    async function withLine(line: string, tolerate?: string[]) {
      const dir = await scratch(FIX);
      await writeFile(join(dir, 'set-a/139060.txt'), (await readFile(join(dir, 'set-a/139060.txt'), 'utf8')) + line + '\n');
      const opts: Record<string, unknown> = { records: 'set-a' };
      if (tolerate) opts.tolerate = tolerate;
      return { dir, data: await config('physionet2012', dir, opts) };
    }

    it('EXPECTED FAILURE - wrong header names file and line 1', async () => {
      const dir = await scratch(FIX);
      await writeFile(join(dir, 'set-a/139060.txt'), 'Time;Parameter;Value\n00:00,RecordID,139060\n');
      await expect(loadAll(await config('physionet2012', dir, { records: 'set-a' }))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/set-a\/139060\.txt:1: expected header "Time,Parameter,Value", got "Time;Parameter;Value"/) });
    });

    it('EXPECTED FAILURE - malformed row (wrong field count)', async () => {
      const { data } = await withLine('06:00,HR');
      await expect(loadAll(data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/139060\.txt:9: expected 3 fields \(Time,Parameter,Value\), got 2: "06:00,HR"/) });
    });

    it('EXPECTED FAILURE - non-numeric value', async () => {
      const { data } = await withLine('06:00,HR,fast');
      await expect(loadAll(data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/139060\.txt:9: HR: value "fast" is not a number/) });
    });

    it('EXPECTED FAILURE - unparsable time', async () => {
      const { data } = await withLine('6h,HR,80');
      await expect(loadAll(data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/139060\.txt:9: time "6h" is not HH:MM since ICU admission/) });
    });

    it('EXPECTED FAILURE - negative time', async () => {
      const { data } = await withLine('-00:10,HR,80');
      await expect(loadAll(data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/139060\.txt:9: time "-00:10" is not HH:MM/) });
    });

    it('EXPECTED FAILURE - patient with no data, when not tolerated', async () => {
      const data = await config('physionet2012', FIX, { records: 'set-a', tolerate: ['out_of_range'] });
      await expect(loadAll(data)).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/140501\.txt: record 140501 has no measurements/) });
    });

    it('tolerated: bad rows are dropped and counted, never NaN', async () => {
      const dir = await scratch(FIX);
      await writeFile(join(dir, 'set-a/139060.txt'), (await readFile(join(dir, 'set-a/139060.txt'), 'utf8')) + '06:00,HR,fast\n6h,HR,80\n07:00,HR\n08:00,Temp,-17.8\n09:00,HR,90\n');
      const { records, source } = await loadAll(await config('physionet2012', dir, { records: 'set-a', tolerate: ['non_numeric', 'bad_time', 'malformed_row', 'out_of_range', 'empty_patient'] }));
      const ev = records.find((r) => r.id === '139060')!.admissions[0]!.events;
      expect(ev.map((e) => [e.variable, e.value])).toEqual([['HCT', 25.3], ['HR', 90]]);
      const t = source.issues.toJSON().tolerated;
      expect(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.count]))).toEqual({ bad_time: 1, empty_patient: 1, malformed_row: 1, non_numeric: 1, out_of_range: 1 });
      expect(t.out_of_range!.examples[0]).toMatch(/139060\.txt:12: Temp: value -17\.8 is outside its plausible range \[20, 45\]/);
    });

    it('EXPECTED FAILURE - truncated .tar.gz names the archive', async () => {
      const dir = await scratch(FIX);
      const tgz = join(dir, 'set-a.tar.gz');
      await truncate(tgz, Math.floor((await stat(tgz)).size / 2));
      await expect(loadAll(await config('physionet2012', dir, { records: 'set-a.tar.gz' }))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/set-a\.tar\.gz: cannot read archive: .*truncated|set-a\.tar\.gz: the archive is truncated/) });
    });

    it('EXPECTED FAILURE - outcomes file with a non-numeric field', async () => {
      const dir = await scratch(FIX);
      await writeFile(join(dir, 'Outcomes-a.txt'), 'RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n132539,6,1,5,-1,no\n');
      await expect(loadAll(await config('physionet2012', dir, { records: 'set-a' }))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(/Outcomes-a\.txt:2: In-hospital_death: value "no" is not a number/) });
    });

    it('EXPECTED FAILURE - unknown option key is named', async () => {
      await expect(loadAll(await config('physionet2012', FIX, { recrods: 'set-a' }))).rejects.toMatchObject({ name: 'SynehrError', code: 'E_CONFIG_VALUE', message: expect.stringMatching(/data\.options: .*recrods/) });
    });

    describe('defect 6: conflicting or impossible input is an error naming the file and line (of both sides)', () => {
      const OUT = 'RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n';
      async function withOutcomes(body: string, tolerate?: string[]) {
        const dir = await scratch(FIX);
        await writeFile(join(dir, 'Outcomes-a.txt'), OUT + body);
        return { dir, data: await config('physionet2012', dir, tolerate ? { records: 'set-a', tolerate } : { records: 'set-a' }) };
      }

      it('EXPECTED FAILURE - a duplicated Outcomes row with another death label', async () => {
        const { dir, data } = await withOutcomes('132539,6,1,5,-1,0\n139060,-1,-1,-1,0,0\n140501,1,1,1,-1,0\n132539,6,1,5,-1,1\n');
        await expect(loadAll(data)).rejects.toMatchObject({
          code: 'E_INPUT',
          message: `${join(dir, 'Outcomes-a.txt')}:5: RecordID 132539 is given again: in_hospital_death 1 here, in_hospital_death 0 at line 2`,
        });
        // tolerated, the first row is kept and the conflict counted
        const tolerated = await loadAll({ ...data, options: { ...data.options, tolerate: ['conflict', 'empty_patient', 'out_of_range'] } });
        expect(tolerated.records.find((r) => r.id === '132539')!.labels.in_hospital_death).toBe(0);
        expect(tolerated.source.issues.toJSON().tolerated.conflict!.count).toBe(1);
        // the same row twice says nothing new: no conflict
        const same = await withOutcomes('132539,6,1,5,-1,0\n139060,-1,-1,-1,0,0\n140501,1,1,1,-1,0\n132539,6,1,5,-1,0\n');
        expect((await loadAll(same.data)).records).toHaveLength(2);
      });

      it('EXPECTED FAILURE - a label outside its declared values (7 for a 0/1 label) at prepare, not at tokenize', async () => {
        const { dir, data } = await withOutcomes('132539,6,1,5,-1,7\n139060,-1,-1,-1,0,0\n140501,1,1,1,-1,0\n');
        await expect(loadAll(data)).rejects.toMatchObject({
          code: 'E_INPUT',
          message: `${join(dir, 'Outcomes-a.txt')}:2: RecordID 132539, In-hospital_death: label in_hospital_death = 7 is not one of its declared values [0,1]`,
        });
      });

      it('EXPECTED FAILURE - Length_of_stay 1e308 is outside its plausible range: an error, or dropped and counted where tolerated', async () => {
        const { dir, data } = await withOutcomes('132539,6,1,1e308,-1,0\n139060,-1,-1,-1,0,0\n140501,1,1,1,-1,0\n', ['empty_patient']);
        await expect(loadAll(data)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(dir, 'Outcomes-a.txt')}:2: RecordID 132539, Length_of_stay: label length_of_stay = 1e+308 is outside its plausible range [0, 3650]` });
        // the shipped config tolerates out_of_range: the label is left out, never binned
        const shipped = await loadAll({ ...data, options: { ...data.options, tolerate: ['out_of_range', 'empty_patient'] } });
        expect(shipped.records.find((r) => r.id === '132539')!.labels).toEqual({ in_hospital_death: 0 });
        expect(shipped.source.issues.toJSON().tolerated.out_of_range!.count).toBe(1);
      });

      it('EXPECTED FAILURE - a time of 9999:00 in a 48-hour data set', async () => {
        const { dir, data } = await withLine('9999:00,HR,80');
        await expect(loadAll(data)).rejects.toMatchObject({ code: 'E_INPUT', message: `${join(dir, 'set-a/139060.txt')}:9: time 9999:00 is after the data's window of 48 h (data.window_hours)` });
        const edge = await withLine('48:00,HR,80');
        expect((await loadAll(edge.data)).records.find((r) => r.id === '139060')!.admissions[0]!.events.at(-1)).toEqual({ hours: 48, variable: 'HR', value: 80 });
      });

      it('EXPECTED FAILURE - the same RecordID in two files names both files', async () => {
        const dir = await scratch(FIX);
        await writeFile(join(dir, 'set-a/139061.txt'), await readFile(join(dir, 'set-a/139060.txt'), 'utf8'));
        await expect(loadAll(await config('physionet2012', dir, { records: 'set-a' }))).rejects.toMatchObject({
          code: 'E_INPUT',
          message: `${join(dir, 'set-a/139061.txt')}: RecordID 139060 is also the record of ${join(dir, 'set-a/139060.txt')}`,
        });
      });

      it('EXPECTED FAILURE - a typo in a variable name is an error with a guess, not a silent count', async () => {
        const { dir, data } = await withLine('06:00,Glucsoe,120');
        await expect(loadAll(data)).rejects.toMatchObject({
          code: 'E_INPUT',
          message: `${join(dir, 'set-a/139060.txt')}:9: parameter "Glucsoe" is not a variable of data=physionet2012; did you mean "Glucose"? (tolerate unknown_name to drop such rows)`,
        });
        const kept = await withLine('06:00,Glucsoe,120', ['unknown_name', 'empty_patient', 'out_of_range']);
        const { source } = await loadAll(kept.data);
        expect(source.issues.toJSON()).toMatchObject({ tolerated: { unknown_name: { count: 1 } }, ignored: { Glucsoe: 1 } });
      });
    });
  });
});
