import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

/** RFC 4180 field: quoted when it holds a separator, a quote or a line break; null/undefined is empty. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? String(v) : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A CSV file written row by row with a header, buffered and with backpressure, so that an export of
 * many patients streams to disk instead of building each file in memory.
 */
export class CsvWriter {
  private readonly stream: WriteStream;
  private buffer: string[] = [];
  private bufferedChars = 0;
  rows = 0;

  constructor(
    readonly file: string,
    readonly header: readonly string[],
  ) {
    this.stream = createWriteStream(file);
    this.buffer.push(header.join(','));
  }

  /** One row, fields in header order. */
  async write(fields: readonly (string | number | null | undefined)[]): Promise<void> {
    const line = fields.map(csvField).join(',');
    this.buffer.push(line);
    this.bufferedChars += line.length;
    this.rows++;
    // ~1 MB per write keeps syscalls few and memory flat
    if (this.bufferedChars > 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer.join('\n') + '\n';
    this.buffer = [];
    this.bufferedChars = 0;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
