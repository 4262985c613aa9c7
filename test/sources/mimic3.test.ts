import { readFile, writeFile, truncate, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { config, FIXTURES, loadAll, scratch } from './helpers.ts';
import { IcdGem } from '../../src/sources/gem.ts';
import { UNIT_CONVERSIONS } from '../../src/sources/mimic3.ts';

const FIX = join(FIXTURES, 'mimic3');

/** Rewrite one gzipped table of a scratch copy. */
async function editTable(dir: string, table: string, edit: (text: string) => string) {
  const p = join(dir, `${table}.csv.gz`);
  await writeFile(p, gzipSync(edit(gunzipSync(await readFile(p)).toString('utf8'))));
}

describe('mimic3 loader', () => {
  it('loads the two-patient cut of the demo: values checked by hand', async () => {
    const { records, source } = await loadAll(await config('mimic3_demo', FIX));
    expect(records.map((r) => r.id)).toEqual(['10006', '40124']);
    const [a, b] = records as [(typeof records)[0], (typeof records)[0]];
    // PATIENTS 10006: F, DOB 2094-03-05; ICUSTAYS 206504 INTIME 2164-10-23: 70.635 years
    // no weight or height charted in 10006's stay
    expect(a.covariates).toEqual({ age: 70.64, gender: 'F', weight: null, height: null });
    expect(a.labels).toEqual({ in_hospital_death: 0 });
    expect(a.admissions.map((x) => x.id)).toEqual(['206504']);
    const codes = a.admissions[0]!.codes;
    // DIAGNOSES_ICD of HADM 142345 in SEQ_NUM order (21), then its 7 procedures
    expect(codes).toHaveLength(28);
    expect(codes.slice(0, 3)).toEqual(['ICD9:99591', 'ICD9:99662', 'ICD9:5672']);
    expect(codes.slice(20, 23)).toEqual(['ICD9:3051', 'ICD9PROC:9749', 'ICD9PROC:5491']);
    const hr = a.admissions[0]!.events.filter((e) => e.variable === 'Heart Rate');
    // ITEMID 211 within [INTIME, OUTTIME]: 24 rows, the first 5385 s after INTIME, 104 bpm
    expect(hr).toHaveLength(24);
    expect(hr[0]).toEqual({ hours: 5385 / 3600, variable: 'Heart Rate', value: 104 });
    // ITEMID 678 "Temperature F": 99.599998474121094 °F -> 37.5556 °C
    const temp = a.admissions[0]!.events.filter((e) => e.variable === 'Temperature');
    expect(temp[0]).toEqual({ hours: 5385 / 3600, variable: 'Temperature', value: 37.5556 });
    // 40124: two ICU stays in two hospital admissions, in INTIME order, each with its own codes
    expect(b.admissions.map((x) => x.id)).toEqual(['279554', '269173']);
    // first weight of the first stay: 226512 "Admission Weight (Kg)" 41.5 at 2.13 h; height only in the second stay
    expect(b.covariates).toEqual({ age: 66.59, gender: 'F', weight: 41.5, height: null });
    expect(b.admissions[0]!.codes).toEqual(['ICD9:486', 'ICD9:5849', 'ICD9:1628', 'ICD9:27651', 'ICD9:2859', 'ICD9:496', 'ICD9:4019', 'ICD9PROC:9671']);
    expect(b.admissions[1]!.codes.slice(0, 2)).toEqual(['ICD9:486', 'ICD9:51881']);
    expect(b.admissions[0]!.events.filter((e) => e.variable === 'Heart Rate')).toHaveLength(57);
    expect(b.admissions[1]!.events.filter((e) => e.variable === 'Heart Rate')).toHaveLength(100);
    // ITEMID 223761 "Temperature Fahrenheit", 95.9 °F at 1.5425 h
    expect(b.admissions[0]!.events.find((e) => e.variable === 'Temperature')).toEqual({ hours: 1.5425, variable: 'Temperature', value: 35.5 });
    // categorical: both spellings of GCS map to one canonical value
    const eye = new Set(records.flatMap((r) => r.admissions.flatMap((x) => x.events.filter((e) => e.variable === 'Glascow coma scale eye opening').map((e) => e.value))));
    for (const v of eye) expect(['4 Spontaneously', '3 To speech', '2 To pain', '1 No Response']).toContain(v);
    // events sorted by hours, all values finite or strings
    for (const r of records) for (const adm of r.admissions) {
      for (let i = 1; i < adm.events.length; i++) expect(adm.events[i]!.hours).toBeGreaterThanOrEqual(adm.events[i - 1]!.hours);
      for (const e of adm.events) expect(typeof e.value === 'string' || Number.isFinite(e.value)).toBe(true);
    }
    expect(source.issues.toJSON().tolerated).toBeDefined();
  });

  it('accepts lower-case unquoted headers (the PhysioNet full-database style)', async () => {
    const dir = await scratch(FIX);
    for (const t of ['PATIENTS', 'ADMISSIONS', 'ICUSTAYS', 'DIAGNOSES_ICD', 'PROCEDURES_ICD', 'CHARTEVENTS', 'LABEVENTS']) {
      await editTable(dir, t, (text) => {
        const nl = text.indexOf('\n');
        return text.slice(0, nl).toLowerCase().replace(/"/g, '') + text.slice(nl);
      });
    }
    const upper = await loadAll(await config('mimic3_demo', FIX));
    const lower = await loadAll(await config('mimic3_demo', dir));
    expect(lower.records).toEqual(upper.records);
  });

  it('spills to options.temp_dir and leaves it clean', async () => {
    const tmp = await scratch();
    const { records } = await loadAll(await config('mimic3_demo', FIX, { temp_dir: tmp, memory_limit: '256MB' }));
    expect(records).toHaveLength(2);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(tmp)).toEqual([]);
  });

  it('EXPECTED FAILURE - a memory limit too small for DuckDB says which option to raise', async () => {
    await expect(loadAll(await config('mimic3_demo', FIX, { memory_limit: '16MB' }))).rejects.toThrow(/DuckDB ran out of memory reading .*: raise data\.options\.memory_limit/);
  });

  it('weight charted in pounds becomes kg', async () => {
    const dir = await scratch(FIX);
    await editTable(dir, 'CHARTEVENTS', (t) => t.replace(/^(\d+,40124,126179,279554,)226512,("2130-02-04 04:35:00",[^,]*,[^,]*),"41\.5",41\.5,"kg"/m, '$1226531,$2,"91.5",91.5,'));
    expect(gunzipSync(await readFile(join(dir, 'CHARTEVENTS.csv.gz'))).toString()).toContain('226531,"2130-02-04 04:35:00"');
    const { records } = await loadAll(await config('mimic3_demo', dir));
    // 91.5 lb x 0.45359237 = 41.50 kg
    expect(records[1]!.covariates.weight).toBe(41.5);
  });

  it('places CHARTEVENTS rows without an ICUSTAY_ID by HADM_ID and time', async () => {
    const dir = await scratch(FIX);
    await editTable(dir, 'CHARTEVENTS', (t) => t.replace(/^(\d+),10006,142345,206504,211,"2164-10-23 22:40:00"/m, '$1,10006,142345,,211,"2164-10-23 22:40:00"'));
    expect(gunzipSync(await readFile(join(dir, 'CHARTEVENTS.csv.gz'))).toString()).toContain('10006,142345,,211,');
    const { records } = await loadAll(await config('mimic3_demo', dir));
    const hr = records[0]!.admissions[0]!.events.filter((e) => e.variable === 'Heart Rate');
    expect(hr).toHaveLength(24);
    expect(hr[0]).toEqual({ hours: 5385 / 3600, variable: 'Heart Rate', value: 104 });
  });

  it('maps diagnoses to ICD-10-CM through the GEM; procedures stay ICD-9', async () => {
    const { records } = await loadAll(await config('mimic3_demo', FIX, { icd10: true }));
    // 486 -> J189, 5849 -> N179, 1628 -> C3480, 4019 -> I10 (first of I10, I169)
    expect(records[1]!.admissions[0]!.codes.slice(0, 3)).toEqual(['ICD10:J189', 'ICD10:N179', 'ICD10:C3480']);
    expect(records[1]!.admissions[0]!.codes).toContain('ICD10:I10');
    expect(records[1]!.admissions[0]!.codes.at(-1)).toBe('ICD9PROC:9671');
  });

  describe('bad input', () => {
    it('EXPECTED FAILURE - wrong header: a missing column is named with the file and line 1', async () => {
      const dir = await scratch(FIX);
      await editTable(dir, 'PATIENTS', (t) => t.replace('"DOB"', '"BIRTH"'));
      await expect(loadAll(await config('mimic3_demo', dir))).rejects.toThrow(/PATIENTS\.csv\.gz:1: wrong header: missing column dob/);
    });

    it('EXPECTED FAILURE - truncated gzip table names the file', async () => {
      const dir = await scratch(FIX);
      const p = join(dir, 'CHARTEVENTS.csv.gz');
      await truncate(p, Math.floor((await stat(p)).size / 2));
      await expect(loadAll(await config('mimic3_demo', dir))).rejects.toThrow(/CHARTEVENTS\.csv\.gz/);
    });

    it('EXPECTED FAILURE - a malformed CSV row (unterminated quote) names the file', async () => {
      const dir = await scratch(FIX);
      await editTable(dir, 'ICUSTAYS', (t) => t.replace('"carevue","MICU"', '"carevue,"MICU"'));
      await expect(loadAll(await config('mimic3_demo', dir))).rejects.toThrow(/ICUSTAYS\.csv\.gz/);
    });

    it('EXPECTED FAILURE - non-numeric value in a numeric item names the file and ROW_ID', async () => {
      const dir = await scratch(FIX);
      await editTable(dir, 'CHARTEVENTS', (t) => t.replace(/^(\d+),(10006,142345,206504,211,"2164-10-23 22:40:00",[^,]*,[^,]*),"?104"?,104,/m, '$1,$2,"fast",,'));
      const data = await config('mimic3_demo', dir, { tolerate: ['out_of_range', 'unknown_value', 'empty_patient'] });
      await expect(loadAll(data)).rejects.toThrow(/CHARTEVENTS\.csv\.gz \(ROW_ID \d+\): Heart Rate: value "fast" is not a number/);
    });

    it('EXPECTED FAILURE - unparsable CHARTTIME', async () => {
      const dir = await scratch(FIX);
      await editTable(dir, 'CHARTEVENTS', (t) => t.replace(/^(\d+,10006,142345,206504,211,)"2164-10-23 22:40:00"/m, '$1"yesterday"'));
      const text = gunzipSync(await readFile(join(dir, 'CHARTEVENTS.csv.gz'))).toString();
      expect(text).toContain('"yesterday"');
      await expect(loadAll(await config('mimic3_demo', dir))).rejects.toThrow(/CHARTEVENTS\.csv\.gz \(ROW_ID \d+\): CHARTTIME "yesterday" is not a timestamp/);
    });

    it('EXPECTED FAILURE - code system not declared in the data config', async () => {
      const data = { ...(await config('mimic3_demo', FIX)), code_systems: ['ICD10'] };
      await expect(loadAll(data)).rejects.toThrow(/data\.code_systems: the mimic3 loader emits ICD9 codes but data\.code_systems is \["ICD10"\]/);
    });

    it('EXPECTED FAILURE - an ICU stay with no data, when not tolerated', async () => {
      const dir = await scratch(FIX);
      // a second stay for 10006 after its discharge: no chart rows, no labs in its window, and its
      // HADM's codes sit on the first stay
      await editTable(dir, 'ICUSTAYS', (t) => t + '99999,10006,142345,200001,"carevue","MICU","MICU",52,52,2164-11-05 00:00:00,2164-11-06 00:00:00,1\n');
      const data = await config('mimic3_demo', dir, { tolerate: ['non_numeric', 'out_of_range', 'unknown_value'] });
      await expect(loadAll(data)).rejects.toThrow(/ICUSTAYS\.csv\.gz \(ICUSTAY_ID 200001\): ICU stay 200001 of patient 10006 has no measurements and no codes/);
    });

    it('EXPECTED FAILURE - missing table', async () => {
      const dir = await scratch(FIX);
      const { rm } = await import('node:fs/promises');
      await rm(join(dir, 'LABEVENTS.csv.gz'));
      await expect(loadAll(await config('mimic3_demo', dir))).rejects.toThrow(/no LABEVENTS table: expected one of LABEVENTS\.csv\.gz, LABEVENTS\.csv, labevents\.csv\.gz, labevents\.csv/);
    });
  });
});

describe('unit conversions', () => {
  it('converts by unit or label, and leaves canonical units alone', () => {
    expect(UNIT_CONVERSIONS.fahrenheit_to_celsius(98.6, 'Deg. F Temperature F')).toBeCloseTo(37, 10);
    expect(UNIT_CONVERSIONS.fahrenheit_to_celsius(212, '?F Temperature Fahrenheit')).toBeCloseTo(100, 10);
    expect(UNIT_CONVERSIONS.fahrenheit_to_celsius(37.2, 'Deg. C Temperature C')).toBe(37.2);
    // an unlabelled 99 can only be °F
    expect(UNIT_CONVERSIONS.fahrenheit_to_celsius(99.5, '')).toBeCloseTo(37.5, 10);
    expect(UNIT_CONVERSIONS.pounds_to_kg(100, 'Present Weight  (lb)')).toBeCloseTo(45.359237, 10);
    expect(UNIT_CONVERSIONS.pounds_to_kg(70, 'kg Admission Weight (Kg)')).toBe(70);
    expect(UNIT_CONVERSIONS.inches_to_cm(70, 'Inch Height')).toBeCloseTo(177.8, 10);
    expect(UNIT_CONVERSIONS.inches_to_cm(170, 'cm Height (cm)')).toBe(170);
    expect(UNIT_CONVERSIONS.fraction_to_percent(0.4)).toBeCloseTo(40, 10);
    expect(UNIT_CONVERSIONS.fraction_to_percent(40)).toBe(40);
  });
});

describe('ICD-9 -> ICD-10-CM GEM', () => {
  it('maps known codes from the CMS 2018 file', async () => {
    const gem = await IcdGem.load(join(import.meta.dirname, '../../data/icd9-gem/2018_I9gem.txt'));
    expect(gem.size).toBeGreaterThan(14000);
    expect(gem.map9to10('4019')).toEqual(['I10']); // essential hypertension (first of I10, I169)
    expect(gem.map9to10('25000')).toEqual(['E119']); // type 2 diabetes without complication
    expect(gem.map9to10('486')).toEqual(['J189']); // pneumonia, organism unspecified
    expect(gem.map9to10('0010')).toEqual(['A000']); // cholera
    expect(gem.map9to10('V090')).toEqual(['Z1611']);
    // combination entry: both halves of scenario 1 (0730 ornithosis with pneumonia -> A70 + J17)
    expect(gem.map9to10('0730')).toEqual(['A70', 'J17']);
    expect(gem.map9to10('401.9')).toEqual(['I10']);
    expect(gem.map9to10('ZZZZ')).toBeUndefined();
  });
});
