/**
 * Decoding token ids back to a patient record, in three passes:
 *
 * 1. parse: walk the automaton, collecting covariate and label tokens, each admission's codes and
 *    its time steps (a gap bin and the (variable, bin) measurements after it);
 * 2. times: per admission, draw each gap inside its gap bin from the training gaps there, so that
 *    the admission ends inside the window (the gaps are drawn jointly under that bound, series.ts
 *    has none of this);
 * 3. values: covariates and labels are drawn inside their bins; each continuous variable's values
 *    follow the patient's series model (series.ts), so a series stays as steady as real ones;
 *    categorical values, labels with one token per value, and codes come back exactly.
 *
 * The same seed gives the same record.
 */
import type { Admission, PatientRecord } from '../records/types.ts';
import type { GrammarAutomaton } from './automaton.ts';
import { binCount, binIndex, drawInBin, type BinSet } from './bins.ts';
import { SeriesDecoder, type SeriesState } from './series.ts';
import { SPECIAL_IDS as SPECIAL, TokenClass, categoryValue, type FittedGaps, type Vocabulary } from './vocabulary.ts';
import { gapHours } from '../records/time.ts';
import { SynehrError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';

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

/** Draws of all gaps of an admission tried before the gaps are drawn one by one under the window. */
const JOINT_TRIES = 16;

/** What decoding needs besides the vocabulary and automaton, built once per tokenizer. */
export class DecodeTables {
  /** [J] per continuous variable its series decoder, null for categorical ones */
  readonly series: (SeriesDecoder | null)[];
  readonly gaps: GapDecoder;

  constructor(v: Vocabulary) {
    this.series = v.variables.map((x) => (x.type === 'continuous' ? new SeriesDecoder(x.bins!, x.series ?? { stick: 0, rho: 0 }) : null));
    this.gaps = new GapDecoder(v.gaps, v.parts.window_hours);
  }
}

interface Step {
  gap: number;
  /** per measurement: variable index, bin (continuous) or value index (categorical) */
  vars: number[];
  bins: number[];
}

interface ParsedAdmission {
  codes: string[];
  steps: Step[];
}

/** Decodes one sequence; see the module comment. */
export function decodeIds(v: Vocabulary, a: GrammarAutomaton, tables: DecodeTables, ids: ArrayLike<number>, opts: DecodeOptions): LenientDecode {
  const { rng } = opts;
  const id = opts.id ?? 'synthetic';

  // 1. parse
  const covTok = new Int32Array(v.covariates.length).fill(-1);
  const labTok = new Int32Array(v.labels.length).fill(-2); // -2: absent
  const adms: ParsedAdmission[] = [];
  let adm: ParsedAdmission | null = null;
  let step: Step | null = null;
  let pendingVar = -1;
  // delta_bins: per variable its latest bin so far (-1 none); a delta token steps from it
  const lastBin = new Int32Array(v.variables.length).fill(-1);
  let state = a.startState;
  let error: DecodeError | null = null;
  const open = (): ParsedAdmission => {
    const x: ParsedAdmission = { codes: [], steps: [] };
    adms.push(x);
    step = null;
    return x;
  };
  for (let pos = 0; pos < ids.length; pos++) {
    const t = ids[pos]!;
    const nextState = a.step(state, t);
    if (nextState < 0) {
      const name = t >= 0 && t < v.vocab.length ? `'${v.vocab[t]}'` : '(out of range)';
      error = {
        position: pos,
        token: t,
        message: `token ${t} ${name} at position ${pos} is not allowed in state ${a.stateNames[state]} (expected one of ${describeAllowed(v, a, state)})`,
      };
      break;
    }
    const owner = v.tokenOwner[t]!;
    const k = v.tokenIndex[t]!;
    switch (v.tokenClass[t]!) {
      case TokenClass.special:
        if (t === SPECIAL.endAdm) adm = null;
        // "</code>" of an admission without codes opens it too
        if (t === SPECIAL.endCode) adm ??= open();
        break;
      case TokenClass.covariate:
        covTok[owner] = k;
        break;
      case TokenClass.label:
        labTok[owner] = k;
        break;
      case TokenClass.code:
        adm ??= open();
        adm.codes.push(v.codes.values[k]!);
        break;
      case TokenClass.gap:
        adm ??= open();
        step = { gap: k, vars: [], bins: [] };
        adm.steps.push(step);
        break;
      case TokenClass.measurement:
        step!.vars.push(owner);
        step!.bins.push(k);
        lastBin[owner] = k;
        break;
      case TokenClass.delta: {
        const bin = lastBin[owner]! + k;
        const bins = binCount(v.variables[owner]!.bins!);
        if (lastBin[owner]! < 0 || bin >= bins || bin < 0) {
          const why = lastBin[owner]! < 0 ? `no earlier value of '${v.variables[owner]!.name}' to step from` : `bin ${lastBin[owner]} ${k < 0 ? '' : '+'}${k} is outside 0..${bins - 1}`;
          error = { position: pos, token: t, message: `token ${t} '${v.vocab[t]}' at position ${pos}: ${why}` };
        } else {
          step!.vars.push(owner);
          step!.bins.push(bin);
          lastBin[owner] = bin;
        }
        break;
      }
      case TokenClass.variable:
        pendingVar = owner;
        break;
      case TokenClass.sharedBin:
        step!.vars.push(pendingVar);
        step!.bins.push(k);
        pendingVar = -1;
        break;
    }
    if (error) break;
    state = nextState;
  }
  if (!error && state !== a.endState) {
    error = {
      position: ids.length,
      token: -1,
      message: `sequence of ${ids.length} tokens ends in state ${a.stateNames[state]} before </s> (${a.distToEnd[state]} more tokens needed at least)`,
    };
  }
  if (error && (opts.mode ?? 'strict') === 'strict') throw new SynehrError('E_DECODE', `decode: ${error.message}`);

  // 3. (covariates and labels first, so a record's draws do not depend on its length)
  const record: PatientRecord = { id, covariates: {}, labels: {}, admissions: [] };
  v.covariates.forEach((c, i) => {
    const k = covTok[i]!;
    record.covariates[c.name] = k < 0 ? null : c.type === 'numeric' ? drawInBin(c.bins!, k, rng) : categoryValue(c.categories!, k);
  });
  v.labels.forEach((l, i) => {
    const k = labTok[i]!;
    if (k >= 0) record.labels[l.name] = l.bins ? drawInBin(l.bins, k, rng) : l.values[k]!;
  });
  // 2. times, then 3. values, admission by admission; a variable's series runs across admissions
  const prev: (SeriesState | null)[] = new Array(v.variables.length).fill(null);
  for (const pa of adms) {
    const out: Admission = { id: `${id}-a${record.admissions.length}`, codes: pa.codes, events: [] };
    record.admissions.push(out);
    const hours = tables.gaps.times(pa.steps.map((s) => s.gap), rng);
    pa.steps.forEach((s, si) => {
      for (let m = 0; m < s.vars.length; m++) {
        const j = s.vars[m]!;
        const x = v.variables[j]!;
        let value: number | string;
        if (x.type === 'categorical') value = categoryValue(x.categories!, s.bins[m]!);
        else {
          const next = tables.series[j]!.next(s.bins[m]!, prev[j]!, rng);
          prev[j] = next;
          value = next.value;
        }
        out.events.push({ hours: hours[si]!, variable: x.name, value });
      }
    });
  }
  // a valid record has at least one admission; a sequence cut before its first one gets an empty one
  if (record.admissions.length === 0) record.admissions.push({ id: `${id}-a0`, codes: [], events: [] });
  return { record, error };
}

/** Decodes each row of a [B, T] batch of ids; see Tokenizer.decodeBatch. */
export function decodeRows(
  v: Vocabulary,
  a: GrammarAutomaton,
  tables: DecodeTables,
  ids: ArrayLike<number> | BigInt64Array,
  T: number,
  opts: BatchDecodeOptions,
): LenientDecode[] {
  if (!Number.isInteger(T) || T <= 0 || ids.length % T !== 0) {
    throw new RangeError(`decodeBatch: ${ids.length} ids are not a whole number of rows of T = ${T}`);
  }
  const B = ids.length / T;
  const row = new Int32Array(T); // [T]
  const out: LenientDecode[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) row[t] = Number(ids[b * T + t]!);
    const id = `${opts.idPrefix ?? 'synthetic-'}${(opts.firstIndex ?? 0) + b}`;
    out.push(decodeIds(v, a, tables, row, { ...opts, id }));
  }
  return out;
}

/**
 * The hours of an admission's time steps from their gap bins. Each gap is a training gap of its
 * bin; a step after the first is strictly later than the one before (its gap is > 0). With a
 * window W, the gaps are drawn jointly under "the last step is at or before W", which is how the
 * real admissions were cut: whole draws are tried first (exact under that condition), then, if none
 * fits, each gap is drawn under the budget its successors' smallest gaps leave.
 */
export class GapDecoder {
  private readonly bins: BinSet;
  private readonly minStep: number[];
  private readonly window: number | null;
  /** [K] index of each bin's first atom > 0 */
  private readonly firstPositive: number[];

  constructor(gaps: FittedGaps, windowHours: number | null) {
    this.bins = gaps.bins;
    this.minStep = gaps.min_step;
    this.window = windowHours;
    this.firstPositive = gaps.bins.atoms.map((a) => {
      let i = 0;
      while (i < a.length && !(a[i]! > 0)) i++;
      return i;
    });
  }

  times(ks: readonly number[], rng: Rng): number[] {
    const n = ks.length;
    const g = new Array<number>(n);
    if (n === 0) return g;
    for (let attempt = 0; attempt < JOINT_TRIES; attempt++) {
      for (let i = 0; i < n; i++) g[i] = this.draw(ks[i]!, i === 0, Infinity, rng);
      // judged on the hours themselves: summing can move a time step by an ulp (see accumulate)
      const hours = this.accumulate(ks, g, false);
      if (this.window === null || hours[n - 1]! <= this.window) return hours;
    }
    // one by one: gap i may use what the smallest gaps of steps i+1.. leave of the window
    const lo = ks.map((k, i) => this.lowest(k, i === 0));
    const after = new Float64Array(n + 1); // [n+1] sum of lo[i..]
    for (let i = n - 1; i >= 0; i--) after[i] = after[i + 1]! + lo[i]!;
    // t is the hours as accumulate will put them, on the 1e-9 h grid, and each budget is rounded down
    // to that grid: with the raw sum, a step rounded up by the grid left the last gap a budget that
    // put it past the window, and the clamp to the window then moved that gap into a lower bin
    let t = 0;
    for (let i = 0; i < n; i++) {
      g[i] = this.draw(ks[i]!, i === 0, Math.max(lo[i]!, belowOnGrid(this.window! - t - after[i + 1]!)), rng);
      t = onGrid(t + g[i]!);
    }
    return this.accumulate(ks, g);
  }

  /**
   * A gap of bin k: a training gap of the bin (> 0 after the first step), among those at most
   * `budget`; when the bin has none that small, the budget itself, which then lies between the
   * bin's lowest gap and its smallest training gap, so still in the bin.
   */
  private draw(k: number, first: boolean, budget: number, rng: Rng): number {
    const a = this.bins.atoms[k]!;
    const start = first ? 0 : this.firstPositive[k]!;
    if (start >= a.length) {
      // first steps, and empty bins above 0, draw between the edges; a bin whose training gaps were
      // all 0 (first steps at hour 0) gives a later step its smallest positive gap
      const x = first || (a.length === 0 && this.bins.edges[k]! > 0) ? drawInBin(this.bins, k, rng) : this.minStep[k]!;
      return Math.min(x, Math.max(budget, this.lowest(k, first)));
    }
    if (budget < a[start]!) return Math.max(budget, this.lowest(k, first));
    let end = a.length;
    if (budget < a[end - 1]!) {
      // atoms ascend: keep those <= budget
      let lo = start;
      let hi = end;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (a[mid]! <= budget) lo = mid + 1;
        else hi = mid;
      }
      end = lo;
    }
    return a[start + Math.floor(rng.float() * (end - start))]!;
  }

  /** The smallest gap bin k can give: 0 for a first step in bin 0, else its lower edge (min_step after the first). */
  private lowest(k: number, first: boolean): number {
    return first ? (k === 0 ? 0 : this.bins.edges[k]!) : this.minStep[k]!;
  }

  /**
   * Running sums of the gaps, each nudged by a few ulps where floating point would put
   * (t + g) - t across a bin edge (gaps that sit exactly on an edge, such as 1 h, are common),
   * and held inside the window.
   */
  private accumulate(ks: readonly number[], g: number[], clamp = true): number[] {
    const edges = this.bins.edges;
    const out = new Array<number>(ks.length);
    let hours = 0;
    for (let i = 0; i < ks.length; i++) {
      const k = ks[i]!;
      // on the 1e-9 h grid gaps are measured on: sums of grid gaps stay exact, so a step's gap
      // re-measures to the gap drawn and the window compares exactly
      let t = onGrid(hours + g[i]!);
      // a gap far below the hours' precision is absorbed by the sum: the step goes one ulp later instead
      if (i > 0 && !(t > hours)) t = nextFloat(hours, 1);
      for (let r = 0; r < 8; r++) {
        const b = binIndex(edges, gapHours(hours, t));
        if (b === k) break;
        t = nextFloat(t, b < k ? 1 : -1);
      }
      if (clamp && this.window !== null && t > this.window) t = Math.max(hours, this.window);
      out[i] = hours = t;
    }
    if (clamp) this.separateAtWindow(out);
    return out;
  }

  /**
   * Steps the window's clamp left at the hour before them move back an ulp at a time, last first,
   * so the steps stay strictly later than each other. Within the window's budget this happens only
   * to a last gap of a few ulps after a step that the 1e-9 h grid rounded up onto the window; the
   * real record had both below it. Moving a step by ulps keeps a gap measured on the grid in its
   * bin, and a gap below the grid is its own length, still > 0 (the round-trip tests check both).
   * A sequence that asks for more time than the window holds loses bins here either way.
   */
  private separateAtWindow(out: number[]): void {
    for (let j = out.length - 1; j > 0; j--) if (!(out[j - 1]! < out[j]!)) out[j - 1] = nextFloat(out[j]!, -1);
  }
}

/** x rounded down to the 1e-9 grid of gapHours (as onGrid, below 1e6 h). */
function belowOnGrid(x: number): number {
  return Math.abs(x) < 1e6 ? Math.floor(x * 1e9) / 1e9 : x;
}

/** x rounded to the 1e-9 grid of gapHours (exact in float64 below 1e6 h; larger hours are left as they are). */
function onGrid(x: number): number {
  return Math.abs(x) < 1e6 ? Math.round(x * 1e9) / 1e9 : x;
}

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** The adjacent double above (dir 1) or below (dir -1) a finite, non-negative x. */
function nextFloat(x: number, dir: 1 | -1): number {
  if (x === 0) return dir > 0 ? Number.MIN_VALUE : 0;
  f64[0] = x;
  i64[0] += BigInt(dir);
  return f64[0]!;
}

function describeAllowed(v: Vocabulary, a: GrammarAutomaton, state: number): string {
  const allowed = a.allowed(state);
  const names = allowed.slice(0, 6).map((t) => `'${v.vocab[t]}'`);
  return allowed.length > 6 ? `${names.join(', ')}, ... (${allowed.length} tokens)` : names.join(', ') || 'nothing';
}
