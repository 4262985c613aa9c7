import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import S3rver from 's3rver';
import { main } from '../../src/cli/main.ts';
import { openPostgres } from '../../src/load/database.ts';
import { fixturePatients, writeSyntheticDir } from './fixtures.ts';
import { recordsFromDatabase, sortById, tempDir } from './helpers.ts';

/** `synehr load` and `synehr export-data` through the CLI dispatcher, in process. */
const pgUrl = process.env['SYNEHR_TEST_PG_URL'];
let tmp: Awaited<ReturnType<typeof tempDir>>;
let dir: string;

async function synehr(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { cwd: tmp.dir, stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

beforeAll(async () => {
  tmp = await tempDir('cli');
  dir = await writeSyntheticDir(join(tmp.dir, 'data', 'synthetic', 'run1'), fixturePatients());
});
afterAll(async () => tmp.cleanup());

describe('synehr export-data', () => {
  it('synthetic=<dir> format=omop out=<dir> writes the OMOP tables', async () => {
    const r = await synehr('export-data', 'synthetic=data/synthetic/run1', 'format=omop', 'out=omop-out');
    expect(r.err).toContain('export-data: omop into');
    expect(r.code).toBe(0);
    expect(existsSync(join(tmp.dir, 'omop-out', 'person.csv'))).toBe(true);
  });

  it('vocab=<dir> (load.vocab) maps OMOP concepts through an Athena download; with another format it is refused, one line, exit 2', async () => {
    const athena = join(import.meta.dirname, '..', 'fixtures', 'athena');
    // variable, measurement concept, unit concept of every measurement row
    const concepts = async (out: string) => {
      const [header, ...rows] = (await readFile(join(tmp.dir, out, 'measurement.csv'), 'utf8')).trimEnd().split('\n').map((l) => l.split(','));
      const col = (name: string) => header!.indexOf(name);
      return new Set(rows.map((f) => `${f[col('measurement_source_value')]} ${f[col('measurement_concept_id')]} ${f[col('unit_concept_id')]}`));
    };
    // the fixture vocabulary's concepts (test/load/export.test.ts, 'OMOP vocab=DIR'): no Lactate, no mmol/L
    const fromVocab = new Set(['HR 3027018 8541', 'SysABP 3004249 8876', 'GCS 0 0', 'Temp 3020891 0', 'pH 0 0', 'Lactate 0 0']);
    expect((await synehr('export-data', 'synthetic=data/synthetic/run1', 'format=omop', 'out=omop-shipped')).code).toBe(0);
    expect(await concepts('omop-shipped')).not.toEqual(fromVocab);
    for (const [word, out] of [[`vocab=${athena}`, 'omop-vocab'], [`load.vocab=${athena}`, 'omop-vocab-key']] as const) {
      const r = await synehr('export-data', 'synthetic=data/synthetic/run1', 'format=omop', `out=${out}`, word);
      expect(r.code, r.err).toBe(0);
      expect(await concepts(out)).toEqual(fromVocab);
    }
    const refused = await synehr('export-data', 'synthetic=data/synthetic/run1', 'format=fhir', `vocab=${athena}`);
    expect(refused).toMatchObject({ code: 2, err: `synehr: error: load.vocab=${athena}: only format=omop reads a vocabulary, not format=fhir\n` });
  });

  it('EXPECTED FAILURE - no format: one line, exit 2', async () => {
    const r = await synehr('export-data', 'synthetic=data/synthetic/run1');
    expect(r).toMatchObject({ code: 2, err: 'synehr: error: export-data needs format=<mimic3|omop|fhir>\n' });
  });

  it('EXPECTED FAILURE - neither synthetic= nor model=', async () => {
    const r = await synehr('export-data', 'format=fhir');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/needs synthetic=<dir> \(a folder of the four tables\) or model=<run>/);
  });
});

describe('synehr load', () => {
  it('EXPECTED FAILURE - a bad mode, a bad target and a non-PostgreSQL url are refused by name', async () => {
    expect((await synehr('load', `synthetic=${dir}`, 'mode=upsert')).err).toBe(`synehr: error: config key 'load.mode' = "upsert": expected one of "replace", "append"\n`);
    expect((await synehr('load', `synthetic=${dir}`, 'target=mysql')).err).toBe(`synehr: error: config key 'load.target' = "mysql": expected one of "postgres", "s3"\n`);
    expect((await synehr('load', `synthetic=${dir}`, 'url=mysql://u:secret@h/db')).err).toBe("synehr: error: config key 'load.url' = mysql://u:***@h/db is not a PostgreSQL URL; expected postgres://user@host:port/database\n");
  });

  it.runIf(Boolean(pgUrl))('synthetic=<dir> url=postgres://... schema=<s> loads into the server', async () => {
    const schema = `synehr_cli_${process.pid}`;
    const r = await synehr('load', `synthetic=${dir}`, `url=${pgUrl}`, `schema=${schema}`, 'mode=replace');
    expect(r.err).toMatch(/load: 3 patients, 4 admissions, 6 codes, 9 events \(replace\) into postgres:\/\//);
    expect(r.code).toBe(0);
    const s = await openPostgres(pgUrl!);
    try {
      expect(sortById(await recordsFromDatabase(s, schema))).toEqual(sortById(fixturePatients()));
      await s.query(`DROP SCHEMA "${schema}" CASCADE`);
    } finally {
      await s.close();
    }
  });

  it('target=s3 url=s3://bucket/prefix endpoint=... uploads through the S3 API', async () => {
    await mkdir(join(tmp.dir, 'store'));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: join(tmp.dir, 'store'), configureBuckets: [{ name: 'cli-bucket' }] });
    const { port } = await server.run();
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
    try {
      const r = await synehr('load', 'synthetic=data/synthetic/run1', 'target=s3', 'url=s3://cli-bucket/run1', `endpoint=http://127.0.0.1:${port}`);
      expect(r.err).toMatch(/load: 5 objects, \d+ bytes into s3:\/\/cli-bucket/);
      expect(r.code).toBe(0);
    } finally {
      if (saved.id === undefined) delete process.env['AWS_ACCESS_KEY_ID'];
      else process.env['AWS_ACCESS_KEY_ID'] = saved.id;
      if (saved.secret === undefined) delete process.env['AWS_SECRET_ACCESS_KEY'];
      else process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
      await server.close();
    }
  });
});
