/** The ONNX Runtime wrapper: options, devices, feeds, and their error messages. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '../../src/graph/index.ts';
import { createSession, deviceAvailable, float32Tensor, hostTensor, scalarValue } from '../../src/graph/runtime.ts';

function tinyModel(): Uint8Array {
  const g = new Graph();
  const x = g.input('x', 'float32', [2]);
  g.output(g.reduceSum(g.mul(x, x), undefined, false), 'y');
  return serializeModel(g);
}

describe('runtime', () => {
  it('runs a session with thread and optimisation options, fetching a subset of outputs', async () => {
    const s = await createSession(tinyModel(), { threads: 1, graphOptimizationLevel: 'disabled', allowSpinning: false });
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['y']);
    const out = await s.run({ x: float32Tensor([3, 4], [2]) }, ['y']);
    expect(scalarValue(out.y!)).toBe(25);
    await s.release();
  });

  it('disabledOptimizers keeps a MatMul then Add that ORT would otherwise fuse into a Gemm', async () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [4, 3]);
    const w = g.input('w', 'float32', [3, 2]);
    const b = g.input('b', 'float32', [2]);
    g.output(g.add(g.matMul(a, w), b), 'y');
    const model = serializeModel(g);
    const feeds = { a: float32Tensor(new Array(12).fill(1), [4, 3]), w: float32Tensor(new Array(6).fill(1), [3, 2]), b: float32Tensor([1, 2], [2]) };
    const dir = mkdtempSync(join(tmpdir(), 'synehr-runtime-'));
    try {
      const opsRun = async (disabledOptimizers: string[]) => {
        const prefix = join(dir, disabledOptimizers.length ? 'off' : 'on');
        const s = await createSession(model, { threads: 1, disabledOptimizers, profileFilePrefix: prefix });
        expect(Array.from((await s.run(feeds)).y!.data as Float32Array)).toEqual([4, 5, 4, 5, 4, 5, 4, 5]);
        s.endProfiling();
        await s.release();
        const file = readdirSync(dir).find((f) => join(dir, f).startsWith(prefix))!;
        const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat?: string; args?: { op_name?: string } }[];
        return [...new Set(events.filter((e) => e.cat === 'Node').map((e) => e.args?.op_name))].sort();
      };
      expect(await opsRun([])).toEqual(['Gemm']);
      expect(await opsRun(['MatMulAddFusion'])).toEqual(['Add', 'MatMul']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("EXPECTED FAILURE - device 'cuda' without a CUDA-enabled ONNX Runtime", async () => {
    if (deviceAvailable('cuda')) return; // a CUDA build would run it instead
    await expect(createSession(tinyModel(), { device: 'cuda' })).rejects.toThrow(/device 'cuda' needs an ONNX Runtime with the CUDA execution provider.*bundles only \[cpu/);
  });

  it('BAD CALL - bad options, missing inputs, wrong data length, a corrupt model', async () => {
    await expect(createSession(tinyModel(), { threads: -1 })).rejects.toThrow(RangeError);
    await expect(createSession(tinyModel(), { device: 'tpu' as never })).rejects.toThrow(/device must be 'cpu' or 'cuda', got 'tpu'/);
    const s = await createSession(tinyModel());
    await expect(s.run({})).rejects.toThrow(/missing input 'x'/);
    expect(() => hostTensor('float32', new Float32Array(3), [2])).toThrow(/3 values for dims \[2\] \(2 expected\)/);
    await expect(createSession(new Uint8Array([1, 2, 3]))).rejects.toThrow(/ONNX Runtime rejected the model \(3 bytes\)/);
  });
});
