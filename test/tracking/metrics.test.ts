import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatMetricsRow, parseMetricsJsonl, readMetricsJsonl } from '../../src/tracking/metricsJsonl.ts';
import { createTracker } from '../../src/tracking/tracker.ts';

const jsonlOnly = { metrics_jsonl: true, tensorboard: false, wandb: false, wandb_project: 'synehr', wandb_entity: null };
const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'synehr-metrics-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('metrics.jsonl', () => {
  it('round trip: each log() is one line {step, time, ...scalars}, read back exactly', async () => {
    const dir = tmp();
    let t = 1_700_000_000_000;
    const tracker = await createTracker(dir, jsonlOnly, { runName: 'r', config: {} }, { now: () => (t += 250) });
    const logged: [number, Record<string, number>][] = [];
    for (let step = 0; step < 50; step += 5) {
      const scalars = { 'train/loss': 4 / (1 + step) + Math.sin(step) * 1e-7, lr: 6e-4 * Math.min(1, step / 20), tokens_per_s: 1000 + step };
      logged.push([step, scalars]);
      tracker.log(step, scalars);
    }
    await tracker.close();

    const text = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    expect(text.split('\n')).toHaveLength(logged.length + 1); // ends with a newline
    const rows = readMetricsJsonl(join(dir, 'metrics.jsonl'));
    expect(rows).toEqual(
      logged.map(([step, s], i) => ({ step, time: (1_700_000_000_000 + 250 * (i + 1)) / 1000, ...s })),
    );
  });

  it('is visible on disk as soon as log() returns (the dashboard reads it live)', async () => {
    const dir = tmp();
    const tracker = await createTracker(dir, jsonlOnly, { runName: 'r', config: {} });
    tracker.log(1, { 'train/loss': 1.5 });
    expect(readMetricsJsonl(join(dir, 'metrics.jsonl')).map((r) => r['train/loss'])).toEqual([1.5]);
    tracker.log(2, { 'train/loss': 1.25 });
    expect(readMetricsJsonl(join(dir, 'metrics.jsonl')).map((r) => r['train/loss'])).toEqual([1.5, 1.25]);
    await tracker.close();
  });

  it('appends on resume instead of truncating', async () => {
    const dir = tmp();
    for (const step of [1, 2]) {
      const tracker = await createTracker(dir, jsonlOnly, { runName: 'r', config: {} });
      tracker.log(step, { lr: step });
      await tracker.close();
    }
    expect(readMetricsJsonl(join(dir, 'metrics.jsonl')).map((r) => r.step)).toEqual([1, 2]);
  });

  it('writes non-finite values as null and keeps step/time reserved', () => {
    const line = formatMetricsRow(3, 10.5, { 'train/loss': NaN, x: -Infinity, step: 99, time: 0 });
    expect(JSON.parse(line)).toEqual({ step: 3, time: 10.5, 'train/loss': null, x: null });
  });

  it('a reader skips a torn last line and foreign lines', () => {
    const dir = tmp();
    const path = join(dir, 'metrics.jsonl');
    appendFileSync(path, '{"step":1,"time":1,"a":1}\nnot json\n[1,2]\n{"nostep":1}\n{"step":2,"time":2,"a":2}\n{"step":3,"ti');
    expect(parseMetricsJsonl(readFileSync(path, 'utf8')).map((r) => r.step)).toEqual([1, 2]);
  });

  it('writes nothing when both file sinks are off', async () => {
    const dir = tmp();
    const tracker = await createTracker(dir, { ...jsonlOnly, metrics_jsonl: false }, { runName: 'r', config: {} });
    tracker.log(1, { a: 1 });
    tracker.text('t', 'x');
    await tracker.close();
    expect(tracker.files).toEqual({ metricsJsonl: null, tfevents: null, wandb: null });
  });
});
