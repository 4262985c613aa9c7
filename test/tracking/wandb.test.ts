import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTracker } from '../../src/tracking/tracker.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { parseWandbJson, readWandbChunks, readWandbFile } from './wandbReader.ts';

const KEY = 'wandb-test-key-0123456789abcdef0123456789abcdef';
const cfg = { metrics_jsonl: true, tensorboard: true, wandb: true, wandb_project: 'synehr-test', wandb_entity: null };
const OFFLINE = { WANDB_MODE: 'offline' };

const tmpDirs: string[] = [];
const servers: Server[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'synehr-wandb-'));
  tmpDirs.push(d);
  return d;
}
afterEach(async () => {
  vi.restoreAllMocks();
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  await new Promise((r) => s.close(r));
  return port;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });
}

/** The one W&B run folder under dir/wandb/, its id, and the decoded records of its .wandb file. */
function wandbRun(dir: string): { folder: string; id: string; log: string; records: Record<string, any>[] } {
  const folders = readdirSync(join(dir, 'wandb'));
  expect(folders).toHaveLength(1);
  const m = /^(?:offline-)?run-\d{8}_\d{6}-([a-z0-9]{8})$/.exec(folders[0]);
  expect(m, folders[0]).not.toBeNull();
  const id = m![1];
  const log = join(dir, 'wandb', folders[0], `run-${id}.wandb`);
  return { folder: folders[0], id, log, records: readWandbFile(log) };
}

/** History rows as objects (value_json parsed), and the summary folded from its updates, as `wandb sync` would send them. */
function historyAndSummary(records: Record<string, any>[]): { rows: Record<string, unknown>[]; steps: number[]; summary: Record<string, unknown> } {
  const rows: Record<string, unknown>[] = [];
  const steps: number[] = [];
  const summary: Record<string, unknown> = {};
  for (const r of records) {
    if (r.history) {
      rows.push(Object.fromEntries(r.history.item.map((it: any) => [it.key, parseWandbJson(it.value_json)])));
      steps.push(r.history.step?.num ?? 0);
    }
    if (r.summary) for (const it of r.summary.update) summary[it.key] = parseWandbJson(it.value_json);
  }
  return { rows, steps, summary };
}

describe('Weights & Biases, WANDB_MODE=offline', () => {
  it('writes wandb/offline-run-*/run-<id>.wandb that a W&B reader decodes: header, run with config, one history row per step, summary, exit; no network, no key', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const notices: string[] = [];
    const warnings: string[] = [];
    const dir = tmp();
    let t = 1_700_000_000_000;
    // 500 ms a reading
    const config = { seed: 7, model: { n_layer: 2, n_embd: 64 }, run_name: 'tiny', tags: ['a', 'b'] };
    const tracker = await createTracker(dir, { ...cfg, wandb_entity: 'team-x' }, { runName: 'tiny', config }, {
      env: OFFLINE,
      now: () => (t += 500),
      hostname: 'box',
      info: (m) => notices.push(m),
      warn: (m) => warnings.push(m),
    });
    // the trainer's pattern: val/loss at 0, then train/loss and val/loss at the same steps
    tracker.log(0, { 'val/loss': 3.5 });
    tracker.log(10, { 'train/loss': 3, lr: 1e-3 });
    tracker.log(10, { 'val/loss': 2.5 });
    await tracker.flush();
    tracker.log(20, { 'train/loss': 2, lr: 5e-4 });
    tracker.log(20, { 'val/loss': 2.75 });
    tracker.log(30, { 'train/loss': NaN });
    await tracker.close();

    expect(fetchSpy).not.toHaveBeenCalled();
    expect(warnings).toEqual([]);
    const { folder, id, log, records } = wandbRun(dir);
    expect(folder.startsWith('offline-run-')).toBe(true);
    expect(tracker.files.wandb).toBe(log);
    expect(notices).toEqual([`wandb: offline run in ${join(dir, 'wandb', folder)}; upload it with: wandb sync ${join(dir, 'wandb', folder)}`]);

    expect(records.map((r) => r.record_type)).toEqual(['header', 'run', 'metric', ...Array(8).fill(0).map((_, i) => (i % 2 ? 'summary' : 'history')), 'exit']);
    expect(records.map((r) => r.num)).toEqual(records.map((_, i) => i + 1));
    expect(records[0].header.version_info.producer).toBe('synehr');
    const run = records[1].run;
    expect(run).toMatchObject({ run_id: id, entity: 'team-x', project: 'synehr-test', display_name: 'tiny', host: 'box' });
    // the clock's first reading names the event file, its second starts the W&B run
    expect(run.start_time).toEqual({ seconds: 1_700_000_001 });
    expect(Object.fromEntries(run.config.update.map((it: any) => [it.key, JSON.parse(it.value_json)]))).toEqual(config);
    expect(records[2].metric).toEqual({ name: 'val/loss', summary: { min: true, last: true }, goal: 'GOAL_MINIMIZE' });

    const { rows, steps, summary } = historyAndSummary(records);
    expect(steps).toEqual([0, 10, 20, 30]);
    expect(rows.map((r) => r._step)).toEqual([0, 10, 20, 30]);
    expect(rows[1]).toMatchObject({ 'train/loss': 3, lr: 1e-3, 'val/loss': 2.5 });
    expect(rows[2]).toMatchObject({ 'train/loss': 2, lr: 5e-4, 'val/loss': 2.75 });
    expect(rows[3]['train/loss']).toBeNaN();
    for (const r of rows) {
      expect(r._runtime).toBeCloseTo((r._timestamp as number) - 1_700_000_001, 6);
    }
    expect(summary).toMatchObject({ 'val/loss': { last: 2.75, min: 2.5 }, lr: 5e-4, _step: 30 });
    expect(summary['train/loss']).toBeNaN();
    expect(records.at(-1)!.exit).toEqual({ runtime: Math.round((t - 1_700_000_001_000) / 1000) });
  });

  it('a record larger than a 32 KiB block is split into FIRST/MIDDLE/LAST chunks, and blocks are padded, as the format says', async () => {
    const dir = tmp();
    const big = 'x'.repeat(80_000);
    const tracker = await createTracker(dir, cfg, { runName: 'big', config: { note: big } }, { env: OFFLINE, info: () => {} });
    for (let s = 0; s < 2000; s++) tracker.log(s, { 'train/loss': 1 / (s + 1), lr: s * 1e-6 });
    await tracker.close();
    const { log, records } = wandbRun(dir);
    const bytes = new Uint8Array(readFileSync(log));
    expect(bytes.length).toBeGreaterThan(4 * 32768);
    const types = new Set<number>();
    // walk the chunk headers to see that fragmented records really occur
    for (let pos = 7; pos < bytes.length; ) {
      if (32768 - (pos % 32768) < 7) {
        pos += 32768 - (pos % 32768);
        continue;
      }
      types.add(bytes[pos + 6]);
      pos += 7 + (bytes[pos + 4] | (bytes[pos + 5] << 8));
    }
    expect([...types].sort()).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(records[1].run.config.update[0].value_json)).toBe(big);
    const { steps } = historyAndSummary(records);
    expect(steps).toEqual(Array.from({ length: 2000 }, (_, s) => s));
  });

  it('EXPECTED FAILURE - the reader rejects a flipped byte (checksum), so the check above can fail', async () => {
    const dir = tmp();
    const tracker = await createTracker(dir, cfg, { runName: 'r', config: {} }, { env: OFFLINE, info: () => {} });
    tracker.log(0, { a: 1 });
    await tracker.close();
    const bytes = new Uint8Array(readFileSync(wandbRun(dir).log));
    bytes[bytes.length - 3] ^= 0x40;
    expect(() => readWandbChunks(bytes)).toThrow(/checksum mismatch/);
  });

  it('a step below the current one is left out of the W&B run with one warning (metrics.jsonl keeps it); close({exitCode: 1}) marks the run failed', async () => {
    const dir = tmp();
    const warnings: string[] = [];
    const tracker = await createTracker(dir, cfg, { runName: 'r', config: {} }, { env: OFFLINE, info: () => {}, warn: (m) => warnings.push(m) });
    tracker.log(5, { a: 1 });
    tracker.log(3, { a: 2 });
    tracker.log(4, { a: 3 });
    tracker.log(6, { a: 4 });
    await tracker.close({ exitCode: 1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('step 3 is below the current step');
    const { records } = wandbRun(dir);
    expect(historyAndSummary(records).steps).toEqual([5, 6]);
    expect(records.at(-1)!.exit.exit_code).toBe(1);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
  });
});

describe('Weights & Biases, WANDB_MODE', () => {
  it('disabled: no W&B folder, no network, one notice', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const notices: string[] = [];
    const dir = tmp();
    const tracker = await createTracker(dir, cfg, { runName: 'r', config: {} }, { env: { WANDB_MODE: 'disabled', WANDB_API_KEY: KEY }, info: (m) => notices.push(m) });
    tracker.log(0, { a: 1 });
    await tracker.close();
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(readdirSync(dir).sort()).toEqual(['events.out.tfevents', 'metrics.jsonl'].map((f) => readdirSync(dir).find((x) => x.startsWith(f))!).sort());
    expect(notices).toEqual(['wandb: WANDB_MODE=disabled, not logging to Weights & Biases']);
    expect(tracker.files.wandb).toBeNull();
  });

  it('EXPECTED FAILURE - WANDB_MODE of another value is a SynehrError naming it', async () => {
    const err = await createTracker(tmp(), cfg, { runName: 'r', config: {} }, { env: { WANDB_MODE: 'ofline' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SynehrError);
    expect((err as SynehrError).code).toBe('E_ENV');
    expect((err as SynehrError).message).toBe('environment variable WANDB_MODE="ofline": expected online, offline or disabled');
  });

  it('online (the default) with no WANDB_API_KEY: one warning, no network, an offline run instead', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const warnings: string[] = [];
    const dir = tmp();
    const tracker = await createTracker(dir, cfg, { runName: 'r', config: {} }, { env: {}, warn: (m) => warnings.push(m), info: () => {} });
    for (let s = 0; s < 3; s++) tracker.log(s, { 'train/loss': 1 / (s + 1) });
    await tracker.close();
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('WANDB_API_KEY is not set; writing an offline W&B run instead');
    expect(wandbRun(dir).folder.startsWith('offline-run-')).toBe(true);
    expect(historyAndSummary(wandbRun(dir).records).steps).toEqual([0, 1, 2]);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
  });
});

describe('Weights & Biases, online', () => {
  it('with a key and an unreachable endpoint: one warning naming the sync command, the run goes on, the key is in no file', async () => {
    const port = await closedPort();
    const warnings: string[] = [];
    const dir = tmp();
    const tracker = await createTracker(
      dir,
      cfg,
      { runName: 'r', config: { model: { n_layer: 2 } } },
      { env: { WANDB_API_KEY: KEY, WANDB_BASE_URL: `http://127.0.0.1:${port}` }, warn: (m) => warnings.push(m) },
    );
    for (let s = 0; s < 5; s++) {
      tracker.log(s, { 'train/loss': 2 - s * 0.1 });
      await tracker.flush();
    }
    tracker.text('note', 'still running');
    await tracker.close();

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Weights & Biases unreachable at http:\/\/127\.0\.0\.1:\d+/);
    const { folder, records } = wandbRun(dir);
    expect(folder.startsWith('run-')).toBe(true);
    expect(warnings[0]).toContain(`wandb sync --include-online ${join(dir, 'wandb', folder)}`);
    expect(warnings.join('\n')).not.toContain(KEY);
    expect(records[1].run.entity).toBeUndefined();
    expect(historyAndSummary(records).steps).toEqual([0, 1, 2, 3, 4]);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
    const files = filesUnder(dir);
    expect(files.length).toBe(3);
    for (const f of files) expect(readFileSync(f).includes(KEY)).toBe(false);
  });

  it('speaks the W&B HTTP API to a server: upsertBucket, one history line per step, running summary, completion, Basic auth', async () => {
    const requests: { url: string; auth: string | undefined; json: any; raw: string }[] = [];
    const server = createServer(async (req, res) => {
      const raw = await body(req);
      const json = JSON.parse(raw);
      requests.push({ url: req.url!, auth: req.headers.authorization, json, raw });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/graphql' && String(json.query).includes('viewer')) res.end(JSON.stringify({ data: { viewer: { entity: 'alice' } } }));
      else if (req.url === '/graphql')
        res.end(JSON.stringify({ data: { upsertBucket: { bucket: { name: json.variables.name, project: { name: 'synehr-test', entity: { name: 'alice' } } } } } }));
      else res.end('{}');
    });
    const port = await listen(server);
    const warnings: string[] = [];
    const notices: string[] = [];
    const dir = tmp();
    const tracker = await createTracker(
      dir,
      cfg,
      { runName: 'tiny', config: { seed: 1 } },
      { env: { WANDB_API_KEY: KEY, WANDB_BASE_URL: `http://127.0.0.1:${port}/` }, warn: (m) => warnings.push(m), info: (m) => notices.push(m) },
    );
    tracker.log(0, { 'train/loss': 3 });
    tracker.log(1, { 'train/loss': 2, lr: 1e-3 });
    tracker.log(1, { 'val/loss': 2.5 });
    tracker.log(2, { 'train/loss': 1.5 });
    await tracker.flush();
    tracker.log(2, { 'val/loss': 2.25 });
    tracker.log(3, { 'train/loss': NaN });
    await tracker.close();

    expect(warnings).toEqual([]);
    const expectedAuth = 'Basic ' + Buffer.from(`api:${KEY}`).toString('base64');
    expect(requests.every((r) => r.auth === expectedAuth)).toBe(true);
    const [viewer, upsert, ...streams] = requests;
    expect(viewer.url).toBe('/graphql');
    expect(upsert.json.variables).toMatchObject({ project: 'synehr-test', entity: 'alice', displayName: 'tiny' });
    expect(JSON.parse(upsert.json.variables.config)).toEqual({ seed: { value: 1, desc: null } });
    const runId = upsert.json.variables.name;
    expect(runId).toMatch(/^[a-z0-9]{8}$/);
    expect(streams.map((r) => r.url)).toEqual(Array(3).fill(`/files/alice/synehr-test/${runId}/file_stream`));
    // the first flush holds the committed steps 0 and 1; step 2 was still open
    const h1 = streams[0].json.files['wandb-history.jsonl'];
    expect(h1.offset).toBe(0);
    expect(h1.content.map((l: string) => JSON.parse(l))).toMatchObject([
      { _step: 0, 'train/loss': 3 },
      { _step: 1, 'train/loss': 2, lr: 1e-3, 'val/loss': 2.5 },
    ]);
    const h2 = streams[1].json.files['wandb-history.jsonl'];
    expect(h2.offset).toBe(2);
    expect(h2.content.map((l: string) => parseWandbJson(l))).toMatchObject([
      { _step: 2, 'train/loss': 1.5, 'val/loss': 2.25 },
      { _step: 3, 'train/loss': NaN },
    ]);
    const s2 = parseWandbJson(streams[1].json.files['wandb-summary.json'].content[0]) as Record<string, unknown>;
    expect(s2).toMatchObject({ _step: 3, lr: 1e-3, 'val/loss': { last: 2.25, min: 2.25 } });
    expect(s2['train/loss']).toBeNaN();
    expect(streams[2].json).toEqual({ complete: true, exitcode: 0 });
    expect(notices).toEqual([`wandb: logging to http://127.0.0.1:${port}/alice/synehr-test/runs/${runId}`]);
    // the transaction log names the same run, for a later `wandb sync --include-online`
    const { id, folder, records } = wandbRun(dir);
    expect(folder.startsWith('run-')).toBe(true);
    expect(id).toBe(runId);
    expect(records[1].run).toMatchObject({ run_id: runId, entity: 'alice' });
    expect(historyAndSummary(records).steps).toEqual([0, 1, 2, 3]);
    for (const f of filesUnder(dir)) expect(readFileSync(f).includes(KEY)).toBe(false);
  });

  it('EXPECTED FAILURE - no tracking.wandb_entity and an account with no default entity: a one-line SynehrError before the run starts, nothing left under wandb/', async () => {
    const server = createServer(async (req, res) => {
      await body(req);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: { viewer: { entity: null } } }));
    });
    const port = await listen(server);
    const dir = tmp();
    const err = await createTracker(dir, cfg, { runName: 'r', config: {} }, { env: { WANDB_API_KEY: KEY, WANDB_BASE_URL: `http://127.0.0.1:${port}` }, warn: () => {} }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SynehrError);
    expect((err as SynehrError).code).toBe('E_CONFIG_VALUE');
    expect((err as SynehrError).message).toBe(
      `config key 'tracking.wandb_entity' is not set and the W&B account of WANDB_API_KEY at http://127.0.0.1:${port} has no default entity: set tracking.wandb_entity=<your W&B user or team>`,
    );
    expect(readdirSync(dir).includes('wandb')).toBe(false);
  });

  it('a server that answers with an error counts as unreachable: one warning, key scrubbed from it', async () => {
    const server = createServer(async (req, res) => {
      await body(req);
      res.statusCode = 401;
      res.end(`bad key ${req.headers.authorization}`);
    });
    const port = await listen(server);
    const warnings: string[] = [];
    const tracker = await createTracker(
      tmp(),
      { ...cfg, wandb_entity: 'bob' },
      { runName: 'r', config: {} },
      { env: { WANDB_API_KEY: KEY, WANDB_BASE_URL: `http://127.0.0.1:${port}` }, warn: (m) => warnings.push(m) },
    );
    tracker.log(0, { a: 1 });
    await tracker.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('HTTP 401');
    const b64 = Buffer.from(`api:${KEY}`).toString('base64');
    expect(warnings[0]).not.toContain(b64);
  });
});
