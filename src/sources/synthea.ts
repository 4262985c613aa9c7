/**
 * Synthea CSV export: patients.csv (birth date, gender, race, ethnicity, death date),
 * encounters.csv (one admission per encounter, in START order), conditions.csv and, optionally,
 * procedures.csv (SNOMED CT codes of an encounter: conditions then procedures) and
 * observations.csv (LOINC-coded; numeric ones are continuous variables, text ones categorical).
 *
 * Variables are named by their LOINC code (`8480-6`); hours count from the encounter's START.
 * Covariates: age at the last (or first) kept encounter, gender, race, ethnicity. Label: deceased (a death
 * date is recorded). Like the MIMIC-III loader, DuckDB sorts and joins, and the three ordered
 * streams (encounters, codes, observations) are merged here one patient at a time.
 */
import { z } from 'zod';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { DataConfig } from '../records/dataConfig.ts';
import type { Admission, Measurement, PatientRecord } from '../records/types.ts';
import { csvView, Duck, findTable, num, RowCursor, sqlString, str, streamRows } from './duck.ts';
import { MeasurementFilter, parseNumber } from './measurements.ts';
import { commonOptions, loaderOptions } from './options.ts';
import type { LoadContext } from './types.ts';

const optionsSchema = z
  .object({
    ...commonOptions,
    // encounter classes kept as admissions (empty = all), e.g. [inpatient, emergency]
    encounter_classes: z.array(z.string()).default([]),
    // add procedures.csv codes after the conditions of an encounter
    procedures: z.boolean().default(true),
    // the code system prefix of conditions and procedures
    code_system: z.string().default('SNOMED'),
    // age at the patient's first or last kept encounter: Synthea keeps well-child visits from
    // birth, so the first encounter makes nearly everyone an infant
    age_at: z.enum(['first', 'last']).default('last'),
    // covariate and label names
    age_covariate: z.string().default('age'),
    gender_covariate: z.string().default('gender'),
    race_covariate: z.string().default('race'),
    ethnicity_covariate: z.string().default('ethnicity'),
    death_label: z.string().default('deceased'),
    memory_limit: z.string().default('1GB'),
    threads: z.number().int().min(1).default(2),
  })
  .strict();

const TABLES = {
  patients: ['id', 'birthdate', 'deathdate', 'race', 'ethnicity', 'gender'],
  encounters: ['id', 'start', 'patient', 'encounterclass'],
  conditions: ['encounter', 'code'],
  procedures: ['encounter', 'code'],
  observations: ['date', 'encounter', 'code', 'value', 'type'],
} as const;

export async function* loadSynthea(data: DataConfig, ctx: LoadContext): AsyncGenerator<PatientRecord> {
  const opts = loaderOptions(data, optionsSchema);
  const root = ctx.resolvePath(data.root);
  if (!data.code_systems.includes(opts.code_system)) {
    ctx.issues.report('unknown_code_system', 'data.code_systems', undefined, `the synthea loader emits ${opts.code_system} codes but data.code_systems is ${JSON.stringify(data.code_systems)}`);
  }
  const filter = new MeasurementFilter(data, ctx.issues);
  const duck = await Duck.open({ memoryLimit: opts.memory_limit, threads: opts.threads });
  const conns: DuckDBConnection[] = [];
  try {
    const paths: Record<string, string> = {};
    const tolerant = ctx.issues.tolerated.has('malformed_row');
    for (const [t, required] of Object.entries(TABLES)) {
      if (t === 'procedures' && !opts.procedures) continue;
      paths[t] = await findTable(root, [`${t}.csv`, `${t}.csv.gz`], t);
      // conditions and procedures have no sequence column: their file order is kept through rowid
      await csvView(duck, t, paths[t]!, [...required], { ignoreErrors: tolerant, table: t === 'conditions' || t === 'procedures' });
    }
    await duck.run(`CREATE TABLE wanted(code VARCHAR)`, paths.observations!);
    if (data.variables.length) await duck.run(`INSERT INTO wanted VALUES ${data.variables.map((v) => `(${sqlString(v.name)})`).join(', ')}`, paths.observations!);
    const classFilter = opts.encounter_classes.length ? `AND e.encounterclass IN (${opts.encounter_classes.map(sqlString).join(', ')})` : '';
    await duck.run(
      `CREATE TABLE enc AS
       SELECT row_number() OVER (ORDER BY e.patient, t_start, e.id) AS ord, * FROM (
         SELECT e.id, e.patient, e.start AS raw_start, epoch(TRY_CAST(e.start AS TIMESTAMP)) AS t_start,
                date_diff('day', TRY_CAST(p.birthdate AS TIMESTAMP),
                  ${opts.age_at === 'first' ? 'min' : 'max'}(TRY_CAST(e.start AS TIMESTAMP)) OVER (PARTITION BY e.patient)) / 365.2425 AS age,
                p.gender, p.race, p.ethnicity, p.deathdate
         FROM encounters e JOIN patients p ON p.id = e.patient
         WHERE true ${classFilter}) e`,
      paths.encounters!,
    );
    const codesSql = `
      SELECT ord, kind, code FROM (
        SELECT e.ord, 0 AS kind, trim(c.code) AS code, c.rowid AS rn FROM conditions c JOIN enc e ON c.encounter = e.id
        ${opts.procedures ? `UNION ALL SELECT e.ord, 1 AS kind, trim(p.code) AS code, p.rowid AS rn FROM procedures p JOIN enc e ON p.encounter = e.id` : ''}
      ) WHERE code IS NOT NULL AND code <> '' ORDER BY ord, kind, rn`;
    const obsSql = `
      SELECT e.ord, epoch(TRY_CAST(o.date AS TIMESTAMP)) - e.t_start AS secs, trim(o.code) AS code, o.value, o.date, o.encounter
      FROM observations o JOIN enc e ON o.encounter = e.id JOIN wanted w ON w.code = trim(o.code)
      ORDER BY e.ord, secs NULLS FIRST, code, o.value`;
    const encSql = `SELECT ord, id, patient, t_start, raw_start, age, gender, race, ethnicity, deathdate FROM enc ORDER BY ord`;
    for (let k = 0; k < 3; k++) conns.push(await duck.connect());
    const encCur = new RowCursor(streamRows(conns[0]!, encSql, paths.encounters!));
    const codesCur = new RowCursor(streamRows(conns[1]!, codesSql, paths.conditions!));
    const obsCur = new RowCursor(streamRows(conns[2]!, obsSql, paths.observations!));

    const cov = new Map(data.covariates.map((c) => [c.name, c]));
    const hasDeath = data.labels.some((l) => l.name === opts.death_label);
    let patient = null as PatientRecord | null;
    let done = 0;
    const setCategorical = (name: string, v: string | null, where: string) => {
      const spec = cov.get(name);
      if (!spec || v === null || v.trim() === '') return;
      if (spec.values && !spec.values.includes(v.trim())) ctx.issues.report('unknown_value', where, undefined, `${name} ${JSON.stringify(v)} is not one of ${JSON.stringify(spec.values)}`);
      else patient!.covariates[name] = v.trim();
    };
    for (;;) {
      const e = await encCur.peek();
      if (!e) break;
      encCur.take();
      const [ordV, idV, patientV, tStartV, rawStart, ageV, genderV, raceV, ethV, deathV] = e;
      const ord = num(ordV)!;
      const encId = String(idV);
      const where = `${paths.encounters} (encounter ${encId})`;
      const codes: string[] = [];
      for (let c = await codesCur.peek(); c && num(c[0])! <= ord; c = await codesCur.peek()) {
        codesCur.take();
        if (num(c[0]) === ord) codes.push(`${opts.code_system}:${String(c[2])}`);
      }
      const events: Measurement[] = [];
      for (let o = await obsCur.peek(); o && num(o[0])! <= ord; o = await obsCur.peek()) {
        obsCur.take();
        if (num(o[0]) !== ord) continue;
        const [, secsV, codeV, valueV, dateV] = o;
        const file = `${paths.observations} (encounter ${encId}, ${String(codeV)})`;
        const secs = num(secsV);
        if (secs === null || secs < 0) {
          ctx.issues.report('bad_time', file, undefined, `DATE ${JSON.stringify(str(dateV))} is not a timestamp at or after the encounter START ${JSON.stringify(str(rawStart))}`);
          continue;
        }
        const variable = String(codeV);
        const raw = str(valueV) ?? '';
        const spec = filter.specs.get(variable)!;
        let value: number | string | null;
        if (spec.type === 'continuous') {
          const n = parseNumber(raw);
          if (n === null) {
            ctx.issues.report('non_numeric', file, undefined, `${variable}: value ${JSON.stringify(raw)} is not a number`);
            continue;
          }
          value = filter.value(variable, n, file, undefined);
        } else value = filter.value(variable, raw, file, undefined);
        if (value !== null) events.push({ hours: secs / 3600, variable, value });
      }
      if (++done % 500 === 0) ctx.onProgress?.({ done, unit: 'encounters' });
      if (tStartV === null) {
        ctx.issues.report('bad_time', where, undefined, `START ${JSON.stringify(str(rawStart))} is not a timestamp`);
        continue;
      }
      if (events.length === 0 && codes.length === 0) {
        ctx.issues.report('empty_patient', where, undefined, `encounter ${encId} has no codes and no observations of the configured variables`);
        continue;
      }
      const pid = String(patientV);
      if (patient?.id !== pid) {
        if (patient) yield patient;
        const covariates: PatientRecord['covariates'] = {};
        for (const c of data.covariates) covariates[c.name] = null;
        patient = { id: pid, covariates, labels: {}, admissions: [] };
        const age = num(ageV);
        if (cov.has(opts.age_covariate) && age !== null) covariates[opts.age_covariate] = Math.round(age * 100) / 100;
        setCategorical(opts.gender_covariate, str(genderV), `${paths.patients} (patient ${pid})`);
        setCategorical(opts.race_covariate, str(raceV), `${paths.patients} (patient ${pid})`);
        setCategorical(opts.ethnicity_covariate, str(ethV), `${paths.patients} (patient ${pid})`);
        if (hasDeath) patient.labels[opts.death_label] = str(deathV)?.trim() ? 1 : 0;
      }
      const adm: Admission = { id: encId, codes, events: filter.sort(events) };
      patient.admissions.push(adm);
    }
    if (patient) yield patient;
    ctx.onProgress?.({ done, total: done, unit: 'encounters' });
  } finally {
    for (const c of conns) c.closeSync();
    await duck.close();
  }
}
