import type { ErrorInfo } from './events.js';

export const REDACTED = '[redacted]';

export interface Redactor {
  params(params: Record<string, unknown>): Record<string, unknown>;
  text(text: string): string;
  error(info: ErrorInfo): ErrorInfo;
  /** Masks secrets in every string of a step's JSON output. */
  value<T>(value: T): T;
}

/**
 * Keeps the values of sensitive params out of everything written: the params recorded in
 * events are redacted, and any log line or error message that quotes a value is masked.
 */
export const createRedactor = (
  sensitive: readonly string[],
  params: Record<string, unknown>,
): Redactor => {
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
