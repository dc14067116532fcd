import { OpledgerError } from '../domain/errors.js';

/**
 * A handler of a user-defined projection threw (or produced a state that is not plain JSON
 * data). The projection stops at this event: the events before it are committed, nothing
 * after it is. Fix the handler, bump the projection's `version` if its past states were
 * wrong, and start it again.
 */
export class ProjectionHandlerError extends OpledgerError {
  constructor(
    readonly projection: string,
    readonly position: bigint,
    readonly stream: string,
    readonly eventType: string,
    readonly problem: string,
    cause?: unknown,
  ) {
    super(
      'PROJECTION_HANDLER_FAILED',
      `Projection '${projection}' stopped at the event at position ${position} (${eventType} in stream '${stream}'): ${problem}. Nothing after it was applied; fix the handler and start the projection again (bump its version to rebuild it).`,
      { cause },
    );
  }
}

/** `defineProjection` was given something it cannot run. */
export class InvalidProjectionError extends OpledgerError {
  constructor(name: string, problem: string) {
    super('INVALID_PROJECTION', `Projection '${name}' is invalid: ${problem}.`);
  }
}
