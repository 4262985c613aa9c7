import { z } from 'zod';

/** The `tokenizer` config group (DESIGN.md, "Tokenizer and grammar"). */
export const tokenizerConfigSchema = z
  .object({
    // SynEHRgy's bin_type; quantile_ueq puts edges at min, p2, p5, p10, p25, p50, p75, p90, p95, p98, max
    bin_type: z.enum(['uniform', 'quantile', 'quantile_ueq']).default('quantile'),
    // null = SynEHRgy's default per variable: min(10, floor(n_unique / 5)); quantile_ueq ignores it
    // (its 10 bins are fixed); tied edges merge, so a variable may get fewer bins than this
    n_bins: z.number().int().positive().nullable().default(null),
    // trim a far-out tail before binning (above p97.5 when (max - p97.5) / (p97.5 - median) > 3)
    trim_tails: z.boolean().default(true),
    // bin edges (years) of a numeric covariate named age (any case): 18, 20, 25, ..., 90; as with every
    // bin set, ages below 18 fall in the first bin [18, 20) and ages above 90 in the last [85, 90]
    age_edges: z.array(z.number()).default([18, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90]),
    // time-gap bin edges in hours: 'fit' = quantile edges over the training gaps (gap_bins of them,
    // with atom_share isolating the common gaps such as exactly 1 h), or a list of edges, e.g.
    // SynEHRgy's from HALO (tokenizer=synehrgy): 0, 0.5, 1.5, 2.5, 3.5, 6.5, 10.5, 16.5, 26.5, 48,
    // 48.1, 60.1, 80.1, 110.1, 150.1, 200.1; gaps above the last edge fall in the last bin
    gap_edges: z.union([z.literal('fit'), z.array(z.number())]).default('fit'),
    // gap_edges=fit: how many quantile bins of the training gaps (before atoms get their own)
    gap_bins: z.number().int().min(1).default(16),
    // a label with more distinct training values than this (and no declared values), such as a length
    // of stay in days, gets value bins (bin_type, n_bins) instead of one token per value
    label_max_values: z.number().int().min(1).default(20),
    // where the labels sit: 'last', after the last admission (`<s> cov… </covar> adm… label…
    // </label> </s>`), so the model predicts each label from the whole record it has just
    // generated, and a condition can fix the covariates only; 'first', after the covariates (`<s>
    // cov… </covar> label… </label> adm… </s>`), so generation can be conditioned on them, label
    // guidance can work, and the series are drawn given the outcome. 'last' raised TSTR over three
    // seeds on the validation split against 'first' with label guidance, and did not move detection
    // (docs/quality.md, "Where the labels sit, and the label's weight")
    label_position: z.enum(['first', 'last']).default('last'),
    // codes seen fewer times than this in the training split are dropped from the vocabulary
    code_min_count: z.number().int().min(1).default(1),
    // a time step holds one value per variable: of several measurements of one variable at the same
    // hours, keep the last (in record order), or for continuous variables their mean (categorical
    // ones keep the last either way); MIMIC-III's demo has ~15% such repeats, a third of them differing
    repeats: z.enum(['last', 'mean']).default('last'),
    // joint: one token per (variable, bin); var+quant: a variable token then a shared bin token
    strategy: z.enum(['joint', 'var+quant']).default('joint'),
    // a value holding at least this share of a variable's (or the gaps') training values gets a bin of
    // its own, so it decodes exactly (GCS 15, FiO2 0.5, a gap of exactly 1 h); null = off (SynEHRgy)
    atom_share: z.number().gt(0).max(1).nullable().default(0.05),
    // beyond the outermost bin edges (quantile or uniform), more edges out to the extremes, each step
    // from the median this factor longer than the last: far values (a creatinine of 20, a 25 h gap)
    // keep bins of about the same relative width instead of sharing one end bin; null = none (SynEHRgy)
    tail_growth: z.number().gt(1).nullable().default(1.5),
    // training values kept per variable (spread over its bins by their shares) for decoding to draw
    // from: the decoded distribution inside a bin is the training one to about 1 / value_atoms
    value_atoms: z.number().int().min(1).default(1000),
    // how a patient's series of a continuous variable is decoded: 'smooth' follows a fitted latent
    // process (values repeat and stay close as real series do, series.ts); 'independent' draws each
    // value afresh inside its bin, which makes series jitter
    decode: z.enum(['smooth', 'independent']).default('smooth'),
    // relative bins (strategy joint): a continuous value whose bin lies within this many bins of the
    // patient's previous value of that variable is written as the step from it, one token per
    // (variable, step) such as HCT:d+0, so the model need not copy a bin from far back to repeat it;
    // the first value of each variable, and larger jumps, keep their own bin token. 0 = off
    delta_bins: z.number().int().min(0).max(8).default(0),
    // relative bins only for the continuous variables measured at most this many times per training
    // patient on average (labs, rather than vitals charted hourly: a long walk of steps drifts from
    // the level a bin token would restate); null = every continuous variable
    delta_max_per_patient: z.number().positive().nullable().default(null),
  })
  .strict();

export type TokenizerConfig = z.infer<typeof tokenizerConfigSchema>;
