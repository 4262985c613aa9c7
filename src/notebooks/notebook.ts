/**
 * Reading a Jupyter notebook (nbformat 4) of TypeScript cells, checking that it is committed the
 * way we want (a tslab kernelspec, outputs cleared), and turning its code cells into one ES module
 * that runs them in order: each cell is preceded by a marker call, so an error can be traced back
 * to the cell it came from (runNotebook in run.ts).
 */
import { readFileSync } from 'node:fs';

export interface NotebookCell {
  cell_type: 'code' | 'markdown' | 'raw';
  /** the cell's text, as one string or as lines that keep their '\n' */
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: unknown[];
  execution_count?: number | null;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: {
    kernelspec?: { display_name?: string; language?: string; name?: string };
    language_info?: { name?: string; [key: string]: unknown };
    [key: string]: unknown;
  };
  cells: NotebookCell[];
}

/** The kernel the notebooks are written for: tslab's TypeScript kernel. */
export const TSLAB_KERNELSPEC = { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } as const;

/** Parses a notebook file; a file that is not nbformat 4 JSON with a cell list is an error naming it. */
export function readNotebook(path: string): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a notebook: ${(e as Error).message}`);
  }
  const o = nb as Partial<Notebook>;
  if (typeof o !== 'object' || o === null || o.nbformat !== 4 || !Array.isArray(o.cells) || typeof o.metadata !== 'object') {
    throw new Error(`${path}: not an nbformat 4 notebook (expected { nbformat: 4, metadata, cells: [...] })`);
  }
  return o as Notebook;
}

export function cellSource(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

/**
 * What is wrong with a notebook as committed: a kernelspec other than tslab's, a language other
 * than TypeScript, a code cell with outputs or an execution count (run it, then clear the outputs
 * before committing). Empty when it is clean.
 */
export function notebookProblems(nb: Notebook): string[] {
  const problems: string[] = [];
  const ks = nb.metadata.kernelspec;
  if (ks?.name !== TSLAB_KERNELSPEC.name || ks.language !== TSLAB_KERNELSPEC.language) {
    problems.push(`kernelspec is ${JSON.stringify(ks ?? null)}, expected ${JSON.stringify(TSLAB_KERNELSPEC)}`);
  }
  if (nb.metadata.language_info?.name !== 'typescript') {
    problems.push(`language_info.name is ${JSON.stringify(nb.metadata.language_info?.name ?? null)}, expected "typescript"`);
  }
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'code') return;
    if ((cell.outputs?.length ?? 0) > 0) problems.push(`cell ${i} has ${cell.outputs!.length} output(s): clear outputs before committing`);
    if (cell.execution_count !== null && cell.execution_count !== undefined) problems.push(`cell ${i} has execution_count ${cell.execution_count}: clear outputs before committing`);
  });
  return problems;
}

/** The global the module's cell markers call: `enter(i)` as cell i starts. */
export const CELL_HOOK = '__synehrNotebookCell';

export interface NotebookModule {
  /** TypeScript source: every code cell in order, each after a marker line */
  source: string;
  /** per code cell: its index in nb.cells and the 1-based module lines it spans */
  cells: { index: number; firstLine: number; lastLine: number }[];
}

/**
 * One ES module running the notebook's code cells in order. Cells share one scope, as in a kernel;
 * `import` statements are hoisted by the module system, which is also how tslab treats them.
 */
export function notebookModule(nb: Notebook): NotebookModule {
  const lines: string[] = ['// generated from a notebook: one block per code cell'];
  const cells: NotebookModule['cells'] = [];
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type !== 'code') return;
    lines.push(`(globalThis as any).${CELL_HOOK}(${index});`);
    const body = cellSource(cell).replace(/\r\n/g, '\n').split('\n');
    const firstLine = lines.length + 1;
    lines.push(...body);
    cells.push({ index, firstLine, lastLine: lines.length });
    // ends a statement the cell left open to automatic semicolon insertion
    lines.push(';');
  });
  return { source: lines.join('\n') + '\n', cells };
}

/** The notebook cell index that module line `line` (1-based) belongs to, or null for marker lines. */
export function cellOfLine(mod: NotebookModule, line: number): number | null {
  for (const c of mod.cells) if (line >= c.firstLine && line <= c.lastLine) return c.index;
  return null;
}
