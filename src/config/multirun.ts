import { SynehrError } from '../util/errors.ts';
import { parseOverride, sweepJobText } from './overrides.ts';

/**
 * Hydra's basic sweeper: every override with a top-level comma list (`model.n_layer=2,4`) is a
 * sweep; the jobs are the Cartesian product of the sweeps in the order given, the last sweep
 * varying fastest (as itertools.product). Each job gets the override list with each sweep replaced
 * by one of its values, and runs as its own run (run_name gets the suffix `_<job index>`).
 */
export function expandMultirun(overrides: readonly string[], maxJobs = 1000): string[][] {
  let jobs: string[][] = [[]];
  for (const text of overrides) {
    const o = parseOverride(text);
    const options = o.sweep ? o.sweep.map((e) => sweepJobText(o, e)) : [text];
    const next: string[][] = [];
    for (const job of jobs) for (const opt of options) next.push([...job, opt]);
    jobs = next;
    if (jobs.length > maxJobs) {
      throw new SynehrError('E_CONFIG_OVERRIDE', `the multirun sweep has more than ${maxJobs} jobs; sweep fewer values`);
    }
  }
  return jobs;
}

/** The run name of job `index` of a multirun: `<run_name>_<index>`. */
export function jobRunName(runName: string, index: number): string {
  return `${runName}_${index}`;
}
