import { ConcurrencyError } from '../../domain/errors.js';
import {
  describeExpectedVersion,
  type AppendResult,
  type ExpectedVersion,
} from '../../domain/event-store.js';
import { queryText, requiredText, type Queryable, type TextRow } from './connection.js';

/** One stream's part of an append, its events already encoded (a bad event never queues). */
export interface EncodedWrite {
  stream: string;
  /** The JSON array append_events and append_batch take (see `encodeEvents`). */
  payload: string;
  expected: ExpectedVersion;
}

export interface PostgresGroupCommitOptions {
  db: Queryable;
  /** The quoted schema holding append_batch. */
  schema: string;
  /**
   * Sends one unit on its own, as the store did before group commit: `append_events` for one
   * write, a transaction of them for several. Used when nothing else is queued, and to tell
   * which unit of a batch an error belongs to.
   */
  sendAlone: (writes: readonly EncodedWrite[]) => Promise<AppendResult[]>;
  /** Whether a failed batch is the fault of one of its units' data, not of the batch. */
  isUnitFault: (error: unknown) => boolean;
  /** Called with the highest position a committed call wrote (subscribers read again). */
  onCommitted: (head: bigint) => void;
}

export interface PostgresGroupCommit {
  /**
   * Writes every stream of `writes` all or none, and resolves with one result per write once
   * the transaction holding them has committed. A conflict fails this call alone, not the
   * others sent with it.
   */
  submit(writes: readonly EncodedWrite[]): Promise<AppendResult[]>;
}

interface Pending {
  writes: readonly EncodedWrite[];
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
}

// Every unit of a batch holds the append lock for every process on the schema until the batch
// commits: a bound keeps one batch from holding it for too long.
const MAX_APPENDS_PER_BATCH = 128;

const expectedJson = (expected: ExpectedVersion): string =>
  typeof expected === 'bigint'
    ? `"k":"revision","r":"${expected.toString()}"`
    : `"k":${JSON.stringify(expected)},"r":null`;

/** The p_units argument of append_batch; payloads are already JSON, spliced in as they are. */
const batchJson = (batch: readonly Pending[]): string =>
  `[${batch
    .map(
      ({ writes }) =>
        `[${writes
          .map(
            (w) => `{"s":${JSON.stringify(w.stream)},${expectedJson(w.expected)},"e":${w.payload}}`,
          )
          .join(',')}]`,
    )
    .join(',')}]`;

/** Each unit's answer from append_batch's rows: its results, or its first write's conflict. */
const unitOutcomes = (
  batch: readonly Pending[],
  rows: readonly TextRow[],
): Array<{ ok: true; results: AppendResult[] } | { ok: false; error: ConcurrencyError }> => {
  const byUnit = new Map<number, TextRow[]>();
  for (const row of rows) {
    const unit = Number(requiredText(row, 'unit'));
    let list = byUnit.get(unit);
    if (!list) byUnit.set(unit, (list = []));
    list.push(row);
  }
  return batch.map(({ writes }, i) => {
    const unitRows = byUnit.get(i + 1) ?? [];
    const refused = unitRows.find((row) => row.appended !== 't');
    if (refused || unitRows.length !== writes.length) {
      if (!refused)
        throw new Error(`append_batch answered ${unitRows.length} rows for unit ${i + 1}`);
      const write = writes[Number(requiredText(refused, 'write')) - 1]!;
      return {
        ok: false,
        error: new ConcurrencyError(
          write.stream,
          describeExpectedVersion(write.expected),
          BigInt(requiredText(refused, 'revision')),
        ),
      };
    }
    const ordered = [...unitRows].sort((a, b) => Number(a.write) - Number(b.write));
    return {
      ok: true,
      results: ordered.map((row) => ({
        nextExpectedRevision: BigInt(requiredText(row, 'revision')),
        lastPosition: BigInt(requiredText(row, 'position')),
      })),
    };
  });
};

/**
 * Group commit on PostgreSQL. Appends to one schema serialise on its advisory lock (see
 * event-store-schema.ts), so a process with many operations in flight spent its appends
 * queueing for the lock one round trip at a time. Here a process keeps one append call in
 * flight: an append made while nothing is in flight is sent at once, alone, as before; those
 * made while a call is in flight queue, and go together in the next call to append_batch: one
 * round trip, one transaction, one take of the lock. Positions follow the order of the calls.
 * No caller is answered before the call holding its events has returned (and so committed);
 * a call that fails or whose answer is lost fails every caller in it alike, and none of them
 * is written, or all are (one statement, one transaction), which is what the outage
 * decorator's landed check expects of each one.
 */
export const createPostgresGroupCommit = (
  options: PostgresGroupCommitOptions,
): PostgresGroupCommit => {
  const { db, schema } = options;
  const queue: Pending[] = [];
  let inFlight = false;

  const sendBatch = async (batch: readonly Pending[]): Promise<void> => {
    let rows: TextRow[];
    try {
      rows = await queryText(
        db,
        `SELECT out_unit AS unit, out_write AS write, out_appended AS appended,
                out_revision AS revision, out_position AS position
           FROM ${schema}.append_batch($1::jsonb)`,
        [batchJson(batch)],
        { prepared: true },
      );
    } catch (error) {
      if (!options.isUnitFault(error)) {
        for (const p of batch) p.reject(error);
        return;
      }
      // One unit's data (or a writer that bypassed the lock) failed the whole call, and
      // nothing of it was written: each unit goes again on its own, in order, and gets its own
      // answer.
      for (const p of batch) await sendOne(p);
      return;
    }
    let outcomes;
    try {
      outcomes = unitOutcomes(batch, rows);
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    let head = 0n;
    outcomes.forEach((o, i) => {
      if (!o.ok) return;
      batch[i]!.writes.forEach((w, k) => {
        const position = o.results[k]!.lastPosition;
        if (w.payload !== '[]' && position > head) head = position;
      });
    });
    if (head > 0n) options.onCommitted(head);
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.results) : batch[i]!.reject(o.error)));
  };

  const sendOne = async (p: Pending): Promise<void> => {
    try {
      p.resolve(await options.sendAlone(p.writes));
    } catch (error) {
      p.reject(error);
    }
  };

  const flush = async (): Promise<void> => {
    inFlight = true;
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_APPENDS_PER_BATCH);
      if (batch.length === 1) await sendOne(batch[0]!);
      else {
        await sendBatch(batch).catch((error: unknown) => {
          // Not expected (sendBatch answers every caller itself); a caller must never hang.
          for (const p of batch) p.reject(error);
        });
      }
    }
    inFlight = false;
  };

  return {
    submit: (writes) =>
      new Promise<AppendResult[]>((resolve, reject) => {
        queue.push({ writes, resolve, reject });
        if (!inFlight) void flush();
      }),
  };
};
