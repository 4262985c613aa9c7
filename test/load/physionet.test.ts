import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { readDataConfigFile, type DataConfig } from '../../src/records/dataConfig.ts';
import { readRecords, writeRecordTables } from '../../src/records/tables.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { loadSource } from '../../src/sources/index.ts';
import { openRecordsDir } from '../../src/records/recordsDir.ts';
import { fixtureManifest } from './fixtures.ts';
import { exportSyntheticDir } from '../../src/load/exportData.ts';
import { validateTransactionBundle } from '../../src/load/fhirValidate.ts';
import { loadTables, openPostgres } from '../../src/load/database.ts';
import { sortById, tempDir } from './helpers.ts';

/**
 * Real records: the first PhysioNet 2012 set-a patients through the project's own loader and table
 * writer (as `prepare` and `generate` write them), then through load and export-data.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const JSONSchemaValidator = createRequire(import.meta.url)('@asymmetrik/fhir-json-schema-validator') as new () => {
  validate(resource: unknown, verbose?: boolean): unknown[];
};
const pgUrl = process.env['SYNEHR_TEST_PG_URL'];
let tmp: Awaited<ReturnType<typeof tempDir>>;
let data: DataConfig;
let base: PatientRecord[];
let dir: string;

beforeAll(async () => {
  tmp = await tempDir('physionet');
  data = await readDataConfigFile(join(ROOT, 'configs/data/physionet2012.yaml'));
  base = [];
  for await (const r of loadSource(data, (p) => resolve(ROOT, p))) {
    base.push(r);
    if (base.length >= 12) break;
  }
  dir = join(tmp.dir, 'syn');
  const counts = await writeRecordTables(dir, base, data);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(fixtureManifest(counts, data)));
});
afterAll(async () => tmp?.cleanup());

describe('PhysioNet 2012 records through load and export-data', () => {
  it('the checked folder reads back the records written', async () => {
    const src = await openRecordsDir(dir);
    expect(sortById(await readRecords(src.tables, { data: src.data }))).toEqual(sortById(base));
    expect(sortById(await readRecords(dir))).toEqual(sortById(base));
  });

  it('every variable of the data config but MechVent has a MIMIC ITEMID; units come from the config', async () => {
    const report = await exportSyntheticDir({ dir, format: 'mimic3' });
    const local = report.notes.filter((n) => n.includes('local ITEMIDs'));
    for (const n of local) expect(n).toMatch(/: MechVent$/);
    const chart = await readFile(join(dir, 'export', 'mimic3', 'CHARTEVENTS.csv'), 'utf8');
    expect(chart).toMatch(/,211,[^\n]*,BPM,/); // HR: the data config's bpm, MIMIC's BPM
  });

  it("units agree with their items: PhysioNet's magnesium (mmol/L) is written in item 50960's mg/dL", async () => {
    const report = await exportSyntheticDir({ dir, format: 'mimic3' });
    expect(report.notes).toContain('Mg: values converted from mmol/L to mg/dL (x 2.4305), the unit of MIMIC item 50960 MAGNESIUM');
    const lab = (await readFile(join(dir, 'export', 'mimic3', 'LABEVENTS.csv'), 'utf8')).trimEnd().split('\n').slice(1).map((l) => l.split(','));
    const mg = lab.filter((r) => r[3] === '50960');
    // 1 mmol of Mg = 24.305 mg (IUPAC standard atomic weight); mmol/L -> mg/dL is x 24.305 / 10
    const want = base.flatMap((p) => p.admissions.flatMap((a) => a.events.filter((e) => e.variable === 'Mg').map((e) => (e.value as number) * 2.4305)));
    expect(want.length).toBeGreaterThan(5);
    expect(mg).toHaveLength(want.length);
    mg.forEach((r, k) => {
      expect(Number(r[6])).toBeCloseTo(want[k]!, 9);
      expect(r[7]).toBe('mg/dL');
    });
  });

  it("FHIR Bundles of real records are valid, for our validator and for HL7's R4 JSON schema", async () => {
    await exportSyntheticDir({ dir, format: 'fhir' });
    const lines = (await readFile(join(dir, 'export', 'fhir', 'bundles.ndjson'), 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(base.length);
    for (const l of lines) expect(validateTransactionBundle(JSON.parse(l))).toEqual([]);
    // the schema's oneOf over every resource type costs ~2 s per PhysioNet Bundle: two of them
    const hl7Schema = new JSONSchemaValidator();
    for (const l of lines.slice(0, 2)) expect(hl7Schema.validate(JSON.parse(l), true)).toEqual([]);
  });

  it.runIf(Boolean(pgUrl))('PostgreSQL: loaded rows equal the tables, per table and per variable', async () => {
    const src = await openRecordsDir(dir);
    const schema = `synehr_physionet_${process.pid}`;
    const s = await openPostgres(pgUrl!);
    try {
      await loadTables(s, src.tables, { schema });
      const rows = await s.query(`SELECT variable, count(*)::int AS n, coalesce(sum(value_num), 0) AS total FROM "${schema}".events GROUP BY 1`);
      const want = new Map<string, { n: number; total: number }>();
      for (const p of base) for (const a of p.admissions) for (const e of a.events) {
        const w = want.get(e.variable) ?? { n: 0, total: 0 };
        w.n++;
        if (typeof e.value === 'number') w.total += e.value;
        want.set(e.variable, w);
      }
      expect(new Set(rows.map((r) => String(r['variable'])))).toEqual(new Set(want.keys()));
      for (const r of rows) {
        const w = want.get(String(r['variable']))!;
        expect(r['n'], String(r['variable'])).toBe(w.n);
        expect(Number(r['total']), String(r['variable'])).toBeCloseTo(w.total, 6);
      }
      const ages = await s.query(`SELECT patient_id, age, gender FROM "${schema}".patients`);
      const byId = new Map(ages.map((r) => [String(r['patient_id']), [r['age'], r['gender']]]));
      expect(byId).toEqual(new Map(base.map((p) => [p.id, [p.covariates['age'], p.covariates['gender']]])));
    } finally {
      await s.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await s.close();
    }
  });
});
