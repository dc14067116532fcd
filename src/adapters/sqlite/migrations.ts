import { asConnection, openDatabase, type Connection } from './driver.js';
import { ReadOnlySchemaError, SchemaVersionError } from './errors.js';
import type { SqliteDatabase, Synchronous } from './public-types.js';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const SCHEMA_VERSION_TABLE = 'opledger_schema_version';

const hasVersionTable = (db: Connection) =>
  db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    .pluck()
    .get(SCHEMA_VERSION_TABLE) !== undefined;

const currentVersion = (db: Connection, component: string): number =>
  hasVersionTable(db)
    ? ((db
        .prepare(`SELECT MAX(version) FROM ${SCHEMA_VERSION_TABLE} WHERE component = ?`)
        .pluck()
        .get(component) as number | null) ?? 0)
    : 0;

/** The version this code knows and the one found; a schema newer than the code is refused. */
const versions = (db: Connection, component: string, migrations: readonly Migration[]) => {
  const latest = migrations.at(-1)?.version ?? 0;
  const found = currentVersion(db, component);
  if (found > latest) throw new SchemaVersionError(component, found, latest);
  return { latest, found };
};

/** On a connection that may not write: the schema must already be the one this code knows. */
export const checkSchema = (
  db: Connection,
  component: string,
  migrations: readonly Migration[],
): void => {
  const { latest, found } = versions(db, component, migrations);
  if (found < latest) throw new ReadOnlySchemaError(component, found, latest);
};

/**
 * Brings `component`'s tables up to the last migration. Each component (event store, read
 * store) keeps its own version, so both can live in one file and evolve separately.
 */
export const migrate = (
  db: Connection,
  component: string,
  migrations: readonly Migration[],
): void => {
  // A plain read first: an up-to-date file (the usual case) is opened without the write lock.
  const { latest, found } = versions(db, component, migrations);
  if (found === latest) return;
  // IMMEDIATE: two processes opening a new file at once must not both create the schema.
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      description TEXT NOT NULL,
      applied_at TEXT NOT NULL,
      PRIMARY KEY (component, version)
    )`);
    const applied = currentVersion(db, component);
    if (applied > latest) throw new SchemaVersionError(component, applied, latest);
    const record = db.prepare(
      `INSERT INTO ${SCHEMA_VERSION_TABLE} (component, version, description, applied_at) VALUES (?, ?, ?, ?)`,
    );
    for (const migration of migrations) {
      if (migration.version <= applied) continue;
      db.exec(migration.sql);
      record.run(component, migration.version, migration.description, new Date().toISOString());
    }
  }).immediate();
};

/**
 * A store's connection: the `database` given, or the file at `path` opened (then `owned`: the
 * store closes it). Its `component`'s schema is brought up to date, or with `readonly` only
 * checked; a file opened here is closed again when that fails.
 */
export const openStoreConnection = (
  options: {
    path?: string | undefined;
    database?: SqliteDatabase | undefined;
    synchronous?: Synchronous | undefined;
    readonly?: boolean | undefined;
  },
  store: {
    component: string;
    migrations: readonly Migration[];
    busyTimeoutMs: number;
    /** The `synchronous` pragma when the options give none. */
    synchronous: Synchronous;
  },
): { db: Connection; owned: boolean } => {
  const owned = options.database === undefined;
  const db =
    (options.database && asConnection(options.database)) ??
    openDatabase(options.path as string, {
      busyTimeoutMs: store.busyTimeoutMs,
      synchronous: options.synchronous ?? store.synchronous,
      readonly: options.readonly ?? false,
    });
  try {
    if (options.readonly) checkSchema(db, store.component, store.migrations);
    else migrate(db, store.component, store.migrations);
  } catch (error) {
    if (owned) db.close();
    throw error;
  }
  return { db, owned };
};
