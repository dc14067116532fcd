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
  'ENVIRONMENT_NOT_EMPTY',
]);

/** What to do about an error of the core, said in terms of the CLI. */
const HINTS: Record<string, string> = {
  OPERATION_NOT_FOUND:
    'list the operations with: opledger operations --env ENV; and check --store / OPLEDGER_STORE',
  OPERATION_ENDED: 'read what happened with: opledger operation:logs ID',
  ENVIRONMENT_NOT_FOUND:
    'an environment exists once provisioned: opledger run environment.provision --env ENV --resource environment:ENV',
  INVALID_PARAMS:
    "pass params with --param KEY=VALUE; opledger's docs/catalog.md lists each operation's params",
  INVALID_WEEK: 'for example --week 2026-W48',
  ACCESS_DENIED: 'ask for access to this environment',
};

/** The commands that empty an environment, one per app or database the refusal lists. */
const deprovisionCommands = (error: unknown): string | undefined => {
  const { environment, resources } = error as {
    environment?: unknown;
    resources?: { type: string; handle: string }[];
  };
  if (typeof environment !== 'string' || !Array.isArray(resources)) return undefined;
  return resources
    .map(
      (r) =>
        `opledger run ${r.type}.deprovision --env ${environment} --resource ${r.type}:${r.handle}`,
    )
    .join('; ');
};

export const toCliError = (
  error: unknown,
  context: { operationTypes?: readonly string[] } = {},
): CliError => {
  if (error instanceof CliError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && INPUT_ERRORS.has(code)) {
    const hint =
      code === 'UNKNOWN_OPERATION_TYPE' && context.operationTypes
        ? `opledger run takes: ${context.operationTypes.join(', ')}`
        : code === 'ENVIRONMENT_NOT_EMPTY'
          ? deprovisionCommands(error)
          : HINTS[code];
    return new CliError(message, { exitCode: EXIT_USAGE, ...(hint ? { hint } : {}) });
  }
  return new CliError(message || String(error), { exitCode: EXIT_FAILED });
};
