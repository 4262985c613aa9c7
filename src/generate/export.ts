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
import { mkdir, readFile } from 'node:fs/promises';
import { basename, relative } from 'node:path';
import { runFiles, RUN_TOKENIZER_FILE, type RunFiles } from '../config/runPaths.ts';
import { checkRunTokenizer, fileSha256 } from '../train/runStamp.ts';
import { buildInferenceGraph, modelMemoryTable } from '../model/gpt.ts';
import { gptParamSpecs } from '../model/params.ts';
import { decodeSafetensors, tensorToFloat32 } from '../model/safetensors.ts';
import { writeFileAtomic } from '../util/files.ts';
import type { ModelConfig } from '../model/config.ts';
import type { GenerateConfig } from './config.ts';
import { loadTokenizer } from '../tokenizer/file.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { SynehrError } from '../util/errors.ts';
import { buildRunSamplerGraph } from './sampler.ts';
import { hfModelCard, hfSpecialTokensMap, hfTokenizerConfig, hfTokenizerJson } from './hfFolder.ts';

/** The files `synehr export` writes into a run directory, each named in onnx/export.json by its sha256. */
export function exportFiles(files: RunFiles): string[] {
  return [
    files.onnxModel,
    files.hfConfig,
    files.generationConfig,
    files.hfTokenizer,
    files.hfTokenizerConfig,
    files.hfSpecialTokensMap,
    files.modelCard,
    files.sampler,
  ];
}

export interface TrainedRun {
  dir: string;
  tokenizer: Tokenizer;
  /** sha256 of the run's tokenizer file, the one its run.json names */
  tokenizerHash: string;
  /** float32 weights by Hugging Face name */
  weights: Record<string, Float32Array>;
  /** sha256 of model.safetensors: the manifest and the export stamp name the weights by it */
  weightsHash: string;
}

/**
 * Reads a run's synehr_tokenizer.json and model.safetensors, checking the tokenizer against the
 * hash the run was trained with (run.json) and the weights against the model config.
 */
export async function loadTrainedRun(dir: string, model: ModelConfig): Promise<TrainedRun> {
  const files = runFiles(dir);
  const tokPath = files.tokenizer;
  const wPath = files.weights;
  if (!existsSync(tokPath) && isSynehrTokenizerFile(files.hfTokenizer)) {
    throw new SynehrError(
      'E_RUN',
      `${dir} keeps synehr's tokenizer as tokenizer.json, the name of the Hugging Face tokenizer since this version: rename it to ${RUN_TOKENIZER_FILE}`,
    );
  }
  for (const p of [wPath, files.stamp, tokPath]) {
    if (!existsSync(p)) {
      throw new SynehrError('E_RUN', `${dir} has no ${p.slice(dir.length + 1)}: is it a finished training run? (\`synehr train run_name=<run>\` writes it)`);
    }
  }
  const tokenizerHash = await checkRunTokenizer(files);
  const tokenizer = loadTokenizer(tokPath);
  const bytes = await readFile(wPath);
  const file = decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), wPath);
  const V = tokenizer.vocab.length;
  const weights: Record<string, Float32Array> = {};
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  for (const spec of gptParamSpecs(model, V)) {
    const t = byName.get(spec.name);
    if (!t && spec.refitOnly) {
      throw new SynehrError(
        'E_RUN',
        `${wPath}: no tensor '${spec.name}', which the value memory's refit writes: the run was trained before synehr had it; \`synehr train run_name=<run> resume=true\` refits the memory and adds it`,
      );
    }
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
  return { dir, tokenizer, tokenizerHash, weights, weightsHash };
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
    // the dropout the model was trained with, written even when 0: transformers' GPT2Config
    // defaults each to 0.1, which fine-tuning the folder in Python would otherwise get (synehr
    // has no attention dropout)
    embd_pdrop: model.embd_pdrop,
    resid_pdrop: model.resid_pdrop,
    attn_pdrop: 0,
    tie_word_embeddings: true,
    bos_token_id: tok.bos,
    eos_token_id: tok.eos,
    pad_token_id: tok.pad,
    use_cache: true,
    transformers_version: '4.46.0',
    // only when on, so a plain model's config.json is unchanged: the model card says what it is
    ...(model.value_memory ? { synehr_value_memory: true } : {}),
    ...(model.memory_labels ? { synehr_memory_labels: true } : {}),
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

/** Writes the export's files (exportFiles) and their stamp into the run directory (from `loaded` when the caller has read the run already). */
export async function exportRun(dir: string, model: ModelConfig, gen: GenerateConfig, loaded?: TrainedRun): Promise<ExportResult> {
  const t0 = performance.now();
  const run = loaded ?? (await loadTrainedRun(dir, model));
  const files = runFiles(dir);
  const V = run.tokenizer.vocab.length;
  await mkdir(files.onnxDir, { recursive: true });
  const memory = modelMemoryTable(model, run.tokenizer);
  const inference = buildInferenceGraph(model, { vocabSize: V, weights: run.weights, ...(memory ? { memory } : {}) });
  await writeFileAtomic(files.onnxModel, inference.model);
  await writeFileAtomic(files.hfConfig, json(hfConfig(model, run.tokenizer)));
  await writeFileAtomic(files.generationConfig, json(hfGenerationConfig(run.tokenizer, gen, model)));
  await writeFileAtomic(files.hfTokenizer, json(hfTokenizerJson(run.tokenizer)));
  await writeFileAtomic(files.hfTokenizerConfig, json(hfTokenizerConfig(run.tokenizer, model)));
  await writeFileAtomic(files.hfSpecialTokensMap, json(hfSpecialTokensMap(run.tokenizer)));
  const nParams = Object.values(run.weights).reduce((n, w) => n + w.length, 0);
  await writeFileAtomic(files.modelCard, new TextEncoder().encode(hfModelCard(basename(dir), run.tokenizer, model, nParams)));
  await writeFileAtomic(files.sampler, buildRunSamplerGraph(model, run.tokenizer, run.weights));
  // the stamp names what the files were built from and the files themselves, so generate can
  // tell an export that is stale (other weights or tokenizer) or damaged (a truncated file)
  const stamp: ExportStamp = {
    format_version: EXPORT_STAMP_VERSION,
    weights_sha256: run.weightsHash,
    tokenizer_sha256: run.tokenizerHash,
    files: Object.fromEntries(await Promise.all(exportFiles(files).map(async (f) => [relative(dir, f), await fileSha256(f)] as const))),
  };
  await writeFileAtomic(files.exportStamp, json(stamp));
  return { files: exportFiles(files), weightsHash: run.weightsHash, seconds: (performance.now() - t0) / 1000 };
}

/** onnx/export.json: what the export was built from, and the sha256 of every file it wrote (by its path in the run). */
interface ExportStamp {
  format_version: number;
  weights_sha256: string;
  tokenizer_sha256: string;
  files: Record<string, string>;
}
// 2: sampler.onnx takes value_temperature (an export from before has no such input)
// 3: a value-memory model's model.onnx takes memory_before, and both graphs add wmp's kernel
const EXPORT_STAMP_VERSION = 3;

/**
 * Whether the run's export exists, is whole, and was built from its current weights and tokenizer.
 * `loaded` (the run as loadTrainedRun read it) saves reading and hashing the weights again.
 */
export async function exportIsCurrent(dir: string, loaded?: TrainedRun): Promise<boolean> {
  const files = runFiles(dir);
  const written = exportFiles(files);
  if (!written.every((f) => existsSync(f)) || !existsSync(files.exportStamp)) return false;
  let stamp: Partial<ExportStamp>;
  try {
    stamp = JSON.parse(await readFile(files.exportStamp, 'utf8')) as Partial<ExportStamp>;
  } catch {
    return false;
  }
  if (stamp.format_version !== EXPORT_STAMP_VERSION || !existsSync(files.weights)) return false;
  // the sampler embeds the grammar: another tokenizer makes the export stale too
  const tokenizerHash = loaded?.tokenizerHash ?? (await checkRunTokenizer(files));
  if (stamp.tokenizer_sha256 !== tokenizerHash) return false;
  const weightsHash = loaded?.weightsHash ?? (await fileSha256(files.weights));
  if (stamp.weights_sha256 !== weightsHash) return false;
  for (const f of written) if (stamp.files?.[relative(dir, f)] !== (await fileSha256(f))) return false;
  return true;
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
