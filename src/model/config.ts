import { z } from 'zod';

/** A dropout probability: at most 0.99, since dropping more leaves almost nothing to train on (and 1 would scale by infinity). */
const dropProbability = z.number().min(0).max(0.99).default(0);

/** The `model` config group: the GPT's shape (DESIGN.md, "The graph engine and the model"). */
export const modelConfigSchema = z
  .object({
    // the option's name, kept in the run's config for the record; the defaults below are
    // configs/model/gpt-small.yaml's, the CPU default (see the reasons there)
    name: z.string().default('gpt-small'),
    n_layer: z.number().int().positive().default(4),
    // embedding width; must be divisible by n_head
    n_embd: z.number().int().positive().default(128),
    // head size n_embd / n_head = 64: attention's [B, H, T, T] tensors dominate a step at T = 1024
    n_head: z.number().int().positive().default(2),
    // context length in tokens: packed training windows and the sampler's maximum length (PhysioNet 2012 patients: 505 tokens at the median, 932 at p99)
    n_ctx: z.number().int().positive().default(1024),
    // std of the normal initialisation (GPT-2's 0.02); residual projections are scaled by 1/sqrt(2 n_layer)
    init_std: z.number().positive().default(0.02),
    // inverted dropout while training on the summed token + position embeddings (Hugging Face
    // GPT-2's name, written so into the export's config.json); 0 = off. GPT-2 and SynEHRgy used
    // 0.1. Dropout is the identity at inference (validation, export, sampler)
    embd_pdrop: dropProbability,
    // inverted dropout while training on each block's attention projection and MLP output, before
    // they join the residual stream (GPT-2's resid_pdrop); 0 = off. GPT-2's attn_pdrop, on the
    // attention probabilities, is not offered: it cost over 10% of a gpt-small step (docs/training.md)
    resid_pdrop: dropProbability,
    // the value memory: every position's input also gets the mean of learned vectors of each
    // measured variable's latest value token (rows of transformer.wme.weight [V, C]), and each
    // value token's logit a bonus learned per variable over its distance in bins from that
    // variable's latest value (transformer.wmb.weight); both start at zero. The patient's current
    // values then sit in every input, where the plain GPT must find a lab's last bin hundreds of
    // tokens back by attention (docs/quality.md). Needs the joint tokenizer strategy. The Hugging
    // Face export gains a `memory` input and no longer loads as a plain GPT2LMHeadModel. Off here,
    // on in the default option (configs/model/gpt-small.yaml)
    value_memory: z.boolean().default(false),
    // with the value memory: the patient's labels too, once drawn, handed to every later position;
    // each label's learned vector (its token's row of transformer.wme.weight) is added to the input
    // beside the variables' mean, so the series can follow the outcome without finding its token by
    // attention (docs/training.md, "The value memory"). The memory input gains a column per label
    memory_labels: z.boolean().default(false),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelConfigSchema>;
