import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { makeFolder } from '../adapters/make-folder.js';
import { createStore, DEFAULT_STORE_URL, type Stores } from '../adapters/create-store.js';
import { OpledgerError, PeerDependencyMissingError } from '../domain/errors.js';
import {
  createProjector,
  type Projector,
  type ProjectorOutageOptions,
} from '../projections/projector.js';
import { createReadModel, type ReadModel } from '../projections/read-model.js';
import type { Clock } from '../engine/clock.js';
import { CliError } from './cli-error.js';

export interface StoreOptions {
  store?: string;
  readStore?: string;
}

/**
 * What a command does with the store. A reader of a `sqlite:` file it may not write (a copy, a
 * mounted backup) opens it read-only; a writer is refused at once, saying so.
 */
export interface StoreAccess {
  /** The command, for the message on a read-only file. */
  command: string;
  writes: boolean;
  /** Where a reader of a read-only file is told that its read models may lag. */
  warn?: (text: string) => void;
  /**
   * How the session's projector rides out an outage of the stores (60 s by default); the
   * dashboard waits for none (`maxMs: 0`), answering 503 instead.
   */
  storeOutage?: ProjectorOutageOptions;
}

export interface StoreSession {
  url: string;
  /** Why the store was opened read-only, if it was. */
  readOnly?: string;
  stores: Stores;
  projector: Projector;
  readModel: ReadModel;
  /** Brings the read models up to date with the event store before a read. */
  catchUp(): Promise<void>;
  close(): Promise<void>;
}

/** --store, then OPLEDGER_STORE, then the embedded default. */
export const storeUrlOf = (options: StoreOptions, env: NodeJS.ProcessEnv = process.env): string =>
  options.store ?? env.OPLEDGER_STORE ?? DEFAULT_STORE_URL;

/** A URL without its password (in the authority or as a query parameter), for messages. */
export const displayUrl = (url: string): string =>
  url.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1:***@').replace(/([?&]password=)[^&]*/gi, '$1***');

const PROBE_TIMEOUT_MS = 10_000;

const modeText = (mode: number) =>
  [6, 3, 0]
    .map((shift) => {
      const bits = (mode >> shift) & 7;
      return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
    })
    .join('');

const mayWrite = (path: string) => {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * Why an existing SQLite file must be opened read-only, if it must. The mode bits are read as
 * well as asked about: root may write a file whose mode forbids it, but a file or folder made
 * read-only on purpose (a backup) must not be written by anyone.
 */
export const sqliteReadOnlyReason = (file: string): string | undefined => {
  // A file still to be made is made, as before; if it cannot be, opening it says why.
  if (!existsSync(file)) return undefined;
  const mode = statSync(file).mode;
  if ((mode & 0o222) === 0) return `the file's mode is ${modeText(mode)}`;
  if (!mayWrite(file)) return 'you may not write the file';
  const folder = dirname(file);
  // SQLite writes its journal next to the file.
  const folderMode = statSync(folder).mode;
  if ((folderMode & 0o222) === 0) return `its folder's mode is ${modeText(folderMode)}`;
  if (!mayWrite(folder)) return 'you may not write its folder';
  return undefined;
};

const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });

/**
 * Opens the stores a URL names and checks that they answer, so an unreachable server is one
 * clear message instead of a stack trace from the middle of a command.
 */
export const openStoreSession = async (
  options: StoreOptions,
  access: StoreAccess = { command: 'this command', writes: true },
  clock?: Pick<Clock, 'now'>,
): Promise<StoreSession> => {
  const url = storeUrlOf(options);
  let stores: Stores;
  let readOnly: string | undefined;
  if (url.trim().startsWith('sqlite:')) {
    const path = url.trim().slice('sqlite:'.length);
    readOnly = path ? sqliteReadOnlyReason(resolve(path)) : undefined;
    if (readOnly && access.writes) {
      throw new CliError(
        `the store ${displayUrl(url)} is read-only (${readOnly}), and ${access.command} writes to it`,
        {
          hint: `run it on a writable copy: cp ${path} COPY.db, then pass --store sqlite:COPY.db`,
          exitCode: 1,
        },
      );
    }
  }
  try {
    if (url.trim().startsWith('sqlite:') && !readOnly) {
      const path = url.trim().slice('sqlite:'.length);
      if (path) makeFolder(dirname(resolve(path)));
    }
    stores = await createStore(url, {
      ...(options.readStore ? { readStore: options.readStore } : {}),
      ...(readOnly ? { readonly: true } : {}),
    });
  } catch (error) {
    if (error instanceof OpledgerError && error.code === 'INVALID_STORE_URL') {
      throw new CliError(error.message.replaceAll(url, displayUrl(url)), {
        hint: 'pass --store URL or set OPLEDGER_STORE to one of the accepted forms',
      });
    }
    throw unreachable(url, error);
  }
  try {
    await withTimeout(stores.eventStore.headPosition(), PROBE_TIMEOUT_MS);
  } catch (error) {
    await stores.close().catch(() => undefined);
    throw unreachable(url, error);
  }
  const projector = createProjector({
    store: stores.eventStore,
    readStore: stores.readStore,
    ...(access.storeOutage ? { storeOutage: access.storeOutage } : {}),
  });
  const readModel = createReadModel({
    readStore: stores.readStore,
    eventStore: stores.eventStore,
    ...(clock ? { clock } : {}),
  });
  let warned = false;
  return {
    url,
    ...(readOnly ? { readOnly } : {}),
    stores,
    projector,
    readModel,
    catchUp: async () => {
      if (!readOnly) {
        await projector.catchUp();
        return;
      }
      // Read-only: the read models are read as the file has them; say so once if they lag.
      if (warned) return;
      warned = true;
      const lag = await projector.lag();
      if (lag > 0n) {
        access.warn?.(
          `Note: ${displayUrl(url)} is read-only (${readOnly}), so its read models are read as they are: ${lag} events behind its events, up to position ${await projector.checkpoint()}. A writable copy of the file brings them up to date.`,
        );
      }
    },
    close: async () => {
      await projector.stop().catch(() => undefined);
      await stores.close();
    },
  };
};

/** What to do about a store that did not open, beyond what its error says. */
const hintFor = (url: string, error: unknown): string => {
  // A driver that is not installed is not a server that does not run.
  if (error instanceof PeerDependencyMissingError) {
    return `install it where opledger is installed (npm install ${error.packageName}), or pass another --store (memory: needs no driver)`;
  }
  if (url.trim().startsWith('sqlite:')) {
    return 'check that the folder can be created and the file written, or pass another --store';
  }
  // The store's own message already says to check that the server runs.
  if ((error as { code?: unknown }).code === 'STORE_UNREACHABLE') {
    return 'if this is not the server you meant, pass another --store (or set OPLEDGER_STORE)';
  }
  return 'check that the server runs and the URL is right, or pass another --store';
};

const unreachable = (url: string, error: unknown): CliError => {
  const reason = error instanceof Error ? error.message || error.name : String(error);
  return new CliError(
    `cannot open the store ${displayUrl(url)}: ${reason.replaceAll(url, displayUrl(url))}`,
    { hint: hintFor(url, error), exitCode: 1 },
  );
};
