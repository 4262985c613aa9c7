/**
 * A minimal reader of PhysioNet 2012 challenge files (one patient per "Time,Parameter,Value" file)
 * into PatientRecords, for tokenizer tests and the benchmark: independent of src/sources/ so the
 * tokenizer can be tested before and apart from the loader. Static descriptors at 00:00 (Age,
 * Gender, Height, ICUType, the first Weight) become covariates; -1 means missing; every other line
 * is a measurement; In-hospital_death from Outcomes is the label.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PatientRecord, Measurement } from '../../src/records/types.ts';
import { dataConfigSchema, type DataConfig } from '../../src/records/dataConfig.ts';

export const PHYSIONET_VARIABLES = [
  'Albumin', 'ALP', 'ALT', 'AST', 'Bilirubin', 'BUN', 'Cholesterol', 'Creatinine', 'DiasABP', 'FiO2',
  'GCS', 'Glucose', 'HCO3', 'HCT', 'HR', 'K', 'Lactate', 'Mg', 'MAP', 'MechVent', 'Na', 'NIDiasABP',
  'NIMAP', 'NISysABP', 'PaCO2', 'PaO2', 'pH', 'Platelets', 'RespRate', 'SaO2', 'SysABP', 'Temp',
  'TroponinI', 'TroponinT', 'Urine', 'WBC', 'Weight',
];

/** The data config the tests use: MechVent categorical, the rest continuous. */
export const physionetDataConfig: DataConfig = dataConfigSchema.parse({
  name: 'physionet2012-fixture',
  loader: 'physionet2012',
  root: 'test/fixtures/tokenizer/physionet2012',
  covariates: [
    { name: 'Age', type: 'numeric', unit: 'years' },
    { name: 'Gender', type: 'categorical', values: ['0', '1'] },
    { name: 'Height', type: 'numeric', unit: 'cm' },
    { name: 'ICUType', type: 'categorical', values: ['1', '2', '3', '4'] },
    { name: 'Weight', type: 'numeric', unit: 'kg' },
  ],
  labels: [{ name: 'in_hospital_death', main: true, values: [0, 1] }],
  code_systems: [],
  variables: PHYSIONET_VARIABLES.map((name) =>
    name === 'MechVent' ? { name, type: 'categorical', values: ['0', '1'] } : { name, type: 'continuous' },
  ),
});

const STATIC = new Set(['RecordID', 'Age', 'Gender', 'Height', 'ICUType']);

export function parsePhysionetFile(text: string, id: string, death: number | undefined): PatientRecord {
  const covariates: Record<string, number | string | null> = { Age: null, Gender: null, Height: null, ICUType: null, Weight: null };
  const events: Measurement[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const c1 = line.indexOf(',');
    const c2 = line.indexOf(',', c1 + 1);
    const time = line.slice(0, c1);
    const param = line.slice(c1 + 1, c2);
    const value = Number(line.slice(c2 + 1));
    const colon = time.indexOf(':');
    const hours = Number(time.slice(0, colon)) + Number(time.slice(colon + 1)) / 60;
    if (STATIC.has(param) || (param === 'Weight' && hours === 0 && covariates.Weight === null && i <= 6)) {
      if (param === 'RecordID') continue;
      if (value === -1) covariates[param] = null;
      else covariates[param] = param === 'Gender' || param === 'ICUType' ? String(value) : value;
      continue;
    }
    if (param === '' || !Number.isFinite(value)) continue;
    events.push({ hours, variable: param, value: param === 'MechVent' ? String(value) : value });
  }
  return {
    id,
    covariates,
    labels: death === undefined ? {} : { in_hospital_death: death },
    admissions: [{ id, codes: [], events }],
  };
}

/** Every patient of a set-a style folder (files <id>.txt) with its outcome from `outcomesPath`. */
export function readPhysionetDir(dir: string, outcomesPath: string, limit = Infinity): PatientRecord[] {
  const deaths = new Map<string, number>();
  const lines = readFileSync(outcomesPath, 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split(',');
    if (f.length >= 6) deaths.set(f[0]!, Number(f[5]));
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort().slice(0, limit);
  return files.map((f) => {
    const id = f.slice(0, -4);
    return parsePhysionetFile(readFileSync(join(dir, f), 'utf8'), id, deaths.get(id));
  });
}

export const FIXTURE_DIR = new URL('../fixtures/tokenizer/physionet2012/', import.meta.url).pathname;

export function fixturePatients(): PatientRecord[] {
  return readPhysionetDir(join(FIXTURE_DIR, 'set-a'), join(FIXTURE_DIR, 'Outcomes-a.txt'));
}
