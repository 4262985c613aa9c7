/**
 * The tutorial notebooks run: every code cell of every notebook in notebooks/, in order, in a child
 * process (src/notebooks/run.ts), the way tslab would run them, on a temp working directory. A
 * failure names the notebook, the cell and the error. The runner itself is shown to fail on fixture
 * notebooks with a throwing cell and with a cell that does not parse.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/cli/main.ts';
import { cellOfLine, notebookModule, notebookProblems, readNotebook, type Notebook } from '../../src/notebooks/notebook.ts';
import { describeFailure, runNotebook, type NotebookRun } from '../../src/notebooks/run.ts';

const NOTEBOOKS = join(PACKAGE_ROOT, 'notebooks');
const FIXTURES = join(PACKAGE_ROOT, 'test', 'notebooks', 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'synehr-notebooks-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const EXPECTED = ['01-quickstart.ipynb', '02-bring-your-own-data.ipynb', '03-evaluation.ipynb'];

function expectOk(run: NotebookRun): void {
  // the failure message is the assertion's message: notebook, cell, error, the cell's source
  if (!run.ok) expect.fail(describeFailure(run));
  expect(run.error).toBeUndefined();
}

describe('the committed notebooks', () => {
  it('are the three tutorials, with a tslab kernelspec and their outputs cleared', () => {
    expect(readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb')).sort()).toEqual(EXPECTED);
    for (const name of EXPECTED) {
      const nb = readNotebook(join(NOTEBOOKS, name));
      expect(notebookProblems(nb), name).toEqual([]);
      expect(nb.cells.filter((c) => c.cell_type === 'code').length, name).toBeGreaterThanOrEqual(5);
      expect(nb.cells[0]!.cell_type, `${name} opens with a markdown cell`).toBe('markdown');
    }
  });

  it('EXPECTED FAILURE - a notebook saved with outputs, or for another kernel', () => {
    const nb = readNotebook(join(NOTEBOOKS, EXPECTED[0]!));
    const dirty: Notebook = structuredClone(nb);
    const i = dirty.cells.findIndex((c) => c.cell_type === 'code');
    dirty.cells[i]!.outputs = [{ output_type: 'stream', name: 'stdout', text: ['hi\n'] }];
    dirty.cells[i]!.execution_count = 3;
    dirty.metadata.kernelspec = { display_name: 'Python 3', language: 'python', name: 'python3' };
    const problems = notebookProblems(dirty);
    expect(problems).toContain(`cell ${i} has 1 output(s): clear outputs before committing`);
    expect(problems).toContain(`cell ${i} has execution_count 3: clear outputs before committing`);
    expect(problems.some((p) => p.startsWith('kernelspec is {"display_name":"Python 3"'))).toBe(true);
  });
});

describe('notebookModule', () => {
  it('maps every line of a code cell back to that cell, and marker lines to none', () => {
    const nb = readNotebook(join(FIXTURES, 'bad-cell.ipynb'));
    const mod = notebookModule(nb);
    const lines = mod.source.split('\n');
    expect(mod.cells.map((c) => c.index)).toEqual([1, 3, 4]);
    for (const c of mod.cells) {
      const src = [nb.cells[c.index]!.source].flat().join('');
      expect(lines.slice(c.firstLine - 1, c.lastLine).join('\n')).toBe(src);
      expect(cellOfLine(mod, c.firstLine)).toBe(c.index);
      expect(cellOfLine(mod, c.lastLine)).toBe(c.index);
      expect(cellOfLine(mod, c.firstLine - 1)).toBeNull();
    }
  });
});

describe('runNotebook', () => {
  it('EXPECTED FAILURE - a cell that throws: names the cell, runs none after it', async () => {
    const run = await runNotebook(join(FIXTURES, 'bad-cell.ipynb'), { dir: join(work, 'bad') });
    expect(run.ok).toBe(false);
    expect(run.failedCell).toBe(3);
    expect(run.cellsRun).toEqual([1, 3]);
    expect(run.error).toMatch(/RangeError: n is 1, expected <= 0/);
    expect(describeFailure(run)).toMatch(/bad-cell\.ipynb: failed in cell 3: RangeError: n is 1/);
    expect(describeFailure(run)).toContain('check(limit);');
  });

  it('EXPECTED FAILURE - a cell that does not parse: mapped back to its cell from the module line', async () => {
    const run = await runNotebook(join(FIXTURES, 'syntax-error.ipynb'), { dir: join(work, 'syntax') });
    expect(run.ok).toBe(false);
    expect(run.cellsRun).toEqual([]);
    expect(run.failedCell).toBe(2);
    expect(describeFailure(run)).toMatch(/syntax-error\.ipynb: failed in cell 2: /);
  });
});

describe('the tutorials run, every code cell in order', () => {
  // one working directory for the three, as in notebooks/work/: 03 reuses the run 01 trains
  const shared = join(work, 'tutorials');
  const timeout = { timeout: 240_000 };

  it('01-quickstart: prepare → tokenize → train → export → generate → evaluate, with plots', timeout, async () => {
    const run = await runNotebook(join(NOTEBOOKS, '01-quickstart.ipynb'), { dir: shared, timeoutMs: 230_000 });
    expectOk(run);
    const nb = readNotebook(join(NOTEBOOKS, '01-quickstart.ipynb'));
    expect(run.cellsRun.length).toBe(nb.cells.filter((c) => c.cell_type === 'code').length);
    // the loss curve, three histograms and the DCR plot, each a whole <svg> element
    expect(run.displays.filter((d) => d.kind === 'html' && d.length > 500).length).toBe(5);
  });

  it('03-evaluation: reads metrics.json and the plots, compares two runs', timeout, async () => {
    const weights = (r: string) => join(shared, 'work', 'saved_models', r, 'model.safetensors');
    const before = statSync(weights('quickstart')).mtimeMs;
    const run = await runNotebook(join(NOTEBOOKS, '03-evaluation.ipynb'), { dir: shared, timeoutMs: 230_000 });
    expectOk(run);
    // the quick start's run was found, not rebuilt; only the second run was trained
    expect(statSync(weights('quickstart')).mtimeMs).toBe(before);
    expect(existsSync(join(shared, 'work', 'saved_models', 'quickstart-short', 'eval', 'metrics.json'))).toBe(true);
    expect(run.stdout).toMatch(/\| figure \| quickstart \| quickstart-short \| ceiling \|/);
    expect(run.displays.filter((d) => d.kind === 'html').length).toBe(6);
    expect(run.displays.filter((d) => d.kind === 'markdown').length).toBe(1);
  });

  it('docs/data-formats.md names every field of the quick start\'s tokenizer.json, manifest.json and token shard header', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'data-formats.md'), 'utf8');
    const out = join(shared, 'work');
    const tokenizer = JSON.parse(readFileSync(join(out, 'tokenizer', 'physionet2012', 'tokenizer.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(out, 'data', 'synthetic', 'quickstart', 'manifest.json'), 'utf8'));
    const metrics = JSON.parse(readFileSync(join(out, 'saved_models', 'quickstart', 'eval', 'metrics.json'), 'utf8'));
    const fields = [...Object.keys(tokenizer), ...Object.keys(tokenizer.automaton), ...Object.keys(manifest), ...Object.keys(manifest.sampling), ...Object.keys(manifest.counts), ...Object.keys(metrics), ...Object.keys(metrics.rows[0])];
    const missing = fields.filter((f) => !doc.includes(`\`${f}\``));
    expect(missing).toEqual([]);
    expect(doc).toContain(`| \`format_version\` | \`${tokenizer.format_version}\``);
    const shard = readFileSync(join(out, 'data', 'processed', 'physionet2012', 'tokens', 'train.bin'));
    expect(doc).toContain(`magic \`${shard.subarray(0, 7).toString('latin1')}\\0\``);
    expect(doc).toContain(`| 8 | 4 | format version (\`${shard.readUInt32LE(8)}\`) |`);
  });

  it('02-bring-your-own-data: a long-format file and a data config through the whole pipeline', timeout, async () => {
    const run = await runNotebook(join(NOTEBOOKS, '02-bring-your-own-data.ipynb'), { dir: shared, timeoutMs: 230_000 });
    expectOk(run);
    expect(run.stdout).toMatch(/12 synthetic patients/);
    expect(run.stdout).toMatch(/name: ward/);
    // the bad-input cell: one line naming the file, the line and the value
    expect(run.stdout).toMatch(/exit code 2: synehr: error: \S+ward-bad\.csv:\d+: temperature: value "hot" is not a number/);
  });
});
