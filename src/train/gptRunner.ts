import type { ModelConfig } from '../model/config.ts';
import { buildEvalGraph, buildTrainingGraph, dropoutMaskSpecs, TRAINING_SESSION_OPTIONS } from '../model/gpt.ts';
import type { SessionOptions } from '../graph/runtime.ts';
import { createGraphRunner, type RunnerFactory } from './runner.ts';
import type { MemoryTable } from '../tokenizer/vocabulary.ts';

/**
 * The GPT's runner: builds its training graph (loss + gradients, with the model's dropout) and its
 * loss-only evaluation graph (no dropout) for [B, T] batches, and runs them in ONNX Runtime with
 * `session` options (threads, device). A model with the value memory needs the tokenizer's
 * memory table (Vocabulary.memoryTable()).
 */
export function gptRunnerFactory(model: ModelConfig, session: SessionOptions = {}, memory?: MemoryTable): RunnerFactory {
  if (model.value_memory && !memory) throw new Error('gptRunnerFactory: model.value_memory needs the tokenizer\'s memory table');
  return async ({ layout, params, B, T, vocabSize }) => {
    const opts = { vocabSize, batch: B, ctx: T, ...(memory ? { memory } : {}) };
    const train = buildTrainingGraph(model, opts);
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
