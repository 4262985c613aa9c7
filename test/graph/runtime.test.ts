/** The ONNX Runtime wrapper: options, devices, feeds, and their error messages. */
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
