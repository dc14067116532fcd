import { InvalidStoreUrlError } from '../domain/errors.js';
import type { EventStore } from '../domain/event-store.js';
import type { ReadStore } from '../projections/read-store.js';
import { createInMemoryEventStore } from './memory/in-memory-event-store.js';
import { createInMemoryReadStore } from './memory/in-memory-read-store.js';

export interface Stores {
  eventStore: EventStore;
  readStore: ReadStore;
  /** Closes both. */
  close(): Promise<void>;
}

export interface CreateStoreOptions {
  /**
   * Where read models live when the event store keeps none of its own (EventStoreDB):
   * a `memory:`, `sqlite:PATH` or `postgres://` URL. Defaults to `memory:`.
   */
  readStore?: string;
  /**
   * Opens a `sqlite:` file read-only (a copy, a mounted backup): every read works, every write
   * is a `STORE_READ_ONLY` error, and nothing is written to the file. Other stores ignore it.
   */
  readonly?: boolean;
}

export const DEFAULT_STORE_URL = 'sqlite:.opledger/opledger.db';

const pair = (eventStore: EventStore, readStore: ReadStore): Stores => ({
  eventStore,
  readStore,
  close: async () => {
    await Promise.allSettled([readStore.close(), eventStore.close()]);
  },
});

const readStoreFor = async (url: string): Promise<ReadStore> => {
  if (url === 'memory:') return createInMemoryReadStore();
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (!path) throw new InvalidStoreUrlError(url, 'names no file after sqlite:');
    const { createSqliteReadStore } = await import('./sqlite/index.js');
    return createSqliteReadStore({ path });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { createPostgresReadStore } = await import('./postgres/index.js');
    return createPostgresReadStore({ connectionString: url });
  }
  throw new InvalidStoreUrlError(url, 'is not a read store (memory:, sqlite:PATH or postgres://)');
};

/**
 * Opens the event store and read store a URL names. Drivers are optional peer dependencies,
 * loaded only for the store asked for; one that is not installed rejects with a
 * PeerDependencyMissingError (code DRIVER_MISSING) naming the package to install. Server stores
 * connect on first use, not here: a PostgreSQL server that cannot be reached makes the first
 * call (and each one after, until it is back) reject with a PostgresUnreachableError (code
 * STORE_UNREACHABLE) naming its host, port and database.
 *
 * @example
 * ```ts
 * const stores = await createStore('postgres://opledger@db.internal:5432/ops');
 * await stores.eventStore.headPosition(); // throws STORE_UNREACHABLE if the server is down
 * const engine = createEngine({ store: stores.eventStore, operations });
 * ```
 */
export const createStore = async (
  url: string,
  options: CreateStoreOptions = {},
): Promise<Stores> => {
  const trimmed = url.trim();
  if (trimmed === 'memory:') return pair(createInMemoryEventStore(), createInMemoryReadStore());
  if (trimmed.startsWith('sqlite:')) {
    const path = trimmed.slice('sqlite:'.length);
    if (!path) throw new InvalidStoreUrlError(url, 'names no file after sqlite:');
    const sqlite = await import('./sqlite/index.js');
    if (!options.readonly) {
      return pair(sqlite.createSqliteEventStore({ path }), sqlite.createSqliteReadStore({ path }));
    }
    // Read-only, both share one connection: nothing writes, so no transaction can span the
    // other's reads, and a file read into memory (see openDatabase) is read once.
    const { openDatabase, DEFAULT_BUSY_TIMEOUT_MS } = await import('./sqlite/driver.js');
    const database = openDatabase(path, {
      busyTimeoutMs: DEFAULT_BUSY_TIMEOUT_MS,
      synchronous: 'normal',
      readonly: true,
    });
    try {
      const stores = pair(
        sqlite.createSqliteEventStore({ database, readonly: true }),
        sqlite.createSqliteReadStore({ database, readonly: true }),
      );
      return {
        ...stores,
        close: async () => {
          await stores.close();
          database.close();
        },
      };
    } catch (error) {
      database.close();
      throw error;
    }
  }
  if (/^postgres(ql)?:\/\//.test(trimmed)) {
    const { createPostgresEventStore, createPostgresReadStore } =
      await import('./postgres/index.js');
    return pair(
      createPostgresEventStore({ connectionString: trimmed }),
      createPostgresReadStore({ connectionString: trimmed }),
    );
  }
  if (/^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//.test(trimmed)) {
    const { createEventStoreDbEventStore } = await import('./eventstoredb/index.js');
    return pair(
      createEventStoreDbEventStore({ connectionString: trimmed }),
      await readStoreFor(options.readStore ?? 'memory:'),
    );
  }
  throw new InvalidStoreUrlError(url, 'is not one opledger knows');
};
