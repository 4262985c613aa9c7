/**
 * The summary `synehr prepare` prints and saves as summary.json: counts of patients, admissions,
 * codes and measurements; per variable its coverage (share of patients with at least one
 * measurement, i.e. 1 - missingness), count, range and mean, or value counts for categorical ones;
 * per covariate and label the same. Accumulated one record at a time.
 */
import type { DataConfig } from './dataConfig.ts';
import type { PatientRecord } from './types.ts';

interface NumericStats {
  count: number;
  min: number;
  max: number;
  sum: number;
}

export interface VariableSummary {
  type: 'continuous' | 'categorical' | 'numeric';
  /** measurements (or values present, for covariates and labels) */
  count: number;
  /** patients with at least one value */
  patients: number;
  /** share of patients with no value at all */
  missing: number;
  min?: number;
  max?: number;
  mean?: number;
  values?: Record<string, number>;
}

export interface DataSummary {
  name: string;
  patients: number;
  admissions: number;
  codes: number;
  distinct_codes: number;
  measurements: number;
  /** hours from admission start to the last measurement: median and max */
  admission_hours: { median: number; max: number };
  covariates: Record<string, VariableSummary>;
  labels: Record<string, VariableSummary>;
  variables: Record<string, VariableSummary>;
}

class Column {
  num: NumericStats = { count: 0, min: Infinity, max: -Infinity, sum: 0 };
  values = new Map<string, number>();
  patients = 0;
  private lastPatient = -1;

  constructor(readonly type: VariableSummary['type']) {}

  add(v: number | string, patientIndex: number): void {
    if (patientIndex !== this.lastPatient) {
      this.patients++;
      this.lastPatient = patientIndex;
    }
    if (typeof v === 'number' && this.type !== 'categorical') {
      const s = this.num;
      s.count++;
      if (v < s.min) s.min = v;
      if (v > s.max) s.max = v;
      s.sum += v;
    } else this.values.set(String(v), (this.values.get(String(v)) ?? 0) + 1);
  }

  finish(nPatients: number): VariableSummary {
    const count = this.num.count + [...this.values.values()].reduce((a, b) => a + b, 0);
    const out: VariableSummary = { type: this.type, count, patients: this.patients, missing: nPatients ? round(1 - this.patients / nPatients) : 0 };
    if (this.num.count) {
      out.min = this.num.min;
      out.max = this.num.max;
      out.mean = round(this.num.sum / this.num.count);
    }
    if (this.values.size) out.values = Object.fromEntries([...this.values].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 50));
    return out;
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

export class SummaryBuilder {
  private patients = 0;
  private admissions = 0;
  private codes = 0;
  private measurements = 0;
  private readonly distinct = new Set<string>();
  private readonly spans: number[] = [];
  private readonly covariates = new Map<string, Column>();
  private readonly labels = new Map<string, Column>();
  private readonly variables = new Map<string, Column>();

  constructor(private readonly data: DataConfig) {
    for (const c of data.covariates) this.covariates.set(c.name, new Column(c.type === 'numeric' ? 'numeric' : 'categorical'));
    for (const l of data.labels) this.labels.set(l.name, new Column('numeric'));
    for (const v of data.variables) this.variables.set(v.name, new Column(v.type));
  }

  add(r: PatientRecord): void {
    const i = this.patients++;
    for (const [k, v] of Object.entries(r.covariates)) if (v !== null) this.covariates.get(k)?.add(v, i);
    for (const [k, v] of Object.entries(r.labels)) this.labels.get(k)?.add(v, i);
    for (const a of r.admissions) {
      this.admissions++;
      this.codes += a.codes.length;
      for (const c of a.codes) this.distinct.add(c);
      this.measurements += a.events.length;
      if (a.events.length) this.spans.push(a.events[a.events.length - 1]!.hours);
      for (const e of a.events) this.variables.get(e.variable)?.add(e.value, i);
    }
  }

  finish(): DataSummary {
    const n = this.patients;
    const map = (m: Map<string, Column>) => Object.fromEntries([...m].map(([k, c]) => [k, c.finish(n)]));
    const spans = Float64Array.from(this.spans).sort();
    return {
      name: this.data.name,
      patients: n,
      admissions: this.admissions,
      codes: this.codes,
      distinct_codes: this.distinct.size,
      measurements: this.measurements,
      admission_hours: { median: spans.length ? round(spans[spans.length >> 1]!) : 0, max: spans.length ? round(spans[spans.length - 1]!) : 0 },
      covariates: map(this.covariates),
      labels: map(this.labels),
      variables: map(this.variables),
    };
  }
}

/** The summary as a few readable lines for the terminal. */
export function formatSummary(s: DataSummary, issues?: { tolerated: Record<string, { count: number }>; ignored: Record<string, number> }): string {
  const lines: string[] = [];
  lines.push(`${s.name}: ${s.patients} patients, ${s.admissions} admissions, ${s.codes} codes (${s.distinct_codes} distinct), ${s.measurements} measurements`);
  lines.push(`  hours per admission: median ${s.admission_hours.median}, max ${s.admission_hours.max}`);
  const row = (name: string, v: VariableSummary) => {
    const range = v.min !== undefined ? ` range [${v.min}, ${v.max}] mean ${v.mean}` : '';
    const vals = v.values ? ` values ${Object.entries(v.values).slice(0, 6).map(([k, c]) => `${k}:${c}`).join(' ')}` : '';
    return `    ${name.padEnd(28)} n=${String(v.count).padEnd(8)} missing ${(v.missing * 100).toFixed(1).padStart(5)}%${range}${vals}`;
  };
  for (const [title, group] of [['covariates', s.covariates], ['labels', s.labels], ['variables', s.variables]] as const) {
    if (Object.keys(group).length === 0) continue;
    lines.push(`  ${title}:`);
    for (const [k, v] of Object.entries(group)) lines.push(row(k, v));
  }
  if (issues) {
    const tol = Object.entries(issues.tolerated);
    if (tol.length) lines.push(`  tolerated input issues: ${tol.map(([k, v]) => `${k} ${v.count}`).join(', ')}`);
    const ign = Object.entries(issues.ignored);
    if (ign.length) lines.push(`  ignored (not in the data config): ${ign.length} raw variables, ${ign.reduce((a, [, n]) => a + n, 0)} rows`);
  }
  return lines.join('\n');
}
