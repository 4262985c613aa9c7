import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { readDataConfigFile } from '../../src/records/dataConfig.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { loadSource } from '../../src/sources/index.ts';
import { exportMimic3 } from '../../src/load/mimic3.ts';
import { exportOmop } from '../../src/load/omop.ts';
import { fixtureData, fixturePatients } from './fixtures.ts';
import { readFileSync } from 'node:fs';
import { specsFromDataConfig } from '../../src/load/exportData.ts';
import { tempDir } from './helpers.ts';

/**
 * The official schemas, run as their projects run them: mimic-code's MIMIC-III build
 * (test/fixtures/reference/mimic-code-mimic3, psql with ON_ERROR_STOP) against the CI PostgreSQL
 * (SYNEHR_TEST_PG_URL). Records are real: the MIMIC-III demo cut in test/fixtures/mimic3 and the
 * first PhysioNet 2012 patients, through the project's loaders.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const REF = join(ROOT, 'test/fixtures/reference');
const pgUrl = process.env['SYNEHR_TEST_PG_URL'];
let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir('refsql');
});
afterAll(async () => tmp?.cleanup());

/** Runs psql on SQL text with ON_ERROR_STOP in one schema, as mimic-code's build does; returns stdout or throws with stderr. */
export function psql(sql: string, schema: string, opts: { cwd?: string } = {}): string {
  const r = spawnSync('psql', [pgUrl!, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-A', '-t', '-F', '\t'], {
    input: sql,
    encoding: 'utf8',
    cwd: opts.cwd,
    env: { ...process.env, PGOPTIONS: `-c search_path=${schema} -c client_min_messages=warning` },
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql exited ${r.status}: ${r.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
  return r.stdout;
}

async function loadRecords(config: string, root: string, n: number): Promise<{ records: PatientRecord[]; data: Awaited<ReturnType<typeof readDataConfigFile>> }> {
  const data = { ...(await readDataConfigFile(join(ROOT, 'configs/data', `${config}.yaml`))), root };
  const records: PatientRecord[] = [];
  for await (const r of loadSource(data, (p) => resolve(ROOT, p))) {
    records.push(r);
    if (records.length >= n) break;
  }
  return { records, data };
}

/** mimic-code's build, step by step: create tables, \copy every exported table, constraints, indexes, checks. */
function buildMimic(dir: string, files: Record<string, number>, schema: string): Map<string, number> {
  const sql = (f: string) => `\\i ${join(REF, 'mimic-code-mimic3', f)}\n`;
  // postgres_load_data.sql's own statement, for the tables the export writes (SYNEHR_IDS is ours, not MIMIC's)
  const copies = Object.keys(files)
    .map((f) => f.replace(/\.csv$/, ''))
    .filter((t) => t !== 'SYNEHR_IDS')
    .map((t) => `\\copy ${t} FROM '${join(dir, `${t}.csv`)}' DELIMITER ',' CSV HEADER NULL ''\n`)
    .join('');
  psql(`CREATE SCHEMA ${schema};\n` + sql('postgres_create_tables_pg10.sql') + copies + sql('postgres_add_constraints.sql') + sql('postgres_add_indexes.sql'), schema);
  // the checks compare row counts with the full MIMIC-III v1.4: they run, and report what we loaded
  const out = psql(sql('postgres_checks.sql'), schema);
  return new Map(out.trim().split('\n').map((l) => l.split('\t')).map(([tbl, , observed]) => [tbl!, Number(observed)]));
}

describe.runIf(Boolean(pgUrl))("mimic-code's MIMIC-III build (create tables, \\copy, constraints, indexes, checks; ON_ERROR_STOP)", () => {
  const schemas: string[] = [];
  afterAll(() => {
    for (const s of schemas) psql(`DROP SCHEMA IF EXISTS ${s} CASCADE;`, 'public');
  });

  for (const [config, root, n] of [['mimic3_demo', 'test/fixtures/mimic3', 2], ['physionet2012', 'data/physionet2012', 12]] as const) {
    it(`${config} records: every statement passes as written, and the tables hold what was exported`, async () => {
      const { records, data } = await loadRecords(config, root, n);
      const dir = join(tmp.dir, `mimic-${config}`);
      const report = await exportMimic3(records, { outDir: dir, specs: specsFromDataConfig(data) });
      const schema = `mimic_${config}_${process.pid}`;
      schemas.push(schema);
      const observed = buildMimic(dir, report.files, schema);
      for (const [file, rows] of Object.entries(report.files)) {
        if (file === 'SYNEHR_IDS.csv') continue;
        expect(observed.get(file.replace(/\.csv$/, '').toLowerCase()), file).toBe(rows);
      }
      expect(report.files['CHARTEVENTS.csv']).toBeGreaterThan(100);
    });
  }

  it("GCS as mimic-code's concepts read it: components 184/454/723 with numeric VALUENUM, summing to the charted total", async () => {
    const { records, data } = await loadRecords('mimic3_demo', 'test/fixtures/mimic3', 2);
    const dir = join(tmp.dir, 'mimic-gcs');
    const report = await exportMimic3(records, { outDir: dir, specs: specsFromDataConfig(data) });
    const schema = `mimic_gcs_${process.pid}`;
    schemas.push(schema);
    buildMimic(dir, report.files, schema);
    // the pivot of mimic-code's GCS concepts (concepts/pivot/pivoted_gcs.sql): components by VALUENUM, per stay and time
    const rows = psql(
      `SELECT icustay_id, charttime,
              max(CASE WHEN itemid = 454 THEN valuenum END) AS motor,
              max(CASE WHEN itemid = 723 THEN valuenum END) AS verbal,
              max(CASE WHEN itemid = 184 THEN valuenum END) AS eyes,
              max(CASE WHEN itemid = 198 THEN valuenum END) AS total
       FROM chartevents WHERE itemid IN (184, 454, 723, 198) GROUP BY 1, 2;`,
      schema,
    )
      .trim()
      .split('\n')
      .map((l) => l.split('\t').map((x) => (x === '' ? null : Number(x))));
    const complete = rows.filter(([, , m, v, e]) => m !== null && v !== null && e !== null);
    expect(complete.length).toBeGreaterThan(10);
    for (const [, , m, v, e] of complete) expect(m! + v! + e!).toBeGreaterThanOrEqual(3);
    const withTotal = complete.filter((r) => r[5] !== null);
    expect(withTotal.length).toBeGreaterThan(5);
    // the charted total is mostly the sum of the three (8 of 9 times in these two stays: a nurse's
    // total may be charted a minute apart from its parts)
    const agree = withTotal.filter(([, , m, v, e, t]) => m! + v! + e! === t);
    expect(agree.length / withTotal.length).toBeGreaterThan(0.8);
  });
});

describe.runIf(Boolean(pgUrl))("OHDSI's OMOP CDM 5.4 PostgreSQL DDL, primary keys, constraints and indices, with an Athena vocabulary", () => {
  const schema = `omop_${process.pid}`;
  afterAll(() => psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE;`, 'public'));

  it('every statement passes; every concept id the export writes is in the vocabulary (foreign keys), mapped through vocab=DIR', async () => {
    const vocab = join(ROOT, 'test/fixtures/athena');
    const dir = join(tmp.dir, 'omop');
    const specs = specsFromDataConfig(fixtureData());
    const report = await exportOmop(fixturePatients(), { outDir: dir, specs, vocabDir: vocab });
    // SqlRender's rendering for PostgreSQL: the schema placeholder becomes the schema
    const ddl = (f: string) => readFileSync(join(REF, 'omop-cdm-5.4', f), 'utf8').replaceAll('@cdmDatabaseSchema', schema) + '\n';
    const athena = ['CONCEPT', 'CONCEPT_RELATIONSHIP', 'VOCABULARY', 'DOMAIN', 'CONCEPT_CLASS', 'RELATIONSHIP']
      // OHDSI's instructions for loading Athena's files: tab-delimited, a header, no quoting
      .map((t) => `\\copy ${t.toLowerCase()} FROM '${join(vocab, `${t}.csv`)}' WITH (FORMAT csv, DELIMITER E'\\t', HEADER, QUOTE E'\\b')\n`)
      .join('');
    const tables = Object.keys(report.files).map((f) => `\\copy ${f.replace(/\.csv$/, '')} FROM '${join(dir, f)}' WITH (FORMAT csv, HEADER, NULL '')\n`).join('');
    psql(`CREATE SCHEMA ${schema};\n` + ddl('OMOPCDM_postgresql_5.4_ddl.sql') + athena + tables + ddl('OMOPCDM_postgresql_5.4_primary_keys.sql') + ddl('OMOPCDM_postgresql_5.4_constraints.sql') + ddl('OMOPCDM_postgresql_5.4_indices.sql'), schema);
    const counts = psql(Object.keys(report.files).map((f) => `SELECT '${f}', count(*) FROM ${f.replace(/\.csv$/, '')};`).join('\n'), schema);
    expect(Object.fromEntries(counts.trim().split('\n').map((l) => l.split('\t')).map(([f, n]) => [f, Number(n)]))).toEqual(report.files);
    // the vocabulary's standard LOINC concepts, joined back by the CDM's own keys
    const hr = psql(`SELECT DISTINCT c.vocabulary_id, c.concept_code, c.standard_concept, u.concept_code FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id JOIN concept u ON u.concept_id = m.unit_concept_id WHERE m.measurement_source_value = 'HR';`, schema);
    expect(hr.trim()).toBe('LOINC\t8867-4\tS\t/min');
    const unmapped = psql(`SELECT count(*) FROM measurement WHERE measurement_concept_id = 0;`, schema);
    expect(Number(unmapped.trim())).toBe(4); // pH, lactate and two GCS values: no concept in this vocabulary
    expect(psql(`SELECT cdm_version, vocabulary_version FROM cdm_source;`, schema).trim()).toBe('CDM v5.4\tsynehr test fixture');
  });
});
