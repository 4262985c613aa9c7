import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTracker } from '../../src/tracking/tracker.ts';

const KEY = 'wandb-test-key-0123456789abcdef0123456789abcdef';
const cfg = { metrics_jsonl: true, tensorboard: true, wandb: true, wandb_project: 'synehr-test', wandb_entity: null };

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

describe('Weights & Biases sink', () => {
  it('with no WANDB_API_KEY: one warning, no network, local files still written', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const warnings: string[] = [];
    const dir = tmp();
    const tracker = await createTracker(dir, cfg, { runName: 'r', config: {} }, { env: {}, warn: (m) => warnings.push(m) });
    for (let s = 0; s < 3; s++) tracker.log(s, { 'train/loss': 1 / (s + 1) });
    await tracker.close();
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('WANDB_API_KEY is not set');
    expect(warnings[0]).toContain('wandb sync --sync-tensorboard');
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('with a key and an unreachable endpoint: one warning, the run goes on, the key is in no file', async () => {
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
    expect(warnings.join('\n')).not.toContain(KEY);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
    const files = filesUnder(dir);
    expect(files.length).toBe(2);
    for (const f of files) expect(readFileSync(f).includes(KEY)).toBe(false);
  });

  it('speaks the W&B HTTP API to a server: upsertBucket, history file stream, completion, Basic auth', async () => {
    const requests: { url: string; auth: string | undefined; json: any }[] = [];
    const server = createServer(async (req, res) => {
      const json = JSON.parse(await body(req));
      requests.push({ url: req.url!, auth: req.headers.authorization, json });
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
    await tracker.flush();
    tracker.log(2, { 'train/loss': NaN });
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
    const h1 = streams[0].json.files['wandb-history.jsonl'];
    expect(h1.offset).toBe(0);
    expect(h1.content.map((l: string) => JSON.parse(l))).toMatchObject([
      { _step: 0, 'train/loss': 3 },
      { _step: 1, 'train/loss': 2, lr: 1e-3 },
    ]);
    const h2 = streams[1].json.files['wandb-history.jsonl'];
    expect(h2.offset).toBe(2);
    expect(JSON.parse(h2.content[0])).toMatchObject({ _step: 2, 'train/loss': null });
    expect(JSON.parse(streams[1].json.files['wandb-summary.json'].content[0])).toMatchObject({ _step: 2 });
    expect(streams[2].json).toEqual({ complete: true, exitcode: 0 });
    expect(notices).toEqual([`wandb: logging to http://127.0.0.1:${port}/alice/synehr-test/runs/${runId}`]);
    for (const f of filesUnder(dir)) expect(readFileSync(f).includes(KEY)).toBe(false);
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
