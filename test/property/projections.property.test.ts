import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACTIVITY_REPORT_COLUMNS,
  createProjector,
  neutraliseFormula,
  OPERATIONS_PROJECTION,
} from '../../src/projections/index.js';
import { createEventDecoder, foldOperation, type OperationState } from '../../src/domain/index.js';
import {
  createInMemoryReadStore,
  type EventStore,
  type OperationEvent,
  type ReadStore,
} from '../../src/index.js';
import { toActivityReportRow } from '../../src/projections/activity-report.js';
import { projectOperationEvent } from '../../src/projections/project-operation-event.js';
import { request } from '../support/fixtures.js';
import { commandArb, ENVS, runCommands, type Command } from '../support/projection-commands.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

const RUNS = { numRuns: 150 };
const decode = createEventDecoder();

/** Runs a history of commands through a real engine; returns the setup it ran on. */
const runHistory = async (commands: readonly Command[], batchSize: number) => {
  const s = projectionSetup();
  const projector = createProjector({ store: s.store, readStore: s.readStore, batchSize });
  await projector.start();
  await runCommands(s, commands);
  await projector.waitFor(await s.store.headPosition());
  await projector.stop();
  return s;
};

const dump = (readStore: ReadStore) => dumpReadStore(readStore, ENVS);

/** Report rows computed straight from the events, without the projections. */
const oracleRows = async (store: EventStore, env: string, from: string, to: string) => {
  const all = await store.readAll();
  const events = new Map<string, { position: bigint; event: OperationEvent }[]>();
  let purgedThrough = -1n;
  for (const r of all) {
    if (!r.streamName.startsWith('operation-')) continue;
    const event = decode(r) as OperationEvent;
    const list = events.get(r.streamName) ?? [];
    list.push({ position: r.globalPosition, event });
    events.set(r.streamName, list);
  }
  const states: { state: OperationState; requestedAt: bigint; succeededAt?: bigint }[] = [];
  for (const list of events.values()) {
    const state = foldOperation(list.map((l) => l.event));
    const succeeded = list.find((l) => l.event.type === 'OperationSucceeded');
    states.push({
      state,
      requestedAt: list[0]!.position,
      ...(succeeded ? { succeededAt: succeeded.position } : {}),
    });
    if (
      state.environment === env &&
      state.resource.type === 'environment' &&
      state.effects?.lifecycle === 'deprovision' &&
      succeeded &&
      succeeded.position > purgedThrough
    ) {
      purgedThrough = succeeded.position;
    }
  }
  const alive = states.filter((s) => s.state.environment === env && s.requestedAt > purgedThrough);
  if (alive.length === 0) return undefined; // the environment does not exist now
  const deleted = (type: string, handle: string) => {
    const last = alive
      .filter(
        (s) =>
          s.state.resource.type === type &&
          s.state.resource.handle === handle &&
          s.state.effects?.lifecycle,
      )
      .sort((a, b) => (a.succeededAt! < b.succeededAt! ? -1 : 1))
      .at(-1);
    return last?.state.effects?.lifecycle === 'deprovision';
  };
  return alive
    .filter((s) => s.state.createdAt >= from && s.state.createdAt < to)
    .sort((a, b) =>
      a.state.createdAt === b.state.createdAt
        ? a.state.id < b.state.id
          ? -1
          : 1
        : a.state.createdAt < b.state.createdAt
          ? -1
          : 1,
    )
    .map((s) => {
      const { state } = s;
      const isDeleted = deleted(state.resource.type, state.resource.handle);
      return toActivityReportRow(
        {
          id: state.id,
          environment: state.environment,
          resourceType: state.resource.type,
          resourceHandle: state.resource.handle,
          type: state.type,
          status: state.status,
          createdAt: state.createdAt,
          lastRevision: 0,
          state,
        },
        { status: isDeleted ? 'deprovisioned' : 'provisioned' } as never,
      );
    });
};

describe('projection properties (fast-check)', () => {
  it('a rebuild from scratch equals the incremental read model, for any history and batch size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 14 }),
        fc.integer({ min: 1, max: 7 }),
        async (commands, batchSize) => {
          const s = await runHistory(commands, batchSize);
          const rebuilt = createInMemoryReadStore();
          await createProjector({ store: s.store, readStore: rebuilt, batchSize: 1000 }).catchUp();
          expect(await dump(rebuilt)).toEqual(await dump(s.readStore));
          // And a rebuild in place gives the same again.
          const again = createProjector({ store: s.store, readStore: s.readStore });
          await again.rebuild();
          expect(await dump(s.readStore)).toEqual(await dump(rebuilt));
        },
      ),
      RUNS,
    );
  });

  it('redelivering any events changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (commands, picks) => {
          const s = await runHistory(commands, 3);
          const before = await dump(s.readStore);
          const all = await s.store.readAll();
          if (all.length === 0) return;
          const again = picks.map((p) => all[p % all.length]!);
          const checkpoint = await s.readStore.checkpoint(OPERATIONS_PROJECTION);
          await s.readStore.transaction(OPERATIONS_PROJECTION, checkpoint, async (tx) => {
            for (const e of again) await projectOperationEvent(tx, e, decode);
          });
          expect(await dump(s.readStore)).toEqual(before);
        },
      ),
      RUNS,
    );
  });

  it('report rows equal an oracle computed from the events, for any window, with deleted resources and environments', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 14 }),
        fc.integer({ min: -2 * 86_400_000, max: 40 * 86_400_000 }),
        fc.integer({ min: 1, max: 30 * 86_400_000 }),
        fc.constantFrom(...ENVS),
        async (commands, offset, length, env) => {
          const s = await runHistory(commands, 4);
          const start = new Date('2026-03-02T09:00:00.000Z').getTime() + offset;
          const from = new Date(start).toISOString();
          const to = new Date(start + length).toISOString();
          const expected = await oracleRows(s.store, env, from, to);
          if (expected === undefined) {
            await expect(s.reads.activityReportCsv(env, { from, to })).rejects.toMatchObject({
              code: 'ENVIRONMENT_NOT_FOUND',
            });
            return;
          }
          const rows = [];
          for await (const row of s.reads.activityReportRows(env, { from, to })) rows.push(row);
          expect(rows).toEqual(expected);
        },
      ),
      RUNS,
    );
  });

  it('CSV parsed back with csv-parse equals the rows, whatever the strings', async () => {
    const tricky = fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1 }),
      fc
        .tuple(
          fc.constantFrom('=', '+', '-', '@', '\t', '\r', '"', ',', '\n', '\r\n', "'", ' '),
          fc.string({ unit: 'grapheme' }),
        )
        .map(([a, b]) => a + b),
      fc.constantFrom(
        'a,b',
        'say "hi"',
        'line1\nline2',
        '=1+2',
        '@SUM(A1)',
        '-3',
        '+4',
        '日本語 עברית 🚀',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(tricky, tricky), { minLength: 1, maxLength: 4 }),
        async (cases) => {
          const s = projectionSetup();
          await s.projector.start();
          for (const [user, reason] of cases) {
            await s.run(request({ user, params: { image: 'v1', fail: reason } }));
          }
          await s.settle();
          await s.projector.stop();
          const rows = [];
          for await (const row of s.reads.activityReportRows('production', { week: '2026-W10' }))
            rows.push(row);
          let csv = '';
          for await (const chunk of await s.reads.activityReportCsv('production', {
            week: '2026-W10',
          }))
            csv += chunk;
          const parsed = parse(csv, { columns: true, relax_column_count: false }) as Record<
            string,
            string
          >[];
          expect(Object.keys(parsed[0]!)).toEqual([...ACTIVITY_REPORT_COLUMNS]);
          expect(parsed).toEqual(
            rows.map((r) =>
              Object.fromEntries(ACTIVITY_REPORT_COLUMNS.map((c) => [c, neutraliseFormula(r[c])])),
            ),
          );
          expect(parsed.map((p) => p.user)).toEqual(cases.map(([u]) => neutraliseFormula(u)));
        },
      ),
      RUNS,
    );
  });
});
