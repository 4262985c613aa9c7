/**
 * metrics.jsonl: one JSON object per logged step, `{"step": 100, "time": 1732370000.123, "train/loss": 2.31, ...}`.
 * `time` is Unix seconds. A non-finite scalar (a diverged loss) is written as null, because JSON has
 * no NaN; readers treat null as a gap in the curve.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';

export interface MetricsRow {
  step: number;
  time: number;
  [name: string]: number | null;
}

export function formatMetricsRow(step: number, time: number, scalars: Record<string, number>): string {
  const row: Record<string, number | null> = { step, time };
  for (const [k, v] of Object.entries(scalars)) {
    if (k === 'step' || k === 'time') continue; // reserved: the row's own keys win
    row[k] = Number.isFinite(v) ? v : null;
  }
  return JSON.stringify(row) + '\n';
}

/**
 * Parses metrics.jsonl text. A last line without its newline may be a write in progress and is
 * left out; any other line that is not a JSON object with a numeric `step` is skipped, so that a
 * dashboard watching a live file never fails on it.
 */
export function parseMetricsJsonl(text: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop();
  for (const line of lines) {
    if (line.trim() === '') continue;
    try {
      const o = JSON.parse(line) as unknown;
      if (o !== null && typeof o === 'object' && !Array.isArray(o) && typeof (o as MetricsRow).step === 'number') {
        rows.push(o as MetricsRow);
      }
    } catch {
      // a torn or foreign line: skip it
    }
  }
  return rows;
}

export function readMetricsJsonl(path: string): MetricsRow[] {
  return parseMetricsJsonl(readFileSync(path, 'utf8'));
}

/**
 * Appends rows to metrics.jsonl. Appending (not truncating) lets a resumed run continue the same
 * file; each row is written at once so a dashboard polling the file sees it live.
 */
export class MetricsJsonlWriter {
  readonly path: string;
  private fd: number | null;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'a');
  }

  write(step: number, time: number, scalars: Record<string, number>): void {
    if (this.fd === null) throw new Error(`metrics file ${this.path} is closed`);
    writeSync(this.fd, formatMetricsRow(step, time, scalars));
  }

  flush(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
