import { z } from 'zod';

/** The `tracking` config group: where metrics go. */
export const trackingConfigSchema = z
  .object({
    // one JSON object per logged step in the run directory
    metrics_jsonl: z.boolean().default(true),
    // events.out.tfevents.* for TensorBoard
    tensorboard: z.boolean().default(true),
    // a Weights & Biases run: wandb/<run folder>/run-<id>.wandb in the run directory, and online
    // too unless WANDB_MODE=offline (online needs WANDB_API_KEY) or WANDB_MODE=disabled
    wandb: z.boolean().default(false),
    // the W&B project the run goes to
    wandb_project: z.string().default('synehr'),
    // the W&B user or team; null = the API key's default entity (offline: the syncing user's)
    wandb_entity: z.string().nullable().default(null),
  })
  .strict();

export type TrackingConfig = z.infer<typeof trackingConfigSchema>;
