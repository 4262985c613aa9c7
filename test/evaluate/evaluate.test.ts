import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateSynthetic, type EvalResult } from '../../src/evaluate/evaluate.ts';
import { evalConfigSchema } from '../../src/evaluate/config.ts';
import { formatSummaryTable, writeReport } from '../../src/evaluate/report.ts';
import { Rng } from '../../src/util/rng.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { toyData, toyRecords } from './toy.ts';

const cfg = evalConfigSchema.parse({ cv_folds: 3, boosting: { trees: 30 } });
const train = toyRecords(300, 1);
const test = toyRecords(120, 2);

function run(synthetic: ReturnType<typeof toyRecords>, over: Partial<typeof cfg> = {}): EvalResult {
  return evaluateSynthetic({ train, test, synthetic, data: toyData, cfg: { ...cfg, ...over }, rng: new Rng(11) });
}

const get = (r: EvalResult, key: string) => {
  const row = r.rows.find((x) => x.key === key);
  if (!row) throw new Error(`no row ${key}`);
  return row;
};

describe('evaluateSynthetic', () => {
  const good = run(toyRecords(300, 3));
  const copy = run(train.map((r) => structuredClone(r)));

  it('reports every metric family beside both references, with unique keys', () => {
    const keys = good.rows.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const k of [
      'fidelity/ks_complement_mean', 'fidelity/tv_complement_mean', 'fidelity/code_prevalence_r', 'fidelity/ngram_r/1', 'fidelity/ngram_r/2',
      'fidelity/ngram_r/3', 'fidelity/sequential_bigram_r', 'fidelity/jsd_codes_per_admission', 'fidelity/jsd_admissions_per_patient',
      'fidelity/tcd', 'fidelity/measurement_count_ks_mean', 'fidelity/gap_ks_complement', 'fidelity/prdc_precision', 'fidelity/prdc_coverage',
      'detection/auc_logistic', 'detection/auc_boosting', 'detection/logistic_detection',
      'utility/death/logistic/tstr_auroc', 'utility/death/boosting/tstr_f1', 'utility/death/boosting/augmented_auroc',
      'privacy/dcr_overfitting_protection', 'privacy/nndr_mean', 'privacy/exact_copy_rate', 'privacy/mia_auroc', 'privacy/nnaa',
      'privacy/nnaa_privacy_loss', 'privacy/attribute_inference_gap', 'fidelity/marginal/var:HR', 'fidelity/measurement_count/SBP',
    ]) {
      const row = get(good, k);
      expect(row.synthetic, k).not.toBeNull();
      expect(row.ceiling, k).not.toBeNull();
      expect(row.floor, k).not.toBeNull();
    }
    expect(good.meta.attribute).toBe('sex');
    expect(good.meta.labels).toEqual(['death']);
  });

  it('a second sample of the real generator sits near the ceiling and above the floor', () => {
    expect(Math.abs(get(good, 'detection/auc_boosting').synthetic! - 0.5)).toBeLessThan(0.1);
    expect(get(good, 'detection/auc_boosting').floor!).toBeGreaterThan(0.8);
    expect(get(good, 'fidelity/tcd').synthetic!).toBeLessThan(get(good, 'fidelity/tcd').floor!);
    expect(get(good, 'fidelity/ngram_r/2').synthetic!).toBeGreaterThan(get(good, 'fidelity/ngram_r/2').floor!);
    expect(get(good, 'fidelity/prdc_density').synthetic!).toBeGreaterThan(get(good, 'fidelity/prdc_density').floor!);
    expect(get(good, 'utility/death/logistic/tstr_auroc').synthetic!).toBeGreaterThan(get(good, 'utility/death/logistic/tstr_auroc').floor! + 0.1);
    expect(get(good, 'privacy/exact_copy_rate').synthetic).toBe(0);
    expect(get(good, 'privacy/dcr_overfitting_protection').synthetic!).toBeGreaterThan(0.8);
  });

  it('a copy of the training set is flagged by every privacy metric', () => {
    expect(get(copy, 'privacy/exact_copy_rate').synthetic).toBe(1);
    expect(get(copy, 'privacy/dcr_overfitting_protection').synthetic).toBe(0);
    expect(get(copy, 'privacy/mia_auroc').synthetic).toBe(1);
    expect(get(copy, 'privacy/nnaa').synthetic).toBe(0);
    expect(get(copy, 'privacy/nnaa_privacy_loss').synthetic!).toBeGreaterThan(0.2);
    expect(get(copy, 'privacy/dcr_train_median').synthetic).toBe(0);
    // and it is a perfect copy as far as fidelity goes
    expect(get(copy, 'fidelity/ks_complement_mean').synthetic).toBe(1);
    expect(get(copy, 'fidelity/tcd').synthetic).toBe(0);
    // the references do not depend on the candidate set
    expect(get(copy, 'fidelity/tcd').ceiling).toBe(get(good, 'fidelity/tcd').ceiling);
  });

  it('a shifted heart rate shows in its KSComplement and in detection', () => {
    const shifted = run(toyRecords(300, 3, 20));
    expect(get(shifted, 'fidelity/marginal/var:HR').synthetic!).toBeLessThan(0.5);
    expect(get(shifted, 'detection/auc_boosting').synthetic!).toBeGreaterThan(0.9);
  });

  it('runs on a codes-only data set without labels or covariates (those metrics are null, not errors)', () => {
    const data = { ...toyData, covariates: [], labels: [], variables: [] };
    const strip = (rs: ReturnType<typeof toyRecords>) => rs.map((r) => ({ ...r, covariates: {}, labels: {}, admissions: r.admissions.map((a) => ({ ...a, events: [] })) }));
    const r = evaluateSynthetic({ train: strip(train), test: strip(test), synthetic: strip(toyRecords(200, 3)), data, cfg, rng: new Rng(2) });
    expect(get(r, 'fidelity/ngram_r/2').synthetic!).toBeGreaterThan(0.9);
    expect(get(r, 'fidelity/tcd').synthetic).toBeNull();
    expect(r.rows.some((x) => x.group === 'utility')).toBe(false);
    expect(r.meta.attribute).toBeNull();
    expect(get(r, 'detection/auc_boosting').synthetic).not.toBeNull();
  });

  it('a tiny test split leaves the ceiling figures it cannot support empty instead of failing', () => {
    const r = evaluateSynthetic({ train, test: test.slice(0, 4), synthetic: toyRecords(100, 3), data: toyData, cfg: { ...cfg, cv_folds: 5 }, rng: new Rng(3) });
    expect(get(r, 'fidelity/prdc_precision').ceiling).toBeNull(); // 4 test rows ≤ k = 5
    expect(get(r, 'detection/auc_boosting').ceiling).toBeNull(); // 4 test rows < 5 folds
    expect(get(r, 'detection/auc_boosting').synthetic).not.toBeNull();
    expect(get(r, 'privacy/mia_auroc').ceiling).not.toBeNull();
  });

  it('is reproducible: the same seed gives the same figures', () => {
    const again = run(toyRecords(300, 3));
    expect(again.rows).toEqual(good.rows);
  });

  it('EXPECTED FAILURE - an unknown utility label names the label and the known ones', () => {
    expect(() => run(toyRecords(50, 3), { labels: ['mortality'] })).toThrow(SynehrError);
    expect(() => run(toyRecords(50, 3), { labels: ['mortality'] })).toThrow('eval.labels: unknown label "mortality"; the data config declares "death"');
  });

  it('EXPECTED FAILURE - too few synthetic patients for PRDC', () => {
    expect(() => run(toyRecords(3, 3))).toThrow(/3 synthetic patients; PRDC needs more than k = 5/);
  });

  it('writes metrics.json and a self-contained report.html, and prints a summary table', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synehr-eval-'));
    try {
      const { metrics, report } = await writeReport(join(dir, 'eval'), good);
      expect(metrics).toBe(join(dir, 'eval', 'metrics.json'));
      const json = JSON.parse(await readFile(metrics, 'utf8')) as EvalResult;
      expect(json.rows).toEqual(good.rows);
      const html = await readFile(report, 'utf8');
      expect(html).toContain('<svg');
      expect(html).not.toMatch(/<script|<link|src=/);
      expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
      expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(toyData.variables.length + 5);
      const table = formatSummaryTable(good);
      expect(table.split('\n')[0]).toMatch(/^metric\s+\|\s+synthetic \|\s+ceiling \|\s+floor$/);
      expect(table).toContain('TCD, temporal correlation difference');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
