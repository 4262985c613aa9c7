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

const escapeRe = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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
    // an empty figure has an empty interval beside the others
    expect(get(r, 'detection/auc_boosting').ci!.ceiling).toBeNull();
    expect(get(r, 'detection/auc_boosting').ci!.synthetic).toHaveLength(2);
  });

  it('is reproducible: the same seed gives the same figures', () => {
    const again = run(toyRecords(300, 3));
    expect(again.rows).toEqual(good.rows);
  });

  it('bootstrap intervals: on the utility AUROCs and detection AUCs only, each around its own figure', () => {
    const INTERVAL_KEYS = [
      'detection/auc_logistic', 'detection/auc_boosting',
      'utility/death/logistic/tstr_auroc', 'utility/death/logistic/augmented_auroc',
      'utility/death/boosting/tstr_auroc', 'utility/death/boosting/augmented_auroc',
    ];
    expect(good.rows.filter((r) => r.ci).map((r) => r.key).sort()).toEqual(INTERVAL_KEYS.slice().sort());
    expect(good.meta.bootstrap).toMatchObject({ replicates: 1000, level: 0.95 });
    for (const key of INTERVAL_KEYS) {
      const row = get(good, key);
      for (const which of ['synthetic', 'ceiling', 'floor'] as const) {
        const iv = row.ci![which];
        const v = row[which]!;
        expect(iv, `${key} ${which}`).toHaveLength(2);
        // an interval of other scores (another figure's, or the training rows') would miss it:
        // the floor's and the synthetic set's figures here lie far apart
        expect(iv![0], `${key} ${which}`).toBeLessThanOrEqual(v);
        expect(iv![1], `${key} ${which}`).toBeGreaterThanOrEqual(v);
        expect(iv![0]).toBeGreaterThanOrEqual(0);
        expect(iv![1]).toBeLessThanOrEqual(1);
        // 120 test patients, a few hundred detection rows: an AUROC moves by a few hundredths at least
        expect(iv![1] - iv![0], `${key} ${which}`).toBeGreaterThan(0.005);
        expect(iv![1] - iv![0], `${key} ${which}`).toBeLessThan(0.4);
      }
    }
    // the test split has 120 patients and the detection sets 600 rows: the utility intervals are the wider
    const width = (key: string) => get(good, key).ci!.ceiling![1] - get(good, key).ci!.ceiling![0];
    expect(width('utility/death/logistic/tstr_auroc')).toBeGreaterThan(width('detection/auc_logistic'));
    // TRTR is the ceiling of both the TSTR and the augmented row, scored on the same resamples
    expect(get(good, 'utility/death/boosting/augmented_auroc').ci!.ceiling).toEqual(get(good, 'utility/death/boosting/tstr_auroc').ci!.ceiling);
  });

  it('bootstrap = 0 leaves the intervals out and every figure as it was; fewer replicates move only the intervals', () => {
    const off = run(toyRecords(300, 3), { bootstrap: 0 });
    expect(off.rows.some((r) => 'ci' in r)).toBe(false);
    expect(off.meta.bootstrap.replicates).toBe(0);
    const strip = (r: EvalResult) => r.rows.map(({ ci: _ci, ...rest }) => rest);
    expect(strip(off)).toEqual(strip(good));
    const few = run(toyRecords(300, 3), { bootstrap: 50 });
    expect(strip(few)).toEqual(strip(good));
    expect(get(few, 'detection/auc_logistic').ci).not.toEqual(get(good, 'detection/auc_logistic').ci);
  });

  it('a synthetic set without the label has no TSTR figure and no interval for it, beside the ceiling’s', () => {
    const unlabelled = run(toyRecords(300, 3).map((r) => ({ ...r, labels: {} })), { bootstrap: 200 });
    const row = get(unlabelled, 'utility/death/logistic/tstr_auroc');
    expect(row.synthetic).toBeNull();
    expect(row.ci!.synthetic).toBeNull();
    expect(row.ci!.ceiling).toHaveLength(2);
    expect(row.ci!.floor).toHaveLength(2);
    expect(formatSummaryTable(unlabelled)).toMatch(/\n  95% interval \(bootstrap\) +\| +— \| +\[0\.\d{3}, [01]\.\d{3}\] \|/);
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
      // metrics.json's shape of an interval row: ci.{synthetic, ceiling, floor} = [lo, hi]
      const det = json.rows.find((r) => r.key === 'detection/auc_boosting')!;
      expect(Object.keys(det.ci!)).toEqual(['synthetic', 'ceiling', 'floor']);
      for (const iv of Object.values(det.ci!)) expect(iv).toEqual([expect.any(Number), expect.any(Number)]);
      expect(json.meta.bootstrap).toEqual(good.meta.bootstrap);
      const html = await readFile(report, 'utf8');
      expect(html).toContain('<svg');
      expect(html).not.toMatch(/<script|<link|src=/);
      expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
      expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(toyData.variables.length + 5);
      const table = formatSummaryTable(good);
      expect(table.split('\n')[0]).toMatch(/^metric\s+\|\s+synthetic \|\s+ceiling \|\s+floor$/);
      expect(table).toContain('TCD, temporal correlation difference');
      // each interval row is followed by its intervals, at 3 decimals, in the same columns
      const lines = table.split('\n');
      const at = lines.findIndex((l) => l.startsWith('TSTR AUROC, death, logistic regression'));
      const ci = get(good, 'utility/death/logistic/tstr_auroc').ci!;
      const f = (iv: [number, number] | null) => `[${iv![0].toFixed(3)}, ${iv![1].toFixed(3)}]`;
      expect(lines[at + 1]).toMatch(new RegExp(`^  95% interval \\(bootstrap\\) +\\| +${escapeRe(f(ci.synthetic))} \\| +${escapeRe(f(ci.ceiling))} \\| +${escapeRe(f(ci.floor))}$`));
      expect(lines[at + 1]!.length).toBe(lines[at]!.length);
      expect(lines.filter((l) => l.startsWith('  95% interval')).length).toBe(4); // the summary rows among the six
      expect(html).toContain(`<span class="ci">${f(ci.synthetic)}</span>`);
      expect(html).toContain('1000 replicates');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
