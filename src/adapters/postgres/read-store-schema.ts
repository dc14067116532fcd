import { quoteIdentifier } from './connection.js';
import type { Migration } from './migrations.js';

/**
 * Read-model tables. Text that queries compare or sort on (ids, ISO timestamps, handles) uses
 * the "C" collation, so that PostgreSQL orders exactly as the in-memory store's JavaScript
 * string comparison does, whatever the database's locale. Timestamps stay ISO 8601 text for
 * the same reason: the port's `from`/`to` bounds are compared as strings.
 */
export const readStoreMigrations = (schema: string): Migration[] => {
  const s = quoteIdentifier(schema);
  return [
    {
      version: 1,
      name: 'operations, log lines, resources, environments and checkpoints',
      sql: `
        CREATE TABLE ${s}.operations (
          id text COLLATE "C" PRIMARY KEY,
          environment text COLLATE "C" NOT NULL,
          resource_type text COLLATE "C" NOT NULL,
          resource_handle text COLLATE "C" NOT NULL,
          type text COLLATE "C" NOT NULL,
          status text COLLATE "C" NOT NULL,
          created_at text COLLATE "C" NOT NULL,
          last_revision bigint NOT NULL,
          state jsonb NOT NULL
        );
        CREATE INDEX operations_by_environment ON ${s}.operations (environment, created_at, id);
        CREATE INDEX operations_by_resource
          ON ${s}.operations (environment, resource_type, resource_handle, created_at);

        CREATE TABLE ${s}.operation_log_lines (
          operation_id text COLLATE "C" NOT NULL,
          revision bigint NOT NULL,
          at text NOT NULL,
          level text NOT NULL,
          step text,
          message text NOT NULL,
          PRIMARY KEY (operation_id, revision)
        );

        CREATE TABLE ${s}.resources (
          environment text COLLATE "C" NOT NULL,
          type text COLLATE "C" NOT NULL,
          handle text COLLATE "C" NOT NULL,
          status text NOT NULL,
          release text,
          last_operation_id text NOT NULL,
          last_operation_type text NOT NULL,
          last_operation_at text NOT NULL,
          PRIMARY KEY (environment, type, handle)
        );

        CREATE TABLE ${s}.environments (
          environment text COLLATE "C" PRIMARY KEY,
          status text NOT NULL,
          first_operation_at text NOT NULL,
          deprovisioned_at text,
          purged_through text
        );

        CREATE TABLE ${s}.projection_checkpoints (
          projection text COLLATE "C" PRIMARY KEY,
          position bigint NOT NULL CHECK (position >= 0)
        );
      `,
    },
    {
      version: 2,
      name: 'skipped events',
      sql: `
        CREATE TABLE ${s}.projection_skipped_events (
          projection text COLLATE "C" NOT NULL,
          position bigint NOT NULL,
          stream text NOT NULL,
          revision text NOT NULL,
          code text NOT NULL,
          problem text NOT NULL,
          user_name text NOT NULL,
          at text NOT NULL,
          reason text NOT NULL,
          PRIMARY KEY (projection, position)
        );
      `,
    },
    {
      version: 3,
      name: 'documents of user-defined projections, and their versions',
      // json, not jsonb: the text is kept as written, so that a document reads back with its
      // keys in the order the in-memory and SQLite stores give them.
      sql: `
        CREATE TABLE ${s}.projection_documents (
          collection text COLLATE "C" NOT NULL,
          key text COLLATE "C" NOT NULL,
          document json NOT NULL,
          PRIMARY KEY (collection, key)
        );
        CREATE TABLE ${s}.projection_versions (
          projection text COLLATE "C" PRIMARY KEY,
          version integer NOT NULL
        );
      `,
    },
  ];
};
