import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { PGlite } from '@electric-sql/pglite';
import { SynehrError } from '../util/errors.ts';
import { csvRow } from '../records/csv.ts';
import { rowCounts, type Column, type RecordTable, type RecordTables } from '../records/parquet.ts';
import { REQUIRED_COLUMNS, TABLE_NAMES, type TableName } from '../records/schema.ts';

/**
 * Loading the four record tables into PostgreSQL or an embedded PGlite database: one transaction,
 * COPY in batches, then primary keys, foreign keys and indexes. Replace mode drops and recreates the
 * tables inside the same transaction, so a failure at any point leaves the target as it was and a
 * second run gives the same database as the first.
 */

/** replace: drop the four tables (if any) and load afresh; append: add rows to the tables (created if missing). */
export type LoadMode = 'replace' | 'append';

/** The little a loader needs from a connection; one implementation per client library. */
export interface SqlSession {
  readonly kind: 'postgres' | 'pglite';
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs `COPY ... FROM STDIN` over the given CSV chunks (each a whole number of rows). */
  copyCsv(copySql: string, chunks: AsyncIterable<string> | Iterable<string>): Promise<void>;
  close(): Promise<void>;
}

export interface LoadOptions {
  /** the PostgreSQL schema the tables go in; created if missing */
  schema: string;
  mode: LoadMode;
  /** rows per batch read and sent: bounds memory (PGlite receives each batch as one COPY of one blob) */
  batchRows: number;
  /** Runs inside the transaction after the data is in, before COMMIT: a throw rolls everything back. */
  beforeCommit?: (session: SqlSession) => Promise<void>;
  log?: (message: string) => void;
}

export const defaultLoadOptions: LoadOptions = {
  // a schema of our own, so that replace mode never drops a user's public.patients
  schema: 'synehr',
  mode: 'replace',
  // ~1-2 MB of CSV per batch for typical event rows
  batchRows: 20_000,
};

export interface LoadReport {
  target: string;
  schema: string;
  mode: LoadMode;
  rows: Record<TableName, number>;
  seconds: number;
}

/** Quotes an SQL identifier (a schema, table or column name from a data config). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

// --- sessions -----------------------------------------------------------------------------------

/** A session over one node-postgres client (the transaction needs one connection, not a pool). */
export async function openPostgres(url: string): Promise<SqlSession> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (e) {
    throw new SynehrError('E_DB_CONNECT', `cannot connect to ${redactUrl(url)}: ${(e as Error).message}`, { cause: e });
  }
  // a server-side error between statements must not crash the process through an unhandled 'error' event
  client.on('error', () => {});
  return {
    kind: 'postgres',
    async query(sql, params) {
      return (await client.query(sql, params as unknown[] | undefined)).rows;
    },
    async copyCsv(copySql, chunks) {
      const stream = client.query(copyFrom(copySql));
      await pipeline(Readable.from(chunks), stream);
    },
    async close() {
      await client.end();
    },
  };
}

/** A session over an embedded PGlite database in dataDir (created if missing), or in memory. */
export async function openPGlite(dataDir: string | null): Promise<SqlSession> {
  const db = dataDir === null ? new PGlite() : new PGlite(dataDir);
  await db.waitReady;
  return pgliteSession(db, true);
}

/** Wraps a PGlite instance; `owned` says whether close() closes it. */
export function pgliteSession(db: PGlite, owned: boolean): SqlSession {
  return {
    kind: 'pglite',
    async query(sql, params) {
      return (await db.query<Record<string, unknown>>(sql, params)).rows;
    },
    async copyCsv(copySql, chunks) {
      // PGlite has no COPY protocol stream; it reads COPY ... FROM '/dev/blob' from a Blob per statement
      const blobSql = copySql.replace(/FROM STDIN/, `FROM '/dev/blob'`);
      for await (const chunk of chunks) await db.query(blobSql, [], { blob: new Blob([chunk]) });
    },
    async close() {
      if (owned) await db.close();
    },
  };
}

/** postgres://user:secret@host/db -> postgres://user:***@host/db, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

// --- CSV for COPY -------------------------------------------------------------------------------

/** A batch of rows as CSV for COPY (records/csv.ts: NULL unquoted empty, the empty string quoted), columns in the order given. */
function csvRows(columns: Column[]): string {
  const cols = columns.map((c) => c.values);
  const n = cols[0]?.length ?? 0;
  const lines: string[] = new Array(n);
  const row = new Array(cols.length);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < cols.length; c++) row[c] = cols[c]![r]!;
    lines[r] = csvRow(row);
  }
  return lines.join('\n') + '\n';
}

async function* csvBatches(table: RecordTable, batchRows: number): AsyncGenerator<string> {
  for await (const { columns } of table.batches({ batchRows })) if (columns[0]!.values.length > 0) yield csvRows(columns);
}

// --- DDL ----------------------------------------------------------------------------------------

function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

function createTableSql(schema: string, table: RecordTable, ifNotExists: boolean): string {
  const required = new Set(REQUIRED_COLUMNS[table.name].filter((c) => c.name !== 'value_num' && c.name !== 'value_text').map((c) => c.name));
  const cols = table.columns.map((c) => `${quoteIdent(c.name)} ${c.type}${required.has(c.name) ? ' NOT NULL' : ''}`);
  // events rows have no natural key (two values of one variable may share a time): a surrogate one
  if (table.name === 'events') cols.unshift('"event_id" bigint GENERATED ALWAYS AS IDENTITY');
  return `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${qualified(schema, table.name)} (${cols.join(', ')})`;
}

/** Keys and indexes, added after the COPY in replace mode (faster than checking row by row). */
function constraintSql(schema: string): string[] {
  const t = (n: string) => qualified(schema, n);
  return [
    `ALTER TABLE ${t('patients')} ADD PRIMARY KEY ("patient_id")`,
    `ALTER TABLE ${t('admissions')} ADD PRIMARY KEY ("admission_id")`,
    `ALTER TABLE ${t('admissions')} ADD FOREIGN KEY ("patient_id") REFERENCES ${t('patients')} ("patient_id")`,
    `ALTER TABLE ${t('codes')} ADD PRIMARY KEY ("admission_id", "seq")`,
    `ALTER TABLE ${t('codes')} ADD FOREIGN KEY ("admission_id") REFERENCES ${t('admissions')} ("admission_id")`,
    `ALTER TABLE ${t('events')} ADD PRIMARY KEY ("event_id")`,
    `ALTER TABLE ${t('events')} ADD FOREIGN KEY ("admission_id") REFERENCES ${t('admissions')} ("admission_id")`,
    `CREATE INDEX ON ${t('admissions')} ("patient_id", "seq")`,
    `CREATE INDEX ON ${t('events')} ("admission_id", "hours")`,
    `CREATE INDEX ON ${t('events')} ("variable")`,
    `CREATE INDEX ON ${t('codes')} ("code")`,
  ];
}

async function existingColumns(session: SqlSession, schema: string, table: string): Promise<Map<string, string>> {
  const rows = await session.query(
    'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
    [schema, table],
  );
  return new Map(rows.map((r) => [String(r['column_name']), String(r['data_type'])]));
}

// --- the load -----------------------------------------------------------------------------------

async function copyTable(session: SqlSession, schema: string, table: RecordTable, batchRows: number): Promise<void> {
  if (table.rowCount === 0) return;
  const cols = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  await session.copyCsv(`COPY ${qualified(schema, table.name)} (${cols}) FROM STDIN WITH (FORMAT csv)`, csvBatches(table, batchRows));
}

async function countRows(session: SqlSession, schema: string): Promise<Record<TableName, number>> {
  const counts = {} as Record<TableName, number>;
  for (const name of TABLE_NAMES) {
    const rows = await session.query(`SELECT count(*)::int AS n FROM ${qualified(schema, name)}`);
    counts[name] = Number(rows[0]!['n']);
  }
  return counts;
}

/**
 * Loads checked tables (see checkIntegrity) into the session's database in one transaction. Any
 * error, from the server or from beforeCommit, rolls back and is rethrown as E_DB_LOAD.
 */
export async function loadTables(session: SqlSession, tables: RecordTables, options: Partial<LoadOptions> = {}): Promise<LoadReport> {
  const opts: LoadOptions = { ...defaultLoadOptions, ...options };
  const { schema, mode } = opts;
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  let before: Record<TableName, number> | null = null;
  await session.query('BEGIN');
  try {
    // index and key builds sort the whole table: give them more than the 64 MB default, for this transaction only
    if (session.kind === 'postgres') await session.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    await session.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    if (mode === 'replace') {
      // children first; no CASCADE: a user's view on these tables makes the load fail rather than vanish
      for (const name of [...TABLE_NAMES].reverse()) await session.query(`DROP TABLE IF EXISTS ${qualified(schema, name)}`);
      for (const name of TABLE_NAMES) await session.query(createTableSql(schema, tables[name], false));
      for (const name of TABLE_NAMES) {
        await copyTable(session, schema, tables[name], opts.batchRows);
        log(`copied ${tables[name].rowCount} rows into ${schema}.${name}`);
      }
      for (const sql of constraintSql(schema)) await session.query(sql);
    } else {
      const fresh = (await existingColumns(session, schema, 'patients')).size === 0;
      for (const name of TABLE_NAMES) {
        const have = await existingColumns(session, schema, name);
        if (have.size === 0) {
          await session.query(createTableSql(schema, tables[name], false));
          continue;
        }
        const missing = tables[name].columns.filter((c) => !have.has(c.name)).map((c) => c.name);
        if (missing.length > 0) {
          throw new SynehrError('E_DB_SCHEMA', `cannot append: ${schema}.${name} has no column ${missing.map((m) => `"${m}"`).join(', ')} (load with mode=replace, or into another schema=)`);
        }
      }
      if (fresh) for (const sql of constraintSql(schema)) await session.query(sql);
      before = await countRows(session, schema);
      for (const name of TABLE_NAMES) {
        await copyTable(session, schema, tables[name], opts.batchRows);
        log(`copied ${tables[name].rowCount} rows into ${schema}.${name}`);
      }
    }
    // the server's count must be what we sent; a mismatch is a bug, and rolls back
    const after = await countRows(session, schema);
    const sent = rowCounts(tables);
    for (const name of TABLE_NAMES) {
      const expected = (before?.[name] ?? 0) + sent[name];
      if (after[name] !== expected) throw new Error(`${schema}.${name} has ${after[name]} rows after the load; expected ${expected}`);
    }
    if (opts.beforeCommit) await opts.beforeCommit(session);
    await session.query('COMMIT');
  } catch (e) {
    await session.query('ROLLBACK').catch(() => {});
    if (e instanceof SynehrError) throw e;
    throw new SynehrError('E_DB_LOAD', `load into ${schema} failed and was rolled back, the target is unchanged: ${(e as Error).message}`, { cause: e });
  }
  return { target: session.kind, schema, mode, rows: rowCounts(tables), seconds: (performance.now() - t0) / 1000 };
}
