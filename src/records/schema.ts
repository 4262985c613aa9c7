/**
 * The one schema of the four record tables (DESIGN.md, "The canonical record"):
 *
 *   patients(patient_id, ...covariates, ...labels)
 *   admissions(admission_id, patient_id, seq)
 *   codes(admission_id, seq, code)
 *   events(admission_id, hours, variable, value_num, value_text)
 *
 * The writer (tables.ts), the readers (parquet.ts, read.ts) and the database load take their
 * columns, types and roles from here. A patients column's role (covariate or label) comes from the
 * data config, and is written into the Parquet field metadata so that a reader can check it; it is
 * never guessed from a column's name.
 */
import type { DataConfig } from './dataConfig.ts';
import { SynehrError } from '../util/errors.ts';

export const TABLE_NAMES = ['patients', 'admissions', 'codes', 'events'] as const;
export type TableName = (typeof TABLE_NAMES)[number];

export type TableCounts = Record<TableName, number>;

/** How a column is stored: Arrow / Parquet type. */
export type ColumnKind = 'utf8' | 'float64' | 'int32';
/** The type a column is loaded as, in PostgreSQL spelling. */
export type SqlType = 'text' | 'double precision' | 'integer' | 'bigint' | 'boolean';
export type ColumnRole = 'id' | 'covariate' | 'label';

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  role?: ColumnRole;
}

/** Field metadata key of a patients column's role. */
export const ROLE_KEY = 'synehr.role';
/**
 * Schema metadata key the writer sets on every table: rows grouped by patient in patient order
 * (admissions in runs per patient, codes and events in runs per admission), so a reader can stream
 * the tables one patient at a time without first checking their order.
 */
export const LAYOUT_KEY = 'synehr.layout';
export const GROUPED_LAYOUT = 'grouped-by-patient';

export const SQL_TYPE: Record<ColumnKind, SqlType> = { utf8: 'text', float64: 'double precision', int32: 'integer' };

/** The columns of every table but patients, and patients' id. */
const FIXED: Record<TableName, ColumnSpec[]> = {
  patients: [{ name: 'patient_id', kind: 'utf8', role: 'id' }],
  admissions: [
    { name: 'admission_id', kind: 'utf8' },
    { name: 'patient_id', kind: 'utf8' },
    { name: 'seq', kind: 'int32' },
  ],
  codes: [
    { name: 'admission_id', kind: 'utf8' },
    { name: 'seq', kind: 'int32' },
    { name: 'code', kind: 'utf8' },
  ],
  events: [
    { name: 'admission_id', kind: 'utf8' },
    { name: 'hours', kind: 'float64' },
    { name: 'variable', kind: 'utf8' },
    { name: 'value_num', kind: 'float64' },
    { name: 'value_text', kind: 'utf8' },
  ],
};

/** The columns every table must have, with the type they are loaded as (patients: its id; its covariates and labels follow). */
export const REQUIRED_COLUMNS: Record<TableName, readonly { name: string; type: SqlType }[]> = Object.fromEntries(
  TABLE_NAMES.map((t) => [t, FIXED[t].map((c) => ({ name: c.name, type: SQL_TYPE[c.kind] }))]),
) as Record<TableName, { name: string; type: SqlType }[]>;

/** The column layout of the four tables for a data config. */
export function tableColumns(data: DataConfig): Record<TableName, ColumnSpec[]> {
  const seen = new Set<string>(['patient_id']);
  const patients: ColumnSpec[] = [...FIXED.patients];
  for (const c of data.covariates) {
    if (seen.has(c.name)) throw new SynehrError('E_CONFIG_VALUE', `data.covariates: column name "${c.name}" is used twice`);
    seen.add(c.name);
    patients.push({ name: c.name, kind: c.type === 'numeric' ? 'float64' : 'utf8', role: 'covariate' });
  }
  for (const l of data.labels) {
    if (seen.has(l.name)) throw new SynehrError('E_CONFIG_VALUE', `data.labels: column name "${l.name}" is also a covariate or label`);
    seen.add(l.name);
    patients.push({ name: l.name, kind: 'float64', role: 'label' });
  }
  return { ...FIXED, patients };
}

/**
 * The role of every patients column, from the data config where one is given, else from the file's
 * metadata; a covariate or label the data config declares must be there, and a column must have a
 * role from one or the other. `file` names the patients table in errors.
 */
export function patientColumnRoles(
  file: string,
  columns: readonly { name: string; role?: string }[],
  data: DataConfig | undefined,
): Map<string, 'covariate' | 'label'> {
  const roles = new Map<string, 'covariate' | 'label'>();
  const names = new Set(columns.map((c) => c.name));
  if (data) {
    const declared: [string, 'covariate' | 'label'][] = [
      ...data.covariates.map((c) => [c.name, 'covariate'] as [string, 'covariate']),
      ...data.labels.map((l) => [l.name, 'label'] as [string, 'label']),
    ];
    const missing = declared.filter(([n]) => !names.has(n));
    if (missing.length > 0) {
      throw new SynehrError(
        'E_INPUT',
        `${file}: no column ${missing.map(([n, r]) => `"${n}" (a ${r} of data=${data.name})`).join(', ')}; the table has ${[...names].join(', ')}`,
      );
    }
    for (const [n, r] of declared) roles.set(n, r);
  }
  for (const c of columns) {
    if (c.name === 'patient_id') continue;
    const stored = c.role === 'covariate' || c.role === 'label' ? c.role : undefined;
    const role = roles.get(c.name);
    if (role !== undefined && stored !== undefined && role !== stored) {
      throw new SynehrError('E_INPUT', `${file}: column "${c.name}" is stored as a ${stored}, but data=${data!.name} declares it a ${role}`);
    }
    if (role === undefined && data) {
      throw new SynehrError('E_INPUT', `${file}: column "${c.name}" is neither a covariate nor a label of data=${data.name}`);
    }
    if (role === undefined && stored === undefined) {
      throw new SynehrError('E_INPUT', `${file}: column "${c.name}" has no ${ROLE_KEY} metadata and no data config says what it is`);
    }
    roles.set(c.name, role ?? stored!);
  }
  return roles;
}
