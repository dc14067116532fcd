/**
 * The SQLite group commit's modes (issue 17): 'turn' (every append waits one turn of the event
 * loop), 'at-once' and 'adaptive', the default, which commits a lone writer's appends at once
 * and groups again when others append. Commits are counted by the group commit's own
 * `onCommitted`, called once for each commit that wrote events.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Connection } from '../../src/adapters/sqlite/driver.js';
import { encodeEventData } from '../../src/adapters/sqlite/event-rows.js';
import {
  ADAPTIVE_COMMIT,
  createGroupCommit,
  type CommitMode,
  type GroupCommit,
} from '../../src/adapters/sqlite/group-commit.js';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import type { AppendResult, EventStore } from '../../src/domain/event-store.js';

const { loneFlushes, eagerCommits } = ADAPTIVE_COMMIT;

interface Harness {
  commits: GroupCommit;
  /** How many commits wrote events so far. */
  committed: () => number;
  /** The same file through the store, for reading back. */
  store: EventStore;
  append: (stream: string, type: string) => Promise<AppendResult>;
}

const opened: Connection[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});

const harness = (mode?: CommitMode, path = ':memory:'): Harness => {
  const db = openDatabase(path, { busyTimeoutMs: 5_000, synchronous: 'normal' });
  opened.push(db);
  // The store creates the schema; its own group commit is not used here.
  const store = createSqliteEventStore({ database: db, pollIntervalMs: 1_000_000 });
  let count = 0;
  const commits = createGroupCommit({
    db,
    busyTimeoutMs: 5_000,
    ensureOpen: () => undefined,
    now: () => new Date(0),
    onCommitted: () => count++,
    mode,
  });
  const append = async (stream: string, type: string) => {
    const [result] = await commits.submit([
      {
        stream,
        events: [encodeEventData({ type, version: 1, data: {} })],
        expected: 'any',
      },
    ]);
    return result!;
  };
  return { commits, committed: () => count, store, append };
};

/** Appends once, awaiting it; true when a turn of the event loop passed before the answer. */
const turnedFor = async (h: Harness, stream: string, type: string): Promise<boolean> => {
  let turned = false;
  const immediate = setImmediate(() => (turned = true));
  await h.append(stream, type);
  clearImmediate(immediate);
  return turned;
};

/**
 * `size` appends, each from a callback of its own, scheduled in one turn (setImmediate or timers),
 * and how many turns of the event loop their callbacks ran in. Immediates queued in one turn all
 * run in the next check phase; timers of 1 ms started on either side of a millisecond boundary
 * expire in different turns, which happens on a loaded machine (it made CI fail once), so the
 * test counts the turns rather than assuming one.
 */
const burst = (
  h: Harness,
  size: number,
  tag: string,
  via: 'immediate' | 'timer',
): Promise<{ results: AppendResult[]; turns: number }> =>
  new Promise((resolve) => {
    // Advanced once in every check phase while the burst runs.
    let turn = 0;
    let ticking = setImmediate(function tick() {
      turn++;
      ticking = setImmediate(tick);
    });
    const made: Promise<AppendResult>[] = [];
    const turnsSeen = new Set<number>();
    for (let i = 0; i < size; i++) {
      const make = () => {
        turnsSeen.add(turn);
        made.push(h.append(`b-${i % 3}`, `${tag}-${i}`));
        if (made.length === size) {
          resolve(
            Promise.all(made).then((results) => {
              clearImmediate(ticking);
              return { results, turns: turnsSeen.size };
            }),
          );
        }
      };
      if (via === 'immediate') setImmediate(make);
      else setTimeout(make, 1);
    }
  });

const warmUp = async (h: Harness) => {
  for (let i = 0; i < loneFlushes; i++) await h.append('warm', `W${i}`);
};

describe('SQLite group commit, adaptive by default', () => {
  it('answers a lone writer before the next turn once warmed up, waiting the turn only to probe', async () => {
    const h = harness();
    const turned: boolean[] = [];
    const rounds = 2 * (loneFlushes + eagerCommits);
    for (let i = 0; i < rounds; i++) turned.push(await turnedFor(h, 'lone', `L${i}`));
    // loneFlushes appends wait (warm-up, then the probe), then eagerCommits are answered at once.
    const cycle = [
      ...Array.from({ length: loneFlushes }, () => true),
      ...Array.from({ length: eagerCommits }, () => false),
    ];
    expect(turned).toEqual([...cycle, ...cycle]);
    expect(h.committed()).toBe(rounds);
    const all = await h.store.readAll();
    expect(all.map((e) => e.type)).toEqual(turned.map((_, i) => `L${i}`));
  });

  it("with mode 'turn' every append waits the turn, with 'at-once' none does", async () => {
    const turn = harness('turn');
    const atOnce = harness('at-once');
    const rounds = loneFlushes + eagerCommits + 2;
    const turnedTurn: boolean[] = [];
    const turnedAtOnce: boolean[] = [];
    for (let i = 0; i < rounds; i++) {
      turnedTurn.push(await turnedFor(turn, 's', `T${i}`));
      turnedAtOnce.push(await turnedFor(atOnce, 's', `A${i}`));
    }
    expect(turnedTurn).toEqual(Array.from({ length: rounds }, () => true));
    expect(turnedAtOnce).toEqual(Array.from({ length: rounds }, () => false));
  });

  for (const via of ['immediate', 'timer'] as const) {
    it(`gathers a burst of appends from separate ${via} callbacks of one turn into one commit again, after at most one probe`, async () => {
      const h = harness();
      await warmUp(h);
      expect(await turnedFor(h, 'lone', 'eager?')).toBe(false);

      const SIZE = 8;
      const perBurst: number[] = [];
      const turnsPerBurst: number[] = [];
      let position = BigInt(loneFlushes + 1);
      for (let b = 0; b < 10; b++) {
        const before = h.committed();
        const { results, turns } = await burst(h, SIZE, `B${b}`, via);
        perBurst.push(h.committed() - before);
        turnsPerBurst.push(turns);
        // Positions follow the calls, within the burst and across bursts.
        expect(results.map((r) => r.lastPosition)).toEqual(
          results.map((_, i) => position + BigInt(i + 1)),
        );
        position += BigInt(SIZE);
      }
      // Eager, each append of a burst commits alone; the probe comes after at most eagerCommits
      // eager commits (the lone one above was the first), and from then on a burst is one commit
      // for each turn its callbacks ran in (one, unless timers straddled a millisecond).
      const probeBurst = Math.ceil((eagerCommits - 1) / SIZE);
      expect(perBurst.slice(0, probeBurst).every((n) => n <= SIZE)).toBe(true);
      expect(perBurst.slice(probeBurst + 1)).toEqual(turnsPerBurst.slice(probeBurst + 1));
      if (via === 'immediate') expect(turnsPerBurst.every((t) => t === 1)).toBe(true);
      // Gathering is the point: most bursts must have been one commit even with timers.
      expect(perBurst.slice(probeBurst + 1).filter((n) => n === 1).length).toBeGreaterThan(
        (10 - probeBurst - 1) / 2,
      );
    });
  }

  it('gathers a Promise.all of appends made while eager: the first commits at once, the rest together, and the next one is one commit', async () => {
    const h = harness();
    await warmUp(h);
    const before = h.committed();
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => h.append('p', `P${i}`)));
    expect(h.committed() - before).toBe(2);
    const middle = h.committed();
    const second = await Promise.all(Array.from({ length: 20 }, (_, i) => h.append('p', `Q${i}`)));
    expect(h.committed() - middle).toBe(1);
    const positions = [...first, ...second].map((r) => r.lastPosition);
    expect(positions).toEqual(positions.map((_, i) => BigInt(loneFlushes + 1 + i)));
  });

  it('while eager, gathers the appends that arrive while a commit waits for the lock into that commit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opledger-adaptive-'));
    try {
      const path = join(dir, 'events.db');
      const h = harness(undefined, path);
      await warmUp(h);
      expect(await turnedFor(h, 'lone', 'eager?')).toBe(false);
      // Another connection (another process, as far as the store can tell) holds the lock.
      const other = openDatabase(path, { busyTimeoutMs: 5_000, synchronous: 'normal' });
      opened.push(other);
      other.prepare('BEGIN IMMEDIATE').run();
      const before = h.committed();
      const first = h.append('x', 'X0');
      const later = [h.append('x', 'X1'), h.append('y', 'Y0')];
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(h.committed()).toBe(before);
      other.prepare('COMMIT').run();
      const results = await Promise.all([first, ...later]);
      expect(h.committed() - before).toBe(1);
      expect(results.map((r) => r.lastPosition)).toEqual(
        results.map((_, i) => BigInt(loneFlushes + 2 + i)),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps positions in call order, per stream and across streams, and reads back every acknowledged append, whatever mix of lone and concurrent appends', async () => {
    type Step =
      { kind: 'lone'; stream: number } | { kind: 'all' | 'immediate' | 'timer'; streams: number[] };
    const stream = fc.integer({ min: 0, max: 3 });
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('lone' as const), stream }) },
      fc.record({
        kind: fc.constantFrom('all' as const, 'immediate' as const, 'timer' as const),
        streams: fc.array(stream, { minLength: 1, maxLength: 6 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 60 }),
        fc.constantFrom<CommitMode | undefined>(undefined, 'turn', 'at-once'),
        async (steps, mode) => {
          const h = harness(mode);
          // What was called, in call order, and what each call was answered.
          const calls: { stream: string; type: string }[] = [];
          const answers = new Map<string, AppendResult>();
          const call = (s: number) => {
            const type = `E${calls.length}`;
            const entry = { stream: `s-${s}`, type };
            calls.push(entry);
            return h.append(entry.stream, type).then((r) => void answers.set(type, r));
          };
          for (const st of steps) {
            if (st.kind === 'lone') await call(st.stream);
            else if (st.kind === 'all') await Promise.all(st.streams.map(call));
            else {
              await new Promise<void>((resolve, reject) => {
                const made: Promise<void>[] = [];
                for (const s of st.streams) {
                  const make = () => {
                    made.push(call(s));
                    if (made.length === st.streams.length)
                      Promise.all(made).then(() => resolve(), reject);
                  };
                  if (st.kind === 'immediate') setImmediate(make);
                  else setTimeout(make, 0);
                }
              });
            }
          }
          await h.commits.drain();
          const all = await h.store.readAll();
          // Every acknowledged append is there, once, and the log is in call order.
          expect(all.map((e) => e.type)).toEqual(calls.map((c) => c.type));
          expect(answers.size).toBe(calls.length);
          for (const e of all) {
            const answer = answers.get(e.type)!;
            expect(answer.lastPosition).toBe(e.globalPosition);
            expect(answer.nextExpectedRevision).toBe(e.streamRevision);
          }
          // Per stream, revisions 0, 1, 2... in call order.
          for (const name of new Set(calls.map((c) => c.stream))) {
            const ofStream = all.filter((e) => e.streamName === name);
            expect(ofStream.map((e) => e.type)).toEqual(
              calls.filter((c) => c.stream === name).map((c) => c.type),
            );
            expect(ofStream.map((e) => e.streamRevision)).toEqual(
              ofStream.map((_, i) => BigInt(i)),
            );
          }
          await h.store.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('createSqliteEventStore: groupCommit left out is adaptive', () => {
  it('answers a lone writer before the next turn after the warm-up, through the store', async () => {
    const db = openDatabase(':memory:', { busyTimeoutMs: 5_000, synchronous: 'normal' });
    opened.push(db);
    const store = createSqliteEventStore({ database: db });
    const turned: boolean[] = [];
    for (let i = 0; i < loneFlushes + 4; i++) {
      let t = false;
      const immediate = setImmediate(() => (t = true));
      await store.append('lone', [{ type: `L${i}`, version: 1, data: {} }]);
      clearImmediate(immediate);
      turned.push(t);
    }
    expect(turned).toEqual([
      ...Array.from({ length: loneFlushes }, () => true),
      ...Array.from({ length: 4 }, () => false),
    ]);
    await store.close();
  });
});
