/**
 * sampler.onnx against references computed another way: a step-by-step greedy loop in JS over the
 * KV-cache inference graph, the automaton in JS, and the noise hash written out in JS.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '../../src/graph/index.ts';
import { createSession, float32Tensor, int64Tensor, type HostTensor, type Session } from '../../src/graph/runtime.ts';
import { buildSamplerGraph, guidanceFlip, uniformFromCounter } from '../../src/generate/sampler.ts';
import { buildInferenceGraph } from '../../src/model/gpt.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { initParams, paramLayout, paramViews } from '../../src/model/init.ts';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { TokenClass, type Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { Rng } from '../../src/util/rng.ts';
import { cohortArb, tokCfg, toyData } from '../tokenizer/helpers.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { MemoryRows } from '../../src/train/memory.ts';
import type { MemoryTable } from '../../src/tokenizer/vocabulary.ts';

const cfg: ModelConfig = { name: 'sampler-test', n_layer: 2, n_embd: 32, n_head: 2, n_ctx: 96, init_std: 0.02, embd_pdrop: 0, resid_pdrop: 0, value_memory: false, memory_labels: false };

let tok: Tokenizer;
let weights: Record<string, Float32Array>;

/** Random weights with a large init so the logits are far from uniform and greedy is well defined. */
function randomWeights(V: number, seed: number, std = 0.3): Record<string, Float32Array> {
  const specs = gptParamSpecs({ ...cfg, init_std: std }, V);
  const layout = paramLayout(specs);
  const views = paramViews(layout, initParams(layout, new Rng(seed)));
  const w: Record<string, Float32Array> = {};
  specs.forEach((s, i) => (w[s.name] = views[i]!));
  return w;
}

interface SampleArgs {
  prefix: number[][];
  maxLen?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  valueTemperature?: number;
  /** only for a sampler built with guidance */
  guidance?: number;
}

async function sample(s: Session, a: SampleArgs): Promise<number[][]> {
  const B = a.prefix.length;
  const P = a.prefix[0]!.length;
  const out = await s.run({
    prefix: int64Tensor(a.prefix.flat(), [B, P]),
    max_len: int64Tensor([a.maxLen ?? cfg.n_ctx], []),
    temperature: float32Tensor([a.temperature ?? 1], []),
    top_k: int64Tensor([a.topK ?? 0], []),
    top_p: float32Tensor([a.topP ?? 1], []),
    seed: int64Tensor([a.seed ?? 1], []),
    value_temperature: float32Tensor([a.valueTemperature ?? 1], []),
    ...(a.guidance === undefined ? {} : { guidance: float32Tensor([a.guidance], []) }),
  });
  const t = out.tokens!;
  const [b, steps] = t.dims as number[];
  const data = t.data as BigInt64Array;
  return Array.from({ length: b! }, (_, r) => [a.prefix[r]![0]!, ...Array.from(data.subarray(r * steps!, (r + 1) * steps!), Number)]);
}

/** The inference graph's two memory inputs [1, 1, J] for the last of `seq`, as MemoryRows computes them. */
function memoryFeeds(memory: MemoryTable, seq: number[]): Record<string, HostTensor> {
  const n = seq.length;
  const J = memory.variables;
  const rows = new MemoryRows(memory, 1, n, { before: true });
  const latest = rows.fill(seq, new Array(n).fill(0), n);
  return { memory: int64Tensor(latest.slice((n - 1) * J), [1, 1, J]), memory_before: int64Tensor(rows.before!.slice((n - 1) * J), [1, 1, J]) };
}

/**
 * Greedy decoding in JS: the inference graph one token at a time, the grammar mask applied in JS.
 * With a memory table, each step also feeds its memory row, as MemoryRows computes it over the
 * tokens so far.
 */
async function jsGreedy(inf: Session, prefix: number[], maxLen: number, memory?: MemoryTable, guidance?: { flip: Int32Array; w: number }): Promise<number[]> {
  const A = tok.automaton;
  const V = tok.vocab.length;
  const H = cfg.n_head;
  const D = cfg.n_embd / H;
  const seq = [...prefix];
  let state = A.startState;
  for (const t of prefix) state = A.step(state, t);
  // the clock, in float32 as the sampler keeps it
  const { stepHours, resets, windowHours } = tok.clock();
  let elapsed = 0;
  for (const t of prefix) elapsed = resets.includes(t) ? 0 : Math.fround(elapsed + stepHours[t]!);
  /** one token through the inference graph with its own cache; the logits [V] after it */
  const stepper = () => {
    let past: Record<string, ReturnType<typeof float32Tensor>> = {};
    for (let l = 0; l < cfg.n_layer; l++) {
      past[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
      past[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
    }
    return async (s: number[], pos: number): Promise<Float32Array> => {
      const out = await inf.run({
        input_ids: int64Tensor([s[pos]!], [1, 1]),
        attention_mask: int64Tensor(new Array(pos + 1).fill(1), [1, pos + 1]),
        position_ids: int64Tensor([pos], [1, 1]),
        ...(memory ? memoryFeeds(memory, s.slice(0, pos + 1)) : {}),
        ...past,
      });
      past = {};
      for (let l = 0; l < cfg.n_layer; l++) {
        past[`past_key_values.${l}.key`] = out[`present.${l}.key`]!;
        past[`past_key_values.${l}.value`] = out[`present.${l}.value`]!;
      }
      return out.logits!.data as Float32Array; // [1, 1, V]
    };
  };
  const own = stepper();
  // guidance: the contrast sequence is the flip of this one, token for token, with a cache of its own
  const contrast = guidance ? stepper() : null;
  const flipped = (s: number[]) => s.map((t) => guidance!.flip[t]!);
  // feed the prefix token by token, as the sampler does
  for (let pos = 0; pos < maxLen - 1 && state !== A.endState; pos++) {
    const l = await own(seq, pos);
    const lc = contrast ? await contrast(flipped(seq), pos) : null;
    if (pos + 1 < prefix.length) continue;
    // l + w · (l − l_contrast) in float32, as the graph computes it
    const logits = lc ? Float32Array.from(l, (x, v) => Math.fround(x + Math.fround(guidance!.w * Math.fround(x - lc[v]!)))) : l;
    const left = maxLen - pos - 2;
    let best = -1;
    for (let v = 0; v < V; v++) {
      const n = A.step(state, v);
      if (n < 0 || A.distToEnd[n]! > left) continue;
      if (windowHours !== null && Math.fround(elapsed + stepHours[v]!) > Math.fround(windowHours)) continue;
      if (best < 0 || logits[v]! > logits[best]!) best = v;
    }
    seq.push(best);
    state = A.step(state, best);
    elapsed = resets.includes(best) ? 0 : Math.fround(elapsed + stepHours[best]!);
  }
  return seq;
}

/** Weights whose logits peak at `token` after every input: the final LayerNorm outputs its (tied, lengthened) embedding. */
function pushedToward(base: Record<string, Float32Array>, token: number): Record<string, Float32Array> {
  const pushed = { ...base };
  const C = cfg.n_embd;
  // its (tied) embedding row made 4 times longer, so its logit beats every other token's
  const wte = Float32Array.from(base['transformer.wte.weight']!);
  for (let c = 0; c < C; c++) wte[token * C + c]! *= 4;
  pushed['transformer.wte.weight'] = wte;
  const bias = new Float32Array(C);
  for (let c = 0; c < C; c++) bias[c] = 50 * wte[token * C + c]!;
  pushed['transformer.ln_f.weight'] = new Float32Array(C);
  pushed['transformer.ln_f.bias'] = bias;
  return pushed;
}

/** The memory weights with the label `name`'s value embeddings made 8 times longer, so that what follows depends on the label. */
function labelWeighted(table: MemoryTable, name: string): Record<string, Float32Array> {
  const w = memoryWeights(table);
  const l = tok.labels.find((x) => x.name === name)!;
  const wte = Float32Array.from(w['transformer.wte.weight']!);
  const C = cfg.n_embd;
  for (const t of [l.offset, l.offset + 1]) for (let c = 0; c < C; c++) wte[t * C + c]! *= 8;
  return { ...w, 'transformer.wte.weight': wte };
}

function trimPad(row: number[]): number[] {
  const end = row.indexOf(tok.eos);
  return end < 0 ? row : row.slice(0, end + 1);
}

let sampler: Session;

const memCfg: ModelConfig = { ...cfg, value_memory: true, memory_labels: false };

/** The random weights with a value memory: its embedding, bonuses of ±1 per distance in bins, and first-value offsets. */
function memoryWeights(table: MemoryTable): Record<string, Float32Array> {
  const V = tok.vocab.length;
  return {
    ...weights,
    'transformer.wme.weight': randomWeights(V, 8)['transformer.wte.weight']!,
    // large enough to change greedy choices
    'transformer.wmb.weight': Float32Array.from({ length: V }, (_, v) => ((v * 7919) % 13) / 6 - 1),
    // −1.5 to 1.5 by variable (the refit ties a variable's tokens); at the covariates' and labels'
    // values the calibration's field offsets, −2 to 2 by token
    'transformer.wma.weight': Float32Array.from({ length: V }, (_, v) =>
      table.first[v]! >= 0 ? ((table.owner[v]! * 5) % 7) / 2 - 1.5 : tok.tokenClass[v] === TokenClass.covariate || tok.tokenClass[v] === TokenClass.label ? ((v * 31) % 9) / 2 - 2 : 0,
    ),
    // the kernel on the value before the latest, as large
    'transformer.wmp.weight': Float32Array.from({ length: V }, (_, v) => ((v * 104729) % 11) / 5 - 1),
  };
}

beforeAll(async () => {
  const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
  tok = fitTokenizer(cohort, toyData, tokCfg());
  weights = randomWeights(tok.vocab.length, 3);
  sampler = await createSession(buildSamplerGraph(cfg, { vocabSize: tok.vocab.length, weights, automaton: tok.automaton, clock: tok.clock() }), { threads: 1 });
});

describe('sampler.onnx', () => {
  it('top_k = 1 equals a greedy loop in JS over the KV-cache inference graph', async () => {
    const inf = await createSession(buildInferenceGraph(cfg, { vocabSize: tok.vocab.length, weights }).model, { threads: 1 });
    const rows = await sample(sampler, { prefix: [[tok.bos], [tok.bos]], topK: 1, seed: 5 });
    const ref = await jsGreedy(inf, [tok.bos], cfg.n_ctx);
    expect(trimPad(rows[0]!)).toEqual(ref);
    expect(trimPad(rows[1]!)).toEqual(ref);
  });

  it('a tiny top_p and a temperature near 0 are greedy too', async () => {
    const greedy = await sample(sampler, { prefix: [[tok.bos]], topK: 1, seed: 1 });
    const tinyP = await sample(sampler, { prefix: [[tok.bos]], topP: 1e-6, seed: 2 });
    const cold = await sample(sampler, { prefix: [[tok.bos]], temperature: 1e-6, seed: 3 });
    expect(tinyP).toEqual(greedy);
    expect(cold).toEqual(greedy);
  });

  it('every sampled row is accepted by the automaton, ends within max_len, and pads after </s>', async () => {
    const B = 24;
    for (const maxLen of [cfg.n_ctx, 40]) {
      const rows = await sample(sampler, { prefix: Array.from({ length: B }, () => [tok.bos]), maxLen, seed: 9 });
      for (const r of rows) {
        expect(r.length).toBeLessThanOrEqual(maxLen);
        expect(tok.automaton.firstInvalid(r)).toBe(-1);
        const end = r.indexOf(tok.eos);
        expect(r.slice(end + 1).every((t) => t === tok.pad)).toBe(true);
      }
    }
  });

  it('the same seed gives the same rows; another seed gives others; top_k > 1 still varies', async () => {
    const prefix = Array.from({ length: 8 }, () => [tok.bos]);
    const a = await sample(sampler, { prefix, seed: 42 });
    const b = await sample(sampler, { prefix, seed: 42 });
    const c = await sample(sampler, { prefix, seed: 43 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // rows of one batch differ from each other (noise is per row)
    expect(new Set(a.map((r) => r.join(','))).size).toBeGreaterThan(1);
    const k3 = await sample(sampler, { prefix, topK: 3, seed: 42 });
    expect(new Set(k3.map((r) => r.join(','))).size).toBeGreaterThan(1);
  });

  it('a model pushed toward a forbidden token never emits it where the grammar forbids it', async () => {
    // ln_f scaled to 0 and its bias set to the embedding of </adm>: every position's logits peak at </adm>
    const pushed = { ...weights };
    const C = cfg.n_embd;
    const target = tok.endAdm;
    const bias = new Float32Array(C);
    for (let c = 0; c < C; c++) bias[c] = 50 * weights['transformer.wte.weight']![target * C + c]!;
    pushed['transformer.ln_f.weight'] = new Float32Array(C);
    pushed['transformer.ln_f.bias'] = bias;
    const s = await createSession(buildSamplerGraph(cfg, { vocabSize: tok.vocab.length, weights: pushed, automaton: tok.automaton }), { threads: 1 });
    const rows = await sample(s, { prefix: Array.from({ length: 6 }, () => [tok.bos]), seed: 4 });
    for (const r of rows) {
      expect(tok.automaton.firstInvalid(r)).toBe(-1);
      // where the grammar allows </adm> the model takes it, so it does appear, but only legally
      expect(r).toContain(target);
    }
  });

  it('a model pushed toward the longest gap never takes an admission past the time window', async () => {
    // logits peak everywhere at a long gap bin (the longest whose least hours fit a third of the
    // window, so some fit): unmasked, every time step would take it
    const W0 = tok.windowHours!;
    const fits = tok.gaps.min_step.map((h, k) => [h, k] as const).filter(([h]) => h > 0 && h <= W0 / 3);
    const longest = tok.gaps.offset + fits.reduce((a, b) => (b[0] > a[0] ? b : a))[1];
    const pushed = pushedToward(weights, longest);
    const W = W0;
    const build = (clock: boolean) =>
      createSession(buildSamplerGraph(cfg, { vocabSize: tok.vocab.length, weights: pushed, automaton: tok.automaton, ...(clock ? { clock: tok.clock() } : {}) }), { threads: 1 });
    // the least hours each admission of a row's sequence adds up to
    const admissionHours = (r: number[]): number[] => {
      const out: number[] = [];
      let h = 0;
      for (const t of r) {
        if (tok.tokenClass[t] === TokenClass.gap) h += tok.gaps.min_step[t - tok.gaps.offset]!;
        if (t === tok.endAdm) {
          out.push(h);
          h = 0;
        }
      }
      return out;
    };
    // from a real patient's first admission start (through its </code>), so codes do not fill the context
    const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
    const ids = Array.from(tok.encodePatient(cohort[0]!));
    const start = ids.slice(0, ids.indexOf(tok.endCode) + 1);
    const prefix = Array.from({ length: 6 }, () => start);
    const withClock = await sample(await build(true), { prefix, seed: 4 });
    const without = await sample(await build(false), { prefix, seed: 4 });
    let longGaps = 0;
    for (const r of withClock) {
      expect(tok.automaton.firstInvalid(r)).toBe(-1);
      for (const h of admissionHours(r)) expect(h).toBeLessThanOrEqual(W * (1 + 1e-6));
      longGaps += r.filter((t) => t === longest).length;
      // and decoding keeps every event inside the window
      for (const a of tok.decode(r, { rng: new Rng(1) }).admissions) for (const e of a.events) expect(e.hours).toBeLessThanOrEqual(W);
    }
    // the push works: the model does take the longest gap where the window leaves room, and the
    // same sampler without the clock runs admissions past the window
    expect(longGaps).toBeGreaterThan(0);
    expect(without.some((r) => admissionHours(r).some((h) => h > W))).toBe(true);
  });

  it('relative bins: a model pushed toward a step down never steps without an earlier value or out of the bins', async () => {
    const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
    const rel = fitTokenizer(cohort, toyData, tokCfg({ delta_bins: 2 }));
    const x = rel.variables.find((v) => v.delta_offset !== undefined && v.bins!.edges.length > 4)!;
    const down = x.delta_offset!; // d-2
    const pushed = pushedToward(randomWeights(rel.vocab.length, 3), down);
    // and, second to it, x's top bin: the value the steps go down from
    const top = x.offset + x.bins!.edges.length - 2;
    const wte = pushed['transformer.wte.weight']!;
    for (let c = 0; c < cfg.n_embd; c++) wte[top * cfg.n_embd + c] = 0.9 * wte[down * cfg.n_embd + c]!;
    const build = (masked: boolean) =>
      createSession(buildSamplerGraph(cfg, { vocabSize: rel.vocab.length, weights: pushed, automaton: rel.automaton, clock: rel.clock(), deltas: masked ? rel.deltaTable() : null }), { threads: 1 });
    const ids = Array.from(rel.encodePatient(cohort[0]!));
    const prefix = Array.from({ length: 8 }, () => ids.slice(0, ids.indexOf(rel.endCode) + 1));
    const masked = await sample(await build(true), { prefix, seed: 5 });
    let steps = 0;
    for (const r of masked) {
      expect(rel.automaton.firstInvalid(r)).toBe(-1);
      expect(() => rel.decode(trimPad(r), { rng: new Rng(1) })).not.toThrow();
      steps += r.filter((t) => t === down).length;
    }
    // the push works: where a value of x allows it the step is taken, and without the mask the
    // same model writes steps that do not decode
    expect(steps).toBeGreaterThan(0);
    const unmasked = await sample(await build(false), { prefix, seed: 5 });
    expect(unmasked.some((r) => rel.decode(trimPad(r), { rng: new Rng(1), mode: 'lenient' }).error !== null)).toBe(true);
  });

  it('value memory with the labels (model.memory_labels): top_k = 1 equals the JS greedy loop over MemoryRows\' rows, and the labels\' rows change it', async () => {
    const V = tok.vocab.length;
    const table = tok.memoryTable({ labels: true });
    const model = { ...memCfg, memory_labels: true };
    const w = memoryWeights(table);
    const s = await createSession(buildSamplerGraph(model, { vocabSize: V, weights: w, automaton: tok.automaton, clock: tok.clock(), memory: table }), { threads: 1 });
    const inf = await createSession(buildInferenceGraph(model, { vocabSize: V, weights: w, memory: table }).model, { threads: 1 });
    // a real prefix through the labels, so that the memory holds them from the start of the free run
    const ids = Array.from(tok.encodePatient(fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]![0]!));
    const prefix = ids.slice(0, ids.indexOf(tok.endCode) + 4);
    expect(prefix.some((t) => table.owner[t]! >= table.variables - table.labels)).toBe(true);
    const ref = await jsGreedy(inf, prefix, cfg.n_ctx, table);
    expect(trimPad((await sample(s, { prefix: [prefix], topK: 1, seed: 5 }))[0]!)).toEqual(ref);
    // the labels' rows of wme matter: with them zero the model is the one without labels in the memory
    const labelRows = Float32Array.from(w['transformer.wme.weight']!);
    for (let t = 0; t < V; t++) if (table.owner[t]! >= table.variables - table.labels) labelRows.fill(0, t * cfg.n_embd, (t + 1) * cfg.n_embd);
    const plainTable = tok.memoryTable();
    const zeroed = await createSession(buildInferenceGraph(model, { vocabSize: V, weights: { ...w, 'transformer.wme.weight': labelRows }, memory: table }).model, { threads: 1 });
    const plain = await createSession(buildInferenceGraph(memCfg, { vocabSize: V, weights: { ...w, 'transformer.wme.weight': labelRows }, memory: plainTable }).model, { threads: 1 });
    const zeroedRun = await jsGreedy(zeroed, prefix, cfg.n_ctx, table);
    expect(zeroedRun).toEqual(await jsGreedy(plain, prefix, cfg.n_ctx, plainTable));
    expect(zeroedRun).not.toEqual(ref);
  });

  it('value memory: top_k = 1 equals the JS greedy loop that feeds the inference graph MemoryRows\' latest tokens and those before them', async () => {
    const V = tok.vocab.length;
    const table = tok.memoryTable();
    const w = memoryWeights(table);
    const s = await createSession(buildSamplerGraph(memCfg, { vocabSize: V, weights: w, automaton: tok.automaton, clock: tok.clock(), memory: table }), { threads: 1 });
    const inf = await createSession(buildInferenceGraph(memCfg, { vocabSize: V, weights: w, memory: table }).model, { threads: 1 });
    // a real prefix, so that the greedy run starts with values in the memory
    const ids = Array.from(tok.encodePatient(fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]![0]!));
    const prefix = ids.slice(0, ids.indexOf(tok.endCode) + 4);
    const rows = await sample(s, { prefix: [prefix], topK: 1, seed: 5 });
    const ref = await jsGreedy(inf, prefix, cfg.n_ctx, table);
    expect(trimPad(rows[0]!)).toEqual(ref);
    // the memory matters: the model without it decodes otherwise, and so does the one without the kernel before
    expect(ref).not.toEqual(await jsGreedy(await createSession(buildInferenceGraph(cfg, { vocabSize: V, weights }).model, { threads: 1 }), prefix, cfg.n_ctx));
    const noBefore = { ...w, 'transformer.wmp.weight': new Float32Array(V) };
    const sNoBefore = await createSession(buildSamplerGraph(memCfg, { vocabSize: V, weights: noBefore, automaton: tok.automaton, clock: tok.clock(), memory: table }), { threads: 1 });
    expect(trimPad((await sample(sNoBefore, { prefix: [prefix], topK: 1, seed: 5 }))[0]!)).not.toEqual(ref);
    expect(() => buildSamplerGraph(memCfg, { vocabSize: V, weights: w, automaton: tok.automaton })).toThrow(/no memory table/);
  });

  it('label guidance 0 samples what the graph without guidance samples, row for row', async () => {
    const V = tok.vocab.length;
    const table = tok.memoryTable();
    const w = labelWeighted(table, 'death');
    const base = { vocabSize: V, weights: w, automaton: tok.automaton, clock: tok.clock(), memory: table };
    const plain = await createSession(buildSamplerGraph(memCfg, base), { threads: 1 });
    const guided = await createSession(buildSamplerGraph(memCfg, { ...base, guidance: { flip: guidanceFlip(tok, 'death') } }), { threads: 1 });
    const prefix = Array.from({ length: 6 }, () => [tok.bos]);
    const a = await sample(plain, { prefix, seed: 21 });
    expect(await sample(guided, { prefix, seed: 21, guidance: 0 })).toEqual(a);
    // and guidance changes rows once the label is drawn, which it could not if the contrast rows
    // did not take the flip of a drawn label
    const death = tok.labels.find((l) => l.name === 'death')!.offset;
    expect(a.filter((r) => r.includes(death) || r.includes(death + 1)).length).toBeGreaterThan(0);
    expect(await sample(guided, { prefix, seed: 21, guidance: 3 })).not.toEqual(a);
  });

  it.each([false, true])('label guidance: top_k = 1 equals the JS greedy loop over a row and its flipped contrast, on l + w · (l − l_contrast) (labels in the memory: %s)', async (labels) => {
    const V = tok.vocab.length;
    const table = tok.memoryTable({ labels });
    const model = { ...memCfg, memory_labels: labels };
    const w = labelWeighted(table, 'death');
    const flip = guidanceFlip(tok, 'death');
    const s = await createSession(buildSamplerGraph(model, { vocabSize: V, weights: w, automaton: tok.automaton, clock: tok.clock(), memory: table, guidance: { flip } }), { threads: 1 });
    const inf = await createSession(buildInferenceGraph(model, { vocabSize: V, weights: w, memory: table }).model, { threads: 1 });
    // a prefix through the labels, so that the row and its contrast differ from there on; and
    // the same patient with the other value, so that both label tokens are guided from
    const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
    const ids = Array.from(tok.encodePatient({ ...cohort[0]!, labels: { ...cohort[0]!.labels, death: 1 } }));
    const prefix = ids.slice(0, ids.indexOf(tok.endLabel) + 1);
    const other = prefix.map((t) => flip[t]!);
    expect(other).not.toEqual(prefix);
    for (const wg of [0.5, 30]) {
      const rows = await sample(s, { prefix: [prefix, other], topK: 1, seed: 5, guidance: wg });
      expect(trimPad(rows[0]!)).toEqual(await jsGreedy(inf, prefix, cfg.n_ctx, table, { flip, w: wg }));
      expect(trimPad(rows[1]!)).toEqual(await jsGreedy(inf, other, cfg.n_ctx, table, { flip, w: wg }));
    }
    // the guidance matters: unguided greedy decodes otherwise
    const unguided = await jsGreedy(inf, prefix, cfg.n_ctx, table);
    expect(await jsGreedy(inf, prefix, cfg.n_ctx, table, { flip, w: 30 })).not.toEqual(unguided);
  });

  it('EXPECTED FAILURE - label guidance needs a binary label before the series, and a flip that pairs tokens the grammar treats alike', () => {
    expect(() => guidanceFlip(tok, 'nope')).toThrow(/generate\.guidance_label: no label 'nope' \(known: death, phenotype, los\)/);
    const los = tok.labels.find((l) => l.name === 'los')!;
    expect(() => guidanceFlip(tok, 'los')).toThrow(los.bins ? /'los' has binned values; guidance contrasts the two values of a binary label/ : /'los' has \d+ values/);
    const V = tok.vocab.length;
    const bad = Int32Array.from({ length: V }, (_, v) => v);
    bad[tok.bos] = tok.eos;
    bad[tok.eos] = tok.bos;
    expect(() => buildSamplerGraph(cfg, { vocabSize: V, weights, automaton: tok.automaton, guidance: { flip: bad } })).toThrow(/guidance\.flip swaps tokens \d+ and \d+, which move automaton state \d+ to/);
    const notPaired = Int32Array.from({ length: V }, (_, v) => v);
    notPaired[tok.bos] = tok.eos;
    expect(() => buildSamplerGraph(cfg, { vocabSize: V, weights, automaton: tok.automaton, guidance: { flip: notPaired } })).toThrow(/guidance\.flip must swap tokens in pairs; token \d+ goes to \d+, which goes to \d+/);
  });

  it('honours a conditional prefix', async () => {
    // a real prefix: <s>, then the covariate and label section of an encoded patient
    const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
    const ids = Array.from(tok.encodePatient(cohort[0]!));
    const prefix = ids.slice(0, ids.indexOf(tok.endLabel) + 1);
    const rows = await sample(sampler, { prefix: [prefix, prefix, prefix], seed: 8 });
    for (const r of rows) {
      expect(r.slice(0, prefix.length)).toEqual(prefix);
      expect(tok.automaton.firstInvalid(r)).toBe(-1);
    }
  });
});

describe('sampler.onnx draws', () => {
  /** chi-square of observed counts against expected probabilities (cells below 5 expected merged) */
  function chiSquare(counts: Map<number, number>, probs: Map<number, number>, n: number): { chi2: number; df: number } {
    let chi2 = 0;
    let df = -1;
    let restObs = 0;
    let restExp = 0;
    for (const [v, q] of probs) {
      const e = q * n;
      const o = counts.get(v) ?? 0;
      if (e < 5) {
        restObs += o;
        restExp += e;
        continue;
      }
      chi2 += (o - e) ** 2 / e;
      df++;
    }
    if (restExp > 0) {
      chi2 += (restObs - restExp) ** 2 / restExp;
      df++;
    }
    for (const v of counts.keys()) if (!probs.has(v)) throw new Error(`token ${v} drawn with probability 0`);
    return { chi2, df };
  }

  it('the first drawn token follows softmax(logits / temperature) over the feasible (and top-k) tokens', async () => {
    const inf = await createSession(buildInferenceGraph(cfg, { vocabSize: tok.vocab.length, weights }).model, { threads: 1 });
    const H = cfg.n_head;
    const D = cfg.n_embd / H;
    const feeds: Record<string, ReturnType<typeof int64Tensor>> = {
      input_ids: int64Tensor([tok.bos], [1, 1]),
      attention_mask: int64Tensor([1], [1, 1]),
      position_ids: int64Tensor([0], [1, 1]),
    };
    for (let l = 0; l < cfg.n_layer; l++) {
      feeds[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
      feeds[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
    }
    const logits = (await inf.run(feeds)).logits!.data as Float32Array; // [1, 1, V]
    const A = tok.automaton;
    const s1 = A.step(A.startState, tok.bos);
    const maxLen = 40;
    const feasible = Array.from({ length: tok.vocab.length }, (_, v) => v).filter((v) => A.step(s1, v) >= 0 && A.distToEnd[A.step(s1, v)]! <= maxLen - 2);
    expect(feasible.length).toBeGreaterThan(3);
    const n = 3000;
    for (const { temperature, topK } of [
      { temperature: 1, topK: 0 },
      { temperature: 0.7, topK: 3 },
    ]) {
      const ranked = [...feasible].sort((a, b) => logits[b]! - logits[a]!);
      const kept = topK > 0 ? ranked.slice(0, topK) : ranked;
      const m = Math.max(...kept.map((v) => logits[v]!));
      const w = kept.map((v) => Math.exp((logits[v]! - m) / temperature));
      const sum = w.reduce((a, b) => a + b, 0);
      const probs = new Map(kept.map((v, i) => [v, w[i]! / sum]));
      const rows = await sample(sampler, { prefix: Array.from({ length: n }, () => [tok.bos]), maxLen, temperature, topK, seed: 77 });
      const counts = new Map<number, number>();
      for (const r of rows) counts.set(r[1]!, (counts.get(r[1]!) ?? 0) + 1);
      const { chi2, df } = chiSquare(counts, probs, n);
      // p = 0.001 critical values of chi-square by degrees of freedom
      const critical = [10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.7];
      expect(df).toBeGreaterThan(0);
      expect(chi2).toBeLessThan(critical[Math.min(df, critical.length) - 1]!);
    }
  });

  it('value memory: value_temperature draws a measured variable\'s next value as p^(1/τ) within the variable, its total kept', async () => {
    const V = tok.vocab.length;
    const table = tok.memoryTable();
    const w = memoryWeights(table);
    const inf = await createSession(buildInferenceGraph(memCfg, { vocabSize: V, weights: w, memory: table }).model, { threads: 1 });
    const s = await createSession(buildSamplerGraph(memCfg, { vocabSize: V, weights: w, automaton: tok.automaton, memory: table }), { threads: 1 });
    // a real prefix that ends where the patient's next token is a value of a variable it already has
    const ids = Array.from(tok.encodePatient(fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]![0]!));
    const seen = new Set<number>();
    let cut = -1;
    for (let i = ids.indexOf(tok.endCode) + 1; i < ids.length && cut < 0; i++) {
      const j = table.owner[ids[i]!]!;
      if (j >= 0 && table.first[ids[i]!]! >= 0 && seen.has(j)) cut = i;
      if (j >= 0) seen.add(j);
    }
    expect(cut).toBeGreaterThan(0);
    const prefix = ids.slice(0, cut);
    const P = prefix.length;
    // the model's logits after the prefix, and the memory there
    const H = cfg.n_head;
    const D = cfg.n_embd / H;
    const rowsP = new MemoryRows(table, 1, P, { before: true });
    const memRows = rowsP.fill(prefix, new Array(P).fill(0), P);
    const feeds: Record<string, ReturnType<typeof int64Tensor>> = {
      input_ids: int64Tensor(prefix, [1, P]),
      attention_mask: int64Tensor(new Array(P).fill(1), [1, P]),
      position_ids: int64Tensor(Array.from({ length: P }, (_, i) => i), [1, P]),
      memory: int64Tensor(Array.from(memRows, Number), [1, P, table.variables]),
      memory_before: int64Tensor(Array.from(rowsP.before!, Number), [1, P, table.variables]),
    };
    for (let l = 0; l < cfg.n_layer; l++) {
      feeds[`past_key_values.${l}.key`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
      feeds[`past_key_values.${l}.value`] = float32Tensor(new Float32Array(0), [1, H, 0, D]);
    }
    const logits = ((await inf.run(feeds)).logits!.data as Float32Array).subarray((P - 1) * V, P * V);
    const latest = Array.from(memRows.subarray((P - 1) * table.variables, P * table.variables), Number);
    const A = tok.automaton;
    let state = A.startState;
    for (const t of prefix) state = A.step(state, t);
    // room for a few tokens past the shortest close, so the rows end soon after the draw
    const maxLen = Math.min(cfg.n_ctx, P + A.distToEnd[state]! + 6);
    const feasible = Array.from({ length: V }, (_, v) => v).filter((v) => A.step(state, v) >= 0 && A.distToEnd[A.step(state, v)]! <= maxLen - P - 1);
    const m = Math.max(...feasible.map((v) => logits[v]!));
    const p0 = new Map(feasible.map((v) => [v, Math.exp(logits[v]! - m)]));
    const total = [...p0.values()].reduce((a, b) => a + b, 0);
    for (const [v, q] of p0) p0.set(v, q / total);
    const tau = 0.4;
    // within each measured variable: p^(1/τ), renormalised to the variable's total
    const sharpened = new Map(p0);
    const measured = new Set(feasible.map((v) => table.owner[v]!).filter((j) => j >= 0 && latest[j]! >= 0));
    expect(measured.size).toBeGreaterThan(0);
    for (const j of measured) {
      const block = feasible.filter((v) => table.owner[v] === j && table.first[v]! >= 0);
      const mass = block.reduce((a, v) => a + p0.get(v)!, 0);
      const powered = block.map((v) => p0.get(v)! ** (1 / tau));
      const sum = powered.reduce((a, b) => a + b, 0);
      block.forEach((v, i) => sharpened.set(v, (mass * powered[i]!) / sum));
    }
    const n = 4000;
    const rows = await sample(s, { prefix: Array.from({ length: n }, () => prefix), maxLen, valueTemperature: tau, seed: 31 });
    const counts = new Map<number, number>();
    for (const r of rows) counts.set(r[P]!, (counts.get(r[P]!) ?? 0) + 1);
    const critical = (df: number) => df * (1 - 2 / (9 * df) + 3.09 * Math.sqrt(2 / (9 * df))) ** 3; // p = 0.001 (Wilson-Hilferty)
    const fit = chiSquare(counts, sharpened, n);
    expect(fit.df).toBeGreaterThan(1);
    expect(fit.chi2).toBeLessThan(critical(fit.df));
    // the test can tell: the same draws are far from the model's own distribution
    const plain = chiSquare(counts, p0, n);
    expect(plain.chi2).toBeGreaterThan(critical(plain.df));
    // and at 1 the sampler draws from that distribution
    const at1 = await sample(s, { prefix: Array.from({ length: n }, () => prefix), maxLen, seed: 31 });
    const c1 = new Map<number, number>();
    for (const r of at1) c1.set(r[P]!, (c1.get(r[P]!) ?? 0) + 1);
    const one = chiSquare(c1, p0, n);
    expect(one.chi2).toBeLessThan(critical(one.df));
  });
});

describe('sampler.onnx chunks', () => {
  it('the chunk length (cache merges, dropping finished rows) changes no draw', async () => {
    const prefix = Array.from({ length: 12 }, () => [tok.bos]);
    const ref = await sample(sampler, { prefix, seed: 21, topK: 5 });
    // rows end at different steps, so finished rows are dropped while others run on
    const ends = new Set(ref.map((r) => r.indexOf(tok.eos)));
    expect(ends.size).toBeGreaterThan(1);
    for (const chunk of [1, 7, 200]) {
      const s = await createSession(buildSamplerGraph(cfg, { vocabSize: tok.vocab.length, weights, automaton: tok.automaton, clock: tok.clock(), chunk }), { threads: 1 });
      expect(await sample(s, { prefix, seed: 21, topK: 5 })).toEqual(ref);
    }
  });
});

describe('uniformFromCounter', () => {
  /** The same hash in JS with 32-bit integer arithmetic. */
  function fmix32(h: number): number {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
  function jsUniform(counter: number, seed: number): number {
    const lo = counter % 2 ** 32;
    const hi = Math.floor(counter / 2 ** 32);
    const key = (seed + hi * 0x9e3779b9) % 2 ** 32;
    const h = fmix32((lo ^ key) >>> 0);
    return (Math.floor(h / 512) + 0.5) / 8388608;
  }

  it('matches a JS implementation bit for bit, and is uniform', async () => {
    const g = new Graph('hash', 18);
    const counter = g.input('counter', 'int64', [null]);
    const seed = g.input('seed', 'int64', []);
    g.output(uniformFromCounter(g, counter, seed), 'u');
    const s = await createSession(serializeModel(g), { threads: 1 });
    const counters = [...Array.from({ length: 5000 }, (_, i) => i), 2 ** 32 - 1, 2 ** 32 + 17, 3 * 2 ** 33 + 5];
    for (const sd of [0, 123456789, 2 ** 32 - 1]) {
      const out = await s.run({ counter: int64Tensor(counters, [counters.length]), seed: int64Tensor([sd], []) });
      const u = Array.from(out.u!.data as Float32Array);
      expect(u).toEqual(counters.map((c) => Math.fround(jsUniform(c, sd))));
      // 10 equal bins over 5000 draws: chi-square with 9 degrees of freedom stays below 27.9 (p = 0.001)
      const bins = new Array(10).fill(0);
      for (const x of u.slice(0, 5000)) bins[Math.floor(x * 10)]++;
      const chi2 = bins.reduce((acc, n) => acc + (n - 500) ** 2 / 500, 0);
      expect(chi2).toBeLessThan(27.9);
    }
  });
});
