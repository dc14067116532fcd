import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  getInMemoryEventStore,
  STREAM_DOES_NOT_EXIST,
  type InMemoryEventStore,
} from '@event-driven-io/emmett';
import { getPostgreSQLEventStore, readMessagesBatch } from '@event-driven-io/emmett-postgresql';
import { dumbo } from '@event-driven-io/dumbo';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import { eventStoreMigrations as sqliteEventStoreMigrations } from '../../src/adapters/sqlite/event-store-schema.js';
import type { EventStore } from '../../src/domain/event-store.js';
import type { BenchEvent } from './events.js';
import { createDatabase, dropDatabase } from './postgres.js';

/**
 * One contestant of the append workload, seen through the few calls the workload makes.
 * `expected` is the number of events already in the stream (0: the stream does not exist), so
 * that every contestant checks an expected version on every append.
 */
export interface AppendTarget {
  append(stream: string, events: readonly BenchEvent[], expected: number): Promise<void>;
  /** Reads the stream's events (decoded, as a caller gets them); returns how many. */
  readStream(stream: string): Promise<number>;
  /** Reads the whole log in global order in pages; undefined when the store cannot. */
  readAll?: (pageSize: number) => Promise<number>;
  close(): Promise<void>;
}

export interface TargetFactory {
  /** Name in the results: 'opledger', 'emmett' or 'raw'. */
  contestant: string;
  store: 'memory' | 'sqlite' | 'postgres';
  /**
   * A fresh, empty store; `label` names its file, schema or table. A contestant has at most one
   * store open at a time.
   */
  open(label: string): Promise<AppendTarget>;
  /** Frees what the stores shared (a PostgreSQL database), once the workload is over. */
  dispose?(): Promise<void>;
}

/** One database per contestant and process, created on first use: databases are slow to make. */
const lazyDatabase = (serverUrl: string, name: string) => {
  let url: Promise<string> | undefined;
  return {
    url: () => (url ??= createDatabase(serverUrl, name)),
    async dispose() {
      if (url) await dropDatabase(serverUrl, name);
      url = undefined;
    },
  };
};

const newPool = (url: string) => {
  const pool = new pg.Pool({ connectionString: url, max: PG_POOL_SIZE });
  // An idle connection dropped by the server must not crash the process.
  pool.on('error', () => undefined);
  return pool;
};

/** Connections each PostgreSQL contestant may use: one per concurrent writer. */
export const PG_POOL_SIZE = 16;

// ---- opledger ------------------------------------------------------------------------------

const opledgerTarget = (store: EventStore, cleanup: () => Promise<void>): AppendTarget => ({
  async append(stream, events, expected) {
    await store.append(
      stream,
      events.map((e) => ({ type: e.type, version: 1, data: e.data })),
      { expectedVersion: expected === 0 ? 'no_stream' : BigInt(expected - 1) },
    );
  },
  readStream: async (stream) => (await store.readStream(stream)).length,
  async readAll(pageSize) {
    let count = 0;
    for (let after = 0n; ;) {
      const page = await store.readAll({ after, maxCount: pageSize });
      count += page.length;
      if (page.length < pageSize) return count;
      after = page[page.length - 1]!.globalPosition;
    }
  },
  async close() {
    await store.close();
    await cleanup();
  },
});

export const opledgerMemory: TargetFactory = {
  contestant: 'opledger',
  store: 'memory',
  open: async () => opledgerTarget(createInMemoryEventStore(), async () => {}),
};

/** SQLite files live in one temporary folder per process, removed with each store. */
const sqliteFile = (label: string) => {
  const folder = mkdtempSync(join(tmpdir(), `opledger-bench-${label}-`));
  return {
    path: join(folder, 'events.db'),
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
};

const opledgerSqliteWith = (contestant: string, groupCommit?: boolean): TargetFactory => ({
  contestant,
  store: 'sqlite',
  async open(label) {
    const file = sqliteFile(label);
    const store = createSqliteEventStore({
      path: file.path,
      synchronous: 'normal',
      ...(groupCommit === undefined ? {} : { groupCommit }),
    });
    await store.headPosition();
    return opledgerTarget(store, async () => file.remove());
  },
});

/** The default store, `groupCommit` left out (adaptive since issue 17's branch sqlitelone). */
export const opledgerSqlite = opledgerSqliteWith('opledger');

/**
 * `groupCommit: false`, the option for a process with one writer: each append commits at once.
 * Not a target's contestant; it shows what the option gives one writer and costs many.
 */
export const opledgerSqliteOneWriter = opledgerSqliteWith('opledger, groupCommit off', false);

export const opledgerPostgres = (serverUrl: string): TargetFactory => {
  const database = lazyDatabase(serverUrl, `bench_opledger_${process.pid}`);
  return {
    contestant: 'opledger',
    store: 'postgres',
    async open(label) {
      const pool = newPool(await database.url());
      const schema = `events_${label}`;
      const store = createPostgresEventStore({ pool }, { schema });
      await store.headPosition(); // runs the migrations before the clock starts
      return opledgerTarget(store, async () => {
        await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
        await pool.end();
      });
    },
    dispose: database.dispose,
  };
};

// ---- Emmett --------------------------------------------------------------------------------

// Emmett counts a stream's version in events (0 = no stream); so does `expected` here.
const emmettExpected = (expected: number) =>
  expected === 0 ? STREAM_DOES_NOT_EXIST : BigInt(expected);

export const emmettMemory: TargetFactory = {
  contestant: 'emmett',
  store: 'memory',
  async open() {
    const store: InMemoryEventStore = getInMemoryEventStore();
    return {
      async append(stream, events, expected) {
        await store.appendToStream(stream, [...events], {
          expectedStreamVersion: emmettExpected(expected),
        });
      },
      readStream: async (stream) => (await store.readStream(stream)).events.length,
      // Emmett's in-memory store has no read of the whole log in global order.
      close: async () => {},
    };
  },
};

export const emmettPostgres = (serverUrl: string): TargetFactory => {
  const database = lazyDatabase(serverUrl, `bench_emmett_${process.pid}`);
  return {
    contestant: 'emmett',
    store: 'postgres',
    async open() {
      const url = await database.url();
      const pool = newPool(url);
      const store = getPostgreSQLEventStore(url, { connectionOptions: { pool } });
      // Emmett's tables have fixed names: each store starts from truncated ones.
      await store.schema.migrate();
      await store.schema.dangerous.truncate({ resetSequences: true, truncateProjections: true });
      const reader = dumbo({ connectionString: url, pool });
      return {
        async append(stream, events, expected) {
          await store.appendToStream(stream, [...events], {
            expectedStreamVersion: emmettExpected(expected),
          });
        },
        readStream: async (stream) => (await store.readStream(stream)).events.length,
        async readAll(pageSize) {
          let count = 0;
          for (let after = 0n; ;) {
            const batch = await readMessagesBatch(reader.execute, { after, batchSize: pageSize });
            count += batch.messages.length;
            if (!batch.areMessagesLeft) return count;
            after = batch.currentGlobalPosition;
          }
        },
        async close() {
          await store.close();
          await pool.end().catch(() => undefined);
        },
      };
    },
    dispose: database.dispose,
  };
};

// ---- the raw drivers -----------------------------------------------------------------------

/**
 * better-sqlite3 alone: opledger's own events table (its migrations, run verbatim, so the
 * columns and the unique (stream, revision) index cannot drift from opledger's), the same
 * pragmas (WAL, synchronous as the opledger contestant), one BEGIN IMMEDIATE transaction per
 * append (better-sqlite3's transaction helper) with a prepared INSERT per event. The unique
 * index is the expected-version check: the revision written is the expected one plus one, so a
 * stale writer fails on the index.
 */
export const rawSqlite: TargetFactory = {
  contestant: 'raw',
  store: 'sqlite',
  async open(label) {
    const file = sqliteFile(label);
    const db = new Database(file.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    for (const migration of sqliteEventStoreMigrations) db.exec(migration.sql);
    const insert = db.prepare(
      'INSERT INTO opledger_events (stream, revision, type, version, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    // better-sqlite3's own transaction helper: BEGIN IMMEDIATE and COMMIT are prepared once.
    const write = db.transaction(
      (
        stream: string,
        events: readonly BenchEvent[],
        expected: number,
        datas: string[],
        recordedAt: string,
      ) => {
        events.forEach((e, i) =>
          insert.run(stream, expected + i, e.type, 1, datas[i], null, recordedAt),
        );
      },
    );
    const columns = 'position, stream, revision, type, version, data, metadata, recorded_at';
    const byStream = db.prepare(
      `SELECT ${columns} FROM opledger_events WHERE stream = ? ORDER BY revision`,
    );
    const after = db.prepare(
      `SELECT ${columns} FROM opledger_events WHERE position > ? ORDER BY position LIMIT ?`,
    );
    type Row = { position: number; data: string };
    const decode = (row: Row) => ({ ...row, data: JSON.parse(row.data) as unknown });
    return {
      async append(stream, events, expected) {
        const datas = events.map((e) => JSON.stringify(e.data));
        const recordedAt = new Date().toISOString();
        write.immediate(stream, events, expected, datas, recordedAt);
      },
      readStream: async (stream) => (byStream.all(stream) as Row[]).map(decode).length,
      async readAll(pageSize) {
        let count = 0;
        for (let position = 0; ;) {
          const page = (after.all(position, pageSize) as Row[]).map(decode);
          count += page.length;
          if (page.length < pageSize) return count;
          position = page[page.length - 1]!.position;
        }
      },
      async close() {
        db.close();
        file.remove();
      },
    };
  },
};

/** Where opledger's migrations make the events table the raw tables are copied from. */
const RAW_TEMPLATE_SCHEMA = 'raw_template';

/**
 * node-postgres alone: a copy of opledger's events table (`LIKE ... INCLUDING ALL` of the table
 * opledger's own migrations create in a template schema, so the columns, checks, collation and
 * unique (stream_name, stream_revision) index cannot drift from opledger's), except that
 * positions come from an identity column: that difference is the point of the baseline (opledger
 * draws them under its append lock, see event-store-schema.ts). A named (prepared) INSERT per
 * event; one event is one autocommitted statement, a batch is BEGIN, its INSERTs, COMMIT on one
 * connection. Like opledger, one transaction per append, the index refusing a stale writer.
 */
export const rawPostgres = (serverUrl: string): TargetFactory => {
  const database = lazyDatabase(serverUrl, `bench_raw_${process.pid}`);
  let template: Promise<void> | undefined;
  const migrateTemplate = async (url: string) => {
    const pool = newPool(url);
    const store = createPostgresEventStore({ pool }, { schema: RAW_TEMPLATE_SCHEMA });
    await store.headPosition(); // runs the migrations
    await store.close();
    await pool.end().catch(() => undefined);
  };
  return {
    contestant: 'raw',
    store: 'postgres',
    async open(label) {
      const url = await database.url();
      await (template ??= migrateTemplate(url));
      const pool = newPool(url);
      const table = `events_${label}`;
      await pool.query(
        `CREATE TABLE ${table} (LIKE "${RAW_TEMPLATE_SCHEMA}".events INCLUDING ALL)`,
      );
      await pool.query(
        `ALTER TABLE ${table} ALTER COLUMN global_position ADD GENERATED ALWAYS AS IDENTITY`,
      );
      const insert = (stream: string, revision: number, event: BenchEvent) => ({
        name: `insert_${table}`,
        text: `INSERT INTO ${table} (stream_name, stream_revision, type, version, data, metadata, recorded_at)
               VALUES ($1, $2, $3, $4, $5, NULL, clock_timestamp())`,
        values: [stream, revision, event.type, 1, JSON.stringify(event.data)],
      });
      type Row = { global_position: string; data: unknown };
      return {
        async append(stream, events, expected) {
          if (events.length === 1) {
            await pool.query(insert(stream, expected, events[0]!));
            return;
          }
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            for (let i = 0; i < events.length; i++) {
              await client.query(insert(stream, expected + i, events[i]!));
            }
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          } finally {
            client.release();
          }
        },
        // Rows come back decoded (jsonb parsed by pg), as a caller would want them.
        readStream: async (stream) =>
          (
            await pool.query<Row>({
              name: `read_stream_${table}`,
              text: `SELECT * FROM ${table} WHERE stream_name = $1 ORDER BY stream_revision`,
              values: [stream],
            })
          ).rows.length,
        async readAll(pageSize) {
          let count = 0;
          for (let after = '0'; ;) {
            const { rows } = await pool.query<Row>({
              name: `read_all_${table}`,
              text: `SELECT * FROM ${table} WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
              values: [after, pageSize],
            });
            count += rows.length;
            if (rows.length < pageSize) return count;
            after = rows[rows.length - 1]!.global_position;
          }
        },
        async close() {
          await pool.query(`DROP TABLE ${table}`);
          await pool.end();
        },
      };
    },
    dispose: database.dispose,
  };
};
