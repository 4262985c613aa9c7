import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

// The real `synehr` binary as a user runs it: node bin/synehr.js (tsx start-up ≈ 1 s each, so few).
const ROOT = join(import.meta.dirname, '..', '..');

function synehr(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'synehr.js'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } }, (error, out, err) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

describe('bin/synehr.js as a process', () => {
  it('--version, config show, a config error, --help: exit codes and output', async () => {
    const [version, show, bad, help] = await Promise.all([
      synehr(['--version']),
      synehr(['config', 'show', 'data=physionet2012', 'model=gpt', 'hparams.n_ctx=512']),
      synehr(['train', 'model.n_ctxx=1']),
      synehr(['generate', '--help']),
    ]);
    expect(version).toEqual({ code: 0, out: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`, err: '' });

    expect(show.code).toBe(0);
    expect(show.err).toBe('');
    const config = YAML.parse(show.out);
    expect(config.model).toEqual({ name: 'gpt', n_layer: 4, n_embd: 384, n_head: 4, n_ctx: 512, init_std: 0.02, embd_pdrop: 0, resid_pdrop: 0, value_memory: false, memory_labels: false });
    expect(config.data.name).toBe('physionet2012');
    expect(show.out).toMatch(/^ {2}n_ctx: 512$/m);

    expect(bad.code).toBe(2);
    expect(bad.out).toBe('');
    expect(bad.err).toBe(
      "synehr: error: unknown config key 'model.n_ctxx' = 1 (override 'model.n_ctxx=1'); did you mean 'model.n_ctx'? allowed keys of 'model': name, n_layer, n_embd, n_head, n_ctx, init_std, embd_pdrop, resid_pdrop, value_memory, memory_labels\n",
    );

    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^synehr generate: Sample synthetic patients/);
    expect(help.out).toContain('model=<run> names a trained run, saved_models/<run>/');
    expect(help.out).toMatch(/^ {2}n_samples +integer > 0 += 1000$/m);
  });
});
