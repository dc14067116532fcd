/**
 * An error the CLI reports as is: what was wrong, what to do, and its exit code
 * (2 for bad input, 1 for everything that failed at run time).
 */
export class CliError extends Error {
  override name = 'CliError';
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(message: string, options: { hint?: string; exitCode?: number } = {}) {
    super(message);
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 2;
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Errors that come from what the user typed or asked for: exit 2, fix the input. */
const INPUT_ERRORS = new Set([
  'INVALID_REQUEST',
  'INVALID_PARAMS',
  'UNKNOWN_OPERATION_TYPE',
  'OPERATION_NOT_FOUND',
  'OPERATION_ENDED',
  'ENVIRONMENT_NOT_FOUND',
  'INVALID_WEEK',
  'INVALID_STORE_URL',
  'ACCESS_DENIED',
  'IDEMPOTENCY_KEY_REUSED',
  'ROLLBACK_NOT_FAILED',
  'UNKNOWN_STEP',
]);

export const toCliError = (error: unknown): CliError => {
  if (error instanceof CliError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && INPUT_ERRORS.has(code)) {
    return new CliError(message, { exitCode: EXIT_USAGE });
  }
  return new CliError(message || String(error), { exitCode: EXIT_FAILED });
};
