import { createHash } from 'node:crypto';
import pg from 'pg';
import type { CustomTypesConfig, Pool, PoolClient } from 'pg';
import { PostgresStoreOptionsError } from './errors.js';

/**
 * Where a store connects: a URL (the store owns and ends its pool) or a pool the caller owns.
 * While an event store has live subscribers it holds one of the pool's connections for LISTEN,
 * so a caller's pool needs room for at least one more.
 */
export type PostgresConnection = { connectionString: string } | { pool: Pool };

export const DEFAULT_SCHEMA = 'opledger';

export type Queryable = Pool | PoolClient;

export type TextRow = Record<string, string | null>;

export interface PoolHandle {
  pool: Pool;
  /** Ends the pool if the store created it; a caller's pool is left for the caller to end. */
  end(): Promise<void>;
}

export const openPool = (connection: PostgresConnection): PoolHandle => {
  if ('pool' in connection) return { pool: connection.pool, end: async () => undefined };
  if (!connection.connectionString) {
    throw new PostgresStoreOptionsError('connectionString is empty');
  }
  const pool = new pg.Pool({ connectionString: connection.connectionString });
  // The server may drop an idle connection (restart, idle timeout): without a listener that
  // would crash the process, while the next query simply opens a new connection.
  pool.on('error', () => undefined);
  return { pool, end: () => pool.end() };
};

const asText = (value: string): string => value;

/**
 * Every value comes back as PostgreSQL's text and is converted here, so that type parsers a
 * caller registered globally on `pg` (int8 as number, jsonb revivers) cannot change what the
 * stores return or lose bigint precision.
 */
const TEXT_TYPES = { getTypeParser: () => asText } as unknown as CustomTypesConfig;

/**
 * Runs a query and returns its rows as text. With `prepared`, the statement is named after its
 * text, so each connection parses and plans it once instead of on every call (the hot paths of
 * the event store: bench/RESULTS.md has the figures).
 */
export const queryText = async (
  db: Queryable,
  text: string,
  values: unknown[] = [],
  { prepared = false }: { prepared?: boolean } = {},
): Promise<TextRow[]> =>
  (
    await db.query<TextRow>({
      text,
      values,
      types: TEXT_TYPES,
      ...(prepared ? { name: statementName(text) } : {}),
    })
  ).rows;

const statementNames = new Map<string, string>();

/** One name per text: two stores on different schemas share a pool without clashing. */
const statementName = (text: string): string => {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `opledger_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
};

const MAX_IDENTIFIER_BYTES = 63;

/** Quotes a schema or channel name; PostgreSQL would silently truncate a longer one. */
export const quoteIdentifier = (name: string, what = 'schema'): string => {
  if (name.length === 0) throw new PostgresStoreOptionsError(`the ${what} name is empty`);
  if (name.includes('\u0000')) {
    throw new PostgresStoreOptionsError(`the ${what} name contains a NUL character`);
  }
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new PostgresStoreOptionsError(
      `the ${what} name '${name}' is longer than ${MAX_IDENTIFIER_BYTES} bytes`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
};

/** A stable 64-bit key for pg_advisory_xact_lock, one per purpose and schema. */
export const advisoryKey = (...parts: string[]): string =>
  createHash('sha256')
    .update(['opledger', ...parts].join('\u0000'))
    .digest()
    .readBigInt64BE(0)
    .toString();

export const requiredText = (row: TextRow, column: string): string => {
  const value = row[column];
  if (value === null || value === undefined) throw new Error(`column ${column} is NULL`);
  return value;
};

export const optionalText = (row: TextRow, column: string): string | undefined =>
  row[column] ?? undefined;
