import { z } from 'zod';

/** The `eval` group's gradient-boosted trees (utility and detection). */
export const boostingConfigSchema = z
  .object({
    // 100 shallow trees at rate 0.1: the usual starting point, and enough on a few thousand patients
    trees: z.number().int().positive().default(100),
    // depth 3 = up to 8 leaves: interactions of three features without memorizing rows
    depth: z.number().int().min(1).max(10).default(3),
    learning_rate: z.number().positive().max(1).default(0.1),
    // quantile bins per feature; 32 keeps the histograms small at little cost in split quality
    bins: z.number().int().min(2).max(256).default(32),
  })
  .strict();

/** The `eval` config group: which comparisons to run and their parameters. */
export const evalConfigSchema = z
  .object({
    // null = data/synthetic/<run_name>
    synthetic: z.string().nullable().default(null),
    // `synehr roundtrip`: the real split decoded from its own tokens (val: tokenizer settings are
    // chosen on it; test only for reporting the choice)
    roundtrip_split: z.enum(['val', 'test']).default('val'),
    // the held-out real split synthetic records are measured against (utility, privacy holdout,
    // the ceiling): test to report; val to choose settings (sampling temperature, top-p, ...)
    // without looking at test
    holdout: z.enum(['test', 'val']).default('test'),
    // neighbours for PRDC, the kNN membership-inference attack and attribute inference
    k: z.number().int().positive().default(5),
    // folds of cross-validation for the detection classifiers
    cv_folds: z.number().int().min(2).default(5),
    // labels to measure utility on; empty = the data config's main label
    labels: z.array(z.string()).default([]),
    seed: z.number().int().default(7),
    // cap on rows per set for the feature-space metrics (PRDC, detection, distances): they cost N·M·D
    max_rows: z.number().int().positive().default(5000),
    // presence columns for this many of the most frequent training codes in the feature vectors
    top_codes: z.number().int().min(0).default(50),
    // the covariate the attribute-inference attack predicts; null = the first categorical covariate, else the first numeric one
    attribute: z.string().nullable().default(null),
    // size of the independent-marginals floor sample; null = as many as synthetic records
    n_marginals: z.number().int().positive().nullable().default(null),
    // L2 penalty of the logistic regressions, on the mean log-loss
    l2: z.number().min(0).default(1e-3),
    // replicates of the percentile bootstrap behind the 95% intervals of the utility AUROCs and the
    // detection AUCs (the scored rows resampled, the models kept); 0 = no intervals
    bootstrap: z.number().int().min(0).default(1000),
    boosting: boostingConfigSchema.default({ trees: 100, depth: 3, learning_rate: 0.1, bins: 32 }),
  })
  .strict();

export type EvalConfig = z.infer<typeof evalConfigSchema>;
