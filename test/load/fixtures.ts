import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tableToIPC, vectorFromArray, Table, Utf8, Float64, Int32 } from 'apache-arrow';
import { Table as WasmTable, writeParquet } from 'parquet-wasm/node';
import type { PatientRecord } from '../../src/records/types.ts';
import { dataConfigSchema, type DataConfig } from '../../src/records/dataConfig.ts';
import { writeRecordTables } from '../../src/records/tables.ts';

/**
 * Small synthetic-looking patients and a writer of the four Parquet tables in DESIGN.md's layout,
 * written independently of src/load so that the reader is checked against another implementation.
 */

export const covariateNames = ['Age', 'Gender', 'Height', 'ICUType'] as const;
export const labelNames = ['in_hospital_death'] as const;

export function fixturePatients(): PatientRecord[] {
  return [
    {
      id: 'p1',
      covariates: { Age: 54, Gender: 1, Height: 175.3, ICUType: 'Cardiac Surgery' },
      labels: { in_hospital_death: 0 },
      admissions: [
        {
          id: 'p1-a1',
          codes: ['ICD9:4019', 'ICD9:41401', 'ICD9PROC:3961'],
          events: [
            { hours: 0, variable: 'HR', value: 88 },
            { hours: 0, variable: 'SysABP', value: 121.5 },
            { hours: 0.5, variable: 'GCS', value: '15' },
            { hours: 2.25, variable: 'Temp', value: 37.1 },
            { hours: 2.25, variable: 'pH', value: 7.41 },
          ],
        },
        {
          id: 'p1-a2',
          codes: ['ICD9:42731'],
          events: [{ hours: 1, variable: 'HR', value: 101 }],
        },
      ],
    },
    {
      id: 'p"2, odd',
      covariates: { Age: 81, Gender: 0, Height: null, ICUType: 'Medical, "general"' },
      labels: { in_hospital_death: 1 },
      admissions: [
        {
          id: 'p2-a1',
          codes: ['ICD9:0389', 'ICD9:5849'],
          events: [
            { hours: 0.1, variable: 'HR', value: 120 },
            { hours: 3, variable: 'GCS', value: 'No Response, "eyes closed"' },
            { hours: 30.75, variable: 'Lactate', value: 4.2 },
          ],
        },
      ],
    },
    {
      id: 'p3',
      covariates: { Age: 37, Gender: 0, Height: 160, ICUType: 'Surgical' },
      labels: { in_hospital_death: 0 },
      admissions: [{ id: 'p3-a1', codes: [], events: [] }],
    },
  ];
}

/** n patients made by copying the fixture ones under new ids (p<i>, p<i>-a<j>). */
export function replicatePatients(base: PatientRecord[], n: number): PatientRecord[] {
  const out: PatientRecord[] = [];
  for (let i = 0; i < n; i++) {
    const src = base[i % base.length]!;
    out.push({
      id: `p${i}`,
      covariates: { ...src.covariates },
      labels: { ...src.labels },
      admissions: src.admissions.map((a, j) => ({ id: `p${i}-a${j}`, codes: [...a.codes], events: a.events.map((e) => ({ ...e })) })),
    });
  }
  return out;
}

export interface FixtureTables {
  patients: Table;
  admissions: Table;
  codes: Table;
  events: Table;
}

export function fixtureTables(records: PatientRecord[]): FixtureTables {
  const patientCols: Record<string, unknown> = { patient_id: vectorFromArray(records.map((p) => p.id), new Utf8()) };
  for (const c of covariateNames) {
    const vals = records.map((p) => p.covariates[c] ?? null);
    patientCols[c] = vals.some((v) => typeof v === 'string') ? vectorFromArray(vals, new Utf8()) : vectorFromArray(vals, new Float64());
  }
  for (const l of labelNames) patientCols[l] = vectorFromArray(records.map((p) => p.labels[l]!), new Int32());
  const adm = { admission_id: [] as string[], patient_id: [] as string[], seq: [] as number[] };
  const codes = { admission_id: [] as string[], seq: [] as number[], code: [] as string[] };
  const ev = { admission_id: [] as string[], hours: [] as number[], variable: [] as string[], value_num: [] as (number | null)[], value_text: [] as (string | null)[] };
  for (const p of records) {
    p.admissions.forEach((a, i) => {
      adm.admission_id.push(a.id);
      adm.patient_id.push(p.id);
      adm.seq.push(i);
      a.codes.forEach((c, j) => {
        codes.admission_id.push(a.id);
        codes.seq.push(j);
        codes.code.push(c);
      });
      for (const e of a.events) {
        ev.admission_id.push(a.id);
        ev.hours.push(e.hours);
        ev.variable.push(e.variable);
        ev.value_num.push(typeof e.value === 'number' ? e.value : null);
        ev.value_text.push(typeof e.value === 'string' ? e.value : null);
      }
    });
  }
  return {
    patients: new Table(patientCols as never),
    admissions: new Table({
      admission_id: vectorFromArray(adm.admission_id, new Utf8()),
      patient_id: vectorFromArray(adm.patient_id, new Utf8()),
      seq: vectorFromArray(adm.seq, new Int32()),
    }),
    codes: new Table({
      admission_id: vectorFromArray(codes.admission_id, new Utf8()),
      seq: vectorFromArray(codes.seq, new Int32()),
      code: vectorFromArray(codes.code, new Utf8()),
    }),
    events: new Table({
      admission_id: vectorFromArray(ev.admission_id, new Utf8()),
      hours: vectorFromArray(ev.hours, new Float64()),
      variable: vectorFromArray(ev.variable, new Utf8()),
      value_num: vectorFromArray(ev.value_num, new Float64()),
      value_text: vectorFromArray(ev.value_text, new Utf8()),
    }),
  };
}

export async function writeParquetTable(file: string, table: Table): Promise<void> {
  const wasm = WasmTable.fromIPCStream(tableToIPC(table, 'stream'));
  await writeFile(file, writeParquet(wasm));
}

/** The fixture's data config: which patients columns are covariates and which labels, the variables and their units. */
export function fixtureData(): DataConfig {
  return dataConfigSchema.parse({
    name: 'fixture',
    loader: 'long',
    root: '.',
    code_systems: ['ICD9', 'ICD9PROC'],
    covariates: covariateNames.map((name) => ({ name, type: name === 'ICUType' ? 'categorical' : 'numeric' })),
    labels: labelNames.map((name) => ({ name, main: true })),
    variables: [
      { name: 'HR', type: 'continuous', unit: 'bpm' },
      { name: 'SysABP', type: 'continuous', unit: 'mmHg' },
      { name: 'GCS', type: 'categorical' },
      { name: 'Temp', type: 'continuous', unit: '°C' },
      { name: 'pH', type: 'continuous' },
      { name: 'Lactate', type: 'continuous', unit: 'mmol/L' },
    ],
  });
}

/** A complete manifest.json (format_version 2, src/records/manifest.ts) for tables of these counts. */
export function fixtureManifest(counts: Record<string, number>, data: DataConfig = fixtureData()): Record<string, unknown> {
  return {
    format_version: 2,
    kind: 'synehr-synthetic',
    model: 'fixture-run',
    run_dir: 'saved_models/fixture-run',
    weights_sha256: '0'.repeat(64),
    tokenizer_sha256: '1'.repeat(64),
    data: data.name,
    seed: 7,
    n_samples: counts['patients'],
    batch_size: 8,
    sampling: { temperature: 1, top_k: 0, top_p: 1, max_len: 96, fix_covars: false, conditions_sha256: null },
    formats: ['parquet'],
    counts,
    tokens: 0,
    seconds: 0,
    created: '2026-01-01T00:00:00.000Z',
    config: { data },
  };
}

/**
 * Writes the four tables and a manifest.json into dir; returns dir. `writer`: 'records' uses the
 * project's writer (src/records/tables.ts, as `generate` does), 'arrow' this file's own (no column
 * roles in the metadata, so the manifest's data config must tell labels from covariates).
 */
export async function writeSyntheticDir(dir: string, records: PatientRecord[], opts: { manifest?: unknown; writer?: 'records' | 'arrow' } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  let counts: Record<string, number>;
  if ((opts.writer ?? 'records') === 'records') {
    counts = { ...(await writeRecordTables(dir, records, fixtureData())) };
  } else {
    const t = fixtureTables(records);
    for (const name of ['patients', 'admissions', 'codes', 'events'] as const) await writeParquetTable(join(dir, `${name}.parquet`), t[name]);
    counts = { patients: t.patients.numRows, admissions: t.admissions.numRows, codes: t.codes.numRows, events: t.events.numRows };
  }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(opts.manifest ?? fixtureManifest(counts), null, 2));
  return dir;
}
