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
   * false: an append commits at once instead of waiting a turn of the event loop for others to
   * join it (appends arriving while a commit waits for the lock still join the next one).
   */
  waitForTurn?: boolean;
}

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
 * an append's cost with synchronous 'full'. The batch is cut when the event loop next goes
 * idle (setImmediate): every append that became ready in the same turn joins it. Each append of
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

  // A lone append waits for that turn too. Committing at once when nothing is queued was
  // measured against this (issue 17, bench/RESULTS.md "SQLite group commit and a lone
  // writer"): a lone writer saved up to 30% of an append's CPU, but the appends that
  // operations in flight make from separate callbacks of one turn (their steps' timers) were
  // then gathered less or not at all: with 16 in flight on synchronous 'full', the engine's CPU
  // per step rose by a quarter (at once only for the first append of a turn) to 2.8 times (at
  // once whenever the queue is empty).
  // One writer alone (`groupCommit: false`) has no one to wait for: it skips the turn.
  const waitForTurn = options.waitForTurn ?? true;
  const schedule = () => {
    if (scheduled || flushing) return;
    scheduled = true;
    if (waitForTurn) setImmediate(() => void flush());
    else void flush();
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
