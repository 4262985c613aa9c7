/**
 * Encoding a patient record to token ids under the grammar (grammar.ts).
 *
 * Events at the same hours form one time step (ties in time); several measurements of one
 * variable at one time step are collapsed to the last one in the record's order, or with
 * `repeats: mean` a continuous variable's to their mean (counted as `collapsed_repeats`): keeping
 * one value per (variable, time step) is what makes a time step a set the grammar can check (set-a
 * has about 3,700 such repeats in 1.7 million measurements). Codes keep their recorded order and may
 * repeat.
 */
import type { Admission, Measurement, PatientRecord } from '../records/types.ts';
import type { GrammarAutomaton } from './automaton.ts';
import { binIndex } from './bins.ts';
import { categoryKey, checkCodeSystem, listNames, sortedByHours } from './input.ts';
import { SPECIAL_IDS as SPECIAL, type Vocabulary } from './vocabulary.ts';
import { gapHours } from '../records/time.ts';
import { SynehrError } from '../util/errors.ts';

/** What encoding did that is not a plain 1:1 mapping, summed over the patients it saw. */
export interface EncodeStats {
  /** codes not in the vocabulary (below code_min_count, or unseen in training) */
  dropped_codes: number;
  /** categorical values not in the vocabulary (only with unknown: 'drop') */
  dropped_values: number;
  /** measurements of a variable that another of the same variable at the same hours replaced */
  collapsed_repeats: number;
}

export function emptyEncodeStats(): EncodeStats {
  return { dropped_codes: 0, dropped_values: 0, collapsed_repeats: 0 };
}

export interface EncodeOptions {
  /**
   * What to do with a categorical value the tokenizer has no token for: 'error' (default), or 'drop'
   * (a covariate becomes missing, a measurement is skipped). Unknown variables, covariates, labels,
   * code systems and non-finite numbers are always errors.
   */
  unknown?: 'error' | 'drop';
  stats?: EncodeStats;
}

const NOT_FINITE = -2;
const UNKNOWN_CATEGORY = -3;
const NOT_A_CATEGORY = -4;

/**
 * The token ids of one patient (or only its prefix `<s> cov… </covar> label… </label>`, without
 * the labels when they sit last); always a sequence the automaton accepts. Throws SynehrError
 * (E_INPUT) naming the patient, admission and event for input the tokenizer cannot represent.
 */
export function encodeRecord(v: Vocabulary, automaton: GrammarAutomaton, p: PatientRecord, opts: EncodeOptions, prefixOnly: boolean): Int32Array {
  const unknown = opts.unknown ?? 'error';
  const stats = opts.stats;
  const dataName = v.parts.data_name;
  const where = `patient ${p.id}`;
  let out = new Int32Array(64);
  let n = 0;
  const push = (t: number): void => {
    if (n === out.length) {
      const grown = new Int32Array(out.length * 2);
      grown.set(out);
      out = grown;
    }
    out[n++] = t;
  };

  push(SPECIAL.bos);
  for (const key of Object.keys(p.covariates)) {
    if (!v.covariateIndex.has(key)) {
      throw new SynehrError('E_INPUT', `${where}: covariate '${key}' is not in data config '${dataName}' (covariates: ${listNames(v.covariates)})`);
    }
  }
  const missing = (i: number, why: string): void => {
    const c = v.covariates[i]!;
    if (c.required) {
      throw new SynehrError(
        'E_INPUT',
        `${where}: covariate '${c.name}' ${why}, but every training patient has it, so the tokenizer's grammar requires a value`,
      );
    }
    push(c.missing);
  };
  v.covariates.forEach((c, i) => {
    const x = p.covariates[c.name];
    if (x === null || x === undefined) return missing(i, 'is missing');
    if (c.type === 'numeric') {
      const num = typeof x === 'number' ? x : Number.NaN;
      if (!Number.isFinite(num)) throw new SynehrError('E_INPUT', `${where}: covariate '${c.name}' = ${JSON.stringify(x)} is not a finite number`);
      return push(c.offset + binIndex(c.bins!.edges, num));
    }
    const k = v.covCategoryIndex[i]!.get(categoryKey(x, () => `${where}: covariate '${c.name}'`));
    if (k === undefined) {
      if (unknown === 'drop') {
        if (stats) stats.dropped_values++;
        return missing(i, `= ${JSON.stringify(x)} is not one of its values (dropped)`);
      }
      throw new SynehrError('E_INPUT', `${where}: covariate '${c.name}' = ${JSON.stringify(x)} is not one of its values (${c.categories!.values.join(', ')})`);
    }
    push(c.offset + k);
  });
  push(SPECIAL.endCovar);

  const labelTokens: number[] = new Array(v.labels.length).fill(-1);
  for (const [key, y] of Object.entries(p.labels)) {
    // a null label (unknown outcome) is the same as an absent one
    if (y === null || y === undefined) continue;
    const i = v.labelIndex.get(key);
    if (i === undefined) throw new SynehrError('E_INPUT', `${where}: label '${key}' is not in data config '${dataName}' (labels: ${listNames(v.labels)})`);
    const l = v.labels[i]!;
    if (typeof y !== 'number' || !Number.isFinite(y)) throw new SynehrError('E_INPUT', `${where}: label '${key}' = ${JSON.stringify(y)} is not a finite number`);
    const k = l.bins ? binIndex(l.bins.edges, y) : l.values.indexOf(y);
    if (k < 0) {
      if (unknown === 'drop' && !l.required) {
        if (stats) stats.dropped_values++;
        continue;
      }
      throw new SynehrError('E_INPUT', `${where}: label '${key}' = ${JSON.stringify(y)} is not one of its values (${l.values.join(', ')})`);
    }
    labelTokens[i] = l.offset + k;
  }
  v.labels.forEach((l, i) => {
    if (l.required && labelTokens[i] === -1) {
      throw new SynehrError('E_INPUT', `${where}: label '${l.name}' is missing, but every training patient has it, so the tokenizer's grammar requires it`);
    }
  });
  const pushLabels = (): void => {
    for (const t of labelTokens) if (t >= 0) push(t);
    push(SPECIAL.endLabel);
  };
  if (!v.labelsLast) pushLabels();
  if (prefixOnly) return out.slice(0, n);

  if (p.admissions.length === 0) throw new SynehrError('E_INPUT', `${where}: has no admissions (a record needs at least one)`);
  // delta_bins: per variable its latest bin in the patient (-1 none yet); like decoding, a series runs across admissions
  const lastBin = new Int32Array(v.variables.length).fill(-1);
  for (const adm of p.admissions) {
    const awhere = `${where}, admission ${adm.id}`;
    for (const code of adm.codes) {
      const k = v.codeIndex.get(code);
      if (k !== undefined) {
        push(v.codes.offset + k);
        continue;
      }
      checkCodeSystem(code, v.parts.code_systems, awhere);
      if (stats) stats.dropped_codes++;
    }
    push(SPECIAL.endCode);
    for (const t of encodeEvents(v, adm, awhere, unknown, stats, lastBin)) push(t);
    push(SPECIAL.endTs);
    push(SPECIAL.endAdm);
  }
  if (v.labelsLast) pushLabels();
  push(SPECIAL.eos);

  const ids = out.slice(0, n);
  const bad = automaton.firstInvalid(ids);
  if (bad !== -1) throw new Error(`encodePatient: bug: ${where} encoded to a sequence the grammar rejects at ${bad}`);
  return ids;
}

/** The time-series part of one admission: { gap meas… }* */
function encodeEvents(v: Vocabulary, adm: Admission, where: string, unknown: 'error' | 'drop', stats: EncodeStats | undefined, lastBin: Int32Array): number[] {
  // event numbers in messages count in hours order (the record's order when it is sorted, as promised)
  const sorted = sortedByHours(adm.events, where);
  const out: number[] = [];
  // per time step: variable index -> measurement token(s) (-1 none); reset between steps
  const J = v.variables.length;
  const slotTok = new Int32Array(J).fill(-1);
  // repeats = 'mean': running sum and count of a continuous variable's values in the time step
  const mean = v.parts.config.repeats === 'mean';
  const slotSum = new Float64Array(mean ? J : 0);
  const slotCount = new Int32Array(mean ? J : 0);
  const touched: number[] = [];
  let prevHours = 0;
  let i = 0;
  while (i < sorted.length) {
    const hours = sorted[i]!.hours;
    touched.length = 0;
    let j = i;
    for (; j < sorted.length && sorted[j]!.hours === hours; j++) {
      const e = sorted[j]!;
      const vi = v.variableIndex.get(e.variable);
      if (vi === undefined) {
        throw new SynehrError(
          'E_INPUT',
          `${where}, event ${j} (hours ${e.hours}): variable '${e.variable}' is not in data config '${v.parts.data_name}' (variables: ${listNames(v.variables)})`,
        );
      }
      const tok = measurementToken(v, vi, e.value);
      if (tok < 0) {
        if (tok === UNKNOWN_CATEGORY && unknown === 'drop') {
          if (stats) stats.dropped_values++;
          continue;
        }
        throw measurementError(v, vi, e, tok, `${where}, event ${j} (hours ${e.hours})`);
      }
      if (slotTok[vi] === -1) {
        touched.push(vi);
        if (mean) slotSum[vi] = slotCount[vi] = 0;
      } else if (stats) stats.collapsed_repeats++;
      slotTok[vi] = tok;
      if (mean && typeof e.value === 'number') {
        slotSum[vi] += e.value;
        slotCount[vi]++;
      }
    }
    i = j;
    if (touched.length === 0) continue;
    out.push(v.gaps.offset + binIndex(v.gaps.bins.edges, gapHours(prevHours, hours)));
    prevHours = hours;
    // loaders list a time step's variables in config order already; sort only when they do not
    for (let t = 1; t < touched.length; t++) {
      if (touched[t]! < touched[t - 1]!) {
        touched.sort((a, b) => a - b);
        break;
      }
    }
    for (const vi of touched) {
      const x = v.variables[vi]!;
      const tok = mean && x.type === 'continuous' && slotCount[vi]! > 1 ? measurementToken(v, vi, slotSum[vi]! / slotCount[vi]!) : slotTok[vi]!;
      if (!v.joint && x.type === 'continuous') {
        out.push(x.offset);
        out.push(v.sharedBins!.offset + tok);
      } else if (x.delta_offset !== undefined) {
        const bin = tok - x.offset;
        const step = bin - lastBin[vi]!;
        out.push(lastBin[vi]! >= 0 && Math.abs(step) <= v.deltaBins ? x.delta_offset + v.deltaBins + step : tok);
        lastBin[vi] = bin;
      } else out.push(tok);
      slotTok[vi] = -1;
    }
  }
  return out;
}

/**
 * joint: the token id; var+quant continuous: the bin index (the caller emits variable + bin).
 * Negative: NOT_FINITE, UNKNOWN_CATEGORY or NOT_A_CATEGORY (see measurementError).
 */
function measurementToken(v: Vocabulary, vi: number, value: unknown): number {
  const x = v.variables[vi]!;
  if (x.type === 'continuous') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return NOT_FINITE;
    const k = binIndex(x.bins!.edges, value);
    return v.joint ? x.offset + k : k;
  }
  let key: string;
  if (typeof value === 'string') key = value;
  else if (typeof value === 'number' && Number.isFinite(value)) key = String(value);
  else return NOT_A_CATEGORY;
  const k = v.categoryIndex[vi]!.get(key);
  return k === undefined ? UNKNOWN_CATEGORY : x.offset + k;
}

function measurementError(v: Vocabulary, vi: number, e: Measurement, code: number, where: string): SynehrError {
  const x = v.variables[vi]!;
  const shown = JSON.stringify(e.value);
  if (code === NOT_FINITE) return new SynehrError('E_INPUT', `${where}: '${x.name}' = ${shown} is not a finite number`);
  if (code === NOT_A_CATEGORY) return new SynehrError('E_INPUT', `${where}: '${x.name}' = ${shown} is not a category (a string or finite number)`);
  return new SynehrError('E_INPUT', `${where}: '${x.name}' = ${shown} is not one of its values (${x.categories!.values.join(', ')})`);
}
