import type { DataConfig } from '../records/dataConfig.ts';
import type { PatientRecord } from '../records/types.ts';
import type { InputIssues } from './issues.ts';

/** Progress of a loader: `done` of `total` units (patients, files, rows), total unknown when undefined. */
export interface LoadProgress {
  done: number;
  total?: number;
  unit: string;
}
export type OnProgress = (p: LoadProgress) => void;

/** What a loader needs besides its data config. */
export interface LoadContext {
  /** a relative path from the config, resolved against the user's project (or the package for embedded data) */
  resolvePath(p: string): string;
  onProgress?: OnProgress;
  issues: InputIssues;
}

export type Loader = (data: DataConfig, ctx: LoadContext) => AsyncIterable<PatientRecord>;
