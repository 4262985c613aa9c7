import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readDataConfigFile } from '../../src/records/dataConfig.ts';
import { writeRecordTables } from '../../src/records/tables.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { loadSource } from '../../src/sources/index.ts';
import { exportSyntheticDir } from '../../src/load/exportData.ts';
import { tempDir } from './helpers.ts';

/**
 * A processed folder of real records (what `synehr prepare` writes: the four tables and data.json,
 * no manifest) exported as it is: the units come from data.json, as they come from the manifest of a
 * synthetic folder.
 */
const ROOT = resolve(import.meta.dirname, '../..');
let tmp: Awaited<ReturnType<typeof tempDir>>;
let dir: string;
beforeAll(async () => {
  tmp = await tempDir('processed');
  const data = { ...(await readDataConfigFile(join(ROOT, 'configs/data/mimic3_demo.yaml'))), root: 'test/fixtures/mimic3' };
  const records: PatientRecord[] = [];
  for await (const r of loadSource(data, (p) => resolve(ROOT, p))) records.push(r);
  dir = join(tmp.dir, 'mimic3_demo');
  await writeRecordTables(dir, records, data);
  await rm(join(dir, 'manifest.json'), { force: true });
  await writeFile(join(dir, 'data.json'), JSON.stringify(data, null, 2) + '\n');
});
afterAll(async () => tmp?.cleanup());

describe('a processed MIMIC-III demo folder (no manifest) exported', () => {
  it('FHIR Quantities carry the data config\'s units with their UCUM codes', async () => {
    await exportSyntheticDir({ dir, format: 'fhir' });
    const text = await readFile(join(dir, 'export', 'fhir', 'bundles.ndjson'), 'utf8');
    const obs = text.trimEnd().split('\n').flatMap((l) => (JSON.parse(l) as { entry: { resource: Record<string, any> }[] }).entry.map((e) => e.resource)).filter((r) => r['valueQuantity']);
    expect(obs.length).toBeGreaterThan(100);
    const hr = obs.find((o) => o['code'].text === 'Heart Rate')!;
    expect(hr['valueQuantity']).toMatchObject({ unit: 'bpm', system: 'http://unitsofmeasure.org', code: '/min' });
    const unitless = obs.filter((o) => o['valueQuantity'].code === undefined).map((o) => o['code'].text);
    expect([...new Set(unitless)]).toEqual([]);
  });

  it('MIMIC-III VALUEUOM is the item\'s unit for every numeric value', async () => {
    await exportSyntheticDir({ dir, format: 'mimic3' });
    const lines = (await readFile(join(dir, 'export', 'mimic3', 'LABEVENTS.csv'), 'utf8')).trimEnd().split('\n').slice(1);
    expect(lines.length).toBeGreaterThan(50);
    // ROW_ID,SUBJECT_ID,HADM_ID,ITEMID,CHARTTIME,VALUE,VALUENUM,VALUEUOM,FLAG: every lab has a unit but pH (MIMIC's "units")
    for (const l of lines) expect(l.split(',')[7], l).not.toBe('');
  });
});
