/**
 * The whole pipeline, in process, on 60 real PhysioNet 2012 patients with a one-layer model:
 * every stage leaves its outputs, and a second run with resume=true finds them all current.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, PACKAGE_ROOT } from '../../src/cli/main.ts';

const work = mkdtempSync(join(tmpdir(), 'synehr-pipeline-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function synehr(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main(args, { cwd: work, stdout: () => undefined, stderr: (s) => void (err += s) });
  return { code, err };
}

const overrides = [
  `data.root=${join(PACKAGE_ROOT, 'test/fixtures/physionet2012-60')}`,
  'model=gpt-tiny',
  'model.n_ctx=1024',
  'train=smoke',
  'run_name=p',
  'generate.n_samples=14',
  'generate.batch_size=8',
  'eval.cv_folds=2',
  'eval.k=2',
];

describe('synehr pipeline', () => {
  it('runs prepare → tokenize → train → export → generate → evaluate, then skips what is current', async () => {
    const first = await synehr(['pipeline', ...overrides]);
    expect(first.err).not.toMatch(/error/i);
    expect(first.code).toBe(0);
    for (const stage of ['prepare', 'tokenize', 'train', 'export', 'generate', 'evaluate']) {
      expect(first.err).toMatch(new RegExp(`pipeline \\[\\d/6\\] ${stage}: running`));
    }
    const run = join(work, 'saved_models', 'p');
    for (const f of ['config.yaml', 'model.safetensors', 'sampler.onnx', 'onnx/model.onnx', 'eval/metrics.json', 'eval/report.html']) {
      expect(existsSync(join(run, f)), f).toBe(true);
    }
    const manifest = JSON.parse(readFileSync(join(work, 'data', 'synthetic', 'p', 'manifest.json'), 'utf8'));
    expect(manifest.counts.patients).toBe(14);
    expect(first.err).toContain(`report: ${join(run, 'eval', 'report.html')}`);

    const second = await synehr(['pipeline', ...overrides, 'resume=true']);
    expect(second.code).toBe(0);
    for (const stage of ['prepare', 'tokenize', 'train', 'export', 'generate', 'evaluate']) {
      expect(second.err).toMatch(new RegExp(`pipeline \\[\\d/6\\] ${stage}: current, skipped`));
    }
  });
});
