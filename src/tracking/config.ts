import { z } from 'zod';

/** The `tracking` config group: where metrics go. */
export const trackingConfigSchema = z
  .object({
    // one JSON object per logged step in the run directory
    metrics_jsonl: z.boolean().default(true),
    // events.out.tfevents.* for TensorBoard (and `wandb sync --sync-tensorboard`)
    tensorboard: z.boolean().default(true),
    // online Weights & Biases logging; needs WANDB_API_KEY in the environment
    wandb: z.boolean().default(false),
    wandb_project: z.string().default('synehr'),
    wandb_entity: z.string().nullable().default(null),
  })
  .strict();

export type TrackingConfig = z.infer<typeof trackingConfigSchema>;
