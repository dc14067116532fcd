import { createHash } from 'node:crypto';
import { advisoryKey, quoteIdentifier } from './connection.js';
import type { Migration } from './migrations.js';

/** The channel appends notify on: one per schema, short enough for PostgreSQL's 63 bytes. */
export const notificationChannel = (schema: string): string =>
  `opledger_events_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;

/**
 * Why appends serialise on one advisory lock (the ordering guarantee):
 *
 * A reader that asks for `global_position > checkpoint` must never find a hole that fills in
 * later, or it skips that event for good. Positions drawn from a sequence do exactly that:
 * transaction A draws 5, B draws 6, B commits first, a reader sees 6 and moves past 5.
 *
 * Here every append takes one transaction-scoped advisory lock before it reads the head and
 * draws its positions (max + 1, so they are gapless too). PostgreSQL releases that lock only
 * after the holder's commit is visible, so the transaction holding lower positions has always
 * committed before the next one can draw higher ones: every snapshot sees a prefix of the log,
 * and readAll, headPosition and subscribers see strictly increasing positions, no hole.
 *
 * The cost is that appends to one schema commit one at a time (each a single short statement).
 * Group commit (append_batch, migration 2) softens it: the appends a process makes while one of
 * its batches is in flight go together in the next call, one transaction under one lock.
 * Emmett's alternative (an xid8 column, read only below pg_snapshot_xmin) lets writers commit
 * in parallel, but then any long transaction in the database, such as a read-model batch in the
 * same database, stalls every reader, and positions are no longer the delivery order. Two
 * schemas (two stores) do not share the lock.
 */
export const eventStoreMigrations = (schema: string): Migration[] => {
  const s = quoteIdentifier(schema);
  const appendLock = advisoryKey('append', schema);
  const channel = notificationChannel(schema);
  return [
    {
      version: 1,
      name: 'events table and append_events function',
      sql: `
        CREATE TABLE ${s}.events (
          global_position bigint PRIMARY KEY CHECK (global_position > 0),
          stream_name text COLLATE "C" NOT NULL,
          stream_revision bigint NOT NULL CHECK (stream_revision >= 0),
          type text NOT NULL,
          version integer NOT NULL,
          data jsonb NOT NULL,
          metadata jsonb,
          recorded_at timestamptz NOT NULL,
          -- The last guard: even a writer that bypasses append_events cannot fork a stream.
          CONSTRAINT events_stream_revision_key UNIQUE (stream_name, stream_revision)
        );

        -- One call = one round trip = one transaction: check the expected version, insert
        -- every event, notify. A conflict returns appended = false and writes nothing.
        CREATE FUNCTION ${s}.append_events(
          p_stream text,
          p_expected_kind text,
          p_expected_revision bigint,
          p_events jsonb
        ) RETURNS TABLE (
          out_appended boolean,
          out_revision bigint,
          out_position bigint,
          out_recorded_at timestamptz
        ) LANGUAGE plpgsql AS $fn$
        DECLARE
          v_current bigint;
          v_head bigint;
          v_count bigint := jsonb_array_length(p_events);
          v_now timestamptz;
        BEGIN
          -- Under REPEATABLE READ the reads below would use a snapshot taken before the lock.
          IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'opledger appends need READ COMMITTED isolation, not %',
              current_setting('transaction_isolation')
              USING HINT = 'Do not change default_transaction_isolation for the event store role.';
          END IF;
          PERFORM pg_advisory_xact_lock(${appendLock});

          SELECT e.stream_revision INTO v_current
            FROM ${s}.events e
           WHERE e.stream_name = p_stream
           ORDER BY e.stream_revision DESC
           LIMIT 1;
          v_current := coalesce(v_current, -1);

          IF NOT (CASE p_expected_kind
                    WHEN 'any' THEN true
                    WHEN 'no_stream' THEN v_current = -1
                    WHEN 'stream_exists' THEN v_current <> -1
                    WHEN 'revision' THEN v_current = p_expected_revision
                    ELSE false
                  END) THEN
            RETURN QUERY SELECT false, v_current, NULL::bigint, NULL::timestamptz;
            RETURN;
          END IF;

          SELECT coalesce(max(e.global_position), 0) INTO v_head FROM ${s}.events e;

          IF v_count = 0 THEN
            RETURN QUERY SELECT true, v_current,
              coalesce((SELECT max(e.global_position) FROM ${s}.events e
                         WHERE e.stream_name = p_stream), v_head),
              NULL::timestamptz;
            RETURN;
          END IF;

          v_now := clock_timestamp();
          INSERT INTO ${s}.events (global_position, stream_name, stream_revision, type, version,
                                   data, metadata, recorded_at)
          SELECT v_head + x.n, p_stream, v_current + x.n, x.value->>'type',
                 (x.value->>'version')::integer, x.value->'data', x.value->'metadata', v_now
            FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(value, n);

          -- Delivered at commit, in commit order; listeners treat it as a hint only.
          PERFORM pg_notify('${channel}', (v_head + v_count)::text);
          RETURN QUERY SELECT true, v_current + v_count, v_head + v_count, v_now;
        END
        $fn$;
      `,
    },
    {
      version: 2,
      name: 'append_batch function (group commit)',
      sql: `
        -- Group commit: the appends of many callers of one process in one call, so one round
        -- trip, one transaction and one take of the append lock. p_units is a JSON array of
        -- units, each an array of writes {"s": stream, "k": expected kind, "r": expected
        -- revision or null, "e": events as append_events takes them}. A unit is one caller's
        -- append (one write) or appendToStreams (several), and is all or none: every expected
        -- version of a unit is checked before any of its events is inserted, so a unit that
        -- conflicts writes nothing and the units around it go on, with no subtransaction.
        -- Units are written in array order, so positions follow the order of the calls.
        -- One row per write of a unit that went through; a unit that conflicts gives one row,
        -- its first conflicting write's, with out_appended = false and the stream's revision.
        CREATE FUNCTION ${s}.append_batch(p_units jsonb) RETURNS TABLE (
          out_unit integer,
          out_write integer,
          out_appended boolean,
          out_revision bigint,
          out_position bigint
        ) LANGUAGE plpgsql AS $fn$
        DECLARE
          v_unit jsonb;
          v_u integer;
          v_write jsonb;
          v_w integer;
          v_stream text;
          v_current bigint;
          v_currents bigint[];
          v_planned jsonb;
          v_ok boolean;
          v_count bigint;
          v_head bigint;
          v_start bigint;
          v_now timestamptz;
        BEGIN
          IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'opledger appends need READ COMMITTED isolation, not %',
              current_setting('transaction_isolation')
              USING HINT = 'Do not change default_transaction_isolation for the event store role.';
          END IF;
          PERFORM pg_advisory_xact_lock(${appendLock});

          SELECT coalesce(max(e.global_position), 0) INTO v_head FROM ${s}.events e;
          v_start := v_head;

          FOR v_unit, v_u IN
            SELECT x.value, x.n::integer FROM jsonb_array_elements(p_units) WITH ORDINALITY AS x(value, n)
          LOOP
            -- Check every write of the unit first. A stream written earlier in the same unit
            -- is not in the table yet: its planned revision is kept in v_planned.
            v_ok := true;
            v_planned := '{}'::jsonb;
            v_currents := '{}'::bigint[];
            FOR v_write, v_w IN
              SELECT x.value, x.n::integer FROM jsonb_array_elements(v_unit) WITH ORDINALITY AS x(value, n)
            LOOP
              v_stream := v_write->>'s';
              IF v_planned ? v_stream THEN
                v_current := (v_planned->>v_stream)::bigint;
              ELSE
                -- Sees the rows of the units before this one: each statement of a function
                -- sees what the earlier ones inserted.
                SELECT e.stream_revision INTO v_current
                  FROM ${s}.events e
                 WHERE e.stream_name = v_stream
                 ORDER BY e.stream_revision DESC
                 LIMIT 1;
                v_current := coalesce(v_current, -1);
              END IF;
              IF NOT (CASE v_write->>'k'
                        WHEN 'any' THEN true
                        WHEN 'no_stream' THEN v_current = -1
                        WHEN 'stream_exists' THEN v_current <> -1
                        WHEN 'revision' THEN v_current = (v_write->>'r')::bigint
                        ELSE false
                      END) THEN
                RETURN QUERY SELECT v_u, v_w, false, v_current, NULL::bigint;
                v_ok := false;
                EXIT;
              END IF;
              v_currents := v_currents || v_current;
              v_planned := v_planned || jsonb_build_object(
                v_stream, v_current + jsonb_array_length(v_write->'e'));
            END LOOP;
            CONTINUE WHEN NOT v_ok;

            v_now := clock_timestamp();
            FOR v_write, v_w IN
              SELECT x.value, x.n::integer FROM jsonb_array_elements(v_unit) WITH ORDINALITY AS x(value, n)
            LOOP
              v_stream := v_write->>'s';
              v_current := v_currents[v_w];
              v_count := jsonb_array_length(v_write->'e');
              IF v_count = 0 THEN
                RETURN QUERY SELECT v_u, v_w, true, v_current,
                  coalesce((SELECT max(e.global_position) FROM ${s}.events e
                             WHERE e.stream_name = v_stream), v_head);
              ELSE
                INSERT INTO ${s}.events (global_position, stream_name, stream_revision, type,
                                         version, data, metadata, recorded_at)
                SELECT v_head + x.n, v_stream, v_current + x.n, x.value->>'type',
                       (x.value->>'version')::integer, x.value->'data', x.value->'metadata', v_now
                  FROM jsonb_array_elements(v_write->'e') WITH ORDINALITY AS x(value, n);
                v_head := v_head + v_count;
                RETURN QUERY SELECT v_u, v_w, true, v_current + v_count, v_head;
              END IF;
            END LOOP;
          END LOOP;

          -- One notification for the whole batch, delivered at commit: a hint to read again.
          IF v_head > v_start THEN
            PERFORM pg_notify('${channel}', v_head::text);
          END IF;
        END
        $fn$;
      `,
    },
    {
      version: 3,
      name: 'append_events with fewer statements (lone appends)',
      sql: `
        -- The same function, argument for argument and row for row, with less work per call:
        -- a lone append (one process appending, one caller waiting on each append) spends most
        -- of its server time starting the statements of this body, not running them (see
        -- bench/NOTES.md, "PostgreSQL sequential appends"). The stream's revision and the head
        -- are read by one statement (one snapshot, taken after the lock as before), a
        -- one-event append inserts one row without a set-returning function over the array,
        -- and the answer is the function's own row, not a query. Replaced in place, so an
        -- older opledger process already running keeps calling it as before (one started
        -- later refuses the schema as too new, as after any migration).
        CREATE OR REPLACE FUNCTION ${s}.append_events(
          p_stream text,
          p_expected_kind text,
          p_expected_revision bigint,
          p_events jsonb
        ) RETURNS TABLE (
          out_appended boolean,
          out_revision bigint,
          out_position bigint,
          out_recorded_at timestamptz
        ) LANGUAGE plpgsql AS $fn$
        DECLARE
          v_current bigint;
          v_head bigint;
          v_count bigint := jsonb_array_length(p_events);
          v_now timestamptz;
        BEGIN
          -- Under REPEATABLE READ the read below would use a snapshot taken before the lock.
          IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'opledger appends need READ COMMITTED isolation, not %',
              current_setting('transaction_isolation')
              USING HINT = 'Do not change default_transaction_isolation for the event store role.';
          END IF;
          PERFORM pg_advisory_xact_lock(${appendLock});

          SELECT coalesce((SELECT e.stream_revision
                             FROM ${s}.events e
                            WHERE e.stream_name = p_stream
                            ORDER BY e.stream_revision DESC
                            LIMIT 1), -1),
                 coalesce((SELECT max(e.global_position) FROM ${s}.events e), 0)
            INTO v_current, v_head;

          IF NOT (CASE p_expected_kind
                    WHEN 'any' THEN true
                    WHEN 'no_stream' THEN v_current = -1
                    WHEN 'stream_exists' THEN v_current <> -1
                    WHEN 'revision' THEN v_current = p_expected_revision
                    ELSE false
                  END) THEN
            out_appended := false;
            out_revision := v_current;
            RETURN NEXT;
            RETURN;
          END IF;

          IF v_count = 0 THEN
            out_appended := true;
            out_revision := v_current;
            out_position := coalesce((SELECT max(e.global_position) FROM ${s}.events e
                                       WHERE e.stream_name = p_stream), v_head);
            RETURN NEXT;
            RETURN;
          END IF;

          v_now := clock_timestamp();
          IF v_count = 1 THEN
            INSERT INTO ${s}.events (global_position, stream_name, stream_revision, type,
                                     version, data, metadata, recorded_at)
            VALUES (v_head + 1, p_stream, v_current + 1, p_events->0->>'type',
                    (p_events->0->>'version')::integer, p_events->0->'data',
                    p_events->0->'metadata', v_now);
          ELSE
            INSERT INTO ${s}.events (global_position, stream_name, stream_revision, type,
                                     version, data, metadata, recorded_at)
            SELECT v_head + x.n, p_stream, v_current + x.n, x.value->>'type',
                   (x.value->>'version')::integer, x.value->'data', x.value->'metadata', v_now
              FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(value, n);
          END IF;

          -- Delivered at commit, in commit order; listeners treat it as a hint only.
          PERFORM pg_notify('${channel}', (v_head + v_count)::text);
          out_appended := true;
          out_revision := v_current + v_count;
          out_position := v_head + v_count;
          out_recorded_at := v_now;
          RETURN NEXT;
        END
        $fn$;
      `,
    },
  ];
};
