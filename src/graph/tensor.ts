/**
 * Symbolic tensors of the graph builder: a name in the graph, an element type and a shape whose
 * dimensions are numbers (static), strings (named symbolic dimensions, e.g. 'batch_size') or null
 * (unknown). A null shape means even the rank is unknown.
 */
import type { Graph } from './builder.ts';

export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
export type Dim = number | string | null;
export type Shape = Dim[];

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['float32', 'float64', 'float16']);

export function isFloat(dtype: DType): boolean {
  return FLOAT_DTYPES.has(dtype);
}

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape | null,
  ) {}

  get rank(): number | null {
    return this.shape === null ? null : this.shape.length;
  }

  /** The shape as numbers when every dimension is static, else null. */
  get staticShape(): number[] | null {
    if (this.shape === null || this.shape.some((d) => typeof d !== 'number')) return null;
    return this.shape as number[];
  }

  toString(): string {
    return `${this.name}: ${this.dtype}${formatShape(this.shape)}`;
  }
}

export function formatShape(shape: Shape | null): string {
  if (shape === null) return '[?]';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a !== null && a === b;
}

export function sameShape(a: Shape | null, b: Shape | null): boolean {
  return a !== null && b !== null && a.length === b.length && a.every((d, i) => sameDim(d, b[i]!));
}

/** Numpy-style broadcasting of two shapes; throws on a static mismatch. */
export function broadcastShapes(a: Shape | null, b: Shape | null, what: string): Shape | null {
  if (a === null || b === null) return null;
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const da = i - (n - a.length) >= 0 ? a[i - (n - a.length)]! : 1;
    const db = i - (n - b.length) >= 0 ? b[i - (n - b.length)]! : 1;
    out.push(broadcastDim(da, db, a, b, what));
  }
  return out;
}

function broadcastDim(da: Dim, db: Dim, a: Shape, b: Shape, what: string): Dim {
  if (da === 1) return db;
  if (db === 1) return da;
  if (da === db) return da;
  if (typeof da === 'number' && typeof db === 'number') {
    throw new RangeError(`${what}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
  }
  if (typeof da === 'number') return da;
  if (typeof db === 'number') return db;
  return null;
}

export function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new RangeError(`${what}: axis ${axis} is out of range [${-rank}, ${rank})`);
  }
  return a;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
