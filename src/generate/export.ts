/**
 * `synehr export model=<run>`: the trained weights as ONNX graphs beside the run.
 *
 *   onnx/model.onnx          KV-cache inference graph in Hugging Face GPT-2 layout
 *   config.json              transformers' GPT-2 config, so @huggingface/transformers loads the folder
 *   generation_config.json   bos/eos/pad ids and the sampling defaults of the run's config
 *   tokenizer.json, tokenizer_config.json, special_tokens_map.json, README.md
 *                            the Hugging Face tokenizer over synehr's vocabulary and the model card (hfFolder.ts)
 *   sampler.onnx             the whole grammar-constrained sampling loop (sampler.ts)
 *
 * synehr's own tokenizer stays in synehr_tokenizer.json (RUN_TOKENIZER_FILE). Each file is written
 * under a temporary name and renamed when complete. @huggingface/transformers loads the folder with
 * `AutoModelForCausalLM.from_pretrained(<run>, { local_files_only: true, dtype: 'fp32' })` and
 * `AutoTokenizer.from_pretrained(<run>, { local_files_only: true })`; test/generate/export.test.ts
 * checks its logits against synehr's graph, and its tokenizer's ids, in transformers.js and in
 * Hugging Face's Rust tokenizers, against synehr's.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { buildInferenceGraph } from '../model/gpt.ts';
import { gptParamSpecs } from '../model/params.ts';
import { decodeSafetensors, tensorToFloat32 } from '../model/safetensors.ts';
import { writeFileAtomic } from '../util/files.ts';
import type { ModelConfig } from '../model/config.ts';
import type { GenerateConfig } from './config.ts';
import { loadTokenizer } from '../tokenizer/file.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { SynehrError } from '../util/errors.ts';
import { buildSamplerGraph } from './sampler.ts';
import { RUN_TOKENIZER_FILE } from '../config/runDir.ts';
import { HF_FOLDER_FILES, hfModelCard, hfSpecialTokensMap, hfTokenizerConfig, hfTokenizerJson } from './hfFolder.ts';

export const EXPORT_FILES = ['onnx/model.onnx', 'config.json', 'generation_config.json', ...HF_FOLDER_FILES, 'sampler.onnx'] as const;

export interface TrainedRun {
  dir: string;
  tokenizer: Tokenizer;
  /** float32 weights by Hugging Face name */
  weights: Record<string, Float32Array>;
  /** sha256 of model.safetensors: the manifest and the export stamp name the weights by it */
  weightsHash: string;
}

/** Reads a run's synehr_tokenizer.json and model.safetensors, checking them against the model config. */
export async function loadTrainedRun(dir: string, model: ModelConfig): Promise<TrainedRun> {
  const tokPath = join(dir, RUN_TOKENIZER_FILE);
  const wPath = join(dir, 'model.safetensors');
  if (!existsSync(tokPath) && isSynehrTokenizerFile(join(dir, 'tokenizer.json'))) {
    throw new SynehrError(
      'E_RUN',
      `${dir} keeps synehr's tokenizer as tokenizer.json, the name of the Hugging Face tokenizer since this version: rename it to ${RUN_TOKENIZER_FILE}`,
    );
  }
  for (const [what, p] of [
    [RUN_TOKENIZER_FILE, tokPath],
    ['model.safetensors', wPath],
  ] as const) {
    if (!existsSync(p)) {
      throw new SynehrError('E_RUN', `${dir} has no ${what}: is it a finished training run? (\`synehr train run_name=<run>\` writes it)`);
    }
  }
  const tokenizer = loadTokenizer(tokPath);
  const bytes = await readFile(wPath);
  const file = decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), wPath);
  const V = tokenizer.vocab.length;
  const weights: Record<string, Float32Array> = {};
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  for (const spec of gptParamSpecs(model, V)) {
    const t = byName.get(spec.name);
    if (!t) {
      throw new SynehrError('E_RUN', `${wPath}: no tensor '${spec.name}' (the run's model config expects ${model.n_layer} layers of width ${model.n_embd})`);
    }
    if (t.shape.join(',') !== spec.shape.join(',')) {
      throw new SynehrError(
        'E_RUN',
        `${wPath}: '${spec.name}' has shape [${t.shape}], the model config and tokenizer (vocab ${V}) need [${spec.shape}]: mismatched tokenizer or config`,
      );
    }
    weights[spec.name] = tensorToFloat32(t);
  }
  const weightsHash = createHash('sha256').update(bytes).digest('hex');
  return { dir, tokenizer, weights, weightsHash };
}

/** transformers' GPT2Config for the run. */
export function hfConfig(model: ModelConfig, tok: Tokenizer): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: tok.vocab.length,
    n_positions: model.n_ctx,
    n_ctx: model.n_ctx,
    n_embd: model.n_embd,
    n_layer: model.n_layer,
    n_head: model.n_head,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    tie_word_embeddings: true,
    bos_token_id: tok.bos,
    eos_token_id: tok.eos,
    pad_token_id: tok.pad,
    use_cache: true,
    transformers_version: '4.46.0',
  };
}

export function hfGenerationConfig(tok: Tokenizer, gen: GenerateConfig, model: ModelConfig): Record<string, unknown> {
  return {
    bos_token_id: tok.bos,
    eos_token_id: tok.eos,
    pad_token_id: tok.pad,
    max_length: model.n_ctx,
    do_sample: true,
    temperature: gen.temperature,
    top_k: gen.top_k,
    top_p: gen.top_p,
  };
}

export interface ExportResult {
  files: string[];
  weightsHash: string;
  seconds: number;
}

/** Writes the four export files into the run directory (from `loaded` when the caller has read the run already). */
export async function exportRun(dir: string, model: ModelConfig, gen: GenerateConfig, loaded?: TrainedRun): Promise<ExportResult> {
  const t0 = performance.now();
  const run = loaded ?? (await loadTrainedRun(dir, model));
  const V = run.tokenizer.vocab.length;
  await mkdir(join(dir, 'onnx'), { recursive: true });
  const inference = buildInferenceGraph(model, { vocabSize: V, weights: run.weights });
  await writeFileAtomic(join(dir, 'onnx', 'model.onnx'), inference.model);
  await writeFileAtomic(join(dir, 'config.json'), json(hfConfig(model, run.tokenizer)));
  await writeFileAtomic(join(dir, 'generation_config.json'), json(hfGenerationConfig(run.tokenizer, gen, model)));
  await writeFileAtomic(join(dir, 'tokenizer.json'), json(hfTokenizerJson(run.tokenizer)));
  await writeFileAtomic(join(dir, 'tokenizer_config.json'), json(hfTokenizerConfig(run.tokenizer, model)));
  await writeFileAtomic(join(dir, 'special_tokens_map.json'), json(hfSpecialTokensMap(run.tokenizer)));
  const nParams = Object.values(run.weights).reduce((n, w) => n + w.length, 0);
  await writeFileAtomic(join(dir, 'README.md'), new TextEncoder().encode(hfModelCard(basename(dir), run.tokenizer, model, nParams)));
  await writeFileAtomic(join(dir, 'sampler.onnx'), buildSamplerGraph(model, { vocabSize: V, weights: run.weights, automaton: run.tokenizer.automaton, clock: run.tokenizer.clock() }));
  // the stamp names the weights the graphs were built from, so generate can tell a stale export
  await writeFileAtomic(join(dir, 'onnx', 'export.json'), json({ weights_sha256: run.weightsHash, tokenizer_hash: run.tokenizer.vocabHash() }));
  return { files: EXPORT_FILES.map((f) => join(dir, f)), weightsHash: run.weightsHash, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Whether the run's export exists and was built from its current model.safetensors. `loaded`
 * (the run as loadTrainedRun read it) saves reading and hashing the weights again.
 */
export async function exportIsCurrent(dir: string, loaded?: TrainedRun): Promise<boolean> {
  const stampPath = join(dir, 'onnx', 'export.json');
  if (!EXPORT_FILES.every((f) => existsSync(join(dir, f))) || !existsSync(stampPath)) return false;
  const stamp = JSON.parse(await readFile(stampPath, 'utf8')) as { weights_sha256?: string; tokenizer_hash?: string };
  const weights = join(dir, 'model.safetensors');
  const tokPath = join(dir, RUN_TOKENIZER_FILE);
  if (!existsSync(weights) || !existsSync(tokPath)) return false;
  // the sampler embeds the grammar: a replaced tokenizer makes the export stale too
  if (stamp.tokenizer_hash !== (loaded?.tokenizer ?? loadTokenizer(tokPath)).vocabHash()) return false;
  const [ws, ss] = await Promise.all([stat(weights), stat(join(dir, 'sampler.onnx'))]);
  if (ws.mtimeMs > ss.mtimeMs) return false;
  const hash = loaded?.weightsHash ?? createHash('sha256').update(await readFile(weights)).digest('hex');
  return stamp.weights_sha256 === hash;
}

/** Whether `path` is a synehr tokenizer (a run trained before the rename), not a Hugging Face one. */
function isSynehrTokenizerFile(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { kind?: unknown }).kind === 'synehr-tokenizer';
  } catch {
    return false;
  }
}

function json(x: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');
}
