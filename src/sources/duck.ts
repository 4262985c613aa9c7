/**
 * The embedded DuckDB that scans, joins and sorts raw CSV / CSV.gz / Parquet tables for the
 * loaders of large sources, in bounded memory (a memory limit, spilling sorts to a temporary
 * directory). Results come back to JS one chunk (2,048 rows) at a time.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { inputError, SynehrError } from '../util/errors.ts';

export interface DuckOptions {
  /** DuckDB's memory_limit, e.g. "1GB"; sorts beyond it spill to disk */
  memoryLimit: string;
  threads: number;
  /** where sorts spill (a fresh folder is made inside it and removed on close); default the OS temp dir */
  tempRoot?: string | null;
}

export class Duck {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly tempDir: string,
    readonly conn: DuckDBConnection,
  ) {}

  static async open(opts: DuckOptions): Promise<Duck> {
    const tempDir = await mkdtemp(join(opts.tempRoot ?? tmpdir(), 'synehr-duckdb-'));
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: opts.memoryLimit,
      threads: String(opts.threads),
      temp_directory: tempDir,
      preserve_insertion_order: 'true',
    });
    return new Duck(instance, tempDir, await instance.connect());
  }

  /** A second connection, for a result streamed while another is open. */
  async connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
    await rm(this.tempDir, { recursive: true, force: true });
  }

  /** Run a statement; a DuckDB error becomes an input error naming `file` (a parse error in a raw table). */
  async run(sql: string, file: string): Promise<void> {
    try {
      await this.conn.run(sql);
    } catch (e) {
      throw duckInputError(e, file);
    }
  }

  async all(sql: string, file: string): Promise<DuckDBValue[][]> {
    try {
      return (await this.conn.runAndReadAll(sql)).getRows();
    } catch (e) {
      throw duckInputError(e, file);
    }
  }
}

/** DuckDB's own message is precise (it names the line and the value); keep it, prefixed by the file. */
export function duckInputError(e: unknown, file: string): SynehrError {
  if (e instanceof SynehrError) return e;
  const msg = String((e as Error).message ?? e)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 4)
    .join(' | ');
  if (/out of memory/i.test(msg)) return new SynehrError('E_MEMORY', `DuckDB ran out of memory reading ${file}: raise data.options.memory_limit (${msg})`);
  const line = /\bline:\s*(\d+)/i.exec(msg);
  return inputError(file, line ? Number(line[1]) : undefined, msg);
}

/** Stream a query's rows, one chunk at a time, on its own connection. */
export async function* streamRows(conn: DuckDBConnection, sql: string, file: string): AsyncGenerator<DuckDBValue[][]> {
  let result;
  try {
    result = await conn.stream(sql);
  } catch (e) {
    throw duckInputError(e, file);
  }
  for (;;) {
    let chunk;
    try {
      chunk = await result.fetchChunk();
    } catch (e) {
      throw duckInputError(e, file);
    }
    if (!chunk || chunk.rowCount === 0) return;
    yield chunk.getRows();
  }
}

/** SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The first of `candidates` (file names under root) that exists, or an input error listing them. */
export async function findTable(root: string, candidates: string[], what: string): Promise<string> {
  for (const c of candidates) {
    const p = join(root, c);
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  throw inputError(root, undefined, `no ${what} table: expected one of ${candidates.join(', ')}`);
}

/** The fields of a CSV line (RFC 4180: quoted fields, doubled quotes). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

/** The header line of a CSV or CSV.gz file, read by itself (at most 1 MiB). */
export async function readCsvHeader(path: string): Promise<string[]> {
  const raw = createReadStream(path);
  const stream = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let text = '';
  try {
    for await (const chunk of stream) {
      text += (chunk as Buffer).toString('utf8');
      if (text.includes('\n') || text.length > 1 << 20) break;
    }
  } catch (e) {
    throw inputError(path, 1, `cannot read the header (${(e as Error).message})`);
  } finally {
    raw.destroy();
  }
  const line = text.split(/\r?\n/, 1)[0]!.replace(/^\uFEFF/, '');
  if (line.trim() === '') throw inputError(path, 1, 'the file is empty: expected a header line');
  return splitCsvLine(line);
}

/**
 * A view over a CSV(.gz) file with every column as VARCHAR (type inference on a sample of a
 * 33 GB file is a gamble; the queries cast what they use), after checking its header holds the
 * columns the loader needs, in either case (the MIMIC demo's "SUBJECT_ID" or PhysioNet's subject_id).
 * The header is read here and handed to DuckDB with its sniffer off: a sniffer that sees one
 * malformed row can misread the whole layout, and the error then names line 1 instead of the row.
 * With `table`, the rows are copied into a table instead, whose `rowid` then follows the file's
 * order (insertion order is preserved): for tables whose row order carries meaning and that have
 * no column of their own to sort by.
 */
export async function csvView(duck: Duck, view: string, path: string, required: string[], opts: { ignoreErrors?: boolean; table?: boolean } = {}): Promise<string[]> {
  // DuckDB's names for what a header leaves unnamed or repeats: column<i>, name_<n>
  const seen = new Set<string>();
  const cols = (await readCsvHeader(path)).map((c, i) => {
    let name = c === '' ? `column${i}` : c;
    for (let n = 1; seen.has(name.toLowerCase()); n++) name = `${c}_${n}`;
    seen.add(name.toLowerCase());
    return name;
  });
  const lower = new Set(cols.map((c) => c.toLowerCase()));
  const missing = required.filter((c) => !lower.has(c.toLowerCase()));
  if (missing.length) {
    throw inputError(path, 1, `wrong header: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (header has ${cols.join(', ')})`);
  }
  const columns = `{${cols.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ')}}`;
  const src =
    `read_csv(${sqlString(path)}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', columns = ${columns}` +
    `${opts.ignoreErrors ? ', ignore_errors = true' : ''})`;
  await duck.run(`CREATE OR REPLACE ${opts.table ? 'TABLE' : 'VIEW'} ${view} AS SELECT * FROM ${src}`, path);
  return cols;
}

/** A result stream with one row of lookahead. */
export class RowCursor {
  private buf: DuckDBValue[][] = [];
  private i = 0;
  private done = false;
  constructor(private readonly it: AsyncGenerator<DuckDBValue[][]>) {}
  async peek(): Promise<DuckDBValue[] | null> {
    while (this.i >= this.buf.length) {
      if (this.done) return null;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return null;
      }
      this.buf = r.value;
      this.i = 0;
    }
    return this.buf[this.i]!;
  }
  take(): void {
    this.i++;
  }
}


export const num = (v: DuckDBValue): number | null => (v === null ? null : typeof v === 'bigint' ? Number(v) : (v as number));
export const str = (v: DuckDBValue): string | null => (v === null ? null : String(v));
