import type { OperationEvent } from '../domain/events.js';
import type { LogLine } from '../domain/log-lines.js';
import {
  createOperationFold,
  type OperationFold,
  type OperationState,
} from '../domain/operation.js';
import { operationIdOfStream } from '../domain/stream-names.js';
import type {
  EnvironmentRecord,
  OperationRecord,
  ReadModelTransaction,
  ResourceRecord,
} from './read-store.js';

/** An operation's row as both write paths (a batch, a transaction) store it. */
export const operationRecord = (
  id: string,
  revision: number,
  state: OperationState,
): OperationRecord => ({
  id,
  environment: state.environment,
  resourceType: state.resource.type,
  resourceHandle: state.resource.handle,
  type: state.type,
  status: state.status,
  createdAt: state.createdAt,
  lastRevision: revision,
  state,
});

/**
 * An operation the batch folds events into: its state is a draft of the domain's fold
 * (createOperationFold), handed out frozen only when its record is read or written, instead of
 * a new frozen state per event. Plain data, folded into by the batch's `apply`: an object with
 * its own methods cost four allocations per operation and batch (bench/NOTES.md, round 6).
 */
export interface OperationInBatch {
  /** `fold.current` is the draft: read a field between events, never keep it. */
  readonly fold: OperationFold;
  readonly lastRevision: number;
}

/** A batch's view of the read model, and the writes it has put off until the batch ends. */
export interface ReadModelBatch {
  readonly tx: ReadModelTransaction;
  /**
   * operationIdOfStream, remembering the last stream's answer: an operation's events mostly
   * come one after another, and then they share one id string (one Map hash, one string kept
   * by the read model's lines) instead of a new one per event.
   */
  operationIdOf(streamName: string): string | undefined;
  /**
   * The operation when the batch already holds its record (undefined: it has none), without a
   * promise; `MISS` when it must be read through `tx`.
   */
  operationInBatch(id: string): OperationInBatch | undefined | typeof MISS;
  /** Folds the event at `revision` of the operation's stream into what operationInBatch gave. */
  apply(id: string, operation: OperationInBatch, event: OperationEvent, revision: number): void;
  /**
   * putOperation for a fold: the batch keeps folding the operation's next events into it, and
   * hands its state out only when the record is read or written.
   */
  putFold(id: string, revision: number, fold: OperationFold): void;
  /** As operationInBatch, for a resource. */
  cachedResource(
    environment: string,
    type: string,
    handle: string,
  ): ResourceRecord | undefined | typeof MISS;
  /** As operationInBatch, for an environment. */
  cachedEnvironment(name: string): EnvironmentRecord | undefined | typeof MISS;
  /** putResource, putEnvironment and putLogLine without a promise: they only change memory. */
  setResource(record: ResourceRecord): void;
  setEnvironment(record: EnvironmentRecord): void;
  addLogLine(line: LogLine): void;
  /** Writes what the batch changed, each record once; call before the checkpoint moves. */
  flush(): Promise<void>;
}

/**
 * What `operationInBatch` and the others answer for a record the batch has not read yet, and
 * cannot read at once (a store without `tx.now`: PostgreSQL).
 */
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
  // A store that answers at once (memory, SQLite) is read here on a miss, so that no event of
  // the batch waits for a promise; only a purge then takes the general path.
  const now = tx.now;
  const operations = new Map<string, OperationRecord | undefined>();
  const resources = new Map<string, ResourceRecord | undefined>();
  const environments = new Map<string, EnvironmentRecord | undefined>();
  /** Operations folded since their record was last read or written: theirs is stale. */
  const folding = new Map<string, { fold: OperationFold; lastRevision: number }>();
  const dirtyOperations = new Set<string>();
  const dirtyResources = new Set<string>();
  const dirtyEnvironments = new Set<string>();
  let lines: LogLine[] = [];
  let lastStream: string | undefined;
  let lastId: string | undefined;

  const inBatch = (id: string, revision: number, fold: OperationFold) => {
    const folded = { fold, lastRevision: revision };
    folding.set(id, folded);
    return folded;
  };

  /** The operation's record from its fold, which ends (the next event starts another). */
  const settle = (id: string) => {
    const folded = folding.get(id);
    if (!folded) return;
    operations.set(id, operationRecord(id, folded.lastRevision, folded.fold.state()));
    folding.delete(id);
  };

  const flush = async () => {
    for (const id of folding.keys()) settle(id);
    if (now) {
      for (const id of dirtyOperations) now.putOperation(operations.get(id)!);
      for (const key of dirtyResources) now.putResource(resources.get(key)!);
      for (const name of dirtyEnvironments) now.putEnvironment(environments.get(name)!);
      for (const line of lines) now.putLogLine(line);
    } else {
      for (const id of dirtyOperations) await tx.putOperation(operations.get(id)!);
      for (const key of dirtyResources) await tx.putResource(resources.get(key)!);
      for (const name of dirtyEnvironments) await tx.putEnvironment(environments.get(name)!);
      for (const line of lines) await tx.putLogLine(line);
    }
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
  const setEnvironment = (record: EnvironmentRecord) => {
    environments.set(record.environment, record);
    dirtyEnvironments.add(record.environment);
  };

  const cached: ReadModelTransaction = {
    getOperation: (id) => {
      settle(id);
      return cachedRead(operations, id, () => tx.getOperation(id));
    },
    putOperation: async (record) => {
      folding.delete(record.id);
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
    putEnvironment: async (record) => setEnvironment(record),
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
    operationIdOf: (streamName) => {
      if (streamName !== lastStream) {
        lastStream = streamName;
        lastId = operationIdOfStream(streamName);
      }
      return lastId;
    },
    operationInBatch: (id) => {
      const open = folding.get(id);
      if (open) return open;
      if (!operations.has(id)) {
        if (!now) return MISS;
        operations.set(id, now.getOperation(id));
      }
      const record = operations.get(id);
      if (!record) return undefined;
      return inBatch(id, record.lastRevision, createOperationFold(record.state));
    },
    apply: (id, operation, event, revision) => {
      // Only what operationInBatch handed out, which is what `folding` holds: writable here.
      const folded = operation as { fold: OperationFold; lastRevision: number };
      folded.fold.apply(event);
      folded.lastRevision = revision;
      dirtyOperations.add(id);
    },
    putFold: (id, revision, fold) => {
      operations.delete(id);
      inBatch(id, revision, fold);
      dirtyOperations.add(id);
    },
    cachedResource: (environment, type, handle) => {
      const key = resourceKey(environment, type, handle);
      if (resources.has(key)) return resources.get(key);
      if (!now) return MISS;
      const record = now.getResource(environment, type, handle);
      resources.set(key, record);
      return record;
    },
    cachedEnvironment: (name) => {
      if (environments.has(name)) return environments.get(name);
      if (!now) return MISS;
      const record = now.getEnvironment(name);
      environments.set(name, record);
      return record;
    },
    setResource,
    setEnvironment,
    addLogLine: (line) => void lines.push(line),
  };
};
