import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as FastCheck from 'fast-check';
import { missingOr } from '../adapters/peer-dependency.js';

const require = createRequire(import.meta.url);
const peer = {
  name: 'fast-check',
  version: '4',
  neededFor: 'opledger/testing',
  code: 'TEST_DEPENDENCY_MISSING',
} as const;

/**
 * fast-check, loaded when opledger/testing is evaluated instead of imported: it is an optional
 * peer dependency, and a static `import` where it is not installed fails with Node's bare
 * ERR_MODULE_NOT_FOUND before our code could say what to install. Loaded synchronously, because
 * the arbitraries are built at module level and a top-level await would stop `require()` of
 * opledger/testing.
 *
 * The ES module build is preferred: `require()` of it shares the instance an `import` of
 * fast-check gets, so the arbitraries are instances of the user's `fc.Arbitrary` and global
 * settings are shared. On a Node.js without require(esm) (before 20.19), the CommonJS build.
 */
const esmEntry = (): string | undefined => {
  // import.meta.resolve is synchronous and unflagged from Node.js 20.6.
  if (typeof import.meta.resolve !== 'function') return undefined;
  try {
    return fileURLToPath(import.meta.resolve('fast-check'));
  } catch (error) {
    throw missingOr(error, peer);
  }
};

const load = (): typeof FastCheck => {
  const entry = esmEntry();
  if (entry !== undefined) {
    try {
      return require(entry) as typeof FastCheck;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    }
  }
  try {
    return require('fast-check') as typeof FastCheck;
  } catch (error) {
    throw missingOr(error, peer);
  }
};

export const fc: typeof FastCheck = load();
