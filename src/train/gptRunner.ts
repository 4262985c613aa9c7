import type { ModelConfig } from '../model/config.ts';
import { buildEvalGraph, buildTrainingGraph, dropoutMaskSpecs, TRAINING_SESSION_OPTIONS } from '../model/gpt.ts';
import type { SessionOptions } from '../graph/runtime.ts';
import { createGraphRunner, type RunnerFactory } from './runner.ts';
import { TokenClass, type MemoryTable, type Vocabulary } from '../tokenizer/vocabulary.ts';

/**
 * The GPT's runner: builds its training graph (loss + gradients, with the model's dropout) and its
 * loss-only evaluation graph (no dropout) for [B, T] batches, and runs them in ONNX Runtime with
 * `session` options (threads, device). A model with the value memory needs the tokenizer's
 * memory table (Vocabulary.memoryTable()). `targetWeights` [V] weight the training loss's
 * targets (labelTargetWeights); the evaluation graph's loss, val/loss, stays the plain mean.
 */
export function gptRunnerFactory(model: ModelConfig, session: SessionOptions = {}, memory?: MemoryTable, targetWeights?: Float32Array): RunnerFactory {
  if (model.value_memory && !memory) throw new Error('gptRunnerFactory: model.value_memory needs the tokenizer\'s memory table');
  return async ({ layout, params, B, T, vocabSize }) => {
    const opts = { vocabSize, batch: B, ctx: T, ...(memory ? { memory } : {}) };
    const train = buildTrainingGraph(model, { ...opts, ...(targetWeights ? { targetWeights } : {}) });
    const names = train.params.map((p) => p.name).join(',');
    if (names !== layout.specs.map((s) => s.name).join(',')) {
      throw new Error(`the training graph's parameters differ from the trainer's layout: ${names.slice(0, 200)}`);
    }
    return createGraphRunner({
      train,
      eval: buildEvalGraph(model, opts),
      layout,
      params,
      B,
      T,
      session: { ...TRAINING_SESSION_OPTIONS, ...session },
      dropout: dropoutMaskSpecs(model, B, T),
      ...(memory ? { memory } : {}),
    });
  };
}

/**
 * Per target token [V], the loss weight that train.main_label_weight gives: `weight` at the value
 * tokens of the label `name`, 1 elsewhere.
 */
export function labelTargetWeights(vocab: Pick<Vocabulary, 'labelIndex' | 'tokenClass' | 'tokenOwner'>, name: string, weight: number): Float32Array {
  const i = vocab.labelIndex.get(name);
  if (i === undefined) throw new RangeError(`labelTargetWeights: the tokenizer has no label '${name}' (it has ${[...vocab.labelIndex.keys()].join(', ') || 'none'})`);
  return Float32Array.from(vocab.tokenClass, (c, t) => (c === TokenClass.label && vocab.tokenOwner[t] === i ? weight : 1));
}
