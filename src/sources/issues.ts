/**
 * Bad input, counted or thrown. Every loader reports what it cannot read through `InputIssues`:
 * unless the data config lists the issue's kind under `options.tolerate`, the report throws one
 * SynehrError naming the file, the line or row, and the value; when it is tolerated, the row (or
 * patient) is dropped and the issue counted for the summary, with the first few examples kept.
 */
import { inputError, SynehrError } from '../util/errors.ts';

/** The kinds of bad input a data config may tolerate (`options.tolerate: [kind, ...]`). */
export const ISSUE_KINDS = [
  // a line with the wrong number of fields, a broken quote, a truncated archive member
  'malformed_row',
  // a number field that does not parse as a finite number
  'non_numeric',
  // a time that does not parse, or lies before the admission start
  'bad_time',
  // a value outside the variable's plausible range in the data config
  'out_of_range',
  // a categorical value not in the variable's declared values
  'unknown_value',
  // a patient (or admission) with no measurements and no codes
  'empty_patient',
  // a code whose system is not in data.code_systems
  'unknown_code_system',
  // a row whose patient or admission is missing from the tables it refers to
  'orphan_row',
  // one fact given twice with different values (a covariate or label, an outcome row, a record id
  // in two files); tolerated, the first one is kept
  'conflict',
  // a covariate, label or variable name the data config does not declare (a typo, or data left out
  // on purpose: tolerate it to count and drop it)
  'unknown_name',
] as const;
export type IssueKind = (typeof ISSUE_KINDS)[number];

export interface IssueSummary {
  count: number;
  examples: string[];
}

const MAX_EXAMPLES = 5;

export class InputIssues {
  readonly tolerated: ReadonlySet<IssueKind>;
  readonly counts = new Map<IssueKind, IssueSummary>();
  /** raw variables/items present in the source but not selected by the data config, with row counts */
  readonly ignored = new Map<string, number>();

  constructor(tolerate: readonly string[] = []) {
    for (const t of tolerate) {
      if (!(ISSUE_KINDS as readonly string[]).includes(t)) {
        throw new SynehrError('E_CONFIG_VALUE', `data.options.tolerate: unknown issue kind "${t}"; expected one of ${ISSUE_KINDS.join(', ')}`);
      }
    }
    this.tolerated = new Set(tolerate as IssueKind[]);
  }

  /** Throw the issue as an input error, or count it when tolerated. */
  report(kind: IssueKind, file: string, line: number | undefined, message: string): void {
    if (!this.tolerated.has(kind)) throw inputError(file, line, message);
    let s = this.counts.get(kind);
    if (!s) this.counts.set(kind, (s = { count: 0, examples: [] }));
    s.count++;
    if (s.examples.length < MAX_EXAMPLES) s.examples.push(`${line === undefined ? file : `${file}:${line}`}: ${message}`);
  }

  ignore(name: string, n = 1): void {
    this.ignored.set(name, (this.ignored.get(name) ?? 0) + n);
  }

  toJSON(): { tolerated: Record<string, IssueSummary>; ignored: Record<string, number> } {
    return {
      tolerated: Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b))),
      ignored: Object.fromEntries([...this.ignored].sort(([a], [b]) => a.localeCompare(b))),
    };
  }
}
