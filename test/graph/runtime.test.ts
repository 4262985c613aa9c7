/** The ONNX Runtime wrapper: options, devices, feeds, and their error messages. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '../../src/graph/index.ts';
import { createSession, createSessionFromFile, deviceAvailable, float32Tensor, hostTensor, scalarValue, toNumbers } from '../../src/graph/runtime.ts';
import { SynehrError } from '../../src/util/errors.ts';

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

  // one of the two runs on any machine: the refusal without the CUDA provider, the run with it
  it.runIf(!deviceAvailable('cuda'))("EXPECTED FAILURE - device 'cuda' without a CUDA-enabled ONNX Runtime: a user's mistake (E_DEVICE), one line", async () => {
    const e = await createSession(tinyModel(), { device: 'cuda' }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(SynehrError);
    expect(e).toMatchObject({ code: 'E_DEVICE', message: expect.stringMatching(/^device 'cuda' needs an ONNX Runtime with the CUDA execution provider.*bundles only \[cpu.*or use train\.device=cpu\)$/) });
    expect((e as Error).message).not.toContain('\n');
  });

  it.runIf(deviceAvailable('cuda'))("device 'cuda' with the CUDA provider computes what the CPU computes", async () => {
    const x = float32Tensor([3, -4], [2]);
    const [cpu, cuda] = await Promise.all([createSession(tinyModel()), createSession(tinyModel(), { device: 'cuda' })]);
    expect(cuda.device).toBe('cuda');
    expect(toNumbers((await cuda.run({ x })).y!)).toEqual(toNumbers((await cpu.run({ x })).y!));
  });

  it('EXPECTED FAILURE - a truncated or missing .onnx file is an E_ONNX error naming it (defect 8)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synehr-runtime-'));
    try {
      const whole = join(dir, 'whole.onnx');
      const cut = join(dir, 'sampler.onnx');
      const model = tinyModel();
      writeFileSync(whole, model);
      writeFileSync(cut, model.subarray(0, Math.floor(model.length / 2)));
      expect(scalarValue((await (await createSessionFromFile(whole)).run({ x: float32Tensor([3, 4], [2]) })).y!)).toBe(25);
      const e = await createSessionFromFile(cut).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(SynehrError);
      expect(e).toMatchObject({ code: 'E_ONNX', message: expect.stringMatching(new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ONNX Runtime cannot load it \\(.+\\); the file is damaged or truncated: export the run again`)) });
      await expect(createSessionFromFile(join(dir, 'nothing.onnx'))).rejects.toMatchObject({ code: 'E_ONNX', message: expect.stringContaining(`${join(dir, 'nothing.onnx')}: cannot read`) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
