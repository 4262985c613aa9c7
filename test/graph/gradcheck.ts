/** Finite-difference checks of grad() in float64: a test helper, not a test file. */
import { Graph, grad, serializeModel, type Tensor } from '../../src/graph/index.ts';
import { createSession, float64Tensor, scalarValue, type HostTensor } from '../../src/graph/runtime.ts';
import { Rng } from '../../src/util/rng.ts';

export interface CheckInput {
  shape: number[];
  /** sample values (default N(0,1)) */
  init?: (rng: Rng) => number;
}

export interface CheckResult {
  maxRelErr: number;
  worst: string;
  checked: number;
  /** the tape ops the backward pass went through */
  ops: string[];
}

/**
 * Builds loss = Σ f(xs) · R (R a fixed random weight) in float64, appends grad(), and compares
 * every gradient coordinate against central differences of the same graph's loss.
 */
export async function gradCheck(
  inputs: CheckInput[],
  f: (g: Graph, xs: Tensor[]) => Tensor,
  seed = 1,
  eps = 1e-6,
): Promise<CheckResult> {
  const rng = new Rng(seed);
  const g = new Graph('gradcheck');
  const xs = inputs.map((s, i) => g.input(`x${i}`, 'float64', s.shape));
  const y = f(g, xs);
  const ys = y.staticShape;
  if (!ys) throw new Error(`gradCheck: output ${y} must have a static shape`);
  const r = Float64Array.from({ length: ys.reduce((a, b) => a * b, 1) }, () => rng.normal());
  const tapeOps = [...new Set(g.tape.map((e) => e.op))];
  const loss = g.reduceSum(g.mul(y, g.constant(r, 'float64', ys, 'R')), undefined, false);
  g.output(loss, 'loss');
  const grads = grad(loss, xs);
  grads.forEach((d, i) => g.output(d, `grad_x${i}`));
  const session = await createSession(serializeModel(g), { threads: 1 });
  const values = inputs.map((s) => Float64Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => (s.init ?? ((q: Rng) => q.normal()))(rng)));
  const feeds = (): Record<string, HostTensor> => Object.fromEntries(values.map((v, i) => [`x${i}`, float64Tensor(v, inputs[i]!.shape)]));
  const out = await session.run(feeds());
  let maxRelErr = 0;
  let worst = '';
  let checked = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const an = out[`grad_x${i}`]!.data as Float64Array;
    if (an.length !== v.length) throw new Error(`gradCheck: grad_x${i} has ${an.length} values, input has ${v.length}`);
    for (let j = 0; j < v.length; j++) {
      const o = v[j]!;
      v[j] = o + eps;
      const lp = scalarValue((await session.run(feeds(), ['loss'])).loss!);
      v[j] = o - eps;
      const lm = scalarValue((await session.run(feeds(), ['loss'])).loss!);
      v[j] = o;
      const fd = (lp - lm) / (2 * eps);
      // the floor keeps FD round-off (≈ 1e-16 · loss / eps) on near-zero gradients from counting as error
      const err = Math.abs(fd - an[j]!) / Math.max(1e-2, Math.abs(fd) + Math.abs(an[j]!));
      checked++;
      if (err > maxRelErr) {
        maxRelErr = err;
        worst = `x${i}[${j}]: analytic ${an[j]} vs fd ${fd}`;
      }
    }
  }
  await session.release();
  return { maxRelErr, worst, checked, ops: tapeOps };
}
