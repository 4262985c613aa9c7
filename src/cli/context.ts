import type { SynehrConfig } from '../config/types.ts';

/**
 * What a subcommand receives. Each stage's command lives in src/cli/commands/<name>.ts and exports
 * `run(ctx: CommandContext): Promise<void | number>` (a number is the exit code); it throws
 * SynehrError for a user's mistake.
 */
export interface CommandContext {
  /** the subcommand being run, e.g. "train" */
  command: string;
  /** the composed config (defaults list + user config + command-line overrides), validated */
  config: SynehrConfig;
  /** the command-line overrides as given, e.g. ["data=physionet2012", "model.n_ctx=512"] (one job's, under -m) */
  overrides: string[];
  /**
   * The command-line words that are not overrides, in order: flags (`--port 8080`, `--url=...`)
   * and positional words (`show` in `synehr config show`).
   */
  args: string[];
  /** the flags among args: `--port 8080` and `--port=8080` give { port: "8080" }, a bare `--dry-run` gives { "dry-run": true } */
  flags: Record<string, string | boolean>;
  /** this job under -m/--multirun ({ index: 0, count: 1 } for a single run) */
  job: { index: number; count: number };
  /** the user's working directory: outputs (saved_models/, data/processed/, data/synthetic/, tokenizer/) go under it */
  workDir: string;
  /** the installed package's root: built-in configs/ and embedded data/ */
  packageRoot: string;
  /** a relative path from a config, resolved against workDir if it exists there, else against packageRoot */
  resolvePath(p: string): string;
  /**
   * The command's run directory, created on first call (later calls return the same path):
   * train/pipeline: saved_models/<run_name>/ with config.yaml and overrides.yaml, refused when it
   * exists unless resume=true or overwrite=true; export/generate/evaluate (a trained run):
   * saved_models/<run>/ as it is; other commands: outputs/<date>/<time>/ with the two files.
   */
  runDir(): Promise<string>;
  /** progress and summaries go here (stderr), so stdout stays clean for data */
  log(message: string): void;
}
