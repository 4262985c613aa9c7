/**
 * MIMIC-III v1.4 (full database or the demo): CSV or CSV.gz tables PATIENTS, ADMISSIONS, ICUSTAYS,
 * DIAGNOSES_ICD, PROCEDURES_ICD, CHARTEVENTS, LABEVENTS, plus an item map (ITEMID -> variable,
 * mimic3-benchmarks' itemid_to_variable_map.csv).
 *
 * One patient per SUBJECT_ID; one admission per ICU stay (ICUSTAY_ID), in time order; hours since
 * the stay's INTIME, measurements kept inside [INTIME, OUTTIME] (LABEVENTS joined by HADM_ID and
 * time, as mimic3-benchmarks does; so are CHARTEVENTS rows without an ICUSTAY_ID). Covariates: age at the first stay (capped: MIMIC shifts ages
 * over 89 to about 300) and gender. Label: in-hospital death in any of the patient's admissions.
 * Codes: ICD-9 diagnoses (ICD9:) in SEQ_NUM order then procedures (ICD9PROC:), on the first ICU stay of their hospital
 * admission (a later stay of the same admission would only repeat them), diagnoses optionally
 * mapped to ICD-10-CM with the CMS GEM.
 *
 * Bounded memory on the full database (CHARTEVENTS ≈ 330M rows): DuckDB scans, joins and sorts the
 * files (spilling to disk under a memory limit); three result streams ordered by stay (stays,
 * codes, events) are merged here one patient at a time.
 */
import { z } from 'zod';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { DataConfig } from '../records/dataConfig.ts';
import type { Admission, Measurement, PatientRecord } from '../records/types.ts';
import { SynehrError } from '../util/errors.ts';
import { csvView, Duck, findTable, num, RowCursor, sqlString, str, streamRows } from './duck.ts';
import { IcdGem } from './gem.ts';
import { MeasurementFilter, parseNumber } from './measurements.ts';
import { commonOptions, loaderOptions } from './options.ts';
import type { LoadContext } from './types.ts';

/** Unit conversions a variable may need when MIMIC mixes units for it (CareVue vs MetaVision items). */
export const UNIT_CONVERSIONS = {
  // °F items ("Temperature F", "Temp Rectal [F]", unit "Deg. F" or "?F"), and any value above 79
  // (no human is 79 °C; mimic3-benchmarks' rule for unlabelled items)
  fahrenheit_to_celsius: (v: number, unit: string) => (/fahrenheit|°\s*f\b|\?f\b|deg\.?\s*f\b|\[f\]|\bf$|\btemperature f\b/i.test(unit) || v > 79 ? ((v - 32) * 5) / 9 : v),
  // "Present Weight (lb)", "Admission Weight (lbs.)"; ounces for the neonatal scales
  pounds_to_kg: (v: number, unit: string) => (/\blbs?\b/i.test(unit) ? v * 0.45359237 : /\boz\b/i.test(unit) ? v * 0.028349523125 : v),
  // "Height" with unit "Inch" (226707), "Admit Ht" in inches
  inches_to_cm: (v: number, unit: string) => (/\binch(es)?\b|\bin\b/i.test(unit) ? v * 2.54 : v),
  // FiO2 charted as a fraction (0.21-1) by some items and as a percent by others
  fraction_to_percent: (v: number) => (v <= 1 ? v * 100 : v),
} as const;
export type UnitConversion = keyof typeof UNIT_CONVERSIONS;

const optionsSchema = z
  .object({
    ...commonOptions,
    // the item map (relative to the project, not data.root: it ships with synehr)
    item_map: z.string().default('data/mimic3-itemmap/itemid_to_variable_map.csv'),
    // curated rows of the item map
    item_status: z.array(z.string()).default(['ready', 'verify', 'verify2']),
    // LABEVENTS items measured in other fluids (urine pH, pleural glucose, ...) are left out
    lab_fluids: z.array(z.string()).default(['BLOOD']),
    // item-map LEVEL2 name -> variable name in this config (default: the same name)
    variable_names: z.record(z.string(), z.string()).default({}),
    // covariate -> CHARTEVENTS ITEMIDs whose first value in the patient's first ICU stay it takes,
    // e.g. weight (PhysioNet 2012's admission weight). Explicit ids, not the item map's LEVEL2:
    // its Weight rows include "Weight Change (gms)" and "Unintentional weight loss >10 lbs."
    covariate_items: z.record(z.string(), z.array(z.number().int())).default({}),
    // variable (or covariate of covariate_items) -> unit conversion applied to every value
    conversions: z.record(z.string(), z.enum(Object.keys(UNIT_CONVERSIONS) as [UnitConversion, ...UnitConversion[]])).default({}),
    // variable -> { raw VALUE -> canonical value } for categorical variables
    value_maps: z.record(z.string(), z.record(z.string(), z.string())).default({}),
    // stays of patients younger than this at ICU admission are left out
    min_age: z.number().default(18),
    // ages above this become this (MIMIC-III shifts DOB of patients over 89)
    max_age: z.number().default(90),
    // code system of ICD-9 procedure codes: their numbers overlap diagnosis codes (96.71
    // ventilation vs 967.1 poisoning, both "9671"), so they get their own prefix
    procedure_system: z.string().default('ICD9PROC'),
    // map ICD-9 diagnosis codes to ICD-10-CM with the GEM below (procedures keep ICD-9: the GEM is
    // for diagnoses only)
    icd10: z.boolean().default(false),
    gem: z.string().default('data/icd9-gem/2018_I9gem.txt'),
    // an ICD-9 code the GEM cannot map: keep it as ICD9:..., or drop it
    gem_unmapped: z.enum(['keep', 'drop']).default('keep'),
    // covariate and label names
    age_covariate: z.string().default('age'),
    gender_covariate: z.string().default('gender'),
    death_label: z.string().default('in_hospital_death'),
    // DuckDB's memory limit; sorts of the event tables spill to a temporary directory beyond it
    memory_limit: z.string().default('1GB'),
    threads: z.number().int().min(1).default(2),
    // where DuckDB spills its sorts: tens of GB on the full database, so point it at a big disk
    // if the OS temp dir is small (null = the OS temp dir)
    temp_dir: z.string().nullable().default(null),
  })
  .strict();

type Options = z.infer<typeof optionsSchema>;

const TABLES = {
  patients: ['subject_id', 'gender', 'dob'],
  admissions: ['hadm_id', 'subject_id', 'hospital_expire_flag'],
  icustays: ['subject_id', 'hadm_id', 'icustay_id', 'intime', 'outtime'],
  diagnoses_icd: ['hadm_id', 'seq_num', 'icd9_code'],
  procedures_icd: ['hadm_id', 'seq_num', 'icd9_code'],
  chartevents: ['row_id', 'hadm_id', 'icustay_id', 'itemid', 'charttime', 'value', 'valuenum', 'valueuom'],
  labevents: ['row_id', 'hadm_id', 'itemid', 'charttime', 'value', 'valuenum', 'valueuom'],
} as const;

function candidates(table: string): string[] {
  const up = table.toUpperCase();
  return [`${up}.csv.gz`, `${up}.csv`, `${table}.csv.gz`, `${table}.csv`];
}


export async function* loadMimic3(data: DataConfig, ctx: LoadContext): AsyncGenerator<PatientRecord> {
  const opts: Options = loaderOptions(data, optionsSchema);
  const root = ctx.resolvePath(data.root);
  const systems = opts.icd10 ? (opts.gem_unmapped === 'keep' ? ['ICD9', 'ICD10'] : ['ICD10']) : ['ICD9'];
  for (const sys of [...systems, opts.procedure_system]) {
    if (!data.code_systems.includes(sys)) {
      ctx.issues.report('unknown_code_system', 'data.code_systems', undefined, `the mimic3 loader emits ${sys} codes but data.code_systems is ${JSON.stringify(data.code_systems)}`);
    }
  }
  const gem = opts.icd10 ? await IcdGem.load(ctx.resolvePath(opts.gem)) : null;
  const filter = new MeasurementFilter(data, ctx.issues);
  const tolerant = ctx.issues.tolerated.has('malformed_row');

  const duck = await Duck.open({ memoryLimit: opts.memory_limit, threads: opts.threads, tempRoot: opts.temp_dir === null ? null : ctx.resolvePath(opts.temp_dir) });
  const conns: DuckDBConnection[] = [];
  try {
    const paths: Record<string, string> = {};
    const cols: Record<string, string[]> = {};
    for (const [t, required] of Object.entries(TABLES)) {
      paths[t] = await findTable(root, candidates(t), t.toUpperCase());
      cols[t] = (await csvView(duck, t, paths[t]!, [...required], { ignoreErrors: tolerant })).map((c) => c.toLowerCase());
    }
    const itemMap = ctx.resolvePath(opts.item_map);
    await csvView(duck, 'itemmap_raw', itemMap, ['LEVEL2', 'ITEMID', 'STATUS', 'LINKSTO', 'MIMIC LABEL', 'UNITNAME', 'FLUID']);

    // item -> variable, only for variables this config declares (renamed through variable_names)
    const level2ToVar = new Map<string, string>();
    for (const v of data.variables) level2ToVar.set(v.name, v.name);
    for (const [level2, name] of Object.entries(opts.variable_names)) level2ToVar.set(level2, name);
    const pairs = [...level2ToVar].filter(([, name]) => filter.has(name));
    // covariates taken from items travel through the event stream under a name no variable has
    const COV = '=covariate:';
    const covItems = new Map<string, string>();
    for (const name of Object.keys(opts.covariate_items)) {
      const spec = data.covariates.find((c) => c.name === name);
      if (!spec || spec.type !== 'numeric') throw new SynehrError('E_CONFIG_VALUE', `data.options.covariate_items.${name}: no numeric covariate "${name}" in data.covariates`);
      covItems.set(COV + name, name);
    }
    await duck.run(`CREATE TABLE var_names(level2 VARCHAR, variable VARCHAR)`, itemMap);
    await duck.run(`INSERT INTO var_names VALUES ${pairs.map(([a, b]) => `(${sqlString(a)}, ${sqlString(b)})`).join(', ')}`, itemMap);
    await duck.run(
      `CREATE TABLE items AS
       SELECT TRY_CAST(m.ITEMID AS INTEGER) AS itemid, n.variable, lower(m.LINKSTO) AS linksto,
              coalesce(m."MIMIC LABEL", '') || ' ' || coalesce(m.UNITNAME, '') AS label
       FROM itemmap_raw m JOIN var_names n ON m.LEVEL2 = n.level2
       WHERE m.STATUS IN (${opts.item_status.map(sqlString).join(', ')}) AND TRY_CAST(m.ITEMID AS INTEGER) IS NOT NULL
         ${opts.lab_fluids.length ? `AND (lower(m.LINKSTO) <> 'labevents' OR upper(trim(m.FLUID)) IN (${opts.lab_fluids.map((f) => sqlString(f.toUpperCase())).join(', ')}))` : ''}
       QUALIFY row_number() OVER (PARTITION BY TRY_CAST(m.ITEMID AS INTEGER) ORDER BY n.variable) = 1`,
      itemMap,
    );
    for (const [name, ids] of Object.entries(opts.covariate_items)) {
      if (ids.length === 0) continue;
      // the item map's label and unit, when it lists the item, tell the unit conversion lb from kg
      await duck.run(
        `INSERT INTO items
         SELECT i.itemid, ${sqlString(COV + name)}, 'chartevents',
                coalesce((SELECT any_value(coalesce(m."MIMIC LABEL", '') || ' ' || coalesce(m.UNITNAME, '')) FROM itemmap_raw m WHERE TRY_CAST(m.ITEMID AS INTEGER) = i.itemid), '')
         FROM (VALUES ${ids.map((id) => `(${Number(id)})`).join(', ')}) AS i(itemid)
         WHERE i.itemid NOT IN (SELECT itemid FROM items)`,
        itemMap,
      );
    }

    await duck.run(
      `CREATE TABLE stays AS
       SELECT row_number() OVER (ORDER BY sid, t_in, stay) AS ord,
              row_number() OVER (PARTITION BY hid ORDER BY t_in, stay) = 1 AS first_in_hadm, *
       FROM (
         SELECT TRY_CAST(i.subject_id AS BIGINT) AS sid, TRY_CAST(i.hadm_id AS BIGINT) AS hid,
                TRY_CAST(i.icustay_id AS BIGINT) AS stay, i.intime AS raw_in, i.outtime AS raw_out,
                epoch(TRY_CAST(i.intime AS TIMESTAMP)) AS t_in, epoch(TRY_CAST(i.outtime AS TIMESTAMP)) AS t_out,
                p.gender AS gender,
                date_diff('day', TRY_CAST(p.dob AS TIMESTAMP), TRY_CAST(i.intime AS TIMESTAMP)) / 365.2425 AS age,
                TRY_CAST(a.hospital_expire_flag AS INTEGER) AS died
         FROM icustays i
         JOIN patients p ON TRY_CAST(p.subject_id AS BIGINT) = TRY_CAST(i.subject_id AS BIGINT)
         JOIN admissions a ON TRY_CAST(a.hadm_id AS BIGINT) = TRY_CAST(i.hadm_id AS BIGINT)
       ) WHERE age IS NULL OR age >= ${Number(opts.min_age)}`,
      paths.icustays!,
    );
    const [[nStays]] = (await duck.all('SELECT count(*) FROM stays', paths.icustays!)) as [[bigint]];

    const chartError = cols.chartevents!.includes('error') ? `AND coalesce(TRIM(c.error), '0') NOT IN ('1', '1.0')` : '';
    // CHARTEVENTS is scanned once: the rows of mapped items (a small share) are materialized, then
    // rows with an ICUSTAY_ID join their stay and rows without one (charted outside the ICU
    // record) the stay of their HADM_ID whose window holds them
    const eventsSql = `
      WITH ce AS MATERIALIZED (
        SELECT TRY_CAST(c.icustay_id AS BIGINT) AS stay, TRY_CAST(c.hadm_id AS BIGINT) AS hid,
               epoch(TRY_CAST(c.charttime AS TIMESTAMP)) AS t, m.variable, c.value, c.valuenum, c.valueuom, m.label, c.row_id, c.charttime AS raw_time
        FROM chartevents c
        JOIN items m ON TRY_CAST(c.itemid AS INTEGER) = m.itemid AND m.linksto = 'chartevents'
        WHERE true ${chartError}
      )
      SELECT ord, secs, variable, value, valuenum, valueuom, label, row_id, src, raw_time FROM (
        SELECT s.ord, c.t - s.t_in AS secs, s.t_out - s.t_in AS span,
               c.variable, c.value, c.valuenum, c.valueuom, c.label, c.row_id, 'C' AS src, c.raw_time
        FROM ce c JOIN stays s ON c.stay = s.stay
        UNION ALL
        SELECT s.ord, c.t - s.t_in AS secs, s.t_out - s.t_in AS span,
               c.variable, c.value, c.valuenum, c.valueuom, c.label, c.row_id, 'C' AS src, c.raw_time
        FROM ce c JOIN stays s ON c.stay IS NULL AND c.hid = s.hid
        UNION ALL
        SELECT s.ord, epoch(TRY_CAST(l.charttime AS TIMESTAMP)) - s.t_in AS secs, s.t_out - s.t_in AS span,
               m.variable, l.value, l.valuenum, l.valueuom, m.label, l.row_id, 'L' AS src, l.charttime AS raw_time
        FROM labevents l
        JOIN items m ON TRY_CAST(l.itemid AS INTEGER) = m.itemid AND m.linksto = 'labevents'
        JOIN stays s ON TRY_CAST(l.hadm_id AS BIGINT) = s.hid
      ) WHERE secs IS NULL OR (secs >= 0 AND secs <= span)
      ORDER BY ord, secs NULLS FIRST, src, TRY_CAST(row_id AS BIGINT), variable, value`;
    const codesSql = `
      SELECT s.ord, 0 AS kind, TRY_CAST(d.seq_num AS INTEGER) AS seq, TRIM(d.icd9_code) AS code, d.hadm_id
      FROM diagnoses_icd d JOIN stays s ON TRY_CAST(d.hadm_id AS BIGINT) = s.hid AND s.first_in_hadm
      WHERE d.icd9_code IS NOT NULL AND TRIM(d.icd9_code) <> ''
      UNION ALL
      SELECT s.ord, 1 AS kind, TRY_CAST(p.seq_num AS INTEGER) AS seq, TRIM(p.icd9_code) AS code, p.hadm_id
      FROM procedures_icd p JOIN stays s ON TRY_CAST(p.hadm_id AS BIGINT) = s.hid AND s.first_in_hadm
      WHERE p.icd9_code IS NOT NULL AND TRIM(p.icd9_code) <> ''
      ORDER BY ord, kind, seq NULLS LAST`;
    const staysSql = `SELECT ord, sid, stay, gender, age, died, t_in, raw_in, t_out, raw_out FROM stays ORDER BY ord`;

    for (let k = 0; k < 3; k++) conns.push(await duck.connect());
    const staysCur = new RowCursor(streamRows(conns[0]!, staysSql, paths.icustays!));
    const codesCur = new RowCursor(streamRows(conns[1]!, codesSql, `${paths.diagnoses_icd} / ${paths.procedures_icd}`));
    const eventsCur = new RowCursor(streamRows(conns[2]!, eventsSql, `${paths.chartevents} / ${paths.labevents}`));

    const convert = new Map<string, (v: number, unit: string) => number>();
    for (const [v, c] of Object.entries(opts.conversions)) convert.set(v, UNIT_CONVERSIONS[c]);
    const ageSpec = data.covariates.find((c) => c.name === opts.age_covariate);
    const genderSpec = data.covariates.find((c) => c.name === opts.gender_covariate);
    const hasDeath = data.labels.some((l) => l.name === opts.death_label);

    let patient = null as PatientRecord | null;
    let patientSid: string | null = null;
    let died = 0;
    let done = 0;
    const finish = (): PatientRecord | null => {
      if (!patient) return null;
      const p = patient;
      patient = null;
      if (p.admissions.length === 0) return null;
      if (hasDeath) p.labels[opts.death_label] = died;
      return p;
    };

    for (;;) {
      const s = await staysCur.peek();
      if (!s) break;
      staysCur.take();
      const [ordV, sidV, stayV, genderV, ageV, diedV, tInV, rawIn, tOutV, rawOut] = s;
      const ord = num(ordV)!;
      const sid = str(sidV);
      const stayId = str(stayV);
      const where = `${paths.icustays} (ICUSTAY_ID ${stayId})`;
      if (++done % 200 === 0) ctx.onProgress?.({ done, total: Number(nStays), unit: 'ICU stays' });

      // codes and events of this stay (both streams are ordered by ord, like the stays)
      const codes: string[] = [];
      for (let c = await codesCur.peek(); c && num(c[0])! <= ord; c = await codesCur.peek()) {
        codesCur.take();
        if (num(c[0]) !== ord) continue;
        const icd9 = String(c[3]);
        if (num(c[1]) === 1) codes.push(`${opts.procedure_system}:${icd9}`);
        else if (!gem) codes.push(`ICD9:${icd9}`);
        else {
          const mapped = gem.map9to10(icd9);
          if (mapped && mapped.length) for (const m of mapped) codes.push(`ICD10:${m}`);
          else if (opts.gem_unmapped === 'keep') codes.push(`ICD9:${icd9}`);
        }
      }
      const events: Measurement[] = [];
      const covFromItems = new Map<string, number>();
      for (let e = await eventsCur.peek(); e && num(e[0])! <= ord; e = await eventsCur.peek()) {
        eventsCur.take();
        if (num(e[0]) !== ord) continue;
        const [, secsV, variableV, valueV, valuenumV, uomV, labelV, rowIdV, srcV, rawTime] = e;
        const file = `${srcV === 'C' ? paths.chartevents : paths.labevents} (ROW_ID ${str(rowIdV)})`;
        const secs = num(secsV);
        if (secs === null) {
          ctx.issues.report('bad_time', file, undefined, `CHARTTIME ${JSON.stringify(str(rawTime))} is not a timestamp`);
          continue;
        }
        const variable = String(variableV);
        const raw = (str(valueV) ?? '').trim();
        const covName = covItems.get(variable);
        if (covName !== undefined) {
          // first value of the stay (rows come sorted by time); later ones are ignored
          if (covFromItems.has(covName)) continue;
          const n = parseNumber(raw) ?? parseNumber(str(valuenumV) ?? '');
          if (n === null) {
            if (raw !== '') ctx.issues.report('non_numeric', file, undefined, `covariate ${covName}: value ${JSON.stringify(raw)} is not a number`);
            continue;
          }
          const conv = convert.get(covName);
          const v = conv ? Math.round(conv(n, `${str(uomV) ?? ''} ${str(labelV) ?? ''}`) * 100) / 100 : n;
          const range = data.covariates.find((c) => c.name === covName)!.range;
          if (range && (v < range[0] || v > range[1])) {
            ctx.issues.report('out_of_range', file, undefined, `covariate ${covName}: value ${v} is outside its plausible range [${range[0]}, ${range[1]}]`);
            continue;
          }
          covFromItems.set(covName, v);
          continue;
        }
        const spec = filter.specs.get(variable)!;
        let value: number | string | null;
        if (spec.type === 'categorical') {
          if (raw === '') continue;
          value = filter.value(variable, opts.value_maps[variable]?.[raw] ?? raw, file, undefined);
        } else {
          // VALUE first: VALUENUM is a float in some copies of the demo (18.2000007629395)
          const n = parseNumber(raw) ?? parseNumber(str(valuenumV) ?? '');
          if (n === null) {
            if (raw !== '') ctx.issues.report('non_numeric', file, undefined, `${variable}: value ${JSON.stringify(raw)} is not a number`);
            continue;
          }
          const conv = convert.get(variable);
          // converted values keep 4 decimals: more would only be float noise ((98.6 - 32) * 5 / 9)
          const v = conv ? Math.round(conv(n, `${str(uomV) ?? ''} ${str(labelV) ?? ''}`) * 1e4) / 1e4 : n;
          value = filter.value(variable, v, file, undefined);
        }
        if (value !== null) events.push({ hours: secs / 3600, variable, value });
      }

      if (tInV === null || tOutV === null) {
        ctx.issues.report('bad_time', where, undefined, `INTIME/OUTTIME ${JSON.stringify(str(rawIn))} / ${JSON.stringify(str(rawOut))} is not a timestamp`);
        continue;
      }
      if (sid !== patientSid) {
        const p = finish();
        if (p) yield p;
        patientSid = sid;
        died = 0;
        const covariates: PatientRecord['covariates'] = {};
        for (const c of data.covariates) covariates[c.name] = null;
        const age = num(ageV);
        if (ageSpec && age !== null) covariates[ageSpec.name] = Math.round(Math.min(age, opts.max_age) * 100) / 100;
        const g = str(genderV)?.trim() ?? '';
        if (genderSpec && g !== '') {
          if (genderSpec.values && !genderSpec.values.includes(g)) ctx.issues.report('unknown_value', `${paths.patients} (SUBJECT_ID ${sid})`, undefined, `GENDER ${JSON.stringify(g)} is not one of ${JSON.stringify(genderSpec.values)}`);
          else covariates[genderSpec.name] = g;
        }
        patient = { id: String(sid), covariates, labels: {}, admissions: [] };
        for (const [name, v] of covFromItems) covariates[name] = v;
      }
      died = Math.max(died, num(diedV) ?? 0);
      if (events.length === 0 && codes.length === 0) {
        ctx.issues.report('empty_patient', where, undefined, `ICU stay ${stayId} of patient ${sid} has no measurements and no codes`);
        continue;
      }
      const adm: Admission = { id: String(stayId), codes, events: filter.sort(events) };
      patient!.admissions.push(adm);
    }
    const last = finish();
    if (last) yield last;
    ctx.onProgress?.({ done, total: done, unit: 'ICU stays' });
  } finally {
    for (const c of conns) c.closeSync();
    await duck.close();
  }
}
