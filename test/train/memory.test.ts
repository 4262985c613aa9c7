/**
 * The value memory's rows (src/train/memory.ts) against a reference computed another way: for every
 * token, a backward scan of its own patient for each variable's latest measurement token. Relative
 * bins must give the rows of the absolute encoding, since they carry the same values.
 */
import { describe, expect, it } from 'vitest';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { TokenClass, type Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { MemoryRows } from '../../src/train/memory.ts';
import { SynehrError } from '../../src/util/errors.ts';
import { fixturePatients, physionetDataConfig } from '../tokenizer/physionet.ts';
import { tokCfg } from '../tokenizer/helpers.ts';

const patients = fixturePatients();
const absolute = fitTokenizer(patients, physionetDataConfig, tokCfg());
const relative = fitTokenizer(patients, physionetDataConfig, tokCfg({ delta_bins: 2 }));

/** Windows of T tokens, each holding two whole patients then padding: ids and doc ids, row-major. */
function pack(tok: Tokenizer, T: number): { ids: number[]; docs: number[]; B: number } {
  const seqs = patients.map((p) => Array.from(tok.encodePatient(p)));
  const ids: number[] = [];
  const docs: number[] = [];
  let B = 0;
  for (let i = 0; i + 1 < seqs.length; i += 2) {
    const [a, b] = [seqs[i]!, seqs[i + 1]!];
    if (a.length + b.length > T) continue;
    ids.push(...a, ...b, ...new Array<number>(T - a.length - b.length).fill(tok.pad));
    docs.push(...a.map(() => 0), ...b.map(() => 1), ...new Array<number>(T - a.length - b.length).fill(2));
    B++;
  }
  return { ids, docs, B };
}

/**
 * Row n by a backward scan: per variable, the last measurement token of n's patient at or before n
 * (−1 for none); with `which` 2, the one before that.
 */
function scannedRow(tok: Tokenizer, ids: number[], docs: number[], T: number, n: number, which: 1 | 2 = 1): number[] {
  const row = new Array<number>(tok.variables.length).fill(-1);
  const seen = new Array<number>(tok.variables.length).fill(0);
  const start = n - (n % T);
  for (let k = n; k >= start && docs[k] === docs[n]; k--) {
    const t = ids[k]!;
    if (tok.tokenClass[t] !== TokenClass.measurement) continue;
    const j = tok.tokenOwner[t]!;
    if (++seen[j]! === which) row[j] = t;
  }
  return row;
}

describe('value memory rows', () => {
  const T = 1400;
  it('are, for every token of packed windows, each variable\'s latest value token of its own patient', () => {
    const { ids, docs, B } = pack(absolute, T);
    expect(B).toBeGreaterThan(3);
    const J = absolute.variables.length;
    const rows = new MemoryRows(absolute.memoryTable(), B, T).fill(ids, docs, T);
    let known = 0;
    const wrong: number[] = [];
    for (let n = 0; n < B * T; n++) {
      const want = scannedRow(absolute, ids, docs, T, n);
      if (want.some((u, j) => rows[n * J + j] !== BigInt(u))) wrong.push(n);
      known += want.filter((u) => u >= 0).length;
    }
    expect(wrong).toEqual([]);
    // padding rows are empty, and real patients fill many variables
    expect(Array.from(rows.subarray((T - 1) * J, T * J)).every((u) => u === -1n)).toBe(true);
    expect(known / (B * T)).toBeGreaterThan(5);
  });

  it('with `before`, hold each variable\'s value token before its latest one; the latest rows are the same', () => {
    const { ids, docs, B } = pack(absolute, T);
    const J = absolute.variables.length;
    const plain = Array.from(new MemoryRows(absolute.memoryTable(), B, T).fill(ids, docs, T));
    const rows = new MemoryRows(absolute.memoryTable(), B, T, { before: true });
    expect(Array.from(rows.fill(ids, docs, T))).toEqual(plain);
    const before = rows.before!;
    let known = 0;
    const wrong: number[] = [];
    for (let n = 0; n < B * T; n++) {
      const want = scannedRow(absolute, ids, docs, T, n, 2);
      if (want.some((u, j) => before[n * J + j] !== BigInt(u))) wrong.push(n);
      known += want.filter((u) => u >= 0).length;
    }
    expect(wrong).toEqual([]);
    expect(known / (B * T)).toBeGreaterThan(2);
    expect(new MemoryRows(absolute.memoryTable(), 1, 2).before).toBeNull();
    // relative bins: the value before a step is the one the step started from
    const r = pack(relative, T);
    const rr = new MemoryRows(relative.memoryTable(), r.B, T, { before: true });
    rr.fill(r.ids, r.docs, T);
    const mismatched: number[] = [];
    for (let i = 0; i < before.length; i++) {
      const j = i % J;
      const want = before[i]! < 0n ? -1n : before[i]! - BigInt(absolute.variables[j]!.offset) + BigInt(relative.variables[j]!.offset);
      if (rr.before![i] !== want) mismatched.push(Math.floor(i / J));
    }
    expect(mismatched).toEqual([]);
  });

  it('relative bins give the rows of the absolute encoding (as ids of the relative vocabulary)', () => {
    const a = pack(absolute, T);
    const r = pack(relative, T);
    expect(r.ids.length).toBe(a.ids.length);
    expect(r.ids.some((t) => relative.tokenClass[t] === TokenClass.delta)).toBe(true);
    const J = absolute.variables.length;
    const ra = new MemoryRows(absolute.memoryTable(), a.B, T).fill(a.ids, a.docs, T);
    const rr = new MemoryRows(relative.memoryTable(), r.B, T).fill(r.ids, r.docs, T);
    // the same variable and the same bin or category: offsets differ between the vocabularies
    const wrong: number[] = [];
    for (let i = 0; i < ra.length; i++) {
      const j = i % J;
      const want = ra[i]! < 0n ? -1n : ra[i]! - BigInt(absolute.variables[j]!.offset) + BigInt(relative.variables[j]!.offset);
      if (rr[i] !== want) wrong.push(Math.floor(i / J));
    }
    expect(wrong).toEqual([]);
    expect(ra.some((u) => u >= 0n)).toBe(true);
  });

  it('with labels (model.memory_labels), each label is a column after the variables, set from its token on; the variables\' columns are the same', () => {
    const { ids, docs, B } = pack(absolute, T);
    const plain = absolute.memoryTable();
    const table = absolute.memoryTable({ labels: true });
    const Jv = absolute.variables.length;
    const L = absolute.labels.length;
    expect(L).toBeGreaterThan(0);
    expect(table).toMatchObject({ variables: Jv + L, labels: L });
    expect(plain.labels).toBe(0);
    // a label's tokens have no kernel (first −1) and set themselves
    for (let t = 0; t < absolute.vocab.length; t++) {
      if (absolute.tokenClass[t] === TokenClass.label) expect([table.owner[t], table.sets[t], table.first[t]]).toEqual([Jv + absolute.tokenOwner[t]!, t, -1]);
      else expect([table.owner[t], table.sets[t], table.first[t]]).toEqual([plain.owner[t], plain.sets[t], plain.first[t]]);
    }
    const a = new MemoryRows(plain, B, T).fill(ids, docs, T);
    const b = new MemoryRows(table, B, T).fill(ids, docs, T);
    const J = Jv + L;
    const wrong: number[] = [];
    let drawn = 0;
    for (let n = 0; n < B * T; n++) {
      // by a backward scan of n's own patient: its label tokens up to n
      const want = new Array<number>(L).fill(-1);
      for (let k = n; k >= n - (n % T) && docs[k] === docs[n]; k--) {
        const t = ids[k]!;
        if (absolute.tokenClass[t] === TokenClass.label && want[absolute.tokenOwner[t]!] === -1) want[absolute.tokenOwner[t]!] = t;
      }
      drawn += want.filter((u) => u >= 0).length;
      for (let j = 0; j < Jv; j++) if (b[n * J + j] !== a[n * Jv + j]) wrong.push(n);
      for (let l = 0; l < L; l++) if (b[n * J + Jv + l] !== BigInt(want[l]!)) wrong.push(n);
    }
    expect(wrong).toEqual([]);
    expect(drawn).toBeGreaterThan(B * L);
  });

  it('EXPECTED FAILURE - var+quant has no one-token values; a step with no earlier value is named', () => {
    const vq = fitTokenizer(patients, physionetDataConfig, tokCfg({ strategy: 'var+quant' }));
    expect(() => vq.memoryTable()).toThrow(/model.value_memory needs tokenizer.strategy 'joint'.*got 'var\+quant'/);
    const hct = relative.variables.find((v) => v.name === 'HCT')!;
    const rows = new MemoryRows(relative.memoryTable(), 1, 3);
    const err = (() => {
      try {
        rows.fill([relative.bos, hct.delta_offset!, relative.eos], [0, 0, 0], 3);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SynehrError);
    expect((err as Error).message).toMatch(/token \d+ at row 1 steps from an earlier value of variable \d+/);
  });
});
