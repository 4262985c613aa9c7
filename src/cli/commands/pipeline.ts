/**
 * `synehr pipeline [overrides]`: prepare → tokenize → train → export → generate → evaluate with
 * one config, each stage through its own command, skipping the stages whose outputs are current:
 *
 *   prepare   data/processed/<data>/ exists, prepared with this data config (its data.json)
 *   tokenize  tokenizer/<data>/tokenizer.json was fitted on this data config with this tokenizer
 *             config, and the train shard is there
 *   train     the run's pipeline.json says training finished with this model and train config
 *   export    sampler.onnx was built from the run's current model.safetensors
 *   generate  data/synthetic/<run>/manifest.json holds n_samples patients from these weights
 *   evaluate  eval/metrics.json is newer than the synthetic data's manifest
 *
 * A pipeline interrupted mid-way continues with `run_name=<run> resume=true`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext } from '../context.ts';
import { exportIsCurrent } from '../../generate/export.ts';
import { dataConfigSchema } from '../../records/dataConfig.ts';
import { dataConfigHash } from '../../records/dataConfigHash.ts';
import { writeFileAtomic } from '../../util/files.ts';
import { processedDir } from '../../records/dataConfig.ts';
import * as prepare from './prepare.ts';
import * as tokenize from './tokenize.ts';
import * as train from './train.ts';
import * as exportCmd from './export.ts';
import * as generate from './generate.ts';
import * as evaluate from './evaluate.ts';

const STAGE_COMMANDS: Record<PipelineStage, { run(c: CommandContext): Promise<void | number> }> = {
  prepare,
  tokenize,
  train,
  export: exportCmd,
  generate,
  evaluate,
};

export const PIPELINE_STAGES = ['prepare', 'tokenize', 'train', 'export', 'generate', 'evaluate'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

interface Stamps {
  /** the train and model sections training finished with */
  train?: string;
}

export async function run(ctx: CommandContext): Promise<void> {
  const cfg = ctx.config;
  const runDir = await ctx.runDir();
  const runName = cfg.run_name!;
  const stampPath = join(runDir, 'pipeline.json');
  const stamps: Stamps = existsSync(stampPath) ? (JSON.parse(readFileSync(stampPath, 'utf8')) as Stamps) : {};
  const trainKey = JSON.stringify({ model: cfg.model, train: cfg.train, seed: cfg.seed });
  const processed = processedDir(cfg.data, ctx.workDir);
  const synDir = cfg.generate.out_dir ? join(ctx.workDir, cfg.generate.out_dir) : join(ctx.workDir, 'data', 'synthetic', runName);
  const started = performance.now();

  const current: Record<PipelineStage, () => boolean | Promise<boolean>> = {
    prepare: () => {
      const saved = join(processed, 'data.json');
      if (!existsSync(saved) || !existsSync(join(processed, 'split.json'))) return false;
      const prepared = dataConfigSchema.safeParse(JSON.parse(readFileSync(saved, 'utf8')));
      return prepared.success && dataConfigHash(prepared.data) === dataConfigHash(cfg.data);
    },
    tokenize: () => {
      const path = join(ctx.workDir, 'tokenizer', cfg.data.name, 'tokenizer.json');
      if (!existsSync(path) || !existsSync(join(processed, 'tokens', 'train.bin'))) return false;
      const j = JSON.parse(readFileSync(path, 'utf8')) as { data_config_hash?: string; config?: unknown };
      return j.data_config_hash === dataConfigHash(cfg.data) && JSON.stringify(j.config) === JSON.stringify(cfg.tokenizer);
    },
    train: () => stamps.train === trainKey && existsSync(join(runDir, 'model.safetensors')),
    export: () => exportIsCurrent(runDir),
    generate: () => {
      const m = join(synDir, 'manifest.json');
      if (!existsSync(m)) return false;
      const manifest = JSON.parse(readFileSync(m, 'utf8')) as { n_samples?: number; seed?: number };
      return manifest.n_samples === cfg.generate.n_samples && manifest.seed === cfg.generate.seed && statSync(m).mtimeMs > statSync(join(runDir, 'model.safetensors')).mtimeMs;
    },
    evaluate: () => {
      const metrics = join(runDir, 'eval', 'metrics.json');
      return existsSync(metrics) && statSync(metrics).mtimeMs > statSync(join(synDir, 'manifest.json')).mtimeMs;
    },
  };

  // once a stage runs, the later ones run too: their inputs are new
  let rerun = false;
  for (const [i, stage] of PIPELINE_STAGES.entries()) {
    const tag = `pipeline [${i + 1}/${PIPELINE_STAGES.length}] ${stage}`;
    if (!rerun && (await current[stage]())) {
      ctx.log(`${tag}: current, skipped`);
      continue;
    }
    ctx.log(`${tag}: running`);
    rerun = true;
    const t0 = performance.now();
    const code = await STAGE_COMMANDS[stage].run({ ...ctx, command: stage, config: stage === 'generate' ? { ...cfg, overwrite: true } : cfg });
    if (typeof code === 'number' && code !== 0) throw new Error(`pipeline: stage ${stage} exited with code ${code}`);
    if (stage === 'train') {
      stamps.train = trainKey;
      await writeFileAtomic(stampPath, JSON.stringify(stamps, null, 2) + '\n');
    }
    ctx.log(`${tag}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  ctx.log(`pipeline: finished in ${((performance.now() - started) / 60000).toFixed(1)} min`);
  ctx.log(`report: ${join(runDir, 'eval', 'report.html')}`);
}
