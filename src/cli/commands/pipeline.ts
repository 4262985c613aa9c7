/**
 * `synehr pipeline [overrides]`: prepare → tokenize → train → export → generate → evaluate with
 * one config, each stage through its own command, skipping the stages whose outputs are current:
 *
 *   prepare   data/processed/<data>/ exists, prepared with this data config (its data.json)
 *   tokenize  tokenizer/<data>/tokenizer.json was fitted on this data config with this tokenizer
 *             config, and the train shard is there
 *   train     the run's pipeline.json says training finished with this model and train config
 *   export    onnx/export.json names the run's weights and tokenizer, and the graphs are whole
 *   generate  the synthetic folder's manifest holds n_samples patients from these weights, made
 *             with these generation settings
 *   evaluate  eval/metrics.json is newer than the synthetic folder's manifest and was made with
 *             this eval section (holdout split, seed, k, bootstrap ...)
 *
 * Every path comes from runPaths. A stage that fails or is interrupted (Ctrl-C: exit 130) stops
 * the pipeline there and is not recorded as done; `run_name=<run> resume=true` continues it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { CommandContext } from '../context.ts';
import { exportIsCurrent } from '../../generate/export.ts';
import { resolveGuidance } from '../../generate/generate.ts';
import { loadTokenizer } from '../../tokenizer/file.ts';
import { dataConfigSchema } from '../../records/dataConfig.ts';
import { tokenizerConfigSchema } from '../../tokenizer/config.ts';
import { manifestPath, readManifest } from '../../records/manifest.ts';
import { dataConfigHash } from '../../records/dataConfigHash.ts';
import { fileSha256 } from '../../train/runStamp.ts';
import { writeFileAtomic } from '../../util/files.ts';
import { dataPaths, runFiles, runPaths } from '../../config/runPaths.ts';
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

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

export async function run(ctx: CommandContext): Promise<number | void> {
  const cfg = ctx.config;
  await ctx.runDir();
  const paths = runPaths(cfg, ctx.workDir);
  const data = dataPaths(cfg.data, ctx.workDir);
  const stamps: Stamps = existsSync(paths.pipelineStamp) ? ((readJson(paths.pipelineStamp) as Stamps | null) ?? {}) : {};
  const trainKey = JSON.stringify({ model: cfg.model, train: cfg.train, seed: cfg.seed });
  const started = performance.now();

  const current: Record<PipelineStage, () => boolean | Promise<boolean>> = {
    prepare: () => {
      if (!existsSync(data.dataJson) || !existsSync(data.split)) return false;
      const prepared = dataConfigSchema.safeParse(readJson(data.dataJson));
      return prepared.success && dataConfigHash(prepared.data) === dataConfigHash(cfg.data);
    },
    tokenize: () => {
      if (!existsSync(data.tokenizer) || !existsSync(data.shard('train'))) return false;
      const j = readJson(data.tokenizer) as { data_config_hash?: string; config?: unknown } | null;
      // the stored config read as the schema reads it: a key added since, at its default, changes nothing
      const stored = tokenizerConfigSchema.safeParse(j?.config);
      return j?.data_config_hash === dataConfigHash(cfg.data) && stored.success && JSON.stringify(stored.data) === JSON.stringify(cfg.tokenizer);
    },
    train: () => stamps.train === trainKey && existsSync(paths.weights),
    export: () => exportIsCurrent(paths.dir),
    generate: async () => {
      const m = await readManifest(paths.synthetic).catch(() => null);
      if (!m || !existsSync(paths.weights)) return false;
      const g = cfg.generate;
      // generate.guidance=auto resolves against the run's tokenizer, as generate does
      if (!existsSync(runFiles(paths.dir).tokenizer)) return false;
      const guidance = resolveGuidance(g, cfg.data, loadTokenizer(runFiles(paths.dir).tokenizer));
      const same =
        m.n_samples === g.n_samples &&
        m.seed === g.seed &&
        m.batch_size === g.batch_size &&
        m.sampling.temperature === g.temperature &&
        m.sampling.top_k === g.top_k &&
        m.sampling.top_p === g.top_p &&
        m.sampling.value_temperature === g.value_temperature &&
        m.sampling.guidance === guidance.w &&
        m.sampling.guidance_label === guidance.label &&
        m.sampling.fix_covars === g.fix_covars &&
        JSON.stringify(m.formats) === JSON.stringify(g.formats);
      return same && m.weights_sha256 === (await fileSha256(paths.weights));
    },
    evaluate: () => {
      const manifest = manifestPath(paths.synthetic);
      if (!existsSync(paths.evalMetrics) || !existsSync(manifest) || statSync(paths.evalMetrics).mtimeMs <= statSync(manifest).mtimeMs) return false;
      const m = readJson(paths.evalMetrics) as { meta?: { config?: unknown } } | null;
      return JSON.stringify(m?.meta?.config) === JSON.stringify(cfg.eval);
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
    // a stale generation is replaced; resume=true continues an interrupted one with its settings
    const config = stage === 'generate' ? { ...cfg, overwrite: true } : cfg;
    const code = await STAGE_COMMANDS[stage].run({ ...ctx, command: stage, config });
    if (typeof code === 'number' && code !== 0) {
      ctx.log(`${tag}: exited with code ${code}; the pipeline stops here`);
      return code;
    }
    if (stage === 'train') {
      stamps.train = trainKey;
      await writeFileAtomic(paths.pipelineStamp, JSON.stringify(stamps, null, 2) + '\n');
    }
    ctx.log(`${tag}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  ctx.log(`pipeline: finished in ${((performance.now() - started) / 60000).toFixed(1)} min`);
  ctx.log(`report: ${paths.evalReport}`);
}
