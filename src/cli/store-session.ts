import { dirname, resolve } from 'node:path';
import { makeFolder } from '../adapters/make-folder.js';
import { createStore, DEFAULT_STORE_URL, type Stores } from '../adapters/create-store.js';
import { OpledgerError } from '../domain/errors.js';
import { createProjector, type Projector } from '../projections/projector.js';
import { createReadModel, type ReadModel } from '../projections/read-model.js';
import type { Clock } from '../engine/clock.js';
import { CliError } from './cli-error.js';

export interface StoreOptions {
  store?: string;
  readStore?: string;
}

export interface StoreSession {
  url: string;
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
  clock?: Pick<Clock, 'now'>,
): Promise<StoreSession> => {
  const url = storeUrlOf(options);
  let stores: Stores;
  try {
    if (url.trim().startsWith('sqlite:')) {
      const path = url.trim().slice('sqlite:'.length);
      if (path) makeFolder(dirname(resolve(path)));
    }
    stores = await createStore(url, options.readStore ? { readStore: options.readStore } : {});
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
  const projector = createProjector({ store: stores.eventStore, readStore: stores.readStore });
  const readModel = createReadModel({
    readStore: stores.readStore,
    eventStore: stores.eventStore,
    ...(clock ? { clock } : {}),
  });
  return {
    url,
    stores,
    projector,
    readModel,
    catchUp: async () => {
      await projector.catchUp();
    },
    close: async () => {
      await projector.stop().catch(() => undefined);
      await stores.close();
    },
  };
};

const unreachable = (url: string, error: unknown): CliError => {
  const reason = error instanceof Error ? error.message || error.name : String(error);
  const file = url.trim().startsWith('sqlite:');
  return new CliError(
    `cannot open the store ${displayUrl(url)}: ${reason.replaceAll(url, displayUrl(url))}`,
    {
      hint: file
        ? 'check that the folder can be created and the file written, or pass another --store'
        : 'check that the server runs and the URL is right, or pass another --store',
      exitCode: 1,
    },
  );
};
