/**
 * `synehr load` throughput: rows/s loading 20,000 synthetic patients into PGlite and PostgreSQL.
 *
 *   npx tsx bench/load.ts                          # PGlite; PostgreSQL too when SYNEHR_TEST_PG_URL is set
 *   npx tsx bench/load.ts --patients 5000 --base 50 --url postgres://postgres@127.0.0.1:5432/postgres
 *
 * The patients are made by replicating the first --base PhysioNet 2012 set-a patients (the embedded
 * data, through the project's own loader) under new ids until there are --patients of them, written
 * as the four Parquet tables by src/records/tables.ts, as `generate` writes them. Then, timed apart:
 * reading and checking the directory (manifest, keys) and the load itself (one transaction: DROP,
 * CREATE, COPY in batches, keys and indexes, COMMIT). rows/s counts the rows of all four tables.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readDataConfigFile } from '../src/records/dataConfig.ts';
import { writeRecordTables } from '../src/records/tables.ts';
import type { PatientRecord } from '../src/records/types.ts';
import { loadSource } from '../src/sources/index.ts';
import { openRecordsDir } from '../src/records/recordsDir.ts';
import { loadTables, openPGlite, openPostgres, redactUrl, type SqlSession } from '../src/load/database.ts';
import { rowCounts } from '../src/records/parquet.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    patients: { type: 'string', default: '20000' },
    base: { type: 'string', default: '50' },
    url: { type: 'string' },
    'batch-rows': { type: 'string', default: '20000' },
  },
});
const nPatients = Number(args.patients);
const nBase = Number(args.base);
const batchRows = Number(args['batch-rows']);
const pgUrl = args.url ?? process.env['SYNEHR_TEST_PG_URL'];

function* replicate(base: PatientRecord[], n: number): Generator<PatientRecord> {
  for (let i = 0; i < n; i++) {
    const src = base[i % base.length]!;
    yield { ...src, id: `s${i}`, admissions: src.admissions.map((a, j) => ({ ...a, id: `s${i}-a${j}` })) };
  }
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await f();
  return [out, (performance.now() - t0) / 1000];
}

const data = await readDataConfigFile(join(ROOT, 'configs/data/physionet2012.yaml'));
const base: PatientRecord[] = [];
for await (const r of loadSource(data, (p) => resolve(ROOT, p))) {
  base.push(r);
  if (base.length >= nBase) break;
}

const work = await mkdtemp(join(tmpdir(), 'synehr-bench-load-'));
try {
  const dir = join(work, 'synthetic');
  const [counts, writeS] = await timed(() => writeRecordTables(dir, replicate(base, nPatients), data));
  // the data config beside the tables, as `synehr prepare` leaves it
  await writeFile(join(dir, 'data.json'), JSON.stringify(data));
  const [src, readS] = await timed(() => openRecordsDir(dir));
  const rows = Object.values(rowCounts(src.tables)).reduce((a, b) => a + b, 0);
  console.error(`bench/load: ${nPatients} patients from ${base.length} PhysioNet 2012 patients: ${JSON.stringify(counts)} = ${rows} rows; written in ${writeS.toFixed(1)} s, read + checked in ${readS.toFixed(1)} s`);

  const targets: { name: string; open: () => Promise<SqlSession>; where: string }[] = [
    { name: 'pglite', open: () => openPGlite(join(work, 'pglite')), where: join(work, 'pglite') },
  ];
  if (pgUrl) targets.push({ name: 'postgres', open: () => openPostgres(pgUrl), where: redactUrl(pgUrl) });
  else console.error('bench/load: no --url and no SYNEHR_TEST_PG_URL: PostgreSQL skipped');

  for (const t of targets) {
    const [session, openS] = await timed(t.open);
    try {
      const schema = 'synehr_bench';
      const [report] = await timed(() => loadTables(session, src.tables, { schema, mode: 'replace', batchRows }));
      const result = {
        target: t.name,
        patients: nPatients,
        rows,
        events: counts.events,
        open_s: Number(openS.toFixed(2)),
        load_s: Number(report.seconds.toFixed(2)),
        rows_per_s: Math.round(rows / report.seconds),
        read_check_s: Number(readS.toFixed(2)),
        end_to_end_rows_per_s: Math.round(rows / (report.seconds + readS)),
      };
      console.log(JSON.stringify(result));
      if (t.name === 'postgres') await session.query(`DROP SCHEMA ${schema} CASCADE`);
    } finally {
      await session.close();
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
