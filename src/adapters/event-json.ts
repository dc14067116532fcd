import { InvalidEventError } from '../domain/errors.js';

/**
 * The JSON text of an event's `what` ('data' or 'metadata'), as a store writes it; an
 * `InvalidEventError` naming the event type when it has none (a bigint, a cycle, a function),
 * so a bad event fails before anything is written. Shared by the stores that keep JSON text
 * (SQLite) or a JSON copy (EventStoreDB).
 *
 * @example
 * ```ts
 * eventJsonText('AppDeployed', 'data', { image: 'web:2' }); // '{"image":"web:2"}'
 * eventJsonText('AppDeployed', 'data', { n: 1n }); // throws InvalidEventError
 * ```
 */
export const eventJsonText = (type: string, what: string, value: unknown): string => {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidEventError(
      type,
      `its ${what} cannot be stored as JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (text === undefined) {
    throw new InvalidEventError(type, `its ${what} is not a JSON value (got ${typeof value})`);
  }
  return text;
};
