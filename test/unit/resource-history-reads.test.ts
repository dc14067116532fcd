import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Observable } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
} from '../../src/index.js';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import { RESOURCE_SNAPSHOT_EVERY } from '../../src/domain/resource-queue.js';
import { resourceSnapshotStreamName, resourceStreamName } from '../../src/domain/stream-names.js';
import { fillResourceHistory } from '../../bench/lib/resource-history.js';
import { request } from '../support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'opledger-resource-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stream = resourceStreamName('production', { type: 'app', handle: 'web' });
const deploy = defineOperation({
  type: 'deploy',
  steps: [step({ name: 'work', run: () => undefined, undo: () => undefined })],
});

/** The store, counting every event it hands out: read from a stream, the log, or a feed. */
const counting = (inner: EventStore) => {
  let read = 0;
  const store: EventStore = {
    ...inner,
    readStream: async (name, options) => {
      const events = await inner.readStream(name, options);
      read += events.length;
      return events;
    },
    readAll: async (options) => {
      const events = await inner.readAll(options);
      read += events.length;
      return events;
    },
    subscribe: (options) =>
      new Observable((subscriber) =>
        inner.subscribe(options).subscribe({
          next: (e) => {
            read += 1;
            subscriber.next(e);
          },
          error: (e: unknown) => subscriber.error(e),
          complete: () => subscriber.complete(),
        }),
      ),
  };
  return { store, read: () => read };
};

/** Events read by a new engine (a new process: nothing folded yet) for one operation. */
const firstOperation = async (inner: EventStore): Promise<number> => {
  const { store, read } = counting(inner);
  const engine = createEngine({ store, operations: [deploy] });
  const result = await (await engine.start(request())).result;
  expect(result.status).toBe('succeeded');
  await engine.shutdown();
  await inner.close();
  return read();
};

// The queue: one snapshot and fewer than RESOURCE_SNAPSHOT_EVERY events after it (plus the
// ones this operation writes); the operation's own stream and idempotency-free start: a few
// dozen. Nothing that grows with the resource's past.
const BOUND = Number(RESOURCE_SNAPSHOT_EVERY) + 40;

describe('the first operation of a new process on a resource with a long history', () => {
  for (const [name, long, open] of [
    [
      'memory',
      100_000,
      () => {
        // One store for every "process", which must not close it.
        const s = createInMemoryEventStore();
        return () => ({ ...s, close: async () => undefined });
      },
    ],
    [
      'SQLite',
      // Smaller, only to keep the test quick: filling and the one upgrade fold take the time.
      20_000,
      () => {
        const path = join(dir, `${Math.random().toString(36).slice(2)}.db`);
        return () => createSqliteEventStore({ path, synchronous: 'normal' });
      },
    ],
  ] as const) {
    it(`${name}: reads as few events at ${long} past operations as at 10, once the first process after the upgrade has paid`, async () => {
      const counts: Record<number, { upgrade: number; fresh: number[] }> = {};
      for (const past of [10, long]) {
        const reopen = open();
        const filler = reopen();
        // Written as today's stores hold it: queue events only, no snapshot.
        await fillResourceHistory(filler, stream, past);
        expect(await filler.readStream(resourceSnapshotStreamName(stream))).toEqual([]);
        await filler.close();
        // The first process after the upgrade folds the whole stream once and leaves a snapshot.
        const upgrade = await firstOperation(reopen());
        const fresh = [await firstOperation(reopen()), await firstOperation(reopen())];
        counts[past] = { upgrade, fresh };
      }
      expect(counts[long]!.upgrade).toBeGreaterThanOrEqual(3 * long);
      for (const past of [10, long]) {
        for (const n of counts[past]!.fresh)
          expect(n, `${past} past operations`).toBeLessThanOrEqual(BOUND);
      }
    }, 120_000);
  }
});
