import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreMigrations } from '../../src/adapters/postgres/event-store-schema.js';
import { runMigrations } from '../../src/adapters/postgres/migrations.js';
import { useTestDatabase } from '../support/postgres-database.js';

// Event-store migration 3 rewrote append_events for speed (fewer statements per call). These
// tests hold it to the function it replaced: the same answer and the same rows for any
// sequence of calls, and a schema an older opledger made gets the new body.

const database = useTestDatabase();
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  pool.on('error', () => undefined);
});
afterAll(() => pool.end());

type Kind = 'any' | 'no_stream' | 'stream_exists' | 'revision';
interface Call {
  stream: string;
  kind: Kind;
  revision: number | null;
  events: Array<{ type: string; version: number; data: unknown; metadata?: unknown }>;
}

const call: fc.Arbitrary<Call> = fc.record({
  stream: fc.constantFrom('a', 'b', 'c'),
  kind: fc.constantFrom<Kind>('any', 'no_stream', 'stream_exists', 'revision'),
  revision: fc.option(fc.integer({ min: -1, max: 4 }), { nil: null }),
  events: fc.array(
    fc.record(
      {
        type: fc.constantFrom('A', 'B'),
        version: fc.integer({ min: 0, max: 3 }),
        data: fc.oneof(fc.constant(null), fc.jsonValue({ maxDepth: 2 })),
        metadata: fc.dictionary(fc.string({ maxLength: 3 }), fc.integer()),
      },
      { requiredKeys: ['type', 'version', 'data'] },
    ),
    { maxLength: 3 },
  ),
});

/** What append_events answers, recorded_at reduced to whether it is set. */
const callOn = async (schema: string, c: Call): Promise<unknown> => {
  const answer = pool.query<Record<string, unknown>>(
    `SELECT out_appended::text AS appended, out_revision::text AS revision,
            out_position::text AS position, out_recorded_at IS NOT NULL AS stamped
       FROM "${schema}".append_events($1, $2, $3, $4::jsonb)`,
    [c.stream, c.kind, c.revision, JSON.stringify(c.events)],
  );
  return answer.then(
    ({ rows }) => rows,
    (error: { code?: string }) => ({ error: error.code }),
  );
};

const tableOf = async (schema: string) =>
  (
    await pool.query(
      `SELECT global_position::text, stream_name, stream_revision::text, type, version,
              data::text, metadata::text
         FROM "${schema}".events ORDER BY global_position`,
    )
  ).rows;

const migrated = async (name: string, upTo: number) => {
  const schema = database.uniqueSchema(name);
  await runMigrations(
    pool,
    schema,
    'event-store',
    eventStoreMigrations(schema).filter((m) => m.version <= upTo),
  );
  return schema;
};

describe('append_events after migration 3', () => {
  it('answers and writes exactly as the function of migration 1, for any sequence of calls', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 12 }), async (calls) => {
        const before = await migrated('fn_old', 1);
        const after = await migrated('fn_new', 3);
        for (const c of calls) {
          expect(await callOn(after, c)).toEqual(await callOn(before, c));
        }
        expect(await tableOf(after)).toEqual(await tableOf(before));
      }),
      { numRuns: 40 },
    );
  });

  it('replaces the function of a schema an older opledger made, which keeps its events', async () => {
    const schema = await migrated('fn_upgrade', 2);
    const old = { stream: 'old', kind: 'no_stream' as const, revision: null };
    await callOn(schema, { ...old, events: [{ type: 'Old', version: 1, data: {} }] });
    const body = async () =>
      (
        await pool.query<{ src: string }>(
          `SELECT prosrc AS src FROM pg_proc
            WHERE proname = 'append_events' AND pronamespace = $1::regnamespace`,
          [`"${schema}"`],
        )
      ).rows.map((r) => r.src);
    expect((await body()).join()).not.toContain('INTO v_current, v_head');

    await runMigrations(pool, schema, 'event-store', eventStoreMigrations(schema));
    // One function of that name (replaced, not overloaded), now with the one-statement read.
    const bodies = await body();
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toContain('INTO v_current, v_head');
    expect(
      await callOn(schema, {
        stream: 'old',
        kind: 'revision',
        revision: 0,
        events: [{ type: 'New', version: 1, data: {} }],
      }),
    ).toEqual([{ appended: 'true', revision: '1', position: '2', stamped: true }]);
    expect((await tableOf(schema)).map((r) => (r as { type: string }).type)).toEqual([
      'Old',
      'New',
    ]);
  });
});
