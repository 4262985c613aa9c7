/**
 * report.html as a person sees it, in headless Chromium: every plot has axis titles and tick
 * values and nothing drawn outside its box (long category names such as PhysioNet's
 * `cardiac_surgery_recovery` included), heatmaps have a colour scale, a heavy-tailed lab comes on
 * a log axis, and the real distribution stays visible under the synthetic and floor lines.
 * Screenshots of the report and its plot sections are taken; SYNEHR_SCREENSHOTS=<dir> keeps them
 * for a person to look at.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evaluateSynthetic, type EvalResult } from '../../src/evaluate/evaluate.ts';
import { evalConfigSchema } from '../../src/evaluate/config.ts';
import { writeReport } from '../../src/evaluate/report.ts';
import { dataConfigSchema } from '../../src/records/dataConfig.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { Rng } from '../../src/util/rng.ts';
import { launchChromiumForSuite, screenshotDir } from '../tracking/browser.ts';
import { toyData, toyRecords } from './toy.ts';

const ICU_TYPES = ['coronary_care', 'cardiac_surgery_recovery', 'medical', 'surgical'];

/** The toy data config with units, PhysioNet's ICU types, and ALT: log-normal, a tail far beyond the median. */
const data = dataConfigSchema.parse({
  ...toyData,
  covariates: [...toyData.covariates.map((c) => (c.name === 'age' ? { ...c, unit: 'years' } : c)), { name: 'icu_type', type: 'categorical', values: ICU_TYPES }],
  variables: [...toyData.variables.map((v) => (v.name === 'HR' ? { ...v, unit: 'bpm' } : v)), { name: 'ALT', type: 'continuous', unit: 'IU/L' }],
});

function records(n: number, seed: number): PatientRecord[] {
  const rng = new Rng(seed + 100);
  return toyRecords(n, seed).map((r) => ({
    ...r,
    covariates: { ...r.covariates, icu_type: ICU_TYPES[rng.int(4)]! },
    admissions: r.admissions.map((a) => ({
      ...a,
      events: [...a.events, { hours: 0, variable: 'ALT', value: Math.round(Math.exp(3.4 + 1.3 * rng.normal())) }].sort((x, y) => x.hours - y.hours),
    })),
  }));
}

const train = records(200, 1);
let result: EvalResult;
let dir: string;
let browser: Awaited<ReturnType<typeof launchChromiumForSuite>>['browser'];
let launchError: unknown;
let page: Page;
const screenshots = screenshotDir('report');
const shots = screenshots.dir;

beforeAll(async () => {
  result = evaluateSynthetic({
    train,
    test: records(80, 2),
    synthetic: records(200, 3),
    data,
    cfg: evalConfigSchema.parse({ cv_folds: 3, boosting: { trees: 20 } }),
    rng: new Rng(11),
  });
  dir = mkdtempSync(join(tmpdir(), 'synehr-report-'));
  const { report } = await writeReport(dir, result);
  ({ browser, error: launchError } = await launchChromiumForSuite());
  if (!browser) return;
  page = await browser.context.newPage();
  await page.goto(pathToFileURL(report).href);
});

beforeEach(() => {
  if (launchError !== undefined) throw launchError;
});

afterAll(async () => {
  await browser?.close();
  screenshots.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Per <svg> of the report: its title, and every text and mark that reaches outside its box (with a pixel of slack). */
async function overflow(): Promise<{ title: string; outside: string[] }[]> {
  type Box = { left: number; right: number; top: number; bottom: number; width: number; height: number };
  type El = { tagName: string; textContent: string | null; getBoundingClientRect(): Box; querySelectorAll(q: string): ArrayLike<El>; querySelector(q: string): El | null };
  return page.locator('svg').evaluateAll((svgs) =>
    (svgs as unknown as El[]).map((svg) => {
      const box = svg.getBoundingClientRect();
      const outside: string[] = [];
      for (const el of Array.from(svg.querySelectorAll('text, rect, path, line, circle'))) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
          outside.push(`${el.tagName} ${(el.textContent ?? '').slice(0, 40)} [${Math.round(r.left - box.left)}, ${Math.round(r.right - box.left)}] × [${Math.round(r.top - box.top)}, ${Math.round(r.bottom - box.top)}] in ${Math.round(box.width)} × ${Math.round(box.height)}`);
        }
      }
      return { title: svg.querySelector('title')?.textContent ?? '', outside };
    }),
  );
}

/** The texts of one plot (by its title), axis titles apart. */
async function plotTexts(title: string): Promise<{ axisTitles: string[]; texts: string[] }> {
  const svg = page.locator('svg', { has: page.locator(`xpath=./*[local-name()="title" and text()="${title}"]`) });
  expect(await svg.count(), title).toBe(1);
  return {
    axisTitles: await svg.locator('text.axis-title').allTextContents(),
    texts: await svg.locator('text').allTextContents(),
  };
}

describe('report.html in headless Chromium', () => {
  it('nothing in any plot is drawn outside its box', async () => {
    await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
    const sections = page.locator('div.plots');
    for (const [i, name] of ['marginals', 'codes', 'correlations', 'roc', 'dcr'].entries()) await sections.nth(i).screenshot({ path: join(shots, `${name}.png`) });
    const plots = await overflow();
    expect(plots.length).toBeGreaterThanOrEqual(data.variables.length + data.covariates.length + 5);
    expect(plots.filter((p) => p.outside.length > 0)).toEqual([]);
  });

  it('histograms: axis titles with the unit, share ticks on y, value ticks on x', async () => {
    const hr = await plotTexts('var:HR');
    expect(hr.axisTitles).toEqual(['HR (bpm)', 'share of values']);
    expect(hr.texts.filter((t) => /^\d+(\.\d+)?%$/.test(t)).length).toBeGreaterThanOrEqual(2);
    expect(hr.texts.filter((t) => /^\d+$/.test(t)).length).toBeGreaterThanOrEqual(3);
    expect((await plotTexts('cov:age')).axisTitles).toEqual(['age (years)', 'share of patients']);
    expect((await plotTexts('cov:icu_type')).axisTitles).toEqual(['icu_type', 'share of patients']);
    // category names in full, not cut at 10 characters
    expect((await plotTexts('cov:icu_type')).texts).toContain('cardiac_surgery_recovery');
  });

  it('a heavy-tailed lab comes on a log axis, where its values spread over the bins', async () => {
    const alt = result.plots.histograms.find((h) => h.field === 'var:ALT')!;
    expect(alt.scale).toBe('log');
    const hr = result.plots.histograms.find((h) => h.field === 'var:HR')!;
    expect(hr.scale).toBe('linear');
    // on 30 linear bins over the same range, most ALT values would share one bar
    const values = train.flatMap((p) => p.admissions.flatMap((a) => a.events.filter((e) => e.variable === 'ALT').map((e) => e.value as number)));
    const [lo, hi] = [alt.edges![0]!, alt.edges![30]!];
    const linear = new Array<number>(30).fill(0);
    for (const v of values) linear[Math.min(29, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * 30)))]!++;
    expect(Math.max(...linear) / values.length).toBeGreaterThan(0.4);
    expect(Math.max(...alt.real)).toBeLessThan(0.2);
    const t = await plotTexts('var:ALT');
    expect(t.axisTitles).toEqual(['ALT (IU/L, log scale)', 'share of values']);
    // 1-2-5 ticks: at least two decades marked
    expect(t.texts.filter((x) => /^(10|100|1000)$/.test(x)).length).toBeGreaterThanOrEqual(2);
  });

  it('the real distribution is a shaded area under the lines, so a floor line on top of it leaves it visible', async () => {
    const paths = page.locator('svg', { has: page.locator('xpath=./*[local-name()="title" and text()="var:HR"]') }).locator('path.series');
    const order = await paths.evaluateAll((els) => els.map((e) => [e.getAttribute('data-series'), e.getAttribute('fill'), e.getAttribute('fill-opacity')]));
    expect(order).toEqual([
      ['real (train)', '#555555', '0.35'],
      ['floor', 'none', null],
      ['synthetic', 'none', null],
    ]);
  });

  it('correlation heatmaps have a colour scale with its values, and labels on both axes', async () => {
    for (const [title, labels] of [
      ['real', ['+1', '0', '−1', 'correlation']],
      ['synthetic', ['+1', '0', '−1', 'correlation']],
      ['|real − synthetic|', ['≥ 1', '0.5', '0', '|difference|']],
    ] as const) {
      const svg = page.locator('svg', { has: page.locator(`xpath=./*[local-name()="title" and text()="${title}"]`) });
      expect(await svg.locator('rect.colour-scale').count()).toBe(1);
      const texts = await svg.locator('text').allTextContents();
      for (const l of labels) expect(texts, title).toContain(l);
      // each variable named twice: its row and its column
      for (const v of result.plots.correlation.variables) expect(texts.filter((t) => t === v).length, v).toBe(2);
    }
  });

  it('the bootstrap intervals sit on one line under their figures, inside their cells', async () => {
    type Box = { left: number; right: number; top: number; bottom: number; height: number };
    type El = { textContent: string | null; getBoundingClientRect(): Box; closest(q: string): El | null };
    // the per-model rows (augmented AUROC) wait in closed <details>: open them as a reader would
    await page.locator('details').evaluateAll((els) => els.forEach((d) => ((d as unknown as { open: boolean }).open = true)));
    const spans = await page.locator('span.ci').evaluateAll((els) =>
      (els as unknown as El[]).map((el) => {
        const r = el.getBoundingClientRect();
        const td = el.closest('td')!.getBoundingClientRect();
        return { text: el.textContent, inside: r.left >= td.left && r.right <= td.right && r.top >= td.top && r.bottom <= td.bottom, oneLine: r.height < 20, lower: r.top > td.top + 5 };
      }),
    );
    // 6 interval rows (2 detection, 4 utility) × 3 figures
    expect(spans).toHaveLength(18);
    for (const s of spans) {
      expect(s.text).toMatch(/^\[[01]\.\d{3}, [01]\.\d{3}\]$/);
      expect(s).toMatchObject({ inside: true, oneLine: true, lower: true });
    }
    await page.locator('table', { hasText: 'Detection AUC, logistic' }).first().screenshot({ path: join(shots, 'detection-table.png') });
  });

  it('ROC plots have tick values on both axes', async () => {
    const t = await plotTexts(result.plots.roc[0]!.title);
    expect(t.axisTitles).toEqual(['false positive rate', 'true positive rate']);
    for (const v of ['0', '0.2', '0.4', '0.6', '0.8', '1']) expect(t.texts.filter((x) => x === v).length, v).toBe(2);
  });
});
