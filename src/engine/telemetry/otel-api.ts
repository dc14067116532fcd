import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';

export type OtelApi = typeof Api;

const require = createRequire(import.meta.url);
let loaded: OtelApi | null | undefined;

const isNotFound = (error: unknown): boolean => {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') &&
    typeof message === 'string' &&
    message.includes('@opentelemetry/api')
  );
};

/**
 * `@opentelemetry/api` when the application has it, else undefined: it is an optional peer, and
 * without it nothing is recorded (see src/adapters/peer-dependency.ts for why `require`). Its
 * CommonJS build shares the global providers with the ESM one the application imports: the API
 * keeps them on `globalThis`, under a key both builds use.
 */
export const loadOtelApi = (): OtelApi | undefined => {
  if (loaded === undefined) {
    try {
      loaded = require('@opentelemetry/api') as OtelApi;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      loaded = null;
    }
  }
  return loaded ?? undefined;
};
