/**
 * A plain-JS float64 forward pass of the GPT in gpt.ts, written the obvious way (loops, no ONNX),
 * so tests can check the graphs against an independent computation. Slow: tiny models only.
 *
 * Notation: B batch, T time, C n_embd, H heads, D = C / H, V vocab.
 */
import type { ModelConfig } from '../../src/model/config.ts';
import type { MemoryTable } from '../../src/tokenizer/vocabulary.ts';

export interface ReferenceBatch {
  B: number;
  T: number;
  inputIds: ArrayLike<number>; // [B, T]
  positionIds: ArrayLike<number>; // [B, T]
  docIds: ArrayLike<number>; // [B, T]
  targets: ArrayLike<number>; // [B, T], −1 = ignored
  /**
   * the value memory (model.value_memory): per token each variable's latest value token or −1
   * ([B·T, J]), and the tokenizer's memory table. Token n adds the mean of wme's rows at its latest
   * tokens to its embedding (the labels' columns, the table's last `labels`, are added whole, outside
   * the mean), and to the logit of each value token v of a variable j with a latest
   * token u, wmb[first[v] + |v − u|]; with a wma table in the parameters, wma[v] to those of a
   * variable with none, and to every token of no variable's values. With `before` (each variable's value token before its latest, [B·T, J])
   * and a wmp table, also wmp[first[v] + |v − u'|] where that token u' is ≥ 0.
   */
  memory?: { latest: ArrayLike<number>; table: MemoryTable; before?: ArrayLike<number> };
}

export type ReferenceParams = Record<string, ArrayLike<number>>;

/**
 * Dropout masks by the training graph's mask names (dropoutMaskSpecs), each multiplied in where
 * Hugging Face's GPT-2 applies dropout.
 */
export type ReferenceDropout = Record<string, ArrayLike<number>>;

const LN_EPS = 1e-5;
const GELU_K = Math.sqrt(2 / Math.PI);

function param(p: ReferenceParams, name: string): ArrayLike<number> {
  const v = p[name];
  if (!v) throw new RangeError(`reference: parameter '${name}' is missing`);
  return v;
}

/** out[n, :] = LayerNorm(x[n, :]) · w + b, per row of width C. */
function layerNormRows(x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>, C: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / C + LN_EPS);
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c]! - mean) * inv * w[c]! + b[c]!;
  }
  return out;
}

/** out [rows, O] = x [rows, I] · W [I, O] + b [O]. */
function linearRows(x: Float64Array, W: ArrayLike<number>, b: ArrayLike<number> | null, I: number, O: number): Float64Array {
  const rows = x.length / I;
  const out = new Float64Array(rows * O);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < O; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < I; i++) s += x[r * I + i]! * W[i * O + o]!;
      out[r * O + o] = s;
    }
  }
  return out;
}

/** Per-token losses −log p(target) [B·T] (NaN where the target is ignored). */
export function referenceTokenLosses(cfg: ModelConfig, vocabSize: number, p: ReferenceParams, batch: ReferenceBatch, dropout?: ReferenceDropout): Float64Array {
  const { B, T } = batch;
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const V = vocabSize;
  const N = B * T;
  const wte = param(p, 'transformer.wte.weight'); // [V, C]
  const wpe = param(p, 'transformer.wpe.weight'); // [n_ctx, C]
  let x = new Float64Array(N * C); // [N, C]
  for (let n = 0; n < N; n++) {
    const id = batch.inputIds[n]!;
    const pos = batch.positionIds[n]!;
    for (let c = 0; c < C; c++) x[n * C + c] = wte[id * C + c]! + wpe[pos * C + c]!;
    if (cfg.value_memory) {
      const wme = param(p, 'transformer.wme.weight'); // [V, C]
      if (!batch.memory) throw new RangeError('reference: a model with the value memory needs batch.memory');
      // the mean of wme's rows at the variables' latest tokens, plus the labels' rows whole
      const { variables: J, labels } = batch.memory.table;
      const latestOf = (from: number, to: number) => Array.from({ length: to - from }, (_, j) => batch.memory!.latest[n * J + from + j]!).filter((u) => u >= 0);
      const at = latestOf(0, J - labels);
      for (const u of at) for (let c = 0; c < C; c++) x[n * C + c]! += wme[u * C + c]! / at.length;
      for (const u of latestOf(J - labels, J)) for (let c = 0; c < C; c++) x[n * C + c]! += wme[u * C + c]!;
    }
  }
  const drop = (a: Float64Array, name: string) => {
    const m = dropout?.[name];
    if (m) for (let i = 0; i < a.length; i++) a[i] = a[i]! * m[i]!;
  };
  drop(x, 'dropout.embd');
  for (let l = 0; l < cfg.n_layer; l++) {
    const h = `transformer.h.${l}`;
    const a = layerNormRows(x, param(p, `${h}.ln_1.weight`), param(p, `${h}.ln_1.bias`), C);
    const qkv = linearRows(a, param(p, `${h}.attn.c_attn.weight`), param(p, `${h}.attn.c_attn.bias`), C, 3 * C); // [N, 3C]
    const y = new Float64Array(N * C);
    const scores = new Float64Array(T);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < H; hd++) {
        for (let i = 0; i < T; i++) {
          const qi = (b * T + i) * 3 * C + hd * D;
          let max = -Infinity;
          for (let j = 0; j < T; j++) {
            const visible = j <= i && batch.docIds[b * T + j] === batch.docIds[b * T + i];
            if (!visible) {
              scores[j] = -Infinity;
              continue;
            }
            const kj = (b * T + j) * 3 * C + C + hd * D;
            let s = 0;
            for (let d = 0; d < D; d++) s += qkv[qi + d]! * qkv[kj + d]!;
            scores[j] = s / Math.sqrt(D);
            if (scores[j]! > max) max = scores[j]!;
          }
          let z = 0;
          for (let j = 0; j < T; j++) {
            scores[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j]! - max);
            z += scores[j]!;
          }
          for (let d = 0; d < D; d++) {
            let s = 0;
            for (let j = 0; j < T; j++) s += scores[j]! * qkv[(b * T + j) * 3 * C + 2 * C + hd * D + d]!;
            y[(b * T + i) * C + hd * D + d] = s / z;
          }
        }
      }
    }
    const proj = linearRows(y, param(p, `${h}.attn.c_proj.weight`), param(p, `${h}.attn.c_proj.bias`), C, C);
    drop(proj, `dropout.h.${l}.attn`);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + proj[i]!;
    const m = layerNormRows(x, param(p, `${h}.ln_2.weight`), param(p, `${h}.ln_2.bias`), C);
    const f = linearRows(m, param(p, `${h}.mlp.c_fc.weight`), param(p, `${h}.mlp.c_fc.bias`), C, 4 * C);
    for (let i = 0; i < f.length; i++) {
      const v = f[i]!;
      f[i] = 0.5 * v * (1 + Math.tanh(GELU_K * (v + 0.044715 * v * v * v)));
    }
    const out = linearRows(f, param(p, `${h}.mlp.c_proj.weight`), param(p, `${h}.mlp.c_proj.bias`), 4 * C, C);
    drop(out, `dropout.h.${l}.mlp`);
    const next = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) next[i] = x[i]! + out[i]!;
    x = next;
  }
  const xf = layerNormRows(x, param(p, 'transformer.ln_f.weight'), param(p, 'transformer.ln_f.bias'), C);
  const losses = new Float64Array(N);
  const logits = new Float64Array(V);
  for (let n = 0; n < N; n++) {
    const t = batch.targets[n]!;
    if (t < 0) {
      losses[n] = NaN;
      continue;
    }
    let max = -Infinity;
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += xf[n * C + c]! * wte[v * C + c]!;
      logits[v] = s + (cfg.value_memory ? referenceBonus(batch, n, v, param(p, 'transformer.wmb.weight'), p['transformer.wma.weight'], p['transformer.wmp.weight']) : 0);
      if (s > max) max = s;
    }
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[v]! - max);
    losses[n] = -(logits[t]! - max - Math.log(z));
  }
  return losses;
}

/** Mean loss over the non-ignored targets (0 when all are ignored), as the training graph defines it. */
export function referenceLoss(cfg: ModelConfig, vocabSize: number, p: ReferenceParams, batch: ReferenceBatch, dropout?: ReferenceDropout): number {
  const losses = referenceTokenLosses(cfg, vocabSize, p, batch, dropout);
  let sum = 0;
  let count = 0;
  for (const l of losses) {
    if (Number.isNaN(l)) continue;
    sum += l;
    count++;
  }
  return count === 0 ? 0 : sum / count;
}

/** The value memory's logit bonus of token v at row n (ReferenceBatch.memory); wma and wmp (refit-only) when given. */
function referenceBonus(batch: ReferenceBatch, n: number, v: number, wmb: ArrayLike<number>, wma?: ArrayLike<number>, wmp?: ArrayLike<number>): number {
  if (!batch.memory) throw new RangeError('reference: a model with the value memory needs batch.memory');
  const { latest, table, before } = batch.memory;
  const j = table.owner[v]!;
  // a token of no variable's values (a label's, MemoryTable.labels, included) has no kernel:
  // wma's entry is a constant offset (the calibration's prefix offsets)
  if (j < 0 || table.sets[v]! < 0 || table.first[v]! < 0) return wma ? wma[v]! : 0;
  const u = latest[n * table.variables + j]!;
  if (u < 0) return wma ? wma[v]! : 0;
  const u2 = before && wmp ? before[n * table.variables + j]! : -1;
  return wmb[table.first[v]! + Math.abs(v - u)]! + (u2 >= 0 ? wmp![table.first[v]! + Math.abs(v - u2)]! : 0);
}
