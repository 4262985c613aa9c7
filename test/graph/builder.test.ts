/**
 * The builder's non-differentiable ops, control flow (Loop, If), shape inference and its errors,
 * serialization, checked by running the graphs in ONNX Runtime against values computed in JS.
 */
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { Graph, grad, serializeModel, type Tensor } from '../../src/graph/index.ts';
import { createSession, float32Tensor, int64Tensor, toNumbers, type HostTensor } from '../../src/graph/runtime.ts';

async function run(g: Graph, feeds: Record<string, HostTensor> = {}): Promise<Record<string, HostTensor>> {
  const s = await createSession(serializeModel(g), { threads: 1 });
  return s.run(feeds);
}

describe('graph builder', () => {
  it('infers shapes through broadcasting, MatMul, Reshape, Transpose, Gather, reductions', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 3, 4]);
    const w = g.input('w', 'float32', [4, 5]);
    expect(g.matMul(x, w).shape).toEqual(['batch', 3, 5]);
    expect(g.add(x, g.input('b', 'float32', [4])).shape).toEqual(['batch', 3, 4]);
    expect(g.reshape(g.input('s', 'float32', [2, 3, 4]), [6, -1]).shape).toEqual([6, 4]);
    expect(g.transpose(x, [2, 0, 1]).shape).toEqual([4, 'batch', 3]);
    expect(g.gather(w, g.input('i', 'int64', [7, 2])).shape).toEqual([7, 2, 5]);
    expect(g.reduceSum(x, [1], false).shape).toEqual(['batch', 4]);
    expect(g.split(w, [1, 3], 0).map((t) => t.shape)).toEqual([
      [1, 5],
      [3, 5],
    ]);
    expect(g.slice(w, [1], [-1], [0]).shape).toEqual([2, 5]);
  });

  it('attention with a keep mask equals the exactly masked softmax, even with blocked scores far above the allowed ones', async () => {
    // one row of 4 queries over 6 keys; scores spread over ±300 so e^(s − max) underflows for many
    const T = 4;
    const S = 6;
    const D = 2;
    const qv = [10, 0, -10, 0, 0, 10, 3, -3];
    const kv = [20, 0, -20, 0, 0, 20, 0, -20, 30, 30, -30, 0];
    // key 4 (score up to 300) is blocked for every query
    const allowed = [1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1];
    const build = (vv: number[]) => {
      const g = new Graph();
      const q = g.constant(qv, 'float32', [T, D], 'q');
      const k = g.constant(kv, 'float32', [S, D], 'k');
      const v = g.constant(vv, 'float32', [S, D], 'v');
      const bias = g.constant(allowed.map((a) => (a ? 0 : -1e9)), 'float32', [T, S], 'bias');
      const keep = g.constant(allowed, 'float32', [T, S], 'keep');
      g.output(g.attention(q, k, v, bias, keep), 'o');
      return run(g);
    };
    const vv = Array.from({ length: S * D }, (_, i) => (i % 5) - 2);
    const got = toNumbers((await build(vv)).o!);
    // reference in float64: softmax over the allowed keys only
    const want: number[] = [];
    for (let t = 0; t < T; t++) {
      const s = Array.from({ length: S }, (_, j) => qv[t * D]! * kv[j * D]! + qv[t * D + 1]! * kv[j * D + 1]!);
      const ok = s.map((_, j) => allowed[t * S + j] === 1);
      const m = Math.max(...s.filter((_, j) => ok[j]));
      const e = s.map((x, j) => (ok[j] ? Math.exp(x - m) : 0));
      const z = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) want.push(e.reduce((a, p, j) => a + (p / z) * vv[j * D + d]!, 0));
    }
    got.forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 5));
    // blocked keys contribute exactly nothing: changing their values leaves every output bit as it was
    const vBlocked = vv.map((x, i) => (Math.floor(i / D) === 4 ? x + 1000 : x));
    expect(toNumbers((await build(vBlocked)).o!)).toEqual(got);
  });

  it('BAD CALL - shape and dtype mismatches name the operands', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 3]);
    expect(() => g.add(a, g.input('b', 'float32', [4]))).toThrow(/Add\(a, b\): shapes \[2, 3\] and \[4\] do not broadcast/);
    expect(() => g.matMul(a, g.input('c', 'float32', [2, 3]))).toThrow(/MatMul: inner dimensions differ/);
    expect(() => g.add(a, g.input('d', 'float64', [2, 3]))).toThrow(TypeError);
    expect(() => g.input('a', 'float32', [1])).toThrow(/the name 'a' is already taken/);
    expect(() => g.split(a, [1, 1], 1)).toThrow(/sizes \[1,1\] sum to 2, but a: float32\[2, 3\] has 3 along axis 1/);
    expect(() => g.prefixes(a, [2, 2], 1)).toThrow(/prefixes: ends must be strictly increasing integers in \[1, 3\), got \[2, 2\]/);
    expect(() => g.prefixes(a, [3], 1)).toThrow(/got \[3\]/);
    expect(() => grad(g.reduceSum(g.cast(g.argMax(a), 'float32'), undefined, false), [a])).toThrow(/does not depend on any parameter/);
    expect(() => g.dropout(a, g.input('m64', 'float64', [2, 3]))).toThrow(/dropout: the mask's dtype differs from x's/);
    expect(() => g.dropout(a, g.input('mwide', 'float32', [4, 2, 3]))).toThrow(/dropout: mask mwide: float32\[4, 2, 3\] would broadcast a: float32\[2, 3\] to \[4, 2, 3\]/);
  });

  it('serializes opset, IR version, inputs with symbolic dims and shared constants', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', ['batch_size', 4]);
    g.output(g.add(g.mul(x, 2), 2), 'y');
    g.output(g.mul(x, 2), 'z');
    const m = onnxProto.onnx.ModelProto.decode(serializeModel(g));
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    expect(Number(m.irVersion)).toBe(8);
    expect(m.graph!.input![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch_size', 4]);
    expect(m.graph!.initializer!.length).toBe(1); // the constant 2 is shared
    expect(m.graph!.output!.map((o) => o.name)).toEqual(['y', 'z']);
  });

  it('shares a constant by value: any small one, a large one when one value fills it; 0 and -0 stay apart', () => {
    const g = new Graph('c');
    const big = (v: number) => g.constant(new Array<number>(200).fill(v), 'float32', [200]);
    expect(big(1)).toBe(big(1));
    expect(big(1)).not.toBe(big(2));
    expect(big(0)).not.toBe(big(-0));
    expect(g.constant([0, 0, 0], 'float32', [3])).not.toBe(g.constant([-0, 0, 0], 'float32', [3]));
    const ramp = (k: number) => g.constant(Array.from({ length: 200 }, (_, i) => i * k), 'float32', [200]);
    expect(ramp(1)).not.toBe(ramp(1)); // not filled with one value: not looked up
    expect(g.constant(new Array<number>(200).fill(1), 'float32', [10, 20])).not.toBe(big(1)); // other dims
    // LayerNorm's backward recomputes x̂ with a unit gain and zero shift: one of each per width
    const x = g.input('x', 'float32', [4, 96]);
    g.normalized(g.normalized(x, 1e-5), 1e-5);
    expect(g.initializers.filter((c) => c.name.startsWith('/ln_unit_gain')).length).toBe(1);
  });

  it('runs int64/bool ops: Shape, ConstantOfShape, Range, CumSum, TopK, ArgMax, Where, Not, Less', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 4]);
    const n = g.squeeze(g.shape(x, 1, 2), [0]); // 4
    g.output(g.range(g.scalar(0, 'int64'), n, g.scalar(1, 'int64')), 'range');
    g.output(g.constantOfShape(g.shape(x), 7, 'int64'), 'sevens');
    g.output(g.cumSum(x, 1), 'cumsum');
    const [vals, idx] = g.topK(x, 2, -1);
    g.output(vals, 'top_v');
    g.output(idx, 'top_i');
    g.output(g.argMax(x, -1, false), 'argmax');
    g.output(g.cast(g.not(g.less(x, 0)), 'int64'), 'nonneg');
    g.output(g.where(g.greater(x, 1), x, 0), 'relu1');
    g.output(g.randomUniformLike(x, 0, 1, 5), 'u');
    g.output(g.reduceMin(x, [1], false), 'min');
    g.output(g.clip(x, 0, 3), 'clip');
    g.output(g.tile(g.constant([1, 2], 'int64', [1, 2]), [2, 2]), 'tile');
    g.output(g.gatherND(x, g.constant([1, 2, 0, 3], 'int64', [2, 2])), 'gnd');
    const xs = [3, -1, 2, 5, 0, 4, -2, 1];
    const out = await run(g, { x: float32Tensor(xs, [2, 4]) });
    expect(toNumbers(out.range!)).toEqual([0, 1, 2, 3]);
    expect(toNumbers(out.sevens!)).toEqual(new Array(8).fill(7));
    expect(toNumbers(out.cumsum!)).toEqual([3, 2, 4, 9, 0, 4, 2, 3]);
    expect(toNumbers(out.top_v!)).toEqual([5, 3, 4, 1]);
    expect(toNumbers(out.top_i!)).toEqual([3, 0, 1, 3]);
    expect(toNumbers(out.argmax!)).toEqual([3, 1]);
    expect(toNumbers(out.nonneg!)).toEqual([1, 0, 1, 1, 1, 1, 0, 1]);
    expect(toNumbers(out.relu1!)).toEqual([3, 0, 2, 5, 0, 4, 0, 0]);
    expect(toNumbers(out.u!).every((v) => v >= 0 && v < 1)).toBe(true);
    expect(toNumbers(out.min!)).toEqual([-1, -2]);
    expect(toNumbers(out.clip!)).toEqual([3, 0, 2, 3, 0, 3, 0, 1]);
    expect(toNumbers(out.tile!)).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
    expect(toNumbers(out.gnd!)).toEqual([-2, 5]);
  });

  it('Loop: carries state, reads outer-scope tensors and constants, stacks scan outputs', async () => {
    const g = new Graph('loop');
    const x0 = g.input('x0', 'float32', [3]);
    const step = g.input('step', 'float32', [3]);
    const body = g.subgraph('body');
    const iter = body.input('iter', 'int64', []);
    const condIn = body.input('cond_in', 'bool', []);
    const acc = body.input('acc', 'float32', [3]);
    // acc ← acc · 2 + step (outer scope) + iter; stop once acc[0] > 100
    const next = body.add(body.add(body.mul(acc, 2), step), body.cast(iter, 'float32'));
    const first = body.squeeze(body.slice(next, [0], [1]), [0]);
    body.output(body.and(condIn, body.not(body.greater(first, 100))), 'cond_out');
    body.output(next, 'acc_out');
    body.output(body.identity(first), 'scan_first');
    const [final, firsts] = g.loop(g.scalar(10, 'int64'), g.constant([1], 'bool', [], 'true'), [x0], body);
    g.output(final!, 'final');
    g.output(firsts!, 'firsts');
    const out = await run(g, { x0: float32Tensor([1, 0, -1], [3]), step: float32Tensor([1, 1, 1], [3]) });
    const expected: number[][] = [];
    let a = [1, 0, -1];
    for (let i = 0; i < 10; i++) {
      a = a.map((v) => 2 * v + 1 + i);
      expected.push(a);
      if (a[0]! > 100) break;
    }
    expect(toNumbers(out.final!)).toEqual(expected[expected.length - 1]);
    expect(toNumbers(out.firsts!)).toEqual(expected.map((e) => e[0]));
  });

  it('If: picks a branch by a runtime condition', async () => {
    const g = new Graph('if');
    const x = g.input('x', 'float32', [2]);
    const flag = g.input('flag', 'int64', []);
    const thenB = g.subgraph('then');
    thenB.output(thenB.mul(x, 10), 'y_then');
    const elseB = g.subgraph('else');
    elseB.output(elseB.neg(x), 'y_else');
    const [y] = g.ifThenElse(g.equal(flag, g.scalar(1, 'int64')), thenB, elseB);
    g.output(y!, 'y');
    const s = await createSession(serializeModel(g), { threads: 1 });
    const xs = float32Tensor([1, -2], [2]);
    expect(toNumbers((await s.run({ x: xs, flag: int64Tensor([1], []) })).y!)).toEqual([10, -20]);
    expect(toNumbers((await s.run({ x: xs, flag: int64Tensor([0], []) })).y!)).toEqual([-1, 2]);
  });

  it('LayerNormalization op (float32) matches the primitive-op form', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 8]);
    const w = g.input('w', 'float32', [8]);
    const b = g.input('b', 'float32', [8]);
    g.output(g.layerNorm(x, w, b), 'op');
    g.output(g.layerNorm(x, w, b, { primitive: true }), 'prim');
    const rnd = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * k + 1) * 2);
    const out = await run(g, { x: float32Tensor(rnd(24, 1.3), [3, 8]), w: float32Tensor(rnd(8, 0.7), [8]), b: float32Tensor(rnd(8, 2.1), [8]) });
    const a = toNumbers(out.op!);
    toNumbers(out.prim!).forEach((v, i) => expect(v).toBeCloseTo(a[i]!, 5));
  });

  it('opset 21 (axes as inputs for ReduceMean/ReduceMax from 18, IR version 10) runs in ORT 1.30', async () => {
    const g = new Graph('op21', 21);
    const x = g.input('x', 'float32', [2, 3]);
    g.output(g.reduceMean(x, [1], false), 'mean');
    g.output(g.reduceMax(x, [0], false), 'max');
    const [gx] = grad(g.reduceSum(g.reduceMean(g.mul(x, x), [1], false), undefined, false), [x]);
    g.output(gx!, 'gx');
    const m = onnxProto.onnx.ModelProto.decode(serializeModel(g));
    expect([Number(m.irVersion), Number(m.opsetImport[0]!.version)]).toEqual([10, 21]);
    const out = await run(g, { x: float32Tensor([1, 2, 3, 4, 5, 9], [2, 3]) });
    expect(toNumbers(out.mean!)).toEqual([2, 6]);
    expect(toNumbers(out.max!)).toEqual([4, 5, 9]);
    toNumbers(out.gx!).forEach((v, i) => expect(v).toBeCloseTo(((2 * [1, 2, 3, 4, 5, 9][i]!) / 3), 5));
  });

  it("index.ts's example: gradients through a symbolic batch dimension", async () => {
    const g = new Graph('example');
    const x = g.input('x', 'float32', ['batch_size', 4]);
    const w = g.input('w', 'float32', [4, 3]);
    const loss = g.reduceSum(g.gelu(g.matMul(x, w)), undefined, false);
    g.output(loss, 'loss');
    const [dw] = grad(loss, [w]);
    g.output(dw!, 'grad.w');
    const xs = [0.5, -1, 2, 0.1, 1, 1, -0.5, 0.3];
    const ws = [0.2, -0.1, 0.4, 0.3, 0.0, -0.2, 0.1, 0.5, 0.2, -0.3, 0.1, 0.05];
    const out = await run(g, { x: float32Tensor(xs, [2, 4]), w: float32Tensor(ws, [4, 3]) });
    // dL/dw[i, j] = Σ_b x[b, i] gelu'(z[b, j])
    const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
    const dgelu = (z: number) => (gelu(z + 1e-4) - gelu(z - 1e-4)) / 2e-4;
    const z = [0, 1].map((b) => [0, 1, 2].map((j) => [0, 1, 2, 3].reduce((a, i) => a + xs[b * 4 + i]! * ws[i * 3 + j]!, 0)));
    const want = [0, 1, 2, 3].flatMap((i) => [0, 1, 2].map((j) => [0, 1].reduce((a, b) => a + xs[b * 4 + i]! * dgelu(z[b]![j]!), 0)));
    toNumbers(out['grad.w']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 4));
  });

  it('gradients of unused parameters are zeros of their shape', async () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2]);
    const unused = g.input('u', 'float32', [3]);
    const [, du] = grad(g.reduceSum(g.mul(a, a), undefined, false), [a, unused]) as [Tensor, Tensor];
    g.output(du, 'du');
    const out = await run(g, { a: float32Tensor([1, 2], [2]), u: float32Tensor([1, 2, 3], [3]) });
    expect(toNumbers(out.du!)).toEqual([0, 0, 0]);
  });
});
