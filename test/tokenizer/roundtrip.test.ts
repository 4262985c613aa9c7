import { describe, it, expect } from 'vitest';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { roundTrip, roundTripTable, formatRoundTripTable, type RoundTripTable } from '../../src/tokenizer/roundtrip.ts';
import { tokenizerConfigSchema } from '../../src/tokenizer/config.ts';
import { fixturePatients, physionetDataConfig } from './physionet.ts';
import fc from 'fast-check';
import { cohortArb, coveringPatient, sparsePatient, tokCfg, toyData } from './helpers.ts';
import { SynehrError } from '../../src/util/errors.ts';
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The fields with enough values to judge (a few hundred), and what is wrong with each. */
function outOfBounds(t: RoundTripTable, minN: number): string[] {
  const bad: string[] = [];
  for (const r of t.rows) {
    if (!r.field.startsWith('var:') || r.n < minN) continue;
    if (r.ks > 0.05) bad.push(`${r.field}: KS ${r.ks.toFixed(3)}`);
    if (Math.abs(r.sd_ratio - 1) > 0.1) bad.push(`${r.field}: sd ratio ${r.sd_ratio.toFixed(3)}`);
    if (r.within_sd_ratio !== null && (r.within_sd_ratio < 0.8 || r.within_sd_ratio > 1.25)) bad.push(`${r.field}: within-patient sd ratio ${r.within_sd_ratio.toFixed(3)}`);
  }
  return bad;
}

describe('round trip: real patients encoded and decoded back', () => {
  const patients = fixturePatients();

  it("keeps each variable's distribution and its patients' spread (KS, sd ratio, within-patient sd ratio)", () => {
    const tok = fitTokenizer(patients, physionetDataConfig, tokCfg());
    // five decodings against five copies: 40 patients' draws alone are noisy (a weight carried
    // forward is one draw per patient however often it is recorded)
    const seeds = [1, 2, 3, 4, 5];
    const decoded = seeds.flatMap((seed) => roundTrip(tok, patients, seed).decoded);
    const t = roundTripTable(seeds.flatMap(() => patients), decoded, physionetDataConfig);
    const judged = t.rows.filter((r) => r.field.startsWith('var:') && r.n >= 1500);
    expect(judged.length).toBeGreaterThanOrEqual(8);
    expect(outOfBounds(t, 1500), formatRoundTripTable(t)).toEqual([]);
    // gaps: every decoded gap is a training gap of its bin, so the pooled gaps barely move
    expect(t.rows.find((r) => r.field === 'time:gap')!.ks).toBeLessThan(0.02);
  });

  it("SynEHRgy's decoding (9 interpolated quantiles in every bin, each value drawn afresh) fails the same bounds", () => {
    // the check above can fail: the previous decoder's jitter shows in it
    const preset = YAML.parse(readFileSync(join(import.meta.dirname, '../../configs/tokenizer/synehrgy.yaml'), 'utf8'));
    const tok = fitTokenizer(patients, physionetDataConfig, tokenizerConfigSchema.parse(preset));
    const t = roundTripTable(patients, roundTrip(tok, patients, 1).decoded, physionetDataConfig);
    expect(outOfBounds(t, 300).some((b) => b.includes('within-patient'))).toBe(true);
  });

  it('no decoded event passes the window, which is the data config\'s when it declares one', () => {
    const data = { ...physionetDataConfig, window_hours: 48 };
    const tok = fitTokenizer(patients, data, tokCfg());
    expect(tok.windowHours).toBe(48);
    const t = roundTripTable(patients, roundTrip(tok, patients, 2).decoded, data);
    expect(t.max_hours[1]).toBeLessThanOrEqual(48);
  });

  it('codes come back exactly and in order: every admission, and n-gram r = 1', () => {
    const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 5 })[0]!;
    const tok = fitTokenizer(cohort, toyData, tokCfg());
    const t = roundTripTable(cohort, roundTrip(tok, cohort, 1).decoded, toyData, new Set(tok.codes.values));
    expect(t.codes!.admissions).toBeGreaterThan(0);
    expect(t.codes!.exact).toBe(1);
    expect(t.codes!.ngram_r).toEqual([1, 1, 1]);
    // a patient with a code the vocabulary lacks: exact only against the codes it holds
    const other = { ...coveringPatient(), id: 'other', admissions: [{ id: 'o', codes: ['ICD9:9999', ...cohort[0]!.admissions[0]!.codes.slice(0, 1), 'ICD9:9999'], events: [] }] };
    const withUnseen = roundTripTable([other], roundTrip(tok, [other], 1).decoded, toyData, new Set(tok.codes.values));
    expect(withUnseen.codes!.exact).toBe(0);
    expect(withUnseen.codes!.exact_in_vocabulary).toBe(1);
  });

  it('the table of a set against itself: KS 0 and every ratio 1', () => {
    const t = roundTripTable(patients, patients, physionetDataConfig);
    for (const r of t.rows) {
      expect(r.ks).toBe(0);
      expect(r.sd_ratio).toBe(1);
      if (r.within_sd_ratio !== null) expect(r.within_sd_ratio).toBe(1);
    }
    expect(() => roundTripTable(patients, patients.slice(1), physionetDataConfig)).toThrow(/40 original records but 39 decoded/);
  });
});

describe('the grammar requires what the training split always has', () => {
  it('a covariate never missing in training has no "missing" token in the grammar; a label always present cannot be left out', () => {
    // covering has every covariate and label; sparse none but age and death
    const sparse = { ...sparsePatient(), covariates: { ...sparsePatient().covariates, age: 70 }, labels: { death: 1 } };
    const tok = fitTokenizer([coveringPatient(), sparse], toyData, tokCfg());
    expect(tok.covariates.map((c) => c.required)).toEqual([true, false, false, false]);
    expect(tok.labels.map((l) => l.required)).toEqual([true, false, false]);
    const a = tok.automaton;
    const afterBos = a.step(a.startState, tok.bos);
    expect(a.step(afterBos, tok.covariates[0]!.missing)).toBe(-1);
    // after the covariates, </label> is forbidden until death is given
    let s = afterBos;
    for (const t of tok.encodePrefix(coveringPatient(), { through: 'covariates' }).slice(1)) s = a.step(s, t);
    expect(a.step(s, tok.endLabel)).toBe(-1);
    expect(a.step(s, tok.labels[1]!.offset)).toBe(-1); // phenotype cannot skip death either
    expect(a.step(s, tok.labels[0]!.offset)).toBeGreaterThanOrEqual(0);
    // encoding a patient without them is an error that says why
    const noAge = { ...coveringPatient(), covariates: { ...coveringPatient().covariates, age: null } };
    expect(() => tok.encodePatient(noAge)).toThrow(SynehrError);
    expect(() => tok.encodePatient(noAge)).toThrow(/patient covering: covariate 'age' is missing, but every training patient has it/);
    expect(() => tok.encodePatient({ ...coveringPatient(), labels: {} })).toThrow(/label 'death' is missing, but every training patient has it/);
  });
});
