import type { Matrix } from './features.ts';

/**
 * The two classifiers the evaluation trains, written here because they are part of what we
 * measure: L2-regularized logistic regression and histogram gradient-boosted trees with logistic
 * loss. Both take standardized features (features.ts) and 0/1 targets, and return P(y = 1).
 * Notation: N = rows, D = columns; weights are [D] plus a separate bias.
 */
export interface BinaryClassifier {
  /** P(y = 1 | x) for each row, [N] */
  predict(x: Matrix): Float64Array;
}

export interface LogisticOptions {
  /** λ of the penalty λ/2·‖w‖² added to the mean log-loss; the bias is not penalized */
  l2: number;
  /** iteration cap of the optimizer */
  maxIter: number;
  /** stop when the gradient's max-norm falls below this */
  tol: number;
}

export const logisticDefaults: LogisticOptions = {
  // ≈ scikit-learn's C = 1 on a few thousand rows: enough to keep separable data finite
  l2: 1e-3,
  // L-BFGS is within 1e-4 of the optimum's AUC long before this on standardized features
  maxIter: 100,
  tol: 1e-6,
};

export interface LogisticModel extends BinaryClassifier {
  weights: Float64Array;
  bias: number;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** log(1 + e^z) without overflow */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function logisticModel(weights: Float64Array, bias: number): LogisticModel {
  return {
    weights,
    bias,
    predict(x) {
      const p = new Float64Array(x.n);
      for (let i = 0; i < x.n; i++) {
        let z = bias;
        for (let c = 0; c < x.d; c++) z += weights[c]! * x.x[i * x.d + c]!;
        p[i] = sigmoid(z);
      }
      return p;
    },
  };
}

/**
 * Objective and gradient of the penalized mean log-loss at θ = [w (D), b]; `grad` is written.
 * Per-row weights `sw` (optional) let callers balance classes.
 */
function logisticLoss(grad: Float64Array, theta: Float64Array, x: Matrix, y: ArrayLike<number>, l2: number): number {
  const { n, d } = x;
  grad.fill(0);
  let loss = 0;
  const b = theta[d]!;
  for (let i = 0; i < n; i++) {
    const off = i * d;
    let z = b;
    for (let c = 0; c < d; c++) z += theta[c]! * x.x[off + c]!;
    // log-loss = softplus(z) − y·z; its derivative is σ(z) − y
    loss += softplus(z) - y[i]! * z;
    const r = sigmoid(z) - y[i]!;
    for (let c = 0; c < d; c++) grad[c]! += r * x.x[off + c]!;
    grad[d]! += r;
  }
  let pen = 0;
  for (let c = 0; c <= d; c++) grad[c] = grad[c]! / n;
  for (let c = 0; c < d; c++) {
    pen += theta[c]! * theta[c]!;
    grad[c]! += l2 * theta[c]!;
  }
  return loss / n + (l2 / 2) * pen;
}

/**
 * Fit by L-BFGS (memory 10) with a backtracking Armijo line search: the objective is smooth and
 * strictly convex, so this converges in tens of iterations where plain gradient descent needs
 * hundreds, and costs O(N·D) per step where Newton costs O(N·D²).
 */
export function fitLogistic(x: Matrix, y: ArrayLike<number>, opts: Partial<LogisticOptions> = {}): LogisticModel {
  const o = { ...logisticDefaults, ...opts };
  const P = x.d + 1;
  const theta = new Float64Array(P);
  const g = new Float64Array(P);
  const gNew = new Float64Array(P);
  const trial = new Float64Array(P);
  const dir = new Float64Array(P);
  const M = 10;
  const S: Float64Array[] = [];
  const Yd: Float64Array[] = [];
  const rho: number[] = [];
  let f = logisticLoss(g, theta, x, y, o.l2);
  for (let it = 0; it < o.maxIter; it++) {
    if (maxAbs(g) < o.tol) break;
    // two-loop recursion: dir = −H·g
    dir.set(g);
    const alpha = new Array<number>(S.length);
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k]! * dot(S[k]!, dir);
      axpy(dir, -alpha[k]!, Yd[k]!);
    }
    const gamma = S.length ? dot(S[S.length - 1]!, Yd[Yd.length - 1]!) / dot(Yd[Yd.length - 1]!, Yd[Yd.length - 1]!) : 1;
    for (let c = 0; c < P; c++) dir[c] = dir[c]! * gamma;
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k]! * dot(Yd[k]!, dir);
      axpy(dir, alpha[k]! - beta, S[k]!);
    }
    for (let c = 0; c < P; c++) dir[c] = -dir[c]!;
    let slope = dot(g, dir);
    if (slope >= 0) {
      // not a descent direction (curvature pairs went stale): restart from steepest descent
      S.length = 0;
      Yd.length = 0;
      rho.length = 0;
      for (let c = 0; c < P; c++) dir[c] = -g[c]!;
      slope = dot(g, dir);
    }
    let step = 1;
    let fNew = Infinity;
    for (let ls = 0; ls < 40; ls++) {
      for (let c = 0; c < P; c++) trial[c] = theta[c]! + step * dir[c]!;
      fNew = logisticLoss(gNew, trial, x, y, o.l2);
      if (fNew <= f + 1e-4 * step * slope) break;
      step /= 2;
    }
    if (!(fNew < f) && !(fNew <= f)) break;
    const s = new Float64Array(P);
    const yd = new Float64Array(P);
    for (let c = 0; c < P; c++) {
      s[c] = trial[c]! - theta[c]!;
      yd[c] = gNew[c]! - g[c]!;
    }
    const sy = dot(s, yd);
    if (sy > 1e-12) {
      S.push(s);
      Yd.push(yd);
      rho.push(1 / sy);
      if (S.length > M) {
        S.shift();
        Yd.shift();
        rho.shift();
      }
    }
    theta.set(trial);
    g.set(gNew);
    const done = Math.abs(f - fNew) < 1e-12 * Math.max(1, Math.abs(f));
    f = fNew;
    if (done) break;
  }
  return logisticModel(theta.slice(0, x.d), theta[x.d]!);
}

/**
 * The same objective solved by Newton's method (IRLS) with a Cholesky solve of the (D+1)² Hessian:
 * O(N·D²) a step, so only for small D. It exists as an independent optimiser to check fitLogistic.
 */
export function fitLogisticNewton(x: Matrix, y: ArrayLike<number>, opts: Partial<LogisticOptions> = {}): LogisticModel {
  const o = { ...logisticDefaults, ...opts };
  const { n, d } = x;
  const P = d + 1;
  const theta = new Float64Array(P);
  const g = new Float64Array(P);
  const H = new Float64Array(P * P);
  const row = new Float64Array(P);
  for (let it = 0; it < 50; it++) {
    logisticLoss(g, theta, x, y, o.l2);
    if (maxAbs(g) < o.tol) break;
    H.fill(0);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < d; c++) row[c] = x.x[i * d + c]!;
      row[d] = 1;
      let z = 0;
      for (let c = 0; c < P; c++) z += theta[c]! * row[c]!;
      const p = sigmoid(z);
      const w = (p * (1 - p)) / n;
      for (let a = 0; a < P; a++) for (let b = 0; b <= a; b++) H[a * P + b]! += w * row[a]! * row[b]!;
    }
    for (let a = 0; a < d; a++) H[a * P + a]! += o.l2;
    for (let a = 0; a < P; a++) for (let b = 0; b < a; b++) H[b * P + a] = H[a * P + b]!;
    const step = choleskySolve(H, g, P);
    for (let c = 0; c < P; c++) theta[c] = theta[c]! - step[c]!;
  }
  return logisticModel(theta.slice(0, d), theta[d]!);
}

function choleskySolve(A: Float64Array, b: Float64Array, P: number): Float64Array {
  const L = new Float64Array(P * P);
  for (let i = 0; i < P; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * P + j]!;
      for (let k = 0; k < j; k++) s -= L[i * P + k]! * L[j * P + k]!;
      // a tiny ridge keeps an unpenalized, perfectly separable bias direction solvable
      L[i * P + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / L[j * P + j]!;
    }
  }
  const z = new Float64Array(P);
  for (let i = 0; i < P; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * P + k]! * z[k]!;
    z[i] = s / L[i * P + i]!;
  }
  const out = new Float64Array(P);
  for (let i = P - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < P; k++) s -= L[k * P + i]! * out[k]!;
    out[i] = s / L[i * P + i]!;
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function axpy(y: Float64Array, a: number, x: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i]! += a * x[i]!;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export interface BoostingOptions {
  /** number of trees */
  trees: number;
  /** depth limit of each tree (depth 3 = at most 8 leaves) */
  depth: number;
  /** shrinkage of each tree's contribution */
  learningRate: number;
  /** histogram bins per feature, at most 256 (bin codes are bytes) */
  bins: number;
  /** a split must leave at least this many rows on each side */
  minLeaf: number;
  /** L2 penalty λ on leaf values: leaf = −G / (H + λ) */
  l2: number;
}

export const boostingDefaults: BoostingOptions = {
  trees: 100,
  depth: 3,
  learningRate: 0.1,
  // 32 quantile bins lose little against exact splits on a few thousand rows and keep histograms small
  bins: 32,
  minLeaf: 10,
  l2: 1,
};

interface Tree {
  /** per node: the split feature, or −1 for a leaf */
  feature: number[];
  /** per node: go left when x ≤ threshold */
  threshold: number[];
  left: number[];
  right: number[];
  /** per node: the leaf's value (log-odds increment, already scaled by the learning rate) */
  value: number[];
}

/**
 * Gradient-boosted trees with logistic loss, histogram-based: features are cut once into quantile
 * bins, and each split is chosen from per-bin sums of gradients and Hessians (XGBoost's second-order
 * gain, GL²/(HL+λ) + GR²/(HR+λ) − G²/(H+λ)). Trees grow level by level to `depth`.
 */
export function fitBoosting(x: Matrix, y: ArrayLike<number>, opts: Partial<BoostingOptions> = {}): BinaryClassifier {
  const o = { ...boostingDefaults, ...opts };
  const { n, d } = x;
  if (o.bins < 2 || o.bins > 256) throw new RangeError(`boosting bins must be in [2, 256], got ${o.bins}`);
  // cut points per feature: bin(v) = number of cuts strictly below v, so bin ≤ t ⇔ v ≤ cuts[t]
  const cuts: Float64Array[] = [];
  const codes = new Uint8Array(n * d); // row-major [N, D]: the histogram pass reads a row's bins together
  const col = new Float64Array(n);
  for (let c = 0; c < d; c++) {
    for (let i = 0; i < n; i++) col[i] = x.x[i * d + c]!;
    const sorted = Float64Array.from(col).sort();
    const cc: number[] = [];
    // cuts halfway between neighbouring distinct values near each quantile, so that a split that
    // separates the training rows also puts unseen values in the gap on the nearer side
    for (let b = 1; b < o.bins; b++) {
      let idx = Math.floor((b * n) / o.bins);
      if (idx <= 0) continue;
      const below = sorted[idx - 1]!;
      while (idx < n && sorted[idx]! <= below) idx++;
      if (idx >= n) break;
      const cut = (below + sorted[idx]!) / 2;
      if (cc.length === 0 || cut > cc[cc.length - 1]!) cc.push(cut);
    }
    cuts.push(Float64Array.from(cc));
    for (let i = 0; i < n; i++) codes[i * d + c] = binOf(cuts[c]!, col[i]!);
  }

  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i]!;
  const prior = Math.min(Math.max(pos / n, 1e-6), 1 - 1e-6);
  const base = Math.log(prior / (1 - prior));
  const F = new Float64Array(n).fill(base);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const trees: Tree[] = [];
  const B = o.bins;
  const nodeCap = 2 ** o.depth; // open nodes on the deepest level
  // Histograms of every open node of a level, [slots, D, B, 3] with (Σg, Σh, count) per bin. Only
  // the smaller child of each split is accumulated from its rows; the larger one is its parent's
  // histogram minus the smaller one's (LightGBM's subtraction trick), so deeper levels cost at most
  // half a pass over the rows.
  const DB3 = d * B * 3;
  let hist = new Float64Array(nodeCap * DB3);
  let prev = new Float64Array(nodeCap * DB3);
  const slotOf = new Int32Array(n); // the open node (slot) a row sits in at this level, −1 = in a finished leaf
  const leafOf = new Int32Array(n); // the tree node a row ends in
  const G = new Float64Array(nodeCap);
  const H = new Float64Array(nodeCap);
  const C = new Float64Array(nodeCap);
  const bestGain = new Float64Array(nodeCap);
  const bestF = new Int32Array(nodeCap);
  const bestBin = new Int32Array(nodeCap);
  const accumulate = new Uint8Array(nodeCap); // 1 = build this slot's histogram from its rows
  const parentSlot = new Int32Array(nodeCap);
  const siblingSlot = new Int32Array(nodeCap);
  const childCount = new Int32Array(nodeCap);

  for (let t = 0; t < o.trees; t++) {
    for (let i = 0; i < n; i++) {
      const p = sigmoid(F[i]!);
      grad[i] = p - y[i]!;
      hess[i] = Math.max(p * (1 - p), 1e-12);
    }
    const tree: Tree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const newNode = (): number => {
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.value.push(0);
      return tree.feature.length - 1;
    };
    let open = [newNode()]; // tree node of each slot
    slotOf.fill(0);
    leafOf.fill(0);
    accumulate[0] = 1;
    for (let level = 0; level <= o.depth && open.length > 0; level++) {
      const S = open.length;
      for (let sl = 0; sl < S; sl++) if (accumulate[sl]) hist.fill(0, sl * DB3, (sl + 1) * DB3);
      for (let i = 0; i < n; i++) {
        const sl = slotOf[i]!;
        if (sl < 0 || !accumulate[sl]) continue;
        const g = grad[i]!;
        const h = hess[i]!;
        const hb = sl * DB3;
        const rb = i * d;
        for (let c = 0; c < d; c++) {
          const k = hb + (c * B + codes[rb + c]!) * 3;
          hist[k]! += g;
          hist[k + 1]! += h;
          hist[k + 2]!++;
        }
      }
      for (let sl = 0; sl < S; sl++) {
        if (accumulate[sl]) continue;
        const o1 = sl * DB3;
        const op = parentSlot[sl]! * DB3;
        const os = siblingSlot[sl]! * DB3;
        for (let k = 0; k < DB3; k++) hist[o1 + k] = prev[op + k]! - hist[os + k]!;
      }
      // every row falls in some bin of feature 0, so its bins sum to the node's totals
      for (let sl = 0; sl < S; sl++) {
        let g = 0;
        let h = 0;
        let cnt = 0;
        for (let b = 0; b < B; b++) {
          const k = sl * DB3 + b * 3;
          g += hist[k]!;
          h += hist[k + 1]!;
          cnt += hist[k + 2]!;
        }
        G[sl] = g;
        H[sl] = h;
        C[sl] = cnt;
        tree.value[open[sl]!] = (-g / (h + o.l2)) * o.learningRate;
      }
      if (level === o.depth) break;
      bestGain.fill(1e-9, 0, S);
      bestF.fill(-1, 0, S);
      for (let sl = 0; sl < S; sl++) {
        if (C[sl]! < 2 * o.minLeaf) continue;
        const parentScore = (G[sl]! * G[sl]!) / (H[sl]! + o.l2);
        for (let c = 0; c < d; c++) {
          const nb = cuts[c]!.length + 1;
          if (nb < 2) continue;
          let GL = 0;
          let HL = 0;
          let CL = 0;
          const off = sl * DB3 + c * B * 3;
          for (let b = 0; b < nb - 1; b++) {
            GL += hist[off + b * 3]!;
            HL += hist[off + b * 3 + 1]!;
            CL += hist[off + b * 3 + 2]!;
            if (CL < o.minLeaf) continue;
            if (C[sl]! - CL < o.minLeaf) break;
            const GR = G[sl]! - GL;
            const HR = H[sl]! - HL;
            const gain = (GL * GL) / (HL + o.l2) + (GR * GR) / (HR + o.l2) - parentScore;
            if (gain > bestGain[sl]!) {
              bestGain[sl] = gain;
              bestF[sl] = c;
              bestBin[sl] = b;
            }
          }
        }
      }
      // split the open nodes that found a gain; the rest become leaves
      const next: number[] = [];
      const childSlot = new Int32Array(S * 2).fill(-1);
      for (let sl = 0; sl < S; sl++) {
        if (bestF[sl]! < 0) continue;
        const node = open[sl]!;
        tree.feature[node] = bestF[sl]!;
        tree.threshold[node] = cuts[bestF[sl]!]![bestBin[sl]!]!;
        const ln = newNode();
        const rn = newNode();
        tree.left[node] = ln;
        tree.right[node] = rn;
        const ls = next.push(ln) - 1;
        const rs = next.push(rn) - 1;
        childSlot[sl * 2] = ls;
        childSlot[sl * 2 + 1] = rs;
        parentSlot[ls] = sl;
        parentSlot[rs] = sl;
        siblingSlot[ls] = rs;
        siblingSlot[rs] = ls;
      }
      childCount.fill(0, 0, next.length);
      for (let i = 0; i < n; i++) {
        const sl = slotOf[i]!;
        if (sl < 0) continue;
        if (bestF[sl]! < 0) {
          slotOf[i] = -1;
          continue;
        }
        const right = codes[i * d + bestF[sl]!]! > bestBin[sl]! ? 1 : 0;
        const ch = childSlot[sl * 2 + right]!;
        slotOf[i] = ch;
        childCount[ch]!++;
        leafOf[i] = next[ch]!;
      }
      for (let ch = 0; ch < next.length; ch += 2) {
        const leftSmaller = childCount[ch]! <= childCount[ch + 1]!;
        accumulate[ch] = leftSmaller ? 1 : 0;
        accumulate[ch + 1] = leftSmaller ? 0 : 1;
      }
      const swap = prev;
      prev = hist;
      hist = swap;
      open = next;
    }
    for (let i = 0; i < n; i++) F[i]! += tree.value[leafOf[i]!]!;
    trees.push(tree);
  }
  return {
    predict(m) {
      const p = new Float64Array(m.n);
      for (let i = 0; i < m.n; i++) {
        let z = base;
        for (const tree of trees) z += treeValue(tree, m.x, i * m.d);
        p[i] = sigmoid(z);
      }
      return p;
    },
  };
}

function binOf(cuts: Float64Array, v: number): number {
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cuts[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function treeValue(tree: Tree, x: Float64Array, off: number): number {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    node = x[off + tree.feature[node]!]! <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
  }
  return tree.value[node]!;
}
