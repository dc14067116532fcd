import { createRequire } from 'node:module';
import { PeerDependencyMissingError } from '../domain/errors.js';

const require = createRequire(import.meta.url);

/**
 * Whether `error` says that `packageName` itself cannot be found, as opposed to something it
 * imports in turn (a broken install, which must surface as it is).
 */
export const isPackageNotFound = (error: unknown, packageName: string): boolean => {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return (
    typeof message === 'string' &&
    (message.includes(`'${packageName}'`) || message.includes(`"${packageName}"`))
  );
};

export interface PeerDependency {
  /** The package, as `npm install` takes it. */
  name: string;
  /** A version range for the install command, when only some versions work. */
  version?: string;
  /** What needs it, for the message: "The PostgreSQL store". */
  neededFor: string;
  code?: 'DRIVER_MISSING' | 'TEST_DEPENDENCY_MISSING';
}

/**
 * Loads an optional peer dependency with `require`, at the moment it is needed: a static
 * `import` would make importing the module that uses it fail, where the package is not
 * installed, with Node's bare ERR_MODULE_NOT_FOUND, before any of our code could say which
 * package to install. `require` also keeps it synchronous, so that stores can still be created
 * without an `await`, and no top-level await enters the module graph (which `require(esm)`
 * refuses). For CommonJS packages (better-sqlite3, pg) it is the same module an `import` gets.
 */
export const requirePeer = <T>(peer: PeerDependency): T => {
  try {
    return require(peer.name) as T;
  } catch (error) {
    throw missingOr(error, peer);
  }
};

/** The clear error when `error` is the package missing; `error` itself otherwise. */
export const missingOr = (error: unknown, peer: PeerDependency): unknown =>
  isPackageNotFound(error, peer.name)
    ? new PeerDependencyMissingError(peer.name, peer.neededFor, {
        ...(peer.code ? { code: peer.code } : {}),
        ...(peer.version ? { version: peer.version } : {}),
        cause: error,
      })
    : error;
