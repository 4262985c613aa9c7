/**
 * The memory calibration (src/generate/calibrate.ts): presence shares counted by hand, the offset
 * step exact under the hazard model it assumes, a tiny model's sampled shares brought toward the
 * real ones (measured on draws the calibration did not see), and the run file rewritten with only
 * the offsets changed.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrateFirstValues, calibrateRunWeights, fieldOf, fieldShares, fieldsMaxLen, fieldSteps, MEMORY_CALIBRATION_METADATA, offsetSteps, presenceShares, sampleRows } from '../../src/generate/calibrate.ts';
import { batchSeed } from '../../src/generate/generate.ts';
import { shardPatient } from '../../src/tokenizer/shards.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { initParams, paramLayout, paramViews } from '../../src/model/init.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { loadSafetensors, saveSafetensors, tensorToFloat32 } from '../../src/model/safetensors.ts';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { TokenClass } from '../../src/tokenizer/vocabulary.ts';
import type { TokenShard } from '../../src/train/batches.ts';
import { Rng } from '../../src/util/rng.ts';
import { cohortArb, tokCfg, toyData } from '../tokenizer/helpers.ts';

const cfg: ModelConfig = { name: 'calibrate-test', n_layer: 1, n_embd: 16, n_head: 2, n_ctx: 96, init_std: 0.3, embd_pdrop: 0, resid_pdrop: 0, value_memory: true, memory_labels: false };

let tok: Tokenizer;
let cohort: Parameters<typeof fitTokenizer>[0];
let shard: TokenShard;
let weights: Record<string, Float32Array>;

beforeAll(() => {
  cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
  tok = fitTokenizer(cohort, toyData, tokCfg());
  const encoded = cohort.map((r) => Array.from(tok.encodePatient(r)));
  const offsets = new Uint32Array(encoded.length + 1);
  encoded.forEach((e, i) => (offsets[i + 1] = offsets[i]! + e.length));
  shard = { ids: Uint16Array.from(encoded.flat()), offsets, vocabSize: tok.vocab.length };
  const specs = gptParamSpecs(cfg, tok.vocab.length);
  const layout = paramLayout(specs);
  const views = paramViews(layout, initParams(layout, new Rng(5)));
  weights = {};
  specs.forEach((s, i) => (weights[s.name] = Float32Array.from(views[i]!)));
});

/** The mean |sampled − real| presence share of n patients drawn from w with the given seed. */
async function presenceError(w: Record<string, Float32Array>, n: number, seed: number): Promise<number> {
  const table = tok.memoryTable();
  const real = presenceShares(
    Array.from({ length: shard.offsets.length - 1 }, (_, p) => shardPatient(shard, p)),
    table,
  ).shares;
  const got = presenceShares(await sampleRows(cfg, tok, w, n, seed, 100, 1), table).shares;
  return got.reduce((a, p, j) => a + Math.abs(p - real[j]!), 0) / got.length;
}

describe('presenceShares', () => {
  it('counts each patient once per variable it has, whatever its repeats', () => {
    const table = tok.memoryTable();
    const byVar = (j: number) => Array.from(table.owner).findIndex((o, t) => o === j && table.first[t]! >= 0);
    const [a, b] = [byVar(0), byVar(1)];
    expect(Math.min(a, b)).toBeGreaterThan(0);
    const { shares, n } = presenceShares([[tok.bos, a, a, a], [tok.bos, a, b], [tok.bos], [tok.bos, b]], table);
    expect(n).toBe(4);
    expect(shares[0]).toBe(0.5);
    expect(shares[1]).toBe(0.5);
    for (let j = 2; j < table.variables; j++) expect(shares[j]).toBe(0);
    expect(() => presenceShares([[tok.vocab.length]], table)).toThrow(/outside the vocabulary/);
    expect(() => presenceShares([], table)).toThrow(/no rows/);
  });
});

describe('offsetSteps', () => {
  it('is exact when the offset scales a per-position hazard: share = 1 − exp(−Λ e^δ)', () => {
    const lambdas = [0.05, 0.4, 1.2, 3];
    const deltas = [-0.7, 0.3, 1.1, -2];
    const sampled = lambdas.map((l) => 1 - Math.exp(-l));
    const real = lambdas.map((l, j) => 1 - Math.exp(-l * Math.exp(deltas[j]!)));
    const got = offsetSteps(real, 1e9, sampled, 1e9);
    got.forEach((d, j) => expect(d).toBeCloseTo(deltas[j]!, 9));
  });

  it('clamps shares of 0 and 1 to half a patient, so every step is finite', () => {
    const got = offsetSteps([0.5, 0.5, 0], 100, [0, 1, 0], 200);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(got[0]).toBeGreaterThan(0);
    expect(got[1]).toBeLessThan(0);
    expect(got[2]).toBeCloseTo(Math.log(-Math.log(1 - 0.005)) - Math.log(-Math.log(1 - 0.0025)), 12);
    expect(() => offsetSteps([0.5], 10, [0.5, 0.5], 10)).toThrow(/1 real shares and 2 sampled/);
  });
});

describe('fieldOf, fieldShares and fieldSteps', () => {
  it('map each covariate\'s and label\'s value tokens to their field, count the records that have each, and step by the log ratio', () => {
    const field = fieldOf(tok);
    const K = tok.covariates.length;
    tok.covariates.forEach((c, i) => expect(field[c.missing]).toBe(i));
    tok.labels.forEach((l, i) => expect(field[l.offset]).toBe(K + i));
    expect(field[tok.bos]).toBe(-1);
    expect(Array.from(tok.memoryTable().first).every((f, t) => f < 0 || field[t] === -1)).toBe(true);
    const sex = tok.covariates.find((c) => c.name === 'sex')!;
    const [f, m] = [sex.offset, sex.offset + 1];
    const { shares, n } = fieldShares([[tok.bos, f], [tok.bos, m], [tok.bos, f], [tok.bos]], field);
    expect(n).toBe(4);
    expect(shares[f]).toBe(0.5);
    expect(shares[m]).toBe(0.25);
    expect(shares[tok.bos]).toBe(0);
    expect(() => fieldShares([[tok.vocab.length]], field)).toThrow(/outside the vocabulary/);
    const real = new Float64Array(field.length);
    const got = new Float64Array(field.length);
    real[f] = 0.44;
    got[f] = 0.54;
    real[m] = 0.56;
    got[m] = 0; // clamped to half a record of 100
    real[tok.bos] = 0.3; // no field: no step
    const step = fieldSteps(field, real, 1000, got, 100);
    expect(step[f]).toBeCloseTo(Math.log(0.44 / 0.54), 12);
    expect(step[m]).toBeCloseTo(Math.log(0.56 / 0.005), 12);
    expect(step[tok.bos]).toBe(0);
    expect(() => fieldSteps(field, real, 10, got.subarray(1), 10)).toThrow(/shares for/);
  });

  it('with the labels after the series, maps the covariates as before and the labels to no field', () => {
    const last = fitTokenizer(cohort, toyData, tokCfg({ label_position: 'last' }));
    expect(last.labelsLast).toBe(true);
    const field = fieldOf(last);
    const K = last.covariates.length;
    last.covariates.forEach((c, i) => expect(field[c.missing]).toBe(i));
    let labelTokens = 0;
    last.tokenClass.forEach((c, t) => {
      if (c === TokenClass.label) (labelTokens++, expect(field[t]).toBe(-1));
    });
    expect(labelTokens).toBeGreaterThan(0);
    expect(Array.from(field).every((f) => f < K)).toBe(true);
    // the first-position tokenizer keeps its labels as fields K, K + 1, ...
    expect(Array.from(fieldOf(tok)).some((f) => f >= K)).toBe(true);
  });
});

describe('calibrateFirstValues', () => {
  it('moves each variable\'s offset by one constant, and brings the sampled shares toward the real ones on draws it did not see', async () => {
    const table = tok.memoryTable();
    const before = await presenceError(weights, 600, 77);
    const r = await calibrateFirstValues(cfg, tok, weights, shard, { patients: 600, rounds: 2, seed: 3, batchSize: 100, threads: 1 });
    expect(r.rounds).toHaveLength(2);
    expect(r.rounds[1]!.meanError).toBeLessThan(r.rounds[0]!.meanError);
    // the input is left alone; only value tokens move, by their variable's one step, and (the
    // next test) the fields' values
    const wma0 = weights['transformer.wma.weight']!;
    expect(r.wma).not.toBe(wma0);
    const field = fieldOf(tok);
    const step = new Map<number, number>();
    for (let t = 0; t < r.wma.length; t++) {
      const d = r.wma[t]! - wma0[t]!;
      if (table.first[t]! < 0) {
        if (field[t]! < 0) expect(d).toBe(0);
        continue;
      }
      const j = table.owner[t]!;
      if (!step.has(j)) step.set(j, d);
      expect(d).toBeCloseTo(step.get(j)!, 5);
    }
    expect([...step.values()].some((d) => Math.abs(d) > 0.05)).toBe(true);
    const after = await presenceError({ ...weights, 'transformer.wma.weight': r.wma }, 600, 77);
    expect(before).toBeGreaterThan(0.05);
    expect(after).toBeLessThan(0.6 * before);
  });

  it('samples records\' starts with the fields drawn as in whole records: the same tokens up to </label>', async () => {
    const L = fieldsMaxLen(tok);
    const full = await sampleRows(cfg, tok, weights, 200, 9, 100, 1);
    const short = await sampleRows(cfg, tok, weights, 200, 9, 100, 1, L);
    const endLabel = tok.vocab.indexOf('</label>');
    expect(endLabel).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) {
      const end = Array.from(full[i]!).indexOf(endLabel);
      expect(end).toBeGreaterThan(tok.covariates.length);
      expect(short[i]!.length).toBeLessThanOrEqual(L);
      expect(Array.from(short[i]!.subarray(0, end + 1))).toEqual(Array.from(full[i]!.subarray(0, end + 1)));
    }
  });

  it('field rounds move each covariate\'s and label\'s value by log(real share / sampled share), and bring the sampled fields toward the real ones on draws they did not see', async () => {
    const field = fieldOf(tok);
    const real = fieldShares(Array.from({ length: shard.offsets.length - 1 }, (_, p) => shardPatient(shard, p)), field);
    const fieldError = async (w: Record<string, Float32Array>, seed: number) => {
      const got = fieldShares(await sampleRows(cfg, tok, w, 2000, seed, 100, 1, fieldsMaxLen(tok)), field).shares;
      let sum = 0;
      let n = 0;
      field.forEach((f, t) => {
        if (f >= 0) (sum += Math.abs(got[t]! - real.shares[t]!)), n++;
      });
      return sum / n;
    };
    const o = { patients: 100, rounds: 1, seed: 4, batchSize: 100, threads: 1 };
    const r = await calibrateFirstValues(cfg, tok, weights, shard, { ...o, fieldRounds: 1, fieldRecords: 1000 });
    expect(r.fieldRounds).toHaveLength(2);
    // the variables' round alone, then the field round's own draws: its step is the log ratio of their shares to the real ones
    const vars = await calibrateFirstValues(cfg, tok, weights, shard, { ...o, fields: false });
    expect(vars.fieldRounds).toEqual([]);
    const drawn = fieldShares(await sampleRows(cfg, tok, { ...weights, 'transformer.wma.weight': vars.wma }, 1000, batchSeed(4, 1), 100, 1, fieldsMaxLen(tok)), field);
    const want = fieldSteps(field, real.shares, real.n, drawn.shares, drawn.n);
    let moved = 0;
    for (let t = 0; t < r.wma.length; t++) {
      expect(r.wma[t]! - vars.wma[t]!).toBeCloseTo(want[t]!, 5);
      if (Math.abs(want[t]!) > 0.1) moved++;
    }
    expect(moved).toBeGreaterThan(3);
    const meanAbs = (a: number[]) => a.reduce((x, y) => x + Math.abs(y), 0) / a.length;
    expect(r.fieldRounds[0]!.meanError).toBeCloseTo(meanAbs(Array.from(field).flatMap((f, t) => (f >= 0 ? [drawn.shares[t]! - real.shares[t]!] : []))), 12);
    const before = await fieldError(weights, 78);
    const after = await fieldError({ ...weights, 'transformer.wma.weight': r.wma }, 78);
    expect(before).toBeGreaterThan(0.03);
    expect(after).toBeLessThan(0.5 * before);
    // three rounds get closer than one
    const three = await calibrateFirstValues(cfg, tok, weights, shard, { ...o, fieldRounds: 3, fieldRecords: 1000 });
    expect(three.fieldRounds[3]!.meanError).toBeLessThan(three.fieldRounds[0]!.meanError);
    expect(await fieldError({ ...weights, 'transformer.wma.weight': three.wma }, 78)).toBeLessThan(after);
  });

  it('needs the refit\'s offsets', async () => {
    const { ['transformer.wma.weight']: _, ...without } = weights;
    await expect(calibrateFirstValues(cfg, tok, without, shard, { patients: 10, rounds: 1, seed: 1 })).rejects.toThrow(/no 'transformer.wma.weight'.*refit/);
  });
});

describe('calibrateRunWeights', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synehr-calibrate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rewrites only the offsets and stamps the settings; the same settings after the same refit are left alone', async () => {
    const path = join(dir, 'model.safetensors');
    const tensors = Object.entries(weights).map(([name, data]) => ({ name, dtype: 'F32' as const, shape: gptParamSpecs(cfg, tok.vocab.length).find((s) => s.name === name)!.shape, data }));
    await saveSafetensors(path, tensors, { memory_refit: '{"settings":{"patients":8}}', other: 'kept' });
    const opts = { patients: 200, rounds: 1, seed: 2, batchSize: 100, threads: 1 };
    const r = await calibrateRunWeights(path, cfg, tok, shard, opts);
    expect(r).not.toBeNull();
    const file = await loadSafetensors(path);
    for (const t of file.tensors) {
      const want = t.name === 'transformer.wma.weight' ? r!.wma : weights[t.name]!;
      expect(Array.from(tensorToFloat32(t))).toEqual(Array.from(want));
    }
    expect(file.metadata.other).toBe('kept');
    const stamp = JSON.parse(file.metadata[MEMORY_CALIBRATION_METADATA]!);
    expect(stamp.settings).toEqual({ patients: 200, rounds: 1, seed: 2, fields: { rounds: 3, records: 4000 }, after_refit: '{"settings":{"patients":8}}' });
    expect(stamp.rounds).toHaveLength(1);
    expect(await calibrateRunWeights(path, cfg, tok, shard, opts)).toBeNull();
    // a refit since (another stamp) calls for a calibration again
    await saveSafetensors(path, file.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: tensorToFloat32(t) })), { ...file.metadata, memory_refit: '{"settings":{"patients":9}}' });
    expect(await calibrateRunWeights(path, cfg, tok, shard, opts)).not.toBeNull();
  });

  it('a stamp that is not JSON is an error naming the file and the key', async () => {
    const path = join(dir, 'bad.safetensors');
    await saveSafetensors(path, Object.entries(weights).map(([name, data]) => ({ name, dtype: 'F32' as const, shape: [data.length], data })), { [MEMORY_CALIBRATION_METADATA]: '{oops' });
    await expect(calibrateRunWeights(path, cfg, tok, shard, { patients: 10, rounds: 1, seed: 1 })).rejects.toThrow(/bad\.safetensors: metadata 'memory_calibration' is not JSON/);
  });
});
