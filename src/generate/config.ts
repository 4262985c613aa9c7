import { z } from 'zod';

/** The `generate` config group: sampling and output of synthetic patients. */
export const generateConfigSchema = z
  .object({
    n_samples: z.number().int().positive().default(1000),
    // rows sampled together in one call of sampler.onnx
    batch_size: z.number().int().positive().default(64),
    // 1 samples the model's distribution; lower is greedier
    temperature: z.number().positive().default(1.0),
    // 0 keeps every token
    top_k: z.number().int().min(0).default(0),
    // 1 keeps every token
    top_p: z.number().gt(0).max(1).default(1.0),
    // model.value_memory only: a measured variable's next value is sampled at this temperature
    // within the variable, keeping the model's probability that it is measured; 1 = the model's
    value_temperature: z.number().positive().default(1.0),
    // label guidance (docs/cli.md, docs/quality.md): each row is sampled beside a contrast row that has the
    // other value of a binary label, from l + guidance · (l − l_contrast), which strengthens what
    // the label changes in a record; 0 = off (one row each, the model's distribution). Costs
    // twice the sampling. auto = 0.5 where the guided label is binary and drawn before the
    // series (tokenizer.label_position=first), else 0; the log and the manifest say which
    guidance: z.union([z.literal('auto'), z.number().min(0)]).default('auto'),
    // the binary label guidance contrasts; null = the data config's main label
    guidance_label: z.string().min(1).nullable().default(null),
    seed: z.number().int().default(1234),
    // condition each sample on the covariates and labels of a real training patient (its covariates
    // only, when the tokenizer puts the labels last)
    fix_covars: z.boolean().default(false),
    // the longest sequence in tokens, prefix included; null = the model's n_ctx
    max_len: z.number().int().positive().nullable().default(null),
    // conditions given as patients: each {covariates, labels} fixes a row's prefix, used in turn
    cohort: z
      .array(
        z
          .object({
            covariates: z.record(z.string(), z.union([z.number(), z.string(), z.null()])).default({}),
            labels: z.record(z.string(), z.number()).default({}),
          })
          .strict(),
      )
      .default([]),
    // output formats written beside each other
    formats: z.array(z.enum(['parquet', 'csv', 'arrow'])).default(['parquet']),
    // null = data/synthetic/<run_name>
    out_dir: z.string().nullable().default(null),
  })
  .strict();

export type GenerateConfig = z.infer<typeof generateConfigSchema>;
