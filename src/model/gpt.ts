/**
 * The GPT, defined once (`gptTrunk`: embeddings in, final LayerNorm out) and emitted as ONNX graphs:
 *  - the training graph: loss and the gradient of every parameter (reverse-mode autodiff),
 *  - the evaluation graph: loss only,
 *  - the KV-cache inference graph in Hugging Face GPT-2 layout (inputs input_ids, attention_mask,
 *    position_ids, past_key_values.{i}.key|value; outputs logits, present.{i}.key|value),
 *  - `gptCachedStep`, the same cached step for any graph, e.g. the sampler's Loop body.
 *
 * Notation: B = batch, T = time (context), C = n_embd, H = n_head, D = C / H (head size),
 * V = vocab size, N = B·T tokens, L = n_layer, P = past length.
 */
import { Graph, grad, serializeModel, type DType, type Tensor } from '../graph/index.ts';
import type { SessionOptions } from '../graph/runtime.ts';
import type { ModelConfig } from './config.ts';
import { gptParamSpecs, trainedParamSpecs, type ParamSpec } from './params.ts';
import type { MemoryTable } from '../tokenizer/vocabulary.ts';
import { SynehrError } from '../util/errors.ts';

/** Large negative score for blocked attention: exp() of it underflows to 0 in float32 and float64. */
const MASKED = -1e9;
const LN_EPS = 1e-5;

export interface TrainingGraphOptions {
  vocabSize: number;
  /** B: packed windows per step */
  batch: number;
  /** T: tokens per window (≤ cfg.n_ctx) */
  ctx: number;
  /** the tokenizer's memory table (Vocabulary.memoryTable()): needed exactly when the model has model.value_memory */
  memory?: MemoryTable;
  /** float64 only for gradient checks: ORT's float64 kernels are slower and lack LayerNormalization */
  dtype?: 'float32' | 'float64';
  /** LayerNorm written out in primitive ops (always so in float64) */
  primitiveLayerNorm?: boolean;
  /**
   * Causal block split of the attention: queries in block i only score keys in blocks 0..i, so
   * nb blocks compute (nb + 1) / (2 nb) of the T × T scores. Must divide T; default
   * defaultAttentionBlocks(T).
   */
  attentionBlocks?: number;
  /**
   * The loss weight of each target token [V] (train.main_label_weight): the loss is
   * Σ w[target] · nll / (targets not −1), so weights of 1 give the plain mean. Absent: all 1.
   */
  targetWeights?: Float32Array;
}

/**
 * Session options for the training and evaluation graphs. ORT's MatMulAddFusion would turn each
 * linear layer's MatMul + Add back into a Gemm with a bias, which measured slower (the c_fc layer,
 * [4096, 128] · [128, 512] + b, took 3.2 ms as a Gemm and 2.4 ms as MatMul then Add at 2 threads;
 * a gpt-small step 1-2% faster overall, gpt unchanged).
 */
export const TRAINING_SESSION_OPTIONS = { disabledOptimizers: ['MatMulAddFusion'] } as const satisfies SessionOptions;

/**
 * Blocks of at least 256 queries, at most 4 of them: 1024 → 4, 512 → 2, 256 → 1. At T 1024, 4
 * blocks (5/8 of the scores) measured 2-3% faster than 8 (9/16) for gpt-small and gpt alike: the
 * smaller share of scores did not pay for twice the ops and key/value prefixes.
 */
export function defaultAttentionBlocks(T: number): number {
  let nb = 1;
  while (nb < 4 && T % (2 * nb) === 0 && T / (2 * nb) >= 256) nb *= 2;
  return nb;
}

export interface BuiltGraph {
  model: Uint8Array;
  params: ParamSpec[];
  inputNames: string[];
  outputNames: string[];
}

/** The data inputs of the training and evaluation graphs, in order; parameters follow them. */
export const TRAINING_DATA_INPUTS = ['input_ids', 'position_ids', 'doc_ids', 'targets'] as const;

/**
 * The value memory's input (model.value_memory), after TRAINING_DATA_INPUTS in the training and
 * evaluation graphs ([B·T, J]), after position_ids in the inference graph ([B, S, J]): per token,
 * each variable's latest value token in its patient so far, this token included, or −1 for none
 * (src/train/memory.ts). It enters the model twice (memoryTerms):
 *  - the mean of wme's rows at those tokens joins the token and position embeddings (a mean, so
 *    that 30 variables do not swamp the token's own embedding);
 *  - a logit bonus for each value token v of a variable with a latest value u: wmb[first + |v − u|],
 *    first being the variable's first token, so a variable's bins share one learned kernel over the
 *    distance in bins from its latest value. The plain GPT must find a lab's last bin hundreds of
 *    tokens back by attention, and measurably spreads its next value too wide (docs/quality.md).
 *    While the variable has no value, wma[v] instead: a first-value offset that only the refit
 *    after training fits (src/train/memoryRefit.ts), so the training graph has no wma.
 *    A token of no variable's values gets wma[v] at every position: the prefix offsets, which
 *    the memory calibration fits at the covariates' and labels' values so that sampled records
 *    have the training split's shares of them (src/generate/calibrate.ts), 0 elsewhere.
 */
export const MEMORY_INPUT = 'memory';

/**
 * The value memory's second input, after MEMORY_INPUT in the inference graph ([B, S, J]): per
 * token, each variable's value token before its latest one, or −1 while it has fewer than two
 * (MemoryRows with `before`). A value token v of a variable whose value before the latest is u'
 * gets a second bonus wmp[first + |v − u'|], a kernel like wmb's. With it the model can pull a
 * series back after a jump: the trunk alone learns weaker reversion than real series show, because
 * a daily lab's earlier value lies hundreds of tokens back (docs/quality.md, "Series that come
 * back"). Only the refit fits wmp, so the training and evaluation graphs have neither it nor this
 * input.
 */
export const MEMORY_BEFORE_INPUT = 'memory_before';

/** The tokenizer's memory table (Vocabulary.memoryTable()) as graph constants, built once per graph. */
export interface MemoryConstants {
  V: number;
  /** variable j's value tokens, first .. first + n − 1 in id order, with its kernel's gather index [n, n]: first + |k − k'| */
  blocks: { j: number; first: number; n: number; kernel: Tensor }[];
  /** J, of which the last `labels` are labels (MemoryTable.labels); with labels, [V] 1 at the series variables' tokens, 0 at the labels' */
  J: number;
  labels: number;
  seriesMask: Tensor | null;
}

/** Each variable's value tokens as one block, first .. first + n − 1 in id order, by first token (variables without values have none). */
export function valueBlocks(table: MemoryTable): { j: number; first: number; n: number }[] {
  const counts = new Map<number, number>();
  table.first.forEach((f, t) => {
    if (f >= 0 && table.sets[t]! >= 0) counts.set(f, (counts.get(f) ?? 0) + 1);
  });
  return [...counts].sort((a, b) => a[0] - b[0]).map(([first, n]) => ({ j: table.owner[first]!, first, n }));
}

export function memoryConstants(g: Graph, table: MemoryTable): MemoryConstants {
  const V = table.owner.length;
  const blocks = valueBlocks(table).map(({ j, first, n }) => {
    const idx = new BigInt64Array(n * n);
    for (let k = 0; k < n; k++) for (let q = 0; q < n; q++) idx[k * n + q] = BigInt(first + Math.abs(k - q));
    return { j, first, n, kernel: g.constant(idx, 'int64', [n, n], `memory_kernel_${first}`) };
  });
  const labelsFrom = table.variables - table.labels;
  const seriesMask = table.labels > 0 ? g.constant(Float32Array.from(table.owner, (j) => (j >= labelsFrom ? 0 : 1)), 'float32', [V], 'memory_series_mask') : null;
  return { V, blocks, J: table.variables, labels: table.labels, seriesMask };
}

/** The memory table a model reads (model.value_memory, with its labels for model.memory_labels), null without a memory. */
export function modelMemoryTable(cfg: ModelConfig, vocab: { memoryTable(opts: { labels?: boolean }): MemoryTable }): MemoryTable | null {
  return cfg.value_memory ? vocab.memoryTable({ labels: cfg.memory_labels }) : null;
}

/**
 * A graph builder's check that it was given the tokenizer's memory table exactly when the model
 * has model.value_memory.
 */
export function checkMemoryTable(cfg: ModelConfig, table: MemoryTable | null | undefined, where: string): void {
  if (cfg.memory_labels && !cfg.value_memory) throw new SynehrError('E_CONFIG_VALUE', 'model.memory_labels: true needs model.value_memory: true (the labels join the value memory)');
  const given = table !== null && table !== undefined;
  if (cfg.value_memory !== given) {
    throw new RangeError(cfg.value_memory ? `${where}: the model has a value memory and no memory table was given` : `${where}: a memory table was given for a model without a value memory`);
  }
  if (table && table.labels > 0 && !cfg.memory_labels) {
    throw new RangeError(`${where}: the memory table has ${table.labels} label columns for a model with memory_labels ${cfg.memory_labels} (Vocabulary.memoryTable({ labels: model.memory_labels }))`);
  }
}

/**
 * The memory's two terms for latest [.., J] (int64, −1 none; static rank 2 or 3): the embedding
 * [.., C] and the logit bonus [.., V] (see MEMORY_INPUT; wma's part only where p has wma), in the
 * tables' dtype. Where p has wmp, the bonus adds its kernel at `before` [.., J], each variable's
 * value before its latest (MEMORY_BEFORE_INPUT), which must then be given.
 */
export function memoryTerms(g: Graph, p: Record<string, Tensor>, latest: Tensor, c: MemoryConstants, before?: Tensor): { embedding: Tensor; bonus: Tensor } {
  const axis = (latest.shape?.length ?? 2) - 1;
  const dtype = p['transformer.wme.weight']!.dtype;
  const lead = latest.staticShape?.slice(0, axis);
  const zerosV = g.constantOfShape(lead ? [...lead, c.V] : g.concat([g.shape(latest, 0, axis), g.ints([c.V], 'memory_vocab_dim')], 0), 0, dtype); // [.., V]
  const zero = g.scalar(0, 'int64');
  const columns = (from: number, to: number, t: Tensor) => g.slice(t, [from], [to], [axis]);
  const has = g.greaterOrEqual(latest, zero); // [.., J]
  const hasF = g.cast(has, dtype);
  const at = g.max(latest, zero);
  // 0/1 over the vocabulary at the latest tokens; a variable with none writes 0 at token 0, which
  // is no variable's value (specials come first), and two variables never share a token
  const hot = g.scatterElements(zerosV, at, hasF, axis); // [.., V]
  const wmp = p['transformer.wmp.weight'];
  if (wmp && !before) throw new RangeError(`memoryTerms: the weights have transformer.wmp.weight and no '${MEMORY_BEFORE_INPUT}' was given`);
  if (before && !wmp) throw new RangeError(`memoryTerms: '${MEMORY_BEFORE_INPUT}' was given for weights without transformer.wmp.weight`);
  // the values before the latest, one-hot as latest's (none: nothing, as above)
  const hotBefore = before && wmp ? g.scatterElements(zerosV, g.max(before, zero), g.cast(g.greaterOrEqual(before, zero), dtype), axis) : null; // [.., V]
  const wme = p['transformer.wme.weight']!;
  // the variables' latest values averaged; with labels (the last c.labels columns) their rows are
  // added whole: a label is one value for the whole record, which a mean over up to J would dilute
  const S = c.J - c.labels;
  const count = g.max(g.reduceSum(c.labels > 0 ? columns(0, S, hasF) : hasF, [axis]), 1); // [.., 1]
  let embedding = g.div(g.matMul(c.seriesMask ? g.mul(hot, g.cast(c.seriesMask, dtype)) : hot, wme), count); // [.., C]
  if (c.labels > 0) {
    const drawn = g.unsqueeze(columns(S, c.J, hasF), [axis + 1]); // [.., labels, 1]
    const rows = g.mul(g.gather(wme, columns(S, c.J, at)), drawn); // [.., labels, C]
    embedding = g.add(embedding, g.reduceSum(rows, [axis], false));
  }
  // per variable, its one-hot [.., n] times its kernel [n, n] (wmb[first + |k − k'|]): small
  // products where gathering the kernel for all [.., V] cells cost more than the rest of the model;
  // while it has no value, wma's entries instead (refit-only: absent from the training graph)
  const wma = p['transformer.wma.weight'];
  const none = wma ? g.sub(g.scalar(1, dtype), hasF) : null; // [.., J]
  const pieces: Tensor[] = [];
  let at0 = 0;
  // every other token (specials, covariates, labels, codes, gaps) gets wma's entry as a constant
  // offset: the calibration fits it at the covariates' and labels' values, 0 elsewhere
  const constant = (from: number, to: number) => (wma ? g.add(columns(from, to, zerosV), g.slice(wma, [from], [to], [0])) : columns(from, to, zerosV));
  for (const b of c.blocks) {
    if (b.first > at0) pieces.push(constant(at0, b.first));
    let later = g.matMul(columns(b.first, b.first + b.n, hot), g.gather(p['transformer.wmb.weight']!, b.kernel)); // [.., n]
    if (hotBefore && wmp) later = g.add(later, g.matMul(columns(b.first, b.first + b.n, hotBefore), g.gather(wmp, b.kernel)));
    pieces.push(wma && none ? g.add(later, g.mul(columns(b.j, b.j + 1, none), g.slice(wma, [b.first], [b.first + b.n], [0]))) : later);
    at0 = b.first + b.n;
  }
  if (at0 < c.V) pieces.push(constant(at0, c.V));
  const bonus = g.concat(pieces, axis); // [.., V]
  return { embedding, bonus };
}

export const gradName = (param: string): string => `grad.${param}`;

interface ForwardOptions {
  B: number;
  T: number;
  primitiveLayerNorm: boolean;
  attentionBlocks: number;
  /** the dropout mask input of a site (dropoutMaskSpecs' names), or undefined where there is none */
  dropMask?: (name: string) => Tensor | undefined;
  /** the value memory's terms (memoryTerms of MEMORY_INPUT), when the model has one: embedding [N, C] */
  memoryEmbedding?: Tensor;
}

/**
 * A dropout site of the training graph: a mask input that the trainer fills, for every
 * micro-batch, with 0 (dropped) or 1 / (1 − p) (kept) per element (see src/train/dropout.ts).
 */
export interface DropoutMaskSpec {
  name: string;
  shape: number[];
  /** the drop probability */
  p: number;
}

/**
 * The dropout masks of the training graph, where Hugging Face's GPT-2 applies embd_pdrop and
 * resid_pdrop: the summed embeddings, and each block's attention projection and MLP output before
 * they join the residual stream, all [N, C]. A probability of 0 has no mask, so a model without
 * dropout gets the same graph as before dropout existed.
 */
export function dropoutMaskSpecs(cfg: ModelConfig, B: number, T: number): DropoutMaskSpec[] {
  const N = B * T;
  const C = cfg.n_embd;
  const specs: DropoutMaskSpec[] = [];
  if (cfg.embd_pdrop > 0) specs.push({ name: 'dropout.embd', shape: [N, C], p: cfg.embd_pdrop });
  if (cfg.resid_pdrop > 0) {
    for (let l = 0; l < cfg.n_layer; l++) {
      specs.push({ name: `dropout.h.${l}.attn`, shape: [N, C], p: cfg.resid_pdrop }, { name: `dropout.h.${l}.mlp`, shape: [N, C], p: cfg.resid_pdrop });
    }
  }
  return specs;
}

/** Parameters as graph tensors, by their Hugging Face names. */
type Params = Record<string, Tensor>;

/** Block i's attention mask, as attention() takes it: additive bias and 0/1 keep, [B, 1, tb, seen]. */
interface BlockMask {
  bias: Tensor;
  keep: Tensor;
}

/**
 * The attention masks of a packed batch, one per causal query block (see blockCausalAttention):
 * block i's [B, 1, tb, (i + 1) tb] allows query q to see key j when j ≤ q and both have the same
 * doc_id (packed patients never see each other). Built in the graph from doc_ids, block by block,
 * so the blocked upper right of the T × T square is never computed; shared by all layers.
 */
function documentCausalMasks(g: Graph, docIds: Tensor, T: number, nb: number, dtype: DType): BlockMask[] {
  const tb = T / nb;
  return Array.from({ length: nb }, (_, i) => {
    const seen = (i + 1) * tb;
    // query i·tb + r may see key j when j ≤ i·tb + r: only the last tb columns hold blocked keys
    const causal = new Uint8Array(tb * seen);
    for (let r = 0; r < tb; r++) causal.fill(1, r * seen, r * seen + i * tb + r + 1);
    const queries = nb === 1 ? docIds : g.slice(docIds, [i * tb], [seen], [1]); // [B, tb]
    const keys = i === nb - 1 ? docIds : g.slice(docIds, [0], [seen], [1]); // [B, seen]
    const same = g.equal(g.unsqueeze(queries, [1, 3]), g.unsqueeze(keys, [1, 2])); // [B, 1, tb, seen]
    const allowed = g.and(same, g.constant(causal, 'bool', [tb, seen], `causal_block${i}`));
    const keep = g.cast(allowed, dtype);
    // (keep − 1)·1e9: two arithmetic passes, cheaper than one Where in ONNX Runtime
    return { bias: g.mul(g.sub(keep, 1), -MASKED), keep };
  });
}

/** How the shared trunk does its layout-dependent steps (training: products on [N, C] token rows; inference: on [B, S, C]). */
export interface TrunkOps {
  /** x [.., in] · W [in, out] + b (Conv1D layout, as GPT-2 stores it) */
  linear(x: Tensor, w: Tensor, b: Tensor): Tensor;
  /** layer l's attention: q (already scaled by 1/√D), k, v [.., C] → the heads' output [.., C] */
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor;
  primitiveLayerNorm: boolean;
  /** q, k and v as three products on slices of c_attn's weight instead of one product split after */
  splitQkvWeights?: boolean;
  /** training only: dropout on layer l's attention projection or MLP output ([.., C]) */
  residDropout?: (layer: number, site: 'attn' | 'mlp', x: Tensor) => Tensor;
}

/**
 * The GPT, once: pre-LayerNorm blocks of causal multi-head attention and a GELU MLP over the
 * summed token + position embeddings x0 [.., C], then the final LayerNorm. Returns [.., C].
 */
export function gptTrunk(g: Graph, cfg: ModelConfig, p: Params, x0: Tensor, ops: TrunkOps): Tensor {
  const C = cfg.n_embd;
  const D = C / cfg.n_head;
  const ln = (x: Tensor, name: string) => g.layerNorm(x, p[`${name}.weight`]!, p[`${name}.bias`]!, { epsilon: LN_EPS, primitive: ops.primitiveLayerNorm });
  const drop = (l: number, site: 'attn' | 'mlp', t: Tensor) => (ops.residDropout ? ops.residDropout(l, site, t) : t);
  let x = x0;
  for (let l = 0; l < cfg.n_layer; l++) {
    const h = `transformer.h.${l}`;
    const xa = ln(x, `${h}.ln_1`);
    const wAttn = p[`${h}.attn.c_attn.weight`]!; // [C, 3C]
    const bAttn = p[`${h}.attn.c_attn.bias`]!; // [3C]
    const bs = ops.splitQkvWeights ? g.split(bAttn, [C, C, C], 0) : [];
    // split weights: three products and no [.., 3C] result to split (nor its gradient to concatenate)
    const [q, k, v] = ops.splitQkvWeights
      ? g.split(wAttn, [C, C, C], 1).map((w, i) => ops.linear(xa, w, bs[i]!))
      : g.split(ops.linear(xa, wAttn, bAttn), [C, C, C], -1); // 3 × [.., C]
    // the 1/√D scale on q ([.., C]) is cheaper than on the scores ([.., H, T, T])
    const y = ops.attend(l, g.mul(q!, 1 / Math.sqrt(D)), k!, v!); // [.., C]
    x = g.add(x, drop(l, 'attn', ops.linear(y, p[`${h}.attn.c_proj.weight`]!, p[`${h}.attn.c_proj.bias`]!)));
    const f = ops.linear(ln(x, `${h}.ln_2`), p[`${h}.mlp.c_fc.weight`]!, p[`${h}.mlp.c_fc.bias`]!); // [.., 4C]
    x = g.add(x, drop(l, 'mlp', ops.linear(g.gelu(f), p[`${h}.mlp.c_proj.weight`]!, p[`${h}.mlp.c_proj.bias`]!)));
  }
  return ln(x, 'transformer.ln_f');
}

/**
 * The training forward pass to the final LayerNorm's output, x [N, C], on token rows: every
 * linear layer is one MatMul on [N, in] rows and a bias Add, and its gradients are Gemms
 * (dW = xᵀ dy, dx = dy Wᵀ) and a sum (db = Σ dy).
 * ids, positions and docIds are [B, T]; a token attends to the earlier tokens of its own doc_id.
 */
export function gptHidden(g: Graph, cfg: ModelConfig, p: Params, ids: Tensor, positions: Tensor, docIds: Tensor, o: ForwardOptions): Tensor {
  const { B, T } = o;
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const N = B * T;
  const tok = g.gather(p['transformer.wte.weight']!, ids); // [B, T, C]
  const pos = g.gather(p['transformer.wpe.weight']!, positions); // [B, T, C]
  const mask = o.dropMask ?? (() => undefined);
  const dropped = (t: Tensor, name: string) => {
    const m = mask(name);
    return m ? g.dropout(t, m) : t;
  };
  const summed = g.reshape(g.add(tok, pos), [N, C]); // [N, C]
  const x0 = dropped(o.memoryEmbedding ? g.add(summed, o.memoryEmbedding) : summed, 'dropout.embd'); // [N, C]
  const nb = o.attentionBlocks;
  if (!Number.isInteger(nb) || nb < 1 || T % nb !== 0) {
    throw new RangeError(`buildTrainingGraph: attentionBlocks must be a positive integer dividing ctx = ${T}, got ${nb}`);
  }
  const masks = documentCausalMasks(g, docIds, T, nb, p['transformer.wte.weight']!.dtype); // shared by all layers
  return gptTrunk(g, cfg, p, x0, {
    // MatMul then Add rather than one Gemm with a bias: see TRAINING_SESSION_OPTIONS
    linear: (x, w, b) => g.add(g.matMul(x, w), b),
    attend: (_l, q, k, v) => {
      const qh = g.transpose(g.reshape(q, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
      const kh = g.transpose(g.reshape(k, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
      const vh = g.transpose(g.reshape(v, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
      const o = blockCausalAttention(g, qh, kh, vh, masks); // [B, H, T, D]
      return g.reshape(g.transpose(o, [0, 2, 1, 3]), [N, C]); // [N, C]
    },
    primitiveLayerNorm: o.primitiveLayerNorm,
    // measured 1.5-2% faster for gpt-small (no Split of [N, 3C], no Concat of its gradient)
    splitQkvWeights: true,
    residDropout: (l, site, t) => dropped(t, `dropout.h.${l}.${site}`),
  });
}

/**
 * Masked softmax(q kᵀ) v for causal attention, by query blocks: block i's queries [.., tb, D]
 * score only the keys of blocks 0..i, the later ones being masked anyway; masks[i] is block i's.
 * q, k, v [B, H, T, D] → [B, H, T, D]. The key/value prefixes are contiguous slices along T.
 */
function blockCausalAttention(g: Graph, q: Tensor, k: Tensor, v: Tensor, masks: BlockMask[]): Tensor {
  const nb = masks.length;
  if (nb === 1) return g.attention(q, k, v, masks[0]!.bias, masks[0]!.keep);
  const T = q.shape![2] as number;
  const tb = T / nb;
  const qs = g.split(q, new Array<number>(nb).fill(tb), 2);
  // block i sees keys and values 0..(i + 1) tb; the last block sees all of them
  const ends = Array.from({ length: nb - 1 }, (_, i) => (i + 1) * tb);
  const ks = [...g.prefixes(k, ends, 2), k]; // [B, H, seen, D]
  const vs = [...g.prefixes(v, ends, 2), v];
  const outs = qs.map((qi, i) => g.attention(qi, ks[i]!, vs[i]!, masks[i]!.bias, masks[i]!.keep)); // [B, H, tb, D]
  return g.concat(outs, 2);
}

/**
 * Mean cross-entropy over the targets that are not −1, each weighted by targetWeights[target] where
 * given. logits [N, V], targets [B, T].
 * GatherElements picks the target log-probabilities (a OneHot over N × V is far slower).
 */
function maskedCrossEntropy(g: Graph, logits: Tensor, targets: Tensor, N: number, targetWeights?: Float32Array): Tensor {
  const tgt = g.reshape(targets, [N, 1]);
  const valid = g.greaterOrEqual(tgt, g.scalar(0, 'int64')); // [N, 1]
  const safe = g.where(valid, tgt, g.scalar(0, 'int64'));
  const nll = g.crossEntropy(logits, safe); // [N, 1]
  const w = g.cast(valid, logits.dtype);
  const count = g.max(g.reduceSum(w, undefined, false), 1); // all-padding batches give loss 0, not NaN
  // the weights divide by the count of targets, not by their sum, so a token of weight 1 counts as in the plain mean
  const weighted = targetWeights ? g.mul(w, g.gather(g.constant(logits.dtype === 'float64' ? Float64Array.from(targetWeights) : targetWeights, logits.dtype, [targetWeights.length], 'target_weights'), safe)) : w; // [N, 1]
  return g.div(g.reduceSum(g.mul(nll, weighted), undefined, false), count); // []
}

interface LossGraph {
  g: Graph;
  loss: Tensor;
  params: ParamSpec[];
  paramTensors: Tensor[];
}

function buildLoss(cfg: ModelConfig, opts: TrainingGraphOptions, name: string, withDropout: boolean): LossGraph {
  const { vocabSize, batch: B, ctx: T } = opts;
  const dtype = opts.dtype ?? 'float32';
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`buildTrainingGraph: batch must be a positive integer, got ${B}`);
  if (!Number.isInteger(T) || T < 1 || T > cfg.n_ctx) {
    throw new RangeError(`buildTrainingGraph: ctx must be an integer in [1, n_ctx = ${cfg.n_ctx}], got ${T}`);
  }
  const primitiveLayerNorm = opts.primitiveLayerNorm ?? dtype === 'float64';
  if (dtype === 'float64' && !primitiveLayerNorm) {
    throw new RangeError('buildTrainingGraph: float64 needs primitiveLayerNorm (ORT has no float64 LayerNormalization)');
  }
  const g = new Graph(name);
  const ids = g.input('input_ids', 'int64', [B, T]);
  const positions = g.input('position_ids', 'int64', [B, T]);
  const docs = g.input('doc_ids', 'int64', [B, T]);
  const targets = g.input('targets', 'int64', [B, T]);
  const params = trainedParamSpecs(cfg, vocabSize);
  const p: Params = {};
  checkMemoryTable(cfg, opts.memory, 'buildTrainingGraph');
  const latest = opts.memory ? g.input(MEMORY_INPUT, 'int64', [B * T, opts.memory.variables]) : null;
  const paramTensors = params.map((s) => (p[s.name] = g.input(s.name, dtype, s.shape)));
  const memory = latest && opts.memory ? memoryTerms(g, p, latest, memoryConstants(g, opts.memory)) : null;
  const attentionBlocks = opts.attentionBlocks ?? defaultAttentionBlocks(T);
  // the masks follow the parameters, so the graph's inputs start as they do without dropout
  const dropMasks = new Map((withDropout ? dropoutMaskSpecs(cfg, B, T) : []).map((m) => [m.name, g.input(m.name, dtype, m.shape)]));
  const xf = gptHidden(g, cfg, p, ids, positions, docs, { B, T, primitiveLayerNorm, attentionBlocks, dropMask: (n) => dropMasks.get(n), ...(memory ? { memoryEmbedding: memory.embedding } : {}) });
  const head = g.gemm(xf, p['transformer.wte.weight']!, null, { transB: true }); // tied head: [N, V]
  const logits = memory ? g.add(head, memory.bonus) : head;
  if (opts.targetWeights && opts.targetWeights.length !== vocabSize) {
    throw new RangeError(`buildTrainingGraph: targetWeights has ${opts.targetWeights.length} entries for a vocabulary of ${vocabSize}`);
  }
  const loss = maskedCrossEntropy(g, logits, targets, B * T, opts.targetWeights);
  return { g, loss, params, paramTensors };
}

/**
 * The training graph. Inputs: input_ids, position_ids, doc_ids, targets (int64 [B, T]; target −1
 * = ignored), the value memory [B·T, J] when the model has one (MEMORY_INPUT), then every
 * parameter the optimizer trains by its Hugging Face name in trainedParamSpecs order, then the dropout masks of dropoutMaskSpecs (none when the model has no dropout). Outputs: loss (scalar,
 * mean over non-ignored targets) then grad.<name> for every parameter, same order.
 */
export function buildTrainingGraph(cfg: ModelConfig, opts: TrainingGraphOptions): BuiltGraph {
  const { g, params } = trainingGraph(cfg, opts);
  return finish(g, params);
}

/** The training graph before serialization (for inspection: node counts, shapes, costs). */
export function trainingGraph(cfg: ModelConfig, opts: TrainingGraphOptions): { g: Graph; params: ParamSpec[] } {
  const { g, loss, params, paramTensors } = buildLoss(cfg, opts, 'gpt_train', true);
  g.output(loss, 'loss');
  const grads = grad(loss, paramTensors);
  grads.forEach((d, i) => g.output(d, gradName(params[i]!.name)));
  return { g, params };
}

/**
 * The evaluation graph: the training graph's inputs without the dropout masks (dropout is the
 * identity at inference), and the loss as its only output.
 */
export function buildEvalGraph(cfg: ModelConfig, opts: TrainingGraphOptions): BuiltGraph {
  const { g, loss, params } = buildLoss(cfg, opts, 'gpt_eval', false);
  g.output(loss, 'loss');
  return finish(g, params);
}

export interface InferenceGraphOptions {
  vocabSize: number;
  /** the tokenizer's memory table: needed exactly when the model has model.value_memory */
  memory?: MemoryTable;
  /** trained float32 weights by Hugging Face name, embedded as initializers */
  weights: Record<string, Float32Array>;
}

/** The parameters as named float32 initializers of g's root graph (outer scope for Loop bodies). */
export function weightInitializers(g: Graph, cfg: ModelConfig, vocabSize: number, weights: Record<string, Float32Array>): Record<string, Tensor> {
  const p: Params = {};
  for (const s of gptParamSpecs(cfg, vocabSize)) {
    const w = weights[s.name];
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (!w) throw new RangeError(`weight '${s.name}' is missing`);
    if (w.length !== n) throw new RangeError(`weight '${s.name}' has ${w.length} values, shape [${s.shape}] needs ${n}`);
    p[s.name] = g.initializer(s.name, 'float32', s.shape, w);
  }
  return p;
}

/**
 * The additive attention bias [B, 1, S, P + S] of a cached step: query i (absolute position
 * P + i) sees key j when j ≤ P + i and attention_mask[b, j] is 1. mask int64 [B, P + S], ids [B, S].
 */
export function cachedStepBias(g: Graph, mask: Tensor, ids: Tensor): Tensor {
  const scalarDim = (t: Tensor, axis: number) => g.squeeze(g.shape(t, axis, axis + 1), [0]);
  const total = scalarDim(mask, 1);
  const pastLen = g.sub(total, scalarDim(ids, 1));
  const one = g.scalar(1, 'int64');
  const rows = g.unsqueeze(g.range(pastLen, total, one), [1]); // [S, 1]
  const cols = g.unsqueeze(g.range(g.scalar(0, 'int64'), total, one), [0]); // [1, P + S]
  const allowed = g.and(g.lessOrEqual(cols, rows), g.unsqueeze(g.cast(mask, 'bool'), [1, 2])); // [B, 1, S, P + S]
  return g.where(allowed, g.scalar(0, 'float32'), g.scalar(MASKED, 'float32'));
}

export interface CachedStepInputs {
  ids: Tensor; // int64 [B, S]
  positions: Tensor; // int64 [B, S]
  /** per layer: key and value [B, H, P, D] */
  past: [Tensor, Tensor][];
  /** additive bias [B, 1, S, P + S], e.g. cachedStepBias() */
  bias: Tensor;
  /** logits of the last position only ([B, 1, V]): what a sampler needs, S times less head work */
  lastOnly?: boolean;
  /** the value memory's embedding [B, S, C] (or [B, 1, C] for one token), added to the token and position embeddings */
  memoryEmbedding?: Tensor;
  /** the value memory's logit bonus [B, S, V], added to the logits (not with lastOnly) */
  memoryBonus?: Tensor;
}

/**
 * One cached forward step of the GPT, usable in any graph (the inference graph, a Loop body):
 * returns logits [B, S or 1, V] and, per layer, the present key and value [B, H, P + S, D].
 */
export function gptCachedStep(g: Graph, cfg: ModelConfig, p: Record<string, Tensor>, x: CachedStepInputs): { logits: Tensor; present: [Tensor, Tensor][] } {
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const present: [Tensor, Tensor][] = [];
  const embedded = g.add(g.gather(p['transformer.wte.weight']!, x.ids), g.gather(p['transformer.wpe.weight']!, x.positions)); // [B, S, C]
  const x0 = x.memoryEmbedding ? g.add(embedded, x.memoryEmbedding) : embedded;
  const heads = (t: Tensor) => g.transpose(g.reshape(t, [0, 0, H, D]), [0, 2, 1, 3]); // [B, H, S, D]
  let xf = gptTrunk(g, cfg, p, x0, {
    linear: (t, w, b) => g.add(g.matMul(t, w), b),
    attend: (l, q, k, v) => {
      const key = g.concat([x.past[l]![0], heads(k)], 2); // [B, H, P + S, D]
      const value = g.concat([x.past[l]![1], heads(v)], 2);
      present.push([key, value]);
      const o = g.attention(heads(q), key, value, x.bias); // [B, H, S, D]
      return g.reshape(g.transpose(o, [0, 2, 1, 3]), [0, 0, C]); // [B, S, C]
    },
    primitiveLayerNorm: false,
  });
  if (x.lastOnly && x.memoryBonus) throw new RangeError('gptCachedStep: a memory bonus covers every position; lastOnly keeps the last one only');
  if (x.lastOnly) xf = g.slice(xf, [-1], [Number.MAX_SAFE_INTEGER], [1]); // [B, 1, C]
  const head = g.matMul(xf, g.transpose(p['transformer.wte.weight']!, [1, 0])); // tied head: [B, S, V]
  const logits = x.memoryBonus ? g.add(head, x.memoryBonus) : head;
  return { logits, present };
}

/**
 * The KV-cache inference graph in Hugging Face GPT-2 layout, loadable by transformers.js:
 * inputs input_ids, attention_mask [batch_size, total_sequence_length], position_ids, and
 * past_key_values.{l}.key|value [batch_size, H, past_sequence_length, D]; outputs logits
 * [batch_size, sequence_length, V] and present.{l}.key|value (past + new keys and values).
 * Only `batch_size` and the lengths are symbolic: H and D are fixed numbers. A model with the
 * value memory also takes `memory` and `memory_before` [batch_size, sequence_length, J] after
 * position_ids (MEMORY_INPUT, MEMORY_BEFORE_INPUT).
 */
export function buildInferenceGraph(cfg: ModelConfig, opts: InferenceGraphOptions): BuiltGraph {
  const H = cfg.n_head;
  const D = cfg.n_embd / H;
  const g = new Graph('gpt_inference');
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  checkMemoryTable(cfg, opts.memory, 'buildInferenceGraph');
  const latest = opts.memory ? g.input(MEMORY_INPUT, 'int64', ['batch_size', 'sequence_length', opts.memory.variables]) : null;
  const before = opts.memory ? g.input(MEMORY_BEFORE_INPUT, 'int64', ['batch_size', 'sequence_length', opts.memory.variables]) : null;
  const past: [Tensor, Tensor][] = [];
  for (let l = 0; l < cfg.n_layer; l++) {
    const [k, v] = ['key', 'value'].map((kv) => g.input(`past_key_values.${l}.${kv}`, 'float32', ['batch_size', H, 'past_sequence_length', D]));
    past.push([k!, v!]);
  }
  let p: Record<string, Tensor>;
  try {
    p = weightInitializers(g, cfg, opts.vocabSize, opts.weights);
  } catch (e) {
    throw new RangeError(`buildInferenceGraph: ${(e as Error).message}`);
  }
  let withMemory = {};
  if (latest && opts.memory) {
    const m = memoryTerms(g, p, latest, memoryConstants(g, opts.memory), before ?? undefined);
    withMemory = { memoryEmbedding: m.embedding, memoryBonus: m.bonus };
  }
  const { logits, present } = gptCachedStep(g, cfg, p, { ids, positions, past, bias: cachedStepBias(g, mask, ids), ...withMemory });
  // logits first, then the presents, as Hugging Face orders the outputs
  g.output(logits, 'logits', ['batch_size', 'sequence_length', opts.vocabSize]);
  const presentShape = ['batch_size', H, 'total_sequence_length', D];
  present.forEach(([k, v], l) => {
    g.output(k, `present.${l}.key`, presentShape);
    g.output(v, `present.${l}.value`, presentShape);
  });
  return finish(g, gptParamSpecs(cfg, opts.vocabSize));
}

function finish(g: Graph, params: ParamSpec[]): BuiltGraph {
  return {
    model: serializeModel(g),
    params,
    inputNames: g.inputs.map((t) => t.name),
    outputNames: g.outputs.map((o) => o.name),
  };
}

/**
 * Floating-point operations of one training step (forward + backward ≈ 3 × forward), counting
 * the matrix products only: 2 per multiply-add, the attention at its full T × T as PaLM's model
 * FLOPs utilization counts it (Chowdhery et al. 2022, appendix B), although the block-causal
 * graph computes (nb + 1) / (2 nb) of the scores (5/8 at T 1024).
 */
export function trainingStepFlops(cfg: ModelConfig, vocabSize: number, batch: number, ctx: number): number {
  const C = cfg.n_embd;
  // the value memory's embedding is one more [V] × [V, C] product per token (a dense one: its rows are 0/1)
  const memory = cfg.value_memory ? vocabSize * C : 0;
  const perToken = 2 * (cfg.n_layer * 12 * C * C + vocabSize * C + memory) + cfg.n_layer * 2 * 2 * ctx * C;
  return 3 * perToken * batch * ctx;
}
