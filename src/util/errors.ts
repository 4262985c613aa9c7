/**
 * Every code a SynehrError carries, with its one meaning. Scripts and tests match on the code;
 * docs/cli.md lists the same table (test/cli/docs.test.ts keeps the two in step).
 */
export const ERROR_CODES = {
  E_USAGE: 'the command line itself: an unknown command or flag, a flag without its value, a missing required word',
  E_CONFIG_KEY: 'a config key that no schema knows',
  E_CONFIG_TYPE: 'a config value of the wrong type or outside its range',
  E_CONFIG_VALUE: 'a config value of the right type that cannot work (a duplicate column name, an unknown covariate in a cohort)',
  E_CONFIG_OPTION: 'an option of a config group that does not exist',
  E_CONFIG_OVERRIDE: 'a command-line override that does not parse',
  E_CONFIG_FILE: 'a config file that cannot be read or parsed',
  E_CONFIG_INTERPOLATION: 'a ${...} interpolation that does not resolve',
  E_ENV: 'an environment variable with a value that cannot work (WANDB_MODE other than online, offline or disabled)',
  E_INPUT: 'input data that cannot be read as promised: a raw source, a record table, a split file (named with its line or row)',
  E_RECORD: 'a record that breaks the canonical record or its data config',
  E_MISSING: 'an artifact a command needs is not there yet: run the stage that writes it',
  E_MISMATCH: 'an artifact made from other inputs or settings than the ones at hand (another tokenizer, data config or generation settings)',
  E_RUN: 'a trained run that does not exist or is incomplete',
  E_RUN_EXISTS: 'an output folder that exists and is not to be reused without resume=true or overwrite=true',
  E_MANIFEST: "a synthetic folder's manifest.json that is missing, broken or disagrees with its tables",
  E_INTEGRITY: 'record tables whose keys are duplicated or dangling',
  E_TOKENIZER_FILE: 'a tokenizer.json that cannot be read or is malformed',
  E_TOKENIZER_VERSION: 'a tokenizer.json of another format version',
  E_TOKENIZER_DATA: 'a tokenizer fitted for another data config',
  E_SHARD: 'a token shard that cannot be read or is malformed',
  E_CHECKPOINT: 'a checkpoint that cannot be read or does not match the run',
  E_SAFETENSORS: 'a safetensors file that cannot be read or is malformed',
  E_ONNX: 'an ONNX file that is damaged or that ONNX Runtime refuses',
  E_DEVICE: 'a device this ONNX Runtime cannot run (train.device=cuda without the CUDA provider)',
  E_DECODE: 'token ids that the grammar does not accept',
  E_CONDITION: 'a generation condition (prefix) that is not a valid start of a record',
  E_TRAIN: 'training that diverged',
  E_EVAL_INPUT: 'too few patients for an evaluation metric',
  E_MEMORY: 'a memory limit reached',
  E_INTERRUPTED: 'a stage stopped by Ctrl-C (SIGINT); the process exits 130',
  E_DB_CONNECT: 'a database that cannot be reached',
  E_DB_SCHEMA: 'database tables that cannot take the rows (append to another layout)',
  E_DB_LOAD: 'a database load that failed and was rolled back',
  E_S3: 'an object store that cannot be reached or refuses an upload',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * A user's mistake (bad config, bad input file, missing run): the CLI prints its one-line message
 * and exits non-zero, with no stack. Anything else that escapes is a bug and prints its stack.
 */
export class SynehrError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SynehrError';
    this.code = code;
  }
}

/** Input data that cannot be read as promised: names the file and, where known, the line. */
export function inputError(file: string, line: number | undefined, message: string): SynehrError {
  const where = line === undefined ? file : `${file}:${line}`;
  return new SynehrError('E_INPUT', `${where}: ${message}`);
}

/** Ctrl-C stopped a stage: the CLI exits 130 (128 + SIGINT), as shells expect. */
export function interruptedError(message: string): SynehrError {
  return new SynehrError('E_INTERRUPTED', message);
}

export function isSynehrError(e: unknown): e is SynehrError {
  return e instanceof SynehrError;
}
