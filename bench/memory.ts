/**
 * What the value memory (model.value_memory) costs a training step, side by side in one run:
 * the default model config (configs/model/gpt-small.yaml) with and without the memory, one full
 * loss-and-gradient step each on the same packed windows of the real PhysioNet 2012 training
 * split, the two interleaved step by step so that a machine whose speed drifts moves both alike.
 * It prints each one's median step and tokens/s and the ratio.
 *
 *   npx tsx bench/memory.ts [--steps 10] [--warmup 2] [--threads 2] [--vs n_embd=96,n_head=2]
 *
 * With `--vs`, the second arm is not the memory switched off but the default config with those
 * model keys changed (integers), so a shape's cost per update can be read against the default's
 * before a quality run gives it the same minutes (docs/quality.md, "Width against steps").
 *
 * Needs the prepared and tokenized set (`npx synehr tokenize data=physionet2012`, or any
 * `npm start`): the memory's input comes from the tokenizer's memory table and real token ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { modelConfigSchema, type ModelConfig } from '../src/model/config.ts';
import { modelMemoryTable } from '../src/model/gpt.ts';
import { initParams, paramLayout } from '../src/model/init.ts';
import { trainedParamSpecs } from '../src/model/params.ts';
import { loadTokenizer } from '../src/tokenizer/file.ts';
import { readTokenShard } from '../src/tokenizer/shards.ts';
import { TrainBatchStream } from '../src/train/batches.ts';
import { trainConfigSchema } from '../src/train/config.ts';
import { gptRunnerFactory } from '../src/train/gptRunner.ts';
import { Rng } from '../src/util/rng.ts';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string): number => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback);
};
const STEPS = arg('steps', '10');
const WARMUP = arg('warmup', '2');
const THREADS = arg('threads', '2');
const vsAt = process.argv.indexOf('--vs');
const vs = vsAt >= 0 ? process.argv[vsAt + 1] : undefined;

const tokenizerFile = join(ROOT, 'tokenizer', 'physionet2012', 'tokenizer.json');
const shardFile = join(ROOT, 'data', 'processed', 'physionet2012', 'tokens', 'train.bin');
for (const f of [tokenizerFile, shardFile]) {
  if (!existsSync(f)) throw new Error(`bench/memory: ${f} not found; run \`npx synehr tokenize data=physionet2012\` first`);
}
const tok = loadTokenizer(tokenizerFile);
const shard = readTokenShard(shardFile);
const base = modelConfigSchema.parse(YAML.parse(readFileSync(join(ROOT, 'configs', 'model', 'gpt-small.yaml'), 'utf8')));
const B = trainConfigSchema.parse(YAML.parse(readFileSync(join(ROOT, 'configs', 'train', 'default.yaml'), 'utf8')) ?? {}).batch_size;
const T = base.n_ctx;
const V = tok.vocabSize;

/** `--vs k=v,k=v` as model keys over the default config, each value an integer. */
function vsConfig(spec: string): ModelConfig {
  const changed: Record<string, number> = {};
  for (const pair of spec.split(',')) {
    const [key, value] = pair.split('=');
    if (!key || !(key in base) || typeof base[key as keyof ModelConfig] !== 'number' || !/^\d+$/.test(value ?? '')) {
      throw new Error(`bench/memory: --vs ${JSON.stringify(pair)}: expected <numeric model key>=<integer>, e.g. n_embd=96`);
    }
    changed[key] = Number(value);
  }
  return modelConfigSchema.parse({ ...base, ...changed });
}
const arms: { label: string; cfg: ModelConfig }[] = vs
  ? [
      { label: `default (C${base.n_embd} H${base.n_head} L${base.n_layer})`, cfg: base },
      { label: vs, cfg: vsConfig(vs) },
    ]
  : [
      { label: 'plain GPT', cfg: { ...base, value_memory: false } },
      { label: 'value memory', cfg: { ...base, value_memory: true } },
    ];

const variants = await Promise.all(
  arms.map(async ({ label, cfg }) => {
    const layout = paramLayout(trainedParamSpecs(cfg, V));
    const params = initParams(layout, new Rng(0));
    const factory = gptRunnerFactory(cfg, { threads: THREADS }, modelMemoryTable(cfg, tok) ?? undefined);
    return { label, params, grad: new Float32Array(layout.total), runner: await factory({ layout, params, B, T, vocabSize: V }), ms: [] as number[] };
  }),
);
const stream = TrainBatchStream.start(shard, B, T, tok.pad, new Rng(1));
console.log(`${vs ? `step cost of ${vs}` : 'value memory step cost'}: gpt-small (L${base.n_layer} C${base.n_embd}), B ${B} x T ${T}, V ${V}, ${THREADS} threads; ${WARMUP} warm-up and ${STEPS} timed steps each, interleaved`);
for (let i = 0; i < WARMUP + STEPS; i++) {
  const batch = stream.next();
  for (const v of variants) {
    const t0 = performance.now();
    await v.runner.lossAndGrad(batch, v.params, v.grad, 1, false, i);
    if (i >= WARMUP) v.ms.push(performance.now() - t0);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const medians = variants.map((v) => median(v.ms));
const width = Math.max(...arms.map((a) => a.label.length));
for (const [k, v] of variants.entries()) {
  const m = medians[k]!;
  console.log(`  ${v.label.padEnd(width)}: median step ${m.toFixed(0)} ms, ${Math.round((B * T) / (m / 1000))} tokens/s; steps ${v.ms.map((x) => x.toFixed(0)).join(', ')} ms`);
}
console.log(`  ${arms[1]!.label}'s step / ${arms[0]!.label}'s: ${(medians[1]! / medians[0]!).toFixed(3)}`);
for (const v of variants) await v.runner.release();
