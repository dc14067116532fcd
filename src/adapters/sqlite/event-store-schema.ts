import type { Migration } from './migrations.js';

export const EVENT_STORE_COMPONENT = 'event-store';

export const eventStoreMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'events table',
    // AUTOINCREMENT: a position is never reused, even after the last events are deleted.
    sql: `CREATE TABLE opledger_events (
      position INTEGER PRIMARY KEY AUTOINCREMENT,
      stream TEXT NOT NULL,
      revision INTEGER NOT NULL CHECK (revision >= 0),
      type TEXT NOT NULL,
      version INTEGER NOT NULL,
      data TEXT NOT NULL,
      metadata TEXT,
      recorded_at TEXT NOT NULL,
      UNIQUE (stream, revision)
    )`,
  },
];
