/**
 * A typed ONNX graph builder. Each method appends one node (or a short, named composite of
 * nodes) and returns symbolic output tensors with an inferred dtype and shape. Every
 * differentiable op also records a tape entry, which `grad()` (autodiff.ts) walks backwards.
 *
 * Constants always live in the root graph as initializers, so Loop/If bodies see them through
 * the outer scope. Names are unique across a root graph and all its subgraphs.
 */
import {
  Tensor,
  broadcastShapes,
  elementCount,
  formatShape,
  isFloat,
  normAxis,
  type DType,
  type Dim,
  type Shape,
} from './tensor.ts';

/** The default opset: ORT 1.30 runs up to 21+, 17 is the first with LayerNormalization. */
export const DEFAULT_OPSET = 17;

export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'tensor'; value: ConstantData }
  | { type: 'graph'; value: Graph };

export const attr = {
  int: (value: number): Attr => ({ type: 'int', value }),
  float: (value: number): Attr => ({ type: 'float', value }),
  string: (value: string): Attr => ({ type: 'string', value }),
  ints: (value: number[]): Attr => ({ type: 'ints', value }),
  floats: (value: number[]): Attr => ({ type: 'floats', value }),
};

export interface NodeSpec {
  op: string;
  domain: string;
  inputs: string[]; // '' = an omitted optional input
  outputs: string[];
  attrs: Record<string, Attr>;
}

export type NumericArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface ConstantData {
  dtype: DType;
  dims: number[];
  data: NumericArray;
}

export interface Initializer extends ConstantData {
  name: string;
}

/** One differentiable step, as autodiff sees it: op-level for primitives, whole for composites. */
export interface TapeEntry {
  op: string;
  inputs: (Tensor | null)[];
  outputs: Tensor[];
  attrs: Record<string, unknown>;
}

interface NameSource {
  next: number;
  used: Set<string>;
}

type Ints = readonly number[];

export class Graph {
  readonly nodes: NodeSpec[] = [];
  readonly inputs: Tensor[] = [];
  readonly outputs: { tensor: Tensor; name: string }[] = [];
  readonly tape: TapeEntry[] = [];
  /** root only */
  readonly initializers: Initializer[] = [];
  private readonly constCache = new Map<string, Tensor>();
  private readonly names: NameSource;
  readonly root: Graph;
  /** while > 0, ops are emitted without tape entries (inside a composite with its own rule) */
  private untaped = 0;

  constructor(
    readonly name = 'synehr',
    readonly opset = DEFAULT_OPSET,
    parent?: Graph,
  ) {
    this.root = parent ? parent.root : this;
    this.names = parent ? parent.names : { next: 0, used: new Set() };
  }

  /** A body graph for Loop / If: it can use this graph's tensors and the root's constants. */
  subgraph(name: string): Graph {
    return new Graph(name, this.opset, this);
  }

  /**
   * A fresh unique name derived from `hint`. Internal names start with '/' (as PyTorch's exporter
   * writes them), so they never take a name a caller later gives an input or output.
   */
  fresh(hint: string): string {
    const base = '/' + hint.replace(/[^A-Za-z0-9_.\/-]/g, '_');
    let n = base;
    while (this.names.used.has(n)) n = `${base}_${this.names.next++}`;
    this.names.used.add(n);
    return n;
  }

  private claim(name: string): string {
    if (name.startsWith('/')) throw new RangeError(`graph ${this.name}: names starting with '/' are the builder's own, got '${name}'`);
    if (this.names.used.has(name)) throw new RangeError(`graph ${this.name}: the name '${name}' is already taken`);
    this.names.used.add(name);
    return name;
  }

  // ---------------------------------------------------------------- inputs, outputs, constants

  input(name: string, dtype: DType, shape: Shape): Tensor {
    const t = new Tensor(this, this.claim(name), dtype, [...shape]);
    this.inputs.push(t);
    return t;
  }

  /**
   * Marks `t` as a graph output under `name` (an Identity is added when the name differs);
   * `shape` overrides the declared shape, e.g. to name symbolic dimensions.
   */
  output(t: Tensor, name: string = t.name, shape?: Shape): Tensor {
    let out = shape ? new Tensor(this, t.name, t.dtype, [...shape]) : t;
    if (name !== t.name) {
      out = new Tensor(this, this.claim(name), t.dtype, shape ? [...shape] : t.shape);
      this.nodes.push({ op: 'Identity', domain: '', inputs: [t.name], outputs: [out.name], attrs: {} });
    }
    this.outputs.push({ tensor: out, name });
    return out;
  }

  /** A constant tensor (an initializer of the root graph); small ones are shared. */
  constant(data: NumericArray | number[], dtype: DType, dims: readonly number[], hint = 'const'): Tensor {
    const n = elementCount(dims);
    const arr = toTyped(data, dtype);
    if (arr.length !== n) {
      throw new RangeError(`constant ${hint}: ${arr.length} values for dims ${formatShape([...dims])} (${n} expected)`);
    }
    const root = this.root;
    // small constants are shared by value; larger ones when one value fills them (a unit gain)
    const values = arr as ArrayLike<number | bigint>;
    const first = values[0];
    const name = (v: number | bigint | undefined) => (Object.is(v, -0) ? '-0' : String(v));
    let key: string | null = null;
    if (n <= 64) key = `${dtype}|${dims.join(',')}|${Array.from(values, name).join(',')}`;
    else if (Array.prototype.every.call(values, (v: number | bigint) => Object.is(v, first))) key = `${dtype}|${dims.join(',')}|all ${name(first)}`;
    if (key !== null) {
      const hit = root.constCache.get(key);
      if (hit) return hit;
    }
    const t = new Tensor(root, root.fresh(hint), dtype, [...dims]);
    root.initializers.push({ name: t.name, dtype, dims: [...dims], data: arr });
    if (key !== null) root.constCache.set(key, t);
    return t;
  }

  /** A named initializer of the root graph (e.g. trained weights under their own names). */
  initializer(name: string, dtype: DType, dims: readonly number[], data: NumericArray): Tensor {
    const n = elementCount(dims);
    if (data.length !== n) throw new RangeError(`initializer ${name}: ${data.length} values for dims ${formatShape([...dims])} (${n} expected)`);
    const root = this.root;
    const t = new Tensor(root, root.claim(name), dtype, [...dims]);
    root.initializers.push({ name, dtype, dims: [...dims], data: toTyped(data, dtype) });
    return t;
  }

  scalar(value: number, dtype: DType = 'float32'): Tensor {
    return this.constant([value], dtype, [], `c_${dtype}_${value}`);
  }

  /** An int64 vector constant (shapes, axes, sizes). */
  ints(values: Ints, hint = 'ints'): Tensor {
    return this.constant([...values], 'int64', [values.length], hint);
  }

  /** A scalar constant with the dtype of `like`. */
  scalarLike(value: number, like: Tensor): Tensor {
    return this.scalar(value, like.dtype);
  }

  // ---------------------------------------------------------------- node plumbing

  /**
   * Appends a raw node. Use the typed methods where they exist; this is the escape hatch for ops
   * the builder does not wrap (no tape entry, so no gradient).
   */
  node(
    op: string,
    inputs: (Tensor | null)[],
    outs: { dtype: DType; shape: Shape | null; hint?: string }[],
    attrs: Record<string, Attr> = {},
    domain = '',
  ): Tensor[] {
    const outputs = outs.map((o) => new Tensor(this, this.fresh(o.hint ?? op.toLowerCase()), o.dtype, o.shape));
    this.nodes.push({
      op,
      domain,
      inputs: inputs.map((t) => (t === null ? '' : t.name)),
      outputs: outputs.map((t) => t.name),
      attrs,
    });
    return outputs;
  }

  private record(op: string, inputs: (Tensor | null)[], outputs: Tensor[], attrs: Record<string, unknown> = {}): void {
    if (this.untaped > 0) return;
    if (!outputs.some((t) => isFloat(t.dtype))) return;
    this.tape.push({ op, inputs, outputs, attrs });
  }

  /** Runs `emit` without recording its ops, then records one entry for the composite. */
  private composite<R>(emit: () => R): R {
    this.untaped++;
    try {
      return emit();
    } finally {
      this.untaped--;
    }
  }

  private one(op: string, inputs: (Tensor | null)[], dtype: DType, shape: Shape | null, attrs: Record<string, Attr> = {}, tapeAttrs?: Record<string, unknown>): Tensor {
    const [y] = this.node(op, inputs, [{ dtype, shape }], attrs);
    this.record(op, inputs, [y!], tapeAttrs ?? plainAttrs(attrs));
    return y!;
  }

  // ---------------------------------------------------------------- elementwise

  private binary(op: string, a: Tensor, b: Tensor, outDtype?: DType): Tensor {
    if (a.dtype !== b.dtype) throw new TypeError(`${op}: dtypes differ (${a} vs ${b})`);
    const shape = broadcastShapes(a.shape, b.shape, `${op}(${a.name}, ${b.name})`);
    return this.one(op, [a, b], outDtype ?? a.dtype, shape);
  }

  /** Coerces a JS number to a scalar constant of `like`'s dtype. */
  private lift(x: Tensor | number, like: Tensor): Tensor {
    return typeof x === 'number' ? this.scalarLike(x, like) : x;
  }

  add(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Add', a, this.lift(b, a));
  }
  sub(a: Tensor | number, b: Tensor | number): Tensor {
    const [x, y] = liftPair(this, a, b);
    return this.binary('Sub', x, y);
  }
  mul(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Mul', a, this.lift(b, a));
  }
  div(a: Tensor | number, b: Tensor | number): Tensor {
    const [x, y] = liftPair(this, a, b);
    return this.binary('Div', x, y);
  }
  pow(a: Tensor, b: Tensor | number): Tensor {
    const e = this.lift(b, a);
    const shape = broadcastShapes(a.shape, e.shape, 'Pow');
    return this.one('Pow', [a, e], a.dtype, shape);
  }
  max(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Max', a, this.lift(b, a));
  }
  min(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Min', a, this.lift(b, a));
  }
  equal(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Equal', a, this.lift(b, a), 'bool');
  }
  less(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Less', a, this.lift(b, a), 'bool');
  }
  lessOrEqual(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('LessOrEqual', a, this.lift(b, a), 'bool');
  }
  greater(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Greater', a, this.lift(b, a), 'bool');
  }
  greaterOrEqual(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('GreaterOrEqual', a, this.lift(b, a), 'bool');
  }
  and(a: Tensor, b: Tensor): Tensor {
    return this.binary('And', a, b, 'bool');
  }
  or(a: Tensor, b: Tensor): Tensor {
    return this.binary('Or', a, b, 'bool');
  }
  not(a: Tensor): Tensor {
    return this.one('Not', [a], 'bool', a.shape);
  }

  private unary(op: string, x: Tensor): Tensor {
    return this.one(op, [x], x.dtype, x.shape);
  }
  neg(x: Tensor): Tensor {
    return this.unary('Neg', x);
  }
  exp(x: Tensor): Tensor {
    return this.unary('Exp', x);
  }
  log(x: Tensor): Tensor {
    return this.unary('Log', x);
  }
  sqrt(x: Tensor): Tensor {
    return this.unary('Sqrt', x);
  }
  tanh(x: Tensor): Tensor {
    return this.unary('Tanh', x);
  }
  sigmoid(x: Tensor): Tensor {
    return this.unary('Sigmoid', x);
  }
  reciprocal(x: Tensor): Tensor {
    return this.unary('Reciprocal', x);
  }
  abs(x: Tensor): Tensor {
    return this.unary('Abs', x);
  }
  identity(x: Tensor): Tensor {
    return this.unary('Identity', x);
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    if (cond.dtype !== 'bool') throw new TypeError(`Where: the condition must be bool, got ${cond}`);
    const like = typeof a === 'number' ? (typeof b === 'number' ? null : b) : a;
    const x = typeof a === 'number' ? this.scalar(a, like ? like.dtype : 'float32') : a;
    const y = typeof b === 'number' ? this.scalar(b, x.dtype) : b;
    if (x.dtype !== y.dtype) throw new TypeError(`Where: branch dtypes differ (${x} vs ${y})`);
    const shape = broadcastShapes(broadcastShapes(cond.shape, x.shape, 'Where'), y.shape, 'Where');
    return this.one('Where', [cond, x, y], x.dtype, shape);
  }

  cast(x: Tensor, to: DType): Tensor {
    return this.one('Cast', [x], to, x.shape, { to: attr.int(DTYPE_CODE[to]) }, { to });
  }

  // ---------------------------------------------------------------- linear algebra

  matMul(a: Tensor, b: Tensor): Tensor {
    if (a.dtype !== b.dtype) throw new TypeError(`MatMul: dtypes differ (${a} vs ${b})`);
    return this.one('MatMul', [a, b], a.dtype, matMulShape(a.shape, b.shape));
  }

  /** Y = alpha · op(A) · op(B) + beta · C, with op = transpose when the flag is set (2-D only). */
  gemm(a: Tensor, b: Tensor, c: Tensor | null = null, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Tensor {
    const transA = o.transA ?? false;
    const transB = o.transB ?? false;
    const alpha = o.alpha ?? 1;
    const beta = o.beta ?? 1;
    if (a.rank !== 2 || b.rank !== 2) throw new RangeError(`Gemm: A and B must be 2-D, got ${a} and ${b}`);
    const m = transA ? a.shape![1]! : a.shape![0]!;
    const ka = transA ? a.shape![0]! : a.shape![1]!;
    const kb = transB ? b.shape![1]! : b.shape![0]!;
    const n = transB ? b.shape![0]! : b.shape![1]!;
    if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
      throw new RangeError(`Gemm: inner dimensions differ (${a}${transA ? 'ᵀ' : ''} · ${b}${transB ? 'ᵀ' : ''})`);
    }
    const attrs: Record<string, Attr> = {};
    if (transA) attrs.transA = attr.int(1);
    if (transB) attrs.transB = attr.int(1);
    if (alpha !== 1) attrs.alpha = attr.float(alpha);
    if (beta !== 1) attrs.beta = attr.float(beta);
    const inputs = c ? [a, b, c] : [a, b];
    return this.one('Gemm', inputs, a.dtype, [m, n], attrs, { transA, transB, alpha, beta });
  }

  // ---------------------------------------------------------------- shape ops

  reshape(x: Tensor, shape: Ints | Tensor): Tensor {
    let out: Shape | null = null;
    let shapeT: Tensor;
    if (shape instanceof Tensor) {
      shapeT = shape;
    } else {
      shapeT = this.ints(shape, 'shape');
      out = reshapeShape(x.shape, shape);
    }
    return this.one('Reshape', [x, shapeT], x.dtype, out);
  }

  transpose(x: Tensor, perm: Ints): Tensor {
    if (x.shape && perm.length !== x.shape.length) {
      throw new RangeError(`Transpose: perm [${perm}] does not fit ${x}`);
    }
    const shape = x.shape ? perm.map((p) => x.shape![p]!) : null;
    return this.one('Transpose', [x], x.dtype, shape, { perm: attr.ints([...perm]) }, { perm: [...perm] });
  }

  split(x: Tensor, sizes: Ints, axis = 0): Tensor[] {
    if (x.shape === null) throw new RangeError(`Split: ${x} needs a known rank`);
    const ax = normAxis(axis, x.shape.length, 'Split');
    const dim = x.shape[ax];
    const total = sizes.reduce((a, b) => a + b, 0);
    if (typeof dim === 'number' && dim !== total) {
      throw new RangeError(`Split: sizes [${sizes}] sum to ${total}, but ${x} has ${dim} along axis ${ax}`);
    }
    const outs = this.node(
      'Split',
      [x, this.ints(sizes, 'split')],
      sizes.map((s) => ({ dtype: x.dtype, shape: x.shape!.map((d, i) => (i === ax ? s : d)) })),
      { axis: attr.int(ax) },
    );
    this.record('Split', [x], outs, { axis: ax, sizes: [...sizes] });
    return outs;
  }

  concat(xs: Tensor[], axis = 0): Tensor {
    if (xs.length === 0) throw new RangeError('Concat: no inputs');
    const first = xs[0]!;
    let shape: Shape | null = null;
    if (xs.every((t) => t.shape !== null)) {
      const r = first.shape!.length;
      const ax = normAxis(axis, r, 'Concat');
      let along: Dim = 0;
      for (const t of xs) {
        if (t.shape!.length !== r) throw new RangeError(`Concat: ranks differ (${first} vs ${t})`);
        const d = t.shape![ax]!;
        along = typeof along === 'number' && typeof d === 'number' ? along + d : null;
      }
      shape = first.shape!.map((d, i) => (i === ax ? along : d));
      axis = ax;
    }
    return this.one('Concat', xs, first.dtype, shape, { axis: attr.int(axis) }, { axis });
  }

  /** Static slice: starts/ends/axes/steps as numbers (ends may be large to mean "to the end"). */
  slice(x: Tensor, starts: Ints, ends: Ints, axes?: Ints, steps?: Ints): Tensor {
    const ax = axes ?? starts.map((_, i) => i);
    const st = steps ?? starts.map(() => 1);
    let shape: Shape | null = null;
    if (x.shape) {
      shape = [...x.shape];
      ax.forEach((a0, i) => {
        const a = normAxis(a0, x.shape!.length, 'Slice');
        const d = x.shape![a]!;
        if (typeof d !== 'number') {
          shape![a] = null;
          return;
        }
        const [s, e] = sliceBounds(starts[i]!, ends[i]!, st[i]!, d);
        shape![a] = st[i]! > 0 ? Math.max(0, Math.ceil((e - s) / st[i]!)) : Math.max(0, Math.ceil((s - e) / -st[i]!));
      });
    }
    const inputs = [x, this.ints(starts, 'starts'), this.ints(ends, 'ends'), this.ints(ax, 'axes'), this.ints(st, 'steps')];
    const [y] = this.node('Slice', inputs, [{ dtype: x.dtype, shape }]);
    this.record('Slice', [x], [y!], { starts: [...starts], ends: [...ends], axes: [...ax], steps: [...st] });
    return y!;
  }

  /**
   * The prefixes x[0:ends[i]] along `axis`, for strictly increasing ends below x's size there
   * (e.g. the keys each causal query block sees). One composite, so the gradient is summed
   * shortest first, each partial sum padded by one step only, instead of padding every prefix's
   * gradient to x's full size and adding at full size: about a third fewer bytes moved.
   */
  prefixes(x: Tensor, ends: readonly number[], axis: number): Tensor[] {
    const r = x.rank;
    const a = r === null ? axis : normAxis(axis, r, 'prefixes');
    const size = x.shape?.[a];
    if (typeof size !== 'number') throw new RangeError(`prefixes: ${x} needs a static size along axis ${axis}`);
    ends.forEach((e, i) => {
      if (!Number.isInteger(e) || e < 1 || e >= size || (i > 0 && e <= ends[i - 1]!)) {
        throw new RangeError(`prefixes: ends must be strictly increasing integers in [1, ${size}), got [${ends.join(', ')}]`);
      }
    });
    const outs = this.composite(() => ends.map((e) => this.slice(x, [0], [e], [a])));
    this.record('Prefixes', [x], outs, { ends: [...ends], axis: a });
    return outs;
  }

  /** Slice with tensor bounds (no gradient). */
  sliceDynamic(x: Tensor, starts: Tensor, ends: Tensor, axes?: Tensor, steps?: Tensor): Tensor {
    const inputs = [x, starts, ends, axes ?? null, steps ?? null];
    while (inputs[inputs.length - 1] === null) inputs.pop();
    const shape = x.shape ? x.shape.map(() => null) : null;
    return this.node('Slice', inputs, [{ dtype: x.dtype, shape }])[0]!;
  }

  unsqueeze(x: Tensor, axes: Ints): Tensor {
    let shape: Shape | null = null;
    if (x.shape) {
      const r = x.shape.length + axes.length;
      const norm = axes.map((a) => normAxis(a, r, 'Unsqueeze'));
      shape = [];
      let k = 0;
      for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : x.shape[k++]!);
    }
    return this.one('Unsqueeze', [x, this.ints(axes, 'axes')], x.dtype, shape, {}, { axes: [...axes] });
  }

  squeeze(x: Tensor, axes: Ints): Tensor {
    let shape: Shape | null = null;
    if (x.shape) {
      const norm = axes.map((a) => normAxis(a, x.shape!.length, 'Squeeze'));
      for (const a of norm) {
        const d = x.shape[a];
        if (typeof d === 'number' && d !== 1) throw new RangeError(`Squeeze: axis ${a} of ${x} is not 1`);
      }
      shape = x.shape.filter((_, i) => !norm.includes(i));
    }
    return this.one('Squeeze', [x, this.ints(axes, 'axes')], x.dtype, shape, {}, { axes: [...axes] });
  }

  expand(x: Tensor, shape: Ints | Tensor): Tensor {
    let out: Shape | null = null;
    let shapeT: Tensor;
    if (shape instanceof Tensor) {
      shapeT = shape;
      const n = shape.staticShape?.[0];
      if (n !== undefined && x.shape) out = broadcastShapes(x.shape, new Array<Dim>(n).fill(null), 'Expand');
    } else {
      shapeT = this.ints(shape, 'shape');
      out = broadcastShapes(x.shape, [...shape], 'Expand');
    }
    return this.one('Expand', [x, shapeT], x.dtype, out);
  }

  /** The shape of x as an int64 vector; `start`/`end` select a range of dimensions. */
  shape(x: Tensor, start?: number, end?: number): Tensor {
    const attrs: Record<string, Attr> = {};
    if (start !== undefined) attrs.start = attr.int(start);
    if (end !== undefined) attrs.end = attr.int(end);
    let n: Dim = null;
    if (x.shape) {
      const r = x.shape.length;
      const s = start === undefined ? 0 : start < 0 ? Math.max(0, start + r) : Math.min(start, r);
      const e = end === undefined ? r : end < 0 ? Math.max(0, end + r) : Math.min(end, r);
      n = Math.max(0, e - s);
    }
    return this.node('Shape', [x], [{ dtype: 'int64', shape: [n] }], attrs)[0]!;
  }

  constantOfShape(shape: Tensor | Ints, value: number, dtype: DType): Tensor {
    const shapeT = shape instanceof Tensor ? shape : this.ints(shape, 'shape');
    const out: Shape | null = shape instanceof Tensor ? (shape.staticShape ? new Array<Dim>(shape.staticShape[0]!).fill(null) : null) : [...shape];
    const v: ConstantData = { dtype, dims: [1], data: toTyped([value], dtype) };
    return this.node('ConstantOfShape', [shapeT], [{ dtype, shape: out }], { value: { type: 'tensor', value: v } })[0]!;
  }

  /** Zeros shaped like x: a constant shape when x's is static, else Shape(x). */
  zerosLike(x: Tensor): Tensor {
    const s = x.staticShape;
    const z = this.constantOfShape(s ?? this.shape(x), 0, x.dtype);
    return s ? z : new Tensor(this, z.name, z.dtype, x.shape);
  }

  range(start: Tensor, limit: Tensor, delta: Tensor): Tensor {
    return this.node('Range', [start, limit, delta], [{ dtype: start.dtype, shape: [null] }])[0]!;
  }

  pad(x: Tensor, pads: Ints, value = 0): Tensor {
    if (x.shape === null) throw new RangeError(`Pad: ${x} needs a known rank`);
    const r = x.shape.length;
    const shape = x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i]! + pads[i + r]! : null));
    return this.node('Pad', [x, this.ints(pads, 'pads'), this.scalarLike(value, x)], [{ dtype: x.dtype, shape }])[0]!;
  }

  // ---------------------------------------------------------------- indexing

  gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
    let shape: Shape | null = null;
    if (data.shape && indices.shape) {
      const ax = normAxis(axis, data.shape.length, 'Gather');
      shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
      axis = ax;
    }
    return this.one('Gather', [data, indices], data.dtype, shape, { axis: attr.int(axis) }, { axis });
  }

  gatherElements(data: Tensor, indices: Tensor, axis = 0): Tensor {
    const r = data.rank ?? indices.rank;
    if (r !== null) axis = normAxis(axis, r, 'GatherElements');
    return this.one('GatherElements', [data, indices], data.dtype, indices.shape, { axis: attr.int(axis) }, { axis });
  }

  scatterElements(data: Tensor, indices: Tensor, updates: Tensor, axis = 0, reduction: 'none' | 'add' | 'mul' | 'max' | 'min' = 'none'): Tensor {
    const r = data.rank;
    if (r !== null) axis = normAxis(axis, r, 'ScatterElements');
    const attrs: Record<string, Attr> = { axis: attr.int(axis) };
    if (reduction !== 'none') attrs.reduction = attr.string(reduction);
    return this.one('ScatterElements', [data, indices, updates], data.dtype, data.shape, attrs, { axis, reduction });
  }

  scatterND(data: Tensor, indices: Tensor, updates: Tensor, reduction: 'none' | 'add' | 'mul' = 'none'): Tensor {
    const attrs: Record<string, Attr> = {};
    if (reduction !== 'none') attrs.reduction = attr.string(reduction);
    return this.one('ScatterND', [data, indices, updates], data.dtype, data.shape, attrs, { reduction });
  }

  // ---------------------------------------------------------------- reductions

  private reduceShape(x: Tensor, axes: Ints | undefined, keepdims: boolean, what: string): { axes: number[]; shape: Shape | null } {
    if (x.shape === null) {
      if (!axes) throw new RangeError(`${what}: ${x} needs a known rank to reduce over all axes`);
      return { axes: [...axes], shape: null };
    }
    const r = x.shape.length;
    const norm = (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis(a, r, what));
    const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
    return { axes: norm, shape };
  }

  /** Sums over `axes` (all axes when omitted). */
  reduceSum(x: Tensor, axes?: Ints, keepdims = true): Tensor {
    const r = this.reduceShape(x, axes, keepdims, 'ReduceSum');
    // opset 13+: axes is an input
    return this.one('ReduceSum', [x, this.ints(r.axes, 'axes')], x.dtype, r.shape, { keepdims: attr.int(keepdims ? 1 : 0) }, { axes: r.axes, keepdims });
  }

  reduceMean(x: Tensor, axes?: Ints, keepdims = true): Tensor {
    const r = this.reduceShape(x, axes, keepdims, 'ReduceMean');
    return this.reduceAttrOp('ReduceMean', x, r, keepdims);
  }

  reduceMax(x: Tensor, axes?: Ints, keepdims = true): Tensor {
    const r = this.reduceShape(x, axes, keepdims, 'ReduceMax');
    return this.reduceAttrOp('ReduceMax', x, r, keepdims);
  }

  /** ReduceMean/ReduceMax take axes as an attribute up to opset 17 and as an input from 18. */
  private reduceAttrOp(op: string, x: Tensor, r: { axes: number[]; shape: Shape | null }, keepdims: boolean): Tensor {
    const k = { keepdims: attr.int(keepdims ? 1 : 0) };
    if (this.opset >= 18) return this.one(op, [x, this.ints(r.axes, 'axes')], x.dtype, r.shape, k, { axes: r.axes, keepdims });
    return this.one(op, [x], x.dtype, r.shape, { ...k, axes: attr.ints(r.axes) }, { axes: r.axes, keepdims });
  }

  reduceMin(x: Tensor, axes?: Ints, keepdims = true): Tensor {
    const r = this.reduceShape(x, axes, keepdims, 'ReduceMin');
    return this.reduceAttrOp('ReduceMin', x, r, keepdims);
  }

  /** Clamps x to [lo, hi] (scalars of x's dtype); no gradient. */
  clip(x: Tensor, lo: number, hi: number): Tensor {
    return this.node('Clip', [x, this.scalarLike(lo, x), this.scalarLike(hi, x)], [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  /** Repeats x `repeats[i]` times along axis i; no gradient. */
  tile(x: Tensor, repeats: Ints): Tensor {
    const shape = x.shape ? x.shape.map((d, i) => (typeof d === 'number' ? d * repeats[i]! : null)) : null;
    return this.node('Tile', [x, this.ints(repeats, 'repeats')], [{ dtype: x.dtype, shape }])[0]!;
  }

  /** GatherND (batch_dims 0): indices [..., k] pick slices of data's first k axes; no gradient. */
  gatherND(data: Tensor, indices: Tensor): Tensor {
    let shape: Shape | null = null;
    const k = indices.shape?.[indices.shape.length - 1];
    if (data.shape && indices.shape && typeof k === 'number') shape = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
    return this.node('GatherND', [data, indices], [{ dtype: data.dtype, shape }])[0]!;
  }

  argMax(x: Tensor, axis = -1, keepdims = true): Tensor {
    const r = this.reduceShape(x, [axis], keepdims, 'ArgMax');
    return this.node('ArgMax', [x], [{ dtype: 'int64', shape: r.shape }], { axis: attr.int(r.axes[0]!), keepdims: attr.int(keepdims ? 1 : 0) })[0]!;
  }

  cumSum(x: Tensor, axis: number, o: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
    const attrs: Record<string, Attr> = {};
    if (o.exclusive) attrs.exclusive = attr.int(1);
    if (o.reverse) attrs.reverse = attr.int(1);
    return this.node('CumSum', [x, this.scalar(axis, 'int64')], [{ dtype: x.dtype, shape: x.shape }], attrs)[0]!;
  }

  /** The k largest (or smallest) values along `axis` and their indices. */
  topK(x: Tensor, k: number | Tensor, axis = -1, o: { largest?: boolean; sorted?: boolean } = {}): [Tensor, Tensor] {
    const kT = typeof k === 'number' ? this.ints([k], 'k') : k;
    let shape: Shape | null = null;
    if (x.shape) {
      const ax = normAxis(axis, x.shape.length, 'TopK');
      shape = x.shape.map((d, i) => (i === ax ? (typeof k === 'number' ? k : null) : d));
      axis = ax;
    }
    const [v, i] = this.node(
      'TopK',
      [x, kT],
      [
        { dtype: x.dtype, shape },
        { dtype: 'int64', shape },
      ],
      { axis: attr.int(axis), largest: attr.int(o.largest === false ? 0 : 1), sorted: attr.int(o.sorted === false ? 0 : 1) },
    );
    return [v!, i!];
  }

  randomUniformLike(x: Tensor, low = 0, high = 1, seed?: number): Tensor {
    const attrs: Record<string, Attr> = { low: attr.float(low), high: attr.float(high) };
    if (seed !== undefined) attrs.seed = attr.float(seed);
    return this.node('RandomUniformLike', [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0]!;
  }

  // ---------------------------------------------------------------- normalisation and activations

  softmax(x: Tensor, axis = -1): Tensor {
    return this.one('Softmax', [x], x.dtype, x.shape, { axis: attr.int(axis) }, { axis });
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    return this.one('LogSoftmax', [x], x.dtype, x.shape, { axis: attr.int(axis) }, { axis });
  }

  /**
   * LayerNormalization over the last axis. `primitive` writes it out in ReduceMean/Sub/Mul/Sqrt
   * (ORT has no float64 LayerNormalization); both forms share one hand-written backward rule.
   */
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, o: { epsilon?: number; primitive?: boolean } = {}): Tensor {
    const eps = o.epsilon ?? 1e-5;
    const primitive = o.primitive ?? x.dtype === 'float64';
    const statShape = x.shape ? [...x.shape.slice(0, -1), 1] : null;
    const { y, mean, invStd } = this.composite(() => {
      if (!primitive) {
        const [y, mean, invStd] = this.node(
          'LayerNormalization',
          [x, gamma, beta],
          [
            { dtype: x.dtype, shape: x.shape, hint: 'ln' },
            { dtype: x.dtype, shape: statShape, hint: 'ln_mean' },
            { dtype: x.dtype, shape: statShape, hint: 'ln_invstd' },
          ],
          { axis: attr.int(-1), epsilon: attr.float(eps) },
        );
        return { y: y!, mean: mean!, invStd: invStd! };
      }
      const mean = this.reduceMean(x, [-1]);
      const xc = this.sub(x, mean);
      const variance = this.reduceMean(this.mul(xc, xc), [-1]);
      const invStd = this.reciprocal(this.sqrt(this.add(variance, eps)));
      const y = this.add(this.mul(this.mul(xc, invStd), gamma), beta);
      return { y, mean, invStd };
    });
    this.record('LayerNorm', [x, gamma, beta], [y], { mean, invStd, epsilon: eps, primitive });
    return y;
  }

  /**
   * (x − mean) / √(var + ε) over the last axis as one LayerNormalization node with unit gain and
   * zero shift (no tape entry: LayerNorm's backward rule uses it to recompute x̂ in one pass
   * instead of a Sub and a Mul).
   */
  normalized(x: Tensor, epsilon: number): Tensor {
    const C = x.shape?.[x.shape.length - 1];
    if (typeof C !== 'number') throw new RangeError(`normalized: ${x} needs a static last dimension`);
    const ones = this.constant(new Array<number>(C).fill(1), x.dtype, [C], 'ln_unit_gain');
    const zeros = this.constant(new Array<number>(C).fill(0), x.dtype, [C], 'ln_zero_shift');
    return this.node('LayerNormalization', [x, ones, zeros], [{ dtype: x.dtype, shape: x.shape, hint: 'xhat' }], { axis: attr.int(-1), epsilon: attr.float(epsilon) })[0]!;
  }

  /**
   * GELU, tanh approximation (GPT-2's gelu_new): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))),
   * computed as x σ(2 k x (1 + c x²)) since ½ (1 + tanh z) = σ(2z): six passes instead of eight.
   */
  gelu(x: Tensor): Tensor {
    const { y, h, xx } = this.composite(() => {
      const xx = this.mul(x, x);
      const z2 = this.mul(this.add(this.mul(xx, 2 * GELU_K * GELU_C), 2 * GELU_K), x);
      const h = this.sigmoid(z2); // ½ (1 + t), kept for the backward pass
      return { y: this.mul(x, h), h, xx };
    });
    this.record('Gelu', [x], [y], { h, xx });
    return y;
  }

  /**
   * Attention core: softmax(q · kᵀ + bias) · v, with q [.., T, D] (already scaled), k and v
   * [.., S, D] and `bias` broadcastable to [.., T, S]: 0 where allowed, a large negative (e.g.
   * −1e9) where blocked.
   *
   * With `keep` (1 where allowed, 0 where blocked; same shape as bias), blocked probabilities are
   * exactly 0 and no denormal float is made: exp() of a score 88 or more below its row's maximum
   * is a denormal, which ONNX Runtime's Softmax and the ops after it handle several times slower
   * (and a packed batch is mostly blocked scores). Each row is floored at its largest allowed
   * score minus SOFTMAX_FLOOR before Softmax and multiplied by `keep` after it, so every
   * probability is a normal float or 0. The floor moves an allowed probability only when it is
   * below e⁻⁶⁰ of the row's largest, and the share of the row's sum that the zeroed entries had is
   * below S·e⁻⁶⁰ ≈ 10⁻²³ at S = 1024: far under float32's resolution.
   *
   * Every transpose it and its rule emit swaps the last two axes of a single-use tensor, which ORT
   * folds into the MatMul. The rule uses FlashAttention's row term Σ_d dO·O instead of Σ_s dP·P:
   * two passes fewer over the [.., T, S] scores.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | null, keep?: Tensor): Tensor {
    if (keep && !bias) throw new RangeError('attention: keep needs the matching bias');
    const { out, probs } = this.composite(() => {
      const s = this.matMul(q, this.transpose(k, swapLastPerm(k)));
      const z = bias ? this.add(s, bias) : s;
      let probs: Tensor;
      if (keep) {
        const floor = this.sub(this.reduceMax(z, [-1], true), SOFTMAX_FLOOR); // [.., T, 1]
        probs = this.mul(this.softmax(this.max(z, floor), -1), keep);
      } else {
        probs = this.softmax(z, -1);
      }
      return { out: this.matMul(probs, v), probs };
    });
    this.record('Attention', [q, k, v, bias], [out], { probs });
    return out;
  }

  /**
   * Inverted dropout with its mask given: x ⊙ mask, where mask (broadcastable to x, same dtype)
   * holds 0 for a dropped element and 1 / (1 − p) for a kept one, so the expectation is x. The
   * mask is data (drawn outside the graph, e.g. by the trainer from a seed per step), never
   * differentiated: its rule is dx = dy ⊙ mask.
   */
  dropout(x: Tensor, mask: Tensor): Tensor {
    if (x.dtype !== mask.dtype) throw new TypeError(`dropout: the mask's dtype differs from x's (${x} vs ${mask})`);
    const shape = broadcastShapes(x.shape, mask.shape, `dropout(${x.name}, ${mask.name})`);
    if (!sameShapeOrUnknown(shape, x.shape)) throw new RangeError(`dropout: mask ${mask} would broadcast ${x} to ${formatShape(shape)}`);
    const y = this.composite(() => this.mul(x, mask));
    this.record('Dropout', [x, mask], [y]);
    return y;
  }

  /**
   * Negative log-likelihood of `targets` under softmax(logits) along the last axis: logits
   * [.., V], targets int64 [.., 1] (valid ids) → [.., 1]. Its rule writes dlogits = (p − onehot)·dy
   * in three passes over [.., V] (Exp, Mul, ScatterElements add) instead of six.
   */
  crossEntropy(logits: Tensor, targets: Tensor): Tensor {
    const { nll, logp } = this.composite(() => {
      const logp = this.logSoftmax(logits, -1);
      return { nll: this.neg(this.gatherElements(logp, targets, -1)), logp };
    });
    this.record('CrossEntropy', [logits, targets], [nll], { logp });
    return nll;
  }

  // ---------------------------------------------------------------- control flow

  /**
   * ONNX Loop. `body` must have inputs (iter: int64 [], cond: bool [], ...carried) and outputs
   * (cond: bool [], ...carried, ...scanned). Returns the final carried values then the scan
   * outputs (stacked along a new first axis).
   */
  loop(maxTrips: Tensor | null, cond: Tensor | null, carried: Tensor[], body: Graph): Tensor[] {
    const nCarried = carried.length;
    if (body.inputs.length !== nCarried + 2) {
      throw new RangeError(`Loop: body ${body.name} has ${body.inputs.length} inputs, expected 2 + ${nCarried} carried`);
    }
    const bodyOuts = body.outputs.map((o) => o.tensor);
    if (bodyOuts.length < nCarried + 1) {
      throw new RangeError(`Loop: body ${body.name} has ${bodyOuts.length} outputs, expected at least 1 + ${nCarried}`);
    }
    const outs = [
      ...carried.map((t) => ({ dtype: t.dtype, shape: t.shape, hint: 'loop_out' })),
      ...bodyOuts.slice(nCarried + 1).map((t) => ({ dtype: t.dtype, shape: t.shape ? [null, ...t.shape] : null, hint: 'loop_scan' })),
    ];
    return this.node('Loop', [maxTrips, cond, ...carried], outs, { body: { type: 'graph', value: body } });
  }

  /** ONNX If: both branches must have the same number of outputs, with matching dtypes. */
  ifThenElse(cond: Tensor, thenBranch: Graph, elseBranch: Graph): Tensor[] {
    const a = thenBranch.outputs.map((o) => o.tensor);
    const b = elseBranch.outputs.map((o) => o.tensor);
    if (a.length !== b.length || a.some((t, i) => t.dtype !== b[i]!.dtype)) {
      throw new RangeError(`If: branches ${thenBranch.name} and ${elseBranch.name} have different outputs`);
    }
    const outs = a.map((t, i) => ({ dtype: t.dtype, shape: sameRankShape(t.shape, b[i]!.shape), hint: 'if_out' }));
    return this.node('If', [cond], outs, {
      then_branch: { type: 'graph', value: thenBranch },
      else_branch: { type: 'graph', value: elseBranch },
    });
  }
}

/** The permutation that swaps the last two axes of x. */
export function swapLastPerm(x: Tensor): number[] {
  const r = x.rank;
  if (r === null || r < 2) throw new RangeError(`swapLastPerm: ${x} needs rank ≥ 2`);
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return perm;
}

export const GELU_C = 0.044715;
/** How far below a row's largest allowed score the attention scores are floored (see attention()). */
export const SOFTMAX_FLOOR = 60;
export const GELU_K = Math.sqrt(2 / Math.PI);

export const DTYPE_CODE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

function plainAttrs(attrs: Record<string, Attr>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = v.value;
  return out;
}

function liftPair(g: Graph, a: Tensor | number, b: Tensor | number): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') return [g.scalar(a), g.scalar(b)];
  if (typeof a === 'number') return [g.scalarLike(a, b as Tensor), b as Tensor];
  if (typeof b === 'number') return [a, g.scalarLike(b, a)];
  return [a, b];
}

export function toTyped(data: NumericArray | number[], dtype: DType): NumericArray {
  if (!Array.isArray(data)) {
    if (typedDType(data) !== dtype && !(dtype === 'bool' && data instanceof Uint8Array)) {
      throw new TypeError(`constant: a ${data.constructor.name} cannot hold ${dtype} values`);
    }
    return data;
  }
  switch (dtype) {
    case 'float32':
      return Float32Array.from(data);
    case 'float64':
      return Float64Array.from(data);
    case 'int64':
      return BigInt64Array.from(data, (v) => BigInt(v));
    case 'int32':
      return Int32Array.from(data);
    case 'int8':
      return Int8Array.from(data);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(data, (v) => (dtype === 'bool' ? (v ? 1 : 0) : v));
    case 'float16':
      throw new TypeError('constant: float16 constants from numbers are not supported');
  }
}

function typedDType(a: NumericArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int8Array) return 'int8';
  return 'uint8';
}

function matMulShape(a: Shape | null, b: Shape | null): Shape | null {
  if (a === null || b === null) return null;
  if (a.length < 1 || b.length < 1) throw new RangeError('MatMul: scalars are not allowed');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const ka = a2[a2.length - 1]!;
  const kb = b2[b2.length - 2]!;
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
    throw new RangeError(`MatMul: inner dimensions differ (${formatShape(a)} · ${formatShape(b)})`);
  }
  const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2), 'MatMul batch') ?? [];
  const out: Shape = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

function reshapeShape(x: Shape | null, target: Ints): Shape {
  const out: Shape = target.map((d, i) => {
    if (d === 0) return x && i < x.length ? x[i]! : null;
    if (d === -1) return null;
    return d;
  });
  const inf = target.indexOf(-1);
  if (inf >= 0 && x && x.every((d) => typeof d === 'number')) {
    const total = elementCount(x as number[]);
    const known = out.reduce<number | null>((a, d, i) => (i === inf || a === null ? a : typeof d === 'number' ? a * d : null), 1);
    if (known !== null) {
      if (total % known !== 0) throw new RangeError(`Reshape: ${formatShape(x)} cannot become [${target}]`);
      out[inf] = total / known;
    }
  }
  if (x && out.every((d) => typeof d === 'number') && x.every((d) => typeof d === 'number')) {
    if (elementCount(out as number[]) !== elementCount(x as number[])) {
      throw new RangeError(`Reshape: ${formatShape(x)} cannot become [${target}]`);
    }
  }
  return out;
}

/** Clamped [start, end) of a Slice along a dimension of size d (ONNX semantics). */
export function sliceBounds(start: number, end: number, step: number, d: number): [number, number] {
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), d);
    e = Math.min(Math.max(e, 0), d);
  } else {
    s = Math.min(Math.max(s, 0), d - 1);
    e = Math.min(Math.max(e, -1), d - 1);
  }
  return [s, e];
}

function sameShapeOrUnknown(a: Shape | null, b: Shape | null): boolean {
  return a === null || b === null || (a.length === b.length && a.every((d, i) => d === null || b[i] === null || d === b[i]));
}

function sameRankShape(a: Shape | null, b: Shape | null): Shape | null {
  if (a === null || b === null || a.length !== b.length) return null;
  return a.map((d, i) => (d === b[i] ? d : null));
}
