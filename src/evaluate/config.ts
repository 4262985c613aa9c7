import { z } from 'zod';

/** The `eval` config group: which comparisons to run and their parameters. */
export const evalConfigSchema = z
  .object({
    // null = data/synthetic/<run_name>
    synthetic: z.string().nullable().default(null),
    // neighbours for PRDC and the kNN membership-inference attack
    k: z.number().int().positive().default(5),
    // folds of cross-validation for the detection classifiers
    cv_folds: z.number().int().min(2).default(5),
    // labels to measure utility on; empty = the data config's main label
    labels: z.array(z.string()).default([]),
    seed: z.number().int().default(7),
  })
  .strict();

export type EvalConfig = z.infer<typeof evalConfigSchema>;
