import type { ModelConfig } from './config.ts';

/**
 * The GPT's parameters, named and shaped as Hugging Face's GPT2LMHeadModel names them, so a
 * checkpoint loads there too. Notation: V = vocab size, C = n_embd, T = n_ctx, L = n_layer.
 * The output head is tied to transformer.wte.weight (no separate lm_head tensor).
 */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** AdamW weight decay applies (matrices of linear layers); not biases, LayerNorm or embeddings */
  decay: boolean;
  /** 'normal' ~ N(0, std^2), 'zeros', 'ones' */
  init: 'normal' | 'zeros' | 'ones';
  /** standard deviation for 'normal' init */
  std: number;
  /** an embedding table (decayed only when train.decay_embeddings) */
  embedding: boolean;
  /**
   * fitted after training by the value memory's refit (src/train/memoryRefit.ts), not by the
   * optimizer: the training graph and its checkpoints leave it out (trainedParamSpecs), and
   * model.safetensors holds it at its init until the refit
   */
  refitOnly?: boolean;
}

export function gptParamSpecs(cfg: ModelConfig, vocabSize: number): ParamSpec[] {
  const C = cfg.n_embd;
  if (C % cfg.n_head !== 0) {
    throw new RangeError(`model.n_embd (${C}) must be divisible by model.n_head (${cfg.n_head})`);
  }
  const std = cfg.init_std;
  // GPT-2 scales the residual projections by 1/sqrt(2 L) so the residual stream's variance stays put
  const residStd = std / Math.sqrt(2 * cfg.n_layer);
  const p = (name: string, shape: number[], init: ParamSpec['init'], s = std, embedding = false): ParamSpec => ({
    name,
    shape,
    init,
    std: s,
    embedding,
    decay: shape.length === 2 && !embedding,
  });
  const specs: ParamSpec[] = [
    p('transformer.wte.weight', [vocabSize, C], 'normal', std, true), // [V, C]
    p('transformer.wpe.weight', [cfg.n_ctx, C], 'normal', 0.01, true), // [T, C]
  ];
  // the value memory's tables (model.value_memory, src/model/gpt.ts MEMORY_INPUT), indexed like wte:
  // its embedding and its logit bonus; zeros, so training starts from the plain GPT
  if (cfg.value_memory) {
    specs.push(p('transformer.wme.weight', [vocabSize, C], 'zeros', 0, true)); // [V, C]
    specs.push(p('transformer.wmb.weight', [vocabSize], 'zeros')); // [V]
    // a value token's bonus while its variable has no value yet: one number per variable (the
    // refit ties a variable's tokens), which calibrates how many patients get each lab
    specs.push({ ...p('transformer.wma.weight', [vocabSize], 'zeros'), refitOnly: true }); // [V]
    // a value token's bonus by its distance from the variable's value before the latest, a kernel
    // like wmb's (MEMORY_BEFORE_INPUT): zeros unless the refit fits it (train.memory_refit_before)
    specs.push({ ...p('transformer.wmp.weight', [vocabSize], 'zeros'), refitOnly: true }); // [V]
  }
  for (let l = 0; l < cfg.n_layer; l++) {
    const h = `transformer.h.${l}`;
    specs.push(
      p(`${h}.ln_1.weight`, [C], 'ones'),
      p(`${h}.ln_1.bias`, [C], 'zeros'),
      p(`${h}.attn.c_attn.weight`, [C, 3 * C], 'normal'), // Conv1D layout: [in, out]
      p(`${h}.attn.c_attn.bias`, [3 * C], 'zeros'),
      p(`${h}.attn.c_proj.weight`, [C, C], 'normal', residStd),
      p(`${h}.attn.c_proj.bias`, [C], 'zeros'),
      p(`${h}.ln_2.weight`, [C], 'ones'),
      p(`${h}.ln_2.bias`, [C], 'zeros'),
      p(`${h}.mlp.c_fc.weight`, [C, 4 * C], 'normal'),
      p(`${h}.mlp.c_fc.bias`, [4 * C], 'zeros'),
      p(`${h}.mlp.c_proj.weight`, [4 * C, C], 'normal', residStd),
      p(`${h}.mlp.c_proj.bias`, [C], 'zeros'),
    );
  }
  specs.push(p('transformer.ln_f.weight', [C], 'ones'), p('transformer.ln_f.bias', [C], 'zeros'));
  return specs;
}

export function paramCount(specs: readonly ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** The parameters the optimizer trains: gptParamSpecs without the refit-only ones. */
export function trainedParamSpecs(cfg: ModelConfig, vocabSize: number): ParamSpec[] {
  return gptParamSpecs(cfg, vocabSize).filter((s) => !s.refitOnly);
}
