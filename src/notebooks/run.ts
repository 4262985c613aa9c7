/**
 * Runs a notebook's code cells in order, in a child process, the way a user would in Jupyter with
 * tslab: `runNotebook('notebooks/01-quickstart.ipynb', { dir })` writes the cells as one module into
 * `dir`, with a stand-in for the `tslab` package beside it (its display functions record what was
 * shown), runs it with tsx, and tells which cell failed and why. The tests use it so that the
 * tutorials cannot rot; `npx tsx src/notebooks/run.ts <notebook.ipynb>...` runs notebooks by hand.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DriverReport } from './driver.ts';
import { cellOfLine, cellSource, notebookModule, readNotebook } from './notebook.ts';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

export interface RunNotebookOptions {
  /** the working directory the cells run in (created if missing); a fresh temp dir by default */
  dir?: string;
  /** added to the child's environment; SYNEHR_ROOT (this checkout) and SYNEHR_WORK (<dir>/work) are set unless given */
  env?: Record<string, string>;
  /** kill the run after this long (default 10 minutes) */
  timeoutMs?: number;
}

export interface NotebookRun extends DriverReport {
  notebook: string;
  /** the cell that failed: from the driver, or mapped from the module line of a load error */
  failedCell?: number;
  /** the child's stderr (the cells' logs and the stage commands' progress) */
  stderr: string;
  stdout: string;
  dir: string;
}

/** The module that tslab's `display` calls reach in a run: records each one, prints nothing big. */
const TSLAB_STANDIN = `// a stand-in for tslab when notebooks run outside Jupyter (src/notebooks/run.ts)
const record = (kind) => (content) => globalThis.__synehrNotebookDisplay?.(kind, content);
export const display = {
  html: record('html'), svg: record('svg'), markdown: record('markdown'), latex: record('latex'),
  text: record('text'), png: record('png'), jpeg: record('jpeg'), gif: record('gif'), pdf: record('pdf'),
  javascript: record('javascript'), raw: (type, content) => record(type)(content),
};
export const newDisplay = () => display;
export const isBrowser = () => false;
export const isNode = () => true;
export default { display, newDisplay, isBrowser, isNode };
`;

export async function runNotebook(notebookPath: string, opts: RunNotebookOptions = {}): Promise<NotebookRun> {
  const path = resolve(notebookPath);
  const nb = readNotebook(path);
  const mod = notebookModule(nb);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'synehr-notebook-'));
  mkdirSync(join(dir, 'node_modules', 'tslab'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'tslab', 'package.json'), JSON.stringify({ name: 'tslab', type: 'module', main: 'index.js' }));
  writeFileSync(join(dir, 'node_modules', 'tslab', 'index.js'), TSLAB_STANDIN);
  const stem = basename(path, '.ipynb');
  const modulePath = join(dir, `${stem}.notebook.mts`);
  const reportPath = join(dir, `${stem}.report.json`);
  writeFileSync(modulePath, mod.source);
  rmSync(reportPath, { force: true });

  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const driver = join(PACKAGE_ROOT, 'src', 'notebooks', 'driver.ts');
  const env = { ...process.env, SYNEHR_ROOT: PACKAGE_ROOT, SYNEHR_WORK: join(dir, 'work'), ...opts.env };
  let stdout = '';
  let stderr = '';
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(process.execPath, ['--import', tsx, driver, modulePath, reportPath], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.stdout.on('data', (b: Buffer) => void (stdout += b));
    child.stderr.on('data', (b: Buffer) => void (stderr += b));
    child.on('error', fail);
    child.on('close', (c) => {
      clearTimeout(timer);
      done(c);
    });
  });

  const base = { notebook: notebookPath, stdout, stderr, dir };
  if (!existsSync(reportPath)) {
    // the driver never got to write: killed, or a crash outside JavaScript
    return { ...base, ok: false, cellsRun: [], displays: [], error: `the notebook process exited with code ${code} and no report:\n${stderr.slice(-2000)}`, seconds: 0 };
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as DriverReport;
  const run: NotebookRun = { ...base, ...report };
  if (!run.ok && run.failedCell === undefined && run.error) {
    // a load-time error (syntax, a missing export): its message or stack names the module's line
    const m = new RegExp(`${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.notebook\\.m?ts:(\\d+)`).exec(run.error);
    const cell = m ? cellOfLine(mod, Number(m[1])) : null;
    if (cell !== null) run.failedCell = cell;
  }
  return run;
}

/** One paragraph saying which notebook and cell failed and why, with the cell's source. */
export function describeFailure(run: NotebookRun): string {
  const nb = readNotebook(resolve(run.notebook));
  const where = run.failedCell === undefined ? 'before any cell ran' : `in cell ${run.failedCell}`;
  const src = run.failedCell === undefined ? '' : `\n--- cell ${run.failedCell} ---\n${[nb.cells[run.failedCell]!.source].flat().join('')}\n---`;
  return `${run.notebook}: failed ${where}: ${run.error?.split('\n').slice(0, 12).join('\n')}${src}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let failed = 0;
  const dir = mkdtempSync(join(tmpdir(), 'synehr-notebooks-'));
  for (const nb of process.argv.slice(2)) {
    const run = await runNotebook(nb, { dir });
    if (run.ok) process.stderr.write(`${nb}: ${run.cellsRun.length} cells ran in ${run.seconds.toFixed(1)} s, ${run.displays.length} displays\n`);
    else {
      failed++;
      process.stderr.write(`${describeFailure(run)}\n`);
    }
  }
  process.stderr.write(`outputs in ${dir}\n`);
  process.exitCode = failed ? 1 : 0;
}
