/**
 * Benchmark: how well a trained model predicts a patient's main label from the record before it,
 * under teacher forcing on real patients (docs/quality.md, "Where the labels sit, and the label's weight").
 *
 *   npx tsx bench/labelPrediction.ts saved_models/<run> [saved_models/<run> ...] [--split val|train] [--label NAME]
 *
 * For each patient of the split's token shard (the run's data.processed_dir), one forward pass of
 * the run's onnx/model.onnx over the tokens before the label's value gives the model's
 * distribution over that label's values (its logits renormalized over them). With the labels
 * after the series (tokenizer.label_position=last) that is the model's own classifier of the
 * whole record, the one that labels its synthetic records; with the labels first it sees the
 * covariates only. For a binary label it prints the AUROC of P(second value) against the real
 * label, the mean log loss, and the mean predicted share against the real one. The runs must be
 * exported (`synehr export`, or any pipeline run).
 */
import { auroc } from '../src/evaluate/stats.ts';
import { TokenClass } from '../src/tokenizer/vocabulary.ts';
import { loadRunForward } from './runForward.ts';
import { taker } from './args.ts';

const argv = process.argv.slice(2);
const take = taker(argv);
const split = take('--split', 'val');
const labelName = take('--label', '');
if (argv.length === 0) throw new Error('bench/labelPrediction: give one or more run directories, e.g. saved_models/quality-default-s1');

console.log('run | label | position | patients | AUROC | log loss | predicted share | real share');
for (const run of argv) {
  const { tok, shard, nCtx, logits } = await loadRunForward(run, split, 'bench/labelPrediction');
  const name = labelName || tok.labels[0]?.name;
  const li = name === undefined ? undefined : tok.labelIndex.get(name);
  if (name === undefined || li === undefined) throw new Error(`bench/labelPrediction: ${run}: the tokenizer has no label ${name ?? ''} (it has ${tok.labels.map((l) => l.name).join(', ') || 'none'})`);
  const values = tok.labels[li]!.values;
  if (!values || values.length !== 2) throw new Error(`bench/labelPrediction: label '${name}' has values ${JSON.stringify(values ?? null)}: expected a binary label`);
  const first = tok.labels[li]!.offset; // the tokens of values[0] and values[1]
  const V = tok.vocabSize;
  const scores: number[] = [];
  const truth: number[] = [];
  let logLoss = 0;
  let tooLong = 0;
  for (let p = 0; p + 1 < shard.offsets.length; p++) {
    const ids = Array.from(shard.ids.subarray(shard.offsets[p]!, shard.offsets[p + 1]!));
    const at = ids.findIndex((t) => tok.tokenClass[t] === TokenClass.label && tok.tokenOwner[t] === li);
    if (at < 0) throw new Error(`bench/labelPrediction: patient ${p} of ${split} has no token of label '${name}'`);
    const k = ids[at]! - first;
    if (k !== 0 && k !== 1) continue; // the label's missing token: no value to score
    if (at > nCtx) {
      tooLong++;
      continue;
    }
    const l = await logits(ids.slice(0, at));
    const row = l.subarray((at - 1) * V, at * V);
    const [a, b] = [row[first]!, row[first + 1]!];
    const p1 = 1 / (1 + Math.exp(a - b));
    scores.push(p1);
    truth.push(k);
    logLoss -= Math.log(Math.max(k === 1 ? p1 : 1 - p1, 1e-12));
  }
  const n = scores.length;
  const where = tok.labelsLast ? 'last' : 'first';
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  console.log(`${run} | ${name} | ${where} | ${n}${tooLong ? ` (${tooLong} past n_ctx left out)` : ''} | ${auroc(scores, truth).toFixed(3)} | ${(logLoss / n).toFixed(4)} | ${mean(scores).toFixed(3)} | ${mean(truth).toFixed(3)}`);
}
