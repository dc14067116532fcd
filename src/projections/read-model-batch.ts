import type { LogLine } from '../domain/log-lines.js';
import type {
  EnvironmentRecord,
  OperationRecord,
  ReadModelTransaction,
  ResourceRecord,
} from './read-store.js';

/** A batch's view of the read model, and the writes it has put off until the batch ends. */
export interface ReadModelBatch {
  readonly tx: ReadModelTransaction;
  /**
   * The operation's record when the batch already holds it (undefined: it has none), without a
   * promise; `MISS` when it must be read through `tx`.
   */
  cachedOperation(id: string): OperationRecord | undefined | typeof MISS;
  /** As cachedOperation, for a resource. */
  cachedResource(
    environment: string,
    type: string,
    handle: string,
  ): ResourceRecord | undefined | typeof MISS;
  /** putOperation, putResource and putLogLine without a promise: they only change memory. */
  setOperation(record: OperationRecord): void;
  setResource(record: ResourceRecord): void;
  addLogLine(line: LogLine): void;
  /** Writes what the batch changed, each record once; call before the checkpoint moves. */
  flush(): Promise<void>;
}

/** What `cachedOperation` answers for a record the batch has not read yet. */
export const MISS: unique symbol = Symbol('not in the batch');

const resourceKey = (environment: string, type: string, handle: string) =>
  `${environment}\u0000${type}\u0000${handle}`;

/** A record the batch has read or written, else read once from the store and kept (absent too). */
const cachedRead = async <T>(
  cache: Map<string, T | undefined>,
  key: string,
  read: () => Promise<T | undefined>,
): Promise<T | undefined> => {
  if (cache.has(key)) return cache.get(key);
  const record = await read();
  cache.set(key, record);
  return record;
};

/**
 * Keeps the records one batch of events reads and writes in memory, and writes each changed
 * one once, when the batch ends. An operation's ten or so events in one batch then cost one
 * read and one write of its record (in SQL stores: one SELECT, one JSON.stringify of its state
 * and one INSERT) instead of one per event, which was most of a rebuild's time. Log lines are
 * written as they come, in one go at the end. Reads see the batch's own writes, so applying
 * the events is unchanged; a purge first writes what is pending, then forgets what it cached.
 * The projector's transaction covers the whole batch, so nothing is visible half-written.
 */
export const createReadModelBatch = (tx: ReadModelTransaction): ReadModelBatch => {
  const operations = new Map<string, OperationRecord | undefined>();
  const resources = new Map<string, ResourceRecord | undefined>();
  const environments = new Map<string, EnvironmentRecord | undefined>();
  const dirtyOperations = new Set<string>();
  const dirtyResources = new Set<string>();
  const dirtyEnvironments = new Set<string>();
  let lines: LogLine[] = [];

  const flush = async () => {
    for (const id of dirtyOperations) await tx.putOperation(operations.get(id)!);
    for (const key of dirtyResources) await tx.putResource(resources.get(key)!);
    for (const name of dirtyEnvironments) await tx.putEnvironment(environments.get(name)!);
    for (const line of lines) await tx.putLogLine(line);
    dirtyOperations.clear();
    dirtyResources.clear();
    dirtyEnvironments.clear();
    lines = [];
  };

  const setResource = (record: ResourceRecord) => {
    const key = resourceKey(record.environment, record.type, record.handle);
    resources.set(key, record);
    dirtyResources.add(key);
  };

  const cached: ReadModelTransaction = {
    getOperation: (id) => cachedRead(operations, id, () => tx.getOperation(id)),
    putOperation: async (record) => {
      operations.set(record.id, record);
      dirtyOperations.add(record.id);
    },
    putLogLine: async (line) => {
      lines.push(line);
    },
    getResource: (environment, type, handle) =>
      cachedRead(resources, resourceKey(environment, type, handle), () =>
        tx.getResource(environment, type, handle),
      ),
    putResource: async (record) => setResource(record),
    getEnvironment: (name) => cachedRead(environments, name, () => tx.getEnvironment(name)),
    putEnvironment: async (record) => {
      environments.set(record.environment, record);
      dirtyEnvironments.add(record.environment);
    },
    purgeEnvironment: async (name) => {
      await flush();
      await tx.purgeEnvironment(name);
      // The purge deleted rows this batch may have cached: read them again.
      operations.clear();
      resources.clear();
      environments.clear();
    },
    putSkippedEvent: (skip) => tx.putSkippedEvent(skip),
    getDocument: (collection, key) => tx.getDocument(collection, key),
    putDocument: (collection, key, json) => tx.putDocument(collection, key, json),
  };
  return {
    tx: cached,
    flush,
    cachedOperation: (id) => (operations.has(id) ? operations.get(id) : MISS),
    cachedResource: (environment, type, handle) => {
      const key = resourceKey(environment, type, handle);
      return resources.has(key) ? resources.get(key) : MISS;
    },
    setResource,
    setOperation: (record) => {
      operations.set(record.id, record);
      dirtyOperations.add(record.id);
    },
    addLogLine: (line) => void lines.push(line),
  };
};
