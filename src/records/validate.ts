/**
 * Checks that records keep the promises of the canonical record and of their data config: unique
 * patient and admission ids (so every foreign key in the four tables resolves), hours finite, >= 0
 * and sorted, values finite and of the declared type, variables, covariates, labels and code
 * systems known to the config. `RecordValidator` checks one record at a time, so a stream of any
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
  private readonly labels: Set<string>;
  private readonly codeSystems: Set<string>;

  constructor(private readonly data: DataConfig) {
    this.variables = new Map(data.variables.map((v) => [v.name, v]));
    this.covariates = new Map(data.covariates.map((c) => [c.name, c]));
    this.labels = new Set(data.labels.map((l) => l.name));
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
      else if (spec.type === 'categorical' && spec.values && !spec.values.includes(String(v))) p('unknown_value', `covariate ${name} = ${JSON.stringify(v)} is not one of ${JSON.stringify(spec.values)}`);
    }
    for (const [name, v] of Object.entries(r.labels)) {
      if (!this.labels.has(name)) p('unknown_label', `label "${name}" is not declared in data.labels`);
      else if (typeof v !== 'number' || !Number.isFinite(v)) p('bad_value', `label ${name} must be a finite number, got ${JSON.stringify(v)}`);
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
