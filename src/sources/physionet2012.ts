/**
 * PhysioNet/Computing in Cardiology Challenge 2012: one `<RecordID>.txt` per ICU stay
 * (`Time,Parameter,Value`, time `HH:MM` since ICU admission), in a directory or a .tar(.gz)
 * archive, plus an Outcomes file (`RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death`).
 *
 * The static descriptors at 00:00 (RecordID, Age, Gender, Height, ICUType and the first Weight)
 * become covariates; every other row (time-varying Weight included) is a measurement of the
 * variable PhysioNet names; outcome columns become labels. -1 means missing throughout.
 * Each record is one patient with one admission, both with the RecordID as id.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import type { DataConfig } from '../records/dataConfig.ts';
import type { Measurement, PatientRecord } from '../records/types.ts';
import { didYouMean } from '../config/didYouMean.ts';
import { inputError } from '../util/errors.ts';
import type { InputIssues } from './issues.ts';
import { checkLabelValue, MeasurementFilter, parseNumber } from './measurements.ts';
import { commonOptions, loaderOptions } from './options.ts';
import { readTar } from './tar.ts';
import type { LoadContext } from './types.ts';

const optionsSchema = z
  .object({
    ...commonOptions,
    // a directory of <RecordID>.txt, or a .tar / .tar.gz of them (relative to data.root)
    records: z.string().default('set-a'),
    // the outcomes file (relative to data.root); null for none (e.g. the unlabelled test sets)
    outcomes: z.string().nullable().default('Outcomes-a.txt'),
    // static descriptor -> covariate name
    descriptors: z.record(z.string(), z.string()).default({ Age: 'age', Gender: 'gender', Height: 'height', ICUType: 'icu_type', Weight: 'weight' }),
    // covariate -> { raw value -> stored value }, e.g. gender { "0": "female", "1": "male" }
    covariate_values: z.record(z.string(), z.record(z.string(), z.string())).default({}),
    // Outcomes column -> label name
    outcomes_columns: z.record(z.string(), z.string()).default({ 'In-hospital_death': 'in_hospital_death' }),
    // the value PhysioNet writes for "missing"
    missing: z.number().default(-1),
  })
  .strict();

const HEADER = 'Time,Parameter,Value';

/** `HH:MM` -> hours, or null. */
export function parsePhysioNetTime(s: string): number | null {
  const m = /^(\d{1,4}):([0-5]\d)$/.exec(s.trim());
  return m ? Number(m[1]) + Number(m[2]) / 60 : null;
}

async function readOutcomes(
  path: string,
  columns: Record<string, string>,
  missing: number,
  data: DataConfig,
  issues: InputIssues,
): Promise<Map<string, Record<string, number>>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw inputError(path, undefined, `cannot read the outcomes file (${(e as Error).message})`);
  }
  const lines = text.split(/\r?\n/);
  const header = lines[0]!.split(',').map((h) => h.trim());
  if (header[0] !== 'RecordID') throw inputError(path, 1, `expected a header starting with RecordID, got ${JSON.stringify(lines[0])}`);
  const idx: [number, string][] = [];
  for (const [col, label] of Object.entries(columns)) {
    const i = header.indexOf(col);
    if (i < 0) throw inputError(path, 1, `no column "${col}" in header ${JSON.stringify(lines[0])}`);
    idx.push([i, label]);
  }
  const specs = new Map(data.labels.map((l) => [l.name, l]));
  const out = new Map<string, Record<string, number>>();
  const lineOf = new Map<string, { line: number; labels: Record<string, number> }>();
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === '') continue;
    const f = line.split(',');
    if (f.length !== header.length) throw inputError(path, n + 1, `expected ${header.length} fields, got ${f.length}: ${JSON.stringify(line)}`);
    const id = f[0]!.trim();
    const labels: Record<string, number> = {};
    for (const [i, label] of idx) {
      const v = parseNumber(f[i]!);
      if (v === null) throw inputError(path, n + 1, `${header[i]}: value ${JSON.stringify(f[i])} is not a number`);
      if (v !== missing && checkLabelValue(specs.get(label), v, issues, path, n + 1, `RecordID ${id}, ${header[i]}`)) labels[label] = v;
    }
    const first = lineOf.get(id);
    if (first) {
      // the same record twice: harmless when it says the same, a conflict when it does not
      const differ = [...new Set([...Object.keys(first.labels), ...Object.keys(labels)])].filter((k) => first.labels[k] !== labels[k]);
      if (differ.length > 0) {
        const show = (l: Record<string, number>) => differ.map((k) => `${k} ${l[k] ?? 'missing'}`).join(', ');
        issues.report('conflict', path, n + 1, `RecordID ${id} is given again: ${show(labels)} here, ${show(first.labels)} at line ${first.line}`);
      }
      continue;
    }
    lineOf.set(id, { line: n + 1, labels });
    out.set(id, labels);
  }
  return out;
}

/** Record files, in RecordID order for a directory and archive order for an archive. */
async function* recordFiles(path: string): AsyncGenerator<{ file: string; text: string }> {
  const st = await stat(path).catch(() => {
    throw inputError(path, undefined, 'not found (expected a directory of <RecordID>.txt or a .tar.gz of them)');
  });
  if (st.isDirectory()) {
    const names = (await readdir(path)).filter((n) => n.endsWith('.txt')).sort();
    for (const n of names) yield { file: join(path, n), text: await readFile(join(path, n), 'utf8') };
    return;
  }
  for await (const e of readTar(path)) {
    if (e.name.endsWith('.txt')) yield { file: `${path}:${e.name}`, text: e.data.toString('utf8') };
  }
}

/** Parse one record file; `file` names it in errors. Returns null for a tolerated empty record. */
export function parsePhysioNetRecord(
  file: string,
  text: string,
  data: DataConfig,
  opts: z.infer<typeof optionsSchema>,
  filter: MeasurementFilter,
  ctx: LoadContext,
  outcomes: Map<string, Record<string, number>> | null,
): PatientRecord | null {
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0 || lines[0]!.trim() !== HEADER) {
    throw inputError(file, 1, `expected header ${JSON.stringify(HEADER)}, got ${JSON.stringify(lines[0] ?? '')}`);
  }
  const covSpecs = new Map(data.covariates.map((c) => [c.name, c]));
  const covariates: PatientRecord['covariates'] = {};
  for (const c of data.covariates) covariates[c.name] = null;
  let recordId: string | null = null;
  const seenDescriptor = new Set<string>();
  const events: Measurement[] = [];
  // a record has ~70 distinct times for ~440 rows: parse each once
  const times = new Map<string, number | null>();
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    const lineNo = n + 1;
    const f = line.split(',');
    if (f.length !== 3) {
      ctx.issues.report('malformed_row', file, lineNo, `expected 3 fields (Time,Parameter,Value), got ${f.length}: ${JSON.stringify(line)}`);
      continue;
    }
    const [timeText, param, valueText] = f as [string, string, string];
    let hours = times.get(timeText);
    if (hours === undefined) times.set(timeText, (hours = parsePhysioNetTime(timeText)));
    if (hours === null) {
      ctx.issues.report('bad_time', file, lineNo, `time ${JSON.stringify(timeText)} is not HH:MM since ICU admission`);
      continue;
    }
    if (data.window_hours !== null && hours > data.window_hours) {
      ctx.issues.report('bad_time', file, lineNo, `time ${timeText} is after the data's window of ${data.window_hours} h (data.window_hours)`);
      continue;
    }
    if (param === 'RecordID') {
      recordId = valueText.trim();
      continue;
    }
    const covName = opts.descriptors[param];
    // the first row of a descriptor at 00:00 is static; later Weight rows are measurements
    if (covName !== undefined && hours === 0 && !seenDescriptor.has(param)) {
      seenDescriptor.add(param);
      const v = parseNumber(valueText);
      if (v === null) {
        ctx.issues.report('non_numeric', file, lineNo, `${param}: value ${JSON.stringify(valueText)} is not a number`);
        continue;
      }
      const spec = covSpecs.get(covName);
      if (!spec || v === opts.missing) continue;
      if (spec.type === 'numeric') {
        if (spec.range && (v < spec.range[0] || v > spec.range[1])) {
          ctx.issues.report('out_of_range', file, lineNo, `${param}: value ${v} is outside its plausible range [${spec.range[0]}, ${spec.range[1]}]`);
          continue;
        }
        covariates[covName] = v;
      } else {
        const mapped = opts.covariate_values[covName]?.[String(v)] ?? String(v);
        if (spec.values && !spec.values.includes(mapped)) {
          ctx.issues.report('unknown_value', file, lineNo, `${param}: value ${JSON.stringify(valueText)} is not one of ${JSON.stringify(spec.values)}`);
          continue;
        }
        covariates[covName] = mapped;
      }
      continue;
    }
    if (!filter.has(param)) {
      if (covName !== undefined) {
        ctx.issues.ignore(param); // a descriptor given again after 00:00 (only Weight is also a variable)
        continue;
      }
      const known = [...filter.specs.keys(), ...Object.keys(opts.descriptors)];
      const guess = didYouMean(param, known);
      ctx.issues.report('unknown_name', file, lineNo, `parameter ${JSON.stringify(param)} is not a variable of data=${data.name}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''} (tolerate unknown_name to drop such rows)`);
      ctx.issues.ignore(param);
      continue;
    }
    const num = parseNumber(valueText);
    if (num === opts.missing) continue;
    if (num === null && filter.specs.get(param)!.type === 'continuous') {
      ctx.issues.report('non_numeric', file, lineNo, `${param}: value ${JSON.stringify(valueText)} is not a number`);
      continue;
    }
    const value = filter.value(param, num ?? valueText, file, lineNo);
    if (value !== null) events.push({ hours, variable: param, value });
  }
  const id = recordId ?? basename(file).replace(/\.txt$/, '');
  if (recordId === null) {
    ctx.issues.report('malformed_row', file, undefined, 'no RecordID row');
  }
  if (events.length === 0) {
    ctx.issues.report('empty_patient', file, undefined, `record ${id} has no measurements`);
    return null;
  }
  let labels: Record<string, number> = {};
  if (outcomes) {
    const o = outcomes.get(id);
    if (!o) ctx.issues.report('orphan_row', file, undefined, `record ${id} is not in the outcomes file`);
    else labels = o;
  }
  return { id, covariates, labels, admissions: [{ id, codes: [], events: filter.sort(events) }] };
}

export async function* loadPhysioNet2012(data: DataConfig, ctx: LoadContext): AsyncGenerator<PatientRecord> {
  const opts = loaderOptions(data, optionsSchema);
  const root = ctx.resolvePath(data.root);
  const outcomes = opts.outcomes === null ? null : await readOutcomes(join(root, opts.outcomes), opts.outcomes_columns, opts.missing, data, ctx.issues);
  const filter = new MeasurementFilter(data, ctx.issues);
  let done = 0;
  const total = outcomes?.size;
  const fileOf = new Map<string, string>();
  for await (const { file, text } of recordFiles(join(root, opts.records))) {
    const r = parsePhysioNetRecord(file, text, data, opts, filter, ctx, outcomes);
    done++;
    if (done % 100 === 0) ctx.onProgress?.({ done, total, unit: 'records' });
    if (!r) continue;
    const other = fileOf.get(r.id);
    if (other !== undefined) {
      ctx.issues.report('conflict', file, undefined, `RecordID ${r.id} is also the record of ${other}`);
      continue;
    }
    fileOf.set(r.id, file);
    yield r;
  }
  ctx.onProgress?.({ done, total: done, unit: 'records' });
}
