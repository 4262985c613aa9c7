import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openRecordsDir, type RecordsDir } from '../../src/records/recordsDir.ts';
import { readRecords } from '../../src/records/read.ts';
import { loadSyntheticDir } from '../../src/load/loadSynthetic.ts';
import { exportSyntheticDir } from '../../src/load/exportData.ts';
import { fixtureData, fixturePatients, fixtureTables, replicatePatients, writeParquetTable, writeSyntheticDir } from './fixtures.ts';
import { sortById, tempDir } from './helpers.ts';
import { tableFromArrays, vectorFromArray, Utf8, Float64, Table } from 'apache-arrow';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir('input');
});
afterAll(async () => tmp.cleanup());

async function freshDir(name: string): Promise<string> {
  return writeSyntheticDir(join(tmp.dir, name), fixturePatients());
}

const openSyntheticDir = (dir: string) => openRecordsDir(dir, { synthetic: true });
const recordsOf = (src: RecordsDir) => readRecords(src.tables, { data: src.data });

describe('reading a synthetic directory', () => {
  it('round trip: tables written by src/records -> records equals the records written', async () => {
    const src = await openSyntheticDir(await freshDir('roundtrip'));
    expect(src.tables.patients.columns.find((c) => c.name === 'in_hospital_death')?.role).toBe('label');
    expect(sortById(await recordsOf(src))).toEqual(sortById(fixturePatients()));
  });

  it('round trip: tables without role metadata -> labels from the manifest data config', async () => {
    const src = await openSyntheticDir(await writeSyntheticDir(join(tmp.dir, 'arrow'), fixturePatients(), { writer: 'arrow' }));
    expect(src.tables.patients.columns.every((c) => c.role === undefined)).toBe(true);
    expect(sortById(await recordsOf(src))).toEqual(sortById(fixturePatients()));
  });

  it('tables stream in batches: row offsets and values agree with one whole read', async () => {
    const src = await openSyntheticDir(await freshDir('batches'));
    const whole: unknown[] = [];
    for await (const b of src.tables.events.batches()) {
      for (let r = 0; r < b.columns[0]!.values.length; r++) whole.push(b.columns.map((c) => c.values[r]));
    }
    const starts: number[] = [];
    const pieces: unknown[] = [];
    for await (const b of src.tables.events.batches({ batchRows: 2 })) {
      starts.push(b.start);
      for (let r = 0; r < b.columns[0]!.values.length; r++) pieces.push(b.columns.map((c) => c.values[r]));
    }
    expect(starts).toEqual([0, 2, 4, 6, 8]);
    expect(pieces).toEqual(whole);
    expect(whole).toHaveLength(src.tables.events.rowCount);
    expect(src.tables.events.columns.map((c) => `${c.name}:${c.type}`)).toEqual(['admission_id:text', 'hours:double precision', 'variable:text', 'value_num:double precision', 'value_text:text']);
  });

  it('EXPECTED FAILURE - without manifest.json a folder is not a finished generation, and is refused', async () => {
    const dir = await freshDir('nomanifest');
    await rm(join(dir, 'manifest.json'));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({
      name: 'SynehrError',
      code: 'E_MANIFEST',
      message: `${join(dir, 'manifest.json')}: missing, so the folder is not a finished generation (an interrupted one continues with \`synehr generate ... resume=true\`)`,
    });
    // load and export-data also take a folder written by `synehr prepare`, told by its data.json
    await expect(openRecordsDir(dir)).rejects.toMatchObject({ code: 'E_MANIFEST', message: expect.stringMatching(/nor a folder written by `synehr prepare` \(no data\.json\)$/) });
    await writeFile(join(dir, 'data.json'), JSON.stringify(fixtureData()));
    const processed = await openRecordsDir(dir);
    expect([processed.kind, processed.manifest]).toEqual(['processed', null]);
    expect(sortById(await recordsOf(processed))).toEqual(sortById(fixturePatients()));
  });

  it('EXPECTED FAILURE - defect 7: a patients table without a covariate column of its data config is refused by load and export-data', async () => {
    const dir = await freshDir('nogender');
    const t = fixtureTables(fixturePatients());
    // the patients table as a tool that dropped the Gender column writes it
    await writeParquetTable(join(dir, 'patients.parquet'), t.patients.select(['patient_id', 'Age', 'Height', 'ICUType', 'in_hospital_death']));
    const refusal = { name: 'SynehrError', code: 'E_INPUT', message: `${join(dir, 'patients.parquet')}: no column "Gender" (a covariate of data=fixture); the table has patient_id, Age, Height, ICUType, in_hospital_death` };
    await expect(openSyntheticDir(dir)).rejects.toMatchObject(refusal);
    await expect(exportSyntheticDir({ dir, format: 'fhir' })).rejects.toMatchObject(refusal);
    await expect(loadSyntheticDir({ dir, url: null })).rejects.toMatchObject(refusal);
    expect(existsSync(join(dir, 'export'))).toBe(false);
  });

  it('EXPECTED FAILURE - a manifest for fewer patients than n_samples (an incomplete generation) is refused', async () => {
    const dir = await freshDir('incomplete');
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...m, n_samples: 2000 }));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({ code: 'E_MANIFEST', message: `${join(dir, 'manifest.json')}: counts.patients is 3, n_samples 2000: an incomplete generation` });
  });

  it('EXPECTED FAILURE - manifest.json that is not JSON is refused with the file named', async () => {
    const dir = await freshDir('badjson');
    await writeFile(join(dir, 'manifest.json'), '{"counts": {');
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({ code: 'E_MANIFEST', message: expect.stringMatching(/manifest\.json: not valid JSON/) });
  });

  it('EXPECTED FAILURE - manifest.json without counts is refused naming the key', async () => {
    const dir = await freshDir('nocounts');
    const { counts: _dropped, ...m } = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({ code: 'E_MANIFEST', message: expect.stringMatching(/manifest\.json: counts: /) });
  });

  it('EXPECTED FAILURE - a manifest of another format is refused', async () => {
    const dir = await freshDir('newer');
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...m, format_version: 3 }));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({
      code: 'E_MANIFEST',
      message: `${join(dir, 'manifest.json')}: format_version 3 was written by a newer synehr (this one reads format_version 2); generate the folder again (overwrite=true)`,
    });
  });

  it('EXPECTED FAILURE - counts that disagree with the tables are refused with both numbers', async () => {
    const dir = await freshDir('badcounts');
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    m.counts.events = 10;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({
      code: 'E_MANIFEST',
      message: expect.stringContaining('events: manifest says 10, events.parquet has 9'),
    });
  });

  it('EXPECTED FAILURE - events of an admission that does not exist fail the foreign-key check', async () => {
    const dir = await freshDir('orphan');
    const t = fixtureTables(fixturePatients());
    const ids = t.events.getChild('admission_id')!.toArray() as string[];
    ids[4] = 'ghost-admission';
    const events = new Table({
      admission_id: vectorFromArray(ids, new Utf8()),
      hours: t.events.getChild('hours')!,
      variable: t.events.getChild('variable')!,
      value_num: vectorFromArray(t.events.getChild('value_num')!.toArray() as unknown as number[], new Float64()),
      value_text: t.events.getChild('value_text')!,
    });
    await writeParquetTable(join(dir, 'events.parquet'), events);
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({
      code: 'E_INTEGRITY',
      message: expect.stringMatching(/events\.parquet: foreign key events\.admission_id -> admissions\.admission_id fails in 1 rows .*row 4: admission_id = "ghost-admission"/),
    });
  });

  it('EXPECTED FAILURE - a duplicated patient id fails the primary-key check', async () => {
    const dir = await freshDir('dup');
    const patients = fixturePatients();
    patients[2] = { ...patients[2]!, id: 'p1' };
    const t = fixtureTables(patients);
    await writeParquetTable(join(dir, 'patients.parquet'), t.patients);
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({
      code: 'E_INTEGRITY',
      message: expect.stringMatching(/patients\.parquet: primary key \(patient_id\) violated in 1 rows: row 2: patient_id = "p1" appears twice/),
    });
  });

  it('EXPECTED FAILURE - a table without a required column is refused naming it', async () => {
    const dir = await freshDir('nocol');
    await writeParquetTable(join(dir, 'codes.parquet'), tableFromArrays({ admission_id: ['p1-a1'], code: ['ICD9:4019'] }));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({ code: 'E_INPUT', message: expect.stringMatching(/codes\.parquet: missing column "seq"/) });
  });

  it('EXPECTED FAILURE - a missing table is refused', async () => {
    const dir = await freshDir('notable');
    await rm(join(dir, 'codes.parquet'));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({ code: 'E_INPUT', message: expect.stringMatching(/missing codes\.parquet/) });
  });
});

describe('damaged files', () => {
  it('EXPECTED FAILURE - defect 8: a Parquet file damaged mid-file is an E_INPUT error naming it, for load and export-data alike', async () => {
    const dir = await writeSyntheticDir(join(tmp.dir, 'damaged'), replicatePatients(fixturePatients(), 400));
    const file = join(dir, 'events.parquet');
    const bytes = await readFile(file);
    // overwrite a stretch in the middle: the footer (schema, row groups) still reads, a data page does not
    for (let i = Math.floor(bytes.length * 0.3); i < Math.floor(bytes.length * 0.6); i++) bytes[i] = (bytes[i]! * 7 + 13) & 255;
    await writeFile(file, bytes);
    const refusal = { name: 'SynehrError', code: 'E_INPUT', message: expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a readable Parquet file, or damaged \\(`)) };
    await expect(exportSyntheticDir({ dir, format: 'omop' })).rejects.toMatchObject(refusal);
    await expect(loadSyntheticDir({ dir, url: null })).rejects.toMatchObject(refusal);
    // a file cut short loses its footer: refused as it is opened
    await writeFile(join(dir, 'codes.parquet'), (await readFile(join(dir, 'codes.parquet'))).subarray(0, 100));
    await expect(openSyntheticDir(dir)).rejects.toMatchObject({ code: 'E_INPUT', message: expect.stringContaining(`${join(dir, 'codes.parquet')}: not a readable Parquet file, or damaged (Parquet error: Invalid Parquet file. Corrupt footer)`) });
  });
});

describe('loadSyntheticDir', () => {
  it('EXPECTED FAILURE - a refused directory never touches the database', async () => {
    const dir = await freshDir('refused');
    await writeFile(join(dir, 'manifest.json'), 'not json');
    await expect(loadSyntheticDir({ dir, url: null })).rejects.toMatchObject({ code: 'E_MANIFEST' });
    expect(existsSync(join(dir, 'pglite'))).toBe(false);
  });
});
