import { ConcurrencyError } from '../../domain/errors.js';
import {
  describeExpectedVersion,
  satisfiesExpectedVersion,
  type AppendResult,
  type ExpectedVersion,
} from '../../domain/event-store.js';
import type { Connection } from './driver.js';
import type { EncodedEvent } from './event-rows.js';
import { writeTransaction, type WriteLockOptions } from './write-lock.js';

/** One stream's part of an append, its events already encoded (a bad event never queues). */
export interface EncodedWrite {
  stream: string;
  events: readonly EncodedEvent[];
  expected: ExpectedVersion;
}

export interface GroupCommitOptions extends WriteLockOptions {
  db: Connection;
  /** Source of `recordedAt`, read once per append. */
  now: () => Date;
  /** Called after a commit that wrote at least one event (subscriptions look again). */
  onCommitted: () => void;
  /**
   * When a commit starts (appends arriving while a commit waits for the lock join it in every
   * mode): 'turn', each waits one turn of the event loop for others to join it; 'at-once', an
   * append finding nothing queued or committing commits inside `submit`; 'adaptive' (the
   * default), 'turn' until a lone writer shows itself, then 'at-once' with a probe now and then
   * (see ADAPTIVE_COMMIT).
   */
  mode?: CommitMode;
}

export type CommitMode = 'turn' | 'at-once' | 'adaptive';

/**
 * The adaptive mode's two numbers (issue 17, bench/NOTES.md "SQLite: a lone writer without the
 * turn"). After `loneFlushes` commits in a row that each held one append, the store goes eager:
 * an append finding nothing queued or committing commits at once. After `eagerCommits` commits
 * made eagerly it probes: it groups again (each append waits the turn) and goes eager only after
 * `loneFlushes` lone commits in a row once more. A commit that gathers two appends or more, eager
 * or not, means others are appending: grouping goes on.
 *
 * The probe is a run of commits, not one append that waits: one waiting append that happens to
 * be the last of its turn gathers nobody, and with bursts of a fixed size such a probe can fall
 * on the last append every time; `loneFlushes` waiting commits in a row cannot all do so.
 */
export const ADAPTIVE_COMMIT = { loneFlushes: 4, eagerCommits: 32 } as const;

export interface GroupCommit {
  /**
   * Writes every stream of `writes` in one all-or-none unit and resolves, with one result per
   * write, only once the transaction that holds them is committed (and, with synchronous
   * 'full', on disk). A conflict fails this call alone, not the others of its batch.
   */
  submit(writes: readonly EncodedWrite[]): Promise<AppendResult[]>;
  /** Resolves once every append submitted so far is settled. */
  drain(): Promise<void>;
}

interface Pending {
  writes: readonly EncodedWrite[];
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; results: AppendResult[] } | { ok: false; error: unknown };

// A commit holds SQLite's write lock for every process sharing the file: a bound keeps one
// batch from holding it (and delaying other processes' appends) for too long.
const MAX_APPENDS_PER_COMMIT = 256;

/**
 * Group commit: appends made while the event loop is busy (by the many operations in flight in
 * one process) are written in one transaction, and so share its one fsync, which is most of
 * an append's cost with synchronous 'full'. While grouping, the batch is cut when the event loop
 * next goes idle (setImmediate): every append that became ready in the same turn joins it; an
 * eager commit (mode 'at-once', or 'adaptive' once a lone writer showed itself) starts inside
 * `submit`, and what arrives while it runs or waits for the lock forms the next. Each append of
 * a batch runs inside its own savepoint, so that one append's conflict rolls back that append
 * only. No caller is answered before COMMIT returns; a failed COMMIT fails the whole batch,
 * none of which is then durable.
 */
export const createGroupCommit = (options: GroupCommitOptions): GroupCommit => {
  const { db, now } = options;
  const sql = {
    lastOfStream: db
      .prepare<[string], { revision: bigint; position: bigint }>(
        'SELECT revision, position FROM opledger_events WHERE stream = ? ORDER BY revision DESC LIMIT 1',
      )
      .safeIntegers(true),
    insert: db
      .prepare<[string, bigint, string, number, string, string | null, string]>(
        'INSERT INTO opledger_events (stream, revision, type, version, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .safeIntegers(true),
    head: db
      .prepare<[], bigint>('SELECT COALESCE(MAX(position), 0) FROM opledger_events')
      .pluck()
      .safeIntegers(true),
    savepoint: db.prepare('SAVEPOINT opledger_append'),
    release: db.prepare('RELEASE opledger_append'),
    rollbackTo: db.prepare('ROLLBACK TO opledger_append'),
  };

  const queue: Pending[] = [];
  let scheduled = false;
  let flushing = false;
  const mode = options.mode ?? 'adaptive';
  // The adaptive mode's state: eager commits at once; `lone` counts the commits of one append in
  // a row while grouping, `eagerCommits` the commits made eagerly since going eager.
  let eager = mode === 'at-once';
  let lone = 0;
  let eagerCommits = 0;
  let drained: Array<() => void> = [];

  const applyWrites = (writes: readonly EncodedWrite[]): AppendResult[] => {
    const recordedAt = now().toISOString();
    return writes.map(({ stream, events, expected }) => {
      // Inside the transaction: an earlier append of the batch to this stream is seen here.
      const last = sql.lastOfStream.get(stream);
      const current = last?.revision ?? -1n;
      if (!satisfiesExpectedVersion(expected, current)) {
        throw new ConcurrencyError(stream, describeExpectedVersion(expected), current);
      }
      if (events.length === 0) {
        return { nextExpectedRevision: current, lastPosition: last?.position ?? sql.head.get()! };
      }
      let lastPosition = 0n;
      events.forEach((e, i) => {
        const { lastInsertRowid } = sql.insert.run(
          stream,
          current + 1n + BigInt(i),
          e.type,
          e.version,
          e.data,
          e.metadata,
          recordedAt,
        );
        lastPosition = BigInt(lastInsertRowid);
      });
      return { nextExpectedRevision: current + BigInt(events.length), lastPosition };
    });
  };

  const applyBatch = (batch: readonly Pending[]): Outcome[] => {
    // Alone in its transaction, an append needs no savepoint: its failure rolls back the whole.
    if (batch.length === 1) return [{ ok: true, results: applyWrites(batch[0]!.writes) }];
    return batch.map(({ writes }): Outcome => {
      sql.savepoint.run();
      try {
        const results = applyWrites(writes);
        sql.release.run();
        return { ok: true, results };
      } catch (error) {
        // SQLite ends the whole transaction on some errors (disk full, I/O): then nothing of
        // the batch can commit, and the batch fails as a whole.
        if (!db.inTransaction) throw error;
        sql.rollbackTo.run();
        sql.release.run();
        return { ok: false, error };
      }
    });
  };

  const flush = async () => {
    scheduled = false;
    flushing = true;
    // Those waiting now are the ones a lock timeout fails; latecomers join if the lock comes.
    const waiting = queue.length;
    let batch: Pending[] = [];
    let outcomes: Outcome[] | undefined;
    let failure: unknown;
    try {
      outcomes = await writeTransaction(db, options, () => {
        batch = queue.splice(0, MAX_APPENDS_PER_COMMIT);
        return applyBatch(batch);
      });
    } catch (error) {
      failure = error;
      if (batch.length === 0) batch = queue.splice(0, waiting);
    }
    flushing = false;
    if (mode === 'adaptive') adapt(batch.length);
    if (outcomes) {
      const done = outcomes;
      if (batch.some((p, i) => done[i]!.ok && p.writes.some((w) => w.events.length > 0))) {
        options.onCommitted();
      }
      done.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.results) : batch[i]!.reject(o.error)));
    } else {
      for (const p of batch) p.reject(failure);
    }
    if (queue.length > 0) schedule();
    else {
      const waiters = drained;
      drained = [];
      for (const w of waiters) w();
    }
  };

  // Why adaptive: a lone append that waits for the turn pays it for nothing (a writer awaiting
  // each append: workload 1's sequential appends fell to 0.73x the raw driver), but committing
  // at once whenever nothing is queued was measured too (bench/NOTES.md "SQLite group commit
  // and a lone writer"): the appends that operations in flight make from separate callbacks of
  // one turn (their steps' timers firing together) were then no longer gathered, and the
  // engine's CPU per step with 16 in flight on 'full' rose up to 2.8 times. The store cannot
  // see whether another append is coming this turn, so it learns it from the commits: lone
  // commits in a row say "one writer"; a commit that gathers two says "others are appending".
  // While eager it cannot see the others (each commits alone), so it probes: after
  // `eagerCommits` eager commits it groups again, and stays grouping if the others show up.
  const adapt = (gathered: number) => {
    if (eager) {
      if (gathered >= 2 || ++eagerCommits >= ADAPTIVE_COMMIT.eagerCommits) {
        eager = false;
        lone = 0;
      }
    } else if (gathered >= 2) lone = 0;
    else if (++lone >= ADAPTIVE_COMMIT.loneFlushes) {
      eager = true;
      eagerCommits = 0;
    }
  };

  const schedule = () => {
    if (scheduled || flushing) return;
    scheduled = true;
    if (eager) void flush();
    else setImmediate(() => void flush());
  };

  return {
    submit: (writes) =>
      new Promise<AppendResult[]>((resolve, reject) => {
        queue.push({ writes, resolve, reject });
        schedule();
      }),
    drain: () =>
      queue.length === 0 && !flushing && !scheduled
        ? Promise.resolve()
        : new Promise<void>((resolve) => drained.push(resolve)),
  };
};
