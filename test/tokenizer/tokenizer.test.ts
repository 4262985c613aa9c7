import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SPECIAL_TOKENS, TokenClass, type Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { loadTokenizer, saveTokenizer, tokenizerFromJSON, tokenizerToJSON, type TokenizerJSON } from '../../src/tokenizer/file.ts';
import { binCount, binIndex, binRange } from '../../src/tokenizer/bins.ts';
import { gapHours } from '../../src/records/time.ts';
import { Rng } from '../../src/util/rng.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import type { TokenizerConfig } from '../../src/tokenizer/config.ts';
import { cohortPrefixes, conditionPrefix } from '../../src/generate/generate.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { FIXTURE_DIR, fixturePatients, physionetDataConfig } from './physionet.ts';
import { clockWalk, cohortArb, coveringPatient, expectedSteps, expectValidRecord, sparsePatient, tokCfg, toyData } from './helpers.ts';

const STRATEGIES = ['joint', 'var+quant'] as const;

/**
 * encode -> decode keeps covariates, labels and codes, every value in its bin and every gap in its
 * gap bin. Problems are collected and asserted once: one expect per value is slow on real patients.
 */
function checkRoundTrip(tok: Tokenizer, p: PatientRecord, seed: number): void {
  const ids = tok.encodePatient(p);
  expect(tok.automaton.accepts(ids)).toBe(true);
  const r = tok.decode(ids, { rng: new Rng(seed), id: p.id });
  expectValidRecord(tok, r);
  const problems: string[] = [];
  const check = (ok: boolean, what: () => string): void => {
    if (!ok) problems.push(what());
  };
  for (const c of tok.covariates) {
    const orig = p.covariates[c.name] ?? null;
    const got = r.covariates[c.name];
    if (orig === null) check(got === null, () => `covariate ${c.name}: ${got} for missing`);
    else if (c.type === 'categorical') check(got === orig, () => `covariate ${c.name}: ${got} for ${orig}`);
    else check(binIndex(c.bins!.edges, got as number) === binIndex(c.bins!.edges, orig as number), () => `covariate ${c.name}: ${got} not in the bin of ${orig}`);
  }
  expect(Object.keys(r.labels).sort()).toEqual(Object.keys(p.labels).sort());
  for (const l of tok.labels) {
    if (!(l.name in p.labels)) continue;
    const [o, g] = [p.labels[l.name]!, r.labels[l.name]!];
    if (l.bins) check(binIndex(l.bins.edges, g) === binIndex(l.bins.edges, o), () => `label ${l.name}: ${g} not in the bin of ${o}`);
    else check(g === o, () => `label ${l.name}: ${g} for ${o}`);
  }
  expect(r.admissions.length).toBe(p.admissions.length);
  const gapEdges = tok.gaps.bins.edges;
  p.admissions.forEach((a, k) => {
    const b = r.admissions[k]!;
    expect(b.codes).toEqual(a.codes);
    const want = expectedSteps(tok, a.events);
    const got = expectedSteps(tok, b.events);
    expect(got.length).toBe(want.length);
    let prevWant = 0;
    let prevGot = 0;
    want.forEach((s, i) => {
      const g = got[i]!;
      // gaps as the tokenizer measures them (to 1e-9 h)
      const [lo, hi] = binRange(gapEdges, binIndex(gapEdges, gapHours(prevWant, s.hours)));
      const dg = gapHours(prevGot, g.hours);
      check(dg >= lo && dg < hi, () => `step ${i}: gap ${dg} outside [${lo}, ${hi}) of the original ${gapHours(prevWant, s.hours)}`);
      prevWant = s.hours;
      prevGot = g.hours;
      const vars = s.items.map((e) => e.variable).join(',');
      check(g.items.map((e) => e.variable).join(',') === vars, () => `step ${i}: variables ${g.items.map((e) => e.variable)} for ${vars}`);
      s.items.forEach((e, j) => {
        const v = tok.variables.find((x) => x.name === e.variable)!;
        const d = g.items[j]?.value;
        if (v.type === 'categorical') check(d === e.value, () => `step ${i}: ${v.name} = ${d} for ${e.value}`);
        else check(binIndex(v.bins!.edges, d as number) === binIndex(v.bins!.edges, e.value as number), () => `step ${i}: ${v.name} = ${d} not in the bin of ${e.value}`);
      });
    });
  });
  expect(problems).toEqual([]);
}

describe('tokenizer on PhysioNet 2012 fixtures', () => {
  const patients = fixturePatients();

  it('reads the fixture patients', () => {
    expect(patients.length).toBe(40);
    expect(patients.every((p) => p.admissions[0]!.events.length > 0)).toBe(true);
  });

  for (const strategy of STRATEGIES) {
    for (const bin_type of ['uniform', 'quantile', 'quantile_ueq'] as const) {
      it(`${strategy}/${bin_type}: every real patient encodes to an accepted sequence and round-trips`, () => {
        const tok = fitTokenizer(patients, physionetDataConfig, tokCfg({ strategy, bin_type }));
        patients.forEach((p, i) => checkRoundTrip(tok, p, i));
      });
    }
  }

  it('a label with many distinct values gets value bins; one with few gets a token per value', () => {
    const many = patients.map((p, i) => ({ ...p, labels: { in_hospital_death: i % 2 } }));
    const tok = fitTokenizer(many, physionetDataConfig, tokCfg({ label_max_values: 1 }));
    // declared values are kept one token each, however low label_max_values is
    expect(tok.labels[0]!.bins).toBeUndefined();
    expect(tok.vocab.filter((t) => t.startsWith('label:'))).toEqual(['label:in_hospital_death=0', 'label:in_hospital_death=1']);
    const data = { ...physionetDataConfig, labels: [{ name: 'los', main: false }] };
    const withLos = patients.map((p, i) => ({ ...p, labels: { los: i } }));
    const binned = fitTokenizer(withLos, data, tokCfg({ label_max_values: 20, bin_type: 'uniform', n_bins: 4 }));
    expect(binned.labels[0]!.bins!.edges).toEqual([0, 9.75, 19.5, 29.25, 39]);
    expect(binned.vocab.filter((t) => t.startsWith('label:'))).toEqual(['label:los:b0', 'label:los:b1', 'label:los:b2', 'label:los:b3']);
    withLos.forEach((p, i) => checkRoundTrip(binned, p, i));
  });

  it('vocabulary follows DESIGN.md order: special, covariate, label, code, gap, measurement', () => {
    const tok = fitTokenizer(patients, physionetDataConfig, tokCfg());
    expect(tok.vocab.slice(0, 8)).toEqual([...SPECIAL_TOKENS]);
    expect([tok.pad, tok.bos, tok.eos, tok.endCovar, tok.endLabel, tok.endCode, tok.endTs, tok.endAdm]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const classes = Array.from(tok.tokenClass);
    // non-decreasing class ids = the classes appear in order, each in one block
    for (let i = 1; i < classes.length; i++) expect(classes[i]!).toBeGreaterThanOrEqual(classes[i - 1]!);
    expect(tok.vocab).toContain('cov:Age:missing');
    expect(tok.vocab).toContain('label:in_hospital_death=1');
    expect(tok.vocab).toContain('MechVent=1');
    // Age uses the age edges: 15 bins + missing
    expect(tok.covariates[0]!.bins!.edges).toEqual(tokCfg().age_edges);
    expect(tok.vocab.filter((t) => t.startsWith('gap:')).length).toBe(binCount(tok.gaps.bins));
  });

  it('save -> load gives the same tokenizer, encodings and decodings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synehr-tok-'));
    for (const strategy of STRATEGIES) {
      const tok = fitTokenizer(patients, physionetDataConfig, tokCfg({ strategy }));
      const path = join(dir, `${strategy}.json`);
      saveTokenizer(tok, path);
      const back = loadTokenizer(path);
      expect(back.vocab).toEqual(tok.vocab);
      expect(back.automaton.equals(tok.automaton)).toBe(true);
      expect(Array.from(back.automaton.distToEnd)).toEqual(Array.from(tok.automaton.distToEnd));
      for (const p of patients.slice(0, 5)) {
        const ids = tok.encodePatient(p);
        expect(Array.from(back.encodePatient(p))).toEqual(Array.from(ids));
        expect(back.decode(ids, { rng: new Rng(7) })).toEqual(tok.decode(ids, { rng: new Rng(7) }));
      }
      back.checkDataConfig(physionetDataConfig);
    }
  });

  it('EXPECTED FAILURE - tokenizer.json of another format version, kind, or edited automaton', () => {
    const tok = fitTokenizer(patients.slice(0, 10), physionetDataConfig, tokCfg());
    const j = JSON.parse(JSON.stringify(tokenizerToJSON(tok))) as TokenizerJSON;
    expect(() => tokenizerFromJSON({ ...j, format_version: 99 }, 'x.json')).toThrow(
      /x\.json: tokenizer format_version 99 is not supported \(this synehr reads version 2\)/,
    );
    try {
      tokenizerFromJSON({ ...j, format_version: 0 });
    } catch (e) {
      expect(e).toBeInstanceOf(SynehrError);
      expect((e as SynehrError).code).toBe('E_TOKENIZER_VERSION');
    }
    expect(() => tokenizerFromJSON({ ...j, kind: 'other' } as unknown as TokenizerJSON)).toThrow(/not a synehr tokenizer/);
    const edited = JSON.parse(JSON.stringify(j)) as TokenizerJSON;
    edited.automaton.transitions = edited.automaton.transitions.slice(1);
    expect(() => tokenizerFromJSON(edited)).toThrow(/dist_to_end|does not match/);
    const dir = mkdtempSync(join(tmpdir(), 'synehr-tok-'));
    writeFileSync(join(dir, 'bad.json'), '{not json');
    expect(() => loadTokenizer(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
    expect(() => loadTokenizer(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read tokenizer/);
  });

  it('EXPECTED FAILURE - a tokenizer checked against another data config', () => {
    const tok = fitTokenizer(patients.slice(0, 10), physionetDataConfig, tokCfg());
    const other = { ...physionetDataConfig, name: 'other', variables: physionetDataConfig.variables.slice(1) };
    expect(() => tok.checkDataConfig(other)).toThrow(/fitted for data config 'physionet2012-fixture'.*not for 'other'/);
  });

  it('tokenizer.json is self-contained: loading needs nothing but the file', () => {
    const tok = fitTokenizer(patients, physionetDataConfig, tokCfg());
    const j = JSON.parse(JSON.stringify(tokenizerToJSON(tok)));
    expect(Object.keys(j)).toEqual(
      expect.arrayContaining(['format_version', 'vocab', 'covariates', 'variables', 'gaps', 'automaton', 'data_config_hash', 'window_hours']),
    );
    expect(j.window_hours).toBe(48);
    const alp = j.variables[0];
    expect(alp.bins.atoms.length).toBe(alp.bins.mass.length);
    expect(alp.series).toEqual({ stick: expect.any(Number), rho: expect.any(Number) });
    expect(j.gaps.min_step.length).toBe(j.gaps.bins.mass.length);
    const back = tokenizerFromJSON(j);
    const ids = tok.encodePatient(patients[0]!);
    expect(back.decode(ids, { rng: new Rng(3) })).toEqual(tok.decode(ids, { rng: new Rng(3) }));
  });

  it('a file written before label_position existed loads with the labels first, as it was fitted; one that names it keeps it', () => {
    const first = fitTokenizer(patients, physionetDataConfig, tokCfg({ label_position: 'first' }));
    const j = JSON.parse(JSON.stringify(tokenizerToJSON(first)));
    expect(j.config.label_position).toBe('first');
    delete j.config.label_position;
    const back = tokenizerFromJSON(j);
    expect(back.labelsLast).toBe(false);
    const ids = first.encodePatient(patients[0]!);
    expect(Array.from(back.encodePatient(patients[0]!))).toEqual(Array.from(ids));
    const last = fitTokenizer(patients, physionetDataConfig, tokCfg({ label_position: 'last' }));
    expect(tokenizerFromJSON(JSON.parse(JSON.stringify(tokenizerToJSON(last)))).labelsLast).toBe(true);
  });

  it('EXPECTED FAILURE - a version 1 tokenizer.json (written by the previous synehr) is refused, with what to do', () => {
    // test/fixtures/tokenizer/tokenizer-v1.json was written by the last synehr that read version 1
    const path = join(FIXTURE_DIR, '..', 'tokenizer-v1.json');
    let err: unknown;
    try {
      loadTokenizer(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SynehrError);
    expect((err as SynehrError).code).toBe('E_TOKENIZER_VERSION');
    expect((err as Error).message).toMatch(/tokenizer-v1\.json: tokenizer format_version 1 is not supported \(this synehr reads version 2\); re-run `synehr tokenize` to refit it/);
  });
});

/** Generated cohorts, fitted, encoded and decoded: each record comes back as checkRoundTrip asks. */
function recordsRoundTrip(strategy: (typeof STRATEGIES)[number]) {
  return fc.property(cohortArb, fc.integer(), fc.constantFrom('last', 'mean') as fc.Arbitrary<'last' | 'mean'>, (cohort, seed, repeats) => {
    const tok = fitTokenizer(cohort, toyData, tokCfg({ strategy, repeats }));
    cohort.forEach((p, i) => checkRoundTrip(tok, p, seed + i));
  });
}

/** Random walks of the automaton within a budget, decoded and encoded again: the ids come back. */
function walksRoundTrip(strategy: (typeof STRATEGIES)[number], over: Partial<TokenizerConfig> = {}) {
  return fc.property(cohortArb, fc.integer(), fc.integer({ min: 12, max: 300 }), (cohort, seed, budget) => {
    const tok = fitTokenizer(cohort, toyData, tokCfg({ strategy, ...over }));
    const a = tok.automaton;
    const rng = new Rng(seed);
    for (let walk = 0; walk < 5; walk++) {
      const ids = clockWalk(tok, rng, budget);
      expect(ids.length).toBeLessThanOrEqual(Math.max(budget, a.distToEnd[a.startState]!));
      expect(a.accepts(ids)).toBe(true);
      const r = tok.decode(ids, { rng });
      expectValidRecord(tok, r);
      expect(Array.from(tok.encodePatient(r))).toEqual(ids);
    }
  });
}
const WINDOW_CLAMP_CASES = { joint: { seed: -1283402042, path: '575' }, 'var+quant': { seed: -1314999117, path: '709' } } as const;

describe('tokenizer properties on generated records', () => {
  for (const strategy of STRATEGIES) {
    it(`${strategy}: encode -> decode recovers covariates, labels and codes; values and gaps within their bins`, () => {
      fc.assert(recordsRoundTrip(strategy), { numRuns: 25 });
    });

    it(`${strategy}: random walks of the automaton within a budget decode to valid records that re-encode to the same ids`, () => {
      fc.assert(walksRoundTrip(strategy), { numRuns: 25 });
    });

    it(`${strategy}: the walk that once re-encoded a last gap one bin lower (the window's clamp after a step rounded up to the 1e-9 h grid)`, () => {
      // fast-check's own counterexamples, found at about one run in 600 before GapDecoder.times kept
      // its budgets on the grid; replayed by seed and path
      fc.assert(walksRoundTrip(strategy), WINDOW_CLAMP_CASES[strategy]);
    });

    if (strategy === 'var+quant') {
      it(`${strategy}: the record whose last step came out at the hour before it (a step the 1e-9 h grid rounded up onto the window, then one a few ulps later)`, () => {
        // fast-check's own counterexample (CI, 2026-12-01): steps at 399.99999999999966 and
        // 399.9999999999998 h in a 400 h window, the first 394 h after the one before, where 394 h
        // was a gap bin of its own; decoded, both sat at 400 h until GapDecoder moved the clamped
        // ones back by ulps
        fc.assert(recordsRoundTrip(strategy), { seed: 816374975, path: '3', endOnFailure: true });
      });
    }

    it(`${strategy}: any accepted sequence, the sampler's or not, decodes to times inside the window that never go back`, () => {
      fc.assert(
        fc.property(cohortArb, fc.integer(), fc.integer({ min: 12, max: 300 }), fc.boolean(), (cohort, seed, budget, clock) => {
          const tok = fitTokenizer(cohort, toyData, tokCfg({ strategy }));
          const rng = new Rng(seed);
          const W = tok.windowHours!;
          expect(W).toBeGreaterThan(0);
          for (let walk = 0; walk < 5; walk++) {
            // without the clock the walk may ask for more time than the window holds: decoding still keeps inside it
            const r = tok.decode(clockWalk(tok, rng, budget, clock), { rng });
            for (const adm of r.admissions) {
              adm.events.forEach((e, i) => {
                expect(e.hours).toBeGreaterThanOrEqual(0);
                expect(e.hours).toBeLessThanOrEqual(W);
                if (i > 0) expect(e.hours).toBeGreaterThanOrEqual(adm.events[i - 1]!.hours);
              });
            }
          }
        }),
        { numRuns: 25 },
      );
    });
  }

  it('distToEnd equals a forward breadth-first search from each state', () => {
    fc.assert(
      fc.property(cohortArb, fc.constantFrom(...STRATEGIES), (cohort, strategy) => {
        const tok = fitTokenizer(cohort, toyData, tokCfg({ strategy }));
        const a = tok.automaton;
        for (let s = 0; s < a.numStates; s++) expect(a.distToEnd[s]).toBe(forwardBfs(tok, s));
        expect(a.distToEnd[a.endState]).toBe(0);
        // no dead states: every state can finish, and every state is reachable from the start
        expect(Array.from(a.distToEnd).every((d) => d >= 0)).toBe(true);
        const seen = new Set([a.startState]);
        const queue = [a.startState];
        for (let h = 0; h < queue.length; h++) {
          for (const t of a.allowed(queue[h]!)) {
            const n = a.step(queue[h]!, t);
            if (!seen.has(n)) {
              seen.add(n);
              queue.push(n);
            }
          }
        }
        expect(seen.size).toBe(a.numStates);
      }),
      { numRuns: 10 },
    );
  });

  it('a time step is a set: a variable at or below the previous one in the same step is forbidden', () => {
    const tok = fitTokenizer([coveringPatient()], toyData, tokCfg());
    const hr = tok.variables[0]!;
    const gcs = tok.variables[1]!;
    const ids = Array.from(tok.encodePatient(coveringPatient()));
    const firstGap = ids.findIndex((t) => tok.tokenClass[t] === TokenClass.gap);
    let s = tok.automaton.startState;
    for (const t of ids.slice(0, firstGap + 2)) s = tok.automaton.step(s, t); // gap, hr
    expect(tok.automaton.step(s, hr.offset)).toBe(-1); // hr again
    expect(tok.automaton.step(s, gcs.offset)).toBeGreaterThanOrEqual(0); // gcs after hr
  });

  it('encodePrefix is the start of encodePatient and leads the automaton to prefixState', () => {
    fc.assert(
      fc.property(cohortArb, fc.constantFrom('covariates', 'labels') as fc.Arbitrary<'covariates' | 'labels'>, (cohort, through) => {
        const tok = fitTokenizer(cohort, toyData, tokCfg());
        for (const p of cohort) {
          const prefix = Array.from(tok.encodePrefix(p, { through }));
          expect(Array.from(tok.encodePatient(p)).slice(0, prefix.length)).toEqual(prefix);
          expect(prefix[prefix.length - 1]).toBe(through === 'labels' ? tok.endLabel : tok.endCovar);
          let s = tok.automaton.startState;
          for (const t of prefix) s = tok.automaton.step(s, t);
          expect(s).toBe(tok.prefixState(through));
        }
      }),
      { numRuns: 10 },
    );
    const tok = fitTokenizer([coveringPatient(), sparsePatient()], toyData, tokCfg());
    expect(tok.tokensToString(tok.encodePrefix({ covariates: { sex: 'M' }, labels: { death: 1 } }))).toBe(
      '<s> cov:age:missing cov:sex=M cov:bmi:missing cov:unit:missing </covar> label:death=1 </label>',
    );
  });

  it('decodeBatch decodes the rows of a padded [B, T] batch, int32 or int64, like decode does row by row', () => {
    const patients = fixturePatients().slice(0, 4);
    const tok = fitTokenizer(patients, physionetDataConfig, tokCfg());
    const seqs = patients.map((p) => tok.encodePatient(p));
    const T = Math.max(...seqs.map((x) => x.length)) + 3;
    const batch = new BigInt64Array(seqs.length * T); // [B, T], zeros = <pad>
    seqs.forEach((x, b) => x.forEach((t, i) => (batch[b * T + i] = BigInt(t))));
    const rows = tok.decodeBatch(batch, T, { rng: new Rng(9), idPrefix: 'syn-', firstIndex: 10 });
    const rng = new Rng(9);
    expect(rows).toEqual(seqs.map((x, b) => tok.decode(x, { rng, id: `syn-${10 + b}` })));
    // a row cut before </s>: lenient gives the record and the position
    const cut = Int32Array.from(seqs[0]!.slice(0, 40));
    const [res] = tok.decodeBatch(cut, 40, { rng: new Rng(1), mode: 'lenient' });
    expect(res!.error!.position).toBe(40);
    expect(res!.record.id).toBe('synthetic-0');
    expect(() => tok.decodeBatch(cut, 7, { rng: new Rng(1) })).toThrow(/40 ids are not a whole number of rows of T = 7/);
  });

  it('codes: descending training count, ties by code, and code_min_count drops the rare ones', () => {
    const base = coveringPatient();
    const withCodes = (codes: string[], i: number): PatientRecord => ({ ...base, id: `c${i}`, admissions: [{ ...base.admissions[0]!, codes }] });
    const cohort = [
      withCodes(['ICD9:4019', 'ICD10:I10', 'ICD10:E119'], 0),
      withCodes(['ICD10:I10', 'ICD10:E119', 'ICD9:5849'], 1),
      withCodes(['ICD10:I10', 'ICD9:4019'], 2),
    ];
    const codeTokens = (t: Tokenizer): string[] => t.vocab.filter((_, i) => t.tokenClass[i] === TokenClass.code);
    expect(codeTokens(fitTokenizer(cohort, toyData, tokCfg()))).toEqual(['ICD10:I10', 'ICD10:E119', 'ICD9:4019', 'ICD9:5849']);
    const rare = fitTokenizer(cohort, toyData, tokCfg({ code_min_count: 2 }));
    expect(codeTokens(rare)).toEqual(['ICD10:I10', 'ICD10:E119', 'ICD9:4019']);
    const stats = { dropped_codes: 0, dropped_values: 0, collapsed_repeats: 0 };
    const r = rare.decode(rare.encodePatient(cohort[1]!, { stats }), { rng: new Rng(1) });
    expect(r.admissions[0]!.codes).toEqual(['ICD10:I10', 'ICD10:E119']);
    expect(stats.dropped_codes).toBe(1);
  });

  it('age uses the age edges (18, 20, 25, ..., 90), clamping below 18 and above 90; a variable never seen in training spans its config range', () => {
    const base = coveringPatient();
    const tok = fitTokenizer([base], { ...toyData, variables: [...toyData.variables, { name: 'spo2', type: 'continuous', range: [50, 100] }] }, tokCfg());
    const age = tok.covariates[0]!;
    expect(age.bins!.edges).toEqual([18, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90]);
    expect([15, 18, 19.9, 20, 64, 89, 90, 104].map((x) => binIndex(age.bins!.edges, x))).toEqual([0, 0, 0, 1, 9, 14, 14, 14]);
    expect(tok.variables[5]!.bins!.edges).toEqual([50, 100]);
    const ids = tok.encodePatient({ ...base, admissions: [{ ...base.admissions[0]!, events: [{ hours: 0, variable: 'spo2', value: 97 }] }] });
    const v = tok.decode(ids, { rng: new Rng(2) }).admissions[0]!.events[0]!.value as number;
    expect(v).toBeGreaterThanOrEqual(50);
    expect(v).toBeLessThanOrEqual(100);
  });

  it('golden: the first tokens of a fixture patient under the default config', () => {
    const patients = fixturePatients();
    const tok = fitTokenizer(patients, physionetDataConfig, tokCfg());
    const golden = readFileSync(join(FIXTURE_DIR, '..', 'golden-132539.txt'), 'utf8').trim();
    expect(tok.tokensToString(tok.encodePatient(patients[0]!).slice(0, 40))).toBe(golden);
  });

  it('decoding is deterministic for a seed, and draws differ across seeds', () => {
    const patients = fixturePatients().slice(0, 5);
    const tok = fitTokenizer(patients, physionetDataConfig, tokCfg());
    const ids = tok.encodePatient(patients[0]!);
    expect(tok.decode(ids, { rng: new Rng(3) })).toEqual(tok.decode(ids, { rng: new Rng(3) }));
    expect(tok.decode(ids, { rng: new Rng(3) })).not.toEqual(tok.decode(ids, { rng: new Rng(4) }));
  });
});

describe('labels last (tokenizer.label_position=last)', () => {
  const patients = fixturePatients();

  for (const strategy of STRATEGIES) {
    it(`${strategy}: a real patient's sequence is the labels-first one with its label block moved before </s>, and round-trips`, () => {
      const first = fitTokenizer(patients, physionetDataConfig, tokCfg({ strategy }));
      const last = fitTokenizer(patients, physionetDataConfig, tokCfg({ strategy, label_position: 'last' }));
      expect(last.vocab).toEqual(first.vocab);
      patients.forEach((p, i) => {
        const a = Array.from(first.encodePatient(p));
        const covarEnd = a.indexOf(first.endCovar);
        const labelEnd = a.indexOf(first.endLabel);
        const labelBlock = a.slice(covarEnd + 1, labelEnd + 1);
        const moved = [...a.slice(0, covarEnd + 1), ...a.slice(labelEnd + 1, -1), ...labelBlock, first.eos];
        expect(Array.from(last.encodePatient(p))).toEqual(moved);
        checkRoundTrip(last, p, i);
      });
    });

    it(`${strategy}: random walks of the labels-last automaton decode to valid records that re-encode to the same ids`, () => {
      fc.assert(walksRoundTrip(strategy, { label_position: 'last' }), { numRuns: 15 });
    });
  }

  it('the grammar puts labels only after an admission, and </s> only after </label>', () => {
    const tok = fitTokenizer([coveringPatient(), sparsePatient()], toyData, tokCfg({ label_position: 'last' }));
    const a = tok.automaton;
    const ids = Array.from(tok.encodePatient(coveringPatient()));
    const lastAdm = ids.lastIndexOf(tok.endAdm);
    expect(tok.tokensToString(ids.slice(lastAdm))).toMatch(/^<\/adm> (label:\S+ )+<\/label> <\/s>$/);
    const death = tok.labels.find((l) => l.name === 'death')!;
    const walk = (seq: number[]): number => seq.reduce((s, t) => (s < 0 ? s : a.step(s, t)), a.startState);
    const covarEnd = ids.indexOf(tok.endCovar);
    expect(a.step(walk(ids.slice(0, covarEnd + 1)), death.offset)).toBe(-1); // no label before the admissions
    const afterAdm = walk(ids.slice(0, lastAdm + 1));
    expect(afterAdm).toBeGreaterThanOrEqual(0);
    expect(a.step(afterAdm, tok.eos)).toBe(-1); // no </s> straight after </adm>
    expect(a.step(afterAdm, death.offset)).toBeGreaterThanOrEqual(0);
    // another admission may still follow
    expect(a.step(afterAdm, tok.endCode)).toBeGreaterThanOrEqual(0);
  });

  it('a condition fixes the covariates only: through labels, cohort labels and real prefixes say why', () => {
    const tok = fitTokenizer([coveringPatient(), sparsePatient()], toyData, tokCfg({ label_position: 'last' }));
    const prefix = Array.from(tok.encodePrefix(coveringPatient(), { through: 'covariates' }));
    expect(prefix[prefix.length - 1]).toBe(tok.endCovar);
    expect(prefix.reduce((s, t) => tok.automaton.step(s, t), tok.automaton.startState)).toBe(tok.prefixState('covariates'));
    expect(() => tok.encodePrefix(coveringPatient())).toThrow(/label_position=last.*covariates only/);
    expect(() => tok.prefixState('labels')).toThrow(SynehrError);
    // a real patient's condition stops at </covar>
    expect(conditionPrefix(tok.encodePatient(coveringPatient()), tok)).toEqual(prefix);
    expect(cohortPrefixes([{ covariates: { sex: 'M' } }], tok)[0]![0]).toBe(tok.bos);
    let err: unknown;
    try {
      cohortPrefixes([{ covariates: { sex: 'M' } }, { covariates: { sex: 'F' }, labels: { death: 1 } }], tok);
    } catch (e) {
      err = e;
    }
    expect((err as SynehrError).code).toBe('E_CONFIG_VALUE');
    expect((err as Error).message).toMatch(/generate\.cohort\[1\]\.labels: .*label_position=last/);
  });
});

describe('decoding invalid sequences', () => {
  const tok = fitTokenizer([coveringPatient()], toyData, tokCfg());
  const ids = Array.from(tok.encodePatient(coveringPatient()));

  it('EXPECTED FAILURE - strict mode names the first bad position and token', () => {
    const bad = [...ids];
    const firstMeas = bad.findIndex((t) => tok.tokenClass[t] === TokenClass.measurement);
    bad[firstMeas] = tok.endAdm;
    expect(() => tok.decode(bad, { rng: new Rng(1) })).toThrow(
      new RegExp(`token 7 '</adm>' at position ${firstMeas} is not allowed in state after_gap`),
    );
    expect(() => tok.decode(ids.slice(0, 5), { rng: new Rng(1) })).toThrow(/sequence of 5 tokens ends in state .* before <\/s>/);
    expect(() => tok.decode([tok.bos, 99999], { rng: new Rng(1) })).toThrow(/token 99999 \(out of range\) at position 1/);
  });

  it('any token sequence: lenient decoding returns a valid record and the automaton\'s first bad position; strict throws exactly when it is invalid', () => {
    const V = tok.vocabSize;
    fc.assert(
      fc.property(
        fc.oneof(
          // random ids, and valid sequences with a few random edits (more likely to get far)
          fc.array(fc.integer({ min: -2, max: V + 2 }), { maxLength: 60 }),
          fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: V - 1 })), { maxLength: 3 }), fc.nat()).map(([edits, cut]) => {
            const x = [...ids];
            for (const [at, t] of edits) x[at % x.length] = t;
            return x.slice(0, cut % (x.length + 1));
          }),
        ),
        fc.integer(),
        (seq, seed) => {
          const bad = tok.automaton.firstInvalid(seq);
          const { record, error } = tok.decode(seq, { rng: new Rng(seed), mode: 'lenient' });
          expectValidRecord(tok, record);
          if (bad === -1) {
            expect(error).toBeNull();
            expect(() => tok.decode(seq, { rng: new Rng(seed) })).not.toThrow();
          } else {
            expect(error!.position).toBe(bad);
            expect(() => tok.decode(seq, { rng: new Rng(seed) })).toThrow(SynehrError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('lenient mode returns the longest valid record and the bad position', () => {
    const cut = ids.indexOf(tok.endTs); // inside the time series of the first admission
    const bad = [...ids.slice(0, cut), tok.bos, ...ids.slice(cut)];
    const { record, error } = tok.decode(bad, { rng: new Rng(1), mode: 'lenient' });
    expect(error!.position).toBe(cut);
    expect(error!.token).toBe(tok.bos);
    expectValidRecord(tok, record);
    const full = tok.decode(ids, { rng: new Rng(1) });
    expect(record.covariates).toEqual(full.covariates);
    expect(record.admissions[0]!.codes).toEqual(full.admissions[0]!.codes);
    expect(record.admissions[0]!.events.length).toBe(full.admissions[0]!.events.length);
    const ok = tok.decode(ids, { rng: new Rng(1), mode: 'lenient' });
    expect(ok.error).toBeNull();
    expect(ok.record).toEqual(full);
    // cut before the covariates end: the rest are missing, one empty admission
    const early = tok.decode(ids.slice(0, 3), { rng: new Rng(1), mode: 'lenient' });
    expect(early.error!.position).toBe(3);
    expect(early.record.covariates.unit).toBeNull();
    expect(early.record.admissions.length).toBe(1);
  });
});

describe('bad input gets a clear error', () => {
  const tok = fitTokenizer([coveringPatient(), sparsePatient()], toyData, tokCfg());
  const base = coveringPatient();
  const withEvent = (variable: string, value: number | string, hours = 3): PatientRecord => ({
    ...base,
    admissions: [{ ...base.admissions[0]!, events: [...base.admissions[0]!.events, { hours, variable, value }] }],
  });

  it('EXPECTED FAILURE - bad tokenizer config: gap or age edges not ascending', () => {
    expect(() => fitTokenizer([base], toyData, tokCfg({ gap_edges: [0, 2, 1] }))).toThrow(
      /tokenizer\.gap_edges: edges must be strictly ascending, got 2 then 1/,
    );
    expect(() => fitTokenizer([base], toyData, tokCfg({ age_edges: [18] }))).toThrow(/tokenizer\.age_edges: needs at least 2 edges, got \[18\]/);
    const dupData = { ...toyData, variables: [...toyData.variables, { name: 'hr', type: 'continuous' as const }] };
    expect(() => fitTokenizer([base], dupData, tokCfg())).toThrow(/data\.variables: 'hr' is declared twice/);
  });

  it('an empty training split still gives a valid grammar (every state can finish)', () => {
    const empty = fitTokenizer([], toyData, tokCfg());
    expect(Array.from(empty.automaton.distToEnd).every((d) => d >= 0)).toBe(true);
    const r = empty.decode(empty.encodePatient({ ...base, admissions: [{ id: 'a', codes: [], events: [] }] }, { unknown: 'drop' }), { rng: new Rng(1) });
    expect(r.covariates.sex).toBe('F');
  });

  it('EXPECTED FAILURE - unknown variable', () => {
    expect(() => tok.encodePatient(withEvent('spo2', 97))).toThrow(
      /patient covering, admission covering-0, event 8 \(hours 3\): variable 'spo2' is not in data config 'toy' \(variables: hr, gcs, vent, lactate, rhythm\)/,
    );
    expect(() => fitTokenizer([withEvent('spo2', 97)], toyData, tokCfg())).toThrow(/variable 'spo2' is not in data config 'toy'/);
  });

  it('EXPECTED FAILURE - NaN and infinite values and hours', () => {
    expect(() => tok.encodePatient(withEvent('hr', Number.NaN))).toThrow(/'hr' = null is not a finite number/);
    expect(() => tok.encodePatient(withEvent('hr', Infinity))).toThrow(/'hr' = null is not a finite number/);
    expect(() => tok.encodePatient(withEvent('hr', 'fast'))).toThrow(/'hr' = "fast" is not a finite number/);
    expect(() => tok.encodePatient(withEvent('hr', 80, Number.NaN))).toThrow(/hours = NaN is not a finite number >= 0/);
    expect(() => tok.encodePatient(withEvent('hr', 80, -1))).toThrow(/hours = -1 is not a finite number >= 0/);
    expect(() => tok.encodePatient({ ...base, covariates: { ...base.covariates, age: Number.NaN } })).toThrow(
      /patient covering: covariate 'age' = null is not a finite number/,
    );
    expect(() => fitTokenizer([withEvent('hr', Number.NaN)], toyData, tokCfg())).toThrow(/'hr' = null is not a finite number/);
  });

  it('EXPECTED FAILURE - unknown code system, code without system', () => {
    const coded = (code: string): PatientRecord => ({ ...base, admissions: [{ ...base.admissions[0]!, codes: [code] }] });
    expect(() => tok.encodePatient(coded('SNOMED:123'))).toThrow(
      /patient covering, admission covering-0: code 'SNOMED:123' has unknown code system 'SNOMED'; the data config allows ICD9, ICD10/,
    );
    expect(() => tok.encodePatient(coded('4019'))).toThrow(/code '4019' has no code system prefix/);
    expect(() => fitTokenizer([coded('SNOMED:1')], toyData, tokCfg())).toThrow(/unknown code system 'SNOMED'/);
  });

  it('EXPECTED FAILURE - unknown covariate, label, categorical value; no admissions', () => {
    expect(() => tok.encodePatient({ ...base, covariates: { ...base.covariates, height: 180 } })).toThrow(
      /covariate 'height' is not in data config 'toy'/,
    );
    expect(() => tok.encodePatient({ ...base, labels: { sofa: 3 } })).toThrow(/label 'sofa' is not in data config 'toy'/);
    expect(() => tok.encodePatient({ ...base, labels: { death: 2 } })).toThrow(/label 'death' = 2 is not one of its values \(0, 1\)/);
    expect(() => tok.encodePatient(withEvent('vent', 'maybe'))).toThrow(/'vent' = "maybe" is not one of its values \(no, yes\)/);
    expect(() => tok.encodePatient({ ...base, covariates: { ...base.covariates, sex: 'X' } })).toThrow(
      /covariate 'sex' = "X" is not one of its values \(F, M\)/,
    );
    expect(() => tok.encodePatient({ ...base, admissions: [] })).toThrow(/patient covering: has no admissions/);
    expect(() => fitTokenizer([{ ...base, covariates: { ...base.covariates, sex: 'X' } }], toyData, tokCfg())).toThrow(
      /covariate 'sex': training value "X" is not among the declared values \(F, M\)/,
    );
  });

  it("unknown: 'drop' skips unseen categorical values and counts them; unseen codes are dropped and counted", () => {
    const stats = { dropped_codes: 0, dropped_values: 0, collapsed_repeats: 0 };
    const p: PatientRecord = {
      ...withEvent('vent', 'maybe'),
      covariates: { ...base.covariates, sex: 'X' },
    };
    const fit = fitTokenizer([{ ...base, admissions: [{ ...base.admissions[0]!, codes: ['ICD9:4019'] }] }, sparsePatient()], toyData, tokCfg());
    const ids = fit.encodePatient(p, { unknown: 'drop', stats });
    expect(fit.automaton.accepts(ids)).toBe(true);
    expect(stats).toEqual({ dropped_codes: base.admissions[0]!.codes.length - 1, dropped_values: 2, collapsed_repeats: 0 });
    expect(fit.decode(ids, { rng: new Rng(1) }).covariates.sex).toBeNull();
  });

  it('repeated measurements of a variable at one time step collapse to the last one, and are counted', () => {
    const stats = { dropped_codes: 0, dropped_values: 0, collapsed_repeats: 0 };
    const p = withEvent('vent', 'no', 1); // hours 1 already has vent = yes
    const events = [...p.admissions[0]!.events].sort((a, b) => a.hours - b.hours);
    const ids = tok.encodePatient({ ...p, admissions: [{ ...p.admissions[0]!, events }] }, { stats });
    expect(stats.collapsed_repeats).toBe(1);
    const r = tok.decode(ids, { rng: new Rng(1) });
    const at1 = r.admissions[0]!.events.filter((e) => e.variable === 'vent');
    expect(at1.map((e) => e.value)).toEqual(['no', 'no']);
  });

  it('repeats: mean collapses a continuous variable\'s repeats to their mean; categorical ones keep the last', () => {
    const ev = (hours: number, variable: string, value: number | string) => ({ hours, variable, value });
    const train: PatientRecord = {
      ...base,
      admissions: [{ id: 'a', codes: [], events: [...Array.from({ length: 201 }, (_, h) => ev(h, 'hr', h)), ev(0, 'vent', 'no'), ev(1, 'vent', 'yes')] }],
    };
    const p: PatientRecord = {
      ...base,
      admissions: [{ id: 'b', codes: [], events: [ev(5, 'hr', 60), ev(5, 'vent', 'yes'), ev(5, 'hr', 100), ev(5, 'vent', 'no')] }],
    };
    const bin = (t: Tokenizer): number => {
      const r = t.decode(t.encodePatient(p), { rng: new Rng(1) });
      const [hr, vent] = r.admissions[0]!.events;
      expect(vent!.value).toBe('no');
      return binIndex(t.variables[0]!.bins!.edges, hr!.value as number);
    };
    // uniform bins of width 20 over 0..200: 60 -> bin 3, mean 80 -> bin 4, 100 -> bin 5
    const last = fitTokenizer([train], toyData, tokCfg({ bin_type: 'uniform', n_bins: 10, trim_tails: false }));
    const mean = fitTokenizer([train], toyData, tokCfg({ bin_type: 'uniform', n_bins: 10, trim_tails: false, repeats: 'mean' }));
    expect(bin(last)).toBe(5);
    expect(bin(mean)).toBe(4);
    const stats = { dropped_codes: 0, dropped_values: 0, collapsed_repeats: 0 };
    mean.encodePatient(p, { stats });
    expect(stats.collapsed_repeats).toBe(2);
  });

  it('events out of hours order are sorted before encoding', () => {
    const p = coveringPatient();
    const rev = { ...p, admissions: [{ ...p.admissions[0]!, events: [...p.admissions[0]!.events].reverse() }] };
    expect(Array.from(tok.encodePatient(rev))).toEqual(Array.from(tok.encodePatient(p)));
  });
});

/** Fewest tokens from `from` to the end state, searching forwards level by level (independent of distToEnd). */
function forwardBfs(tok: Tokenizer, from: number): number {
  const a = tok.automaton;
  let frontier = new Set([from]);
  const seen = new Set([from]);
  for (let d = 0; frontier.size > 0; d++) {
    if (frontier.has(a.endState)) return d;
    const nextFrontier = new Set<number>();
    for (const s of frontier) {
      for (let t = 0; t < a.vocabSize; t++) {
        const n = a.step(s, t);
        if (n >= 0 && !seen.has(n)) {
          seen.add(n);
          nextFrontier.add(n);
        }
      }
    }
    frontier = nextFrontier;
  }
  return -1;
}
