import { appendFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/tracking/dashboard/server.ts';
import { createTracker } from '../../src/tracking/tracker.ts';
import { launchChromiumForSuite, screenshotDir } from './browser.ts';
import { copyFixtureRuns } from './fixtureRuns.ts';

let fx: ReturnType<typeof copyFixtureRuns>;
let dash: Dashboard;
let browser: Awaited<ReturnType<typeof launchChromiumForSuite>>['browser'];
let launchError: unknown;
let page: Page;
const pageErrors: string[] = [];

/** Points of a chart's series as drawn: one per M/L command of the SVG path. */
async function drawnPoints(chartId: string, series: string): Promise<number> {
  const d = await page.locator(`#${chartId} path.series[data-series="${series}"]`).getAttribute('d');
  return (d ?? '').match(/[ML]/g)?.length ?? 0;
}

/** Screenshots of what the tests look at, for a person to check: SYNEHR_SCREENSHOTS=<dir> keeps them. */
const screenshots = screenshotDir('dashboard');
const shots = screenshots.dir;

/** What `synehr load` leaves beside a data set: PGlite's data directory (PG_VERSION at its top, the database's files below). */
function fakePgliteFolder(dir: string, files: number): void {
  mkdirSync(join(dir, 'base', '1'), { recursive: true });
  mkdirSync(join(dir, 'global'), { recursive: true });
  writeFileSync(join(dir, 'PG_VERSION'), '17\n');
  for (let i = 0; i < files; i++) writeFileSync(join(dir, i % 3 ? 'base/1' : 'global', String(1200 + i)), new Uint8Array(8192));
}

/**
 * The boxes of a chart's legend items (line + label), its plot area's top and its width, in SVG
 * units: a legend that fits lies above the plot area, within the width, items apart.
 */
async function legendGeometry(chartId: string): Promise<{ items: { x: number; y: number; w: number; h: number }[]; plotTop: number; width: number }> {
  return page.locator(`#${chartId}`).evaluate((svg) => {
    const el = svg as unknown as { viewBox: { baseVal: { width: number } }; querySelectorAll(q: string): ArrayLike<{ getBBox(): { x: number; y: number; width: number; height: number }; getAttribute(n: string): string | null }> };
    const texts = Array.from(el.querySelectorAll('.legend text')).map((t) => t.getBBox());
    const lines = Array.from(el.querySelectorAll('.legend line')).map((l) => l.getBBox());
    const axes = Array.from(el.querySelectorAll('line.axis')).map((l) => Number(l.getAttribute('y1')));
    const items = texts.map((t, i) => {
      const x = Math.min(t.x, lines[i]!.x);
      const y = Math.min(t.y, lines[i]!.y);
      return { x, y, w: t.x + t.width - x, h: Math.max(t.y + t.height, lines[i]!.y + lines[i]!.height) - y };
    });
    return { items, plotTop: Math.min(...axes), width: el.viewBox.baseVal.width };
  });
}

function expectLegendFits(g: Awaited<ReturnType<typeof legendGeometry>>): void {
  expect(g.items.length).toBeGreaterThan(0);
  for (const b of g.items) {
    expect(b.x).toBeGreaterThanOrEqual(0);
    expect(b.x + b.w).toBeLessThanOrEqual(g.width);
    expect(b.y + b.h).toBeLessThanOrEqual(g.plotTop);
  }
  for (let i = 0; i < g.items.length; i++)
    for (let j = i + 1; j < g.items.length; j++) {
      const [a, b] = [g.items[i]!, g.items[j]!];
      const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
      expect(apart, `legend items ${i} and ${j} overlap`).toBe(true);
    }
}

beforeAll(async () => {
  fx = copyFixtureRuns();
  fakePgliteFolder(join(fx.workDir, 'data', 'synthetic', 'tiny-a', 'pglite'), 72);
  dash = await startDashboard({ workDir: fx.workDir, port: 0 });
  ({ browser, error: launchError } = await launchChromiumForSuite());
  if (!browser) return;
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.setDefaultTimeout(10_000);
});

beforeEach(() => {
  if (launchError !== undefined) throw launchError;
});

afterAll(async () => {
  await browser?.close();
  screenshots.cleanup();
  await dash?.close();
  fx?.cleanup();
});

describe('dashboard in headless Chromium', () => {
  it('loads and lists the fixture runs', async () => {
    await page.goto(dash.url);
    await page.locator('#run-list li[data-run="tiny-b"]').waitFor();
    const names = await page.locator('#run-list li[data-run]').evaluateAll((els) => els.map((e) => e.getAttribute('data-run')));
    expect(names.sort()).toEqual(['tiny-a', 'tiny-b']);
    await expect.poll(() => page.locator('#status').textContent()).toBe('2 runs in saved_models/');
  });

  it('draws the loss and learning-rate curves of a run as SVG paths through every logged step', async () => {
    await page.locator('#run-list li[data-run="tiny-a"] .name').click();
    await expect.poll(() => page.locator('[data-testid="run-title"]').textContent()).toBe('tiny-a');
    await page.locator('#loss-chart path.series[data-series="train/loss"]').waitFor();
    expect(await drawnPoints('loss-chart', 'train/loss')).toBe(40);
    expect(await drawnPoints('loss-chart', 'val/loss')).toBe(8); // every 50 steps
    expect(await drawnPoints('lr-chart', 'lr')).toBe(40);
    const box = await page.locator('#loss-chart path.series[data-series="train/loss"]').boundingBox();
    expect(box!.width).toBeGreaterThan(200);
    expect(box!.height).toBeGreaterThan(50);
    // the curve falls: its last point is drawn lower (larger y) than its first
    const d = (await page.locator('#loss-chart path.series[data-series="train/loss"]').getAttribute('d'))!;
    const ys = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => Number(m[2]));
    expect(ys[ys.length - 1]).toBeGreaterThan(ys[0] + 50);
  });

  it('log scale and smoothing redraw the loss chart, and undo cleanly', async () => {
    const path = page.locator('#loss-chart path.series[data-series="train/loss"]');
    const linear = await path.getAttribute('d');
    await page.locator('#log-y').check();
    await expect.poll(() => path.getAttribute('d')).not.toBe(linear);
    expect(await drawnPoints('loss-chart', 'train/loss')).toBe(40);
    await page.locator('#log-y').uncheck();
    await expect.poll(() => path.getAttribute('d')).toBe(linear);

    await page.locator('#smoothing').evaluate((el) => {
      const input = el as unknown as { value: string; dispatchEvent(e: unknown): boolean };
      input.value = '0.9';
      input.dispatchEvent(new (globalThis as unknown as { Event: new (t: string) => unknown }).Event('input'));
    });
    const smoothed = page.locator('#loss-chart path.smoothed[data-series="train/loss"]');
    await smoothed.waitFor();
    expect(await smoothed.getAttribute('data-points')).toBe('40');
    expect(await smoothed.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { fill: string } }).getComputedStyle(el).fill)).toBe('none');
    // the smoothed curve wiggles less: its summed |dy| is smaller than the raw curve's
    const wiggle = (d: string) => {
      const ys = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => Number(m[2]));
      return ys.slice(1).reduce((a, y, i) => a + Math.abs(y - ys[i]), 0);
    };
    expect(wiggle((await smoothed.getAttribute('d'))!)).toBeLessThan(wiggle((await path.getAttribute('d'))!));
    await page.locator('#smoothing').evaluate((el) => {
      const input = el as unknown as { value: string; dispatchEvent(e: unknown): boolean };
      input.value = '0';
      input.dispatchEvent(new (globalThis as unknown as { Event: new (t: string) => unknown }).Event('input'));
    });
    await expect.poll(() => page.locator('#loss-chart path.smoothed').count()).toBe(0);
  });

  it('shows the evaluation metrics, the report and its plots, and the generated data set', async () => {
    // eval/metrics.json as synehr evaluate writes it: summary rows with ceiling and floor, per-field rows on request
    const evalRows = page.locator('[data-testid="eval-metrics"] tr[data-key]');
    await expect.poll(() => evalRows.count()).toBe(5);
    const tstr = await page.locator('[data-testid="eval-metrics"] tr[data-key="utility/in_hospital_death/logistic/tstr_auroc"] td').allTextContents();
    expect(tstr).toEqual(['utility · TSTR AUROC (in_hospital_death, logistic)', '0.781', '0.803', '0.602', 'higher']);
    await page.locator('#eval-show-all').check();
    await expect.poll(() => evalRows.count()).toBe(7);
    expect(await page.locator('[data-testid="eval-metrics"] tr[data-key="fidelity/marginal/Temp/ks"] td').nth(1).textContent()).toBe('—');
    expect(await page.locator('main').textContent()).toContain('500 synthetic patients against 320 train / 40 test');
    const plot = page.locator('[data-testid="eval-plots"] img');
    await expect.poll(() => plot.evaluate((el) => { const img = el as unknown as { complete: boolean; naturalWidth: number }; return img.complete && img.naturalWidth; })).toBe(200);
    expect(await page.locator('a', { hasText: 'Open the evaluation report' }).getAttribute('href')).toBe('/files/saved_models/tiny-a/eval/report.html');
    const manifest = await page.locator('[data-testid="synthetic-manifest"]').textContent();
    expect(manifest).toContain('counts.patients');
    expect(manifest).not.toContain('n_samples'); // the generation config is folded away, not in the table
    expect(await page.locator('details', { hasText: 'config used for generation' }).locator('pre').textContent()).toContain('"n_samples": 3');
    // the data set's own files; synehr load's PGlite folder is one line, its 72 files not listed
    expect(await page.locator('[data-testid="synthetic-files"] a').allTextContents()).toEqual(['manifest.json', 'patients.csv']);
    expect(await page.locator('[data-testid="synthetic-files"] tr[data-database]').allTextContents()).toEqual([
      'pglite/ database (synehr load): 73 files of its own, not listed576.0 KB',
    ]);
    expect(await page.locator('[data-testid="config"]').textContent()).toContain('n_layer: 2');
  });

  it('switches runs', async () => {
    await page.locator('#run-list li[data-run="tiny-b"] .name').click();
    await expect.poll(() => page.locator('[data-testid="run-title"]').textContent()).toBe('tiny-b');
    await expect.poll(() => drawnPoints('loss-chart', 'train/loss')).toBe(25);
    expect(await page.locator('#run-list li.selected').getAttribute('data-run')).toBe('tiny-b');
    expect(await page.locator('[data-testid="config"]').textContent()).toContain('n_layer: 4');
    expect(await page.locator('[data-testid="eval-metrics"] tr[data-key="detection/auroc"] td').nth(1).textContent()).toBe('0.61');
    expect(await page.locator('main').textContent()).toContain('Nothing generated yet');
  });

  it('live: lines appended to metrics.jsonl while the run is shown extend the chart', async () => {
    await page.locator('#run-list li[data-run="tiny-a"] .name').click();
    await expect.poll(() => drawnPoints('loss-chart', 'train/loss')).toBe(40);
    const path = join(fx.workDir, 'saved_models', 'tiny-a', 'metrics.jsonl');
    appendFileSync(path, '{"step":400,"time":1795000100,"train/loss":1.91,"lr":0.00005}\n');
    await expect.poll(() => drawnPoints('loss-chart', 'train/loss'), { timeout: 8000 }).toBe(41);
    appendFileSync(path, '{"step":410,"time":1795000102,"train/loss":1.9,"lr":0.00004}\n{"step":420,"time":1795000104,"train/loss":1.89,"val/loss":1.95,"lr":0.00003}\n');
    await expect.poll(() => drawnPoints('loss-chart', 'train/loss'), { timeout: 8000 }).toBe(43);
    expect(await drawnPoints('loss-chart', 'val/loss')).toBe(9);
    expect(await page.locator('[data-testid="final-metrics"]').textContent()).toContain('1.89');
  });

  it('live: a run being logged by the tracker appears, opens, and its loss curve grows as it trains', async () => {
    const runDir = join(fx.workDir, 'saved_models', 'training-now');
    const tracker = await createTracker(runDir, { metrics_jsonl: true, tensorboard: true, wandb: false, wandb_project: 'synehr', wandb_entity: null }, { runName: 'training-now', config: {} });
    tracker.log(0, { 'train/loss': 5, lr: 0 });
    await page.locator('#run-list li[data-run="training-now"]').waitFor({ timeout: 8000 });
    expect(await page.locator('#run-list li[data-run="training-now"] .dot').count()).toBe(1); // marked live
    await page.locator('#run-list li[data-run="training-now"] .name').click();
    await expect.poll(() => page.locator('#loss-chart').getAttribute('data-points')).toBe('1');
    for (let step = 1; step <= 12; step++) {
      tracker.log(step, { 'train/loss': 5 / (1 + step), lr: 1e-3 });
      await new Promise((r) => setTimeout(r, 100));
    }
    await expect.poll(() => drawnPoints('loss-chart', 'train/loss'), { timeout: 8000 }).toBe(13);
    expect(await page.locator('main').textContent()).toContain('Not evaluated yet');
    await tracker.close();
  });

  it('live: a run that starts while the dashboard is open appears in the list', async () => {
    cpSync(join(fx.workDir, 'saved_models', 'tiny-b'), join(fx.workDir, 'saved_models', 'tiny-c'), { recursive: true });
    writeFileSync(join(fx.workDir, 'saved_models', 'tiny-c', 'metrics.jsonl'), '{"step":0,"time":1795200000,"train/loss":5.5,"lr":0}\n');
    await page.locator('#run-list li[data-run="tiny-c"]').waitFor({ timeout: 8000 });
    await page.locator('#run-list li[data-run="tiny-c"] .name').click();
    await expect.poll(() => page.locator('#loss-chart').getAttribute('data-points')).toBe('1');
  });

  it('compares runs side by side: overlaid curves, final metrics, config diff', async () => {
    await page.locator('#run-list li[data-run="tiny-a"] input').check();
    await page.locator('#run-list li[data-run="tiny-b"] input').check();
    await page.locator('#compare-button').click();
    await expect.poll(() => page.locator('[data-testid="compare-title"]').textContent()).toBe('Comparing 2 runs');
    await page.locator('#compare-loss-chart path.series').first().waitFor();
    const series = await page.locator('#compare-loss-chart path.series').evaluateAll((els) => els.map((e) => e.getAttribute('data-series')));
    expect(series).toEqual(['tiny-a train/loss', 'tiny-a val/loss', 'tiny-b train/loss', 'tiny-b val/loss']);
    const diffKeys = await page.locator('[data-testid="config-diff"] tr[data-key]').evaluateAll((els) => els.map((e) => e.getAttribute('data-key')));
    expect(diffKeys).toEqual(['model.n_layer', 'run_name', 'train.lr', 'train.max_steps']);
    const finals = await page.locator('[data-testid="compare-final-metrics"]').textContent();
    expect(finals).toContain('train/loss');
    expect(finals).toContain('2.4236'); // tiny-b's last train/loss
    // the better run per metric is marked, in the metric's own direction
    const bestIn = async (testid: string, key: string) =>
      page.locator(`[data-testid="${testid}"] tr`, { has: page.locator('td', { hasText: new RegExp(`^${key.replace(/[/.]/g, '\\$&')}$`) }) }).locator('td.best').textContent();
    expect(await bestIn('compare-final-metrics', 'train/loss')).toBe('1.89'); // lower (tiny-a, as extended by the live test)
    expect(await bestIn('compare-eval-metrics', 'fidelity/tcd')).toBe('0.184'); // lower
    expect(await bestIn('compare-eval-metrics', 'fidelity/code_prevalence_r2')).toBe('0.91'); // higher
    expect(await bestIn('compare-eval-metrics', 'detection/auroc')).toBe('0.61'); // closer to 0.5
    expect(await page.locator('[data-testid="compare-eval-metrics"] tr').count()).toBe(6); // header + 5 summary metrics
  });

  it('compare view: legends of runs with long names wrap above the curves, within the chart; axes have titles', async () => {
    const long = ['physionet2012_gpt-small_20261123-150405', 'physionet2012_gpt-small_20261124-091233'];
    cpSync(join(fx.workDir, 'saved_models', 'tiny-a'), join(fx.workDir, 'saved_models', long[0]!), { recursive: true });
    cpSync(join(fx.workDir, 'saved_models', 'tiny-b'), join(fx.workDir, 'saved_models', long[1]!), { recursive: true });
    await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), '#compare=' + [...long, 'tiny-a'].join(','));
    await expect.poll(() => page.locator('[data-testid="compare-title"]').textContent()).toBe('Comparing 3 runs');
    await expect.poll(() => page.locator('#compare-loss-chart path.series').count()).toBe(6);
    const g = await legendGeometry('compare-loss-chart');
    expect(g.items).toHaveLength(6);
    expectLegendFits(g);
    // six labels of up to 49 characters take more than one row
    expect(new Set(g.items.map((b) => Math.round(b.y))).size).toBeGreaterThan(1);
    expectLegendFits(await legendGeometry('compare-lr-chart'));
    const titles = await page.locator('#compare-loss-chart text.axis-title').allTextContents();
    expect(titles).toEqual(['step', 'cross-entropy (nats per token)']);
    await page.locator('#compare-loss-chart').screenshot({ path: join(shots, 'compare-loss.png') });
    await page.screenshot({ path: join(shots, 'compare.png'), fullPage: true });
  });

  it('one run: the loss chart\'s legend sits above its curves', async () => {
    await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), '#run=tiny-a');
    await expect.poll(() => page.locator('[data-testid="run-title"]').textContent()).toBe('tiny-a');
    await page.locator('#loss-chart path.series').first().waitFor();
    expectLegendFits(await legendGeometry('loss-chart'));
    expect(await page.locator('#lr-chart text.axis-title').allTextContents()).toEqual(['step', 'learning rate']);
    await page.screenshot({ path: join(shots, 'run.png'), fullPage: true });
  });

  it('raised no JavaScript errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
