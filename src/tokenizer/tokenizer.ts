/**
 * The SynEHRgy-style tokenizer: fit on training records, encode a patient to token ids, decode ids
 * back to a record, and save all of it as one self-contained tokenizer.json.
 *
 * Vocabulary, in this order (DESIGN.md, "Tokenizer and grammar"):
 *   special    <pad> <s> </s> </covar> </label> </code> </ts> </adm>
 *   covariate  per covariate (data config order): one per bin (numeric) or value (categorical), then "missing"
 *   label      one per (label, value); a label with more than label_max_values distinct training values
 *              (and none declared), such as a length of stay in days, gets value bins instead
 *   code       codes seen >= code_min_count times in the training split, by descending count (ties by code)
 *   gap        one per time-gap bin (hours since the previous time step of the admission; the first
 *              time step's gap is from the admission start, hour 0)
 *   measure    joint:     per variable, one per bin (continuous) or value (categorical)
 *              var+quant: per variable, one variable token (continuous) or one per value (categorical);
 *                         then max-K shared bin tokens "bin:k", the k-th bin of whichever variable precedes it
 *
 * Sequence: <s> cov_1 … cov_k </covar> label… </label> { code… </code> { gap meas… }* </ts> </adm> }+ </s>
 *
 * Every covariate gets exactly one token (its value, bin or "missing"). Labels are optional and come
 * in data config order, at most one each. A time step is a set: one gap token, then one measurement
 * per variable in strictly ascending data-config variable order. Events at the same hours form one
 * time step (ties in time); several measurements of one variable at one time step are collapsed to
 * the last one in the record's order, or with `repeats: mean` a continuous variable's to their mean
 * (counted in the stats as `collapsed_repeats`): keeping one value
 * per (variable, time step) is what makes a time step a set the grammar can check (set-a has about
 * 3,700 such repeats in 1.7 million measurements). Codes keep their recorded order and may repeat.
 *
 * Decoding draws each numeric value inside its bin from the bin's stored within-bin quantiles
 * (rounded to the decimals the training values had), each gap inside its gap bin (hours are the
 * running sum of gaps; a later time step starts at least MIN_STEP_GAP_HOURS after the previous
 * one), and rebuilds categorical values, labels and codes exactly. The same seed gives the same
 * record.
 *
 * Automaton states: start, cov[i] (expecting covariate i), expect </covar>, labels_from[i] (the next
 * label must be label i or later), in_codes, after_adm, ts_start, after_gap, after_meas[j] (next: a
 * variable after j, a gap or </ts>), var_pending[j] (var+quant: expecting variable j's bin),
 * after_ts, end (only <pad> follows).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PatientRecord, Admission, Measurement } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import { tokenizerConfigSchema, type TokenizerConfig } from './config.ts';
import { GrammarAutomaton, type AutomatonJSON, type TransitionRun } from './automaton.ts';
import { binIndex, drawInBin, type BinSet } from './bins.ts';
import { categoryKey, checkCodeSystem, listNames, sortedByHours } from './input.ts';
import { dataConfigHash } from './fit.ts';
import { SynehrError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';

// fitting lives in fit.ts; re-exported so the tokenizer's API is one import
export { fitTokenizer, dataConfigHash } from './fit.ts';

export const TOKENIZER_FORMAT_VERSION = 1;

const NOT_FINITE = -2;
const UNKNOWN_CATEGORY = -3;
const NOT_A_CATEGORY = -4;

/** The smallest gap decoding puts between two time steps of one admission: one minute. */
export const MIN_STEP_GAP_HOURS = 1 / 60;

export const SPECIAL_TOKENS = ['<pad>', '<s>', '</s>', '</covar>', '</label>', '</code>', '</ts>', '</adm>'] as const;

export interface SpecialIds {
  pad: number;
  bos: number;
  eos: number;
  endCovar: number;
  endLabel: number;
  endCode: number;
  endTs: number;
  endAdm: number;
}

export const SPECIAL_IDS: SpecialIds = { pad: 0, bos: 1, eos: 2, endCovar: 3, endLabel: 4, endCode: 5, endTs: 6, endAdm: 7 };
const SPECIAL = SPECIAL_IDS;

/** The class of a token, for decoding and the report. */
export const TokenClass = {
  special: 0,
  covariate: 1,
  label: 2,
  code: 3,
  gap: 4,
  measurement: 5,
  variable: 6, // var+quant: the variable token of a continuous variable
  sharedBin: 7, // var+quant: the shared bin token
} as const;
export type TokenClassId = (typeof TokenClass)[keyof typeof TokenClass];
export const TOKEN_CLASS_NAMES = ['special', 'covariate', 'label', 'code', 'gap', 'measurement', 'variable', 'shared_bin'];

/** Values a categorical covariate or variable took: decoded back as numbers when they all were numbers. */
export interface Categories {
  values: string[];
  numeric: boolean;
}

export interface FittedCovariate {
  name: string;
  type: 'numeric' | 'categorical';
  /** numeric covariates */
  bins?: BinSet;
  /** categorical covariates */
  categories?: Categories;
  /** first token id of this covariate's value tokens */
  offset: number;
  /** the "missing" token id */
  missing: number;
}

export interface FittedLabel {
  name: string;
  /** one token per value (empty when binned) */
  values: number[];
  /** a high-cardinality label: one token per bin */
  bins?: BinSet;
  offset: number;
}

export interface FittedVariable {
  name: string;
  type: 'continuous' | 'categorical';
  bins?: BinSet;
  categories?: Categories;
  /** joint: first bin/value token; var+quant: the variable token (continuous) or first value token */
  offset: number;
}

export interface TokenizerJSON {
  format_version: number;
  kind: 'synehr-tokenizer';
  data_name: string;
  /** dataConfigHash(): sha256 of the data config's covariates, labels, variables, code systems and split */
  data_config_hash: string;
  config: TokenizerConfig;
  special: SpecialIds;
  vocab: string[];
  covariates: FittedCovariate[];
  labels: FittedLabel[];
  code_systems: string[];
  codes: { offset: number; values: string[]; counts: number[] };
  gaps: { offset: number; bins: BinSet };
  variables: FittedVariable[];
  shared_bins: { offset: number; count: number } | null;
  automaton: AutomatonJSON;
}

/** What `encodePatient` did that is not a plain 1:1 mapping, summed over the patients it saw. */
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

export interface DecodeOptions {
  /** draws values inside their bins and times inside their gap bins */
  rng: Rng;
  /** 'strict' throws at the first token the grammar forbids; 'lenient' returns the record up to it */
  mode?: 'strict' | 'lenient';
  /** the decoded patient's id (admissions get `${id}-a${k}`) */
  id?: string;
}

export interface BatchDecodeOptions extends Omit<DecodeOptions, 'id'> {
  /** patient ids are `${idPrefix}${firstIndex + b}`; default 'synthetic-' */
  idPrefix?: string;
  /** default 0 */
  firstIndex?: number;
}

export interface DecodeError {
  /** index in ids of the first forbidden token, or ids.length when the sequence stops before </s> */
  position: number;
  /** the offending token id, or -1 at the end of the sequence */
  token: number;
  message: string;
}

export interface LenientDecode {
  /** the longest valid record the sequence spells before its first error */
  record: PatientRecord;
  /** null when the whole sequence is valid */
  error: DecodeError | null;
}

// ---------------------------------------------------------------------------------------------
// states of the automaton, laid out once per tokenizer

interface StateLayout {
  S: number;
  pre: number;
  cov: number; // cov + i, i in [0, k)
  label: number; // label + i, i in [0, L]: the next label token must belong to label >= i
  inCodes: number;
  afterAdm: number;
  tsStart: number;
  afterGap: number;
  afterMeas: number; // afterMeas + j
  varPending: number[]; // [J] var+quant: the state after continuous variable j's token, expecting its bin (-1 otherwise)
  afterTs: number;
  end: number;
  names: string[];
}

// ---------------------------------------------------------------------------------------------

export class Tokenizer {
  readonly vocab: string[];
  readonly special: SpecialIds = SPECIAL;
  readonly pad = SPECIAL.pad;
  readonly bos = SPECIAL.bos;
  readonly eos = SPECIAL.eos;
  readonly endCovar = SPECIAL.endCovar;
  readonly endLabel = SPECIAL.endLabel;
  readonly endCode = SPECIAL.endCode;
  readonly endTs = SPECIAL.endTs;
  readonly endAdm = SPECIAL.endAdm;
  readonly config: TokenizerConfig;
  readonly dataName: string;
  readonly dataConfigHash: string;
  readonly covariates: FittedCovariate[];
  readonly labels: FittedLabel[];
  readonly codeSystems: string[];
  readonly codes: { offset: number; values: string[]; counts: number[] };
  readonly gaps: { offset: number; bins: BinSet };
  readonly variables: FittedVariable[];
  readonly sharedBins: { offset: number; count: number } | null;
  readonly automaton: GrammarAutomaton;

  /** [V] the class of each token (TokenClass) */
  readonly tokenClass: Uint8Array;
  /** [V] which covariate / label / variable a token belongs to (-1 for others) */
  readonly tokenOwner: Int32Array;
  /** [V] bin or value index within its owner (code index for codes, bin for gaps and shared bins) */
  readonly tokenIndex: Int32Array;

  private readonly states: StateLayout;
  private readonly covariateIndex = new Map<string, number>();
  private readonly labelIndex = new Map<string, number>();
  private readonly variableIndex = new Map<string, number>();
  private readonly codeIndex = new Map<string, number>();
  private readonly categoryIndex: Map<string, number>[]; // per variable
  private readonly covCategoryIndex: Map<string, number>[]; // per covariate

  /** Use fitTokenizer or loadTokenizer. */
  constructor(j: Omit<TokenizerJSON, 'automaton' | 'format_version' | 'kind'> & { automaton?: AutomatonJSON }) {
    this.vocab = j.vocab;
    this.config = j.config;
    this.dataName = j.data_name;
    this.dataConfigHash = j.data_config_hash;
    this.covariates = j.covariates;
    this.labels = j.labels;
    this.codeSystems = j.code_systems;
    this.codes = j.codes;
    this.gaps = j.gaps;
    this.variables = j.variables;
    this.sharedBins = j.shared_bins;
    const V = this.vocab.length;

    this.covariates.forEach((c, i) => this.covariateIndex.set(c.name, i));
    this.labels.forEach((l, i) => this.labelIndex.set(l.name, i));
    this.variables.forEach((v, i) => this.variableIndex.set(v.name, i));
    this.codes.values.forEach((c, i) => this.codeIndex.set(c, i));
    this.categoryIndex = this.variables.map((v) => new Map((v.categories?.values ?? []).map((s, i) => [s, i])));
    this.covCategoryIndex = this.covariates.map((c) => new Map((c.categories?.values ?? []).map((s, i) => [s, i])));

    // token lookup tables, and a check that the stored offsets tile the vocabulary exactly
    this.tokenClass = new Uint8Array(V).fill(255);
    this.tokenOwner = new Int32Array(V).fill(-1);
    this.tokenIndex = new Int32Array(V).fill(-1);
    const mark = (id: number, cls: TokenClassId, owner: number, index: number): void => {
      if (id < 0 || id >= V || this.tokenClass[id] !== 255) {
        throw new SynehrError('E_TOKENIZER_FILE', `tokenizer: token id ${id} is out of range or assigned twice (V=${V})`);
      }
      this.tokenClass[id] = cls;
      this.tokenOwner[id] = owner;
      this.tokenIndex[id] = index;
    };
    SPECIAL_TOKENS.forEach((_, i) => mark(i, TokenClass.special, -1, i));
    this.covariates.forEach((c, i) => {
      const n = covariateValueCount(c);
      for (let k = 0; k < n; k++) mark(c.offset + k, TokenClass.covariate, i, k);
      mark(c.missing, TokenClass.covariate, i, -1);
    });
    this.labels.forEach((l, i) => {
      for (let k = 0; k < labelTokenCount(l); k++) mark(l.offset + k, TokenClass.label, i, k);
    });
    this.codes.values.forEach((_, k) => mark(this.codes.offset + k, TokenClass.code, -1, k));
    this.gaps.bins.quantiles.forEach((_, k) => mark(this.gaps.offset + k, TokenClass.gap, -1, k));
    const joint = this.config.strategy === 'joint';
    this.variables.forEach((v, i) => {
      if (v.type === 'categorical') v.categories!.values.forEach((_, k) => mark(v.offset + k, TokenClass.measurement, i, k));
      else if (joint) v.bins!.quantiles.forEach((_, k) => mark(v.offset + k, TokenClass.measurement, i, k));
      else mark(v.offset, TokenClass.variable, i, -1);
    });
    if (this.sharedBins) {
      for (let k = 0; k < this.sharedBins.count; k++) mark(this.sharedBins.offset + k, TokenClass.sharedBin, -1, k);
    }
    const hole = this.tokenClass.indexOf(255);
    if (hole >= 0) throw new SynehrError('E_TOKENIZER_FILE', `tokenizer: token ${hole} ('${this.vocab[hole]}') belongs to nothing`);

    this.states = layoutStates(this.covariates.length, this.labels.length, this.variables, this.config.strategy === 'var+quant');
    const built = this.buildAutomaton();
    if (j.automaton) {
      const stored = GrammarAutomaton.fromJSON(j.automaton, V, SPECIAL.pad);
      if (!stored.equals(built)) {
        throw new SynehrError(
          'E_TOKENIZER_FILE',
          'tokenizer: the stored automaton does not match the grammar of its vocabulary (edited or corrupt file)',
        );
      }
      this.automaton = stored;
    } else {
      this.automaton = built;
    }
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Vocabulary size per token class, for the report. */
  vocabByClass(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let t = 0; t < this.vocab.length; t++) {
      const name = TOKEN_CLASS_NAMES[this.tokenClass[t]!]!;
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }

  private buildAutomaton(): GrammarAutomaton {
    const st = this.states;
    const runs: TransitionRun[] = [];
    const add = (s: number, t0: number, t1: number, n: number): void => {
      if (t1 > t0) runs.push([s, t0, t1, n]);
    };
    const one = (s: number, t: number, n: number): void => add(s, t, t + 1, n);
    const k = this.covariates.length;
    const L = this.labels.length;
    const joint = this.config.strategy === 'joint';

    one(st.pre, SPECIAL.bos, st.cov);
    // state cov+i expects covariate i; cov+k expects </covar>
    this.covariates.forEach((c, i) => {
      add(st.cov + i, c.offset, c.offset + covariateValueCount(c), st.cov + i + 1);
      one(st.cov + i, c.missing, st.cov + i + 1);
    });
    one(st.cov + k, SPECIAL.endCovar, st.label);
    for (let i = 0; i <= L; i++) {
      for (let j = i; j < L; j++) {
        const l = this.labels[j]!;
        add(st.label + i, l.offset, l.offset + labelTokenCount(l), st.label + j + 1);
      }
      one(st.label + i, SPECIAL.endLabel, st.inCodes);
    }
    const codes0 = this.codes.offset;
    const codes1 = codes0 + this.codes.values.length;
    add(st.inCodes, codes0, codes1, st.inCodes);
    one(st.inCodes, SPECIAL.endCode, st.tsStart);
    add(st.afterAdm, codes0, codes1, st.inCodes);
    one(st.afterAdm, SPECIAL.endCode, st.tsStart);
    one(st.afterAdm, SPECIAL.eos, st.end);
    const gap0 = this.gaps.offset;
    const gap1 = gap0 + this.gaps.bins.quantiles.length;
    add(st.tsStart, gap0, gap1, st.afterGap);
    one(st.tsStart, SPECIAL.endTs, st.afterTs);
    // a variable's measurement tokens, from any state that may be followed by it
    const measure = (s: number, j: number): void => {
      const v = this.variables[j]!;
      if (v.type === 'categorical') add(s, v.offset, v.offset + v.categories!.values.length, st.afterMeas + j);
      else if (joint) add(s, v.offset, v.offset + v.bins!.quantiles.length, st.afterMeas + j);
      else one(s, v.offset, st.varPending[j]!);
    };
    for (let j = 0; j < this.variables.length; j++) measure(st.afterGap, j);
    for (let i = 0; i < this.variables.length; i++) {
      for (let j = i + 1; j < this.variables.length; j++) measure(st.afterMeas + i, j);
      add(st.afterMeas + i, gap0, gap1, st.afterGap);
      one(st.afterMeas + i, SPECIAL.endTs, st.afterTs);
    }
    if (!joint) {
      this.variables.forEach((v, j) => {
        if (v.type === 'continuous') {
          add(st.varPending[j]!, this.sharedBins!.offset, this.sharedBins!.offset + v.bins!.quantiles.length, st.afterMeas + j);
        }
      });
    }
    one(st.afterTs, SPECIAL.endAdm, st.afterAdm);
    one(st.end, SPECIAL.pad, st.end);
    return new GrammarAutomaton({
      numStates: st.S,
      vocabSize: this.vocab.length,
      startState: st.pre,
      endState: st.end,
      stateNames: st.names,
      transitions: runs,
      padId: SPECIAL.pad,
    });
  }

  // -------------------------------------------------------------------------------------------
  // encoding

  /**
   * The token ids of one patient; always a sequence the automaton accepts. Throws SynehrError
   * (E_INPUT) naming the patient, admission and event for input the tokenizer cannot represent.
   */
  encodePatient(p: PatientRecord, opts: EncodeOptions = {}): Int32Array {
    return this.encode(p, opts, false);
  }

  /**
   * The conditioning prefix of a patient for conditional generation: `<s> cov… </covar>`, and with
   * through = 'labels' (the default) also `label… </label>`. The sampler feeds it, then starts from
   * automaton state `prefixState(through)`.
   */
  encodePrefix(
    p: Pick<PatientRecord, 'covariates' | 'labels'> & { id?: string },
    opts: EncodeOptions & { through?: 'covariates' | 'labels' } = {},
  ): Int32Array {
    const ids = this.encode({ id: p.id ?? 'prefix', covariates: p.covariates, labels: p.labels, admissions: [] }, opts, true);
    return opts.through === 'covariates' ? ids.slice(0, ids.indexOf(SPECIAL.endCovar) + 1) : ids;
  }

  /** The automaton state after encodePrefix(…, { through }). */
  prefixState(through: 'covariates' | 'labels' = 'labels'): number {
    return through === 'covariates' ? this.states.label : this.states.inCodes;
  }

  /** Token names, space-separated, for logs and messages. */
  tokensToString(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) out.push(this.vocab[ids[i]!] ?? `<?${ids[i]}>`);
    return out.join(' ');
  }

  private encode(p: PatientRecord, opts: EncodeOptions, prefixOnly: boolean): Int32Array {
    const unknown = opts.unknown ?? 'error';
    const stats = opts.stats;
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
      if (!this.covariateIndex.has(key)) {
        throw new SynehrError(
          'E_INPUT',
          `${where}: covariate '${key}' is not in data config '${this.dataName}' (covariates: ${listNames(this.covariates)})`,
        );
      }
    }
    this.covariates.forEach((c, i) => {
      const v = p.covariates[c.name];
      if (v === null || v === undefined) return push(c.missing);
      if (c.type === 'numeric') {
        const x = typeof v === 'number' ? v : Number.NaN;
        if (!Number.isFinite(x)) {
          throw new SynehrError('E_INPUT', `${where}: covariate '${c.name}' = ${JSON.stringify(v)} is not a finite number`);
        }
        return push(c.offset + binIndex(c.bins!.edges, x));
      }
      const k = this.covCategoryIndex[i]!.get(categoryKey(v, () => `${where}: covariate '${c.name}'`));
      if (k === undefined) {
        if (unknown === 'drop') {
          if (stats) stats.dropped_values++;
          return push(c.missing);
        }
        throw new SynehrError(
          'E_INPUT',
          `${where}: covariate '${c.name}' = ${JSON.stringify(v)} is not one of its values (${c.categories!.values.join(', ')})`,
        );
      }
      push(c.offset + k);
    });
    push(SPECIAL.endCovar);

    const labelTokens: number[] = new Array(this.labels.length).fill(-1);
    for (const [key, v] of Object.entries(p.labels)) {
      // a null label (unknown outcome) is the same as an absent one
      if (v === null || v === undefined) continue;
      const i = this.labelIndex.get(key);
      if (i === undefined) {
        throw new SynehrError('E_INPUT', `${where}: label '${key}' is not in data config '${this.dataName}' (labels: ${listNames(this.labels)})`);
      }
      const l = this.labels[i]!;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new SynehrError('E_INPUT', `${where}: label '${key}' = ${JSON.stringify(v)} is not a finite number`);
      }
      const k = l.bins ? binIndex(l.bins.edges, v) : l.values.indexOf(v);
      if (k < 0) {
        if (unknown === 'drop') {
          if (stats) stats.dropped_values++;
          continue;
        }
        throw new SynehrError('E_INPUT', `${where}: label '${key}' = ${JSON.stringify(v)} is not one of its values (${l.values.join(', ')})`);
      }
      labelTokens[i] = l.offset + k;
    }
    for (const t of labelTokens) if (t >= 0) push(t);
    push(SPECIAL.endLabel);
    if (prefixOnly) return out.slice(0, n);

    if (p.admissions.length === 0) throw new SynehrError('E_INPUT', `${where}: has no admissions (a record needs at least one)`);
    for (const adm of p.admissions) {
      const awhere = `${where}, admission ${adm.id}`;
      for (const code of adm.codes) {
        const k = this.codeIndex.get(code);
        if (k !== undefined) {
          push(this.codes.offset + k);
          continue;
        }
        checkCodeSystem(code, this.codeSystems, awhere);
        if (stats) stats.dropped_codes++;
      }
      push(SPECIAL.endCode);
      for (const t of this.encodeEvents(adm, awhere, unknown, stats)) push(t);
      push(SPECIAL.endTs);
      push(SPECIAL.endAdm);
    }
    push(SPECIAL.eos);

    const ids = out.slice(0, n);
    const bad = this.automaton.firstInvalid(ids);
    if (bad !== -1) throw new Error(`encodePatient: bug: ${where} encoded to a sequence the grammar rejects at ${bad}`);
    return ids;
  }

  /** The time-series part of one admission: { gap meas… }* */
  private encodeEvents(adm: Admission, where: string, unknown: 'error' | 'drop', stats?: EncodeStats): number[] {
    const events = adm.events;
    // event numbers in messages count in hours order (the record's order when it is sorted, as promised)
    const sorted = sortedByHours(events, where);
    const joint = this.config.strategy === 'joint';
    const out: number[] = [];
    // per time step: variable index -> measurement token(s) (-1 none); reset between steps
    const J = this.variables.length;
    const slotTok = new Int32Array(J).fill(-1);
    // repeats = 'mean': running sum and count of a continuous variable's values in the time step
    const mean = this.config.repeats === 'mean';
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
        const vi = this.variableIndex.get(e.variable);
        if (vi === undefined) {
          throw new SynehrError(
            'E_INPUT',
            `${where}, event ${j} (hours ${e.hours}): variable '${e.variable}' is not in data config '${this.dataName}' (variables: ${listNames(this.variables)})`,
          );
        }
        const tok = this.measurementToken(vi, e.value);
        if (tok < 0) {
          if (tok === UNKNOWN_CATEGORY && unknown === 'drop') {
            if (stats) stats.dropped_values++;
            continue;
          }
          throw this.measurementError(vi, e, tok, `${where}, event ${j} (hours ${e.hours})`);
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
      out.push(this.gaps.offset + binIndex(this.gaps.bins.edges, hours - prevHours));
      prevHours = hours;
      // loaders list a time step's variables in config order already; sort only when they do not
      for (let t = 1; t < touched.length; t++) {
        if (touched[t]! < touched[t - 1]!) {
          touched.sort((a, b) => a - b);
          break;
        }
      }
      for (const vi of touched) {
        const v = this.variables[vi]!;
        const tok = mean && v.type === 'continuous' && slotCount[vi]! > 1 ? this.measurementToken(vi, slotSum[vi]! / slotCount[vi]!) : slotTok[vi]!;
        if (!joint && v.type === 'continuous') {
          out.push(v.offset);
          out.push(this.sharedBins!.offset + tok);
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
  private measurementToken(vi: number, value: unknown): number {
    const v = this.variables[vi]!;
    if (v.type === 'continuous') {
      if (typeof value !== 'number' || !Number.isFinite(value)) return NOT_FINITE;
      const k = binIndex(v.bins!.edges, value);
      return this.config.strategy === 'joint' ? v.offset + k : k;
    }
    let key: string;
    if (typeof value === 'string') key = value;
    else if (typeof value === 'number' && Number.isFinite(value)) key = String(value);
    else return NOT_A_CATEGORY;
    const k = this.categoryIndex[vi]!.get(key);
    return k === undefined ? UNKNOWN_CATEGORY : v.offset + k;
  }

  private measurementError(vi: number, e: Measurement, code: number, where: string): SynehrError {
    const v = this.variables[vi]!;
    const shown = JSON.stringify(e.value);
    if (code === NOT_FINITE) return new SynehrError('E_INPUT', `${where}: '${v.name}' = ${shown} is not a finite number`);
    if (code === NOT_A_CATEGORY) return new SynehrError('E_INPUT', `${where}: '${v.name}' = ${shown} is not a category (a string or finite number)`);
    return new SynehrError('E_INPUT', `${where}: '${v.name}' = ${shown} is not one of its values (${v.categories!.values.join(', ')})`);
  }

  // -------------------------------------------------------------------------------------------
  // decoding

  /**
   * Decodes each row of a [B, T] batch of sampled ids, row-major, as int32 or as the int64 an ONNX
   * graph returns; rows end in <pad>s after </s>. Row b's patient id is `${idPrefix}${firstIndex + b}`.
   */
  decodeBatch(ids: ArrayLike<number> | BigInt64Array, T: number, opts: BatchDecodeOptions & { mode?: 'strict' }): PatientRecord[];
  decodeBatch(ids: ArrayLike<number> | BigInt64Array, T: number, opts: BatchDecodeOptions & { mode: 'lenient' }): LenientDecode[];
  decodeBatch(ids: ArrayLike<number> | BigInt64Array, T: number, opts: BatchDecodeOptions): (PatientRecord | LenientDecode)[] {
    if (!Number.isInteger(T) || T <= 0 || ids.length % T !== 0) {
      throw new RangeError(`decodeBatch: ${ids.length} ids are not a whole number of rows of T = ${T}`);
    }
    const B = ids.length / T;
    const row = new Int32Array(T); // [T]
    const out: (PatientRecord | LenientDecode)[] = [];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) row[t] = Number(ids[b * T + t]!);
      const id = `${opts.idPrefix ?? 'synthetic-'}${(opts.firstIndex ?? 0) + b}`;
      out.push(this.decode(row, { ...opts, id } as DecodeOptions & { mode: 'lenient' }));
    }
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions & { mode?: 'strict' }): PatientRecord;
  decode(ids: ArrayLike<number>, opts: DecodeOptions & { mode: 'lenient' }): LenientDecode;
  decode(ids: ArrayLike<number>, opts: DecodeOptions): PatientRecord | LenientDecode {
    const { rng } = opts;
    const id = opts.id ?? 'synthetic';
    const a = this.automaton;
    const record: PatientRecord = { id, covariates: {}, labels: {}, admissions: [] };
    for (const c of this.covariates) record.covariates[c.name] = null;
    let adm: Admission | null = null;
    let hours = 0;
    let pendingVar = -1;
    let state = a.startState;
    let error: DecodeError | null = null;
    const newAdmission = (): Admission => {
      const x: Admission = { id: `${id}-a${record.admissions.length}`, codes: [], events: [] };
      record.admissions.push(x);
      hours = 0;
      return x;
    };

    let pos = 0;
    for (; pos < ids.length; pos++) {
      const t = ids[pos]!;
      const nextState = a.step(state, t);
      if (nextState < 0) {
        const name = t >= 0 && t < this.vocab.length ? `'${this.vocab[t]}'` : '(out of range)';
        error = {
          position: pos,
          token: t,
          message: `token ${t} ${name} at position ${pos} is not allowed in state ${a.stateNames[state]} (expected one of ${describeAllowed(this, state)})`,
        };
        break;
      }
      const cls = this.tokenClass[t]!;
      const owner = this.tokenOwner[t]!;
      const k = this.tokenIndex[t]!;
      switch (cls) {
        case TokenClass.special:
          if (t === SPECIAL.endAdm) adm = null;
          break;
        case TokenClass.covariate: {
          const c = this.covariates[owner]!;
          if (k < 0) record.covariates[c.name] = null;
          else if (c.type === 'numeric') record.covariates[c.name] = drawInBin(c.bins!, k, rng);
          else record.covariates[c.name] = categoryValue(c.categories!, k);
          break;
        }
        case TokenClass.label: {
          const l = this.labels[owner]!;
          record.labels[l.name] = l.bins ? drawInBin(l.bins, k, rng) : l.values[k]!;
          break;
        }
        case TokenClass.code:
          adm ??= newAdmission();
          adm.codes.push(this.codes.values[k]!);
          break;
        case TokenClass.gap: {
          adm ??= newAdmission();
          const edges = this.gaps.bins.edges;
          let g = drawInBin(this.gaps.bins, k, rng);
          // a later time step must start after the previous one, or the two would merge into one
          // (many first steps sit at hour 0, so the first gap bin often draws an exact 0)
          if (adm.events.length > 0 && !(hours + g > hours)) g = Math.min(MIN_STEP_GAP_HOURS, edges[k + 1]! / 2);
          // hours are a running sum: rounding can put (hours + g) - hours just across a bin edge when
          // g sits on it (gaps of exactly 0.5 h are common), so nudge the sum until it re-encodes to bin k
          let t = hours + g;
          for (let i = 0; i < 8; i++) {
            const b = binIndex(edges, t - hours);
            if (b === k) break;
            t = nextFloat(t, b < k ? 1 : -1);
          }
          hours = t;
          break;
        }
        case TokenClass.measurement: {
          const v = this.variables[owner]!;
          const value = v.type === 'categorical' ? categoryValue(v.categories!, k) : drawInBin(v.bins!, k, rng);
          adm!.events.push({ hours, variable: v.name, value });
          break;
        }
        case TokenClass.variable:
          pendingVar = owner;
          break;
        case TokenClass.sharedBin: {
          const v = this.variables[pendingVar]!;
          adm!.events.push({ hours, variable: v.name, value: drawInBin(v.bins!, k, rng) });
          pendingVar = -1;
          break;
        }
      }
      // "</code>" of an admission without codes opens it too
      if (t === SPECIAL.endCode) adm ??= newAdmission();
      state = nextState;
    }
    if (!error && state !== a.endState) {
      error = {
        position: ids.length,
        token: -1,
        message: `sequence of ${ids.length} tokens ends in state ${a.stateNames[state]} before </s> (${a.distToEnd[state]} more tokens needed at least)`,
      };
    }
    if (error && (opts.mode ?? 'strict') === 'strict') {
      throw new SynehrError('E_DECODE', `decode: ${error.message}`);
    }
    // a valid record has at least one admission; a sequence cut before its first one gets an empty one
    if (record.admissions.length === 0) newAdmission();
    if ((opts.mode ?? 'strict') === 'lenient') return { record, error };
    return record;
  }

  // -------------------------------------------------------------------------------------------
  // files

  toJSON(): TokenizerJSON {
    return {
      format_version: TOKENIZER_FORMAT_VERSION,
      kind: 'synehr-tokenizer',
      data_name: this.dataName,
      data_config_hash: this.dataConfigHash,
      config: this.config,
      special: { ...SPECIAL },
      vocab: this.vocab,
      covariates: this.covariates,
      labels: this.labels,
      code_systems: this.codeSystems,
      codes: this.codes,
      gaps: this.gaps,
      variables: this.variables,
      shared_bins: this.sharedBins,
      automaton: this.automaton.toJSON(),
    };
  }

  saveTokenizer(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(this.toJSON()) + '\n');
  }

  /** A short hash of the vocabulary, written into token shards so a shard can be matched to its tokenizer. */
  vocabHash(): string {
    return createHash('sha256').update(JSON.stringify(this.vocab)).digest('hex').slice(0, 32);
  }

  /** Throws when `data` is not the data config this tokenizer was fitted for. */
  checkDataConfig(data: DataConfig): void {
    const h = dataConfigHash(data);
    if (h !== this.dataConfigHash) {
      throw new SynehrError(
        'E_TOKENIZER_DATA',
        `tokenizer was fitted for data config '${this.dataName}' (hash ${this.dataConfigHash.slice(0, 12)}), not for '${data.name}' (hash ${h.slice(0, 12)}): refit it with \`synehr tokenize data=${data.name}\``,
      );
    }
  }
}

export function saveTokenizer(tok: Tokenizer, path: string): void {
  tok.saveTokenizer(path);
}

/** Reads tokenizer.json; refuses a file of another format version or kind with a clear error. */
export function loadTokenizer(path: string): Tokenizer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SynehrError('E_TOKENIZER_FILE', `${path}: cannot read tokenizer (${(e as Error).message}); run \`synehr tokenize\` first`);
  }
  let j: TokenizerJSON;
  try {
    j = JSON.parse(text) as TokenizerJSON;
  } catch (e) {
    throw new SynehrError('E_TOKENIZER_FILE', `${path}: not valid JSON (${(e as Error).message})`);
  }
  return tokenizerFromJSON(j, path);
}

export function tokenizerFromJSON(j: TokenizerJSON, source = 'tokenizer.json'): Tokenizer {
  if (typeof j !== 'object' || j === null || j.kind !== 'synehr-tokenizer') {
    throw new SynehrError('E_TOKENIZER_FILE', `${source}: not a synehr tokenizer (kind is ${JSON.stringify((j as { kind?: unknown })?.kind)})`);
  }
  if (j.format_version !== TOKENIZER_FORMAT_VERSION) {
    throw new SynehrError(
      'E_TOKENIZER_VERSION',
      `${source}: tokenizer format_version ${JSON.stringify(j.format_version)} is not supported (this synehr reads version ${TOKENIZER_FORMAT_VERSION}); refit with \`synehr tokenize\``,
    );
  }
  try {
    const config = tokenizerConfigSchema.parse(j.config);
    return new Tokenizer({ ...j, config });
  } catch (e) {
    if (e instanceof SynehrError) throw new SynehrError(e.code, `${source}: ${e.message}`);
    throw new SynehrError('E_TOKENIZER_FILE', `${source}: malformed tokenizer (${(e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** The adjacent double above (dir 1) or below (dir -1) a finite, non-negative x. */
function nextFloat(x: number, dir: 1 | -1): number {
  if (x === 0) return dir > 0 ? Number.MIN_VALUE : 0;
  f64[0] = x;
  i64[0] += BigInt(dir);
  return f64[0]!;
}

function layoutStates(k: number, L: number, variables: FittedVariable[], varQuant: boolean): StateLayout {
  const names: string[] = [];
  const alloc = (name: string): number => names.push(name) - 1;
  const pre = alloc('start');
  const cov = names.length;
  for (let i = 0; i < k; i++) alloc(`cov[${i}]`);
  alloc('expect </covar>');
  const label = names.length;
  for (let i = 0; i <= L; i++) alloc(`labels_from[${i}]`);
  const inCodes = alloc('in_codes');
  const afterAdm = alloc('after_adm');
  const tsStart = alloc('ts_start');
  const afterGap = alloc('after_gap');
  const afterMeas = names.length;
  variables.forEach((v, j) => alloc(`after_meas[${j}]:${v.name}`));
  // only reachable states: a variable token exists for continuous variables under var+quant only
  const varPending = variables.map((v, j) => (varQuant && v.type === 'continuous' ? alloc(`var_pending[${j}]:${v.name}`) : -1));
  const afterTs = alloc('after_ts');
  const end = alloc('end');
  return { S: names.length, pre, cov, label, inCodes, afterAdm, tsStart, afterGap, afterMeas, varPending, afterTs, end, names };
}

function labelTokenCount(l: FittedLabel): number {
  return l.bins ? l.bins.quantiles.length : l.values.length;
}

function covariateValueCount(c: FittedCovariate): number {
  return c.type === 'numeric' ? c.bins!.quantiles.length : c.categories!.values.length;
}

function categoryValue(c: Categories, k: number): string | number {
  const s = c.values[k]!;
  return c.numeric ? Number(s) : s;
}

function describeAllowed(tok: Tokenizer, state: number): string {
  const allowed = tok.automaton.allowed(state);
  const names = allowed.slice(0, 6).map((t) => `'${tok.vocab[t]}'`);
  return allowed.length > 6 ? `${names.join(', ')}, ... (${allowed.length} tokens)` : names.join(', ') || 'nothing';
}
