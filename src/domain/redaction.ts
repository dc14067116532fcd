import type { ErrorInfo } from './events.js';
import { setOwnValue } from './own-keys.js';

export const REDACTED = '[redacted]';

export interface Redactor {
  params(params: Record<string, unknown>): Record<string, unknown>;
  text(text: string): string;
  error(info: ErrorInfo): ErrorInfo;
  /** Masks secrets in every string of a step's JSON output. */
  value<T>(value: T): T;
}

/** A copy of `params` with the same own keys (even `__proto__`), every value kept. */
const copyParams = (params: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(params)) setOwnValue(out, key, params[key]);
  return out;
};

/**
 * What an operation without sensitive params gets: one object for all of them, instead of a
 * redactor, its closures and its arrays per request and per run. Params are still copied, as
 * they are with secrets: the copy is what the request event holds (and freezes).
 */
const NOTHING_SENSITIVE: Redactor = {
  value: (v) => v,
  params: copyParams,
  text: (text) => text,
  error: (info) => ({ ...info, causes: [...info.causes] }),
};

/**
 * Keeps the values of sensitive params out of everything written: the params recorded in
 * events are redacted, and any log line or error message that quotes a value is masked.
 *
 * @example
 * ```ts
 * const redact = createRedactor(['token'], { token: 's3cret', app: 'web' });
 * redact.text('using s3cret'); // 'using [redacted]'
 * ```
 */
export const createRedactor = (
  sensitive: readonly string[],
  params: Record<string, unknown>,
): Redactor => {
  if (sensitive.length === 0) return NOTHING_SENSITIVE;
  const secrets = sensitive
    .map((key) => params[key])
    .filter(
      (v): v is string | number => (typeof v === 'string' && v.length > 0) || typeof v === 'number',
    )
    .map(String)
    // Longest first, so a secret that contains another is masked whole.
    .sort((a, b) => b.length - a.length);
  const text = (value: string) =>
    secrets.reduce((out, secret) => out.split(secret).join(REDACTED), value);
  const value = (v: unknown): unknown => {
    if (secrets.length === 0) return v;
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.map(value);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [text(k), value(x)]));
    }
    return v;
  };
  return {
    value: <T>(v: T) => value(v) as T,
    params: (p) =>
      Object.fromEntries(
        Object.entries(p).map(([k, v]) => [k, sensitive.includes(k) ? REDACTED : v]),
      ),
    text,
    error: (info) => ({
      ...info,
      message: text(info.message),
      causes: info.causes.map(text),
    }),
  };
};
