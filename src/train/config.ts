import { z } from 'zod';

/** The `train` config group: optimisation and the run's bookkeeping. */
export const trainConfigSchema = z
  .object({
    // cpu, or cuda where a CUDA-enabled ONNX Runtime is installed
    device: z.enum(['cpu', 'cuda']).default('cpu'),
    // intra-op threads for ONNX Runtime; 0 = one per core
    threads: z.number().int().min(0).default(0),
    // packed windows of n_ctx tokens per step (SynEHRgy's mini_batch); 4 x 1024 tokens is ~1 s a
    // step for gpt-small on two cores, and enough tokens per update for a stable gradient
    batch_size: z.number().int().positive().default(4),
    // steps whose gradients are summed before one optimizer update
    grad_accum: z.number().int().positive().default(1),
    // peak learning rate: small GPTs (~1M parameters) train well at 1e-3 to 3e-3
    lr: z.number().positive().default(2e-3),
    // the schedule decays to this fraction of lr
    min_lr_ratio: z.number().min(0).max(1).default(0.1),
    warmup_steps: z.number().int().min(0).default(50),
    schedule: z.enum(['cosine', 'linear', 'constant']).default('cosine'),
    // optimizer updates in all; the schedule spans them. 3500 x 4 x 1024 tokens is ~8 epochs of
    // PhysioNet 2012 set-a, about 22 minutes for gpt-small on two cores (docs/quality.md: the recipe;
    // `train=quick` is 600)
    max_steps: z.number().int().positive().default(3500),
    // a wall-clock budget for the updates, in minutes (validation and checkpoints included); null =
    // none. At every evaluation the schedule is re-planned to the updates that fit at the speed
    // measured so far (never more than max_steps), so the cosine still ends at min_lr_ratio. 17
    // keeps the default recipe's `npm start` within 30 minutes on a slow day: at 22 it took 32.4 in
    // a fresh clone at 7,000 tokens/s, 10 of them after training, and label guidance
    // (generate.guidance=auto) adds about 2 more (docs/quality.md); a machine that runs 3,500
    // updates in less is not affected
    max_minutes: z.number().positive().nullable().default(17),
    weight_decay: z.number().min(0).default(0.1),
    // GPT practice: no weight decay on biases, LayerNorm and embeddings unless asked
    decay_embeddings: z.boolean().default(false),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.95),
    eps: z.number().positive().default(1e-8),
    // global-norm gradient clipping; 0 turns it off
    clip_norm: z.number().min(0).default(1.0),
    // validation loss every N updates, over this many batches
    eval_every: z.number().int().positive().default(50),
    // 10 x 4 x 1024 tokens: a fifth of PhysioNet's validation split, ~5% of the run's time
    eval_batches: z.number().int().positive().default(10),
    // stop after this many evaluations without improvement; 0 turns early stopping off
    patience: z.number().int().min(0).default(5),
    checkpoint_every: z.number().int().positive().default(100),
    // an exponential moving average of the weights after every update (src/train/ema.ts), e.g.
    // 0.99: the average spans ~1 / (1 − decay) updates. Validation, early stopping and
    // model.safetensors then use the average; null = off, the raw weights. 0.998 (~500 updates)
    // lowered detection and raised KSComplement and PRDC on the validation split (docs/quality.md)
    ema_decay: z.number().gt(0).lt(1).nullable().default(0.998),
    // the training loss's weight on the main label's value tokens (data.labels' `main`, else the
    // first label), against 1 for every other token: with tokenizer.label_position=last the
    // label is the model's own classifier of the record, one token after ~520, so at 1 it is ~0.1%
    // of what the model learns from a patient. 30 against 1, with the labels last, over three seeds
    // on the validation split: TSTR +0.013 / +0.000 inside the spread, PRDC precision −0.013
    // (docs/quality.md, "Where the labels sit, and the label's weight"), so 1 = the plain mean;
    // val/loss is always the plain mean
    main_label_weight: z.number().positive().default(1),
    log_every: z.number().int().positive().default(10),
    // With model.value_memory: after training, the memory's logit bonuses (wmb, wma) are refitted on
    // the frozen trunk over this many training patients (src/train/memoryRefit.ts), keeping the
    // step with the lowest loss on as many validation patients; 0 = off. Trained with the trunk,
    // the kernel under-predicts rare labs' repeat measurements (docs/quality.md)
    memory_refit_patients: z.number().int().min(0).default(800),
    // full-batch Adam steps of the refit, and their learning rate: the problem is convex and
    // has one weight per kernel entry, so a few dozen large steps converge
    memory_refit_steps: z.number().int().positive().default(60),
    memory_refit_lr: z.number().positive().default(0.05),
    // the refit also fits each variable's first-value offset (transformer.wma.weight), which
    // calibrates how many patients get each lab; false = the kernel alone
    memory_refit_first_values: z.boolean().default(true),
    // the refit also fits the kernel on each variable's value before its latest
    // (transformer.wmp.weight, MEMORY_BEFORE_INPUT in src/model/gpt.ts), which lets a series
    // come back after a jump as real ones do; false = it stays 0
    memory_refit_before: z.boolean().default(false),
    // With model.value_memory, after the refit: rounds of sampling this many patients and moving
    // each variable's first-value offset so that the share of sampled patients with the variable
    // meets the training split's (src/generate/calibrate.ts); 0 = off. Sampling measures some
    // variables more often than teacher forcing predicts (docs/quality.md)
    memory_calibration_patients: z.number().int().min(0).default(1000),
    memory_calibration_rounds: z.number().int().positive().default(1),
    // the same rounds also move a logit offset of each covariate's and label's value so that the
    // sampled records have the training split's shares of them (docs/quality.md, "Calibrating
    // the record's fields"); false = only the variables' first-value offsets
    memory_calibration_fields: z.boolean().default(true),
  })
  .strict();

export type TrainConfig = z.infer<typeof trainConfigSchema>;
