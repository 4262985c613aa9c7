/**
 * `synehr train data=X model=M`: train the GPT on X's token shards and write the run directory
 * saved_models/<run_name>/ (config, synehr_tokenizer.json copy and run.json naming it by hash,
 * model.safetensors, checkpoints/, metrics.jsonl, TensorBoard events). `resume=true` continues the
 * run from its newest checkpoint, with the tokenizer it started with; Ctrl-C saves a checkpoint
 * and exits 130.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { CommandContext } from '../context.ts';
import { dataPaths, runFiles } from '../../config/runPaths.ts';
import { installRunTokenizer } from '../../train/runStamp.ts';
import { loadTokenizer } from '../../tokenizer/file.ts';
import type { Tokenizer } from '../../tokenizer/tokenizer.ts';
import { dataConfigHash } from '../../records/dataConfigHash.ts';
import type { TokenizerConfig } from '../../tokenizer/config.ts';
import { mainLabel, type DataConfig } from '../../records/dataConfig.ts';
import { readTokenShard, type TokenShard } from '../../tokenizer/shards.ts';
import { gptRunnerFactory, labelTargetWeights } from '../../train/gptRunner.ts';
import { modelMemoryTable } from '../../model/gpt.ts';
import { trainModel, type TrainResult } from '../../train/trainer.ts';
import { refitRunWeights } from '../../train/memoryRefit.ts';
import { calibrateRunWeights } from '../../generate/calibrate.ts';
import { interruptedError, SynehrError } from '../../util/errors.ts';

export interface TrainInputs {
  tokenizerPath: string;
  trainShardPath: string;
  /** null when the data has no validation split */
  valShardPath: string | null;
}

/** Where `synehr tokenize data=X` left its outputs; a clear error naming that command when they are missing. */
export function findTrainInputs(ctx: Pick<CommandContext, 'config' | 'workDir'>): TrainInputs {
  const { data } = ctx.config;
  const paths = dataPaths(data, ctx.workDir);
  const tokenizerPath = paths.tokenizer;
  const trainShardPath = paths.shard('train');
  const valShardPath = paths.shard('val');
  for (const [what, path] of [
    ['tokenizer', tokenizerPath],
    ['training token shard', trainShardPath],
  ] as const) {
    if (!existsSync(path)) {
      throw new SynehrError('E_MISSING', `no ${what} for data=${data.name} at ${path}: run \`synehr tokenize data=${data.name}\` first`);
    }
  }
  return { tokenizerPath, trainShardPath, valShardPath: existsSync(valShardPath) ? valShardPath : null };
}

/**
 * The tokenizer on disk must be the one this config asks for: a run whose config.yaml says
 * `tokenizer.bin_type: uniform` but trains on a quantile tokenizer would misreport itself.
 */
export function checkTokenizerMatches(tok: Tokenizer, want: TokenizerConfig, data: DataConfig, path: string): void {
  const differ = (Object.keys(want) as (keyof TokenizerConfig)[]).filter((k) => JSON.stringify(tok.config[k]) !== JSON.stringify(want[k]));
  const fix = `re-run \`synehr tokenize data=${data.name}\` with the same tokenizer overrides`;
  if (differ.length > 0) {
    const detail = differ.map((k) => `tokenizer.${k} is ${JSON.stringify(tok.config[k])} there, ${JSON.stringify(want[k])} here`).join('; ');
    throw new SynehrError('E_MISMATCH', `${path} was fitted with another tokenizer config (${detail}): ${fix}`);
  }
  if (tok.dataConfigHash !== dataConfigHash(data)) {
    throw new SynehrError('E_MISMATCH', `${path} was fitted on another data config than data=${data.name} (covariates, labels, variables, codes or split differ): ${fix}`);
  }
}

/** train.main_label_weight's per-token loss weights, or undefined at 1 or without labels (the plain mean; the log says which). */
export function mainLabelWeights(tok: Tokenizer, data: DataConfig, weight: number, log: (m: string) => void): Float32Array | undefined {
  if (weight === 1) return undefined;
  const name = mainLabel(data);
  if (name === null) {
    log(`train: train.main_label_weight=${weight} weights the main label's tokens, and data=${data.name} has no labels: the loss is the plain mean`);
    return undefined;
  }
  const w = labelTargetWeights(tok, name, weight);
  const n = w.reduce((a, x) => a + (x === weight ? 1 : 0), 0);
  log(`train: the main label '${name}' weighs ${weight} in the training loss (its ${n} value tokens; val/loss stays unweighted)`);
  return w;
}

export async function run(ctx: CommandContext): Promise<void> {
  const cfg = ctx.config;
  // checked before training, not after it
  if (cfg.model.value_memory && cfg.train.memory_calibration_patients > 0 && (cfg.train.memory_refit_patients === 0 || !cfg.train.memory_refit_first_values)) {
    throw new SynehrError('E_CONFIG_VALUE', `train.memory_calibration_patients=${cfg.train.memory_calibration_patients} calibrates the offsets the refit fits: it needs train.memory_refit_patients > 0 and train.memory_refit_first_values=true (or set train.memory_calibration_patients=0)`);
  }
  const inputs = findTrainInputs(ctx);
  const tok = loadTokenizer(inputs.tokenizerPath);
  checkTokenizerMatches(tok, cfg.tokenizer, cfg.data, inputs.tokenizerPath);
  const vocabSize = tok.vocab.length;
  const hash = tok.vocabHash();
  const readShard = (path: string): TokenShard => {
    const s = readTokenShard(path);
    if (s.vocabHash && s.vocabHash !== hash) {
      throw new SynehrError('E_MISMATCH', `${path} was encoded with another tokenizer than ${inputs.tokenizerPath}: re-run \`synehr tokenize data=${cfg.data.name}\``);
    }
    return s;
  };
  const trainShard = readShard(inputs.trainShardPath);
  const valShard = inputs.valShardPath ? readShard(inputs.valShardPath) : null;
  if (!valShard) ctx.log(`no validation shard for data=${cfg.data.name}: no early stopping; model.safetensors gets the final weights`);

  const targetWeights = mainLabelWeights(tok, cfg.data, cfg.train.main_label_weight, (m) => ctx.log(m));

  const runDir = await ctx.runDir();
  const files = runFiles(runDir);
  ctx.log(`train: run directory ${runDir}`);
  await installRunTokenizer(files, inputs.tokenizerPath, { data: cfg.data.name, resume: cfg.resume });

  // Ctrl-C: finish the current update, save a checkpoint, exit; a second Ctrl-C exits at once
  const ac = new AbortController();
  const onSigint = (): void => {
    if (ac.signal.aborted) process.exit(130);
    ctx.log('\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit without saving)');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  let result: TrainResult;
  try {
    result = await trainModel({
      runDir,
      runName: cfg.run_name ?? basename(runDir),
      model: cfg.model,
      train: cfg.train,
      seed: cfg.seed,
      trainShard,
      valShard,
      vocabSize,
      padId: tok.pad,
      createRunner: gptRunnerFactory(cfg.model, { threads: cfg.train.threads || undefined, device: cfg.train.device }, modelMemoryTable(cfg.model, tok) ?? undefined, targetWeights),
      resume: cfg.resume,
      tracking: cfg.tracking,
      config: cfg,
      signal: ac.signal,
      log: (m) => ctx.log(m),
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  const f = (x: number | null) => (x === null ? '-' : x.toFixed(4));
  ctx.log(
    `train: ${result.stoppedBy} after ${result.steps} steps in ${(result.seconds / 60).toFixed(1)} min ` +
      `(${Math.round(result.tokensPerSecond).toLocaleString('en')} tokens/s); ` +
      `val/loss ${result.initialValLoss === null ? '' : `${f(result.initialValLoss)} at step 0, `}best ${f(result.bestValLoss)} at step ${result.bestStep ?? '-'}; ` +
      `weights in ${files.weights}`,
  );
  // an interrupted run is not a trained one: the pipeline stops, a shell sees 130
  if (result.stoppedBy === 'interrupted') throw interruptedError(`training interrupted at step ${result.steps}; continue with \`synehr train run_name=${cfg.run_name ?? basename(runDir)} resume=true\``);
  if (cfg.model.value_memory && cfg.train.memory_refit_patients > 0) {
    await refitRunWeights(files.weights, cfg.model, modelMemoryTable(cfg.model, tok)!, trainShard, valShard, {
      patients: cfg.train.memory_refit_patients,
      steps: cfg.train.memory_refit_steps,
      lr: cfg.train.memory_refit_lr,
      firstValues: cfg.train.memory_refit_first_values,
      before: cfg.train.memory_refit_before,
      seed: cfg.seed,
      session: { threads: cfg.train.threads || undefined, device: cfg.train.device },
      log: (m) => ctx.log(m),
    });
  }
  if (cfg.model.value_memory && cfg.train.memory_calibration_patients > 0) {
    await calibrateRunWeights(files.weights, cfg.model, tok, trainShard, {
      patients: cfg.train.memory_calibration_patients,
      rounds: cfg.train.memory_calibration_rounds,
      fields: cfg.train.memory_calibration_fields,
      seed: cfg.seed,
      threads: cfg.train.threads || undefined,
      log: (m) => ctx.log(m),
    });
  }
}
