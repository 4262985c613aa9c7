import { describe, expect, it } from 'vitest';
import { ALIGN, initParams, paramLayout, paramViews, paramsFromSafetensors, paramsToTensors } from '../../src/model/init.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { modelConfigSchema } from '../../src/model/config.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/model/safetensors.ts';
import { Rng } from '../../src/util/rng.ts';

const cfg = modelConfigSchema.parse({ n_layer: 2, n_embd: 32, n_head: 2, n_ctx: 16 });
const specs = gptParamSpecs(cfg, 50);

describe('flat parameters', () => {
  it('lays parameters out in spec order, aligned, without overlap', () => {
    const l = paramLayout(specs);
    l.offsets.forEach((o, i) => {
      expect(o % ALIGN).toBe(0);
      if (i > 0) expect(o).toBeGreaterThanOrEqual(l.offsets[i - 1]! + l.sizes[i - 1]!);
      expect(l.sizes[i]).toBe(specs[i]!.shape.reduce((a, b) => a * b, 1));
    });
    expect(l.total).toBeGreaterThanOrEqual(l.offsets.at(-1)! + l.sizes.at(-1)!);
  });

  it('draws each kind of init as specified and leaves padding at zero; a seed fixes every weight', () => {
    const l = paramLayout(specs);
    const flat = initParams(l, new Rng(1));
    const views = paramViews(l, flat);
    specs.forEach((s, i) => {
      const v = views[i]!;
      if (s.init === 'ones') expect(v.every((x) => x === 1)).toBe(true);
      else if (s.init === 'zeros') expect(v.every((x) => x === 0)).toBe(true);
      else if (v.length >= 1000) {
        const sd = Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
        expect(Math.abs(sd - s.std) / s.std).toBeLessThan(0.1);
      }
    });
    const covered = new Uint8Array(l.total);
    l.offsets.forEach((o, i) => covered.fill(1, o, o + l.sizes[i]!));
    expect(flat.every((x, j) => covered[j] === 1 || x === 0)).toBe(true);
    expect(Buffer.from(initParams(l, new Rng(1)).buffer).equals(Buffer.from(flat.buffer))).toBe(true);
    // views share the flat array's memory
    views[0]![0] = 42;
    expect(flat[l.offsets[0]!]).toBe(42);
  });

  it('round-trips through safetensors with Hugging Face names', () => {
    const l = paramLayout(specs);
    const flat = initParams(l, new Rng(2));
    const file = decodeSafetensors(encodeSafetensors(paramsToTensors(l, flat), { format: 'pt' }));
    expect(file.tensors[0]!.name).toBe('transformer.wte.weight');
    expect(Buffer.from(paramsFromSafetensors(l, file, 'm.safetensors').buffer).equals(Buffer.from(flat.buffer))).toBe(true);
  });

  it('EXPECTED FAILURE - weights of another model shape or with a tensor missing', () => {
    const l = paramLayout(specs);
    const other = paramLayout(gptParamSpecs({ ...cfg, n_embd: 16 }, 50));
    const file = decodeSafetensors(encodeSafetensors(paramsToTensors(other, initParams(other, new Rng(3)))));
    expect(() => paramsFromSafetensors(l, file, 'm.safetensors')).toThrowError(
      "m.safetensors: parameter 'transformer.wte.weight' has shape [50, 16], the model expects [50, 32]",
    );
    const missing = decodeSafetensors(encodeSafetensors(paramsToTensors(l, initParams(l, new Rng(3))).slice(1)));
    expect(() => paramsFromSafetensors(l, missing, 'm.safetensors')).toThrowError("m.safetensors: parameter 'transformer.wte.weight' is missing");
  });
});
