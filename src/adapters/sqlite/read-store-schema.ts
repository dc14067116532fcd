import type { Migration } from './migrations.js';

export const READ_STORE_COMPONENT = 'read-store';

export const readStoreMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'operations, log lines, resources, environments, checkpoints',
    // Summary columns are what the queries filter and sort on; `state` is the folded
    // OperationState the next event is applied to.
    sql: `
      CREATE TABLE opledger_operations (
        id TEXT PRIMARY KEY,
        environment TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_handle TEXT NOT NULL,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_revision INTEGER NOT NULL,
        state TEXT NOT NULL
      );
      CREATE INDEX opledger_operations_by_created
        ON opledger_operations (environment, created_at, id);
      CREATE INDEX opledger_operations_by_resource
        ON opledger_operations (environment, resource_type, resource_handle, created_at, id);
      CREATE TABLE opledger_log_lines (
        operation_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        at TEXT NOT NULL,
        level TEXT NOT NULL,
        step TEXT,
        message TEXT NOT NULL,
        PRIMARY KEY (operation_id, revision)
      ) WITHOUT ROWID;
      CREATE TABLE opledger_resources (
        environment TEXT NOT NULL,
        type TEXT NOT NULL,
        handle TEXT NOT NULL,
        status TEXT NOT NULL,
        release TEXT,
        last_operation_id TEXT NOT NULL,
        last_operation_type TEXT NOT NULL,
        last_operation_at TEXT NOT NULL,
        PRIMARY KEY (environment, type, handle)
      ) WITHOUT ROWID;
      CREATE TABLE opledger_environments (
        environment TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        first_operation_at TEXT NOT NULL,
        deprovisioned_at TEXT,
        purged_through TEXT
      ) WITHOUT ROWID;
      CREATE TABLE opledger_checkpoints (
        projection TEXT PRIMARY KEY,
        position INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: 'skipped events',
    // Position as INTEGER for the order; who, when and why an operator skipped an event.
    sql: `
      CREATE TABLE opledger_skipped_events (
        projection TEXT NOT NULL,
        position INTEGER NOT NULL,
        stream TEXT NOT NULL,
        revision TEXT NOT NULL,
        code TEXT NOT NULL,
        problem TEXT NOT NULL,
        user TEXT NOT NULL,
        at TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (projection, position)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    description: 'documents of user-defined projections, and their versions',
    // JSON text, keyed by collection and key; BINARY collation orders keys as UTF-8 bytes.
    sql: `
      CREATE TABLE opledger_documents (
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (collection, key)
      ) WITHOUT ROWID;
      CREATE TABLE opledger_projection_versions (
        projection TEXT PRIMARY KEY,
        version INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
];
