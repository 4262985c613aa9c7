/**
 * src/notebooks/kit.ts, what the notebooks import: its loss curve, and that it loads the way tslab
 * loads it (cells compiled to CommonJS, so `await import(path)` becomes `require(path)`, with tsx's
 * hooks registered by `NODE_OPTIONS=--import tsx`, docs/notebooks.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/cli/main.ts';
import { lineChartSvg, lossCurveSvg } from '../../src/notebooks/kit.ts';
import { parseMetricsJsonl } from '../../src/tracking/metricsJsonl.ts';

const work = mkdtempSync(join(tmpdir(), 'synehr-kit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('lossCurveSvg', () => {
  const rows = parseMetricsJsonl(
    ['{"step":0,"time":1,"val/loss":5.0}', '{"step":1,"time":2,"train/loss":4.0,"lr":0.001}', '{"step":2,"time":3,"train/loss":null}', '{"step":3,"time":4,"train/loss":3.0}', '{"step":3,"time":4,"val/loss":3.5}', ''].join('\n'),
  );

  it('draws train/loss and val/loss, breaking the line at a null (diverged) value', () => {
    const svg = lossCurveSvg(rows, 'loss of x');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('<title>loss of x</title>');
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(2);
    // train/loss: step 1, a gap at step 2, step 3 starts a new segment
    expect(paths[0]!.match(/M/g)).toHaveLength(2);
    expect(paths[0]!.match(/L/g)).toBeNull();
    // val/loss: steps 0 and 3, one segment. The y axis spans both series, 3.0 (bottom, y = 180) to
    // 5.0 (top, y = 20), so 3.5 is a quarter of the way up: 180 - 160 / 4 = 140
    expect(paths[1]).toBe('M48.0,20.0 L408.0,140.0');
  });

  it('EXPECTED FAILURE - no loss in the rows', () => {
    expect(() => lossCurveSvg(parseMetricsJsonl('{"step":1,"time":1,"lr":0.1}\n'))).toThrow(new RangeError('lossCurveSvg: no train/loss or val/loss in 1 metrics rows'));
    expect(() => lineChartSvg('t', [{ label: 'a', x: [1], y: [null] }])).toThrow(/'t' has no finite points to draw/);
  });
});

describe('the kit, loaded as tslab loads it', () => {
  it('require() of kit.ts under tsx runs a synehr command', () => {
    const script = join(work, 'cell.cjs');
    writeFileSync(
      script,
      `const kit = require(${JSON.stringify(join(PACKAGE_ROOT, 'src', 'notebooks', 'kit.ts'))});
kit.synehr(['config', 'show', 'model.n_ctx', 'model=gpt-tiny'], { cwd: ${JSON.stringify(work)} }).then((r) => console.log('n_ctx=' + r.out.trim()));`,
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const r = spawnSync(process.execPath, ['--import', tsx, script], { cwd: work, encoding: 'utf8' });
    // stderr may carry a Node warning of the day; an error fails the status or the output
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('n_ctx=64');
  });
});
