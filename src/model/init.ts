import type { ParamSpec } from './params.ts';
import type { Rng } from '../util/rng.ts';
import { SynehrError } from '../util/errors.ts';
import type { SafetensorsFile, TensorToWrite } from './safetensors.ts';
import { tensorToFloat32 } from './safetensors.ts';

/**
 * All of a model's parameters live in one Float32Array, in gptParamSpecs order; each parameter is a
 * row-major subarray view of it (llm.c's layout), so AdamW, clipping and checkpoints run over one
 * buffer and the views feed the graph's parameter inputs without copies.
 *
 *   flat = [ p0 (size0) | pad | p1 (size1) | pad | ... ]   offsets[i] = start of parameter i
 *
 * Each parameter starts on a multiple of ALIGN floats (64 bytes, a cache line and an AVX-512
 * vector), which keeps ONNX Runtime's kernels on aligned loads. The padding floats stay 0: their
 * gradient is always 0, so AdamW never moves them.
 */
export const ALIGN = 16;

export interface ParamLayout {
  specs: readonly ParamSpec[];
  /** start of each parameter in the flat array, in floats */
  offsets: number[];
  /** element count of each parameter */
  sizes: number[];
  /** length of the flat array, padding included */
  total: number;
}

export function paramLayout(specs: readonly ParamSpec[]): ParamLayout {
  const offsets: number[] = [];
  const sizes: number[] = [];
  let at = 0;
  for (const s of specs) {
    at = Math.ceil(at / ALIGN) * ALIGN;
    const n = s.shape.reduce((a, b) => a * b, 1);
    offsets.push(at);
    sizes.push(n);
    at += n;
  }
  return { specs, offsets, sizes, total: Math.ceil(at / ALIGN) * ALIGN };
}

/** One view per parameter into `flat` (which must have layout.total floats). */
export function paramViews(layout: ParamLayout, flat: Float32Array): Float32Array[] {
  if (flat.length !== layout.total) {
    throw new RangeError(`flat parameter array has ${flat.length} floats, the layout needs ${layout.total}`);
  }
  return layout.specs.map((_, i) => flat.subarray(layout.offsets[i]!, layout.offsets[i]! + layout.sizes[i]!));
}

/**
 * Draw initial parameters: N(0, std^2) for 'normal', constants for 'zeros' and 'ones'. Parameters
 * are drawn in spec order, element by element, so a seed fixes every weight.
 */
export function initParams(layout: ParamLayout, rng: Rng): Float32Array {
  const flat = new Float32Array(layout.total);
  paramViews(layout, flat).forEach((v, i) => {
    const spec = layout.specs[i]!;
    if (spec.init === 'ones') v.fill(1);
    else if (spec.init === 'normal') for (let j = 0; j < v.length; j++) v[j] = rng.normal() * spec.std;
  });
  return flat;
}

/** The parameters as safetensors tensors (views, no copies), named as Hugging Face GPT-2 names them. */
export function paramsToTensors(layout: ParamLayout, flat: Float32Array): TensorToWrite[] {
  return paramViews(layout, flat).map((data, i) => ({
    name: layout.specs[i]!.name,
    dtype: 'F32',
    shape: layout.specs[i]!.shape,
    data,
  }));
}

/**
 * Fill a flat array from a safetensors file: every parameter of the layout must be there with its
 * exact shape; extra tensors are refused so that a file of another model is not half-loaded.
 */
export function paramsFromSafetensors(layout: ParamLayout, file: SafetensorsFile, source: string): Float32Array {
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const flat = new Float32Array(layout.total);
  const views = paramViews(layout, flat);
  layout.specs.forEach((spec, i) => {
    const t = byName.get(spec.name);
    if (!t) throw new SynehrError('E_CHECKPOINT', `${source}: parameter '${spec.name}' is missing`);
    if (t.shape.join(',') !== spec.shape.join(',')) {
      throw new SynehrError(
        'E_CHECKPOINT',
        `${source}: parameter '${spec.name}' has shape [${t.shape.join(', ')}], the model expects [${spec.shape.join(', ')}]`,
      );
    }
    views[i]!.set(tensorToFloat32(t));
    byName.delete(spec.name);
  });
  if (byName.size > 0) {
    throw new SynehrError('E_CHECKPOINT', `${source}: tensors the model does not have: ${[...byName.keys()].slice(0, 5).join(', ')}`);
  }
  return flat;
}
