/**
 * sampler.onnx: the whole autoregressive loop inside one ONNX `Loop` (DESIGN.md, "Sampling").
 *
 * Each iteration feeds one token per row through the GPT with the KV cache carried between
 * iterations, masks the logits with the grammar automaton's row `next[state]` and with "can still
 * reach `</s>` in the positions left", applies temperature, top-k and top-p, draws by Gumbel-max
 * from a counter-based hash of (seed, step, row, token), and advances the automaton state. The
 * first P − 1 iterations are forced to the conditional prefix instead of sampled, so one body
 * serves both the prefix and the free run. The loop stops when every row is in the accepting
 * state. Only the token ids [B, steps] come back to JS.
 *
 * Notation: B = rows, P = prefix length, V = vocab size, S = automaton states, C = n_embd,
 * H = n_head, D = C / H, t = tokens in the cache so far.
 */
import { Graph, broadcastShapes, serializeModel, type Tensor } from '../graph/index.ts';
import { gptTrunk } from '../model/gpt.ts';
import { gptParamSpecs } from '../model/params.ts';
import type { ModelConfig } from '../model/config.ts';
import type { GrammarAutomaton } from '../tokenizer/automaton.ts';

/** Opset 18 for BitwiseXor, which the Gumbel noise hash needs. */
export const SAMPLER_OPSET = 18;

/** The logit of a token the grammar or a filter removed: exp() of it is 0 and no noise lifts it. */
const REMOVED = -1e30;
const TWO32 = 4294967296;

export interface SamplerGraphOptions {
  vocabSize: number;
  /** trained float32 weights by Hugging Face name, embedded as initializers */
  weights: Record<string, Float32Array>;
  automaton: GrammarAutomaton;
}

/** The sampler's inputs, in order, with what they mean. */
export const SAMPLER_INPUTS = {
  prefix: 'int64 [B, P]: forced tokens, starting with <s>; P ≥ 1 and the same for every row',
  max_len: 'int64 []: the longest sequence, prefix included; ≤ n_ctx',
  temperature: 'float32 []: > 0; logits are divided by it',
  top_k: 'int64 []: keep the k most likely tokens; 0 keeps all',
  top_p: 'float32 []: keep the smallest set of tokens whose probability reaches p; 1 keeps all',
  seed: 'int64 []: in [0, 2^32); the Gumbel noise is a function of (seed, step, row, token)',
} as const;

/**
 * Builds sampler.onnx. Output `tokens` int64 [B, steps]: the tokens at positions 1..steps (the
 * prefix's own tokens after <s> included), `<pad>` after a row's `</s>`; steps ≤ max_len − 1.
 */
export function buildSamplerGraph(cfg: ModelConfig, opts: SamplerGraphOptions): Uint8Array {
  const { vocabSize: V, automaton: A } = opts;
  if (A.vocabSize !== V) {
    throw new RangeError(`buildSamplerGraph: the automaton has ${A.vocabSize} tokens, the model ${V}`);
  }
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const g = new Graph('synehr_sampler', SAMPLER_OPSET);

  const prefix = g.input('prefix', 'int64', ['batch_size', 'prefix_length']);
  const maxLen = g.input('max_len', 'int64', []);
  const temperature = g.input('temperature', 'float32', []);
  const topK = g.input('top_k', 'int64', []);
  const topP = g.input('top_p', 'float32', []);
  const seed = g.input('seed', 'int64', []);

  const p: Record<string, Tensor> = {};
  for (const s of gptParamSpecs(cfg, V)) {
    const w = opts.weights[s.name];
    if (!w) throw new RangeError(`buildSamplerGraph: weight '${s.name}' is missing`);
    p[s.name] = g.initializer(s.name, 'float32', s.shape, w);
  }
  const wteT = g.transpose(p['transformer.wte.weight']!, [1, 0]); // [C, V], folded by ORT

  // the automaton as tensors: next flattened [S·V] (-1 = forbidden), distToEnd [S]
  const nextFlat = g.constant(BigInt64Array.from(A.next, BigInt), 'int64', [A.numStates * V], 'grammar_next');
  const distToEnd = g.constant(BigInt64Array.from(A.distToEnd, BigInt), 'int64', [A.numStates], 'grammar_dist');
  const endState = g.scalar(A.endState, 'int64');
  const vocabRange = g.constant(BigInt64Array.from({ length: V }, (_, i) => BigInt(i)), 'int64', [1, V], 'vocab_range'); // [1, V]
  const Vs = g.scalar(V, 'int64');

  // initial carried values: the <s> column, the state after it, and empty caches [B, H, 0, D]
  const bos = g.squeeze(g.slice(prefix, [0], [1], [1]), [1]); // [B]
  const state0 = g.gather(nextFlat, g.add(g.scalar(A.startState * V, 'int64'), bos)); // [B]
  const B1 = g.shape(prefix, 0, 1); // [1]
  const emptyCache = g.constantOfShape(g.concat([B1, g.ints([H, 0, D])], 0), 0, 'float32'); // [B, H, 0, D]
  const P = g.squeeze(g.shape(prefix, 1, 2), [0]); // []
  const rows = g.unsqueeze(g.range(g.scalar(0, 'int64'), g.squeeze(B1, [0]), g.scalar(1, 'int64')), [1]); // [B, 1]
  const cellIndex = g.add(g.mul(rows, Vs), vocabRange); // [B, V]: row · V + token, the noise counter within a step

  const body = g.subgraph('sampler_step');
  const iter = body.input('iter', 'int64', []);
  const condIn = body.input('cond_in', 'bool', []);
  const cur = body.input('cur', 'int64', ['batch_size']); // the token at position iter
  const state = body.input('state', 'int64', ['batch_size']); // automaton state after it
  const past: [Tensor, Tensor][] = [];
  for (let l = 0; l < cfg.n_layer; l++) {
    past.push([
      body.input(`past_key_${l}`, 'float32', ['batch_size', H, null, D]),
      body.input(`past_value_${l}`, 'float32', ['batch_size', H, null, D]),
    ]);
  }
  void condIn;

  // ---- the GPT on one token per row, position `iter`
  const x0 = body.add(body.gather(p['transformer.wte.weight']!, body.unsqueeze(cur, [1])), body.gather(p['transformer.wpe.weight']!, iter)); // [B, 1, C]
  const heads = (t: Tensor) => body.transpose(body.reshape(t, [0, 0, H, D]), [0, 2, 1, 3]); // [B, H, 1, D]
  const present: Tensor[] = [];
  const xf = gptTrunk(body, cfg, p, x0, {
    linear: (x, w, b) => body.add(body.matMul(x, w), b),
    attend: (l, q, k, v) => {
      const key = body.concat([past[l]![0], heads(k)], 2); // [B, H, t + 1, D]
      const value = body.concat([past[l]![1], heads(v)], 2);
      present.push(key, value);
      // one query that may see every cached position: no mask
      // written out (not Graph.attention): no gradient is needed, and no mask either
      const scores = body.matMul(heads(q), body.transpose(key, [0, 1, 3, 2])); // [B, H, 1, t + 1]
      const o = body.matMul(body.softmax(scores, -1), value); // [B, H, 1, D]
      return body.reshape(body.transpose(o, [0, 2, 1, 3]), [0, 0, C]); // [B, 1, C]
    },
    primitiveLayerNorm: false,
  });
  const logits = body.reshape(body.matMul(xf, wteT), [-1, V]); // [B, V]

  // ---- the grammar: token v is feasible when next[state][v] ≥ 0 and that state can still close
  // in the positions left after it. The new token sits at position iter + 1; positions
  // iter + 2 .. max_len − 1 remain after it, so distToEnd[next] ≤ max_len − iter − 2.
  const nextRow = body.gather(nextFlat, body.add(body.unsqueeze(body.mul(state, Vs), [1]), vocabRange)); // [B, V]
  const allowed = body.greaterOrEqual(nextRow, body.scalar(0, 'int64'));
  const dist = body.gather(distToEnd, body.where(allowed, nextRow, body.scalar(0, 'int64'))); // [B, V]
  const left = body.sub(body.sub(maxLen, iter), body.scalar(2, 'int64')); // []
  const feasible = body.and(allowed, body.lessOrEqual(dist, left)); // [B, V]
  const removed = body.scalar(REMOVED, 'float32');
  let z = body.where(feasible, body.div(logits, temperature), removed); // [B, V]

  // ---- top-k, then top-p (the order Hugging Face applies them), each only when switched on
  z = optional(body, body.greater(topK, body.scalar(0, 'int64')), z, 'top_k', (br, zz) => {
    const k = br.min(topK, Vs); // []
    const [sorted] = br.topK(zz, br.unsqueeze(k, [0]), -1); // [B, k] descending
    const kth = br.gather(sorted, br.sub(k, br.scalar(1, 'int64')), 1); // [B]
    return br.where(br.greaterOrEqual(zz, br.unsqueeze(kth, [1])), zz, removed);
  });
  z = optional(body, body.less(topP, body.scalar(1, 'float32')), z, 'top_p', (br, zz) => {
    const [sorted] = br.topK(zz, br.ints([V], 'vocab_k'), -1); // [B, V] descending
    const probs = br.softmax(sorted, -1);
    // the mass strictly before each token: the top token is always kept
    const before = br.cumSum(probs, 1, { exclusive: true });
    const kept = br.less(before, topP); // [B, V]
    const bigger = br.scalar(3e38, 'float32');
    const threshold = br.neg(br.reduceMax(br.neg(br.where(kept, sorted, bigger)), [1])); // [B, 1] smallest kept logit
    return br.where(br.greaterOrEqual(zz, threshold), zz, removed);
  });

  // ---- Gumbel-max: argmax(z + G), G = −log(−log u), u from a hash of (seed, step, row, token)
  const counter = body.add(cellIndex, body.mul(iter, body.mul(body.squeeze(B1, [0]), Vs))); // [B, V] unique per (step, row, token)
  const u = uniformFromCounter(body, counter, seed); // [B, V] in (0, 1)
  const gumbel = body.neg(body.log(body.neg(body.log(u))));
  const sampled = body.argMax(body.add(z, gumbel), -1, false); // [B]

  // ---- the prefix forces positions 1..P−1; the state follows whichever token was taken
  const nextPos = body.add(iter, body.scalar(1, 'int64'));
  const forcedTok = body.gather(prefix, body.min(nextPos, body.sub(P, body.scalar(1, 'int64'))), 1); // [B]
  const tok = body.where(body.less(nextPos, P), forcedTok, sampled); // [B]
  const newState = body.gather(nextFlat, body.add(body.mul(state, Vs), tok)); // [B]
  const open = body.cast(body.not(body.equal(newState, endState)), 'int64');
  body.output(body.greater(body.reduceMax(open, [0], false), body.scalar(0, 'int64')), 'cond_out');
  // outputs keep their tensors' own names: a renamed output costs an Identity, a copy of the cache
  body.output(tok);
  body.output(newState);
  for (const t of present) body.output(t);
  body.output(body.identity(tok)); // the scan output must be a tensor of its own

  const trips = g.sub(maxLen, g.scalar(1, 'int64'));
  const carried = [bos, state0, ...past.flatMap(() => [emptyCache, emptyCache])];
  const outs = g.loop(trips, g.constant([1], 'bool', [], 'loop_go'), carried, body);
  const scanned = outs[outs.length - 1]!; // [steps, B]
  g.output(g.transpose(scanned, [1, 0]), 'tokens', ['batch_size', 'steps']);
  return serializeModel(g);
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
