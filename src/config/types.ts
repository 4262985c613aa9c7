import type { DataConfig } from '../records/dataConfig.ts';
import type { TokenizerConfig } from '../tokenizer/config.ts';
import type { ModelConfig } from '../model/config.ts';
import type { TrainConfig } from '../train/config.ts';
import type { GenerateConfig } from '../generate/config.ts';
import type { EvalConfig } from '../evaluate/config.ts';
import type { TrackingConfig } from '../tracking/config.ts';
import type { LoadConfig } from '../load/config.ts';

/** The composed, interpolated and validated configuration every command receives. */
export interface SynehrConfig {
  /** saved_models/<run_name>/ for commands that train or read a model; null = no model run. */
  run_name: string | null;
  /** the master seed; stages derive their own streams from it */
  seed: number;
  /** continue a run that exists (training from its checkpoint, generation up to n_samples) */
  resume: boolean;
  /** replace a run that exists */
  overwrite: boolean;
  data: DataConfig;
  tokenizer: TokenizerConfig;
  model: ModelConfig;
  train: TrainConfig;
  generate: GenerateConfig;
  eval: EvalConfig;
  tracking: TrackingConfig;
  load: LoadConfig;
}
