/**
 * Every vector-Jacobian rule against central finite differences in float64. Shapes are drawn from
 * a seeded RNG, with broadcasting on either side for the binary ops.
 */
import { describe, expect, it } from 'vitest';
import { DIFFERENTIABLE_OPS, Graph, grad, serializeModel, type Tensor } from '../../src/graph/index.ts';
import { createSession, float32Tensor, float64Tensor, int64Tensor } from '../../src/graph/runtime.ts';
import { Rng } from '../../src/util/rng.ts';
import { gradCheck, type CheckInput } from './gradcheck.ts';

const TOL = 1e-6;
const pos = (r: Rng) => 0.5 + 2 * r.float();

/** Two shapes that broadcast: one of them loses leading axes and/or has 1s. */
function broadcastPair(rng: Rng): [number[], number[]] {
  const rank = 1 + rng.int(3);
  const full = Array.from({ length: rank }, () => 1 + rng.int(3));
  const other = full.slice(rng.int(rank)).map((d) => (rng.float() < 0.4 ? 1 : d));
  return rng.float() < 0.5 ? [full, other] : [other, full];
}

/** ops whose rules some check below went through */
const covered = new Set<string>();

async function expectGrad(inputs: CheckInput[], f: (g: Graph, xs: Tensor[]) => Tensor, seed = 1, eps = 1e-6, tol = TOL) {
  const r = await gradCheck(inputs, f, seed, eps);
  r.ops.forEach((op) => covered.add(op));
  expect(r.checked).toBeGreaterThan(0);
  expect(r.maxRelErr, r.worst).toBeLessThan(tol);
}

describe('VJP rules against finite differences (float64)', () => {
  const binary: [string, (g: Graph, a: Tensor, b: Tensor) => Tensor, boolean][] = [
    ['Add', (g, a, b) => g.add(a, b), false],
    ['Sub', (g, a, b) => g.sub(a, b), false],
    ['Mul', (g, a, b) => g.mul(a, b), false],
    ['Div', (g, a, b) => g.div(a, b), true],
  ];
  for (const [name, op, positiveB] of binary) {
    it(`${name} with broadcasting (4 random shape pairs)`, async () => {
      const rng = new Rng(name.length * 7);
      for (let k = 0; k < 4; k++) {
        const [sa, sb] = broadcastPair(rng);
        await expectGrad([{ shape: sa }, { shape: sb, init: positiveB ? pos : undefined }], (g, [a, b]) => op(g, a!, b!), k);
      }
    });
  }

  it('MatMul 2-D, batched 4-D, broadcast batch, and [B,T,K]·[K,N]', async () => {
    await expectGrad([{ shape: [3, 4] }, { shape: [4, 2] }], (g, [a, b]) => g.matMul(a!, b!));
    await expectGrad([{ shape: [2, 2, 3, 4] }, { shape: [2, 2, 4, 3] }], (g, [a, b]) => g.matMul(a!, b!));
    await expectGrad([{ shape: [2, 3, 4] }, { shape: [1, 4, 2] }], (g, [a, b]) => g.matMul(a!, b!));
    await expectGrad([{ shape: [2, 3, 4] }, { shape: [4, 5] }], (g, [a, b]) => g.matMul(a!, b!));
  });

  it('Gemm with every transA/transB, alpha, beta and a broadcast bias', async () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const sa = transA ? [4, 3] : [3, 4];
        const sb = transB ? [2, 4] : [4, 2];
        await expectGrad([{ shape: sa }, { shape: sb }, { shape: [2] }], (g, [a, b, c]) =>
          g.gemm(a!, b!, c!, { transA, transB, alpha: 0.7, beta: 1.3 }),
        );
      }
    }
  });

  it('Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Reciprocal, Pow', async () => {
    await expectGrad([{ shape: [2, 3] }], (g, [x]) => g.sigmoid(x!));
    await expectGrad([{ shape: [2, 3] }], (g, [x]) => g.neg(x!));
    await expectGrad([{ shape: [2, 3] }], (g, [x]) => g.exp(x!));
    await expectGrad([{ shape: [2, 3], init: pos }], (g, [x]) => g.log(x!));
    await expectGrad([{ shape: [2, 3], init: pos }], (g, [x]) => g.sqrt(x!));
    await expectGrad([{ shape: [2, 3] }], (g, [x]) => g.tanh(x!));
    await expectGrad([{ shape: [2, 3], init: pos }], (g, [x]) => g.reciprocal(x!));
    await expectGrad([{ shape: [2, 3], init: pos }], (g, [x]) => g.pow(x!, 2.5));
  });

  it('GELU (tanh form): its rule against finite differences, its values against the textbook formula', async () => {
    await expectGrad([{ shape: [3, 5], init: (r) => 3 * r.normal() }], (g, [x]) => g.gelu(x!));
    const g = new Graph('gelu');
    const x = g.input('x', 'float64', [9]);
    g.output(g.gelu(x), 'y');
    const xs = [-6, -3, -1.5, -0.3, 0, 0.2, 1, 2.5, 7];
    const out = await (await createSession(serializeModel(g), { threads: 1 })).run({ x: float64Tensor(xs, [9]) });
    const want = xs.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    (out.y!.data as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 14));
  });

  it('Reshape, Transpose, Unsqueeze, Squeeze, Expand, Identity, Cast', async () => {
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.reshape(x!, [4, -1]));
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.transpose(x!, [2, 0, 1]));
    await expectGrad([{ shape: [2, 3] }], (g, [x]) => g.unsqueeze(x!, [0, 2]));
    await expectGrad([{ shape: [2, 1, 3] }], (g, [x]) => g.squeeze(x!, [1]));
    await expectGrad([{ shape: [3, 1] }], (g, [x]) => g.expand(x!, [2, 3, 4]));
    await expectGrad([{ shape: [3] }], (g, [x]) => g.identity(x!));
    // a float32 round trip is linear: a wide step keeps float32 rounding out of the difference
    await expectGrad([{ shape: [3] }], (g, [x]) => g.cast(g.cast(x!, 'float32'), 'float64'), 1, 0.25, 1e-5);
  });

  it('Split (one output unused), Concat, Slice', async () => {
    await expectGrad([{ shape: [2, 6] }], (g, [x]) => {
      const [a, , c] = g.split(x!, [1, 2, 3], 1);
      return g.concat([c!, g.mul(a!, a!)], 1);
    });
    await expectGrad([{ shape: [2, 3] }, { shape: [4, 3] }], (g, [a, b]) => g.concat([a!, b!], 0));
    await expectGrad([{ shape: [4, 5] }], (g, [x]) => g.slice(x!, [1, -3], [3, 100], [0, 1]));
  });

  it('Prefixes (the causal blocks\' keys): every prefix used, one unused, and x used directly as well', async () => {
    await expectGrad([{ shape: [2, 5, 3] }], (g, [x]) => {
      const [a, b, c] = g.prefixes(x!, [1, 3, 4], 1);
      return g.concat([g.mul(a!, a!), b!, g.mul(c!, 2), x!], 1);
    });
    await expectGrad([{ shape: [2, 5, 3] }], (g, [x]) => {
      const [a, , c] = g.prefixes(x!, [2, 3, 4], -2);
      return g.add(g.reduceSum(g.mul(a!, a!), [1], true), g.reduceSum(g.mul(c!, x!.graph.constant([1, 2, 3], 'float64', [3], 'w')), [1], true));
    });
  });

  it('Gather rows (embedding, repeated ids) and GatherElements', async () => {
    await expectGrad([{ shape: [5, 3] }], (g, [x]) => g.gather(x!, g.constant([0, 2, 2, 4, 0, 1], 'int64', [2, 3])));
    await expectGrad([{ shape: [3, 4] }], (g, [x]) => g.gatherElements(x!, g.constant([1, 1, 3], 'int64', [3, 1]), 1));
  });

  it('ScatterElements with add (gradient to data and updates)', async () => {
    await expectGrad([{ shape: [3, 4] }, { shape: [3, 1] }], (g, [d, u]) =>
      g.scatterElements(d!, g.constant([2, 0, 2], 'int64', [3, 1]), u!, 1, 'add'),
    );
  });

  it('Softmax and LogSoftmax over the last and a middle axis', async () => {
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.softmax(x!, -1));
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.softmax(x!, 1));
    await expectGrad([{ shape: [2, 5] }], (g, [x]) => g.logSoftmax(x!, -1));
  });

  it('LayerNormalization in primitive-op form (float64), through its own rule and through the primitives', async () => {
    await expectGrad([{ shape: [3, 6] }, { shape: [6] }, { shape: [6] }], (g, [x, w, b]) => g.layerNorm(x!, w!, b!, { primitive: true }));
    // the same function built from taped primitives, so ReduceMean/Sub/Sqrt/Reciprocal rules compose
    await expectGrad([{ shape: [2, 2, 5] }, { shape: [5] }, { shape: [5] }], (g, [x, w, b]) => {
      const mean = g.reduceMean(x!, [-1]);
      const xc = g.sub(x!, mean);
      const inv = g.reciprocal(g.sqrt(g.add(g.reduceMean(g.mul(xc, xc), [-1]), 1e-5)));
      return g.add(g.mul(g.mul(xc, inv), w!), b!);
    });
  });

  it('ReduceSum and ReduceMean with and without keepdims', async () => {
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.reduceSum(x!, [1], false));
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.reduceSum(x!, [0, 2], true));
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.reduceMean(x!, [-1], false));
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.reduceMean(x!, [0, 1], true));
  });

  it('Where with a mask, both branches broadcast', async () => {
    await expectGrad([{ shape: [3, 4] }, { shape: [4] }], (g, [a, b]) => {
      const mask = g.constant([1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1], 'bool', [3, 4]);
      return g.where(mask, a!, b!);
    });
  });

  it('Attention composite (own rule) with a causal bias and a broadcast batch', async () => {
    const bias = (g: Graph) => g.constant([0, -1e9, -1e9, 0, 0, -1e9, 0, 0, 0], 'float64', [1, 3, 3], 'bias');
    await expectGrad([{ shape: [2, 3, 4] }, { shape: [2, 3, 4] }, { shape: [2, 3, 4] }], (g, [q, k, v]) => g.attention(q!, k!, v!, bias(g)));
    // keys longer than queries (as with a KV cache), and the bias itself as an input: its gradient is dS summed over the batch
    await expectGrad([{ shape: [2, 2, 3] }, { shape: [2, 4, 3] }, { shape: [2, 4, 3] }, { shape: [2, 4] }], (g, [q, k, v, b]) => g.attention(q!, k!, v!, b!));
  });

  it('Attention composite with a keep mask (floored softmax, exact zeros)', async () => {
    const bias = (g: Graph) => g.constant([0, -1e9, -1e9, 0, 0, -1e9, 0, 0, 0], 'float64', [1, 3, 3], 'bias');
    const keep = (g: Graph) => g.constant([1, 0, 0, 1, 1, 0, 1, 1, 1], 'float64', [1, 3, 3], 'keep');
    await expectGrad([{ shape: [2, 3, 4] }, { shape: [2, 3, 4] }, { shape: [2, 3, 4] }], (g, [q, k, v]) => g.attention(q!, k!, v!, bias(g), keep(g)));
  });

  it('Dropout with a fixed mask (zeros and 1 / (1 − p)), full and broadcast', async () => {
    await expectGrad([{ shape: [3, 4] }], (g, [x]) => g.dropout(x!, g.constant([0, 2, 2, 2, 2, 0, 0, 2, 2, 2, 0, 2], 'float64', [3, 4], 'mask')));
    await expectGrad([{ shape: [2, 3, 4] }], (g, [x]) => g.mul(g.dropout(x!, g.constant([1.25, 0, 1.25, 1.25], 'float64', [4], 'mask')), x!));
  });

  it('CrossEntropy composite (own rule)', async () => {
    await expectGrad([{ shape: [4, 5] }], (g, [logits]) => g.crossEntropy(logits!, g.constant([3, 1, 0, 4], 'int64', [4, 1])));
  });

  it('cross-entropy through LogSoftmax + GatherElements with ignored targets', async () => {
    await expectGrad([{ shape: [4, 5] }], (g, [logits]) => {
      const tgt = g.constant([3, -1, 0, 4], 'int64', [4, 1]);
      const valid = g.greaterOrEqual(tgt, 0);
      const safe = g.where(valid, tgt, g.scalar(0, 'int64'));
      const lp = g.gatherElements(g.logSoftmax(logits!, -1), safe, 1);
      return g.where(valid, lp, 0);
    });
  });

  it('covers every op that has a rule', () => {
    expect(DIFFERENTIABLE_OPS.filter((op) => !covered.has(op))).toEqual([]);
  });
});

describe('a broadcast gradient summed over many rows', () => {
  // from 1024 rows the sum runs in two stages ([f, R/f, C] over R/f, then f): these check it, and
  // the one-stage fallback (a prime row count), against plain float64 sums of the same numbers
  const cases: [string, number[], number[]][] = [
    ['[2048, 5] + [5]', [2048, 5], [5]],
    ['[4, 512, 3] + [1, 3] (two leading axes summed, a kept 1)', [4, 512, 3], [1, 3]],
    ['[1031, 4] + [4] (prime: one stage)', [1031, 4], [4]],
  ];
  for (const [name, xs, bs] of cases) {
    it(name, async () => {
      const rng = new Rng(xs.length + bs.length);
      const g = new Graph('rows');
      const x = g.input('x', 'float64', xs);
      const b = g.input('b', 'float64', bs);
      const n = xs.reduce((p, q) => p * q, 1);
      const C = xs[xs.length - 1]!;
      const w = Float64Array.from({ length: n }, () => rng.normal());
      const loss = g.reduceSum(g.mul(g.add(x, b), g.constant(w, 'float64', xs, 'w')), undefined, false);
      g.output(loss, 'loss');
      const [db] = grad(loss, [b]);
      g.output(db!, 'db');
      const s = await createSession(serializeModel(g), { threads: 1 });
      const out = await s.run({ x: float64Tensor(new Float64Array(n), xs), b: float64Tensor(new Float64Array(C), bs) });
      await s.release();
      expect(out.db!.dims).toEqual(bs);
      const want = new Float64Array(C);
      for (let i = 0; i < n; i++) want[i % C]! += w[i]!;
      const got = out.db!.data as Float64Array;
      for (let c = 0; c < C; c++) expect(Math.abs(got[c]! - want[c]!)).toBeLessThan(1e-9 * (1 + Math.abs(want[c]!)));
    });
  }
});

describe('the embedding gradient at 2 threads', () => {
  it('sums every repeated row, the same bits on every run (ORT\'s ScatterND with add loses some)', async () => {
    // 8192 lookups of 40 rows: every row repeated ~200 times, spread over both threads' shares
    const rng = new Rng(5);
    const V = 40, R = 64, N = 8192;
    const ids = Array.from({ length: N }, () => rng.int(V));
    const w = Float32Array.from({ length: N * R }, () => rng.normal());
    const g = new Graph('embed');
    const table = g.input('table', 'float32', [V, R]);
    // ids and weights as inputs: as constants, ORT would fold the whole gradient at load, on one thread
    const y = g.gather(table, g.input('ids', 'int64', [N]));
    const loss = g.reduceSum(g.mul(y, g.input('w', 'float32', [N, R])), undefined, false);
    g.output(loss, 'loss');
    const [dTable] = grad(loss, [table]);
    g.output(dTable!, 'dtable');
    const want = new Float64Array(V * R);
    ids.forEach((id, n) => {
      for (let r = 0; r < R; r++) want[id * R + r]! += w[n * R + r]!;
    });
    const s = await createSession(serializeModel(g), { threads: 2 });
    const runs: Float32Array[] = [];
    const feeds = { table: float32Tensor(new Float32Array(V * R), [V, R]), ids: int64Tensor(ids, [N]), w: float32Tensor(w, [N, R]) };
    for (let k = 0; k < 3; k++) runs.push((await s.run(feeds)).dtable!.data as Float32Array);
    await s.release();
    let maxdiff = 0;
    for (let i = 0; i < V * R; i++) maxdiff = Math.max(maxdiff, Math.abs(runs[0]![i]! - want[i]!));
    // ~200 float32 additions of N(0, 1) per entry: rounding stays far below 1e-3
    expect(maxdiff).toBeLessThan(1e-3);
    expect(Array.from(runs[1]!)).toEqual(Array.from(runs[0]!));
    expect(Array.from(runs[2]!)).toEqual(Array.from(runs[0]!));
  });
});
