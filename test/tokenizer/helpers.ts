/**
 * Shared pieces of the tokenizer tests: a small synthetic data config with every feature the
 * tokenizer has (numeric and categorical covariates, labels, two code systems, continuous and
 * categorical variables), fast-check arbitraries of records under it, and checks that hold for any
 * decoded record.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { PatientRecord, Measurement } from '../../src/records/types.ts';
import { dataConfigSchema, type DataConfig } from '../../src/records/dataConfig.ts';
import { tokenizerConfigSchema, type TokenizerConfig } from '../../src/tokenizer/config.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';

export const toyData: DataConfig = dataConfigSchema.parse({
  name: 'toy',
  loader: 'long',
  root: 'unused',
  covariates: [
    { name: 'age', type: 'numeric' },
    { name: 'sex', type: 'categorical', values: ['F', 'M'] },
    { name: 'bmi', type: 'numeric' },
    { name: 'unit', type: 'categorical' },
  ],
  labels: [
    { name: 'death', main: true, values: [0, 1] },
    { name: 'phenotype' },
    // many distinct values: binned once a cohort shows more than label_max_values of them
    { name: 'los' },
  ],
  code_systems: ['ICD9', 'ICD10'],
  variables: [
    { name: 'hr', type: 'continuous' },
    { name: 'gcs', type: 'continuous' },
    { name: 'vent', type: 'categorical', values: ['no', 'yes'] },
    { name: 'lactate', type: 'continuous' },
    { name: 'rhythm', type: 'categorical' },
  ],
});

export function tokCfg(over: Partial<TokenizerConfig> = {}): TokenizerConfig {
  // the labels first unless a test says otherwise: most tests here were written against that grammar
  return tokenizerConfigSchema.parse({ label_position: 'first', ...over });
}

const CODES = ['ICD9:4019', 'ICD9:4280', 'ICD9:25000', 'ICD10:I10', 'ICD10:E119', 'ICD10:N179', 'ICD9:5849', 'ICD10:J96'];

// hours on a coarse grid so that ties in time (several variables at one time step) and repeats
// (one variable twice at one time step) are common, plus arbitrary floats
const hoursArb = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map((h) => h / 4),
  fc.double({ min: 0, max: 400, noNaN: true }),
);

const measurementArb: fc.Arbitrary<Measurement> = fc.oneof(
  fc.record({ hours: hoursArb, variable: fc.constant('hr'), value: fc.double({ min: 20, max: 250, noNaN: true }) }),
  fc.record({ hours: hoursArb, variable: fc.constant('gcs'), value: fc.integer({ min: 3, max: 15 }) }),
  fc.record({ hours: hoursArb, variable: fc.constant('vent'), value: fc.constantFrom('no', 'yes') }),
  fc.record({ hours: hoursArb, variable: fc.constant('lactate'), value: fc.double({ min: 0.1, max: 30, noNaN: true }) }),
  fc.record({ hours: hoursArb, variable: fc.constant('rhythm'), value: fc.constantFrom('sinus', 'afib', 'vtach') }),
);

export const patientArb: fc.Arbitrary<PatientRecord> = fc
  .record({
    id: fc.uuid(),
    age: fc.option(fc.integer({ min: 15, max: 95 }), { nil: null }),
    sex: fc.option(fc.constantFrom('F', 'M'), { nil: null }),
    bmi: fc.option(fc.double({ min: 12, max: 70, noNaN: true }), { nil: null }),
    unit: fc.option(fc.constantFrom(1, 2, 3, 4), { nil: null }),
    death: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
    phenotype: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    los: fc.option(fc.oneof(fc.integer({ min: 0, max: 90 }), fc.double({ min: 0, max: 90, noNaN: true })), { nil: undefined }),
    admissions: fc.array(
      fc.record({
        codes: fc.array(fc.constantFrom(...CODES), { maxLength: 5 }),
        events: fc.array(measurementArb, { maxLength: 20 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map((r) => ({
    id: r.id,
    covariates: { age: r.age, sex: r.sex, bmi: r.bmi, unit: r.unit },
    labels: {
      ...(r.death === undefined ? {} : { death: r.death }),
      ...(r.phenotype === undefined ? {} : { phenotype: r.phenotype }),
      ...(r.los === undefined ? {} : { los: r.los }),
    },
    admissions: r.admissions.map((a, k) => ({
      id: `${r.id}-${k}`,
      codes: a.codes,
      // sorted by hours, ties in generation order, as the record type promises
      events: a.events.map((e, i) => [e, i] as const).sort((x, y) => x[0].hours - y[0].hours || x[1] - y[1]).map(([e]) => e),
    })),
  }));

/** A cohort that shows every categorical value at least once, so all of them get tokens. */
export const cohortArb = fc.array(patientArb, { minLength: 3, maxLength: 12 }).map((ps) => [...ps, coveringPatient()]);

export function coveringPatient(): PatientRecord {
  const ev = (hours: number, variable: string, value: number | string): Measurement => ({ hours, variable, value });
  return {
    id: 'covering',
    covariates: { age: 50, sex: 'F', bmi: 25, unit: 1 },
    labels: { death: 0, phenotype: 0, los: 3 },
    admissions: [
      {
        id: 'covering-0',
        codes: [...CODES],
        events: [
          ev(0, 'hr', 80), ev(0, 'gcs', 15), ev(0, 'vent', 'no'), ev(0, 'lactate', 1.2), ev(0, 'rhythm', 'sinus'),
          ev(1, 'vent', 'yes'), ev(1, 'rhythm', 'afib'), ev(2, 'rhythm', 'vtach'),
        ],
      },
    ],
  };
}

/**
 * The time steps a record should encode to: events grouped by hours, in ascending variable order;
 * of a repeated variable the last value wins, or under repeats: mean a continuous variable's mean.
 */
export function expectedSteps(tok: Tokenizer, events: Measurement[]): { hours: number; items: Measurement[] }[] {
  const order = tok.variables.map((v) => v.name);
  const mean = tok.config.repeats === 'mean';
  const continuous = new Set(tok.variables.filter((v) => v.type === 'continuous').map((v) => v.name));
  const steps: { hours: number; items: Map<string, Measurement[]> }[] = [];
  for (const e of [...events].sort((a, b) => a.hours - b.hours)) {
    let last = steps[steps.length - 1];
    if (!last || last.hours !== e.hours) steps.push((last = { hours: e.hours, items: new Map() }));
    last.items.set(e.variable, [...(last.items.get(e.variable) ?? []), e]);
  }
  return steps.map((s) => ({
    hours: s.hours,
    items: [...s.items.values()]
      .map((es) => {
        const e = es[es.length - 1]!;
        if (!mean || !continuous.has(e.variable) || es.length === 1) return e;
        return { ...e, value: es.reduce((a, x) => a + (x.value as number), 0) / es.length };
      })
      .sort((a, b) => order.indexOf(a.variable) - order.indexOf(b.variable)),
  }));
}

/** Checks that `r` is a well-formed record of the tokenizer's data config (problems collected, asserted once). */
export function expectValidRecord(tok: Tokenizer, r: PatientRecord): void {
  const problems: string[] = [];
  const check = (ok: boolean, what: () => string): void => {
    if (!ok) problems.push(what());
  };
  expect(Object.keys(r.covariates).sort()).toEqual(tok.covariates.map((c) => c.name).sort());
  for (const c of tok.covariates) {
    const v = r.covariates[c.name];
    if (v === null) continue;
    if (c.type === 'numeric') check(typeof v === 'number' && Number.isFinite(v), () => `covariate ${c.name} = ${v}`);
    else check(c.categories!.values.includes(String(v)), () => `covariate ${c.name} = ${v}`);
  }
  for (const [k, v] of Object.entries(r.labels)) {
    const l = tok.labels.find((x) => x.name === k);
    if (!l) problems.push(`unknown label ${k}`);
    else if (l.bins) check(Number.isFinite(v), () => `label ${k} = ${v}`);
    else check(l.values.includes(v), () => `label ${k} = ${v}`);
  }
  expect(r.admissions.length).toBeGreaterThanOrEqual(1);
  const varOrder = new Map(tok.variables.map((v, i) => [v.name, i]));
  const codes = new Set(tok.codes.values);
  for (const a of r.admissions) {
    for (const c of a.codes) check(codes.has(c), () => `code ${c}`);
    for (let i = 0; i < a.events.length; i++) {
      const e = a.events[i]!;
      check(Number.isFinite(e.hours) && e.hours >= 0, () => `event ${i}: hours ${e.hours}`);
      const vi = varOrder.get(e.variable);
      if (vi === undefined) {
        problems.push(`event ${i}: variable ${e.variable}`);
        continue;
      }
      const spec = tok.variables[vi]!;
      if (spec.type === 'continuous') check(typeof e.value === 'number' && Number.isFinite(e.value), () => `event ${i}: ${e.variable} = ${e.value}`);
      else check(spec.categories!.values.includes(String(e.value)), () => `event ${i}: ${e.variable} = ${e.value}`);
      if (i > 0) {
        const p = a.events[i - 1]!;
        check(e.hours >= p.hours, () => `event ${i}: hours ${e.hours} before ${p.hours}`);
        // a time step is a set: strictly ascending variables at equal hours
        if (e.hours === p.hours) check(vi > varOrder.get(p.variable)!, () => `event ${i}: ${e.variable} after ${p.variable} at ${e.hours}`);
      }
    }
  }
  expect(problems).toEqual([]);
}

/** A patient with every covariate missing, no labels and one empty admission: fitted beside others, it keeps them all optional. */
export function sparsePatient(): PatientRecord {
  return { id: 'sparse', covariates: { age: null, sex: null, bmi: null, unit: null }, labels: {}, admissions: [{ id: 'sparse-0', codes: [], events: [] }] };
}

/**
 * A random accepted sequence of at most `budget` tokens, as the sampler draws them: only tokens
 * from which </s> is still reachable in time, and, with `clock`, no gap that would take the
 * admission past the tokenizer's window (the sampler's step mask, in float64).
 */
export function clockWalk(tok: Tokenizer, rng: { int(n: number): number }, budget: number, clock = true): number[] {
  const a = tok.automaton;
  // required covariates and labels make the shortest record longer than some budgets
  budget = Math.max(budget, a.distToEnd[a.startState]!);
  const { stepHours, resets, windowHours } = tok.clock();
  const ids: number[] = [];
  let s = a.startState;
  let elapsed = 0;
  while (s !== a.endState) {
    const left = budget - ids.length; // tokens we may still emit, this one included
    const ok = a
      .allowed(s)
      .filter((t) => a.distToEnd[a.step(s, t)]! <= left - 1)
      .filter((t) => !clock || windowHours === null || elapsed + stepHours[t]! <= windowHours);
    expect(ok.length, `stuck in ${a.stateNames[s]} with ${left} tokens left`).toBeGreaterThan(0);
    const t = ok[rng.int(ok.length)]!;
    ids.push(t);
    elapsed = resets.includes(t) ? 0 : elapsed + stepHours[t]!;
    s = a.step(s, t);
  }
  return ids;
}
