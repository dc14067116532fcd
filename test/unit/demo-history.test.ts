import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  historyStart,
  HISTORY_WEEKS,
  PAST_OPERATIONS,
  writeDemoHistory,
} from '../../src/cli/commands/demo-history.js';
import { lockFileOf } from '../../src/cli/cloud-file.js';
import { createInMemoryEventStore, type EventStore } from '../../src/index.js';

const WEEK = 7 * 86_400_000;

/** The times of an operation's events: requested (createdAt), then each event's `at`. */
const timesOf = async (store: EventStore, type?: string) =>
  (await store.readAll())
    .filter((e) => e.streamName.startsWith('operation-') && (!type || e.type === type))
    .map((e) => {
      const data = e.data as { at?: string; createdAt?: string };
      return Date.parse(data.at ?? data.createdAt ?? '');
    });

const capture = () => {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  return { io: { out, err: new PassThrough(), env: {} }, text: () => chunks.join('') };
};

/** The demo's history, written in-process on a memory store and a cloud file of its own. */
describe("the demo's history", () => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-history-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const now = new Date('2026-12-03T14:00:00.000Z');

  it('starts on the Monday six ISO weeks before the current one', () => {
    expect(historyStart(now).toISOString()).toBe('2026-10-19T00:00:00.000Z');
    expect(historyStart(new Date('2026-12-07T00:00:00.000Z')).toISOString()).toBe(
      '2026-10-26T00:00:00.000Z',
    );
    expect(HISTORY_WEEKS).toBe(6);
  });

  it('writes every past operation at its time, then a later history only past the cloud time', async () => {
    const cloud = join(dir, 'cloud.json');
    const first = capture();
    const store = createInMemoryEventStore();
    const run = await writeDemoHistory(
      { env: 'demo', user: 'ada@example.com', cloud, store },
      first.io,
      now,
    );
    expect(run.stopped).toBe(false);
    expect(run.results).toHaveLength(PAST_OPERATIONS.length);
    expect(first.text()).toContain('-> 31 operations from 2026-10-19');
    // Each requested at its planned time.
    const start1 = historyStart(now).getTime();
    expect(await timesOf(store, 'OperationRequested')).toEqual(
      PAST_OPERATIONS.map(
        (op) => start1 + (op.week * 7 + op.day) * 86_400_000 + op.hour * 3_600_000,
      ),
    );
    const lastFinished = Math.max(...(await timesOf(store)));
    expect(lastFinished).toBeLessThan(Date.parse('2026-11-30T00:00:00.000Z'));

    // Four weeks on, against a new store: the cloud's time is past the first two weeks of the
    // new history, which virtual time cannot go back to; the rest is written.
    const later = new Date(now.getTime() + 4 * WEEK);
    const store2 = createInMemoryEventStore();
    const second = await writeDemoHistory(
      { env: 'demo', user: 'ada@example.com', cloud, store: store2 },
      capture().io,
      later,
    );
    const start = historyStart(later).getTime();
    const ahead = PAST_OPERATIONS.filter(
      (op) => start + (op.week * 7 + op.day) * 86_400_000 + op.hour * 3_600_000 > lastFinished,
    );
    expect(ahead.length).toBeGreaterThan(0);
    expect(ahead.length).toBeLessThan(PAST_OPERATIONS.length);
    expect(second.results.map((r) => r.type)).toEqual(ahead.map((op) => op.type));
    expect(Math.min(...(await timesOf(store2)))).toBeGreaterThan(lastFinished);
  }, 60_000);

  it('writes nothing on a cloud a dead process left locked, for the next run to recover', async () => {
    const cloud = join(dir, 'locked.json');
    writeFileSync(lockFileOf(cloud), JSON.stringify({ pid: 999_999_999, operations: ['x'] }));
    const out = capture();
    const run = await writeDemoHistory(
      { env: 'demo', user: 'ada@example.com', cloud, store: createInMemoryEventStore() },
      out.io,
      now,
    );
    expect(run.results).toEqual([]);
    expect(out.text()).toContain('Skipped: an earlier run left the simulated cloud locked.');
  });
});
