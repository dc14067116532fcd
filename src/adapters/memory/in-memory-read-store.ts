import type { LogLine } from '../../domain/log-lines.js';
import type {
  EnvironmentRecord,
  OperationQuery,
  OperationRecord,
  ReadModelTransaction,
  ReadModelTransactionNow,
  ReadStore,
  ResourceRecord,
  SkippedEvent,
} from '../../projections/read-store.js';

const resourceKey = (environment: string, type: string, handle: string) =>
  JSON.stringify([environment, type, handle]);

/** UTF-8 byte order, as SQLite's BINARY and PostgreSQL's "C" collation compare keys. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Puts a line in its place by revision, replacing the line of the same revision (as a put by
 * key would). From the end: lines come in revision order, so this is nearly always a push.
 */
const putInOrder = (perOp: LogLine[], line: LogLine) => {
  let i = perOp.length;
  while (i > 0 && perOp[i - 1]!.revision > line.revision) i--;
  if (i > 0 && perOp[i - 1]!.revision === line.revision) perOp[i - 1] = line;
  else if (i === perOp.length) perOp.push(line);
  else perOp.splice(i, 0, line);
};

const newestFirst = (a: OperationRecord, b: OperationRecord) =>
  a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1;

/**
 * Read models in process memory. A transaction writes in place and keeps an undo log, so a
 * batch that throws leaves neither its rows nor its checkpoint behind.
 */
export const createInMemoryReadStore = (): ReadStore => {
  const operations = new Map<string, OperationRecord>();
  /**
   * Per operation, its lines in revision order. An array rather than a Map by revision: a map
   * grew its table two or three times per operation of a rebuild, a third of its allocations
   * (bench/NOTES.md, "Rebuild, round 6"); lines nearly always come in revision order, so a put
   * is a push.
   */
  const lines = new Map<string, LogLine[]>();
  const resources = new Map<string, ResourceRecord>();
  const environments = new Map<string, EnvironmentRecord>();
  const checkpoints = new Map<string, bigint>();
  /** Per projection, by position. */
  const skipped = new Map<string, Map<string, SkippedEvent>>();
  /** Documents of user-defined projections as JSON text, per collection, by key. */
  const documents = new Map<string, Map<string, string>>();
  const versions = new Map<string, number>();

  const matches = (r: OperationRecord, q: OperationQuery) => {
    if (r.environment !== q.environment) return false;
    if (
      q.resource &&
      (r.resourceType !== q.resource.type || r.resourceHandle !== q.resource.handle)
    )
      return false;
    if (q.status !== undefined) {
      const wanted = typeof q.status === 'string' ? [q.status] : q.status;
      if (!wanted.includes(r.status)) return false;
    }
    if (q.type !== undefined && r.type !== q.type) return false;
    if (q.from !== undefined && r.createdAt < q.from) return false;
    if (q.to !== undefined && r.createdAt >= q.to) return false;
    return true;
  };

  return {
    checkpoint: async (projection) => checkpoints.get(projection) ?? 0n,

    async transaction(projection, position, apply) {
      // The undo log, flat: map, key, whether it had the key, its value then. A closure per
      // write was a row of a rebuild's profile (ten log lines and a record per ten events).
      const undo: unknown[] = [];
      const remember = <K, V>(map: Map<K, V>, key: K) => {
        const had = map.has(key);
        undo.push(map, key, had, had ? map.get(key) : undefined);
      };
      /**
       * The operations whose line arrays this transaction owns: made by it, or copied from the
       * committed array on its first line (copy on write). It changes them in place with no
       * undo entry per line; undoing the one entry of `lines` per operation puts the committed
       * array back. A rebuild makes every array, so it writes no undo entry per line.
       */
      const ownLines = new Set<string>();
      const now: ReadModelTransactionNow = {
        getOperation: (id) => operations.get(id),
        putOperation: (record) => {
          remember(operations, record.id);
          operations.set(record.id, record);
        },
        putLogLine: (line) => {
          const id = line.operationId;
          let perOp = lines.get(id);
          if (!perOp || !ownLines.has(id)) {
            remember(lines, id);
            perOp = perOp ? perOp.slice() : [];
            lines.set(id, perOp);
            ownLines.add(id);
          }
          putInOrder(perOp, line);
        },
        getResource: (e, t, h) => resources.get(resourceKey(e, t, h)),
        putResource: (record) => {
          const key = resourceKey(record.environment, record.type, record.handle);
          remember(resources, key);
          resources.set(key, record);
        },
        getEnvironment: (e) => environments.get(e),
        putEnvironment: (record) => {
          remember(environments, record.environment);
          environments.set(record.environment, record);
        },
      };
      const tx: ReadModelTransaction = {
        now,
        getOperation: async (id) => now.getOperation(id),
        putOperation: async (record) => now.putOperation(record),
        putLogLine: async (line) => now.putLogLine(line),
        getResource: async (e, t, h) => now.getResource(e, t, h),
        putResource: async (record) => now.putResource(record),
        getEnvironment: async (e) => now.getEnvironment(e),
        putEnvironment: async (record) => now.putEnvironment(record),
        purgeEnvironment: async (environment) => {
          for (const [id, record] of operations) {
            if (record.environment !== environment) continue;
            remember(operations, id);
            operations.delete(id);
            remember(lines, id);
            lines.delete(id);
            ownLines.delete(id);
          }
          for (const [key, record] of resources) {
            if (record.environment !== environment) continue;
            remember(resources, key);
            resources.delete(key);
          }
        },
        putSkippedEvent: async (skip) => {
          let perProjection = skipped.get(projection);
          if (!perProjection) {
            remember(skipped, projection);
            perProjection = new Map();
            skipped.set(projection, perProjection);
          }
          remember(perProjection, skip.position);
          perProjection.set(skip.position, { ...skip });
        },
        getDocument: async (collection, key) => documents.get(collection)?.get(key),
        putDocument: async (collection, key, json) => {
          let perCollection = documents.get(collection);
          if (!perCollection) {
            remember(documents, collection);
            perCollection = new Map();
            documents.set(collection, perCollection);
          }
          remember(perCollection, key);
          perCollection.set(key, json);
        },
      };
      remember(checkpoints, projection);
      try {
        await apply(tx);
        checkpoints.set(projection, position);
      } catch (error) {
        // Newest first, so that a key written twice gets its value from before the first write.
        for (let i = undo.length - 4; i >= 0; i -= 4) {
          const map = undo[i] as Map<unknown, unknown>;
          if (undo[i + 2]) map.set(undo[i + 1], undo[i + 3]);
          else map.delete(undo[i + 1]);
        }
        throw error;
      }
    },

    async reset(projection) {
      operations.clear();
      lines.clear();
      resources.clear();
      environments.clear();
      checkpoints.delete(projection);
    },

    skippedEvents: async (projection) =>
      [...(skipped.get(projection)?.values() ?? [])]
        .map((s) => ({ ...s }))
        .sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1)),

    document: async (collection, key) => documents.get(collection)?.get(key),
    documents: async (collection, { after, limit }) =>
      [...(documents.get(collection) ?? new Map<string, string>())]
        .filter(([key]) => after === undefined || byteOrder(key, after) > 0)
        .sort(([a], [b]) => byteOrder(a, b))
        .slice(0, Math.max(0, limit))
        .map(([key, json]) => ({ key, json })),
    projectionVersion: async (projection) => versions.get(projection),
    async resetProjection(projection, version, collections) {
      for (const collection of collections) documents.delete(collection);
      checkpoints.delete(projection);
      versions.set(projection, version);
    },

    operation: async (id) => operations.get(id),
    logLines: async (id) => [...(lines.get(id) ?? [])],
    async listOperations(query) {
      const all = [...operations.values()].filter((r) => matches(r, query)).sort(newestFirst);
      return { items: all.slice(query.offset, query.offset + query.limit), total: all.length };
    },
    async *operationsCreatedBetween(environment, from, to) {
      const rows = [...operations.values()]
        .filter((r) => r.environment === environment && r.createdAt >= from && r.createdAt < to)
        .sort((a, b) => newestFirst(b, a));
      yield* rows;
    },
    resource: async (e, t, h) => resources.get(resourceKey(e, t, h)),
    resources: async (environment) =>
      [...resources.values()]
        .filter((r) => r.environment === environment)
        .sort((a, b) =>
          a.type === b.type ? (a.handle < b.handle ? -1 : 1) : a.type < b.type ? -1 : 1,
        ),
    environment: async (e) => environments.get(e),
    environments: async () =>
      [...environments.values()].sort((a, b) => (a.environment < b.environment ? -1 : 1)),
    operationDates: async (environment) =>
      [...operations.values()].filter((r) => r.environment === environment).map((r) => r.createdAt),
    close: async () => undefined,
  };
};
