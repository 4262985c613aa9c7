/**
 * The fitted vocabulary: what each token id stands for, in DESIGN.md's order.
 *
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
 * `Vocabulary` holds the fitted parts and the per-token lookup tables that encoding, decoding and
 * the grammar share.
 */
import { createHash } from 'node:crypto';
import type { TokenizerConfig } from './config.ts';
import { binCount, type BinSet } from './bins.ts';
import type { SeriesModel } from './series.ts';
import { SynehrError } from '../util/errors.ts';

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
  delta: 8, // delta_bins: a continuous variable's step from its previous bin
} as const;
export type TokenClassId = (typeof TokenClass)[keyof typeof TokenClass];
export const TOKEN_CLASS_NAMES = ['special', 'covariate', 'label', 'code', 'gap', 'measurement', 'variable', 'shared_bin', 'delta'];

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
  /** no training patient lacks it: the grammar never allows "missing" */
  required: boolean;
}

export interface FittedLabel {
  name: string;
  /** one token per value (empty when binned) */
  values: number[];
  /** a high-cardinality label: one token per bin */
  bins?: BinSet;
  offset: number;
  /** every training patient has it: the grammar requires it */
  required: boolean;
}

export interface FittedVariable {
  name: string;
  type: 'continuous' | 'categorical';
  bins?: BinSet;
  categories?: Categories;
  /** continuous variables: how a patient's series of it is decoded (series.ts) */
  series?: SeriesModel;
  /** joint: first bin/value token; var+quant: the variable token (continuous) or first value token */
  offset: number;
  /** delta_bins > 0, continuous: the token of step −delta_bins; step d is delta_offset + delta_bins + d */
  delta_offset?: number;
}

export interface FittedGaps {
  offset: number;
  bins: BinSet;
  /**
   * [K] the smallest gap a time step after the first decodes to in each gap bin (> 0: steps are
   * distinct in time). The sampler adds these up to keep an admission inside its window.
   */
  min_step: number[];
}

/** Everything a fitted tokenizer holds besides its automaton (which follows from these). */
export interface TokenizerParts {
  data_name: string;
  /** dataConfigHash(): sha256 of the data config's covariates, labels, variables, code systems, window and split */
  data_config_hash: string;
  config: TokenizerConfig;
  special: SpecialIds;
  vocab: string[];
  covariates: FittedCovariate[];
  labels: FittedLabel[];
  code_systems: string[];
  codes: { offset: number; values: string[]; counts: number[] };
  gaps: FittedGaps;
  variables: FittedVariable[];
  shared_bins: { offset: number; count: number } | null;
  /**
   * hours after an admission's start that no event may pass: the data config's window_hours, else
   * the training split's latest event; null when training had no events
   */
  window_hours: number | null;
}

/** The smallest float32 >= x (x finite and >= 0). */
function float32AtLeast(x: number): number {
  const f = Math.fround(x);
  if (f >= x) return f;
  const b = new Float32Array([f]);
  new Int32Array(b.buffer)[0]! += 1;
  return b[0]!;
}

export function covariateValueCount(c: FittedCovariate): number {
  return c.type === 'numeric' ? binCount(c.bins!) : c.categories!.values.length;
}

export function labelTokenCount(l: FittedLabel): number {
  return l.bins ? binCount(l.bins) : l.values.length;
}

export function categoryValue(c: Categories, k: number): string | number {
  const s = c.values[k]!;
  return c.numeric ? Number(s) : s;
}

/** Vocabulary.memoryTable(): which token sets which variable's latest value, per token [V]. */
export interface MemoryTable {
  /** J: the variables, then (with `labels`) the labels */
  variables: number;
  /** the last `labels` of the J are the data's labels (model.memory_labels), 0 without: their value is summed into the embedding, not averaged, and has no kernel */
  labels: number;
  /** the variable a token sets, -1 for none */
  owner: Int32Array;
  /** the value token it sets: itself for a measurement token, -1 for a relative-bin step */
  sets: Int32Array;
  /** a relative-bin step's offset from its variable's latest value token, 0 for others */
  step: Int32Array;
  /** a value token's variable's first value token (its bins or categories are consecutive ids), -1 for others */
  first: Int32Array;
}

export class Vocabulary {
  readonly parts: TokenizerParts;
  readonly vocab: string[];
  readonly covariates: FittedCovariate[];
  readonly labels: FittedLabel[];
  readonly variables: FittedVariable[];
  readonly codes: TokenizerParts['codes'];
  readonly gaps: FittedGaps;
  readonly sharedBins: TokenizerParts['shared_bins'];
  readonly joint: boolean;
  /** config.delta_bins: steps of up to this many bins are written relative to the previous bin (0 = off) */
  readonly deltaBins: number;
  /** config.label_position is 'last': the labels follow the last admission, so no prefix holds them */
  readonly labelsLast: boolean;

  /** [V] the class of each token (TokenClass) */
  readonly tokenClass: Uint8Array;
  /** [V] which covariate / label / variable a token belongs to (-1 for others) */
  readonly tokenOwner: Int32Array;
  /** [V] bin or value index within its owner (code index for codes, bin for gaps and shared bins; the step for delta tokens) */
  readonly tokenIndex: Int32Array;

  readonly covariateIndex = new Map<string, number>();
  readonly labelIndex = new Map<string, number>();
  readonly variableIndex = new Map<string, number>();
  readonly codeIndex = new Map<string, number>();
  /** per variable: categorical value -> value index */
  readonly categoryIndex: Map<string, number>[];
  /** per covariate: categorical value -> value index */
  readonly covCategoryIndex: Map<string, number>[];

  /** Checks that the stored offsets tile the vocabulary exactly, and builds the lookup tables. */
  constructor(parts: TokenizerParts) {
    this.parts = parts;
    this.vocab = parts.vocab;
    this.covariates = parts.covariates;
    this.labels = parts.labels;
    this.variables = parts.variables;
    this.codes = parts.codes;
    this.gaps = parts.gaps;
    this.sharedBins = parts.shared_bins;
    this.joint = parts.config.strategy === 'joint';
    this.deltaBins = parts.config.delta_bins;
    this.labelsLast = parts.config.label_position === 'last';
    const V = this.vocab.length;

    this.covariates.forEach((c, i) => this.covariateIndex.set(c.name, i));
    this.labels.forEach((l, i) => this.labelIndex.set(l.name, i));
    this.variables.forEach((v, i) => this.variableIndex.set(v.name, i));
    this.codes.values.forEach((c, i) => this.codeIndex.set(c, i));
    this.categoryIndex = this.variables.map((v) => new Map((v.categories?.values ?? []).map((s, i) => [s, i])));
    this.covCategoryIndex = this.covariates.map((c) => new Map((c.categories?.values ?? []).map((s, i) => [s, i])));

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
    for (let k = 0; k < binCount(this.gaps.bins); k++) mark(this.gaps.offset + k, TokenClass.gap, -1, k);
    this.variables.forEach((v, i) => {
      if (v.type === 'categorical') v.categories!.values.forEach((_, k) => mark(v.offset + k, TokenClass.measurement, i, k));
      else if (this.joint) for (let k = 0; k < binCount(v.bins!); k++) mark(v.offset + k, TokenClass.measurement, i, k);
      else mark(v.offset, TokenClass.variable, i, -1);
      if (v.delta_offset !== undefined) for (let k = 0; k < 2 * this.deltaBins + 1; k++) mark(v.delta_offset + k, TokenClass.delta, i, k - this.deltaBins);
    });
    if (this.sharedBins) {
      for (let k = 0; k < this.sharedBins.count; k++) mark(this.sharedBins.offset + k, TokenClass.sharedBin, -1, k);
    }
    const hole = this.tokenClass.indexOf(255);
    if (hole >= 0) throw new SynehrError('E_TOKENIZER_FILE', `tokenizer: token ${hole} ('${this.vocab[hole]}') belongs to nothing`);
    if (this.gaps.min_step.length !== binCount(this.gaps.bins)) {
      throw new SynehrError('E_TOKENIZER_FILE', `tokenizer: gaps.min_step has ${this.gaps.min_step.length} entries for ${binCount(this.gaps.bins)} gap bins`);
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

  /** Token names, space-separated, for logs and messages. */
  tokensToString(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) out.push(this.vocab[ids[i]!] ?? `<?${ids[i]}>`);
    return out.join(' ');
  }

  /** A short hash of the vocabulary, written into token shards so a shard can be matched to its tokenizer. */
  vocabHash(): string {
    return createHash('sha256').update(JSON.stringify(this.vocab)).digest('hex').slice(0, 32);
  }

  /**
   * Relative bins as the sampler needs them (null when delta_bins is 0), per token [V]: the
   * continuous variable it sets (-1 for none), the bin an absolute token sets (-1 for delta tokens),
   * the step a delta token takes (0 for others) and its variable's bin count (0 for non-delta
   * tokens). A delta token is allowed only once its variable has a value and the step stays in
   * [0, bins).
   */
  deltaTable(): { variables: number; owner: Int32Array; absBin: Int32Array; step: Int32Array; bins: Int32Array } | null {
    if (this.deltaBins === 0) return null;
    const V = this.vocab.length;
    const owner = new Int32Array(V).fill(-1);
    const absBin = new Int32Array(V).fill(-1);
    const step = new Int32Array(V);
    const bins = new Int32Array(V);
    for (let t = 0; t < V; t++) {
      const j = this.tokenOwner[t]!;
      const cls = this.tokenClass[t]!;
      if (cls === TokenClass.measurement && this.variables[j]!.type === 'continuous') {
        owner[t] = j;
        absBin[t] = this.tokenIndex[t]!;
      } else if (cls === TokenClass.delta) {
        owner[t] = j;
        step[t] = this.tokenIndex[t]!;
        bins[t] = binCount(this.variables[j]!.bins!);
      }
    }
    return { variables: this.variables.length, owner, absBin, step, bins };
  }

  /**
   * The value memory's table (model.value_memory, src/train/memory.ts), per token [V]: the variable
   * whose latest value it sets (-1 for none), the value token it sets (itself for a measurement
   * token, -1 for a relative-bin step), the step a relative-bin token takes from its variable's
   * latest value token (0 for others) and a value token's variable's first token (a variable's bin
   * or category tokens are consecutive ids, so |v − u| is their distance in bins). Only the joint
   * strategy writes each value as one token; var+quant is refused.
   */
  /**
   * With `labels` (model.memory_labels), each label is a memory variable after the series
   * variables, J = variables + labels: its token sets it (first −1: no kernel, no offset).
   */
  memoryTable(opts: { labels?: boolean } = {}): MemoryTable {
    if (!this.joint) {
      throw new SynehrError('E_CONFIG_VALUE', `model.value_memory needs tokenizer.strategy 'joint' (one token per value), got '${this.parts.config.strategy}'; set model.value_memory=false to train the plain GPT on this tokenizer`);
    }
    const V = this.vocab.length;
    const owner = new Int32Array(V).fill(-1);
    const sets = new Int32Array(V).fill(-1);
    const step = new Int32Array(V);
    const first = new Int32Array(V).fill(-1);
    for (let t = 0; t < V; t++) {
      const cls = this.tokenClass[t]!;
      if (cls === TokenClass.measurement) {
        owner[t] = this.tokenOwner[t]!;
        sets[t] = t;
        first[t] = this.variables[owner[t]!]!.offset;
      } else if (cls === TokenClass.delta) {
        owner[t] = this.tokenOwner[t]!;
        step[t] = this.tokenIndex[t]!;
      } else if (cls === TokenClass.label && opts.labels) {
        owner[t] = this.variables.length + this.tokenOwner[t]!;
        sets[t] = t;
      }
    }
    const labels = opts.labels ? this.labels.length : 0;
    return { variables: this.variables.length + labels, labels, owner, sets, step, first };
  }

  /**
   * The time window as the sampler needs it: [V] the fewest hours each token moves an admission's
   * clock (a gap token its bin's min_step, others 0), the tokens that restart the clock (`</adm>`),
   * and the window itself (null = none).
   */
  clock(): { stepHours: Float32Array; resets: number[]; windowHours: number | null } {
    const stepHours = new Float32Array(this.vocab.length);
    // rounded up to float32, so the sampler's sum never undercounts what decoding must give
    this.gaps.min_step.forEach((h, k) => (stepHours[this.gaps.offset + k] = float32AtLeast(h)));
    return { stepHours, resets: [SPECIAL_IDS.endAdm], windowHours: this.parts.window_hours };
  }
}
