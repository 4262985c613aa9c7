/**
 * Where every artifact between the stages lives, named once. Commands and stages take their paths
 * from here instead of joining folder names themselves (DESIGN.md, "Run directory"):
 *
 *   data/processed/<data>/          dataPaths(): the four tables, split.json, data.json, tokens/<split>.bin
 *   tokenizer/<data>/tokenizer.json dataPaths().tokenizer: the fitted tokenizer
 *   saved_models/<run>/             runFiles(): config, the run's tokenizer copy, run.json, weights,
 *                                   checkpoints, the export, pipeline.json, eval/
 *   data/synthetic/<run>/           runPaths().synthetic (or generate.out_dir): tables + manifest.json
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataConfig } from '../records/dataConfig.ts';
import { processedDir } from '../records/dataConfig.ts';
import { SynehrError } from '../util/errors.ts';
import type { SynehrConfig } from './types.ts';

/**
 * synehr's own tokenizer (vocabulary, bins, grammar) in a run directory: the copy the run was
 * trained with. Not `tokenizer.json`: that name belongs to the Hugging Face tokenizer
 * `synehr export` writes beside it, which AutoTokenizer loads.
 */
export const RUN_TOKENIZER_FILE = 'synehr_tokenizer.json';

/** The files of one run directory. */
export interface RunFiles {
  dir: string;
  /** the resolved config and the command line's overrides */
  config: string;
  overrides: string;
  /** synehr's copy of the tokenizer the run was trained with (RUN_TOKENIZER_FILE) */
  tokenizer: string;
  /** run.json: what the run was trained from (src/train/runStamp.ts) */
  stamp: string;
  /** the best weights */
  weights: string;
  checkpoints: string;
  /** the Hugging Face layout's graph and the export's stamp beside it */
  onnxDir: string;
  onnxModel: string;
  exportStamp: string;
  hfConfig: string;
  generationConfig: string;
  /** the Hugging Face tokenizer over synehr's vocabulary, its config and special tokens, the model card (src/generate/hfFolder.ts) */
  hfTokenizer: string;
  hfTokenizerConfig: string;
  hfSpecialTokensMap: string;
  modelCard: string;
  sampler: string;
  /** the pipeline's record of the stages it finished */
  pipelineStamp: string;
  /** evaluation outputs */
  evalDir: string;
  evalMetrics: string;
  evalReport: string;
}

export function runFiles(dir: string): RunFiles {
  return {
    dir,
    config: join(dir, 'config.yaml'),
    overrides: join(dir, 'overrides.yaml'),
    tokenizer: join(dir, RUN_TOKENIZER_FILE),
    stamp: join(dir, 'run.json'),
    weights: join(dir, 'model.safetensors'),
    checkpoints: join(dir, 'checkpoints'),
    onnxDir: join(dir, 'onnx'),
    onnxModel: join(dir, 'onnx', 'model.onnx'),
    exportStamp: join(dir, 'onnx', 'export.json'),
    hfConfig: join(dir, 'config.json'),
    generationConfig: join(dir, 'generation_config.json'),
    hfTokenizer: join(dir, 'tokenizer.json'),
    hfTokenizerConfig: join(dir, 'tokenizer_config.json'),
    hfSpecialTokensMap: join(dir, 'special_tokens_map.json'),
    modelCard: join(dir, 'README.md'),
    sampler: join(dir, 'sampler.onnx'),
    pipelineStamp: join(dir, 'pipeline.json'),
    evalDir: join(dir, 'eval'),
    evalMetrics: join(dir, 'eval', 'metrics.json'),
    evalReport: join(dir, 'eval', 'report.html'),
  };
}

/** saved_models/ under the working directory: one folder per trained run. */
export function savedModelsDir(workDir: string): string {
  return join(workDir, 'saved_models');
}

export function runDirPath(workDir: string, runName: string): string {
  return join(savedModelsDir(workDir), runName);
}

/** The synthetic folder of a run: generate.out_dir (against the working directory) or data/synthetic/<run>. */
export function syntheticDirPath(workDir: string, runName: string, outDir: string | null): string {
  return outDir !== null && outDir !== '' ? resolve(workDir, outDir) : join(workDir, 'data', 'synthetic', runName);
}

export interface RunPaths extends RunFiles {
  runName: string;
  /** the generated tables and their manifest.json */
  synthetic: string;
}

/** Every path of the run a config names (run_name must be set). */
export function runPaths(config: Pick<SynehrConfig, 'run_name' | 'generate'>, workDir: string): RunPaths {
  const runName = config.run_name;
  if (runName === null) throw new Error('runPaths: the config has no run_name');
  return { ...runFiles(runDirPath(workDir, runName)), runName, synthetic: syntheticDirPath(workDir, runName, config.generate.out_dir) };
}

/**
 * The folder `load` and `export-data` read: load.synthetic (against the working directory), else
 * the synthetic folder of model=<run>.
 */
export function recordsDirToLoad(config: Pick<SynehrConfig, 'run_name' | 'generate' | 'load'>, workDir: string, command: string): string {
  const given = config.load.synthetic;
  let dir: string;
  if (given !== null && given !== '') dir = resolve(workDir, given);
  else if (config.run_name !== null) dir = runPaths(config, workDir).synthetic;
  else throw new SynehrError('E_USAGE', `synehr ${command} needs synthetic=<dir> (a folder of the four tables) or model=<run>`);
  if (!existsSync(dir)) {
    throw new SynehrError('E_MISSING', `${dir}: no such folder${given === null ? `; run \`synehr generate model=${config.run_name}\` first` : ''}`);
  }
  return dir;
}

export const SPLITS = ['train', 'val', 'test'] as const;

/** The files `synehr prepare` and `synehr tokenize` write for one data config. */
export interface DataPaths {
  processed: string;
  split: string;
  /** the data config prepare used */
  dataJson: string;
  summary: string;
  tokensDir: string;
  shard(split: (typeof SPLITS)[number]): string;
  /** the tokenizer fitted on this data config */
  tokenizer: string;
  /** `synehr roundtrip`'s metrics.json and report.html */
  roundtrip: string;
}

export function dataPaths(data: DataConfig, workDir: string): DataPaths {
  const processed = processedDir(data, workDir);
  const tokensDir = join(processed, 'tokens');
  return {
    processed,
    split: join(processed, 'split.json'),
    dataJson: join(processed, 'data.json'),
    summary: join(processed, 'summary.json'),
    tokensDir,
    shard: (split) => join(tokensDir, `${split}.bin`),
    tokenizer: join(workDir, 'tokenizer', data.name, 'tokenizer.json'),
    roundtrip: join(processed, 'roundtrip'),
  };
}
