import { mkdir } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { runFiles } from '../config/runPaths.ts';
import type { ModelConfig } from '../model/config.ts';
import { initParams, paramLayout, paramsToTensors } from '../model/init.ts';
import { gptParamSpecs, paramCount, trainedParamSpecs, type ParamSpec } from '../model/params.ts';
import { saveSafetensors } from '../model/safetensors.ts';
import { trackingConfigSchema, type TrackingConfig } from '../tracking/config.ts';
import { createTracker } from '../tracking/tracker.ts';
import { Rng } from '../util/rng.ts';
import { SynehrError } from '../util/errors.ts';
import { adamwStep, createOptimizerState, decayRanges } from './adamw.ts';
import { TrainBatchStream, truncationStats, validationBatches, type PackedBatch, type TokenShard } from './batches.ts';
import {
  checkCompatible,
  loadLatestCheckpoint,
  saveCheckpoint,
  type CheckpointHeader,
  type EarlyStoppingState,
} from './checkpoint.ts';
import type { TrainConfig } from './config.ts';
import { dropoutSeed } from './dropout.ts';
import { emaUpdate, emaWeights } from './ema.ts';
import { clipScale, globalNorm } from './gradients.ts';
import type { ModelRunner, RunnerFactory } from './runner.ts';
import { learningRate } from './schedule.ts';

/**
 * The training loop: packed batches → loss and gradients (the model runner) → gradient
 * accumulation → global-norm clipping → AdamW on the flat parameters; validation every
 * eval_every updates with early stopping; the best weights kept as model.safetensors; checkpoints
 * for an exact resume; Ctrl-C (the abort signal) saves one and stops.
 *
 * Exactness of resume: the only state a step reads is the weights, the AdamW moments and t, the
 * step (for the schedule), the data order (epoch permutation RNG + cursor) and the early-stopping
 * record (and the weight average's sum, with train.ema_decay), and a checkpoint holds all of them
 * bit for bit; the dropout masks are drawn from the seed and the step alone. Validation reads no
 * state it changes.
 */

/** Where a metrics row goes; the tracker (metrics.jsonl, TensorBoard, W&B) in production. */
export interface MetricsSink {
  log(step: number, scalars: Record<string, number>): void;
  text(tag: string, value: string, step?: number): void;
  /** `exitCode` 1 when training threw (W&B then marks the run failed) */
  close(opts?: { exitCode?: number }): Promise<void>;
}

export interface TrainModelOptions {
  /** saved_models/<run_name>/ (created if missing) */
  runDir: string;
  runName?: string;
  model: ModelConfig;
  train: TrainConfig;
  /** the master seed; parameter init and data order derive their own streams from it */
  seed: number;
  trainShard: TokenShard;
  /** null = no validation: model.safetensors gets the final weights */
  valShard: TokenShard | null;
  vocabSize: number;
  /** the tokenizer's <pad> id, used for padding windows */
  padId: number;
  /** builds the model's runner; the GPT's ONNX graphs by default (see src/train/gptRunner.ts) */
  createRunner: RunnerFactory;
  /** the parameters; trainedParamSpecs(model, vocabSize) by default */
  specs?: readonly ParamSpec[];
  /** continue from the newest checkpoint in runDir/checkpoints */
  resume?: boolean;
  /** metrics sinks; when absent a tracker is created from `tracking` (the schema's defaults when that is absent too) */
  tracking?: TrackingConfig;
  metrics?: MetricsSink;
  /** the resolved config, for W&B */
  config?: unknown;
  /** aborting saves a checkpoint after the current update and returns (Ctrl-C) */
  signal?: AbortSignal;
  /** a progress bar on stderr (default: when stderr is a terminal) */
  progress?: boolean;
  log?: (message: string) => void;
  /** called after every optimizer update (tests use it to interrupt at a given step) */
  onStep?: (step: number, info: { loss: number; lr: number; gradNorm: number }) => void;
  /** milliseconds, for train.max_minutes (performance.now by default; tests pass a scripted clock) */
  clock?: () => number;
}

export interface TrainResult {
  runDir: string;
  /** optimizer updates done in all */
  steps: number;
  stoppedBy: 'max_steps' | 'early_stopping' | 'max_minutes' | 'interrupted';
  /** the updates the schedule spanned at the end: train.max_steps, or fewer under train.max_minutes */
  plannedSteps: number;
  /** validation loss before the first update of the run (null when resumed or no validation) */
  initialValLoss: number | null;
  lastValLoss: number | null;
  bestValLoss: number | null;
  bestStep: number | null;
  /** mean training loss over the last logged interval */
  lastTrainLoss: number | null;
  tokensSeen: number;
  /** real tokens per second in this process's updates */
  tokensPerSecond: number;
  seconds: number;
  paramCount: number;
}

export async function trainModel(opts: TrainModelOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const cfg = opts.train;
  const T = opts.model.n_ctx;
  const B = cfg.batch_size;
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const runDir = opts.runDir;
  const files = runFiles(runDir);
  const ckptDir = files.checkpoints;
  await mkdir(runDir, { recursive: true });

  if (opts.trainShard.vocabSize !== opts.vocabSize) {
    throw new SynehrError('E_INPUT', `training shard has vocabulary size ${opts.trainShard.vocabSize}, the tokenizer ${opts.vocabSize}: re-run synehr tokenize`);
  }
  const specs = opts.specs ?? trainedParamSpecs(opts.model, opts.vocabSize);
  const layout = paramLayout(specs);
  const nParams = paramCount(specs);

  // --- state: fresh, or from the newest checkpoint
  const root = new Rng(opts.seed);
  const initRng = root.fork('init');
  const dataRng = root.fork('data');
  // the dropout masks' stream key; each micro-batch seeds its masks from it and its index
  const dropoutKey = root.fork('dropout').nextU32();
  // where AdamW's SIMD kernel updates them; the runner made below feeds ONNX Runtime views of these parameters
  const { params, grad, adam } = createOptimizerState(layout.total);
  // the weight average (train.ema_decay): its running sum, and where its bias-corrected weights go
  const emaDecay = cfg.ema_decay;
  const ema = emaDecay === null ? null : { sum: new Float32Array(layout.total), weights: new Float32Array(layout.total) };
  let step = 0;
  let tokensSeen = 0;
  let early: EarlyStoppingState = { bestValLoss: null, bestStep: null, badEvals: 0 };
  // train.max_minutes: the update loop's seconds in earlier processes of this run, and the updates
  // the schedule spans, re-planned at every evaluation from the speed measured so far
  const clock = opts.clock ?? (() => performance.now());
  const budgetSeconds = cfg.max_minutes === null ? null : cfg.max_minutes * 60;
  let secondsBefore = 0;
  let planned = cfg.max_steps;
  let stream: TrainBatchStream;
  const resumed = opts.resume ? await loadLatestCheckpoint(ckptDir) : null;
  if (opts.resume && !resumed) log(`resume=true but ${ckptDir} holds no checkpoint: starting from step 0`);
  if (resumed) {
    const h = resumed.checkpoint.header;
    checkCompatible(
      h,
      { vocabSize: opts.vocabSize, model: opts.model, batchSize: B, gradAccum: cfg.grad_accum, seed: opts.seed, emaDecay, layout },
      resumed.path,
    );
    params.set(resumed.checkpoint.params);
    if (ema) ema.sum.set(resumed.checkpoint.ema!);
    adam.m.set(resumed.checkpoint.m);
    adam.v.set(resumed.checkpoint.v);
    adam.t = h.adamT;
    step = h.step;
    tokensSeen = h.tokensSeen;
    early = h.early;
    stream = TrainBatchStream.resume(opts.trainShard, B, T, opts.padId, h.dataOrder);
    secondsBefore = h.trainSeconds;
    // the same budget continues its plan; another one (or none) plans anew from max_steps
    if (h.maxMinutes === cfg.max_minutes && h.plannedSteps !== null) planned = Math.min(h.plannedSteps, cfg.max_steps);
    log(`resuming from ${resumed.path} at step ${step}`);
    const done = h.finished === 'early_stopping' || step >= cfg.max_steps || (h.finished === 'max_minutes' && h.maxMinutes === cfg.max_minutes);
    if (h.finished && done) {
      log(`the run already finished (${h.finished}) at step ${step}; nothing to do`);
      return {
        runDir,
        steps: step,
        stoppedBy: h.finished,
        plannedSteps: planned,
        initialValLoss: null,
        lastValLoss: early.bestValLoss,
        bestValLoss: early.bestValLoss,
        bestStep: early.bestStep,
        lastTrainLoss: null,
        tokensSeen,
        tokensPerSecond: 0,
        seconds: (performance.now() - t0) / 1000,
        paramCount: nParams,
      };
    }
  } else {
    params.set(initParams(layout, initRng));
    stream = TrainBatchStream.start(opts.trainShard, B, T, opts.padId, dataRng);
  }

  const trunc = truncationStats(opts.trainShard, T);
  const trainTokens = opts.trainShard.offsets[opts.trainShard.offsets.length - 1]!;
  const regularisation = [
    opts.model.embd_pdrop > 0 || opts.model.resid_pdrop > 0 ? `dropout embd ${opts.model.embd_pdrop}, resid ${opts.model.resid_pdrop}` : null,
    emaDecay !== null ? `weight average decay ${emaDecay}` : null,
  ].filter((x) => x !== null);
  log(
    `seed ${opts.seed}; ${nParams.toLocaleString('en')} parameters; n_ctx ${T}, batch ${B} x ${cfg.grad_accum} accumulation; ` +
      `${trunc.patients} training patients, ${trainTokens.toLocaleString('en')} tokens${regularisation.map((x) => `; ${x}`).join('')}`,
  );
  if (trunc.truncated > 0) {
    log(
      `note: ${trunc.truncated} of ${trunc.patients} training patients (${((100 * trunc.truncated) / trunc.patients).toFixed(1)}%) are longer than ` +
        `n_ctx=${T} (longest ${trunc.maxLength}) and are truncated to their first ${T} tokens`,
    );
  }
  const valBatches = opts.valShard ? validationBatches(opts.valShard, B, T, opts.padId, cfg.eval_batches) : [];

  const runner: ModelRunner = await opts.createRunner({ layout, params, B, T, vocabSize: opts.vocabSize });
  const metrics =
    opts.metrics ?? (await createTracker(runDir, opts.tracking ?? trackingConfigSchema.parse({}), { runName: opts.runName ?? 'run', config: opts.config ?? null }));
  if (!resumed) metrics.text('seed', String(opts.seed), 0);

  const decay = decayRanges(layout, cfg.decay_embeddings);
  const adamOpts = { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weight_decay };

  // what validation measures and model.safetensors keeps: the weight average when there is one
  const evalWeights = (): Float32Array => (ema ? emaWeights(ema.weights, ema.sum, params, emaDecay!, step) : params);
  // the refit-only parameters (the value memory's wma) at their init, so that the file is a whole model before the refit
  const refitOnly = opts.specs ? [] : gptParamSpecs(opts.model, opts.vocabSize).filter((s) => s.refitOnly);
  if (refitOnly.some((s) => s.init !== 'zeros')) throw new RangeError(`trainModel: refit-only parameters must start at zeros: ${refitOnly.map((s) => `${s.name} ${s.init}`).join(', ')}`);
  const atInit = refitOnly.map((s) => ({ name: s.name, dtype: 'F32' as const, shape: s.shape, data: new Float32Array(paramCount([s])) }));
  const saveBest = (weights: Float32Array): Promise<void> =>
    saveSafetensors(files.weights, [...paramsToTensors(layout, weights), ...atInit], {
      format: 'pt',
      step: String(step),
      n_layer: String(opts.model.n_layer),
      n_embd: String(opts.model.n_embd),
      n_head: String(opts.model.n_head),
      n_ctx: String(opts.model.n_ctx),
      vocab_size: String(opts.vocabSize),
    });
  const checkpoint = (finished: CheckpointHeader['finished']): Promise<string> =>
    saveCheckpoint(ckptDir, {
      header: {
        step,
        adamT: adam.t,
        seed: opts.seed,
        vocabSize: opts.vocabSize,
        model: { n_layer: opts.model.n_layer, n_embd: opts.model.n_embd, n_head: opts.model.n_head, n_ctx: opts.model.n_ctx },
        batchSize: B,
        gradAccum: cfg.grad_accum,
        emaDecay,
        params: specs.map((s, i) => ({ name: s.name, shape: s.shape, offset: layout.offsets[i]! })),
        total: layout.total,
        dataOrder: stream.state(),
        early,
        tokensSeen,
        finished,
        trainSeconds: secondsBefore + (clock() - clockStart) / 1000,
        maxMinutes: cfg.max_minutes,
        plannedSteps: planned === cfg.max_steps ? null : planned,
        crc32: 0,
      },
      params,
      m: adam.m,
      v: adam.v,
      ema: ema?.sum ?? null,
    });

  let lastValLoss: number | null = null;
  /** the validation loss of `weights` (evalWeights()) */
  const validate = async (weights: Float32Array): Promise<number | null> => {
    if (valBatches.length === 0) return null;
    // token-weighted: the mean over every counted target of the validation set
    let sum = 0;
    let n = 0;
    for (const b of valBatches) {
      if (b.nTargets === 0) continue;
      sum += (await runner.loss(b, weights)) * b.nTargets;
      n += b.nTargets;
    }
    lastValLoss = n > 0 ? sum / n : null;
    return lastValLoss;
  };

  let initialValLoss: number | null = null;
  if (!resumed) {
    initialValLoss = await validate(params);
    if (initialValLoss !== null) {
      metrics.log(0, { 'val/loss': initialValLoss });
      log(`step 0: val/loss ${initialValLoss.toFixed(4)}`);
    }
  }

  const bar =
    (opts.progress ?? process.stderr.isTTY === true)
      ? new cliProgress.SingleBar(
          {
            format: 'train {bar} {value}/{total} | loss {loss} | val {val} | {tps} tok/s | ETA {eta_formatted}',
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(planned, step, { loss: '-', tps: '-', val: early.bestValLoss?.toFixed(4) ?? initialValLoss?.toFixed(4) ?? '-' });

  let stoppedBy: TrainResult['stoppedBy'] = 'max_steps';
  let lastTrainLoss: number | null = null;
  let intervalLoss = 0;
  let intervalMicro = 0;
  let intervalTokens = 0;
  let intervalStart = performance.now();
  const loopStart = performance.now();
  const clockStart = clock();
  const stepAtStart = step;
  const tokensAtStart = tokensSeen;
  let threw = true;
  try {
    while (step < planned) {
      const lr = learningRate(step, { ...cfg, max_steps: planned });
      let stepLoss = 0;
      for (let micro = 0; micro < cfg.grad_accum; micro++) {
        const batch: PackedBatch = stream.next();
        const loss = await runner.lossAndGrad(batch, params, grad, 1 / cfg.grad_accum, micro > 0, dropoutSeed(dropoutKey, step, cfg.grad_accum, micro));
        if (!Number.isFinite(loss)) {
          throw new SynehrError('E_TRAIN', `loss is ${loss} at step ${step}: training diverged (try a lower train.lr, now ${cfg.lr})`);
        }
        stepLoss += loss / cfg.grad_accum;
        tokensSeen += batch.nTokens;
        intervalTokens += batch.nTokens;
      }
      const gradNorm = globalNorm(grad);
      adamwStep(params, grad, adam, lr, adamOpts, decay, clipScale(gradNorm, cfg.clip_norm));
      if (ema) emaUpdate(ema.sum, params, emaDecay!);
      step += 1;
      intervalLoss += stepLoss;
      intervalMicro += 1;
      opts.onStep?.(step, { loss: stepLoss, lr, gradNorm });

      if (step % cfg.log_every === 0 || step === planned) {
        const now = performance.now();
        const tps = intervalTokens / ((now - intervalStart) / 1000);
        lastTrainLoss = intervalLoss / intervalMicro;
        metrics.log(step, { 'train/loss': lastTrainLoss, lr, tokens_per_s: tps, grad_norm: gradNorm });
        bar?.update(step, { loss: lastTrainLoss.toFixed(4), tps: Math.round(tps).toLocaleString('en') });
        intervalLoss = 0;
        intervalMicro = 0;
        intervalTokens = 0;
        intervalStart = now;
      } else {
        bar?.update(step);
      }

      let stop = false;
      if (step % cfg.eval_every === 0 || step === planned) {
        const weights = evalWeights();
        const val = await validate(weights);
        if (val !== null) {
          metrics.log(step, { 'val/loss': val });
          if (early.bestValLoss === null || val < early.bestValLoss) {
            early = { bestValLoss: val, bestStep: step, badEvals: 0 };
            await saveBest(weights);
          } else {
            early = { ...early, badEvals: early.badEvals + 1 };
            if (cfg.patience > 0 && early.badEvals >= cfg.patience) {
              stoppedBy = 'early_stopping';
              stop = true;
            }
          }
          bar?.update(step, { val: val.toFixed(4) });
          if (!bar) log(`step ${step}: train/loss ${stepLoss.toFixed(4)}, val/loss ${val.toFixed(4)}${early.bestStep === step ? ' (best)' : ''}`);
        }
      }
      if (stop) break;
      if (budgetSeconds !== null && step % cfg.eval_every === 0 && step < planned) {
        // the updates that fit in what is left at this process's mean seconds an update so far,
        // evaluations and checkpoints included; up or down, never past max_steps
        const ran = (clock() - clockStart) / 1000;
        const perUpdate = ran / (step - stepAtStart);
        const fit = step + Math.floor((budgetSeconds - secondsBefore - ran) / perUpdate);
        const next = Math.max(step, Math.min(cfg.max_steps, fit));
        if (next < cfg.max_steps && planned === cfg.max_steps) {
          log(`step ${step}: ${cfg.max_steps} updates do not fit in train.max_minutes=${cfg.max_minutes} at ${perUpdate.toFixed(3)} s an update: the schedule now spans ${next} (re-planned at every evaluation)`);
        }
        if (next !== planned) bar?.setTotal(next);
        planned = next;
      }
      if (opts.signal?.aborted) {
        stoppedBy = 'interrupted';
        break;
      }
      if (step % cfg.checkpoint_every === 0 && step < planned) await checkpoint(null);
    }
    if (stoppedBy === 'max_steps' && planned < cfg.max_steps) stoppedBy = 'max_minutes';

    // without validation (or interrupted before the first), the weights at hand are the best we know
    if (early.bestValLoss === null) await saveBest(evalWeights());
    const ckPath = await checkpoint(stoppedBy === 'interrupted' ? null : stoppedBy);
    bar?.stop();
    if (stoppedBy === 'interrupted') log(`interrupted at step ${step}: checkpoint ${ckPath}; continue with resume=true`);
    else if (stoppedBy === 'max_minutes') log(`train.max_minutes=${cfg.max_minutes}: stopped at step ${step} of max_steps ${cfg.max_steps}, where the re-planned schedule ended`);
    else if (stoppedBy === 'early_stopping') log(`early stopping at step ${step}: no improvement in ${cfg.patience} evaluations; best val/loss ${early.bestValLoss?.toFixed(4)} at step ${early.bestStep}`);
    threw = false;
  } finally {
    bar?.stop();
    await metrics.close({ exitCode: threw ? 1 : 0 });
    await runner.release();
  }

  const seconds = (performance.now() - t0) / 1000;
  const loopSeconds = (performance.now() - loopStart) / 1000;
  return {
    runDir,
    steps: step,
    stoppedBy,
    plannedSteps: planned,
    initialValLoss,
    lastValLoss,
    bestValLoss: early.bestValLoss,
    bestStep: early.bestStep,
    lastTrainLoss,
    tokensSeen,
    tokensPerSecond: loopSeconds > 0 ? (tokensSeen - tokensAtStart) / loopSeconds : 0,
    seconds,
    paramCount: nParams,
  };
}
