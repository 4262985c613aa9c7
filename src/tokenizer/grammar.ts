/**
 * The sequence grammar of a vocabulary, as a GrammarAutomaton (DESIGN.md, "Tokenizer and grammar"):
 *
 *   <s> cov_1 … cov_k </covar> label… </label> { code… </code> { gap meas… }* </ts> </adm> }+ </s>
 *
 * or, with the tokenizer's label_position 'last', the labels after the last admission:
 *
 *   <s> cov_1 … cov_k </covar> { code… </code> { gap meas… }* </ts> </adm> }+ label… </label> </s>
 *
 * Every covariate gets exactly one token (its value, bin or "missing"; "missing" is forbidden for a
 * covariate no training patient lacks). Labels come in data config order, at most one each, and a
 * label every training patient has is required. A time step is a set: one gap token, then one
 * measurement per variable in strictly ascending data-config variable order.
 *
 * States: start, cov[i] (expecting covariate i), expect </covar>, labels_from[i] (the next label
 * must be label i or later), in_codes, after_adm, ts_start, after_gap, after_meas[j] (next: a
 * variable after j, a gap or </ts>), var_pending[j] (var+quant: expecting variable j's bin),
 * after_ts, end (only <pad> follows). With the labels last, after_adm is labels_from[0] (another
 * admission or the first label), and </label> leads to expect </s>.
 */
import { GrammarAutomaton, type TransitionRun } from './automaton.ts';
import { binCount } from './bins.ts';
import { SPECIAL_IDS as SPECIAL, covariateValueCount, labelTokenCount, type FittedVariable, type Vocabulary } from './vocabulary.ts';

export interface StateLayout {
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
  /** labels last: the state after </label>, expecting </s> (-1 with the labels first) */
  expectEos: number;
  end: number;
  names: string[];
}

export function layoutStates(k: number, L: number, variables: FittedVariable[], varQuant: boolean, labelsLast = false): StateLayout {
  const names: string[] = [];
  const alloc = (name: string): number => names.push(name) - 1;
  const pre = alloc('start');
  const cov = names.length;
  for (let i = 0; i < k; i++) alloc(`cov[${i}]`);
  alloc('expect </covar>');
  const label = names.length;
  for (let i = 0; i <= L; i++) alloc(labelsLast && i === 0 ? 'after_adm' : `labels_from[${i}]`);
  const inCodes = alloc('in_codes');
  const afterAdm = labelsLast ? label : alloc('after_adm');
  const tsStart = alloc('ts_start');
  const afterGap = alloc('after_gap');
  const afterMeas = names.length;
  variables.forEach((v, j) => alloc(`after_meas[${j}]:${v.name}`));
  // only reachable states: a variable token exists for continuous variables under var+quant only
  const varPending = variables.map((v, j) => (varQuant && v.type === 'continuous' ? alloc(`var_pending[${j}]:${v.name}`) : -1));
  const afterTs = alloc('after_ts');
  const expectEos = labelsLast ? alloc('expect </s>') : -1;
  const end = alloc('end');
  return { S: names.length, pre, cov, label, inCodes, afterAdm, tsStart, afterGap, afterMeas, varPending, afterTs, expectEos, end, names };
}

/** The automaton of `v`'s grammar, and its state layout. */
export function buildGrammar(v: Vocabulary): { automaton: GrammarAutomaton; states: StateLayout } {
  const labelsLast = v.labelsLast;
  const st = layoutStates(v.covariates.length, v.labels.length, v.variables, !v.joint, labelsLast);
  const runs: TransitionRun[] = [];
  const add = (s: number, t0: number, t1: number, n: number): void => {
    if (t1 > t0) runs.push([s, t0, t1, n]);
  };
  const one = (s: number, t: number, n: number): void => add(s, t, t + 1, n);
  const k = v.covariates.length;
  const L = v.labels.length;

  one(st.pre, SPECIAL.bos, st.cov);
  // state cov+i expects covariate i; cov+k expects </covar>
  v.covariates.forEach((c, i) => {
    add(st.cov + i, c.offset, c.offset + covariateValueCount(c), st.cov + i + 1);
    if (!c.required) one(st.cov + i, c.missing, st.cov + i + 1);
  });
  one(st.cov + k, SPECIAL.endCovar, labelsLast ? st.inCodes : st.label);
  // labels_from[i]: any label j >= i up to the first required one (which cannot be skipped);
  // </label> only once no required label is left
  for (let i = 0; i <= L; i++) {
    let r = i;
    while (r < L && !v.labels[r]!.required) r++;
    for (let j = i; j <= Math.min(r, L - 1); j++) {
      const l = v.labels[j]!;
      add(st.label + i, l.offset, l.offset + labelTokenCount(l), st.label + j + 1);
    }
    if (r === L) one(st.label + i, SPECIAL.endLabel, labelsLast ? st.expectEos : st.inCodes);
  }
  if (labelsLast) one(st.expectEos, SPECIAL.eos, st.end);
  const codes0 = v.codes.offset;
  const codes1 = codes0 + v.codes.values.length;
  add(st.inCodes, codes0, codes1, st.inCodes);
  one(st.inCodes, SPECIAL.endCode, st.tsStart);
  add(st.afterAdm, codes0, codes1, st.inCodes);
  one(st.afterAdm, SPECIAL.endCode, st.tsStart);
  // labels last: after_adm is labels_from[0], so the record goes on to its labels instead of </s>
  if (!labelsLast) one(st.afterAdm, SPECIAL.eos, st.end);
  const gap0 = v.gaps.offset;
  const gap1 = gap0 + binCount(v.gaps.bins);
  add(st.tsStart, gap0, gap1, st.afterGap);
  one(st.tsStart, SPECIAL.endTs, st.afterTs);
  // a variable's measurement tokens, from any state that may be followed by it
  const measure = (s: number, j: number): void => {
    const x = v.variables[j]!;
    if (x.type === 'categorical') add(s, x.offset, x.offset + x.categories!.values.length, st.afterMeas + j);
    else if (v.joint) {
      add(s, x.offset, x.offset + binCount(x.bins!), st.afterMeas + j);
      // relative bins: the grammar allows them where the variable may come; that a value came
      // before, and that the step stays inside the bins, the decoder and the sampler check
      if (x.delta_offset !== undefined) add(s, x.delta_offset, x.delta_offset + 2 * v.deltaBins + 1, st.afterMeas + j);
    }
    else one(s, x.offset, st.varPending[j]!);
  };
  for (let j = 0; j < v.variables.length; j++) measure(st.afterGap, j);
  for (let i = 0; i < v.variables.length; i++) {
    for (let j = i + 1; j < v.variables.length; j++) measure(st.afterMeas + i, j);
    add(st.afterMeas + i, gap0, gap1, st.afterGap);
    one(st.afterMeas + i, SPECIAL.endTs, st.afterTs);
  }
  if (!v.joint) {
    v.variables.forEach((x, j) => {
      if (x.type === 'continuous') add(st.varPending[j]!, v.sharedBins!.offset, v.sharedBins!.offset + binCount(x.bins!), st.afterMeas + j);
    });
  }
  one(st.afterTs, SPECIAL.endAdm, st.afterAdm);
  one(st.end, SPECIAL.pad, st.end);
  const automaton = new GrammarAutomaton({
    numStates: st.S,
    vocabSize: v.vocab.length,
    startState: st.pre,
    endState: st.end,
    stateNames: st.names,
    transitions: runs,
    padId: SPECIAL.pad,
  });
  return { automaton, states: st };
}
