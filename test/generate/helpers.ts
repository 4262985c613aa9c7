/**
 * Shared pieces of the generate tests: a toy trained run (a tokenizer fitted on generated records
 * and random weights, written as a run directory the way `synehr train` writes one).
 */
import fc from 'fast-check';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/model/config.ts';
import { initParams, paramLayout, paramsToTensors, paramViews } from '../../src/model/init.ts';
import { gptParamSpecs } from '../../src/model/params.ts';
import { encodeSafetensors } from '../../src/model/safetensors.ts';
import { writeFileAtomic } from '../../src/util/files.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { saveTokenizer } from '../../src/tokenizer/file.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { runFiles } from '../../src/config/runPaths.ts';
import { fileSha256, writeRunStamp } from '../../src/train/runStamp.ts';
import { Rng } from '../../src/util/rng.ts';
import { cohortArb } from '../tokenizer/helpers.ts';

export const toyModel: ModelConfig = { name: 'generate-test', n_layer: 2, n_embd: 32, n_head: 2, n_ctx: 96, init_std: 0.02, embd_pdrop: 0, resid_pdrop: 0, value_memory: false, memory_labels: false };

export interface ToyRun {
  dir: string;
  model: ModelConfig;
  tok: Tokenizer;
  weights: Record<string, Float32Array>;
  cohort: PatientRecord[];
}

/** Random weights with a large init (std 0.3) so the logits are far from uniform. */
export function randomWeights(model: ModelConfig, V: number, seed: number, std = 0.3): Record<string, Float32Array> {
  const specs = gptParamSpecs({ ...model, init_std: std }, V);
  const layout = paramLayout(specs);
  const views = paramViews(layout, initParams(layout, new Rng(seed)));
  const w: Record<string, Float32Array> = {};
  specs.forEach((s, i) => (w[s.name] = views[i]!));
  return w;
}

/** A run directory with synehr_tokenizer.json, run.json naming it by hash, and model.safetensors. */
export async function writeRun(dir: string, tok: Tokenizer, o: { seed: number; model?: ModelConfig }): Promise<ToyRun> {
  const model = o.model ?? toyModel;
  await mkdir(dir, { recursive: true });
  const files = runFiles(dir);
  saveTokenizer(tok, files.tokenizer);
  await writeRunStamp(files, { data: 'toy', tokenizer_sha256: await fileSha256(files.tokenizer) });
  const V = tok.vocab.length;
  const specs = gptParamSpecs({ ...model, init_std: 0.3 }, V);
  const layout = paramLayout(specs);
  const flat = initParams(layout, new Rng(o.seed));
  await writeFileAtomic(join(dir, 'model.safetensors'), encodeSafetensors(paramsToTensors(layout, flat)));
  const weights: Record<string, Float32Array> = {};
  paramViews(layout, flat).forEach((v, i) => (weights[specs[i]!.name] = v));
  const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 11 })[0]!;
  return { dir, model, tok, weights, cohort };
}
