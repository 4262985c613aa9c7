/**
 * The generic long format: one fact per row, in a CSV (optionally gzipped) or Parquet file, so
 * any data set can be exported to synehr with a data config and no code. Columns:
 *
 *   patient_id    required on every row
 *   admission_id  required for code and measurement rows; empty otherwise
 *   time          measurement rows: time since the admission start, in options.time_unit (>= 0)
 *   kind          covariate | label | code | measurement
 *   name          the covariate, label or variable name; for a code, the code as SYSTEM:CODE
 *   value         the covariate, label or measurement value; empty for codes
 *
 * Rows of a patient need not be contiguous (DuckDB sorts by patient, keeping file order within
 * one); admissions appear in the order of their first row, codes in file order, measurements
 * sorted by time. Row numbers in errors count data rows from 1 (line = row + 1 in a CSV).
 */
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import type { DataConfig } from '../records/dataConfig.ts';
import type { Admission, PatientRecord } from '../records/types.ts';
import { didYouMean } from '../config/didYouMean.ts';
import { inputError } from '../util/errors.ts';
import { csvView, Duck, num, RowCursor, sqlString, str, streamRows } from './duck.ts';
import { checkLabelValue, MeasurementFilter, parseNumber } from './measurements.ts';
import { commonOptions, loaderOptions } from './options.ts';
import type { LoadContext } from './types.ts';

const optionsSchema = z
  .object({
    ...commonOptions,
    // the file, relative to data.root: .csv, .csv.gz or .parquet
    file: z.string().default('records.csv'),
    // unit of the time column
    time_unit: z.enum(['hours', 'minutes', 'days']).default('hours'),
    memory_limit: z.string().default('1GB'),
  })
  .strict();

export const LONG_COLUMNS = ['patient_id', 'admission_id', 'time', 'kind', 'name', 'value'] as const;
const KINDS = new Set(['covariate', 'label', 'code', 'measurement']);
const PER_HOUR = { hours: 1, minutes: 60, days: 1 / 24 } as const;

export async function* loadLong(data: DataConfig, ctx: LoadContext): AsyncGenerator<PatientRecord> {
  const opts = loaderOptions(data, optionsSchema);
  const path = ctx.resolvePath(`${data.root.replace(/\/$/, '')}/${opts.file}`);
  const isParquet = path.endsWith('.parquet');
  if (!(await stat(path).then((st) => st.isFile(), () => false))) {
    throw inputError(path, undefined, `not found (data.root ${JSON.stringify(data.root)} + options.file ${JSON.stringify(opts.file)})`);
  }
  const filter = new MeasurementFilter(data, ctx.issues);
  const covSpecs = new Map(data.covariates.map((c) => [c.name, c]));
  const labelSpecs = new Map(data.labels.map((l) => [l.name, l]));
  const unknownName = (what: string, name: string, declared: Iterable<string>, where: string, ln: number | undefined) => {
    const guess = didYouMean(name, [...declared]);
    ctx.issues.report('unknown_name', where, ln, `${what} ${JSON.stringify(name)} is not declared in data=${data.name}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''} (tolerate unknown_name to drop such rows)`);
    ctx.issues.ignore(what === 'variable' ? name : `${what}:${name}`);
  };
  const systems = new Set(data.code_systems);
  // one thread keeps row_number() OVER () in file order
  const duck = await Duck.open({ memoryLimit: opts.memory_limit, threads: 1 });
  const conn = await duck.connect();
  try {
    if (isParquet) {
      const cols = (await duck.all(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`, path)).map((r) => String(r[0]).toLowerCase());
      const missing = LONG_COLUMNS.filter((c) => !cols.includes(c));
      if (missing.length) throw inputError(path, undefined, `wrong schema: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (has ${cols.join(', ')})`);
      await duck.run(`CREATE VIEW src AS SELECT * FROM read_parquet(${sqlString(path)})`, path);
    } else {
      await csvView(duck, 'src', path, [...LONG_COLUMNS], { ignoreErrors: ctx.issues.tolerated.has('malformed_row') });
    }
    const sql = `
      SELECT rn, CAST(patient_id AS VARCHAR), CAST(admission_id AS VARCHAR), CAST(time AS VARCHAR), CAST(kind AS VARCHAR), CAST(name AS VARCHAR), CAST(value AS VARCHAR)
      FROM (SELECT row_number() OVER () AS rn, * FROM src)
      ORDER BY CAST(patient_id AS VARCHAR) NULLS FIRST, rn`;
    const rows = new RowCursor(streamRows(conn, sql, path));
    const line = (rn: number) => (isParquet ? undefined : rn + 1);
    const at = (rn: number) => (isParquet ? `${path} (row ${rn})` : path);

    let patient = null as PatientRecord | null;
    let admissions = new Map<string, Admission>();
    // where this patient's covariates and labels were given: a second, different value is a conflict
    let givenAt = new Map<string, { line: number | undefined; where: string; value: string | number }>();
    const conflicting = (key: string, value: string | number, where: string, ln: number | undefined): boolean => {
      const first = givenAt.get(key);
      if (!first) {
        givenAt.set(key, { line: ln, where, value });
        return false;
      }
      if (first.value === value) return true; // the same fact again
      ctx.issues.report('conflict', where, ln, `patient ${patient!.id}: ${key} = ${JSON.stringify(value)} here, ${JSON.stringify(first.value)} at ${first.line !== undefined ? `line ${first.line}` : first.where}`);
      return true;
    };
    let done = 0;
    const finish = (): PatientRecord | null => {
      const p = patient;
      patient = null;
      if (!p) return null;
      p.admissions = [...admissions.values()];
      admissions = new Map();
      for (const a of p.admissions) filter.sort(a.events);
      if (p.admissions.length === 0 || p.admissions.every((a) => a.codes.length === 0 && a.events.length === 0)) {
        ctx.issues.report('empty_patient', path, undefined, `patient ${p.id} has no codes and no measurements`);
        return null;
      }
      return p;
    };
    for (let r = await rows.peek(); r; r = await rows.peek()) {
      rows.take();
      const rn = num(r[0])!;
      const [pid, aid, timeText, kindRaw, name, valueText] = r.slice(1).map((v) => str(v)?.trim() ?? '') as string[];
      const where = at(rn);
      const ln = line(rn);
      if (pid === '') {
        ctx.issues.report('malformed_row', where, ln, 'patient_id is empty');
        continue;
      }
      if (patient?.id !== pid) {
        const p = finish();
        if (p) {
          yield p;
          if (++done % 500 === 0) ctx.onProgress?.({ done, unit: 'patients' });
        }
        const covariates: PatientRecord['covariates'] = {};
        for (const c of data.covariates) covariates[c.name] = null;
        patient = { id: pid!, covariates, labels: {}, admissions: [] };
        givenAt = new Map();
      }
      const kind = kindRaw!.toLowerCase();
      if (!KINDS.has(kind)) {
        ctx.issues.report('malformed_row', where, ln, `kind ${JSON.stringify(kindRaw)} is not one of covariate, label, code, measurement`);
        continue;
      }
      if (name === '') {
        ctx.issues.report('malformed_row', where, ln, `${kind} row without a name`);
        continue;
      }
      if (kind === 'covariate') {
        const spec = covSpecs.get(name!);
        if (!spec) {
          unknownName('covariate', name!, covSpecs.keys(), where, ln);
          continue;
        }
        if (valueText === '') continue;
        if (spec.type === 'numeric') {
          const v = parseNumber(valueText!);
          if (v === null) ctx.issues.report('non_numeric', where, ln, `covariate ${name}: value ${JSON.stringify(valueText)} is not a number`);
          else if (spec.range && (v < spec.range[0] || v > spec.range[1])) ctx.issues.report('out_of_range', where, ln, `covariate ${name}: value ${v} is outside its plausible range [${spec.range[0]}, ${spec.range[1]}]`);
          else if (!conflicting(`covariate ${name}`, v, where, ln)) patient.covariates[name!] = v;
        } else if (spec.values && !spec.values.includes(valueText!)) {
          ctx.issues.report('unknown_value', where, ln, `covariate ${name}: value ${JSON.stringify(valueText)} is not one of ${JSON.stringify(spec.values)}`);
        } else if (!conflicting(`covariate ${name}`, valueText!, where, ln)) patient.covariates[name!] = valueText!;
        continue;
      }
      if (kind === 'label') {
        const spec = labelSpecs.get(name!);
        if (!spec) {
          unknownName('label', name!, labelSpecs.keys(), where, ln);
          continue;
        }
        const v = parseNumber(valueText!);
        if (v === null) ctx.issues.report('non_numeric', where, ln, `label ${name}: value ${JSON.stringify(valueText)} is not a number`);
        else if (checkLabelValue(spec, v, ctx.issues, where, ln, `patient ${pid}`) && !conflicting(`label ${name}`, v, where, ln)) patient.labels[name!] = v;
        continue;
      }
      if (aid === '') {
        ctx.issues.report('malformed_row', where, ln, `${kind} row without an admission_id`);
        continue;
      }
      let adm = admissions.get(aid!);
      if (!adm) admissions.set(aid!, (adm = { id: aid!, codes: [], events: [] }));
      if (kind === 'code') {
        const colon = name!.indexOf(':');
        const system = colon > 0 ? name!.slice(0, colon) : '';
        if (colon <= 0 || colon === name!.length - 1) ctx.issues.report('unknown_code_system', where, ln, `code ${JSON.stringify(name)} is not SYSTEM:CODE`);
        else if (!systems.has(system)) ctx.issues.report('unknown_code_system', where, ln, `code ${JSON.stringify(name)}: system "${system}" is not in data.code_systems ${JSON.stringify(data.code_systems)}`);
        else adm.codes.push(name!);
        continue;
      }
      // measurement
      const t = parseNumber(timeText!);
      if (t === null || t < 0) {
        ctx.issues.report('bad_time', where, ln, `time ${JSON.stringify(timeText)} is not a number >= 0 (${opts.time_unit} since the admission start)`);
        continue;
      }
      if (data.window_hours !== null && t / PER_HOUR[opts.time_unit] > data.window_hours) {
        ctx.issues.report('bad_time', where, ln, `time ${timeText} ${opts.time_unit} is after the data's window of ${data.window_hours} h (data.window_hours)`);
        continue;
      }
      if (!filter.has(name!)) {
        unknownName('variable', name!, filter.specs.keys(), where, ln);
        continue;
      }
      const value = filter.value(name!, valueText!, where, ln);
      if (value !== null) adm.events.push({ hours: t / PER_HOUR[opts.time_unit], variable: name!, value });
    }
    const last = finish();
    if (last) yield last;
  } finally {
    conn.closeSync();
    await duck.close();
  }
}
