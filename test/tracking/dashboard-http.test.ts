import { appendFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/tracking/dashboard/server.ts';
import { copyFixtureRuns } from './fixtureRuns.ts';

const SECRET = 'SECRET-OUTSIDE-SERVED-ROOTS';
let fx: ReturnType<typeof copyFixtureRuns>;
let dash: Dashboard;
let port: number;

/** A raw request: node's http client sends the path exactly as given (no normalization of .. or %2e). */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  fx = copyFixtureRuns();
  const outside = dirname(fx.workDir);
  // a file and a folder outside the served roots, reachable only through symlinks planted inside them
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(fx.workDir, 'package.json'), `{"name": "${SECRET}"}`);
  mkdirSync(join(outside, 'elsewhere'));
  writeFileSync(join(outside, 'elsewhere', 'config.yaml'), `leak: ${SECRET}\n`);
  symlinkSync(join(outside, 'secret.txt'), join(fx.workDir, 'saved_models', 'tiny-a', 'eval', 'leak.svg'));
  symlinkSync(join(outside, 'elsewhere'), join(fx.workDir, 'saved_models', 'evil'));
  symlinkSync(join(outside, 'elsewhere'), join(fx.workDir, 'data', 'synthetic', 'tiny-b'));
  // a symlink that stays inside is fine
  symlinkSync(join(fx.workDir, 'saved_models', 'tiny-a', 'eval', 'metrics.json'), join(fx.workDir, 'saved_models', 'tiny-b', 'eval-link.json'));
  dash = await startDashboard({ workDir: fx.workDir, port: 0 });
  port = Number(new URL(dash.url).port);
});

afterAll(async () => {
  await dash?.close();
  fx?.cleanup();
});

describe('dashboard HTTP API', () => {
  it('binds to 127.0.0.1 by default', () => {
    expect(dash.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('serves the page as one self-contained HTML document (no external scripts, styles or CDN)', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/html');
    expect(r.body).toContain('function drawChart(');
    expect(r.body).not.toMatch(/<script[^>]+src=/);
    expect(r.body).not.toMatch(/<link[^>]+stylesheet/);
    expect(r.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  it('lists the fixture runs with their final metrics; a run symlinked from outside is not listed', async () => {
    const runs = JSON.parse((await get('/api/runs')).body) as { name: string; steps: number; final: Record<string, number>; hasEval: boolean; hasSynthetic: boolean }[];
    expect(runs.map((r) => r.name).sort()).toEqual(['tiny-a', 'tiny-b']);
    const a = runs.find((r) => r.name === 'tiny-a')!;
    expect(a).toMatchObject({ steps: 40, hasEval: true, hasSynthetic: true, final: { 'train/loss': 1.9324, 'val/loss': 2.0604 } });
    const b = runs.find((r) => r.name === 'tiny-b')!;
    expect(b).toMatchObject({ steps: 25, hasEval: true, hasSynthetic: false });
  });

  it('gives a run its config, eval metrics, plots and generated data set', async () => {
    const d = JSON.parse((await get('/api/runs/tiny-a')).body);
    expect(d.config.model.n_layer).toBe(2);
    expect(d.evalMetrics.rows.find((r: { key: string }) => r.key === 'utility/in_hospital_death/logistic/tstr_auroc').synthetic).toBe(0.781);
    expect(d.evalFiles.map((f: { name: string }) => f.name)).toEqual(['code_frequency.svg', 'metrics.json', 'report.html']);
    expect(d.synthetic.manifest.counts.patients).toBe(3);
    expect(d.synthetic.files.map((f: { url: string }) => f.url)).toEqual(['/files/synthetic/tiny-a/manifest.json', '/files/synthetic/tiny-a/patients.csv']);
    const csv = await get('/files/synthetic/tiny-a/patients.csv');
    expect(csv.status).toBe(200);
    expect(csv.body.split('\n')[0]).toBe('patient_id,age,gender,in_hospital_death');
    expect((await get('/files/saved_models/tiny-a/eval/code_frequency.svg')).type).toBe('image/svg+xml');
    const report = await new Promise<Record<string, unknown>>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/files/saved_models/tiny-a/eval/report.html' }, (res) => {
        res.resume();
        resolve(res.headers);
      }).on('error', reject).end();
    });
    expect(report['content-security-policy']).toBe('sandbox');
    expect((await get('/files/saved_models/tiny-b/eval-link.json')).status).toBe(200);
  });

  it('hands out metrics.jsonl by byte offset, whole lines only, so a page can follow a training run', async () => {
    const first = JSON.parse((await get('/api/runs/tiny-b/metrics?from=0')).body);
    expect(first.rows).toHaveLength(25);
    expect(first.reset).toBe(false);
    const path = join(fx.workDir, 'saved_models', 'tiny-b', 'metrics.jsonl');
    appendFileSync(path, '{"step":250,"time":1,"train/loss":2.4}\n{"step":260,"ti');
    const second = JSON.parse((await get(`/api/runs/tiny-b/metrics?from=${first.next}`)).body);
    expect(second.rows).toEqual([{ step: 250, time: 1, 'train/loss': 2.4 }]);
    appendFileSync(path, 'me":2,"train/loss":2.3}\n');
    const third = JSON.parse((await get(`/api/runs/tiny-b/metrics?from=${second.next}`)).body);
    expect(third.rows).toEqual([{ step: 260, time: 2, 'train/loss': 2.3 }]);
    // an offset past the end (the file was replaced): start over
    const reset = JSON.parse((await get('/api/runs/tiny-b/metrics?from=99999999')).body);
    expect(reset.reset).toBe(true);
    expect(reset.rows).toHaveLength(27);
    expect((await get('/api/runs/tiny-b/metrics?from=-1')).status).toBe(400);
  });

  it('keeps the run list summary current as metrics.jsonl grows or is replaced', async () => {
    const summary = async () => (JSON.parse((await get('/api/runs')).body) as { name: string; steps: number; lastStep: number; final: Record<string, number> }[]).find((r) => r.name === 'tiny-a')!;
    expect(await summary()).toMatchObject({ steps: 40, lastStep: 390, final: { 'train/loss': 1.9324 } });
    const path = join(fx.workDir, 'saved_models', 'tiny-a', 'metrics.jsonl');
    appendFileSync(path, '{"step":400,"time":1,"train/loss":1.5}\n{"step":410,"time":2,"val/loss":1.7}\n{"step":420,');
    expect(await summary()).toMatchObject({ steps: 42, lastStep: 410, final: { 'train/loss': 1.5, 'val/loss': 1.7 } });
    appendFileSync(path, '"time":3,"lr":0.1}\n');
    expect(await summary()).toMatchObject({ steps: 43, lastStep: 420, final: { 'train/loss': 1.5, 'val/loss': 1.7, lr: 0.1 } });
    // overwrite=true replaces the file: the summary starts over
    rmSync(path);
    writeFileSync(path, '{"step":0,"time":1,"train/loss":9}\n');
    const fresh = await summary();
    expect(fresh).toMatchObject({ steps: 1, lastStep: 0 });
    expect(fresh.final).toEqual({ 'train/loss': 9 });
  });

  it('EXPECTED FAILURE - a missing run is a 404 naming it', async () => {
    const r = await get('/api/runs/no-such-run');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error).toContain('saved_models/no-such-run');
  });
});

describe('dashboard path traversal', () => {
  const refused = [
    '/files/saved_models/../../package.json',
    '/files/saved_models/tiny-a/../../../secret.txt',
    '/files/saved_models/%2e%2e/%2e%2e/package.json',
    '/files/saved_models/%2E%2E/%2E%2E/secret.txt',
    '/files/saved_models/tiny-a%2f..%2f..%2fpackage.json',
    '/files/saved_models/..%5c..%5cpackage.json',
    '/files/saved_models/%2fetc%2fpasswd',
    '/files/saved_models//etc/passwd',
    '/files/synthetic/../../package.json',
    '/files/saved_models/tiny-a/eval/leak.svg',
    '/files/saved_models/evil/config.yaml',
    '/files/synthetic/tiny-b/config.yaml',
    '/api/runs/..',
    '/api/runs/%2e%2e',
    '/api/runs/evil',
    '/api/runs/evil/metrics?from=0',
    '/files/saved_models/tiny-a%00.json',
  ];
  for (const path of refused) {
    it(`refuses ${path}`, async () => {
      const r = await get(path);
      expect(r.status).toBe(403);
      expect(r.body).not.toContain(SECRET);
    });
  }

  it('serves nothing outside the two roots, even files that exist in the work dir', async () => {
    for (const path of ['/package.json', '/files/package.json', '/files/data/synthetic/tiny-a/manifest.json', '/etc/passwd']) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain(SECRET);
    }
  });

  it('EXPECTED FAILURE - defect 9: a name that only starts like a loopback address is refused', async () => {
    for (const host of ['127.attacker.example', `127.0.0.1.attacker.example:${port}`, '127.1', '127.0.0.256']) {
      const r = await get('/api/runs', { host });
      expect(r.status, host).toBe(403);
    }
    for (const host of [`127.0.0.1:${port}`, `127.3.4.5:${port}`, `[::1]:${port}`, 'LOCALHOST', 'localhost.']) expect((await get('/api/runs', { host })).status, host).toBe(200);
  });

  it('refuses a foreign Host header while bound to loopback (DNS rebinding)', async () => {
    const r = await get('/api/runs', { host: 'attacker.example:80' });
    expect(r.status).toBe(403);
    expect((await get('/api/runs', { host: `localhost:${port}` })).status).toBe(200);
  });

  it('answers only GET and HEAD', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/runs', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(405);
  });
});
