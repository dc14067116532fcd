import type { Pool } from 'pg';
import {
  advisoryKey,
  inTransaction,
  queryText,
  quoteIdentifier,
  type Queryable,
} from './connection.js';
import { PostgresSchemaTooNewError } from './errors.js';

export interface Migration {
  /** Applied in increasing order; never renumber or edit one that has shipped. */
  version: number;
  name: string;
  /** One or more statements, run in the migration's transaction. */
  sql: string;
}

/** Which part of opledger owns a migration: the event store and read store share a schema. */
export type MigrationComponent = 'event-store' | 'read-store';

const MIGRATIONS_TABLE = 'opledger_migrations';

const isMissingRelation = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  // 3F000: schema does not exist; 42P01: table does not exist.
  return code === '3F000' || code === '42P01';
};

const appliedVersions = async (
  db: Queryable,
  schema: string,
  component: MigrationComponent,
): Promise<Set<number>> =>
  new Set(
    (
      await queryText(
        db,
        `SELECT version FROM ${quoteIdentifier(schema)}.${MIGRATIONS_TABLE} WHERE component = $1`,
        [component],
      )
    ).map((row) => Number(row.version)),
  );

/** True when nothing is left to apply; refuses a schema a newer opledger has migrated. */
const upToDate = (
  applied: Set<number>,
  schema: string,
  component: MigrationComponent,
  migrations: readonly Migration[],
): boolean => {
  const supported = Math.max(0, ...migrations.map((m) => m.version));
  const found = Math.max(0, ...applied);
  if (found > supported) throw new PostgresSchemaTooNewError(schema, component, found, supported);
  return migrations.every((m) => applied.has(m.version));
};

/**
 * Brings `schema` up to the latest migration of `component`. Safe to run any number of times
 * and from several processes at once: an advisory lock serialises the runners, each migration
 * commits with its record, and a runner that waited finds the work done.
 */
export const runMigrations = async (
  pool: Pool,
  schema: string,
  component: MigrationComponent,
  migrations: readonly Migration[],
): Promise<void> => {
  const s = quoteIdentifier(schema);
  // Fast path: every store instance checks on first use, and an up-to-date schema needs no lock.
  try {
    if (upToDate(await appliedVersions(pool, schema, component), schema, component, migrations)) {
      return;
    }
  } catch (error) {
    if (!isMissingRelation(error)) throw error;
  }

  await inTransaction(pool, async (client) => {
    await queryText(client, 'SELECT pg_advisory_xact_lock($1::bigint)', [
      advisoryKey('migrations', schema),
    ]);
    // Checked rather than CREATE SCHEMA IF NOT EXISTS, which needs the CREATE privilege even
    // when the schema exists: a role allowed only into a prepared schema can still migrate.
    const exists = await queryText(client, 'SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      schema,
    ]);
    if (exists.length === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.${MIGRATIONS_TABLE} (
         component text NOT NULL,
         version integer NOT NULL,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (component, version)
       )`,
    );
    const applied = await appliedVersions(client, schema, component);
    upToDate(applied, schema, component, migrations);
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await queryText(
        client,
        `INSERT INTO ${s}.${MIGRATIONS_TABLE} (component, version, name) VALUES ($1, $2, $3)`,
        [component, migration.version, migration.name],
      );
    }
  });
};

/**
 * Runs `work` once, on first need; a failure is not remembered, so that a store created while
 * the database was down starts working once it is back.
 */
export const onFirstUse = (work: () => Promise<void>): (() => Promise<void>) => {
  let done: Promise<void> | undefined;
  return () => {
    done ??= work().catch((error: unknown) => {
      done = undefined;
      throw error;
    });
    return done;
  };
};
