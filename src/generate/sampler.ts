/**
 * sampler.onnx: the whole autoregressive loop inside one ONNX `Loop` (DESIGN.md, "Sampling").
 *
 * Each iteration feeds one token per row through the GPT with the KV cache carried between
 * iterations, masks the logits with the grammar automaton's row `next[state]` and with "can still
 * reach `</s>` in the positions left" and with "this gap keeps the admission inside its time window"
 * (the least hours its gaps so far add up to, carried per row), applies temperature, top-k and top-p, draws by inverting the
 * cumulative distribution at a uniform from a counter-based hash of (seed, step, row), and advances the automaton state. The
 * first P − 1 iterations are forced to the conditional prefix instead of sampled, so one body
 * serves both the prefix and the free run. The loop stops when every row is in the accepting
 * state. Only the token ids [B, steps] come back to JS.
 *
 * Notation: B = rows, P = prefix length, V = vocab size, S = automaton states, C = n_embd,
 * H = n_head, D = C / H, t = tokens in the cache so far.
 */
import { Graph, broadcastShapes, serializeModel, type Tensor } from '../graph/index.ts';
import { checkMemoryTable, gptTrunk, memoryConstants, memoryTerms, modelMemoryTable, valueBlocks } from '../model/gpt.ts';
import { gptParamSpecs } from '../model/params.ts';
import type { ModelConfig } from '../model/config.ts';
import type { GrammarAutomaton } from '../tokenizer/automaton.ts';
import { SPECIAL_IDS, type Tokenizer, type Vocabulary } from '../tokenizer/tokenizer.ts';
import type { MemoryTable } from '../tokenizer/vocabulary.ts';
import { SynehrError } from '../util/errors.ts';

type DeltaTable = NonNullable<ReturnType<Vocabulary['deltaTable']>>;

/** Opset 18 for BitwiseXor, which the noise hash needs. */
export const SAMPLER_OPSET = 18;

/** The logit of a token the grammar or a filter removed: exp() of it is 0 and no noise lifts it. */
const REMOVED = -1e30;
const TWO32 = 4294967296;

export interface SamplerGraphOptions {
  vocabSize: number;
  /** trained float32 weights by Hugging Face name, embedded as initializers */
  weights: Record<string, Float32Array>;
  automaton: GrammarAutomaton;
  /**
   * the time window (Tokenizer.clock()): per token the fewest hours it moves an admission's clock,
   * the tokens that restart it, and the window; a gap token that would take the clock past the
   * window is masked like a forbidden one. Left out, or with no window, nothing is masked for time.
   */
  clock?: { stepHours: Float32Array; resets: readonly number[]; windowHours: number | null };
  /**
   * relative bins (Vocabulary.deltaTable()): each row carries its variables' latest bins [b, J],
   * and a step token is masked unless its variable has a value and the step stays in its bins.
   * Left out or null, there are none.
   */
  deltas?: DeltaTable | null;
  /**
   * the value memory's table (Vocabulary.memoryTable()), needed exactly when the model has
   * model.value_memory: each row carries its variables' latest value tokens [b, J], from which
   * every step computes the memory's embedding and logit bonus as the training graph does
   * (memoryTerms in src/model/gpt.ts)
   */
  memory?: MemoryTable | null;
  /** steps per inner Loop: the whole cache is copied once per chunk and finished rows dropped */
  chunk?: number;
  /**
   * label guidance (guidanceFlip()): each row runs beside a contrast row that differs from it in
   * one label's value, flip[v] for every token v, and is sampled from l + w · (l − l_contrast),
   * w the `guidance` input; the contrast row takes the flip of every token its row takes. Left
   * out, there is no `guidance` input and no contrast row.
   */
  guidance?: { flip: Int32Array } | null;
}

/**
 * 32 steps per chunk: per-step cache copies become 1/32 of what they were, and a finished row
 * runs at most 31 steps too many.
 */
export const DEFAULT_CHUNK = 32;

/**
 * Builds sampler.onnx. Its inputs, in order:
 *
 *   prefix       int64 [B, P]: forced tokens, starting with <s>; P ≥ 1 and the same for every row
 *   max_len      int64 []: the longest sequence, prefix included; ≤ n_ctx
 *   temperature  float32 []: > 0; logits are divided by it
 *   top_k        int64 []: keep the k most likely tokens; 0 keeps all
 *   top_p        float32 []: keep the smallest set of tokens whose probability reaches p; 1 keeps all
 *   seed         int64 []: in [0, 2^32); the uniform of each draw is a function of (seed, step, row)
 *   value_temperature  float32 []: > 0; a model with the value memory samples the value of a
 *                variable that already has one at this temperature within the variable, its total
 *                probability kept (withinVariable); 1 leaves the logits alone. Without the memory, 1.
 *   guidance     float32 [] ≥ 0, only with opts.guidance: w above; 0 samples what the graph
 *                without guidance samples, draw for draw (the contrast rows take no noise)
 *
 * Output `tokens` int64 [B, steps]: the tokens at positions 1..steps (the
 * prefix's own tokens after <s> included), `<pad>` after a row's `</s>`; steps ≤ max_len − 1.
 *
 * Two nested Loops. The inner one runs up to `chunk` steps: each step appends its key and value
 * to a small per-chunk cache [b, H, j, D] and attends over the chunk's cache and the older one
 * [b, H, t0, D], which it only reads. The outer one appends the chunk's cache to the older one
 * (one copy per chunk instead of one per step: a Concat of the whole cache every step was 60 % of
 * the time), writes the chunk's tokens into the output by ScatterND, and drops the rows that have
 * finished, so that the long tail of a batch runs on the rows still open. The noise is keyed by
 * each row's original index and the step, so dropping rows changes no draw.
 */
export function buildSamplerGraph(cfg: ModelConfig, opts: SamplerGraphOptions): Uint8Array {
  const { vocabSize: V, automaton: A } = opts;
  const chunk = opts.chunk ?? DEFAULT_CHUNK;
  if (A.vocabSize !== V) {
    throw new RangeError(`buildSamplerGraph: the automaton has ${A.vocabSize} tokens, the model ${V}`);
  }
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`buildSamplerGraph: chunk must be a positive integer, got ${chunk}`);
  const flip = opts.guidance?.flip ?? null;
  if (flip) checkGuidanceFlip(flip, A);
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const mt = opts.memory ?? null;
  checkMemoryTable(cfg, mt, 'buildSamplerGraph');
  if (mt && mt.owner.length !== V) throw new RangeError(`buildSamplerGraph: memory.owner has ${mt.owner.length} entries for ${V} tokens`);
  const g = new Graph('synehr_sampler', SAMPLER_OPSET);

  const prefix = g.input('prefix', 'int64', ['batch_size', 'prefix_length']);
  const maxLen = g.input('max_len', 'int64', []);
  const temperature = g.input('temperature', 'float32', []);
  const topK = g.input('top_k', 'int64', []);
  const topP = g.input('top_p', 'float32', []);
  const seed = g.input('seed', 'int64', []);
  const valueTemperature = g.input('value_temperature', 'float32', []);
  const guidanceW = flip ? g.input('guidance', 'float32', []) : null;
  const flipT = flip ? g.constant(i64(flip), 'int64', [V], 'guidance_flip') : null; // [V]

  const p: Record<string, Tensor> = {};
  for (const s of gptParamSpecs(cfg, V)) {
    const w = opts.weights[s.name];
    if (!w) throw new RangeError(`buildSamplerGraph: weight '${s.name}' is missing`);
    p[s.name] = g.initializer(s.name, 'float32', s.shape, w);
  }
  const wteT = g.transpose(p['transformer.wte.weight']!, [1, 0]); // [C, V], folded by ORT

  // the clock: hours each token adds at least [V] (0 after a reset token), and the window
  const clock = opts.clock && opts.clock.windowHours !== null ? opts.clock : null;
  if (clock && clock.stepHours.length !== V) throw new RangeError(`buildSamplerGraph: clock.stepHours has ${clock.stepHours.length} entries for ${V} tokens`);
  const keepClock = new Float32Array(V).fill(1);
  for (const t of clock?.resets ?? []) keepClock[t] = 0;
  const stepHours = clock ? g.constant(clock.stepHours, 'float32', [V], 'clock_step_hours') : null; // [V]
  const keepClockT = clock ? g.constant(keepClock, 'float32', [V], 'clock_keep') : null; // [V]
  const windowT = clock ? g.scalar(clock.windowHours!, 'float32') : null;

  // relative bins: per token [V] its variable, absolute bin, step and its variable's bin count
  const dt = opts.deltas ?? null;
  if (dt && dt.owner.length !== V) throw new RangeError(`buildSamplerGraph: deltas.owner has ${dt.owner.length} entries for ${V} tokens`);
  const delta = dt
    ? {
        J: dt.variables,
        ownerAt: g.constant(i64(dt.owner.map((o) => Math.max(o, 0))), 'int64', [V], 'delta_owner_at'), // [V] gather index
        isStep: g.constant(Uint8Array.from(dt.bins, (b) => (b > 0 ? 1 : 0)), 'bool', [V], 'delta_is_step'),
        bins: g.constant(i64(dt.bins), 'int64', [V], 'delta_bins'),
        owner: g.constant(i64(dt.owner), 'int64', [V], 'delta_owner'),
        isAbs: g.constant(Uint8Array.from(dt.absBin, (b) => (b >= 0 ? 1 : 0)), 'bool', [V], 'delta_is_abs'),
        absBin: g.constant(i64(dt.absBin), 'int64', [V], 'delta_abs_bin'),
        step: g.constant(i64(dt.step), 'int64', [V], 'delta_step'),
        range: g.constant(BigInt64Array.from({ length: dt.variables }, (_, i) => BigInt(i)), 'int64', [1, dt.variables], 'delta_range'),
      }
    : null;

  // the value memory: per token [V] the variable it sets, the value token it sets, the step it takes
  const mem = mt
    ? {
        J: mt.variables,
        terms: memoryConstants(g, mt),
        owner: g.constant(i64(mt.owner), 'int64', [V], 'memory_owner'),
        isAbs: g.constant(Uint8Array.from(mt.sets, (t) => (t >= 0 ? 1 : 0)), 'bool', [V], 'memory_is_abs'),
        sets: g.constant(i64(mt.sets), 'int64', [V], 'memory_sets'),
        step: g.constant(i64(mt.step), 'int64', [V], 'memory_step'),
        range: g.constant(BigInt64Array.from({ length: mt.variables }, (_, i) => BigInt(i)), 'int64', [1, mt.variables], 'memory_range'),
        within: withinVariableConstants(g, mt),
      }
    : null;

  // the automaton as tensors: next flattened [S·V] (-1 = forbidden), distToEnd [S]
  const nextFlat = g.constant(BigInt64Array.from(A.next, BigInt), 'int64', [A.numStates * V], 'grammar_next');
  const distToEnd = g.constant(BigInt64Array.from(A.distToEnd, BigInt), 'int64', [A.numStates], 'grammar_dist');
  const endState = g.scalar(A.endState, 'int64');
  const vocabRange = g.constant(BigInt64Array.from({ length: V }, (_, i) => BigInt(i)), 'int64', [1, V], 'vocab_range'); // [1, V]
  const Vs = g.scalar(V, 'int64');
  const zero = g.scalar(0, 'int64');
  const one = g.scalar(1, 'int64');

  // B0 = the batch as given; R0 = the rows run: B0, and with guidance B0 more, row B0 + i the
  // contrast of row i, whose prefix is row i's flipped; b = the rows still open (b ≤ R0), with
  // guidance the open rows' first half and then their contrasts in the same order (a row and its
  // contrast reach the end state together: the flipped tokens move the automaton alike)
  const B0 = g.squeeze(g.shape(prefix, 0, 1), [0]); // []
  const rowsPrefix = flipT ? g.concat([prefix, g.gather(flipT, prefix)], 0) : prefix; // [R0, P]
  const bos = g.squeeze(g.slice(rowsPrefix, [0], [1], [1]), [1]); // [R0]
  const state0 = g.gather(nextFlat, g.add(g.scalar(A.startState * V, 'int64'), bos)); // [R0]
  const B1 = g.shape(rowsPrefix, 0, 1); // [1]: R0
  const R0 = g.squeeze(B1, [0]); // []
  const P = g.squeeze(g.shape(prefix, 1, 2), [0]); // []
  const steps = g.sub(maxLen, one); // []: output columns, positions 1..max_len − 1
  const rows0 = g.range(zero, R0, one); // [R0]: each open row's original index
  const out0 = g.constantOfShape(g.concat([B1, g.unsqueeze(steps, [0])], 0), SPECIAL_IDS.pad, 'int64'); // [R0, steps]
  const elapsed0 = g.constantOfShape(B1, 0, 'float32'); // [B0] hours on each row's admission clock
  const last0 = delta ? g.constantOfShape(g.concat([B1, g.ints([delta.J], 'delta_j')], 0), -1, 'int64') : null; // [B0, J] no value yet
  const mem0 = mem ? g.constantOfShape(g.concat([B1, g.ints([mem.J], 'memory_j')], 0), -1, 'int64') : null; // [B0, J] no value yet
  const memBefore0 = mem ? g.constantOfShape(g.concat([B1, g.ints([mem.J], 'memory_before_j')], 0), -1, 'int64') : null; // [B0, J] none before
  const emptyCache = (gr: Graph, like: Tensor) => gr.constantOfShape(gr.concat([gr.shape(like, 0, 1), gr.ints([H, 0, D])], 0), 0, 'float32'); // [b, H, 0, D]

  // ---- the outer loop: one chunk of steps per iteration
  const ob = g.subgraph('sampler_chunk');
  ob.input('chunk_iter', 'int64', []);
  ob.input('chunk_cond', 'bool', []);
  const cur = ob.input('cur', 'int64', ['b']); // the token at position t0
  const state = ob.input('state', 'int64', ['b']); // automaton state after it
  const elapsed = ob.input('elapsed', 'float32', ['b']); // the least hours its admission has used
  const last = delta ? ob.input('last_bins', 'int64', ['b', delta.J]) : null; // each variable's latest bin, -1 none
  const memState = mem ? ob.input('memory_tokens', 'int64', ['b', mem.J]) : null; // each variable's latest value token, -1 none
  const memBeforeState = mem ? ob.input('memory_before_tokens', 'int64', ['b', mem.J]) : null; // and the one before it, -1 none
  const rows = ob.input('rows', 'int64', ['b']);
  const t0 = ob.input('t0', 'int64', []);
  const outBuf = ob.input('out_buf', 'int64', ['batch_size', null]);
  const past: [Tensor, Tensor][] = [];
  for (let l = 0; l < cfg.n_layer; l++) {
    past.push([ob.input(`past_key_${l}`, 'float32', ['b', H, null, D]), ob.input(`past_value_${l}`, 'float32', ['b', H, null, D])]);
  }
  const t0v = ob.unsqueeze(t0, [0]); // [1]

  // ---- the inner loop: one token per row per iteration
  const ib = ob.subgraph('sampler_step');
  const j = ib.input('iter', 'int64', []);
  ib.input('cond_in', 'bool', []);
  const tokIn = ib.input('step_cur', 'int64', ['b']);
  const stIn = ib.input('step_state', 'int64', ['b']);
  const elIn = ib.input('step_elapsed', 'float32', ['b']);
  const lastIn = delta ? ib.input('step_last_bins', 'int64', ['b', delta.J]) : null;
  const memIn = mem ? ib.input('step_memory_tokens', 'int64', ['b', mem.J]) : null; // after tokIn
  const memBeforeIn = mem ? ib.input('step_memory_before_tokens', 'int64', ['b', mem.J]) : null;
  const fresh: [Tensor, Tensor][] = [];
  for (let l = 0; l < cfg.n_layer; l++) {
    fresh.push([ib.input(`chunk_key_${l}`, 'float32', ['b', H, null, D]), ib.input(`chunk_value_${l}`, 'float32', ['b', H, null, D])]);
  }
  const pos = ib.add(t0, j); // []: position of tokIn

  // the GPT on one token per row at position pos
  const embedded = ib.add(ib.gather(p['transformer.wte.weight']!, ib.unsqueeze(tokIn, [1])), ib.gather(p['transformer.wpe.weight']!, pos)); // [b, 1, C]
  // the value memory (memoryTerms in src/model/gpt.ts, as the training graph computes it): an
  // embedding [b, C] and a logit bonus [b, V] from each variable's latest value token and the one before it
  const memory = mem ? memoryTerms(ib, p, memIn!, mem.terms, memBeforeIn!) : null;
  const x0 = memory ? ib.add(embedded, ib.unsqueeze(memory.embedding, [1])) : embedded; // [b, 1, C]
  const heads = (t: Tensor) => ib.transpose(ib.reshape(t, [0, 0, H, D]), [0, 2, 1, 3]); // [b, H, 1, D]
  const present: Tensor[] = [];
  const xf = gptTrunk(ib, cfg, p, x0, {
    linear: (x, w, b) => ib.add(ib.matMul(x, w), b),
    attend: (l, q, k, v) => {
      const key = ib.concat([fresh[l]![0], heads(k)], 2); // [b, H, j + 1, D]
      const value = ib.concat([fresh[l]![1], heads(v)], 2);
      present.push(key, value);
      // one query that may see every cached position: no mask. Scores over the old cache
      // [b, H, 1, t0] and the chunk's [b, H, 1, j + 1], one softmax over both.
      const qh = heads(q);
      const sOld = ib.matMul(qh, ib.transpose(past[l]![0], [0, 1, 3, 2]));
      const sNew = ib.matMul(qh, ib.transpose(key, [0, 1, 3, 2]));
      const probs = ib.softmax(ib.concat([sOld, sNew], 3), -1); // [b, H, 1, t0 + j + 1]
      const axis3 = ib.ints([3], 'axis3');
      const pOld = ib.sliceDynamic(probs, ib.ints([0], 'zero1'), t0v, axis3);
      const pNew = ib.sliceDynamic(probs, t0v, ib.ints([Number.MAX_SAFE_INTEGER], 'end1'), axis3);
      const o = ib.add(ib.matMul(pOld, past[l]![1]), ib.matMul(pNew, value)); // [b, H, 1, D]
      return ib.reshape(ib.transpose(o, [0, 2, 1, 3]), [0, 0, C]); // [b, 1, C]
    },
    primitiveLayerNorm: false,
  });
  const head = ib.reshape(ib.matMul(xf, wteT), [-1, V]); // [b, V]
  const withBonus = memory ? ib.add(head, memory.bonus) : head; // [b, V]

  // guidance: only the rows' half [m] is masked and sampled, from l + w · (l − l_contrast); the
  // contrast half only feeds the difference. Without guidance m = b and nothing changes.
  const half = flip ? ib.div(ib.shape(tokIn, 0, 1), ib.ints([2], 'two1')) : null; // [1]: m
  const axis0 = ib.ints([0], 'axis0');
  const rowsHalf = (t: Tensor) => (half ? ib.sliceDynamic(t, ib.ints([0], 'zero1'), half, axis0) : t); // [m, …]
  const contrastHalf = (t: Tensor) => ib.sliceDynamic(t, half!, ib.ints([Number.MAX_SAFE_INTEGER], 'end1'), axis0); // [m, …]
  const logits = flip
    ? ib.add(rowsHalf(withBonus), ib.mul(guidanceW!, ib.sub(rowsHalf(withBonus), contrastHalf(withBonus))))
    : withBonus; // [m, V]
  const stM = rowsHalf(stIn); // [m]
  const elM = rowsHalf(elIn); // [m]
  const lastM = lastIn ? rowsHalf(lastIn) : null; // [m, J]
  const memM = memIn ? rowsHalf(memIn) : null; // [m, J]

  // the grammar: token v is feasible when next[state][v] ≥ 0 and that state can still close in
  // the positions left after it. The new token sits at position pos + 1; positions
  // pos + 2 .. max_len − 1 remain after it, so distToEnd[next] ≤ max_len − pos − 2.
  const nextRow = ib.gather(nextFlat, ib.add(ib.unsqueeze(ib.mul(stM, Vs), [1]), vocabRange)); // [m, V]
  const allowed = ib.greaterOrEqual(nextRow, zero);
  const dist = ib.gather(distToEnd, ib.where(allowed, nextRow, zero)); // [b, V]
  const left = ib.sub(ib.sub(maxLen, pos), ib.scalar(2, 'int64')); // []
  let feasible = ib.and(allowed, ib.lessOrEqual(dist, left)); // [b, V]
  // the window: no gap that would take the admission's clock past it
  if (clock) feasible = ib.and(feasible, ib.lessOrEqual(ib.add(ib.unsqueeze(elM, [1]), stepHours!), windowT!)); // [m, V]
  // relative bins: a step token needs its variable's latest bin, and lands inside the bins
  if (delta) {
    const lastAt = ib.gather(lastM!, delta.ownerAt, 1); // [m, V]
    const target = ib.add(lastAt, delta.step); // [b, V]: [V] broadcast over the rows
    const ok = ib.and(ib.and(ib.greaterOrEqual(lastAt, zero), ib.greaterOrEqual(target, zero)), ib.less(target, delta.bins));
    feasible = ib.and(feasible, ib.or(ib.not(delta.isStep), ok)); // [b, V]
  }
  const removed = ib.scalar(REMOVED, 'float32');
  // a variable's next value at value_temperature (memory models), before the global temperature
  const masked = ib.where(feasible, logits, removed); // [b, V]
  const shaped = mem
    ? optional(ib, ib.not(ib.equal(valueTemperature, ib.scalar(1, 'float32'))), masked, 'value_temperature', (br, zz) => withinVariable(br, zz, memM!, valueTemperature, mem.within))
    : masked;
  let z = ib.where(feasible, ib.div(shaped, temperature), removed); // [b, V]

  // top-k, then top-p (the order Hugging Face applies them), each only when switched on
  z = optional(ib, ib.greater(topK, zero), z, 'top_k', (br, zz) => {
    const k = br.min(topK, Vs); // []
    const [sorted] = br.topK(zz, br.unsqueeze(k, [0]), -1); // [b, k] descending
    const kth = br.gather(sorted, br.sub(k, br.scalar(1, 'int64')), 1); // [b]
    return br.where(br.greaterOrEqual(zz, br.unsqueeze(kth, [1])), zz, removed);
  });
  z = optional(ib, ib.less(topP, ib.scalar(1, 'float32')), z, 'top_p', (br, zz) => {
    const [sorted] = br.topK(zz, br.ints([V], 'vocab_k'), -1); // [b, V] descending
    const probs = br.softmax(sorted, -1);
    // the mass strictly before each token: the top token is always kept
    const before = br.cumSum(probs, 1, { exclusive: true });
    const kept = br.less(before, topP); // [b, V]
    const bigger = br.scalar(3e38, 'float32');
    const threshold = br.neg(br.reduceMax(br.neg(br.where(kept, sorted, bigger)), [1])); // [b, 1] smallest kept logit
    return br.where(br.greaterOrEqual(zz, threshold), zz, removed);
  });

  // the draw, by inverting the CDF: the first token whose cumulative weight exceeds u · total,
  // u from a hash of (seed, step, row). One uniform per row instead of Gumbel noise on every
  // [b, V] cell (the int64 hash on [b, V] was ~10 % of the time); the same distribution.
  const w = ib.exp(ib.sub(z, ib.reduceMax(z, [1]))); // [b, V] unnormalised, 0 where removed
  const cdf = ib.cumSum(w, 1); // [b, V] non-decreasing
  const total = ib.slice(cdf, [V - 1], [V], [1]); // [b, 1]
  const u = uniformFromCounter(ib, ib.add(rowsHalf(rows), ib.mul(pos, B0)), seed); // [m] in (0, 1)
  // u < 1 − 2⁻²⁰ keeps u · total below total after rounding, so some token always exceeds it;
  // the first to exceed it has a positive weight (the CDF rose there)
  const threshold = ib.mul(total, ib.unsqueeze(ib.mul(u, 1 - 2 ** -20), [1])); // [b, 1]
  const drawn = ib.argMax(ib.cast(ib.greater(cdf, threshold), 'int32'), -1, false); // [m]
  // the contrast rows take the flip of their row's token
  const sampled = flipT ? ib.concat([drawn, ib.gather(flipT, drawn)], 0) : drawn; // [b]

  // the prefix forces positions 1..P−1; the state follows whichever token was taken
  const nextPos = ib.add(pos, one);
  const forcedCol = ib.gather(rowsPrefix, ib.min(nextPos, ib.sub(P, one)), 1); // [R0]
  const tok = ib.where(ib.less(nextPos, P), ib.gather(forcedCol, rows), sampled); // [b]
  const newState = ib.gather(nextFlat, ib.add(ib.mul(stIn, Vs), tok)); // [b]
  const newElapsed = clock ? ib.mul(ib.add(elIn, ib.gather(stepHours!, tok)), ib.gather(keepClockT!, tok)) : ib.identity(elIn); // [b]
  // each variable's latest bin (relative bins) or latest value token (the memory) after tok
  const newLast = delta ? carryLatest(ib, lastIn!, tok, { ...delta, sets: delta.absBin }) : null; // [b, J]
  const newMem = mem ? carryLatest(ib, memIn!, tok, mem) : null; // [b, J]
  // the variable tok sets keeps its latest value as the one before (MemoryRows' `before`)
  const newMemBefore = mem ? ib.where(ib.equal(ib.unsqueeze(ib.gather(mem.owner, tok), [1]), mem.range), memIn!, memBeforeIn!) : null; // [b, J]
  const openStep = ib.cast(ib.not(ib.equal(newState, endState)), 'int64');
  ib.output(ib.greater(ib.reduceMax(openStep, [0], false), zero), 'cond_out');
  // outputs keep their tensors' own names: a renamed output costs an Identity, a copy of the cache
  ib.output(tok);
  ib.output(newState);
  ib.output(newElapsed);
  if (newLast) ib.output(newLast);
  if (newMem) ib.output(newMem);
  if (newMemBefore) ib.output(newMemBefore);
  for (const t of present) ib.output(t);
  ib.output(ib.identity(tok)); // the scan output must be a tensor of its own

  // ---- back in the chunk: run the steps, then merge the cache, write the tokens, drop finished rows
  const trips = ob.min(ob.scalar(chunk, 'int64'), ob.sub(steps, t0));
  // per-row state carried besides the token, automaton state and clock: the relative bins' latest bins, the memory's latest tokens and those before them
  const perRow = [...(last ? [last] : []), ...(memState ? [memState, memBeforeState!] : [])];
  const carried = [cur, state, elapsed, ...perRow, ...past.flatMap(() => [emptyCache(ob, cur), emptyCache(ob, cur)])];
  const inner = ob.loop(trips, ob.constant([1], 'bool', [], 'loop_go'), carried, ib);
  const curOut = inner[0]!;
  const stateOut = inner[1]!;
  const elapsedOut = inner[2]!;
  const perRowOut = inner.slice(3, 3 + perRow.length);
  const cache0 = 3 + perRow.length; // the first cache output
  const toks = inner[inner.length - 1]!; // [j, b]
  const nStep = ob.shape(toks, 0, 1); // [1]
  const t1 = ob.add(t0, ob.squeeze(nStep, [0]));
  // output columns t0 .. t1 − 1 of the rows' original indices
  const cols = ob.range(t0, t1, one); // [j]
  const bj = ob.concat([ob.shape(cur, 0, 1), nStep, ob.ints([1], 'one1')], 0); // [b, j, 1]
  const idx = ob.concat([ob.expand(ob.unsqueeze(rows, [1, 2]), bj), ob.expand(ob.unsqueeze(cols, [0, 2]), bj)], 2); // [b, j, 2]
  const outNext = ob.scatterND(outBuf, idx, ob.transpose(toks, [1, 0]));
  const keep = ob.squeeze(ob.node('NonZero', [ob.not(ob.equal(stateOut, endState))], [{ dtype: 'int64', shape: [1, null] }])[0]!, [0]); // [b']
  const more = ob.and(ob.greater(ob.squeeze(ob.shape(keep), [0]), zero), ob.less(t1, steps));
  ob.output(more, 'chunk_cond_out');
  ob.output(ob.gather(curOut, keep));
  ob.output(ob.gather(stateOut, keep));
  ob.output(ob.gather(elapsedOut, keep));
  for (const t of perRowOut) ob.output(ob.gather(t, keep));
  ob.output(ob.gather(rows, keep));
  ob.output(t1);
  ob.output(outNext);
  past.forEach(([k, v], l) => {
    ob.output(ob.gather(ob.concat([k, inner[cache0 + 2 * l]!], 2), keep));
    ob.output(ob.gather(ob.concat([v, inner[cache0 + 1 + 2 * l]!], 2), keep));
  });

  const perRow0 = [...(last0 ? [last0] : []), ...(mem0 ? [mem0, memBefore0!] : [])];
  const outerCarried = [bos, state0, elapsed0, ...perRow0, rows0, zero, out0, ...past.flatMap(() => [emptyCache(g, bos), emptyCache(g, bos)])];
  const outs = g.loop(steps, g.constant([1], 'bool', [], 'loop_go'), outerCarried, ob);
  const tFinal = outs[4 + perRow0.length]!;
  const allRows = g.sliceDynamic(outs[5 + perRow0.length]!, g.ints([0], 'zero1'), g.unsqueeze(tFinal, [0]), g.ints([1], 'axis1')); // [R0, steps]
  // the contrast rows are not returned
  const tokens = flip ? g.sliceDynamic(allRows, g.ints([0], 'zero1'), g.unsqueeze(B0, [0]), g.ints([0], 'axis0')) : allRows; // [B0, steps]
  g.output(tokens, 'tokens', ['batch_size', 'steps']);
  return serializeModel(g);
}

/**
 * sampler.onnx for a run: its weights, and the grammar, clock, relative bins and value memory (for
 * a model with one) of its tokenizer. The export writes it; the memory calibration samples with it.
 */
export function buildRunSamplerGraph(cfg: ModelConfig, tok: Tokenizer, weights: Record<string, Float32Array>, guidance: { flip: Int32Array } | null = null): Uint8Array {
  return buildSamplerGraph(cfg, { vocabSize: tok.vocab.length, weights, automaton: tok.automaton, clock: tok.clock(), deltas: tok.deltaTable(), memory: modelMemoryTable(cfg, tok), guidance });
}

const i64 = (a: Int32Array) => BigInt64Array.from(a, (x) => BigInt(x));

/**
 * The flip table of label guidance [V]: each value token of the binary label `name` maps to the
 * other one, every other token to itself. Refused for a label that is not binary, or whose
 * tokens the tokenizer puts after the series (labels last: nothing follows them to guide).
 */
export function guidanceFlip(tok: Tokenizer, name: string): Int32Array {
  const i = tok.labelIndex.get(name);
  if (i === undefined) throw new SynehrError('E_CONFIG_VALUE', `generate.guidance_label: no label '${name}' (known: ${tok.labels.map((l) => l.name).join(', ') || 'none'})`);
  const l = tok.labels[i]!;
  if (l.bins || l.values.length !== 2) {
    throw new SynehrError('E_CONFIG_VALUE', `generate.guidance_label: '${name}' has ${l.bins ? 'binned values' : `${l.values.length} values`}; guidance contrasts the two values of a binary label`);
  }
  if (tok.labelsLast) throw new SynehrError('E_CONFIG_VALUE', `generate.guidance: this run's tokenizer puts the labels after the last admission (tokenizer.label_position=last), so no token follows '${name}' to guide`);
  const flip = Int32Array.from({ length: tok.vocab.length }, (_, v) => v);
  flip[l.offset] = l.offset + 1;
  flip[l.offset + 1] = l.offset;
  return flip;
}

/** A flip must be an involution that moves the automaton alike, so a row and its contrast stay in step. */
function checkGuidanceFlip(flip: Int32Array, A: GrammarAutomaton): void {
  const V = A.vocabSize;
  if (flip.length !== V) throw new RangeError(`buildSamplerGraph: guidance.flip has ${flip.length} entries for ${V} tokens`);
  for (let v = 0; v < V; v++) {
    const f = flip[v]!;
    if (f < 0 || f >= V || flip[f] !== v) throw new RangeError(`buildSamplerGraph: guidance.flip must swap tokens in pairs; token ${v} goes to ${f}, which goes to ${flip[f]}`);
    if (f === v) continue;
    for (let st = 0; st < A.numStates; st++) {
      if (A.next[st * V + v] !== A.next[st * V + f]) {
        throw new RangeError(`buildSamplerGraph: guidance.flip swaps tokens ${v} and ${f}, which move automaton state ${st} to ${A.next[st * V + v]} and ${A.next[st * V + f]}`);
      }
    }
  }
}

/**
 * A per-variable state [b, J] after each row's token tok [b]: the token's variable (owner, -1 for
 * none) takes the value the token sets (sets, where isAbs) or its latest one moved by the token's
 * step; the other variables keep theirs. Per-token tables are [V]; range is [1, J] of 0 .. J − 1.
 */
function carryLatest(g: Graph, latest: Tensor, tok: Tensor, t: { owner: Tensor; isAbs: Tensor; sets: Tensor; step: Tensor; range: Tensor }): Tensor {
  const own = g.gather(t.owner, tok); // [b]
  const before = g.gatherElements(latest, g.unsqueeze(g.max(own, g.scalar(0, 'int64')), [1]), 1); // [b, 1]
  const row = (table: Tensor) => g.unsqueeze(g.gather(table, tok), [1]); // [b, 1]
  const value = g.where(row(t.isAbs), row(t.sets), g.add(before, row(t.step))); // [b, 1]
  return g.where(g.equal(g.unsqueeze(own, [1]), t.range), value, latest); // [b, J]
}

/** withinVariable's tables: each value token's variable (valueBlocks), as a gather index [V], a flag [V] and a one-hot [V, J]. */
interface WithinConstants {
  ownerAt: Tensor;
  inBlock: Tensor;
  oneHot: Tensor;
}

function withinVariableConstants(g: Graph, mt: MemoryTable): WithinConstants {
  const V = mt.owner.length;
  const J = mt.variables;
  const ownerAt = new BigInt64Array(V);
  const inBlock = new Uint8Array(V);
  const oneHot = new Float32Array(V * J);
  for (const b of valueBlocks(mt)) {
    for (let t = b.first; t < b.first + b.n; t++) {
      ownerAt[t] = BigInt(b.j);
      inBlock[t] = 1;
      oneHot[t * J + b.j] = 1;
    }
  }
  return {
    ownerAt: g.constant(ownerAt, 'int64', [V], 'within_owner_at'),
    inBlock: g.constant(inBlock, 'bool', [V], 'within_in_block'),
    oneHot: g.constant(oneHot, 'float32', [V, J], 'within_one_hot'),
  };
}

/**
 * The value temperature tau on logits z [b, V] (removed tokens at REMOVED): for each variable j
 * that has a latest value (latest [b, J] ≥ 0), its value tokens' logits become
 * (z − m)/tau + m + log S_j − log S'_j, with m the row's max, S_j = Σ exp(z − m) and
 * S'_j = Σ exp((z − m)/tau) over j's tokens: within j the probabilities go as p^(1/tau), and j's
 * total probability, which decides whether j is measured now, stays what the model said. A variable
 * whose sums underflow to 0 (its every token removed, or far below the row's best) is left alone.
 */
function withinVariable(g: Graph, z: Tensor, latest: Tensor, tau: Tensor, c: WithinConstants): Tensor {
  const m = g.reduceMax(z, [1]); // [b, 1]
  const d = g.sub(z, m); // [b, V] ≤ 0
  const sharp = g.div(d, tau);
  const s = g.matMul(g.exp(d), c.oneHot); // [b, J]
  const s2 = g.matMul(g.exp(sharp), c.oneHot); // [b, J]
  const none = g.scalar(0, 'float32');
  const ok = g.and(g.greaterOrEqual(latest, g.scalar(0, 'int64')), g.and(g.greater(s, none), g.greater(s2, none))); // [b, J]
  const shift = g.where(ok, g.sub(g.log(s), g.log(s2)), none); // [b, J]
  const apply = g.and(g.gather(ok, c.ownerAt, 1), c.inBlock); // [b, V]
  return g.where(apply, g.add(g.add(sharp, g.gather(shift, c.ownerAt, 1)), m), z);
}

/** `apply(z)` inside an If on `on`, z itself otherwise (e.g. no full-vocabulary sort when top_k = 0). */
function optional(g: Graph, on: Tensor, z: Tensor, name: string, apply: (branch: Graph, z: Tensor) => Tensor): Tensor {
  const yes = g.subgraph(`${name}_on`);
  yes.output(apply(yes, z), `${name}_on_z`, ['batch_size', z.shape?.[1] ?? null]);
  const no = g.subgraph(`${name}_off`);
  no.output(no.identity(z), `${name}_off_z`, ['batch_size', z.shape?.[1] ?? null]);
  return g.ifThenElse(on, yes, no)[0]!;
}

/**
 * Uniform noise in (0, 1) from int64 counters ≥ 0 and a 32-bit seed: murmur3's 32-bit finalizer
 * (a bijection with full avalanche) of (low word ⊕ (seed + high word · φ)). Distinct counters below
 * 2^32 get distinct noise words. Written in int64 ops, each 32 × 32-bit product split so that
 * nothing overflows.
 */
export function uniformFromCounter(g: Graph, counter: Tensor, seed: Tensor): Tensor {
  const two32 = g.scalar(TWO32, 'int64');
  const lo = mod(g, counter, two32);
  const hi = g.div(counter, two32);
  const key = mod(g, g.add(seed, g.mul(hi, g.scalar(0x9e3779b9, 'int64'))), two32);
  const h = fmix32(g, xor(g, lo, key));
  // 23 high bits + ½: exact in float32 and strictly inside (0, 1)
  const top = g.cast(g.div(h, g.scalar(512, 'int64')), 'float32');
  return g.div(g.add(top, g.scalar(0.5, 'float32')), g.scalar(8388608, 'float32'));
}

/** murmur3 fmix32 on values in [0, 2^32) held in int64. */
function fmix32(g: Graph, h: Tensor): Tensor {
  const xorShift = (x: Tensor, s: number) => xor(g, x, g.div(x, g.scalar(2 ** s, 'int64')));
  h = xorShift(h, 16);
  h = mul32(g, h, 0x85ebca6b);
  h = xorShift(h, 13);
  h = mul32(g, h, 0xc2b2ae35);
  return xorShift(h, 16);
}

/** (h · c) mod 2^32 for h in [0, 2^32) and a 32-bit constant c, without int64 overflow. */
function mul32(g: Graph, h: Tensor, c: number): Tensor {
  const cHi = Math.floor(c / 65536);
  const cLo = c % 65536;
  const two16 = g.scalar(65536, 'int64');
  const lowPart = g.mul(h, g.scalar(cLo, 'int64')); // < 2^48
  const highPart = g.mul(mod(g, g.mul(h, g.scalar(cHi, 'int64')), two16), two16); // < 2^32
  return mod(g, g.add(lowPart, highPart), g.scalar(TWO32, 'int64'));
}

/** int64 remainder (ONNX Mod, fmod = 0); operands here are never negative. */
function mod(g: Graph, a: Tensor, b: Tensor): Tensor {
  return g.node('Mod', [a, b], [{ dtype: 'int64', shape: broadcastShapes(a.shape, b.shape, 'Mod') }])[0]!;
}

/** int64 BitwiseXor (opset 18). */
function xor(g: Graph, a: Tensor, b: Tensor): Tensor {
  return g.node('BitwiseXor', [a, b], [{ dtype: 'int64', shape: broadcastShapes(a.shape, b.shape, 'BitwiseXor') }])[0]!;
}
