import type { SynehrConfig } from '../config/types.ts';

/**
 * What a subcommand receives. Each stage's command lives in src/cli/commands/<name>.ts and exports
 * `run(ctx: CommandContext): Promise<void>`; it throws SynehrError for a user's mistake.
 */
export interface CommandContext {
  /** the composed config (defaults list + user config + command-line overrides), validated */
  config: SynehrConfig;
  /** the command-line overrides as given, e.g. ["data=physionet2012", "model.n_ctx=512"] */
  overrides: string[];
  /** the user's working directory: outputs (saved_models/, data/processed/, data/synthetic/, tokenizer/) go under it */
  workDir: string;
  /** the installed package's root: built-in configs/ and embedded data/ */
  packageRoot: string;
  /** a relative path from a config, resolved against workDir if it exists there, else against packageRoot */
  resolvePath(p: string): string;
  /**
   * The run directory saved_models/<run_name>/, created with config.yaml and overrides.yaml.
   * Refused when it exists, unless resume=true or overwrite=true.
   */
  runDir(): Promise<string>;
  /** progress and summaries go here (stderr), so stdout stays clean for data */
  log(message: string): void;
}
