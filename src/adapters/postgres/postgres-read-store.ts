import type { PoolClient } from 'pg';
import type {
  OperationQuery,
  OperationRecord,
  ReadModelTransaction,
  ReadStore,
  SkippedEvent,
} from '../../projections/read-store.js';
import {
  advisoryKey,
  DEFAULT_SCHEMA,
  inTransaction,
  openPool,
  queryText,
  quoteIdentifier,
  requiredText,
  type Queryable,
} from './connection.js';
import { PostgresStoreOptionsError, ReadStoreClosedError } from './errors.js';
import { isTransientPostgresError } from './transient-errors.js';
import type { PostgresConnection, PostgresTimeoutOptions } from './public-types.js';
import { onFirstUse, runMigrations } from './migrations.js';
import {
  decodeEnvironment,
  decodeLogLine,
  decodeOperation,
  decodeResource,
  ENVIRONMENT_COLUMNS,
  LOG_LINE_COLUMNS,
  OPERATION_COLUMNS,
  RESOURCE_COLUMNS,
} from './read-store-rows.js';
import { readStoreMigrations } from './read-store-schema.js';
import {
  environmentValues,
  logLineValues,
  operationValues,
  resourceValues,
} from '../read-store-values.js';

export interface PostgresReadStoreOptions extends PostgresTimeoutOptions {
  /**
   * Schema holding the read-model tables (created on first use); defaults to `opledger`, the
   * event store's default, so that events, read models and checkpoints share one database.
   */
  schema?: string;
  /** Rows operationsCreatedBetween fetches per query (a report may cover many thousands). */
  pageSize?: number;
}

const DEFAULT_PAGE_SIZE = 500;

const placeholders = (count: number, from = 1): string =>
  Array.from({ length: count }, (_, i) => `$${from + i}`).join(', ');

/**
 * Read models on PostgreSQL, with the in-memory read store's semantics. A projection batch and
 * its checkpoint commit in one transaction on one connection, so after a crash the read model
 * and the checkpoint always agree.
 */
export const createPostgresReadStore = (
  connection: PostgresConnection,
  options: PostgresReadStoreOptions = {},
): ReadStore => {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const s = quoteIdentifier(schema);
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new PostgresStoreOptionsError(`pageSize must be a positive integer, not ${pageSize}`);
  }
  const { pool, end, explain, server } = openPool(connection, options);
  const migrate = onFirstUse(() =>
    runMigrations(pool, schema, 'read-store', readStoreMigrations(schema)),
  );
  let closing: Promise<void> | undefined;
  let ended = false;

  /** Refuses calls once close() was called; a call the ending pool cut short says so too. */
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) throw new ReadStoreClosedError();
    try {
      await migrate();
      return await work();
    } catch (error) {
      if (ended) throw new ReadStoreClosedError();
      throw explain(error);
    }
  };

  // Writes of this store run one at a time, in call order, as in the in-memory store: the
  // last transaction called is the last to set the checkpoint. The advisory lock extends that
  // to other processes sharing the schema; one lock for every projection means two writers
  // of opledger can never deadlock on each other's rows.
  let writes: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const result = writes.then(work);
    writes = result.catch(() => undefined);
    return result;
  };
  const writerLock = advisoryKey('read-model-writer', schema);

  const sql = {
    operation: `SELECT ${OPERATION_COLUMNS} FROM ${s}.operations WHERE id = $1`,
    putOperation: `INSERT INTO ${s}.operations (${OPERATION_COLUMNS.replace('state::text AS state', 'state')})
      VALUES (${placeholders(8)}, $9::jsonb)
      ON CONFLICT (id) DO UPDATE SET environment = EXCLUDED.environment,
        resource_type = EXCLUDED.resource_type, resource_handle = EXCLUDED.resource_handle,
        type = EXCLUDED.type, status = EXCLUDED.status, created_at = EXCLUDED.created_at,
        last_revision = EXCLUDED.last_revision, state = EXCLUDED.state`,
    // Redelivery rewrites the same line: idempotent on (operation_id, revision).
    putLogLine: `INSERT INTO ${s}.operation_log_lines (${LOG_LINE_COLUMNS}) VALUES (${placeholders(6)})
      ON CONFLICT (operation_id, revision) DO UPDATE SET at = EXCLUDED.at,
        level = EXCLUDED.level, step = EXCLUDED.step, message = EXCLUDED.message`,
    resource: `SELECT ${RESOURCE_COLUMNS} FROM ${s}.resources
      WHERE environment = $1 AND type = $2 AND handle = $3`,
    putResource: `INSERT INTO ${s}.resources (${RESOURCE_COLUMNS}) VALUES (${placeholders(8)})
      ON CONFLICT (environment, type, handle) DO UPDATE SET status = EXCLUDED.status,
        release = EXCLUDED.release, last_operation_id = EXCLUDED.last_operation_id,
        last_operation_type = EXCLUDED.last_operation_type,
        last_operation_at = EXCLUDED.last_operation_at`,
    environment: `SELECT ${ENVIRONMENT_COLUMNS} FROM ${s}.environments WHERE environment = $1`,
    putEnvironment: `INSERT INTO ${s}.environments (${ENVIRONMENT_COLUMNS}) VALUES (${placeholders(5)})
      ON CONFLICT (environment) DO UPDATE SET status = EXCLUDED.status,
        first_operation_at = EXCLUDED.first_operation_at,
        deprovisioned_at = EXCLUDED.deprovisioned_at, purged_through = EXCLUDED.purged_through`,
    // One statement, so that it is atomic even outside a transaction; all CTEs see the same
    // snapshot, so the lines deleted are those of the operations deleted.
    purgeEnvironment: `WITH ops AS (DELETE FROM ${s}.operations WHERE environment = $1 RETURNING id),
        lines AS (DELETE FROM ${s}.operation_log_lines WHERE operation_id IN (SELECT id FROM ops)),
        res AS (DELETE FROM ${s}.resources WHERE environment = $1)
      SELECT 1`,
    checkpoint: `SELECT position FROM ${s}.projection_checkpoints WHERE projection = $1`,
    document: `SELECT document::text AS json FROM ${s}.projection_documents
      WHERE collection = $1 AND key = $2`,
    putDocument: `INSERT INTO ${s}.projection_documents (collection, key, document)
      VALUES ($1, $2, $3::json)
      ON CONFLICT (collection, key) DO UPDATE SET document = EXCLUDED.document`,
    documents: `SELECT key, document::text AS json FROM ${s}.projection_documents
      WHERE collection = $1 AND ($2::text IS NULL OR key > $2::text COLLATE "C")
      ORDER BY key LIMIT $3`,
    version: `SELECT version::text AS version FROM ${s}.projection_versions WHERE projection = $1`,
    resetProjection: `WITH d AS (DELETE FROM ${s}.projection_documents WHERE collection = ANY($2::text[])),
        c AS (DELETE FROM ${s}.projection_checkpoints WHERE projection = $1)
      INSERT INTO ${s}.projection_versions (projection, version) VALUES ($1, $3)
      ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version`,
    putSkipped: `INSERT INTO ${s}.projection_skipped_events
        (projection, position, stream, revision, code, problem, user_name, at, reason)
      VALUES (${placeholders(9)})
      ON CONFLICT (projection, position) DO UPDATE SET stream = EXCLUDED.stream,
        revision = EXCLUDED.revision, code = EXCLUDED.code, problem = EXCLUDED.problem,
        user_name = EXCLUDED.user_name, at = EXCLUDED.at, reason = EXCLUDED.reason`,
    skipped: `SELECT position::text AS position, stream, revision, code, problem,
        user_name, at, reason
      FROM ${s}.projection_skipped_events AS skipped WHERE projection = $1
      ORDER BY skipped.position`,
    setCheckpoint: `INSERT INTO ${s}.projection_checkpoints (projection, position) VALUES ($1, $2)
      ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position`,
    // DELETE rather than TRUNCATE: readers keep seeing the old model until the reset commits
    // instead of blocking on TRUNCATE's exclusive lock.
    reset: `WITH o AS (DELETE FROM ${s}.operations), l AS (DELETE FROM ${s}.operation_log_lines),
        r AS (DELETE FROM ${s}.resources), e AS (DELETE FROM ${s}.environments),
        c AS (DELETE FROM ${s}.projection_checkpoints WHERE projection = $1)
      SELECT 1`,
  };

  const first = async <T>(
    db: Queryable,
    text: string,
    values: unknown[],
    decode: (row: Record<string, string | null>) => T,
  ): Promise<T | undefined> => {
    const [row] = await queryText(db, text, values);
    return row ? decode(row) : undefined;
  };

  /** Writes through `client` while the transaction is open; refuses afterwards, so that a
   * write the caller forgot to await cannot land in someone else's use of the connection. */
  const transactionOn = (
    client: PoolClient,
    projection: string,
    isOpen: () => boolean,
  ): ReadModelTransaction => {
    const run = async (text: string, values: unknown[]) => {
      if (!isOpen()) {
        throw new Error('This read-model transaction has ended: await every write inside apply.');
      }
      return queryText(client, text, values);
    };
    const get = async <T>(
      text: string,
      values: unknown[],
      decode: (row: Record<string, string | null>) => T,
    ) => {
      const [row] = await run(text, values);
      return row ? decode(row) : undefined;
    };
    return {
      getOperation: (id) => get(sql.operation, [id], decodeOperation),
      putOperation: async (record) => void (await run(sql.putOperation, operationValues(record))),
      putLogLine: async (line) => void (await run(sql.putLogLine, logLineValues(line))),
      getResource: (environment, type, handle) =>
        get(sql.resource, [environment, type, handle], decodeResource),
      putResource: async (record) => void (await run(sql.putResource, resourceValues(record))),
      getEnvironment: (environment) => get(sql.environment, [environment], decodeEnvironment),
      putEnvironment: async (record) =>
        void (await run(sql.putEnvironment, environmentValues(record))),
      purgeEnvironment: async (environment) =>
        void (await run(sql.purgeEnvironment, [environment])),
      putSkippedEvent: async (skip: SkippedEvent) =>
        void (await run(sql.putSkipped, [
          projection,
          skip.position,
          skip.stream,
          skip.revision,
          skip.code,
          skip.problem,
          skip.user,
          skip.at,
          skip.reason,
        ])),
      getDocument: (collection, key) =>
        get(sql.document, [collection, key], (row) => requiredText(row, 'json')),
      putDocument: async (collection, key, json) =>
        void (await run(sql.putDocument, [collection, key, json])),
    };
  };

  const transaction = async (
    projection: string,
    position: bigint,
    apply: (tx: ReadModelTransaction) => Promise<void>,
  ): Promise<void> => {
    let open = true;
    await inTransaction(
      pool,
      async (client) => {
        await apply(transactionOn(client, projection, () => open));
        await queryText(client, sql.setCheckpoint, [projection, position.toString()]);
      },
      {
        // Projectors in other processes take turns too, so that one's read-modify-write of an
        // operation cannot overwrite another's.
        begin: `BEGIN; SELECT pg_advisory_xact_lock(${writerLock})`,
        done: () => {
          open = false;
        },
      },
    );
  };

  const listOperations = async (query: OperationQuery) => {
    const values: unknown[] = [query.environment];
    const where = ['environment = $1'];
    const add = (condition: (at: string) => string, value: unknown) => {
      values.push(value);
      where.push(condition(`$${values.length}`));
    };
    if (query.resource) {
      add((p) => `resource_type = ${p}`, query.resource.type);
      add((p) => `resource_handle = ${p}`, query.resource.handle);
    }
    if (query.status !== undefined) {
      add(
        (p) => `status = ANY(${p}::text[])`,
        typeof query.status === 'string' ? [query.status] : [...query.status],
      );
    }
    if (query.type !== undefined) add((p) => `type = ${p}`, query.type);
    if (query.from !== undefined) add((p) => `created_at >= ${p}`, query.from);
    if (query.to !== undefined) add((p) => `created_at < ${p}`, query.to);
    values.push(Math.max(0, query.limit), Math.max(0, query.offset));
    const [limit, offset] = [`$${values.length - 1}`, `$${values.length}`];
    // One statement, so that the page and the total come from the same snapshot.
    const rows = await queryText(
      pool,
      `WITH matching AS (SELECT * FROM ${s}.operations WHERE ${where.join(' AND ')})
       SELECT total.count AS total, page.*
         FROM (SELECT count(*) FROM matching) AS total
         LEFT JOIN LATERAL (
           SELECT ${OPERATION_COLUMNS} FROM matching
            ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}
         ) AS page ON true`,
      values,
    );
    return {
      items: rows.filter((row) => row.id !== null).map(decodeOperation),
      total: Number(requiredText(rows[0] ?? {}, 'total')),
    };
  };

  // Keyset pagination: each page starts after the last row of the previous one, so rows
  // inserted meanwhile never shift a page, and no page costs more than the one before.
  async function* operationsCreatedBetween(
    environment: string,
    from: string,
    to: string,
  ): AsyncGenerator<OperationRecord> {
    let after: { createdAt: string; id: string } | undefined;
    for (;;) {
      const page = await guarded(async () =>
        (
          await queryText(
            pool,
            `SELECT ${OPERATION_COLUMNS} FROM ${s}.operations
              WHERE environment = $1 AND created_at >= $2 AND created_at < $3
                AND ($4::text IS NULL OR (created_at, id) > ($4::text COLLATE "C", $5::text COLLATE "C"))
              ORDER BY created_at, id LIMIT $6`,
            [environment, from, to, after?.createdAt ?? null, after?.id ?? null, pageSize],
          )
        ).map(decodeOperation),
      );
      yield* page;
      const last = page.at(-1);
      if (!last || page.length < pageSize) return;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  return {
    // The same classification as the event store's: a projector rides these out, the dashboard
    // answers them with a 503.
    outage: { host: server, isTransient: isTransientPostgresError },
    checkpoint: (projection) =>
      guarded(async () => {
        const [row] = await queryText(pool, sql.checkpoint, [projection]);
        return row ? BigInt(requiredText(row, 'position')) : 0n;
      }),
    transaction: (projection, position, apply) =>
      guarded(() => inTurn(() => transaction(projection, position, apply))),
    reset: (projection) =>
      guarded(() => inTurn(async () => void (await queryText(pool, sql.reset, [projection])))),

    skippedEvents: (projection) =>
      guarded(async () =>
        (await queryText(pool, sql.skipped, [projection])).map((row): SkippedEvent => ({
          position: requiredText(row, 'position'),
          stream: requiredText(row, 'stream'),
          revision: requiredText(row, 'revision'),
          code: requiredText(row, 'code'),
          problem: requiredText(row, 'problem'),
          user: requiredText(row, 'user_name'),
          at: requiredText(row, 'at'),
          reason: requiredText(row, 'reason'),
        })),
      ),

    document: (collection, key) =>
      guarded(() =>
        first(pool, sql.document, [collection, key], (row) => requiredText(row, 'json')),
      ),
    documents: (collection, { after, limit }) =>
      guarded(async () =>
        (await queryText(pool, sql.documents, [collection, after ?? null, Math.max(0, limit)])).map(
          (row) => ({ key: requiredText(row, 'key'), json: requiredText(row, 'json') }),
        ),
      ),
    projectionVersion: (projection) =>
      guarded(() =>
        first(pool, sql.version, [projection], (row) => Number(requiredText(row, 'version'))),
      ),
    resetProjection: (projection, version, collections) =>
      guarded(() =>
        inTurn(
          async () =>
            void (await queryText(pool, sql.resetProjection, [
              projection,
              [...collections],
              version,
            ])),
        ),
      ),

    operation: (id) => guarded(() => first(pool, sql.operation, [id], decodeOperation)),
    logLines: (operationId) =>
      guarded(async () =>
        (
          await queryText(
            pool,
            `SELECT ${LOG_LINE_COLUMNS} FROM ${s}.operation_log_lines
              WHERE operation_id = $1 ORDER BY revision`,
            [operationId],
          )
        ).map(decodeLogLine),
      ),
    listOperations: (query) => guarded(() => listOperations(query)),
    operationsCreatedBetween,
    resource: (environment, type, handle) =>
      guarded(() => first(pool, sql.resource, [environment, type, handle], decodeResource)),
    resources: (environment) =>
      guarded(async () =>
        (
          await queryText(
            pool,
            // Ordered by the concatenation, exactly as the in-memory store compares.
            `SELECT ${RESOURCE_COLUMNS} FROM ${s}.resources WHERE environment = $1
              ORDER BY type COLLATE "C", handle COLLATE "C"`,
            [environment],
          )
        ).map(decodeResource),
      ),
    environment: (environment) =>
      guarded(() => first(pool, sql.environment, [environment], decodeEnvironment)),
    environments: () =>
      guarded(async () =>
        (
          await queryText(
            pool,
            `SELECT ${ENVIRONMENT_COLUMNS} FROM ${s}.environments ORDER BY environment COLLATE "C"`,
            [],
          )
        ).map(decodeEnvironment),
      ),
    operationDates: (environment) =>
      guarded(async () =>
        (
          await queryText(
            pool,
            `SELECT created_at FROM ${s}.operations WHERE environment = $1 ORDER BY created_at, id`,
            [environment],
          )
        ).map((row) => requiredText(row, 'created_at')),
      ),
    close() {
      // Transactions called before close() still commit; only then does the pool end.
      closing ??= (async () => {
        await writes;
        ended = true;
        await end();
      })();
      return closing;
    },
  };
};
