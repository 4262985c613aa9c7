/**
 * What every loader does with a raw measurement: keep it only if the data config declares the
 * variable, coerce it to the declared type, check the plausible range and declared values, and
 * report what fails through InputIssues; the same check of a label value against its declared
 * values and range. Also the event order of the canonical record: by hours, ties in the config's
 * variable order.
 */
import type { DataConfig, LabelSpec, VariableSpec } from '../records/dataConfig.ts';
import type { Measurement } from '../records/types.ts';
import type { InputIssues } from './issues.ts';

export class MeasurementFilter {
  readonly specs: Map<string, VariableSpec>;
  /** variable -> its position in data.variables, the tie order of events at one time */
  readonly order: Map<string, number>;

  constructor(
    data: DataConfig,
    private readonly issues: InputIssues,
  ) {
    this.specs = new Map(data.variables.map((v) => [v.name, v]));
    this.order = new Map(data.variables.map((v, i) => [v.name, i]));
  }

  has(variable: string): boolean {
    return this.specs.has(variable);
  }

  /**
   * The value to store for `raw`, or null when the measurement is dropped (unknown variable,
   * tolerated bad value). Numbers for continuous variables, strings for categorical ones.
   */
  value(variable: string, raw: string | number, file: string, line: number | undefined): number | string | null {
    const spec = this.specs.get(variable);
    if (!spec) {
      this.issues.ignore(variable);
      return null;
    }
    if (spec.type === 'continuous') {
      const v = typeof raw === 'number' ? raw : parseNumber(raw);
      if (v === null) {
        this.issues.report('non_numeric', file, line, `${variable}: value ${JSON.stringify(raw)} is not a number`);
        return null;
      }
      if (spec.range && (v < spec.range[0] || v > spec.range[1])) {
        this.issues.report('out_of_range', file, line, `${variable}: value ${v} is outside its plausible range [${spec.range[0]}, ${spec.range[1]}]`);
        return null;
      }
      return v;
    }
    const s = typeof raw === 'number' ? String(raw) : raw.trim();
    if (spec.values && !spec.values.includes(s)) {
      this.issues.report('unknown_value', file, line, `${variable}: value ${JSON.stringify(s)} is not one of ${JSON.stringify(spec.values)}`);
      return null;
    }
    return s;
  }

  /** Sort events by hours, ties in data-config variable order (stable otherwise). */
  sort(events: Measurement[]): Measurement[] {
    const order = this.order;
    return events.sort((a, b) => a.hours - b.hours || (order.get(a.variable) ?? 1e9) - (order.get(b.variable) ?? 1e9));
  }
}

/** A finite number, or null. Unlike Number(), rejects '', whitespace, 'Infinity', hex. */
export function parseNumber(s: string): number | null {
  const t = s.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/**
 * A label value checked against its declaration: one of its `values`, inside its `range`. Reports
 * the issue and returns false when it is not.
 */
export function checkLabelValue(spec: LabelSpec | undefined, v: number, issues: InputIssues, file: string, line: number | undefined, what: string): boolean {
  if (spec?.values && !spec.values.includes(v)) {
    issues.report('unknown_value', file, line, `${what}: label ${spec.name} = ${v} is not one of its declared values ${JSON.stringify(spec.values)}`);
    return false;
  }
  if (spec?.range && (v < spec.range[0] || v > spec.range[1])) {
    issues.report('out_of_range', file, line, `${what}: label ${spec.name} = ${v} is outside its plausible range [${spec.range[0]}, ${spec.range[1]}]`);
    return false;
  }
  return true;
}
