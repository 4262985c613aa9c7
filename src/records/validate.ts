/**
 * Checks that records keep the promises of the canonical record and of their data config: unique
 * patient and admission ids (so every foreign key in the four tables resolves), hours finite, >= 0,
 * sorted and inside the data's window, values finite, of the declared type and inside the declared
 * values and ranges (labels too), variables, covariates, labels and code systems known to the config. `RecordValidator` checks one record at a time, so a stream of any
 * length can be validated while it is written.
 */
import type { DataConfig } from './dataConfig.ts';
import type { PatientRecord } from './types.ts';
import { SynehrError } from '../util/errors.ts';

export interface RecordProblem {
  patientId: string;
  admissionId?: string;
  /** a stable kind, e.g. 'duplicate_patient', 'unsorted_hours' */
  kind: string;
  message: string;
}

export class RecordValidator {
  private readonly patientIds = new Set<string>();
  private readonly admissionIds = new Set<string>();
  private readonly variables: Map<string, DataConfig['variables'][number]>;
  private readonly covariates: Map<string, DataConfig['covariates'][number]>;
  private readonly labels: Map<string, DataConfig['labels'][number]>;
  private readonly codeSystems: Set<string>;

  constructor(private readonly data: DataConfig) {
    this.variables = new Map(data.variables.map((v) => [v.name, v]));
    this.covariates = new Map(data.covariates.map((c) => [c.name, c]));
    this.labels = new Map(data.labels.map((l) => [l.name, l]));
    this.codeSystems = new Set(data.code_systems);
  }

  /** Problems of one record (empty when it is valid); remembers its ids for the uniqueness checks. */
  check(r: PatientRecord): RecordProblem[] {
    const out: RecordProblem[] = [];
    const p = (kind: string, message: string, admissionId?: string) =>
      out.push({ patientId: r.id, admissionId, kind, message: `patient ${r.id}${admissionId !== undefined ? `, admission ${admissionId}` : ''}: ${message}` });
    if (typeof r.id !== 'string' || r.id === '') p('bad_id', `patient id must be a non-empty string, got ${JSON.stringify(r.id)}`);
    if (this.patientIds.has(r.id)) p('duplicate_patient', `patient id "${r.id}" appears twice`);
    this.patientIds.add(r.id);
    for (const [name, v] of Object.entries(r.covariates)) {
      const spec = this.covariates.get(name);
      if (!spec) p('unknown_covariate', `covariate "${name}" is not declared in data.covariates`);
      else if (v === null) continue;
      else if (spec.type === 'numeric' && (typeof v !== 'number' || !Number.isFinite(v))) p('bad_value', `covariate ${name} must be a finite number, got ${JSON.stringify(v)}`);
      else if (spec.type === 'numeric' && spec.range && ((v as number) < spec.range[0] || (v as number) > spec.range[1])) {
        p('out_of_range', `covariate ${name} = ${v} is outside its plausible range [${spec.range[0]}, ${spec.range[1]}]`);
      }
      else if (spec.type === 'categorical' && spec.values && !spec.values.includes(String(v))) p('unknown_value', `covariate ${name} = ${JSON.stringify(v)} is not one of ${JSON.stringify(spec.values)}`);
    }
    for (const [name, v] of Object.entries(r.labels)) {
      const spec = this.labels.get(name);
      if (!spec) p('unknown_label', `label "${name}" is not declared in data.labels`);
      else if (typeof v !== 'number' || !Number.isFinite(v)) p('bad_value', `label ${name} must be a finite number, got ${JSON.stringify(v)}`);
      else if (spec.values && !spec.values.includes(v)) p('unknown_value', `label ${name} = ${v} is not one of its declared values ${JSON.stringify(spec.values)}`);
      else if (spec.range && (v < spec.range[0] || v > spec.range[1])) p('out_of_range', `label ${name} = ${v} is outside its plausible range [${spec.range[0]}, ${spec.range[1]}]`);
    }
    if (r.admissions.length === 0) p('no_admissions', 'has no admissions');
    for (const adm of r.admissions) {
      const a = (kind: string, message: string) => p(kind, message, adm.id);
      if (typeof adm.id !== 'string' || adm.id === '') a('bad_id', `admission id must be a non-empty string, got ${JSON.stringify(adm.id)}`);
      if (this.admissionIds.has(adm.id)) a('duplicate_admission', `admission id "${adm.id}" appears twice`);
      this.admissionIds.add(adm.id);
      for (const code of adm.codes) {
        const colon = code.indexOf(':');
        const system = colon > 0 ? code.slice(0, colon) : '';
        if (colon <= 0 || colon === code.length - 1) a('bad_code', `code ${JSON.stringify(code)} is not SYSTEM:CODE`);
        else if (!this.codeSystems.has(system)) a('unknown_code_system', `code ${JSON.stringify(code)}: system "${system}" is not in data.code_systems ${JSON.stringify(this.data.code_systems)}`);
      }
      let prev = 0;
      for (const e of adm.events) {
        if (typeof e.hours !== 'number' || !Number.isFinite(e.hours) || e.hours < 0) {
          a('bad_hours', `${e.variable}: hours must be a finite number >= 0, got ${JSON.stringify(e.hours)}`);
          continue;
        }
        if (e.hours < prev) a('unsorted_hours', `events are not sorted by hours (${e.hours} after ${prev})`);
        if (this.data.window_hours !== null && e.hours > this.data.window_hours) {
          a('outside_window', `${e.variable} at ${e.hours} h is after the data's window of ${this.data.window_hours} h (data.window_hours)`);
        }
        prev = e.hours;
        const spec = this.variables.get(e.variable);
        if (!spec) a('unknown_variable', `variable "${e.variable}" is not declared in data.variables`);
        else if (spec.type === 'continuous' && (typeof e.value !== 'number' || !Number.isFinite(e.value))) {
          a('bad_value', `${e.variable} at ${e.hours} h must be a finite number, got ${JSON.stringify(e.value)}`);
        } else if (spec.type === 'categorical') {
          if (typeof e.value !== 'string') a('bad_value', `${e.variable} at ${e.hours} h is categorical and must be a string, got ${JSON.stringify(e.value)}`);
          else if (spec.values && !spec.values.includes(e.value)) a('unknown_value', `${e.variable} = ${JSON.stringify(e.value)} is not one of ${JSON.stringify(spec.values)}`);
        }
      }
    }
    return out;
  }
}

/**
 * Validate records against a data config. Returns every problem found, or with
 * `{ throwFirst: true }` throws a SynehrError (code E_RECORD) with the first one.
 */
export async function validateRecords(
  records: Iterable<PatientRecord> | AsyncIterable<PatientRecord>,
  data: DataConfig,
  opts: { throwFirst?: boolean } = {},
): Promise<RecordProblem[]> {
  const v = new RecordValidator(data);
  const all: RecordProblem[] = [];
  for await (const r of records) {
    const problems = v.check(r);
    if (problems.length && opts.throwFirst) throw new SynehrError('E_RECORD', problems[0]!.message);
    all.push(...problems);
  }
  return all;
}
