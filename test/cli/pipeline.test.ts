/**
 * The whole pipeline, in process, on 60 real PhysioNet 2012 patients with a one-layer model (with
 * the value memory):
 * every stage leaves its outputs, and a second run with resume=true finds them all current.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, PACKAGE_ROOT } from '../../src/cli/main.ts';
import { loadSafetensors } from '../../src/model/safetensors.ts';
import { MEMORY_REFIT_METADATA } from '../../src/train/memoryRefit.ts';
import { MEMORY_CALIBRATION_METADATA } from '../../src/generate/calibrate.ts';

const work = mkdtempSync(join(tmpdir(), 'synehr-pipeline-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function synehr(args: string[], onLog?: (line: string) => void): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main(args, {
    cwd: work,
    stdout: () => undefined,
    stderr: (s) => {
      err += s;
      onLog?.(s);
    },
  });
  return { code, err };
}

const overrides = [
  `data.root=${join(PACKAGE_ROOT, 'test/fixtures/physionet2012-60')}`,
  'model=gpt-tiny',
  'model.n_ctx=1024',
  // the default model's value memory, so that training ends with the kernel's refit
  'model.value_memory=true',
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
    expect(first.err).toMatch(/memory refit: trunk logits of \d+ training and \d+ validation patients/);
    const weights = await loadSafetensors(join(run, 'model.safetensors'));
    expect(JSON.parse(weights.metadata[MEMORY_REFIT_METADATA]!).settings).toEqual({ patients: 800, steps: 60, lr: 0.05, seed: 42, first_values: true, before: false });
    // then the offsets' calibration against sampled patients (train=smoke: 16 of them)
    expect(first.err).toMatch(/memory calibration: round 1\/1: 16 patients sampled/);
    const calibration = JSON.parse(weights.metadata[MEMORY_CALIBRATION_METADATA]!);
    expect(calibration.settings).toMatchObject({ patients: 16, rounds: 1, seed: 42, after_refit: weights.metadata[MEMORY_REFIT_METADATA] });
    expect(calibration.rounds).toHaveLength(1);

    const second = await synehr(['pipeline', ...overrides, 'resume=true']);
    expect(second.code).toBe(0);
    for (const stage of ['prepare', 'tokenize', 'train', 'export', 'generate', 'evaluate']) {
      expect(second.err).toMatch(new RegExp(`pipeline \\[\\d/6\\] ${stage}: current, skipped`));
    }

    // another eval section is not current: metrics.json on the test split must not stand for val
    const metrics = join(run, 'eval', 'metrics.json');
    expect(JSON.parse(readFileSync(metrics, 'utf8')).meta.config.holdout).toBe('test');
    const third = await synehr(['pipeline', ...overrides, 'resume=true', 'eval.holdout=val']);
    expect(third.code).toBe(0);
    for (const stage of ['prepare', 'tokenize', 'train', 'export', 'generate']) {
      expect(third.err).toMatch(new RegExp(`pipeline \\[\\d/6\\] ${stage}: current, skipped`));
    }
    expect(third.err).toMatch(/pipeline \[6\/6\] evaluate: running/);
    expect(third.err).toMatch(/against \d+ train and \d+ val/);
    expect(JSON.parse(readFileSync(metrics, 'utf8')).meta.config.holdout).toBe('val');

    // a calibration without the refit's offsets is refused before any training
    const noRefit = await synehr(['train', ...overrides, 'run_name=p-norefit', 'train.memory_refit_patients=0']);
    expect(noRefit.code).not.toBe(0);
    expect(noRefit.err).toMatch(/train\.memory_calibration_patients=16 calibrates the offsets the refit fits: it needs train\.memory_refit_patients > 0/);
    expect(existsSync(join(work, 'saved_models', 'p-norefit', 'model.safetensors'))).toBe(false);

    // another value temperature is another generation
    const fourth = await synehr(['pipeline', ...overrides, 'resume=true', 'eval.holdout=val', 'generate.value_temperature=0.8']);
    expect(fourth.code).toBe(0);
    expect(fourth.err).toMatch(/pipeline \[4\/6\] export: current, skipped/);
    expect(fourth.err).toMatch(/pipeline \[5\/6\] generate: running/);
    expect(JSON.parse(readFileSync(join(work, 'data', 'synthetic', 'p', 'manifest.json'), 'utf8')).sampling.value_temperature).toBe(0.8);
  });

  it('defect 2: Ctrl-C during train stops the pipeline with exit 130, records nothing as done, and resume=true trains on; defect 5: generate.out_dir reaches evaluate', async () => {
    const again = [...overrides.map((o) => (o === 'run_name=p' ? 'run_name=p2' : o)), 'generate.out_dir=elsewhere/p2'];
    let sent = false;
    // Ctrl-C as soon as the trainer has set up (it logs the parameter count): it stops after its first update
    const first = await synehr(['pipeline', ...again], (line) => {
      if (!sent && / parameters; n_ctx /.test(line)) {
        sent = true;
        process.emit('SIGINT');
      }
    });
    expect(first.code).toBe(130);
    expect(first.err).toMatch(/synehr: interrupted: training interrupted at step \d+; continue with `synehr train run_name=p2 resume=true`/);
    for (const stage of ['export', 'generate', 'evaluate']) expect(first.err).not.toMatch(new RegExp(`pipeline \\[\\d/6\\] ${stage}`));
    const run = join(work, 'saved_models', 'p2');
    expect(existsSync(join(run, 'pipeline.json'))).toBe(false);
    expect(existsSync(join(run, 'sampler.onnx'))).toBe(false);
    expect(existsSync(join(work, 'elsewhere', 'p2'))).toBe(false);

    const resumed = await synehr(['pipeline', ...again, 'resume=true']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/pipeline \[3\/6\] train: running/);
    expect(resumed.err).toMatch(/resuming from .*checkpoints/);
    expect(JSON.parse(readFileSync(join(work, 'elsewhere', 'p2', 'manifest.json'), 'utf8')).counts.patients).toBe(14);
    expect(resumed.err).toMatch(new RegExp(`evaluate: 14 synthetic patients \\(${join(work, 'elsewhere', 'p2')}\\)`));
    expect(existsSync(join(run, 'eval', 'metrics.json'))).toBe(true);
  });
});
