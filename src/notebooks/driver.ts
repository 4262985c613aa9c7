/**
 * The child process of runNotebook (run.ts): `node --import tsx driver.ts <module.ts> <report.json>`.
 * Installs the cell marker hook, imports the notebook's module (which runs every cell in order),
 * and writes a report: which cells ran, what they displayed, and, on failure, the cell that was
 * running and the error. An error before any cell ran (a syntax error, a bad import) carries no
 * cell; the parent maps its module line back to a cell.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CELL_HOOK } from './notebook.ts';

export interface DriverReport {
  ok: boolean;
  /** notebook cell indices, in the order they started */
  cellsRun: number[];
  /** what cells passed to tslab's display functions (through the test's stand-in for tslab) */
  displays: { cell: number; kind: string; length: number }[];
  /** the cell running when the error was raised (absent when none had started) */
  failedCell?: number;
  error?: string;
  seconds: number;
}

const [modulePath, reportPath] = process.argv.slice(2);
if (!modulePath || !reportPath) {
  process.stderr.write('usage: driver.ts <module.ts> <report.json>\n');
  process.exit(2);
}
const t0 = performance.now();
const report: DriverReport = { ok: false, cellsRun: [], displays: [], seconds: 0 };
const current = () => report.cellsRun[report.cellsRun.length - 1];
(globalThis as Record<string, unknown>)[CELL_HOOK] = (index: number) => {
  report.cellsRun.push(index);
  process.stderr.write(`[notebook] cell ${index}\n`);
};
// the tslab stand-in calls this for every display.* call
(globalThis as Record<string, unknown>).__synehrNotebookDisplay = (kind: string, content: unknown) => {
  report.displays.push({ cell: current() ?? -1, kind, length: typeof content === 'string' ? content.length : ((content as Uint8Array)?.length ?? 0) });
};

let finished = false;
function finish(error?: unknown): never {
  if (!finished) {
    finished = true;
    report.ok = error === undefined;
    if (error !== undefined) {
      if (current() !== undefined) report.failedCell = current();
      report.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    }
    report.seconds = (performance.now() - t0) / 1000;
    writeFileSync(reportPath!, JSON.stringify(report, null, 2));
  }
  process.exit(error === undefined ? 0 : 1);
}
// a promise a cell forgot to await still fails the run, in the cell running when it rejects
process.on('unhandledRejection', (e) => finish(e ?? new Error('a promise rejected with no reason')));
process.on('uncaughtException', (e) => finish(e));

try {
  await import(pathToFileURL(modulePath).href);
} catch (e) {
  finish(e);
}
finish();
