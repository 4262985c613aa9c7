/**
 * tslab type-checks every cell before it runs it and refuses a cell with a type error, which
 * running the cells with tsx (notebooks.test.ts) would not notice. So the cells of each notebook
 * are type-checked here with the compiler options tslab uses (ES2019 library, Node's types,
 * esModuleInterop; checked strict as well), against a declaration of tslab's display API.
 */
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/cli/main.ts';
import { cellSource, readNotebook } from '../../src/notebooks/notebook.ts';

const TSLAB_TYPES = `declare module 'tslab' {
  interface Display {
    javascript(s: string): void; html(s: string): void; markdown(s: string): void; latex(s: string): void; svg(s: string): void;
    png(b: Uint8Array): void; jpeg(b: Uint8Array): void; gif(b: Uint8Array): void; pdf(b: Uint8Array): void; text(s: string): void;
    raw(contentType: string, b: string | Uint8Array): void;
  }
  export const display: Display;
  export function newDisplay(): Display;
}
`;

/** Type errors of a notebook's code cells, each as `cell <i>: <message>`. */
function cellTypeErrors(path: string, append?: { cell: number; code: string }): string[] {
  const nb = readNotebook(path);
  const lines: string[] = ['export {};'];
  const owner: number[] = [-1];
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'code') return;
    const src = append?.cell === i ? `${cellSource(cell)}\n${append.code}` : cellSource(cell);
    for (const l of src.split('\n')) {
      lines.push(l);
      owner.push(i);
    }
    lines.push(';');
    owner.push(-1);
  });
  const dir = join(PACKAGE_ROOT, 'notebooks');
  const files = new Map([
    [join(dir, '__notebook__.ts'), lines.join('\n')],
    [join(dir, '__tslab__.d.ts'), TSLAB_TYPES],
  ]);
  const options: ts.CompilerOptions = {
    // tslab: lib es2019, esModuleInterop, resolveJsonModule; module esnext so that top-level await type-checks
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2019.d.ts'],
    types: ['node'],
    typeRoots: [join(PACKAGE_ROOT, 'node_modules', '@types')],
    esModuleInterop: true,
    resolveJsonModule: true,
    skipLibCheck: true,
    strict: true,
    noEmit: true,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => files.get(f) ?? readFile(f);
  host.fileExists = (f) => files.has(f) || fileExists(f);
  host.getSourceFile = (f, lang, ...rest) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang) : getSourceFile(f, lang, ...rest));
  const program = ts.createProgram([...files.keys()], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === join(dir, '__notebook__.ts'))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      return `cell ${owner[line]}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

describe('notebook cells type-check as tslab would check them', () => {
  for (const name of ['01-quickstart.ipynb', '02-bring-your-own-data.ipynb', '03-evaluation.ipynb']) {
    it(name, () => {
      expect(cellTypeErrors(join(PACKAGE_ROOT, 'notebooks', name))).toEqual([]);
    });
  }

  it('EXPECTED FAILURE - a type error is reported in its cell', () => {
    const path = join(PACKAGE_ROOT, 'notebooks', '01-quickstart.ipynb');
    const nb = readNotebook(path);
    const i = nb.cells.findIndex((c, j) => j > 1 && c.cell_type === 'code');
    const errors = cellTypeErrors(path, { cell: i, code: "const wrong: number = 'twenty';" });
    expect(errors).toEqual([`cell ${i}: Type 'string' is not assignable to type 'number'.`]);
  });
});
