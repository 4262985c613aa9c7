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

interface CheckedNotebook {
  /** the virtual file's stem */
  name: string;
  path: string;
  /** code added at the end of one cell (the expected-failure case) */
  append?: { cell: number; code: string };
}

/**
 * Type errors of each notebook's code cells, each as `cell <i>: <message>`. All notebooks share one
 * program (one load of Node's types), each as a module of its own.
 */
function notebookTypeErrors(notebooks: CheckedNotebook[]): Record<string, string[]> {
  const dir = join(PACKAGE_ROOT, 'notebooks');
  const files = new Map<string, string>([[join(dir, '__tslab__.d.ts'), TSLAB_TYPES]]);
  const owners = new Map<string, { name: string; owner: number[] }>();
  for (const { name, path, append } of notebooks) {
    const lines: string[] = ['export {};'];
    const owner: number[] = [-1];
    readNotebook(path).cells.forEach((cell, i) => {
      if (cell.cell_type !== 'code') return;
      const src = append?.cell === i ? `${cellSource(cell)}\n${append.code}` : cellSource(cell);
      for (const l of src.split('\n')) {
        lines.push(l);
        owner.push(i);
      }
      lines.push(';');
      owner.push(-1);
    });
    const file = join(dir, `__${name}__.ts`);
    files.set(file, lines.join('\n'));
    owners.set(file, { name, owner });
  }
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
  const errors: Record<string, string[]> = Object.fromEntries(notebooks.map((n) => [n.name, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const o = d.file && owners.get(d.file.fileName);
    if (!o) continue;
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
    errors[o.name]!.push(`cell ${o.owner[line]}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }
  return errors;
}

const NAMES = ['01-quickstart', '02-bring-your-own-data', '03-evaluation'];
const quickstart = join(PACKAGE_ROOT, 'notebooks', '01-quickstart.ipynb');
// the first code cell after the setup cell: the settings, whose names later cells use
const badCell = readNotebook(quickstart).cells.findIndex((c, j) => j > 1 && c.cell_type === 'code');
const errors = notebookTypeErrors([
  ...NAMES.map((name) => ({ name, path: join(PACKAGE_ROOT, 'notebooks', `${name}.ipynb`) })),
  { name: 'bad', path: quickstart, append: { cell: badCell, code: "const wrong: number = 'twenty';" } },
]);

describe('notebook cells type-check as tslab would check them', () => {
  for (const name of NAMES) {
    it(`${name}.ipynb`, () => {
      expect(errors[name]).toEqual([]);
    });
  }

  it('EXPECTED FAILURE - a type error is reported in its cell', () => {
    expect(errors.bad).toEqual([`cell ${badCell}: Type 'string' is not assignable to type 'number'.`]);
  });
});
