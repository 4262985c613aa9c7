import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

export type CsvCell = string | number | boolean | null | undefined;

/**
 * One CSV field (RFC 4180), the same for every CSV synehr writes (record tables, the MIMIC/OMOP
 * exports, PostgreSQL's COPY): null is an unquoted empty field and the empty string a quoted one, so
 * a reader that keeps the difference (COPY, DuckDB) gets it back. A field is quoted, its quotes
 * doubled, when it holds a separator, a quote, a line break or a backslash (COPY's `\.` end marker),
 * or starts or ends with white space (which some readers trim).
 */
export function csvField(v: CsvCell): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') return String(v);
  return v === '' || /[",\r\n\\]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

/** One row: fields joined by commas (no line break). */
export function csvRow(fields: readonly CsvCell[]): string {
  let line = '';
  for (let i = 0; i < fields.length; i++) line += (i === 0 ? '' : ',') + csvField(fields[i]);
  return line;
}

/**
 * A CSV file written row by row with a header, buffered (about 1 MB a write) and with
 * backpressure, so a table of any size streams to disk instead of being built in memory.
 */
export class CsvWriter {
  private readonly stream: WriteStream;
  private buffer: string[] = [];
  private bufferedChars = 0;
  private failure: unknown = null;
  rows = 0;

  constructor(
    readonly file: string,
    readonly header: readonly string[],
  ) {
    this.stream = createWriteStream(file);
    this.stream.on('error', (e) => (this.failure = e));
    this.buffer.push(csvRow(header));
  }

  /** One row, fields in header order; returns a promise (await it) only when the buffer was written out. */
  write(fields: readonly CsvCell[]): Promise<void> | undefined {
    const line = csvRow(fields);
    this.buffer.push(line);
    this.bufferedChars += line.length;
    this.rows++;
    return this.bufferedChars > 1 << 20 ? this.flush() : undefined;
  }

  private async flush(): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (this.buffer.length === 0) return;
    const chunk = this.buffer.join('\n') + '\n';
    this.buffer = [];
    this.bufferedChars = 0;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failure !== null) throw this.failure;
  }

  /** Stops writing; the caller removes the file. */
  abort(): void {
    this.stream.destroy();
  }
}
