/**
 * Benchmark: how closely a trained model's next value of a variable stays near that variable's
 * previous value, under teacher forcing on real patients, against what the real series do
 * (docs/quality.md, "The value memory").
 *
 *   npx tsx bench/conditionals.ts saved_models/<run> [--patients 150] [--split val|train] [--variables BUN,ALP,...]
 *
 * For each of the first N patients of the split's token shard (the run's data.processed_dir), one
 * forward pass of the run's onnx/model.onnx over the patient's tokens gives the logits at every
 * position. At each position whose next token is a value of a listed variable that has an earlier
 * value, it takes the model's distribution over that variable's bins (its logits renormalized over
 * them) and scores:
 *  - the probability of the previous value's bin, against whether the real next value is in it;
 *  - the expected distance in bins from the previous value, against the real distance;
 *  - where the variable has two earlier values, the slope of the next step on the step into the
 *    latest value (Σ step_in · next step / Σ step_in², pooled), the model's expected next step
 *    against the real one: negative where a move tends to be undone (bench/drift.ts reads the
 *    same of sampled series).
 * It also scores, for every variable, how often the model expects it to be measured for the first
 * time and measured again: at each position, the probability (over the whole vocabulary) of the
 * variable's tokens, summed over the positions where the patient has no value of it yet and over
 * those where it has, against the real counts of first and later values that follow. A model
 * that fits the training split puts these ratios near 1 there (docs/quality.md, "Calibrating the
 * memory").
 * The run must be exported (`synehr export`, or any pipeline run).
 */
import { TokenClass } from '../src/tokenizer/vocabulary.ts';
import { loadRunForward } from './runForward.ts';
import { taker } from './args.ts';

const argv = process.argv.slice(2);
const take = taker(argv);
const patients = Number(take('--patients', '150'));
const split = take('--split', 'val');
const names = take('--variables', 'BUN,ALP,Bilirubin,Creatinine,PaCO2,HCT,HR,Temp').split(',');
const run = argv[0];
if (!run) throw new Error('bench/conditionals: give a run directory, e.g. saved_models/quality-default-s1');
const { tok, shard, memory, nCtx, logits: forward } = await loadRunForward(run, split, 'bench/conditionals');
const V = tok.vocabSize;
const J = tok.variables.length;
const wanted = names.map((n) => {
  const j = tok.variableIndex.get(n);
  if (j === undefined) throw new Error(`bench/conditionals: --variables names '${n}', which the tokenizer does not have (it has ${tok.variables.map((v) => v.name).join(', ')})`);
  return j;
});
const acc = new Map(wanted.map((j) => [j, { p: 0, same: 0, dist: 0, realDist: 0, n: 0, sxx: 0, sxyModel: 0, sxyReal: 0, pairs: 0 }]));
// per variable: expected and real first values, expected and real later ones
const hazard = { first: new Float64Array(J), realFirst: new Float64Array(J), again: new Float64Array(J), realAgain: new Float64Array(J) };
const mass = new Float64Array(J);
const w = new Float64Array(V); // one position's exp(logit − max), over the whole vocabulary
const P = Math.min(patients, shard.offsets.length - 1);
for (let pt = 0; pt < P; pt++) {
  const ids = Array.from(shard.ids.subarray(shard.offsets[pt]!, shard.offsets[pt + 1]!)).slice(0, nCtx);
  const S = ids.length;
  const logits = await forward(ids);
  const last = new Int32Array(J).fill(-1);
  const before = new Int32Array(J).fill(-1); // the value before the latest
  for (let t = 0; t + 1 < S; t++) {
    if (tok.tokenClass[ids[t]!] === TokenClass.measurement) {
      const j = tok.tokenOwner[ids[t]!]!;
      before[j] = last[j]!;
      last[j] = ids[t]!;
    }
    const next = ids[t + 1]!;
    const at = logits.subarray(t * V, (t + 1) * V);
    let top = -Infinity;
    for (const x of at) top = Math.max(top, x);
    let zAll = 0;
    mass.fill(0);
    for (let v = 0; v < V; v++) {
      const e = (w[v] = Math.exp(at[v]! - top));
      zAll += e;
      if (tok.tokenClass[v] === TokenClass.measurement) mass[tok.tokenOwner[v]!] += e;
    }
    const nextOwner = tok.tokenClass[next] === TokenClass.measurement ? tok.tokenOwner[next]! : -1;
    for (let j = 0; j < J; j++) {
      const seen = last[j]! >= 0;
      (seen ? hazard.again : hazard.first)[j] += mass[j]! / zAll;
      if (nextOwner === j) (seen ? hazard.realAgain : hazard.realFirst)[j]++;
    }
    if (nextOwner < 0) continue;
    const j = nextOwner;
    const a = acc.get(j);
    if (!a || last[j]! < 0) continue;
    // the variable's bins, renormalized: its slice of the position's exps over their sum
    const v = tok.variables[j]!;
    const n = v.type === 'categorical' ? v.categories!.values.length : v.bins!.edges.length - 1;
    const bins = w.subarray(v.offset, v.offset + n);
    const z = bins.reduce((s, x) => s + x, 0);
    const prev = last[j]! - v.offset;
    a.p += bins[prev]! / z;
    a.dist += bins.reduce((s, x, k) => s + (x / z) * Math.abs(k - prev), 0);
    a.same += next === last[j] ? 1 : 0;
    a.realDist += Math.abs(next - last[j]!);
    a.n++;
    if (before[j]! >= 0) {
      // the step into the latest value against the next step: the model's expected one and the real one
      const stepIn = last[j]! - before[j]!;
      a.sxx += stepIn * stepIn;
      a.sxyModel += stepIn * bins.reduce((s, x, k) => s + (x / z) * (k - prev), 0);
      a.sxyReal += stepIn * (next - last[j]!);
      a.pairs++;
    }
  }
}
console.log(`bench/conditionals: ${run}, ${P} patients of ${split}${memory ? ', value memory' : ''}`);
console.log('variable     | values | same bin: model, real | distance in bins: model, real | next step on the last one: pairs, slope model, real');
for (const [j, a] of acc) {
  const f = (x: number) => (a.n ? (x / a.n).toFixed(3) : '—');
  const slope = (x: number) => (a.sxx > 0 ? (x / a.sxx).toFixed(3) : '—');
  console.log(`${tok.variables[j]!.name.padEnd(12)} | ${String(a.n).padStart(6)} | ${f(a.p)}, ${f(a.same)} | ${f(a.dist)}, ${f(a.realDist)} | ${a.pairs}, ${slope(a.sxyModel)}, ${slope(a.sxyReal)}`);
}
console.log('\nvariable     | first values: model, real, ratio | later values: model, real, ratio');
const ratio = (x: number, y: number) => (y > 0 ? (x / y).toFixed(2) : '—');
const sum = (a: Float64Array) => a.reduce((s, x) => s + x, 0);
for (let j = 0; j < J; j++) {
  const [f1, r1, f2, r2] = [hazard.first[j]!, hazard.realFirst[j]!, hazard.again[j]!, hazard.realAgain[j]!];
  console.log(`${tok.variables[j]!.name.padEnd(12)} | ${f1.toFixed(1)}, ${r1}, ${ratio(f1, r1)} | ${f2.toFixed(1)}, ${r2}, ${ratio(f2, r2)}`);
}
console.log(`${'all'.padEnd(12)} | ${sum(hazard.first).toFixed(1)}, ${sum(hazard.realFirst)}, ${ratio(sum(hazard.first), sum(hazard.realFirst))} | ${sum(hazard.again).toFixed(1)}, ${sum(hazard.realAgain)}, ${ratio(sum(hazard.again), sum(hazard.realAgain))}`);
