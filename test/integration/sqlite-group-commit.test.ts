import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import { ConcurrencyError } from '../../src/domain/errors.js';
import type { AppendResult, EventStore } from '../../src/domain/event-store.js';
import { expectNothingAckedLost, killWriters, spawnWriter } from '../support/group-commit-crash.js';

const child = join(import.meta.dirname, 'fixtures', 'group-commit-child.ts');

const children: ChildProcess[] = [];
let dir: string | undefined;
let store: EventStore | undefined;

afterEach(async () => {
  killWriters(children);
  await store?.close();
  store = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const event = (type: string) => ({ type, version: 1, data: {} });

// The WAL grows by one frame (24 bytes + a page) per page a commit writes: a commit of many
// appends writes the pages they share once, separate commits write them once each.
const walFrames = (path: string): number => {
  const wal = `${path}-wal`;
  if (!existsSync(wal)) return 0;
  return Math.max(0, (statSync(wal).size - 32) / (24 + 4096));
};

describe('SQLite group commit', () => {
  it('commits the appends made in one turn together, in the order they were made', async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-group-commit-'));
    const path = join(dir, 'events.db');
    store = createSqliteEventStore({ path });
    await store.append('warm-up', [event('W')]);

    const before = walFrames(path);
    const together = await Promise.all(
      Array.from({ length: 40 }, (_, i) => store!.append(`s-${i % 4}`, [event(`T${i}`)])),
    );
    const framesTogether = walFrames(path) - before;

    const middle = walFrames(path);
    for (let i = 0; i < 40; i++) await store.append(`s-${i % 4}`, [event(`A${i}`)]);
    const framesApart = walFrames(path) - middle;

    // Forty commits write at least forty frames; one commit writes the few pages it touched.
    expect(framesApart).toBeGreaterThanOrEqual(40);
    expect(framesTogether).toBeLessThan(10);
    // Positions follow the order of the calls, and each call got its own result.
    expect(together.map((r) => r.lastPosition)).toEqual(together.map((_, i) => BigInt(i + 2)));
    const all = await store.readAll();
    expect(all.slice(1, 41).map((e) => e.type)).toEqual(together.map((_, i) => `T${i}`));
  });

  it('gathers the appends that timers firing together make, each from a callback of its own', async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-group-commit-'));
    const path = join(dir, 'events.db');
    store = createSqliteEventStore({ path });
    await store.append('warm-up', [event('W')]);
    const beforeOne = walFrames(path);
    await store.append('one', [event('O')]);
    const oneCommit = walFrames(path) - beforeOne;

    // Eight timers of one delay, set together, fire in one turn: as the steps of operations in
    // flight end. Each makes its append from a callback of its own. Timers started on either
    // side of a millisecond boundary fire a turn apart (a loaded machine does that), so the
    // turns the callbacks ran in are counted: a check-phase counter separates them.
    const before = walFrames(path);
    let turn = 0;
    let ticking = setImmediate(function tick() {
      turn++;
      ticking = setImmediate(tick);
    });
    const turnsSeen = new Set<number>();
    const acks = await new Promise<Promise<AppendResult>[]>((resolve) => {
      const made: Promise<AppendResult>[] = [];
      for (let i = 0; i < 8; i++) {
        setTimeout(() => {
          turnsSeen.add(turn);
          made.push(store!.append(`t-${i}`, [event(`T${i}`)]));
          if (made.length === 8) resolve(made);
        }, 5);
      }
    });
    const results = await Promise.all(acks);
    clearImmediate(ticking);
    const frames = walFrames(path) - before;

    // One batch for each turn (plus one, were the first committed at once), not eight commits.
    expect(oneCommit).toBeGreaterThan(0);
    expect(frames).toBeLessThanOrEqual((turnsSeen.size + 1) * oneCommit);
    expect(results.map((r) => r.lastPosition)).toEqual(results.map((_, i) => BigInt(i + 3)));
  });

  for (const groupCommit of [true, false]) {
    it(`with groupCommit: ${groupCommit}, an append ${groupCommit ? 'waits one turn of the event loop for others to join it' : 'commits at once, without waiting a turn'}; positions follow the calls either way`, async () => {
      dir = await mkdtemp(join(tmpdir(), 'opledger-group-commit-'));
      store = createSqliteEventStore({ path: join(dir, 'events.db'), groupCommit });
      await store.append('warm-up', [event('W')]);
      // An immediate set before the append runs in the next turn: before the append's answer
      // only if the append waited for that turn.
      let turned = false;
      setImmediate(() => (turned = true));
      await store.append('lone', [event('L')]);
      expect(turned).toBe(groupCommit);

      const together = await Promise.all(
        Array.from({ length: 12 }, (_, i) => store!.append(`s-${i % 3}`, [event(`T${i}`)])),
      );
      expect(together.map((r) => r.lastPosition)).toEqual(together.map((_, i) => BigInt(i + 3)));
      const all = await store.readAll();
      expect(all.slice(2).map((e) => e.type)).toEqual(together.map((_, i) => `T${i}`));
    });
  }

  it('refuses a groupCommit that is not a boolean, naming the option', () => {
    expect(() =>
      createSqliteEventStore({ path: ':memory:', groupCommit: 'no' as unknown as boolean }),
    ).toThrow(/groupCommit must be true or false, got "no"/);
  });

  it('fails only the append whose expected version does not hold, not the rest of its batch', async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-group-commit-'));
    store = createSqliteEventStore({ path: join(dir, 'events.db') });
    const outcomes = await Promise.allSettled([
      store.append('a', [event('A0')], { expectedVersion: 'no_stream' }),
      store.append('a', [event('A-rival')], { expectedVersion: 'no_stream' }),
      store.append('b', [event('B0'), event('B1')]),
      store.append('a', [event('A1')], { expectedVersion: 0n }),
      store.appendToStreams!([
        { stream: 'c', events: [event('C-never')] },
        { stream: 'b', events: [event('B-never')], expectedVersion: 'no_stream' },
      ]),
      store.append('c', [event('C0')], { expectedVersion: 'no_stream' }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    expect((outcomes[4] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    const all = await store.readAll();
    expect(all.map((e) => `${e.streamName}@${e.streamRevision}:${e.type}`)).toEqual([
      'a@0:A0',
      'b@0:B0',
      'b@1:B1',
      'a@1:A1',
      'c@0:C0',
    ]);
    expect(all.map((e) => e.globalPosition)).toEqual([1n, 2n, 3n, 4n, 5n]);
  });

  it('commits what was queued before close() and refuses what comes after', async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-group-commit-'));
    const path = join(dir, 'events.db');
    store = createSqliteEventStore({ path });
    const queued = store.append('a', [event('A0')]);
    const closing = store.close();
    await expect(store.append('a', [event('A1')])).rejects.toMatchObject({
      code: 'STORE_CLOSED',
    });
    await expect(queued).resolves.toMatchObject({ nextExpectedRevision: 0n });
    await closing;
    store = createSqliteEventStore({ path });
    expect((await store.readAll()).map((e) => e.type)).toEqual(['A0']);
  });

  // Each of the group commit's ways to start a commit (group-commit-child.ts): the default store
  // grouping 48 appends in flight, `groupCommit: false` with 48 in flight, and the default
  // store gone eager for a lone writer (commits inside `append`, with probes that group).
  const crashVariants = [
    { variant: 'default', label: 'the default store, 48 appends in flight', minAcked: 10 },
    { variant: 'at-once', label: 'groupCommit: false, 48 appends in flight', minAcked: 10 },
    { variant: 'eager', label: 'the default store gone eager for a lone writer', minAcked: 1 },
  ];
  for (const { variant, label, minAcked } of crashVariants) {
    it(
      `loses nothing acknowledged and leaves no append half-written when SIGKILL lands mid-commit (${label})`,
      { timeout: 120_000 },
      async () => {
        dir = await mkdtemp(join(tmpdir(), 'opledger-group-commit-crash-'));
        const path = join(dir, 'events.db');
        const ackPath = join(dir, 'acks.txt');
        const ROUNDS = 6;
        for (let round = 0; round < ROUNDS; round++) {
          const w = spawnWriter(child, [path, ackPath, `r${round}`, variant], children);
          await w.ready;
          // A random moment while appends are in flight: with synchronous 'full', most of the
          // time is spent inside a commit.
          await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 300));
          process.kill(-w.process.pid!, 'SIGKILL');
          expect(await w.exited, w.errors()).toBe('SIGKILL');
        }

        store = createSqliteEventStore({ path });
        const all = await store.readAll();
        const acked = (await readFile(ackPath, 'utf8')).split('\n').filter(Boolean);
        expect(acked.length).toBeGreaterThan(ROUNDS * minAcked);

        expectNothingAckedLost(all, acked, { densePositions: true });
      },
    );
  }
});
