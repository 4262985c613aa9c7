/**
 * One entry point for every raw format: `loadSource(data, resolvePath)` streams the data set's
 * patients as canonical records. The loader is chosen by `data.loader`; each lives in its own
 * module, imported on demand (the DuckDB-backed ones load a native engine).
 */
import { stat } from 'node:fs/promises';
import type { DataConfig } from '../records/dataConfig.ts';
import { inputError } from '../util/errors.ts';
import type { PatientRecord } from '../records/types.ts';
import { InputIssues } from './issues.ts';
import type { Loader, LoadContext, OnProgress } from './types.ts';

export type { LoadProgress, OnProgress, LoadContext } from './types.ts';
export { InputIssues, ISSUE_KINDS, type IssueKind } from './issues.ts';

/** A stream of records that also carries the input issues counted while it was read. */
export interface SourceStream extends AsyncIterable<PatientRecord> {
  readonly issues: InputIssues;
}

async function loaderFor(name: DataConfig['loader']): Promise<Loader> {
  switch (name) {
    case 'physionet2012':
      return (await import('./physionet2012.ts')).loadPhysioNet2012;
    case 'mimic3':
      return (await import('./mimic3.ts')).loadMimic3;
    case 'synthea':
      return (await import('./synthea.ts')).loadSynthea;
    case 'long':
      return (await import('./long.ts')).loadLong;
  }
}

export function loadSource(data: DataConfig, resolvePath: (p: string) => string, onProgress?: OnProgress): SourceStream {
  const tolerate = (data.options?.tolerate as string[] | undefined) ?? [];
  const issues = new InputIssues(Array.isArray(tolerate) ? tolerate : []);
  const ctx: LoadContext = { resolvePath, onProgress, issues };
  return {
    issues,
    async *[Symbol.asyncIterator]() {
      const root = resolvePath(data.root);
      if (!(await stat(root).then((st) => st.isDirectory(), () => false))) {
        throw inputError(root, undefined, `data.root is not a directory (data=${data.name}; set data.root=PATH to where the ${data.loader} files are)`);
      }
      const load = await loaderFor(data.loader);
      yield* load(data, ctx);
    },
  };
}
