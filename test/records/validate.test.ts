import { describe, expect, it } from 'vitest';
import { dataConfigSchema } from '../../src/records/dataConfig.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { validateRecords } from '../../src/records/validate.ts';

const data = dataConfigSchema.parse({
  name: 't',
  loader: 'long',
  root: '.',
  covariates: [
    { name: 'age', type: 'numeric' },
    { name: 'sex', type: 'categorical', values: ['F', 'M'] },
  ],
  labels: [
    { name: 'death', main: true, values: [0, 1] },
    { name: 'los', range: [0, 3650] },
  ],
  code_systems: ['ICD9'],
  window_hours: 48,
  variables: [
    { name: 'HR', type: 'continuous' },
    { name: 'GCS', type: 'categorical', values: ['a', 'b'] },
  ],
});

const good = (id = 'p', adm = 'a'): PatientRecord => ({
  id,
  covariates: { age: 40, sex: 'F' },
  labels: { death: 0 },
  admissions: [{ id: adm, codes: ['ICD9:4019'], events: [{ hours: 0, variable: 'HR', value: 80 }, { hours: 1, variable: 'GCS', value: 'a' }] }],
});

function withChange(f: (r: PatientRecord) => void): PatientRecord {
  const r = structuredClone(good());
  f(r);
  return r;
}

describe('validateRecords', () => {
  it('accepts valid records', async () => {
    expect(await validateRecords([good('p1', 'a1'), good('p2', 'a2')], data)).toEqual([]);
  });

  it.each([
    ['duplicate_patient', [good('p', 'a1'), good('p', 'a2')], 'patient id "p" appears twice'],
    ['duplicate_admission', [good('p1', 'a'), good('p2', 'a')], 'admission id "a" appears twice'],
    ['bad_hours', [withChange((r) => (r.admissions[0]!.events[0]!.hours = -1))], 'hours must be a finite number >= 0, got -1'],
    ['bad_hours', [withChange((r) => (r.admissions[0]!.events[0]!.hours = NaN))], 'hours must be a finite number >= 0, got null'],
    ['unsorted_hours', [withChange((r) => (r.admissions[0]!.events[0]!.hours = 5))], 'events are not sorted by hours (1 after 5)'],
    ['bad_value', [withChange((r) => (r.admissions[0]!.events[0]!.value = Infinity))], 'HR at 0 h must be a finite number, got null'],
    ['bad_value', [withChange((r) => (r.admissions[0]!.events[1]!.value = 3))], 'GCS at 1 h is categorical and must be a string, got 3'],
    ['unknown_value', [withChange((r) => (r.admissions[0]!.events[1]!.value = 'z'))], 'GCS = "z" is not one of ["a","b"]'],
    ['unknown_variable', [withChange((r) => (r.admissions[0]!.events[0]!.variable = 'BP'))], 'variable "BP" is not declared in data.variables'],
    ['unknown_code_system', [withChange((r) => (r.admissions[0]!.codes = ['SNOMED:1']))], 'system "SNOMED" is not in data.code_systems ["ICD9"]'],
    ['bad_code', [withChange((r) => (r.admissions[0]!.codes = ['4019']))], 'code "4019" is not SYSTEM:CODE'],
    ['unknown_covariate', [withChange((r) => (r.covariates.bmi = 3))], 'covariate "bmi" is not declared'],
    ['bad_value', [withChange((r) => (r.covariates.age = 'old'))], 'covariate age must be a finite number, got "old"'],
    ['unknown_value', [withChange((r) => (r.covariates.sex = 'X'))], 'covariate sex = "X" is not one of ["F","M"]'],
    ['unknown_label', [withChange((r) => (r.labels.phenotype = 3))], 'label "phenotype" is not declared'],
    ['unknown_value', [withChange((r) => (r.labels.death = 7))], 'label death = 7 is not one of its declared values [0,1]'],
    ['out_of_range', [withChange((r) => (r.labels.los = 1e308))], 'label los = 1e+308 is outside its plausible range [0, 3650]'],
    ['outside_window', [withChange((r) => (r.admissions[0]!.events[1]!.hours = 9999))], "GCS at 9999 h is after the data's window of 48 h"],
    ['bad_value', [withChange((r) => (r.labels.death = NaN))], 'label death must be a finite number, got null'],
    ['no_admissions', [withChange((r) => (r.admissions = []))], 'has no admissions'],
  ] as const)('EXPECTED FAILURE - %s', async (kind, records, message) => {
    const problems = await validateRecords(records, data);
    expect(problems.map((p) => p.kind)).toContain(kind);
    expect(problems.find((p) => p.kind === kind)!.message).toContain(message);
    await expect(validateRecords(records, data, { throwFirst: true })).rejects.toThrow(message.slice(0, 20));
  });
});
