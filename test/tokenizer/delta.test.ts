/**
 * Relative bins (tokenizer.delta_bins): a continuous value near the patient's previous value of its
 * variable is written as the step from it. The encoding must carry exactly the same bins as the
 * absolute one, so decoding both with one seed gives the same record.
 */
import { describe, expect, it } from 'vitest';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { tokenizerFromJSON, tokenizerToJSON } from '../../src/tokenizer/file.ts';
import { TokenClass } from '../../src/tokenizer/tokenizer.ts';
import { Rng } from '../../src/util/rng.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { fixturePatients, physionetDataConfig } from './physionet.ts';
import { tokCfg } from './helpers.ts';

const patients = fixturePatients();
const absolute = fitTokenizer(patients, physionetDataConfig, tokCfg());
const relative = fitTokenizer(patients, physionetDataConfig, tokCfg({ delta_bins: 2 }));

describe('tokenizer.delta_bins', () => {
  it('adds 2K + 1 step tokens per continuous variable and none for categorical ones', () => {
    const continuous = physionetDataConfig.variables.filter((v) => v.type === 'continuous').length;
    expect(relative.vocabSize - absolute.vocabSize).toBe(continuous * 5);
    expect(relative.vocabByClass()['delta']).toBe(continuous * 5);
    const hct = relative.variables.find((v) => v.name === 'HCT')!;
    expect(relative.vocab.slice(hct.delta_offset!, hct.delta_offset! + 5)).toEqual(['HCT:d-2', 'HCT:d-1', 'HCT:d+0', 'HCT:d+1', 'HCT:d+2']);
    expect(relative.variables.find((v) => v.name === 'MechVent')!.delta_offset).toBeUndefined();
  });

  it('encodes the same bins: decoding with one seed gives the same record as the absolute encoding', () => {
    let deltas = 0;
    let measurements = 0;
    for (const [i, p] of patients.entries()) {
      const a = absolute.encodePatient(p);
      const r = relative.encodePatient(p);
      expect(relative.automaton.accepts(r)).toBe(true);
      expect(r.length).toBe(a.length);
      for (const t of r) {
        if (relative.tokenClass[t] === TokenClass.delta) deltas++;
        if (relative.tokenClass[t] === TokenClass.delta || relative.tokenClass[t] === TokenClass.measurement) measurements++;
      }
      expect(relative.decode(r, { rng: new Rng(i), id: p.id })).toEqual(absolute.decode(a, { rng: new Rng(i), id: p.id }));
    }
    // real series mostly move by a bin or two between measurements
    expect(deltas / measurements).toBeGreaterThan(0.5);
  });

  it('the first value of a variable is absolute, a repeat of its bin is d+0, and a big jump is absolute again', () => {
    const p = patients.find((x) => x.admissions[0]!.events.filter((e) => e.variable === 'HR').length > 3)!;
    const hr = relative.variables.find((v) => v.name === 'HR')!;
    const ids = [...relative.encodePatient(p)].filter((t) => relative.tokenOwner[t] === relative.variables.indexOf(hr) && relative.tokenClass[t] !== TokenClass.covariate);
    expect(relative.tokenClass[ids[0]!]).toBe(TokenClass.measurement);
    const bins = absolute.encodePatient(p).filter((t) => absolute.tokenOwner[t] === absolute.variables.indexOf(absolute.variables.find((v) => v.name === 'HR')!) && absolute.tokenClass[t] === TokenClass.measurement);
    for (let k = 1; k < ids.length; k++) {
      const step = bins[k]! - bins[k - 1]!;
      if (Math.abs(step) <= 2) expect(relative.vocab[ids[k]!]).toBe(`HR:d${step < 0 ? '' : '+'}${step}`);
      else expect(ids[k]).toBe(bins[k]! - absolute.variables.find((v) => v.name === 'HR')!.offset + hr.offset);
    }
  });

  it('EXPECTED FAILURE - a step with no earlier value, or out of the bins, does not decode', () => {
    const ids = [...relative.encodePatient(patients[0]!)];
    // a continuous variable with two values or more, and the positions of its first two tokens
    const isValue = (t: number) => relative.tokenClass[t] === TokenClass.measurement || relative.tokenClass[t] === TokenClass.delta;
    const j = relative.variables.findIndex((x, jj) => x.type === 'continuous' && ids.filter((t) => isValue(t) && relative.tokenOwner[t] === jj).length >= 2);
    const x = relative.variables[j]!;
    const [first, second] = ids.flatMap((t, i) => (isValue(t) && relative.tokenOwner[t] === j ? [i] : []));
    expect(relative.tokenClass[ids[first!]!]).toBe(TokenClass.measurement);

    const noEarlier = [...ids];
    noEarlier[first!] = x.delta_offset! + 2; // d+0 before any value of it
    expect(relative.automaton.accepts(noEarlier)).toBe(true);
    expect(() => relative.decode(noEarlier, { rng: new Rng(1) })).toThrow(new RegExp(`no earlier value of '${x.name}'`));
    const lenient = relative.decode(noEarlier, { rng: new Rng(1), mode: 'lenient' });
    expect(lenient.error?.position).toBe(first);

    const outside = [...ids];
    outside[first!] = x.offset; // bin 0
    outside[second!] = x.delta_offset!; // then d-2
    expect(relative.automaton.accepts(outside)).toBe(true);
    expect(() => relative.decode(outside, { rng: new Rng(1) })).toThrow(/bin 0 -2 is outside 0\.\.\d+/);
  });

  it('survives tokenizer.json; needs strategy joint', () => {
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tokenizerToJSON(relative))));
    expect(back.encodePatient(patients[1]!)).toEqual(relative.encodePatient(patients[1]!));
    expect(back.deltaBins).toBe(2);
    expect(() => fitTokenizer(patients, physionetDataConfig, tokCfg({ delta_bins: 2, strategy: 'var+quant' }))).toThrow(SynehrError);
    expect(() => fitTokenizer(patients, physionetDataConfig, tokCfg({ delta_bins: 2, strategy: 'var+quant' }))).toThrow(/tokenizer\.delta_bins: 2 needs tokenizer\.strategy=joint/);
  });

  it('delta_max_per_patient keeps relative bins for the variables measured at most that often per training patient', () => {
    const continuous = physionetDataConfig.variables.filter((v) => v.type === 'continuous').map((v) => v.name);
    // counted here from the events themselves
    const rate = new Map(continuous.map((n) => [n, 0]));
    for (const p of patients) for (const a of p.admissions) for (const e of a.events) if (rate.has(e.variable)) rate.set(e.variable, rate.get(e.variable)! + 1 / patients.length);
    const sorted = [...rate.values()].sort((a, b) => a - b);
    const threshold = (sorted[10]! + sorted[11]!) / 2;
    const some = fitTokenizer(patients, physionetDataConfig, tokCfg({ delta_bins: 2, delta_max_per_patient: threshold }));
    const withSteps = some.variables.filter((v) => v.delta_offset !== undefined).map((v) => v.name);
    expect(withSteps.sort()).toEqual(continuous.filter((n) => rate.get(n)! <= threshold).sort());
    expect(withSteps.length).toBe(11);
    // the absolute variables encode as without relative bins, the others as with them: decoding agrees
    const p = patients[2]!;
    expect(some.decode(some.encodePatient(p), { rng: new Rng(3), id: p.id })).toEqual(absolute.decode(absolute.encodePatient(p), { rng: new Rng(3), id: p.id }));
    const rows = some.deltaTable()!;
    const first = some.variables.findIndex((v) => v.name === withSteps[0]);
    expect(rows.owner[some.variables[first]!.delta_offset!]).toBe(first);
  });

  it('deltaTable describes each token for the sampler', () => {
    const d = relative.deltaTable()!;
    expect(absolute.deltaTable()).toBeNull();
    const j = relative.variables.findIndex((v) => v.name === 'HCT');
    const x = relative.variables[j]!;
    expect(d.owner[x.offset + 3]).toBe(j);
    expect(d.absBin[x.offset + 3]).toBe(3);
    expect(d.owner[x.delta_offset! + 4]).toBe(j);
    expect(d.step[x.delta_offset! + 4]).toBe(2);
    expect(d.absBin[x.delta_offset! + 4]).toBe(-1);
    expect(d.bins[x.delta_offset!]).toBe(x.bins!.edges.length - 1);
    expect(d.owner[relative.variables.find((v) => v.name === 'MechVent')!.offset]).toBe(-1);
  });
});
