import { Observable } from 'rxjs';
import { ConcurrencyError, InvalidEventError, StoreClosedError } from '../../domain/errors.js';
import {
  describeExpectedVersion,
  type AppendOptions,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
} from '../../domain/event-store.js';
import {
  DEFAULT_SCHEMA,
  inTransaction,
  openPool,
  queryText,
  quoteIdentifier,
  requiredText,
  type Queryable,
} from './connection.js';
import { decodeEventRow, encodeEvents, EVENT_COLUMNS } from './event-rows.js';
import { eventStoreMigrations, notificationChannel } from './event-store-schema.js';
import { createPostgresGroupCommit, type EncodedWrite } from './group-commit.js';
import { createLiveFeed, type Wake } from './live-feed.js';
import { onFirstUse, runMigrations } from './migrations.js';
import { PostgresStoreOptionsError } from './errors.js';
import { isTransientPostgresError } from './transient-errors.js';
import type { PostgresConnection, PostgresTimeoutOptions } from './public-types.js';

export interface PostgresEventStoreOptions extends PostgresTimeoutOptions {
  /** Schema holding the events table (created on first use); defaults to `opledger`. */
  schema?: string;
  /**
   * How often live subscribers also poll, so that a lost notification delays an event by at
   * most this long instead of losing it; defaults to 250 ms.
   */
  pollIntervalMs?: number;
}

const DEFAULT_POLL_INTERVAL_MS = 250;
/** How long a subscriber with `types` gathers wake-ups before it reads (see `subscribe`). */
const FILTERED_WAKE_GATHER_MS = 5;
/** Events a subscriber reads per query while catching up. */
const SUBSCRIPTION_PAGE = 256;

const expectedParameters = (expected: ExpectedVersion): [string, string | null] =>
  typeof expected === 'bigint' ? ['revision', expected.toString()] : [expected, null];

const isUniqueViolation = (error: unknown, constraint: string): boolean =>
  (error as { code?: unknown }).code === '23505' &&
  (error as { constraint?: unknown }).constraint === constraint;

// 22P05: a NUL character in JSON; 22P02: e.g. a lone UTF-16 surrogate. Both are the data's fault.
const isUnstorableJson = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  return code === '22P05' || code === '22P02';
};

/** The types of an encoded payload, to name them in an error (the rare path: parsed again). */
const eventTypes = (payload: string): string =>
  (JSON.parse(payload) as Array<{ type: string }>).map((e) => e.type).join(', ');

const limitOf = (maxCount: number | undefined): number | null =>
  maxCount === undefined || maxCount === Infinity ? null : Math.max(0, Math.floor(maxCount));

/**
 * An event store on PostgreSQL: events in one table, appends through plpgsql functions (one
 * round trip each, group-committed: see group-commit.ts), live delivery by LISTEN/NOTIFY with polling behind it. See
 * event-store-schema.ts for why global positions are always read in order.
 */
export const createPostgresEventStore = (
  connection: PostgresConnection,
  options: PostgresEventStoreOptions = {},
): EventStore => {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const s = quoteIdentifier(schema);
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!(pollIntervalMs > 0) || !Number.isFinite(pollIntervalMs)) {
    throw new PostgresStoreOptionsError(
      `pollIntervalMs must be a positive number of milliseconds, not ${pollIntervalMs}`,
    );
  }
  const { pool, end, explain, server } = openPool(connection, options);
  const migrate = onFirstUse(() =>
    runMigrations(pool, schema, 'event-store', eventStoreMigrations(schema)),
  );
  let closing: Promise<void> | undefined;
  let ended = false;
  const completers = new Set<() => void>();
  // Head reads of `subscribe({ after: 'end' })` calls that appends must not overtake.
  const pendingHeads = new Set<Promise<unknown>>();
  const accepted = new Set<Promise<unknown>>();

  /** Refuses work once closed, and reports a pool ended under a call as the store closing. */
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) throw new StoreClosedError();
    try {
      await migrate();
      return await work();
    } catch (error) {
      if (ended) throw new StoreClosedError();
      throw explain(error);
    }
  };

  const readHead = async (db: Queryable = pool): Promise<bigint> => {
    const [row] = await queryText(
      db,
      `SELECT coalesce(max(global_position), 0) AS head FROM ${s}.events`,
      [],
      { prepared: true },
    );
    return BigInt(requiredText(row ?? {}, 'head'));
  };

  const readAfter = async (
    after: bigint,
    maxCount: number | null,
    types: readonly string[] | undefined,
  ): Promise<RecordedEvent[]> =>
    (types === undefined
      ? await queryText(
          pool,
          `SELECT ${EVENT_COLUMNS} FROM ${s}.events
            WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
          [after.toString(), maxCount],
          { prepared: true },
        )
      : // Left out here, the other events cost neither the wire nor JSON.parse.
        await queryText(
          pool,
          `SELECT ${EVENT_COLUMNS} FROM ${s}.events
            WHERE global_position > $1 AND type = ANY($3::text[])
            ORDER BY global_position LIMIT $2`,
          [after.toString(), maxCount, [...types]],
          { prepared: true },
        )
    ).map(decodeEventRow);

  const currentRevision = async (stream: string): Promise<bigint> => {
    const [row] = await queryText(
      pool,
      `SELECT coalesce(max(stream_revision), -1) AS revision FROM ${s}.events WHERE stream_name = $1`,
      [stream],
    );
    return BigInt(requiredText(row ?? {}, 'revision'));
  };

  const feed = createLiveFeed({
    pool,
    channel: notificationChannel(schema),
    pollIntervalMs,
    head: (db) => guarded(() => readHead(db)),
  });

  /** One stream's append on `db`: the pool (its own transaction) or a transaction's client. */
  const appendOn = async (
    db: Queryable,
    { stream, payload, expected }: EncodedWrite,
  ): Promise<AppendResult> => {
    const [kind, revision] = expectedParameters(expected);
    let row;
    try {
      [row] = await queryText(
        db,
        `SELECT out_appended AS appended, out_revision AS revision, out_position AS position
           FROM ${s}.append_events($1, $2, $3, $4::jsonb)`,
        [stream, kind, revision, payload],
        { prepared: true },
      );
    } catch (error) {
      // Only a writer that bypassed append_events (and its lock) can get here first.
      if (isUniqueViolation(error, 'events_stream_revision_key')) {
        throw new ConcurrencyError(
          stream,
          describeExpectedVersion(expected),
          await currentRevision(stream),
        );
      }
      if (isUnstorableJson(error)) {
        throw new InvalidEventError(
          eventTypes(payload),
          `PostgreSQL cannot store its data as JSON (${(error as Error).message}); remove NUL characters and unpaired surrogates`,
        );
      }
      throw error;
    }
    const actual = BigInt(requiredText(row ?? {}, 'revision'));
    if (row?.appended !== 't') {
      throw new ConcurrencyError(stream, describeExpectedVersion(expected), actual);
    }
    return { nextExpectedRevision: actual, lastPosition: BigInt(requiredText(row, 'position')) };
  };

  // A unit sent on its own (nothing else was queued): one append_events call, or, for several
  // streams, a transaction of them. append_events takes the append lock for its transaction;
  // called again in the same one it already holds it, and each call sees the rows the earlier
  // ones inserted.
  const sendAlone = async (writes: readonly EncodedWrite[]): Promise<AppendResult[]> => {
    const results =
      writes.length === 1
        ? [await appendOn(pool, writes[0]!)]
        : await inTransaction(pool, async (client) => {
            const out: AppendResult[] = [];
            for (const w of writes) out.push(await appendOn(client, w));
            return out;
          });
    const head = results.reduce(
      (max, r, i) => (writes[i]!.payload !== '[]' && r.lastPosition > max ? r.lastPosition : max),
      0n,
    );
    // Local subscribers need not wait for the notification to come back from the server.
    if (head > 0n) feed.wakeAll(head);
    return results;
  };

  const groupCommit = createPostgresGroupCommit({
    db: pool,
    schema: s,
    sendAlone,
    isUnitFault: (error) =>
      isUnstorableJson(error) || isUniqueViolation(error, 'events_stream_revision_key'),
    onCommitted: (head) => feed.wakeAll(head),
  });

  const append = async (
    stream: string,
    events: readonly EventData[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> => {
    const write = { stream, payload: encodeEvents(events), expected };
    if (pendingHeads.size > 0) await Promise.allSettled([...pendingHeads]);
    const [result] = await groupCommit.submit([write]);
    return result!;
  };

  const appendToStreams = async (writes: readonly StreamWrite[]): Promise<AppendResult[]> => {
    const encoded = writes.map((w) => ({
      stream: w.stream,
      payload: encodeEvents(w.events),
      expected: w.expectedVersion ?? 'any',
    }));
    if (pendingHeads.size > 0) await Promise.allSettled([...pendingHeads]);
    return groupCommit.submit(encoded);
  };

  const readStream = async (
    stream: string,
    { from, direction = 'forwards', maxCount }: ReadStreamOptions,
  ): Promise<RecordedEvent[]> => {
    const backwards = direction === 'backwards';
    const rows = await queryText(
      pool,
      `SELECT ${EVENT_COLUMNS} FROM ${s}.events
        WHERE stream_name = $1
          AND ($2::bigint IS NULL OR stream_revision ${backwards ? '<=' : '>='} $2::bigint)
        ORDER BY stream_revision ${backwards ? 'DESC' : 'ASC'}
        LIMIT $3`,
      [stream, from === undefined ? null : from.toString(), limitOf(maxCount)],
      { prepared: true },
    );
    return rows.map(decodeEventRow);
  };

  const subscribe = (after: bigint | 'end', types: readonly string[] | undefined) =>
    new Observable<RecordedEvent>((subscriber) => {
      if (closing) {
        subscriber.error(new StoreClosedError());
        return;
      }
      let cursor: bigint | undefined = after === 'end' ? undefined : after;
      let reading = false;
      let again = false;
      // The highest position a wake-up said was committed. Every snapshot sees a prefix of the
      // log (see event-store-schema.ts), so a short page read after it holds every event of
      // `types` up to it: the cursor moves there, past the events left out, and the wake-ups
      // those bring read nothing.
      let known = 0n;

      // One read loop per subscriber; wake-ups during a read make it go round once more, so
      // delivery follows the table's order whatever order the wake-ups come in.
      const pump = async () => {
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          do {
            again = false;
            for (;;) {
              if (subscriber.closed || cursor === undefined) return;
              const reach = known;
              const page = await guarded(() =>
                readAfter(cursor as bigint, SUBSCRIPTION_PAGE, types),
              );
              for (const event of page) {
                if (subscriber.closed) return;
                cursor = event.globalPosition;
                subscriber.next(event);
              }
              if (page.length < SUBSCRIPTION_PAGE) {
                if (types !== undefined && cursor !== undefined && reach > cursor) cursor = reach;
                break;
              }
            }
          } while (again);
        } catch (error) {
          if (!subscriber.closed && !closing) subscriber.error(error);
        } finally {
          reading = false;
        }
      };

      // A wake-up cannot tell an append's types: a filtered subscriber that read at each one
      // would send a query per append in the store, most of them finding nothing. Its wake-ups
      // are gathered for a few milliseconds into one read instead.
      let gathering: NodeJS.Timeout | undefined;
      const wake: Wake = (hint) => {
        if (hint !== undefined && hint > known) known = hint;
        if (cursor === undefined || (hint !== undefined && cursor >= hint)) return;
        if (types === undefined) {
          void pump();
          return;
        }
        gathering ??= setTimeout(() => {
          gathering = undefined;
          void pump();
        }, FILTERED_WAKE_GATHER_MS);
      };
      const complete = () => subscriber.complete();
      completers.add(complete);
      const removeWake = feed.add(wake);

      if (cursor === undefined) {
        // "From now on" must include every append this store starts after subscribe() returns:
        // those appends wait until the head is known (see `append`).
        const head = guarded(() => readHead()).then(
          (position) => {
            cursor = position;
            void pump();
          },
          (error: unknown) => {
            if (!subscriber.closed && !closing) subscriber.error(error);
          },
        );
        pendingHeads.add(head);
        void head.finally(() => pendingHeads.delete(head));
      } else {
        void pump();
      }

      return () => {
        if (gathering) clearTimeout(gathering);
        completers.delete(complete);
        removeWake();
      };
    });

  /** An append accepted (not refused as closed), until it is answered. */
  const accept = <T>(call: Promise<T>): Promise<T> => {
    accepted.add(call);
    void call.then(
      () => accepted.delete(call),
      () => accepted.delete(call),
    );
    return call;
  };

  return {
    outage: { host: server, isTransient: isTransientPostgresError },
    append: (stream, events, appendOptions: AppendOptions = {}) =>
      accept(guarded(() => append(stream, events, appendOptions.expectedVersion ?? 'any'))),

    appendToStreams: (writes) => accept(guarded(() => appendToStreams(writes))),

    readStream: (stream, readOptions = {}) => guarded(() => readStream(stream, readOptions)),

    readAll: ({ after = 0n, maxCount, types }: ReadAllOptions = {}) =>
      guarded(() => readAfter(after, limitOf(maxCount), types)),

    headPosition: () => guarded(() => readHead()),

    // clock_timestamp(), as the append function stamps recorded_at with: leases compare the two.
    currentTime: () =>
      guarded(async () => {
        const [row] = await queryText(
          pool,
          'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000) AS ms',
          [],
        );
        return new Date(Number(requiredText(row ?? {}, 'ms')));
      }),

    subscribe: ({ after = 0n, types }: SubscribeOptions = {}) => subscribe(after, types),

    close() {
      closing ??= (async () => {
        for (const complete of [...completers]) complete();
        feed.close();
        // Appends accepted before close(), some queued behind a call in flight, are still
        // sent and answered before the pool ends.
        await Promise.allSettled([...accepted]);
        ended = true;
        await end();
      })();
      return closing;
    },
  };
};
