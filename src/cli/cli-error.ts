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
  'OPERATION_PURGED',
  'OPERATION_ENDED',
  'ENVIRONMENT_NOT_FOUND',
  'INVALID_WEEK',
  'INVALID_STORE_URL',
  'ACCESS_DENIED',
  'IDEMPOTENCY_KEY_REUSED',
  'ROLLBACK_NOT_FAILED',
  'UNKNOWN_STEP',
  'ENVIRONMENT_NOT_EMPTY',
  'SKIP_REFUSED',
]);

/** What to do about a stored event the CLI cannot read, by what is wrong with it. */
const storedEventHint = (
  cli: string,
  error: { kind?: unknown; position?: unknown },
): string | undefined => {
  const skip = `${cli} projections:skip --position ${String(error.position)} --user EMAIL --reason "..."`;
  switch (error.kind) {
    case 'damaged':
    case 'schema_mismatch':
      return `repair the stored event; if it cannot be repaired, let the read models pass over it, on record: ${skip}`;
    case 'unknown_type':
      return `if a newer opledger wrote it, upgrade (npm install opledger@latest); if not, repair it, or let the read models pass over it, on record: ${skip}`;
    case 'old_version':
      return `read this store with the upcaster that version needs (createProjector({ upcasters })); to go on without the event here: ${skip}`;
    case 'newer_version':
      return 'a newer opledger wrote this store: upgrade (npm install opledger@latest)';
    default:
      return undefined;
  }
};

/** What to do about an error of the core, said in terms of the CLI (`cli` is how it is typed). */
const HINTS: Record<string, string | ((cli: string, error: { operationId?: string }) => string)> = {
  OPERATION_NOT_FOUND: (cli) =>
    `list the operations with: ${cli} operations --env ENV; and check --store / OPLEDGER_STORE`,
  OPERATION_PURGED: (cli, { operationId = 'ID' }) =>
    `its log can still be printed from its events: ${cli} operation:follow ${operationId}`,
  SKIP_REFUSED: (cli) =>
    `run a read command (e.g. ${cli} operations --env ENV) to see the event they stop at, if any`,
  OPERATION_ENDED: (cli) => `read what happened with: ${cli} operation:logs ID`,
  ENVIRONMENT_NOT_FOUND: (cli) =>
    `an environment exists once provisioned: ${cli} run environment.provision --env ENV --resource environment:ENV`,
  INVALID_PARAMS:
    "pass params with --param KEY=VALUE; opledger's docs/catalog.md lists each operation's params",
  INVALID_WEEK: 'for example --week 2026-W48',
  ACCESS_DENIED: 'ask for access to this environment',
};

/** The commands that empty an environment, one per app or database the refusal lists. */
const deprovisionCommands = (cli: string, error: unknown): string | undefined => {
  const { environment, resources } = error as {
    environment?: unknown;
    resources?: { type: string; handle: string }[];
  };
  if (typeof environment !== 'string' || !Array.isArray(resources)) return undefined;
  return resources
    .map(
      (r) =>
        `${cli} run ${r.type}.deprovision --env ${environment} --resource ${r.type}:${r.handle}`,
    )
    .join('; ');
};

export const toCliError = (
  error: unknown,
  context: { operationTypes?: readonly string[]; command?: string } = {},
): CliError => {
  if (error instanceof CliError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const cli = context.command ?? 'opledger';
  if (typeof code === 'string' && INPUT_ERRORS.has(code)) {
    const known = HINTS[code];
    const hint =
      code === 'UNKNOWN_OPERATION_TYPE' && context.operationTypes
        ? `${cli} run takes: ${context.operationTypes.join(', ')}`
        : code === 'ENVIRONMENT_NOT_EMPTY'
          ? deprovisionCommands(cli, error)
          : typeof known === 'function'
            ? known(cli, error as { operationId?: string })
            : known;
    return new CliError(message, { exitCode: EXIT_USAGE, ...(hint ? { hint } : {}) });
  }
  if (code === 'INVALID_STORED_EVENT' || code === 'UNKNOWN_EVENT_TYPE') {
    const hint = storedEventHint(cli, error as { kind?: unknown; position?: unknown });
    return new CliError(message, { exitCode: EXIT_FAILED, ...(hint ? { hint } : {}) });
  }
  return new CliError(message || String(error), { exitCode: EXIT_FAILED });
};
