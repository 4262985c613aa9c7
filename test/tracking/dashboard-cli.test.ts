import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardFlags } from '../../src/cli/commands/dashboard.ts';
import { copyFixtureRuns } from './fixtureRuns.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'synehr.js');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('synehr dashboard (the command)', () => {
  it('serves the runs of its working directory on loopback and stops cleanly on Ctrl-C (SIGINT)', async () => {
    const fx = copyFixtureRuns();
    cleanups.push(fx.cleanup);
    const child = spawn(process.execPath, [BIN, 'dashboard', '--port', '0'], { cwd: fx.workDir, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => child.kill('SIGKILL'));
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within 20 s; stderr: ${stderr}`)), 20_000);
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code} before serving; stderr: ${stderr}`)));
    });
    const runs = (await (await fetch(url + 'api/runs')).json()) as { name: string }[];
    expect(runs.map((r) => r.name).sort()).toEqual(['tiny-a', 'tiny-b']);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('BAD CALL - --port out of range or without a value is a usage error naming the value', () => {
    expect(() => dashboardFlags({ port: '70000' })).toThrow("--port must be an integer in [0, 65535], got '70000'");
    expect(() => dashboardFlags({ port: true })).toThrow("--port must be an integer in [0, 65535], got 'true'");
    expect(() => dashboardFlags({ host: true })).toThrow('--host needs an address');
    expect(dashboardFlags({})).toEqual({ port: 6007, host: '127.0.0.1' });
    expect(dashboardFlags({ port: '8080', host: '0.0.0.0' })).toEqual({ port: 8080, host: '0.0.0.0' });
  });
});
