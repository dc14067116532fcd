/**
 * Issue 17 + 20: on SQLite and PostgreSQL, every store an engine uses goes through the outage
 * decorator; the decorator now offers `appendToStreams`, so a request and its queue place are one
 * commit there too. On a real PostgreSQL, behind a TCP fault proxy, the answer to that commit is
 * lost: the request is neither duplicated nor lost, and its queue place exists once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import { resourceStreamName } from '../../src/domain/stream-names.js';
import { withStoreOutageRetry } from '../../src/engine/index.js';
import {
  createEngine,
  defineOperation,
  step,
  type EventStore,
  type OperationRequest,
} from '../../src/index.js';
import { request } from '../support/fixtures.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { startProxyTo, urlVia } from '../support/postgres-fault-proxy.js';
import type { FaultProxy } from '../support/tcp-fault-proxy.js';

const noop = () => undefined;
const deploy = defineOperation({
  type: 'deploy',
  steps: [
    step({ name: 'pull image', run: noop, undo: noop }),
    step({ name: 'switch traffic', run: noop, undo: noop }),
  ],
});

/**
 * The store's own calls, as the decorator makes them: one entry per commit, with the streams
 * and event types it wrote. The store keeps its outage traits, so the engine's decorator rides
 * in front of it as in production.
 */
const counting = (inner: EventStore) => {
  const commits: {
    call: 'append' | 'appendToStreams';
    writes: string[][];
    /** The error the store answered with (a lost answer's ECONNRESET). */
    failed?: string;
  }[] = [];
  const store: EventStore = {
    ...inner,
    append: (stream, events, options) => {
      commits.push({ call: 'append', writes: [[stream, ...events.map((e) => e.type)]] });
      return inner.append(stream, events, options);
    },
    appendToStreams: (writes) => {
      const commit: (typeof commits)[number] = {
        call: 'appendToStreams',
        writes: writes.map((w) => [w.stream, ...w.events.map((e) => e.type)]),
      };
      commits.push(commit);
      return inner.appendToStreams!(writes).catch((error: unknown) => {
        commit.failed = (error as { code?: string }).code ?? String(error);
        throw error;
      });
    },
  };
  return { store, commits };
};

const queueOf = (raw: OperationRequest) =>
  resourceStreamName(raw.environment, raw.resource as { type: string; handle: string });

/** The request's commits: those that wrote its OperationRequested or its queue place. */
const requestCommits = (commits: ReturnType<typeof counting>['commits']) =>
  commits.filter((c) =>
    c.writes.some((w) => w.includes('OperationRequested') || w.includes('ResourceOperationQueued')),
  );

/** What the engine wrote for one request, on a store behind the decorator: one commit. */
const expectOneCommitPerRequest = async (inner: EventStore) => {
  const { store, commits } = counting(inner);
  // The decorator is really there: a store without outage traits would be left as it is.
  expect(withStoreOutageRetry(store)).not.toBe(store);
  const engine = createEngine({ store, operations: [deploy] });
  try {
    const raw = request() as OperationRequest;
    const handle = await engine.start(raw);
    expect((await handle.result).status).toBe('succeeded');
    expect(requestCommits(commits)).toEqual([
      {
        call: 'appendToStreams',
        writes: [
          [queueOf(raw), 'ResourceOperationQueued'],
          [`operation-${handle.id}`, 'OperationRequested'],
        ],
      },
    ]);
  } finally {
    await engine.shutdown();
  }
};

describe('SQLite behind the outage decorator', () => {
  const folder = mkdtempSync(join(tmpdir(), 'opledger-atomic-request-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('writes a request and its queue place in one commit', async () => {
    const store = createSqliteEventStore({ path: join(folder, 'events.db') });
    try {
      await expectOneCommitPerRequest(store);
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL behind the outage decorator', () => {
  const db = useTestDatabase();
  let proxy: FaultProxy;
  const stores: EventStore[] = [];
  beforeAll(async () => {
    proxy = await startProxyTo(db.url);
  });
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    await proxy?.close();
  });
  const newStore = (viaProxy: boolean) => {
    const store = createPostgresEventStore(
      { connectionString: viaProxy ? urlVia(db.url, proxy.port) : db.url },
      { schema: db.uniqueSchema('atomic') },
    );
    stores.push(store);
    return store;
  };

  it('writes a request and its queue place in one commit', async () => {
    await expectOneCommitPerRequest(newStore(false));
  });

  it('loses the answer to that commit: the request is written once, its queue place once', async () => {
    const inner = newStore(true);
    const { store, commits } = counting(inner);
    const engine = createEngine({ store, operations: [deploy] });
    try {
      // A first operation, so that the schema's own transactions are behind us.
      const first = await engine.start(request() as OperationRequest);
      expect((await first.result).status).toBe('succeeded');
      const before = commits.length;

      // The next COMMIT is the request's (its single appends are autocommitted statements).
      const lost = proxy.onNextRequest('lose_answer', 'COMMIT');
      const raw = request() as OperationRequest;
      const handle = await engine.start(raw);
      expect(await lost).toContain('COMMIT');
      expect((await handle.result).status).toBe('succeeded');

      const types = (await inner.readStream(`operation-${handle.id}`)).map((e) => e.type);
      expect(types.filter((t) => t === 'OperationRequested')).toHaveLength(1);
      expect(types.at(-1)).toBe('OperationSucceeded');
      const places = (await inner.readStream(queueOf(raw))).filter(
        (e) =>
          e.type === 'ResourceOperationQueued' &&
          (e.data as { operationId: string }).operationId === handle.id,
      );
      expect(places).toHaveLength(1);
      // The lost answer was that of the request's commit, which was found by the check and
      // never sent again.
      const mine = requestCommits(commits.slice(before));
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ call: 'appendToStreams', failed: expect.any(String) });
    } finally {
      await engine.shutdown();
    }
  });
});
