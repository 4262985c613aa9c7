import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { config, FIXTURES, loadAll, scratch } from './helpers.ts';

const FIX = join(FIXTURES, 'synthea');
const INFANT = '593aaa05-d864-1df7-5b96-155fbdb19f28';
const DECEASED = '186aba1d-da24-7c1f-0761-3d5bcbc0c852';

describe('synthea loader', () => {
  it('loads two patients of the Synthea sample: values checked by hand', async () => {
    const { records, source } = await loadAll(await config('synthea', FIX));
    expect(records.map((r) => r.id).sort()).toEqual([DECEASED, INFANT].sort());
    const infant = records.find((r) => r.id === INFANT)!;
    const old = records.find((r) => r.id === DECEASED)!;
    // born 2021-08-22, last encounter 2022-02-xx: 0.44 years; 4 encounters, all with codes or vitals
    expect(infant.covariates).toEqual({ age: 0.44, gender: 'M', race: 'white', ethnicity: 'hispanic' });
    expect(infant.labels).toEqual({ deceased: 0 });
    expect(infant.admissions).toHaveLength(4);
    const first = infant.admissions[0]!;
    expect(first.id).toBe('33dc326d-4b64-921b-4afe-6456415a2e78');
    // procedures.csv: Medication Reconciliation; observations at START: 14 configured ones
    expect(first.codes).toEqual(['SNOMED:430193006']);
    expect(first.events).toHaveLength(14);
    // ties at one time are in config variable order: 8480-6 (SBP) ... 29463-7 (weight) before 718-7
    expect(first.events.find((e) => e.variable === '29463-7')).toEqual({ hours: 0, variable: '29463-7', value: 3.6 });
    expect(first.events.find((e) => e.variable === '718-7')).toEqual({ hours: 0, variable: '718-7', value: 17.2 });
    expect(infant.admissions[1]!.events.find((e) => e.variable === '72166-2')).toEqual({ hours: 0, variable: '72166-2', value: 'Never smoker' });
    // 1946-04-19 .. last encounter: 69.53 years; died 2015-10-23; 44 of 64 encounters kept
    expect(old.covariates).toEqual({ age: 69.53, gender: 'M', race: 'white', ethnicity: 'nonhispanic' });
    expect(old.labels).toEqual({ deceased: 1 });
    expect(old.admissions).toHaveLength(44);
    expect(old.admissions[0]!.codes).toEqual(['SNOMED:162864005']);
    expect(old.admissions[1]!.codes).toEqual(['SNOMED:59621000', 'SNOMED:224299000', 'SNOMED:73595000']);
    const count = (r: typeof old, f: (a: (typeof old.admissions)[0]) => number) => r.admissions.reduce((s, a) => s + f(a), 0);
    expect(count(old, (a) => a.codes.length)).toBe(179);
    expect(count(old, (a) => a.events.length)).toBe(115);
    expect(count(infant, (a) => a.events.length)).toBe(38);
    // 64 + 4 - 44 - 4 encounters without codes or configured observations
    expect(source.issues.toJSON().tolerated.empty_patient!.count).toBe(20);
  });

  it('EXPECTED FAILURE - non-numeric value of a numeric LOINC observation', async () => {
    const dir = await scratch(FIX);
    const p = join(dir, 'observations.csv');
    await writeFile(p, (await readFile(p, 'utf8')).replace(/(,29463-7,Body Weight,)3\.6,/, '$1heavy,'));
    await expect(loadAll(await config('synthea', dir))).rejects.toThrow(/observations\.csv \(encounter 33dc326d-4b64-921b-4afe-6456415a2e78, 29463-7\): 29463-7: value "heavy" is not a number/);
  });

  it('EXPECTED FAILURE - wrong header', async () => {
    const dir = await scratch(FIX);
    const p = join(dir, 'encounters.csv');
    await writeFile(p, (await readFile(p, 'utf8')).replace('Id,START,STOP,PATIENT', 'Id,BEGIN,STOP,PATIENT'));
    await expect(loadAll(await config('synthea', dir))).rejects.toThrow(/encounters\.csv:1: wrong header: missing column start/);
  });

  it('EXPECTED FAILURE - unknown code system', async () => {
    const data = { ...(await config('synthea', FIX)), code_systems: ['ICD10'] };
    await expect(loadAll(data)).rejects.toThrow(/the synthea loader emits SNOMED codes but data\.code_systems is \["ICD10"\]/);
  });
});
