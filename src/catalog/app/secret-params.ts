import type { StepDraft } from '../../domain/operation-definition.js';
import { REDACTED } from '../../domain/redaction.js';
import { AppStateError } from './app-errors.js';

/**
 * App operations whose params carry env values (a deploy's `env`, a configure's `secrets`) declare
 * those params sensitive: the engine records them as '[redacted]'. Two consequences are handled
 * here, for every step of such an operation.
 *
 * - The values are in the params only in the process that accepted the request. A process that
 *   recovers an operation from the events (`engine.recover()`) gets '[redacted]' instead: rolling
 *   back needs no env (old containers come back from their sealed records), but running forward
 *   would start containers with a placeholder for an environment. So a run that sees a redacted
 *   secret param fails at once, for good, before it changes anything.
 * - The engine masks only sensitive params that are strings; these are records, so an error whose
 *   message quotes a value (a cloud echoing a request) is masked here, before it is recorded.
 */

/** The values of the sensitive params were redacted: this process cannot run the operation. */
export class SecretParamsUnavailableError extends AppStateError {
  constructor(message: string) {
    super(message, 'SECRET_PARAMS_UNAVAILABLE');
  }
}

export interface SecretParams<P> {
  /** The operation's sensitive params (as given to defineOperation). */
  names: readonly string[];
  /** What the values are, for a person reading the error: e.g. 'env values'. */
  what: string;
  /** The secret values in the params, to mask in error messages (none once redacted). */
  values: (params: P) => readonly string[];
}

const mask = (text: string, secrets: readonly string[]) =>
  [...secrets]
    .sort((a, b) => b.length - a.length)
    .reduce((t, s) => t.split(s).join(REDACTED), text);

const maskError = (error: unknown, secrets: readonly string[]): void => {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++, e = e.cause) {
    const masked = mask(e.message, secrets);
    if (masked === e.message) continue;
    try {
      e.message = masked;
    } catch {
      // A frozen error cannot be masked: replace it by one that says what failed.
      throw new Error(`${e.name}: ${REDACTED} (its message quoted a secret value)`);
    }
  }
};

/** Wraps each step's run: refuses redacted secret params, masks secret values in its errors. */
export const protectSecrets =
  <P>(secret: SecretParams<P>) =>
  (draft: StepDraft<P>): StepDraft<P> => ({
    spec: {
      ...draft.spec,
      retry: {
        ...draft.spec.retry,
        nonRetryable: [...(draft.spec.retry?.nonRetryable ?? []), 'SecretParamsUnavailableError'],
      },
      run: async (ctx) => {
        const redacted = secret.names.filter(
          (name) => (ctx.params as Record<string, unknown>)[name] === REDACTED,
        );
        if (redacted.length > 0) {
          throw new SecretParamsUnavailableError(
            `the ${secret.what} of this operation (${redacted.join(', ')}) were not recorded, as secrets never are, and this process recovered it from the events: it cannot run it. Nothing was changed; request it again.`,
          );
        }
        try {
          return await draft.spec.run(ctx);
        } catch (error) {
          maskError(error, secret.values(ctx.params));
          throw error;
        }
      },
    },
  });

/** String values of a record param, `minLength` characters or more; none when redacted. */
export const recordValues = (record: unknown, minLength = 1): string[] =>
  typeof record === 'object' && record !== null
    ? Object.values(record as Record<string, unknown>).filter(
        (v): v is string => typeof v === 'string' && v.length >= minLength && v !== REDACTED,
      )
    : [];
