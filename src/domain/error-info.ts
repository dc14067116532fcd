import type { ErrorInfo } from './events.js';

const MAX_CAUSES = 10;

const messageOf = (value: unknown): string => {
  if (value instanceof Error) return String(value.message);
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // Circular or otherwise unserialisable thrown values still get a message.
    return String(value);
  }
};

/** Records an error with its whole cause chain, so results never say just "operation failed". */
export const toErrorInfo = (error: unknown): ErrorInfo => {
  const causes: string[] = [];
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined && causes.length < MAX_CAUSES) {
    causes.push(messageOf(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return {
    name: error instanceof Error ? error.name : 'Error',
    message: messageOf(error) || '(no message)',
    ...(typeof code === 'string' ? { code } : {}),
    causes,
  };
};

// Messages are joined into sentences ("...: <error>; retrying in 1s"): a final period would
// end the sentence too early.
const clause = (text: string) => text.replace(/\.+\s*$/, '');

export const describeError = (info: ErrorInfo): string =>
  [info.message, ...info.causes.map((c) => `caused by: ${c}`)].map(clause).join('; ');
