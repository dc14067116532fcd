import { produce, type Draft } from 'immer';
import { allowAll, ensureAllowed, type Authorize } from '../domain/authorization.js';
import { deepFreeze } from '../domain/deep-freeze.js';
import { InvalidRequestError } from '../domain/errors.js';
import type { RecordedEvent } from '../domain/event-store.js';
import { eventSchemas, type DomainEvent, type EventOf, type EventType } from '../domain/events.js';
import type { ResourceRef } from '../domain/events.js';
import { operationIdOfStream } from '../domain/stream-names.js';
import { InvalidProjectionError, ProjectionHandlerError } from './projection-errors.js';
import { withReadStoreOutageRetry } from './read-store-outage.js';
import {
  createCheckpointedProjector,
  OPERATIONS_PROJECTION,
  type Projector,
  type ProjectorOptions,
} from './projector.js';
import type { ReadModelTransaction } from './read-store.js';

/** The operation an event belongs to, as its request said: given with every operation event. */
export interface OperationContext {
  id: string;
  type: string;
  environment: string;
  resource: ResourceRef;
  user: string;
  /** ISO 8601 UTC: when the operation was requested. */
  requestedAt: string;
}

/** Where an event sits in the store, and the operation it belongs to. */
export interface EventMeta {
  /** Global position in the store. */
  position: bigint;
  stream: string;
  /** Revision in its stream. */
  revision: bigint;
  /** ISO 8601 UTC: when the store recorded it. */
  recordedAt: string;
  /**
   * The operation of an event on an operation's stream (from its `OperationRequested`, seen
   * earlier by this projection); absent for the events of other streams.
   */
  operation?: OperationContext;
}

/**
 * A handler: mutates `draft` (an immer draft of the document `keyOf` chose), or returns the
 * next state outright. It must be pure: the same events give the same documents, on every
 * rebuild.
 */
export type ProjectionHandler<S, T extends EventType> = (
  draft: Draft<S>,
  event: EventOf<T>,
  meta: EventMeta,
) => void | S | Draft<S>;

export type ProjectionHandlers<S> = { [T in EventType]?: ProjectionHandler<S, T> };

export interface ProjectionDefinition<S> {
  /** Letters, digits, `.`, `_` and `-`; unique per read store; not `operations`. */
  name: string;
  /** A positive integer; changing it rebuilds this projection (and no other) from the events. */
  version: number;
  /**
   * The document an event updates: one per environment, per resource, per operation type, or
   * a single key for one global document. `undefined`: the event changes no document.
   */
  keyOf: (event: DomainEvent, meta: EventMeta) => string | undefined;
  /** The state of a document before its first event: plain JSON data, or made from its key. */
  initialState: S | ((key: string) => S);
  /** Handlers by event type; events of other types are passed over. */
  on: ProjectionHandlers<S>;
  /**
   * The environment a document belongs to, for `authorize` (`projection:read`). Without it, or
   * when it returns undefined, reads are asked about with `environment: ''`.
   */
  environmentOf?: (key: string) => string | undefined;
}

/** One document of a projection, read back: plain, deeply frozen JSON data. */
export interface ProjectionDocument<S> {
  key: string;
  state: S;
}

export interface ProjectionListOptions {
  actor?: unknown;
  /** Keys after this one (the previous page's `nextAfter`). */
  after?: string;
  /** 1 to 500; 100 by default. */
  limit?: number;
}

export interface ProjectionPage<S> {
  /** The documents of this page the actor may read, in key order (UTF-8 bytes). */
  items: ProjectionDocument<S>[];
  /** Pass as `after` for the next page; absent on the last one. */
  nextAfter?: string;
}

/** A user-defined projection bound to a store: run it like the built-in projector, read it. */
export interface UserProjection<S> extends Projector {
  readonly name: string;
  readonly version: number;
  /** The document at `key` (frozen), or undefined when no event has touched it yet. */
  read(key: string, options?: { actor?: unknown }): Promise<S | undefined>;
  /** A page of documents, those the actor may not read left out. */
  list(options?: ProjectionListOptions): Promise<ProjectionPage<S>>;
}

export interface CreateProjectionOptions extends ProjectorOptions {
  /** Asked `projection:read` before every document is read (in `read` and in `list`). */
  authorize?: Authorize;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_PAGE = 500;

/** The collection that remembers, per projection, the request of every operation it saw. */
const operationsCollection = (name: string) => `${name}#operations`;

/**
 * Declares a projection of your own: which document each event updates (`keyOf`), its state
 * before any event, and handlers that change it through an immer draft. Checked here; run with
 * `createProjection`.
 *
 * @example
 * ```ts
 * import { defineProjection } from 'opledger/projections';
 *
 * // Failed steps per environment.
 * export const failuresByEnvironment = defineProjection({
 *   name: 'failures-by-environment',
 *   version: 1,
 *   keyOf: (_event, meta) => meta.operation?.environment,
 *   initialState: { failures: 0, byStep: {} as Record<string, number> },
 *   on: {
 *     StepFailed(draft, event) {
 *       draft.failures += 1;
 *       draft.byStep[event.data.step] = (draft.byStep[event.data.step] ?? 0) + 1;
 *     },
 *   },
 * });
 * ```
 */
export const defineProjection = <S>(
  definition: ProjectionDefinition<S>,
): ProjectionDefinition<S> => {
  const { name, version, keyOf, on } = definition;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidProjectionError(
      String(name),
      'its name must be letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  if (name === OPERATIONS_PROJECTION) {
    throw new InvalidProjectionError(name, `'${OPERATIONS_PROJECTION}' is the built-in read model`);
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new InvalidProjectionError(
      name,
      `its version must be a positive integer, not ${version}`,
    );
  }
  if (typeof keyOf !== 'function')
    throw new InvalidProjectionError(name, 'keyOf is not a function');
  const types = Object.keys(on ?? {});
  if (types.length === 0) throw new InvalidProjectionError(name, 'it handles no event type');
  for (const type of types) {
    // Own keys only: `in` would take `constructor` or `toString` for an event type.
    if (!Object.hasOwn(eventSchemas, type)) {
      throw new InvalidProjectionError(
        name,
        `'${type}' is not an event type (known: ${Object.keys(eventSchemas).join(', ')})`,
      );
    }
    if (typeof (on as Record<string, unknown>)[type] !== 'function') {
      throw new InvalidProjectionError(name, `the handler of ${type} is not a function`);
    }
  }
  // Checked now rather than at the first event: a state that cannot be stored is a mistake
  // in the definition, not in the history.
  if (typeof definition.initialState !== 'function') {
    const problem = notJson(definition.initialState, new WeakSet());
    if (problem) throw new InvalidProjectionError(name, `its initial state ${problem}`);
  }
  return Object.freeze({ ...definition, on: Object.freeze({ ...on }) });
};

/**
 * Why `value` does not read back from JSON as itself (undefined when it does). Objects already
 * checked are in `seen`: immer shares unchanged parts between states, so each is walked once.
 */
const notJson = (value: unknown, seen: WeakSet<object>, path = 'state'): string | undefined => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : `holds ${value} at ${path}, which JSON cannot keep`;
  }
  if (typeof value !== 'object')
    return `holds a ${typeof value} at ${path}, which JSON cannot keep`;
  if (seen.has(value)) return undefined;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = notJson(value[i], seen, `${path}[${i}]`);
      if (problem) return problem;
    }
  } else if (proto === Object.prototype || proto === null) {
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue; // dropped by JSON, as an absent key reads back
      const problem = notJson(v, seen, `${path}.${k}`);
      if (problem) return problem;
    }
  } else {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    return `holds a ${kind} at ${path}; documents are plain JSON data (use strings for dates)`;
  }
  seen.add(value);
  return undefined;
};

/** JSON text read back as the deeply frozen plain data it stands for. */
const parseDocument = <S>(json: string): S => deepFreeze(JSON.parse(json) as S);

/**
 * Runs a projection of your own with the same checkpointed projector as the built-in read
 * model: catch-up then live, each batch of documents written with its checkpoint in one
 * read-store transaction (memory, SQLite or PostgreSQL), documents stored as JSON beside the
 * read model. A changed `version` rebuilds this projection alone. A handler that throws stops
 * the projection at that event (`ProjectionHandlerError`), with nothing after it committed.
 *
 * @example
 * ```ts
 * import { createInMemoryEventStore, createInMemoryReadStore } from 'opledger';
 * import { createProjection } from 'opledger/projections';
 *
 * const store = createInMemoryEventStore();
 * const readStore = createInMemoryReadStore();
 * const failures = createProjection(failuresByEnvironment, { store, readStore });
 * await failures.start(); // catch-up, then live
 * const production = await failures.read('production', { actor: 'ada@example.com' });
 * ```
 */
export const createProjection = <S>(
  definition: ProjectionDefinition<S>,
  options: CreateProjectionOptions,
): UserProjection<S> => {
  const def = defineProjection(definition);
  const { name, version } = def;
  // Its own reads and resets ride out outages as the projector's calls do (the projector
  // below finds this store already wrapped and does not wrap it again).
  const readStore = withReadStoreOutageRetry(options.readStore, options.storeOutage);
  const authorize = options.authorize ?? allowAll;
  const collections = [name, operationsCollection(name)];
  const initial = (key: string): S => {
    const made =
      typeof def.initialState === 'function'
        ? (def.initialState as (key: string) => S)(key)
        : def.initialState;
    // A copy: a handler's draft must never reach the definition's own object.
    return parseDocument<S>(JSON.stringify(made) ?? 'null');
  };

  const beginBatch = (tx: ReadModelTransaction, decode: (e: RecordedEvent) => DomainEvent) => {
    const documents = new Map<string, S>();
    const operations = new Map<string, OperationContext | undefined>();
    const changed = new Set<string>();
    const requested = new Set<string>();
    const checked = new WeakSet<object>();

    const operationOf = async (id: string) => {
      if (!operations.has(id)) {
        const json = await tx.getDocument(operationsCollection(name), id);
        operations.set(id, json === undefined ? undefined : (JSON.parse(json) as OperationContext));
      }
      return operations.get(id);
    };
    const documentOf = async (key: string) => {
      if (!documents.has(key)) {
        const json = await tx.getDocument(name, key);
        documents.set(key, json === undefined ? initial(key) : parseDocument<S>(json));
      }
      return documents.get(key) as S;
    };

    return {
      async apply(recorded: RecordedEvent) {
        const event = decode(recorded);
        const fail = (problem: string, cause?: unknown) =>
          new ProjectionHandlerError(
            name,
            recorded.globalPosition,
            recorded.streamName,
            event.type,
            problem,
            cause,
          );
        const id = operationIdOfStream(recorded.streamName);
        let operation = id === undefined ? undefined : await operationOf(id);
        if (id !== undefined && event.type === 'OperationRequested' && !operation) {
          const { data } = event;
          operation = {
            id,
            type: data.type,
            environment: data.environment,
            resource: { type: data.resource.type, handle: data.resource.handle },
            user: data.user,
            requestedAt: data.createdAt,
          };
          operations.set(id, operation);
          requested.add(id);
        }
        const handler = def.on[event.type] as ProjectionHandler<S, EventType> | undefined;
        if (!handler) return;
        const meta: EventMeta = deepFreeze({
          position: recorded.globalPosition,
          stream: recorded.streamName,
          revision: recorded.streamRevision,
          recordedAt: recorded.recordedAt.toISOString(),
          ...(operation ? { operation } : {}),
        });
        let key: string | undefined;
        try {
          key = def.keyOf(event, meta);
        } catch (error) {
          throw fail(`keyOf threw: ${messageOf(error)}`, error);
        }
        if (key === undefined) return;
        if (typeof key !== 'string' || key === '') {
          throw fail(`keyOf returned ${JSON.stringify(key)}, not a non-empty string`);
        }
        const current = await documentOf(key);
        let next: S;
        try {
          // A handler may also return the next state (immer's rule): the cast admits that.
          const recipe = (draft: Draft<S>) => handler(draft, event as never, meta) as void;
          next = produce(current, recipe) as S;
        } catch (error) {
          throw fail(`its ${event.type} handler threw: ${messageOf(error)}`, error);
        }
        const problem = notJson(next, checked);
        if (problem) throw fail(`its ${event.type} handler left a state that ${problem}`);
        documents.set(key, deepFreeze(next));
        changed.add(key);
      },
      async end() {
        for (const id of requested) {
          await tx.putDocument(operationsCollection(name), id, JSON.stringify(operations.get(id)));
        }
        for (const key of changed) {
          await tx.putDocument(name, key, JSON.stringify(documents.get(key)) ?? 'null');
        }
      },
    };
  };

  let prepared = false;
  const projector = createCheckpointedProjector(
    { ...options, readStore },
    {
      projection: name,
      beginBatch,
      forget: () => readStore.resetProjection(name, version, collections),
      async prepare() {
        if (prepared) return;
        // Built with another version (or never): forget its documents and checkpoint, so that
        // the catch-up that follows rebuilds it from the first event.
        if ((await readStore.projectionVersion(name)) !== version) {
          await readStore.resetProjection(name, version, collections);
        }
        prepared = true;
      },
    },
  );

  const target = (key: string) => ({
    environment: def.environmentOf?.(key) ?? '',
    projection: { name, key },
  });

  return {
    ...projector,
    name,
    version,

    async read(key, { actor }: { actor?: unknown } = {}) {
      await ensureAllowed(authorize, actor, 'projection:read', target(key));
      const json = await readStore.document(name, key);
      return json === undefined ? undefined : parseDocument<S>(json);
    },

    async list({ actor, after, limit = 100 }: ProjectionListOptions = {}) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
        throw new InvalidRequestError(
          `limit must be an integer from 1 to ${MAX_PAGE}, got ${limit}`,
        );
      }
      const page = await readStore.documents(name, {
        ...(after !== undefined ? { after } : {}),
        limit,
      });
      const items: ProjectionDocument<S>[] = [];
      for (const { key, json } of page) {
        if (await authorize(actor, 'projection:read', target(key))) {
          items.push({ key, state: parseDocument<S>(json) });
        }
      }
      const last = page.at(-1);
      return { items, ...(page.length === limit && last ? { nextAfter: last.key } : {}) };
    },
  };
};

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
