/**
 * AdamW's update as a WebAssembly SIMD kernel: four float32 lanes per instruction, about 1 ms per
 * million parameters where the scalar JavaScript loop takes 7-8 (bench/train.ts's update column).
 *
 * The kernel reads and writes its arrays in its own linear memory, so the trainer keeps its
 * parameters, gradient and moments there (an OptimizerArena: one allocation, four 16-byte-aligned
 * views). ONNX Runtime reads the parameter views as inputs like any Float32Array.
 *
 * The module is assembled here byte by byte (no toolchain, nothing fetched): one exported
 * function, its arithmetic in exactly the order of adamw.ts's scalar loop, whose float32 rounding
 * it shares op for op, so either path gives the same bits.
 */

/** The part of the WebAssembly API used here (TypeScript's ES2023 lib, which we build with, has none). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (limits: { initial: number; maximum: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The assembled function, instantiated over one arena's memory. */
export interface AdamWKernel {
  /**
   * One pass over `bytes` bytes (a multiple of 16) of params, grad, m and v, each given by its
   * byte offset in the arena's memory; the scalars as in adamw.ts's UpdateConstants.
   */
  update(
    p: number, g: number, m: number, v: number, bytes: number,
    factor: number, b1: number, b2: number, c1: number, c2: number, eps: number, stepSize: number, invSqrtBc2: number, gradScale: number,
  ): void;
}

/** Parameters, gradient and AdamW moments of one model, side by side in a kernel's memory. */
export interface OptimizerArena {
  /** [P] the flat parameters */
  params: Float32Array;
  /** [P] the flat gradient */
  grad: Float32Array;
  /** [P] AdamW's first moment */
  m: Float32Array;
  /** [P] AdamW's second moment */
  v: Float32Array;
}

const PAGE = 65536;
/** wasm32 memories stop at 4 GiB: 65536 pages. */
const MAX_PAGES = 65536;

/**
 * Four zeroed [n] arrays in a fresh kernel memory, or null where the kernel cannot run (no
 * WebAssembly SIMD, or 4 n floats beyond a 4 GiB memory): the caller then keeps plain arrays
 * and adamwStep runs its scalar loop.
 */
export function createOptimizerArena(n: number): OptimizerArena | null {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`createOptimizerArena: n must be an integer ≥ 0, got ${n}`);
  const stride = Math.ceil((4 * n) / 16) * 16;
  const pages = Math.max(1, Math.ceil((4 * stride) / PAGE));
  if (pages > MAX_PAGES || !kernelModule()) return null;
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const view = (k: number) => new Float32Array(memory.buffer, k * stride, n);
  const arena = { params: view(0), grad: view(1), m: view(2), v: view(3) };
  kernels.set(memory.buffer, instantiate(memory));
  return arena;
}

/** The kernel whose memory holds all of these arrays, or null if any lies outside one. */
export function kernelFor(...arrays: Float32Array[]): AdamWKernel | null {
  const buffer = arrays[0]?.buffer;
  if (!buffer || arrays.some((a) => a.buffer !== buffer)) return null;
  return kernels.get(buffer) ?? null;
}

/** memories made by createOptimizerArena (never grown, so their buffers stay attached) */
const kernels = new WeakMap<ArrayBufferLike, AdamWKernel>();

function instantiate(memory: WasmMemory): AdamWKernel {
  const instance = new wasm.Instance(kernelModule()!, { env: { memory } });
  return { update: instance.exports.adamw as AdamWKernel['update'] };
}

let compiled: object | null | undefined;

/** The compiled module, once; null if this engine lacks fixed-width SIMD. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    const bytes = assembleKernel();
    compiled = wasm.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

// ------------------------------------------------------------------ the module's bytes

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
/** SIMD opcodes (after the 0xfd prefix), from the WebAssembly SIMD proposal's binary encoding */
const OP = { load: 0x00, store: 0x0b, splat: 0x13, sqrt: 227, add: 228, sub: 229, mul: 230, div: 231 } as const;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
const name = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];

/**
 * adamw(p, g, m, v, bytes: i32; factor, b1, b2, c1, c2, eps, stepSize, invSqrtBc2, gradScale: f32),
 * per 4-lane group at byte i (i = 0, 16, ... < bytes):
 *   g' = g·gradScale;  m' = b1·m + c1·g';  v' = b2·v + (c2·g')·g'
 *   p' = p·factor − (stepSize·m') / (√v'·invSqrtBc2 + eps)
 */
function assembleKernel(): Uint8Array {
  const P = 0, G = 1, M = 2, V = 3, BYTES = 4; // i32 parameters
  const scalars = 9; // f32 parameters 5..13, splatted into v128 locals 15..23 in the same order
  const I = 14; // i32 local: the byte index
  const [FACTOR, B1, B2, C1, C2, EPS, STEP, ISB, GS] = Array.from({ length: scalars }, (_, k) => 15 + k);
  const GV = 24, MV = 25, VV = 26; // v128 locals: g', m', v'
  const get = (x: number) => [0x20, ...leb(x)];
  const set = (x: number) => [0x21, ...leb(x)];
  const simd = (op: number, ...imm: number[]) => [0xfd, ...leb(op), ...imm];
  const memarg = [0, 0]; // no alignment promised (a range may start at any float), offset 0
  const at = (base: number) => [...get(base), ...get(I), 0x6a]; // base + i
  const load = (base: number) => [...at(base), ...simd(OP.load, ...memarg)];
  const store = (base: number, value: number[]) => [...at(base), ...value, ...simd(OP.store, ...memarg)];

  const body: number[] = [];
  for (let k = 0; k < scalars; k++) body.push(...get(5 + k), ...simd(OP.splat), ...set(15 + k));
  body.push(...get(BYTES), 0x45, 0x04, 0x40, 0x0f, 0x0b); // if bytes == 0: return
  body.push(0x03, 0x40); // loop
  body.push(...load(G), ...get(GS), ...simd(OP.mul), ...set(GV));
  body.push(...get(B1), ...load(M), ...simd(OP.mul), ...get(C1), ...get(GV), ...simd(OP.mul), ...simd(OP.add), ...set(MV));
  body.push(...store(M, get(MV)));
  body.push(...get(B2), ...load(V), ...simd(OP.mul), ...get(C2), ...get(GV), ...simd(OP.mul), ...get(GV), ...simd(OP.mul), ...simd(OP.add), ...set(VV));
  body.push(...store(V, get(VV)));
  body.push(
    ...store(P, [
      ...load(P), ...get(FACTOR), ...simd(OP.mul),
      ...get(STEP), ...get(MV), ...simd(OP.mul),
      ...get(VV), ...simd(OP.sqrt), ...get(ISB), ...simd(OP.mul), ...get(EPS), ...simd(OP.add),
      ...simd(OP.div), ...simd(OP.sub),
    ]),
  );
  // i += 16; continue while i < bytes (unsigned)
  body.push(...get(I), 0x41, 16, 0x6a, 0x22, ...leb(I), ...get(BYTES), 0x49, 0x0d, 0x00, 0x0b, 0x0b);
  const fn = [...vec([[1, I32], [12, V128]]), ...body];

  const params = [P, G, M, V, BYTES].map(() => [I32]).concat(Array.from({ length: scalars }, () => [F32]));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, vec([[0x60, ...vec(params), 0x00]])), // type: (i32 x5, f32 x9) -> ()
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]])), // import env.memory, at least 1 page
    ...section(3, vec([[0x00]])), // function 0 has type 0
    ...section(7, vec([[...name('adamw'), 0x00, 0x00]])), // export it
    ...section(10, vec([[...leb(fn.length), ...fn]])),
  ]);
}
