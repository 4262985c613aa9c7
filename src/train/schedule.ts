import type { TrainConfig } from './config.ts';

/**
 * The learning rate for optimizer update `step` (0-based): linear warmup from lr/warmup_steps up to
 * lr over the first warmup_steps updates, then cosine or linear decay that reaches
 * min_lr_ratio * lr at the last update (step max_steps - 1), or constant.
 */
export function learningRate(
  step: number,
  cfg: Pick<TrainConfig, 'lr' | 'min_lr_ratio' | 'warmup_steps' | 'max_steps' | 'schedule'>,
): number {
  const { lr, warmup_steps: W, max_steps: S } = cfg;
  // (step + 1) so that the first update already moves the weights
  if (step < W) return (lr * (step + 1)) / W;
  if (cfg.schedule === 'constant') return lr;
  const minLr = lr * cfg.min_lr_ratio;
  const span = S - 1 - W;
  const progress = span <= 0 ? 1 : Math.min(1, (step - W) / span);
  if (cfg.schedule === 'linear') return lr - (lr - minLr) * progress;
  return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
