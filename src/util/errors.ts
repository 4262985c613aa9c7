/**
 * A user's mistake (bad config, bad input file, missing run): the CLI prints its one-line message
 * and exits non-zero, with no stack. Anything else that escapes is a bug and prints its stack.
 *
 * `code` is stable so that scripts and tests can match on it, e.g. `E_CONFIG_KEY`, `E_INPUT`.
 */
export class SynehrError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
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

export function isSynehrError(e: unknown): e is SynehrError {
  return e instanceof SynehrError;
}
