import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInMemoryReadStore } from '../../src/adapters/memory/index.js';
import type { LogLine } from '../../src/domain/log-lines.js';
import { initialState, type OperationState } from '../../src/domain/operation.js';
import type {
  EnvironmentRecord,
  OperationQuery,
  OperationRecord,
  ReadModelTransaction,
  ReadStore,
  ResourceRecord,
  SkippedEvent,
} from '../../src/projections/read-store.js';

/**
 * The contract every read store (memory, SQLite, PostgreSQL) must pass. The in-memory store is
 * the reference: the property at the end checks that the tested store answers every query as
 * it does.
 *
 * `factory` must return an EMPTY read store not shared with any other test. After each test
 * the suite closes it, then calls `teardown`, if any.
 *
 * Strings that queries compare or sort on are ASCII here: stores that compare UTF-8 bytes
 * (SQLite, PostgreSQL with the C collation) and JavaScript's UTF-16 comparison agree on it.
 */
export type ReadStoreFactory = () => Promise<{
  readStore: ReadStore;
  teardown?: () => Promise<void>;
}>;

type Status = OperationRecord['status'];

const T = (n: number) => new Date(Date.UTC(2026, 2, 2, 9, n)).toISOString();

const operation = (
  o: Partial<Omit<OperationRecord, 'state'>> & { id: string; note?: string },
): OperationRecord => {
  const environment = o.environment ?? 'production';
  const resourceType = o.resourceType ?? 'app';
  const resourceHandle = o.resourceHandle ?? 'web';
  const type = o.type ?? 'deploy';
  const status: Status = o.status ?? 'succeeded';
  const createdAt = o.createdAt ?? T(0);
  const state: OperationState = {
    ...initialState(),
    id: o.id,
    type,
    environment,
    resource: { type: resourceType, handle: resourceHandle },
    user: 'ada@example.com',
    params: { note: o.note ?? '' },
    status,
    createdAt,
  };
  return {
    id: o.id,
    environment,
    resourceType,
    resourceHandle,
    type,
    status,
    createdAt,
    lastRevision: o.lastRevision ?? 0,
    state,
  };
};

const line = (operationId: string, revision: number, message = `line ${revision}`): LogLine => ({
  operationId,
  revision,
  at: T(revision),
  level: 'info',
  message,
});

const resource = (r: Partial<ResourceRecord> & { handle: string }): ResourceRecord => ({
  environment: 'production',
  type: 'app',
  status: 'provisioned',
  lastOperationId: 'op-1',
  lastOperationType: 'deploy',
  lastOperationAt: T(0),
  ...r,
});

const environment = (name: string, extra: Partial<EnvironmentRecord> = {}): EnvironmentRecord => ({
  environment: name,
  status: 'active',
  firstOperationAt: T(0),
  ...extra,
});

const ids = (records: readonly OperationRecord[]) => records.map((r) => r.id);

const collect = async <X>(items: AsyncIterable<X>): Promise<X[]> => {
  const out: X[] = [];
  for await (const item of items) out.push(item);
  return out;
};

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Writes in one transaction of the 'operations' projection. */
const write = (
  store: ReadStore,
  position: bigint,
  apply: (tx: ReadModelTransaction) => Promise<void>,
  projection = 'operations',
) => store.transaction(projection, position, apply);

const putAll = (
  store: ReadStore,
  position: bigint,
  rows: {
    operations?: OperationRecord[];
    lines?: LogLine[];
    resources?: ResourceRecord[];
    environments?: EnvironmentRecord[];
  },
) =>
  write(store, position, async (tx) => {
    for (const r of rows.environments ?? []) await tx.putEnvironment(r);
    for (const r of rows.operations ?? []) await tx.putOperation(r);
    for (const l of rows.lines ?? []) await tx.putLogLine(l);
    for (const r of rows.resources ?? []) await tx.putResource(r);
  });

const ENVIRONMENTS = ['production', 'staging'] as const;
const OPERATION_IDS = ['op-01', 'op-02', 'op-03', 'op-04', 'op-05', 'op-06', 'op-07'] as const;
const PROJECTIONS = ['operations', 'other'] as const;
const RESOURCE_TYPES = ['app', 'database'] as const;
const HANDLES = ['web', 'api', 'db'] as const;
const STATUSES: readonly Status[] = ['queued', 'running', 'succeeded', 'failed'];
// Few distinct instants, so that ties on createdAt (broken by id) are common.
const TIMES = [T(0), T(1), T(2), T(3), T(4)];

/** Every answer a read store gives about the universe of keys the property writes to. */
const dump = async (store: ReadStore) => {
  const queries = (env: string): OperationQuery[] => [
    { environment: env, limit: 100, offset: 0 },
    { environment: env, status: ['running', 'failed'], limit: 2, offset: 1 },
    { environment: env, status: 'succeeded', limit: 100, offset: 0 },
    { environment: env, resource: { type: 'app', handle: 'web' }, limit: 100, offset: 0 },
    { environment: env, type: 'deploy', from: T(1), to: T(3), limit: 100, offset: 0 },
    { environment: env, limit: 3, offset: 2 },
  ];
  const out: Record<string, unknown> = {};
  for (const p of PROJECTIONS) out[`checkpoint ${p}`] = await store.checkpoint(p);
  for (const id of OPERATION_IDS) {
    out[`operation ${id}`] = await store.operation(id);
    out[`lines ${id}`] = await store.logLines(id);
  }
  out.environments = await store.environments();
  for (const env of ENVIRONMENTS) {
    out[`environment ${env}`] = await store.environment(env);
    out[`resources ${env}`] = await store.resources(env);
    for (const t of RESOURCE_TYPES) {
      for (const h of HANDLES) out[`resource ${env} ${t} ${h}`] = await store.resource(env, t, h);
    }
    out[`dates ${env}`] = (await store.operationDates(env)).sort();
    for (const [i, q] of queries(env).entries()) {
      out[`list ${env} ${i}`] = await store.listOperations(q);
    }
    out[`between ${env} all`] = await collect(store.operationsCreatedBetween(env, T(0), T(5)));
    out[`between ${env} some`] = await collect(store.operationsCreatedBetween(env, T(1), T(3)));
  }
  return out;
};

type Write =
  | { kind: 'operation'; record: OperationRecord }
  | { kind: 'line'; line: LogLine }
  | { kind: 'resource'; record: ResourceRecord }
  | { kind: 'environment'; record: EnvironmentRecord }
  | { kind: 'purge'; environment: string }
  | { kind: 'getOperation'; id: string }
  | { kind: 'getResource'; environment: string; type: string; handle: string }
  | { kind: 'getEnvironment'; environment: string };

type Step =
  | {
      kind: 'transaction';
      projection: string;
      position: bigint;
      writes: Write[];
      fail: boolean;
    }
  | { kind: 'reset'; projection: string };

const operationArb = fc
  .record({
    id: fc.constantFrom(...OPERATION_IDS),
    environment: fc.constantFrom(...ENVIRONMENTS),
    resourceType: fc.constantFrom(...RESOURCE_TYPES),
    resourceHandle: fc.constantFrom(...HANDLES),
    type: fc.constantFrom('deploy', 'restart'),
    status: fc.constantFrom(...STATUSES),
    createdAt: fc.constantFrom(...TIMES),
    lastRevision: fc.nat(20),
    note: fc.string({ maxLength: 8 }),
  })
  .map(operation);

const lineArb = fc
  .record({
    operationId: fc.constantFrom(...OPERATION_IDS),
    revision: fc.nat(5),
    at: fc.constantFrom(...TIMES),
    level: fc.constantFrom<LogLine['level']>('info', 'warn', 'error'),
    step: fc.option(fc.constantFrom('build', 'release'), { nil: undefined }),
    message: fc.string({ maxLength: 12 }),
  })
  .map(({ step, ...rest }): LogLine => (step === undefined ? rest : { ...rest, step }));

const resourceArb = fc
  .record({
    environment: fc.constantFrom(...ENVIRONMENTS),
    type: fc.constantFrom(...RESOURCE_TYPES),
    handle: fc.constantFrom(...HANDLES),
    status: fc.constantFrom<ResourceRecord['status']>('provisioned', 'deprovisioned'),
    release: fc.option(fc.constantFrom('v1', 'v2'), { nil: undefined }),
    lastOperationId: fc.constantFrom(...OPERATION_IDS),
    lastOperationAt: fc.constantFrom(...TIMES),
  })
  .map(({ release, ...rest }): ResourceRecord => ({
    ...rest,
    lastOperationType: 'deploy',
    ...(release === undefined ? {} : { release }),
  }));

const environmentArb = fc
  .record({
    environment: fc.constantFrom(...ENVIRONMENTS),
    status: fc.constantFrom<EnvironmentRecord['status']>('active', 'deprovisioned'),
    firstOperationAt: fc.constantFrom(...TIMES),
    deprovisionedAt: fc.option(fc.constantFrom(...TIMES), { nil: undefined }),
    purgedThrough: fc.option(fc.bigInt({ min: 1n, max: 1000n }).map(String), { nil: undefined }),
  })
  .map(({ deprovisionedAt, purgedThrough, ...rest }): EnvironmentRecord => ({
    ...rest,
    ...(deprovisionedAt === undefined ? {} : { deprovisionedAt }),
    ...(purgedThrough === undefined ? {} : { purgedThrough }),
  }));

const writeArb: fc.Arbitrary<Write> = fc.oneof(
  { weight: 5, arbitrary: operationArb.map((record) => ({ kind: 'operation' as const, record })) },
  { weight: 4, arbitrary: lineArb.map((l) => ({ kind: 'line' as const, line: l })) },
  { weight: 3, arbitrary: resourceArb.map((record) => ({ kind: 'resource' as const, record })) },
  {
    weight: 2,
    arbitrary: environmentArb.map((record) => ({ kind: 'environment' as const, record })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...ENVIRONMENTS).map((e) => ({
      kind: 'purge' as const,
      environment: e,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...OPERATION_IDS).map((id) => ({
      kind: 'getOperation' as const,
      id,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...ENVIRONMENTS),
        fc.constantFrom(...RESOURCE_TYPES),
        fc.constantFrom(...HANDLES),
      )
      .map(([e, t, h]) => ({ kind: 'getResource' as const, environment: e, type: t, handle: h })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...ENVIRONMENTS).map((e) => ({
      kind: 'getEnvironment' as const,
      environment: e,
    })),
  },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('transaction' as const),
      projection: fc.constantFrom(...PROJECTIONS),
      position: fc.bigInt({ min: 0n, max: 2n ** 62n }),
      writes: fc.array(writeArb, { maxLength: 10 }),
      fail: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reset' as const),
      projection: fc.constantFrom(...PROJECTIONS),
    }),
  },
);

/** Runs the steps on a store; returns what the transactions read, and how each step ended. */
const runSteps = async (store: ReadStore, steps: readonly Step[]) => {
  const seen: unknown[] = [];
  for (const s of steps) {
    if (s.kind === 'reset') {
      await store.reset(s.projection);
      seen.push('reset');
      continue;
    }
    const outcome = await store
      .transaction(s.projection, s.position, async (tx) => {
        for (const w of s.writes) {
          switch (w.kind) {
            case 'operation':
              await tx.putOperation(w.record);
              break;
            case 'line':
              await tx.putLogLine(w.line);
              break;
            case 'resource':
              await tx.putResource(w.record);
              break;
            case 'environment':
              await tx.putEnvironment(w.record);
              break;
            case 'purge':
              await tx.purgeEnvironment(w.environment);
              break;
            case 'getOperation':
              seen.push(await tx.getOperation(w.id));
              break;
            case 'getResource':
              seen.push(await tx.getResource(w.environment, w.type, w.handle));
              break;
            case 'getEnvironment':
              seen.push(await tx.getEnvironment(w.environment));
              break;
          }
        }
        if (s.fail) throw new Error('apply failed');
      })
      .then(
        () => 'committed',
        (e: unknown) => (e instanceof Error ? e.message : 'not an Error'),
      );
    seen.push(outcome);
  }
  return seen;
};

export const describeReadStoreContract = (name: string, factory: ReadStoreFactory): void => {
  describe(`read store contract: ${name}`, () => {
    let store: ReadStore;
    let teardown: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ readStore: store, teardown } = await factory());
    });

    afterEach(async () => {
      try {
        await store.close();
      } finally {
        await teardown?.();
      }
    });

    describe('transaction', () => {
      it('writes rows and moves the checkpoint together', async () => {
        expect(await store.checkpoint('operations')).toBe(0n);
        const op = operation({ id: 'op-1', note: 'déploiement 🚀' });
        await putAll(store, 7n, {
          environments: [environment('production')],
          operations: [op],
          lines: [line('op-1', 0)],
          resources: [resource({ handle: 'web' })],
        });
        expect(await store.checkpoint('operations')).toBe(7n);
        expect(await store.operation('op-1')).toEqual(op);
        expect(await store.logLines('op-1')).toEqual([line('op-1', 0)]);
        expect(await store.resources('production')).toEqual([resource({ handle: 'web' })]);
        expect(await store.environment('production')).toEqual(environment('production'));
      });

      it('leaves no rows and no checkpoint when apply throws, and rethrows its error', async () => {
        const boom = new Error('projection failed');
        await expect(
          write(store, 5n, async (tx) => {
            await tx.putEnvironment(environment('production'));
            await tx.putOperation(operation({ id: 'op-1' }));
            await tx.putLogLine(line('op-1', 0));
            await tx.putResource(resource({ handle: 'web' }));
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.checkpoint('operations')).toBe(0n);
        expect(await store.operation('op-1')).toBeUndefined();
        expect(await store.logLines('op-1')).toEqual([]);
        expect(await store.resources('production')).toEqual([]);
        expect(await store.environment('production')).toBeUndefined();
        expect(
          await store.listOperations({ environment: 'production', limit: 10, offset: 0 }),
        ).toEqual({ items: [], total: 0 });
      });

      it('restores overwritten and purged rows when apply throws', async () => {
        const before = {
          environments: [environment('production'), environment('staging')],
          operations: [
            operation({ id: 'op-1', status: 'running' }),
            operation({ id: 'op-2', environment: 'staging' }),
          ],
          lines: [line('op-1', 0), line('op-2', 0)],
          resources: [
            resource({ handle: 'web' }),
            resource({ environment: 'staging', handle: 'db' }),
          ],
        };
        await putAll(store, 3n, before);
        const snapshot = await dump(store);
        await expect(
          write(store, 9n, async (tx) => {
            await tx.putOperation(operation({ id: 'op-1', status: 'succeeded', lastRevision: 4 }));
            await tx.putOperation(operation({ id: 'op-3' }));
            await tx.putLogLine(line('op-1', 0, 'rewritten'));
            await tx.putLogLine(line('op-1', 1));
            await tx.putResource(resource({ handle: 'web', release: 'v9' }));
            await tx.putEnvironment(environment('production', { status: 'deprovisioned' }));
            await tx.purgeEnvironment('staging');
            throw new Error('late failure');
          }),
        ).rejects.toThrow('late failure');
        expect(await dump(store)).toEqual(snapshot);
        expect(await store.checkpoint('operations')).toBe(3n);
        expect(await store.operation('op-2')).toEqual(before.operations[1]);
      });

      it('reads its own writes before they are committed', async () => {
        await putAll(store, 1n, {
          operations: [operation({ id: 'op-1', environment: 'staging' })],
        });
        await write(store, 2n, async (tx) => {
          const op = operation({ id: 'op-2', status: 'running' });
          await tx.putOperation(op);
          expect(await tx.getOperation('op-2')).toEqual(op);
          await tx.putResource(resource({ handle: 'api', release: 'v2' }));
          expect(await tx.getResource('production', 'app', 'api')).toEqual(
            resource({ handle: 'api', release: 'v2' }),
          );
          await tx.putEnvironment(environment('production', { purgedThrough: '12' }));
          expect(await tx.getEnvironment('production')).toEqual(
            environment('production', { purgedThrough: '12' }),
          );
          expect(await tx.getOperation('op-1')).toMatchObject({ id: 'op-1' });
          await tx.purgeEnvironment('staging');
          expect(await tx.getOperation('op-1')).toBeUndefined();
          expect(await tx.getOperation('missing')).toBeUndefined();
        });
        expect(await store.operation('op-1')).toBeUndefined();
        expect(await store.operation('op-2')).toMatchObject({ status: 'running' });
      });

      it('keeps one checkpoint per projection, bigint-exact', async () => {
        const big = 2n ** 53n + 7n;
        await write(store, 5n, async () => undefined, 'a');
        await write(store, big, async () => undefined, 'b');
        expect(await store.checkpoint('a')).toBe(5n);
        expect(await store.checkpoint('b')).toBe(big);
        expect(await store.checkpoint('c')).toBe(0n);
        await write(store, 6n, async () => undefined, 'a');
        expect(await store.checkpoint('a')).toBe(6n);
        expect(await store.checkpoint('b')).toBe(big);
      });

      it('runs concurrent transactions each atomically, and goes on after one fails', async () => {
        const batch = (n: number, fail = false) =>
          write(store, BigInt(n), async (tx) => {
            for (let k = 0; k < 3; k++) {
              await tx.putOperation(operation({ id: `op-${n}-${k}`, createdAt: T(n) }));
              await tick();
            }
            if (fail) throw new Error(`batch ${n} failed`);
          });
        const outcomes = await Promise.allSettled([batch(1), batch(2), batch(3, true), batch(4)]);
        expect(outcomes.map((o) => o.status)).toEqual([
          'fulfilled',
          'fulfilled',
          'rejected',
          'fulfilled',
        ]);
        const { items, total } = await store.listOperations({
          environment: 'production',
          limit: 100,
          offset: 0,
        });
        expect(total).toBe(9);
        expect(ids(items)).toEqual([4, 2, 1].flatMap((n) => [2, 1, 0].map((k) => `op-${n}-${k}`)));
        expect(await store.checkpoint('operations')).toBe(4n);
        await batch(5);
        expect(await store.checkpoint('operations')).toBe(5n);
      });
    });

    describe('log lines', () => {
      it('are idempotent on (operationId, revision) and come back by revision', async () => {
        const withStep: LogLine = { ...line('op-1', 2), step: 'build', level: 'warn' };
        await putAll(store, 1n, { lines: [withStep, line('op-1', 0), line('op-2', 0, 'other')] });
        await putAll(store, 2n, { lines: [line('op-1', 1), line('op-1', 0), withStep] });
        const lines = await store.logLines('op-1');
        expect(lines).toEqual([line('op-1', 0), line('op-1', 1), withStep]);
        expect('step' in (lines[0] as LogLine)).toBe(false);
        expect(await store.logLines('op-2')).toEqual([line('op-2', 0, 'other')]);
        expect(await store.logLines('missing')).toEqual([]);
      });
    });

    describe('purgeEnvironment', () => {
      it("deletes the environment's operations, log lines and resources, and nothing else", async () => {
        const prod = operation({ id: 'op-1' });
        await putAll(store, 1n, {
          environments: [environment('production'), environment('staging')],
          operations: [prod, operation({ id: 'op-2', environment: 'staging' })],
          lines: [line('op-1', 0), line('op-2', 0), line('op-2', 1)],
          resources: [
            resource({ handle: 'web' }),
            resource({ environment: 'staging', handle: 'db' }),
          ],
        });
        await write(store, 2n, async (tx) => {
          await tx.purgeEnvironment('staging');
          await tx.putEnvironment(environment('staging', { status: 'deprovisioned' }));
        });
        expect(await store.operation('op-2')).toBeUndefined();
        expect(await store.logLines('op-2')).toEqual([]);
        expect(await store.resources('staging')).toEqual([]);
        expect(await store.operationDates('staging')).toEqual([]);
        expect(
          await store.listOperations({ environment: 'staging', limit: 10, offset: 0 }),
        ).toEqual({ items: [], total: 0 });
        expect(await store.environment('staging')).toEqual(
          environment('staging', { status: 'deprovisioned' }),
        );
        expect(await store.operation('op-1')).toEqual(prod);
        expect(await store.logLines('op-1')).toEqual([line('op-1', 0)]);
        expect(await store.resources('production')).toEqual([resource({ handle: 'web' })]);
      });
    });

    describe('reset', () => {
      it("forgets every row and the projection's checkpoint, not other checkpoints", async () => {
        await putAll(store, 5n, {
          environments: [environment('production')],
          operations: [operation({ id: 'op-1' })],
          lines: [line('op-1', 0)],
          resources: [resource({ handle: 'web' })],
        });
        await write(store, 7n, async () => undefined, 'other');
        await store.reset('operations');
        expect(await store.checkpoint('operations')).toBe(0n);
        expect(await store.checkpoint('other')).toBe(7n);
        expect(await store.operation('op-1')).toBeUndefined();
        expect(await store.logLines('op-1')).toEqual([]);
        expect(await store.resources('production')).toEqual([]);
        expect(await store.environment('production')).toBeUndefined();
        await putAll(store, 1n, { operations: [operation({ id: 'op-2' })] });
        expect(await store.checkpoint('operations')).toBe(1n);
        expect(await store.operationDates('production')).toEqual([T(0)]);
      });
    });

    describe('skipped events', () => {
      const skip = (position: bigint, reason = 'row damaged by a manual edit'): SkippedEvent => ({
        position: position.toString(),
        stream: 'operation-op-1',
        revision: '3',
        code: 'INVALID_STORED_EVENT',
        problem:
          "Stored event at position 4 cannot be read: its data is not valid JSON (Unexpected token 'é')",
        user: 'ops@example.com',
        at: T(5),
        reason,
      });

      it('are written with the checkpoint, or not at all', async () => {
        const boom = new Error('projection failed');
        await expect(
          write(store, 4n, async (tx) => {
            await tx.putSkippedEvent(skip(4n));
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.skippedEvents('operations')).toEqual([]);
        expect(await store.checkpoint('operations')).toBe(0n);
        await write(store, 4n, (tx) => tx.putSkippedEvent(skip(4n)));
        expect(await store.checkpoint('operations')).toBe(4n);
        expect(await store.skippedEvents('operations')).toEqual([skip(4n)]);
      });

      it('are listed by position, per projection, bigint-exact; one per position', async () => {
        const big = 9_007_199_254_740_993n;
        await write(store, big, async (tx) => {
          await tx.putSkippedEvent(skip(big));
          await tx.putSkippedEvent(skip(10n));
          await tx.putSkippedEvent(skip(9n, 'first reason'));
        });
        await write(store, 11n, (tx) => tx.putSkippedEvent(skip(9n, 'second reason')));
        await write(store, 3n, (tx) => tx.putSkippedEvent(skip(2n)), 'other');
        expect(await store.skippedEvents('operations')).toEqual([
          skip(9n, 'second reason'),
          skip(10n),
          skip(big),
        ]);
        expect(await store.skippedEvents('other')).toEqual([skip(2n)]);
        expect(await store.skippedEvents('none')).toEqual([]);
      });

      it('survive a reset, so that a rebuild skips what the first run skipped', async () => {
        await write(store, 4n, (tx) => tx.putSkippedEvent(skip(4n)));
        await store.reset('operations');
        expect(await store.checkpoint('operations')).toBe(0n);
        expect(await store.skippedEvents('operations')).toEqual([skip(4n)]);
      });
    });

    describe('documents of user-defined projections', () => {
      it('are written with the checkpoint, or not at all, and read back as written', async () => {
        const boom = new Error('handler failed');
        await expect(
          write(
            store,
            3n,
            async (tx) => {
              await tx.putDocument('deploys', 'production/web', '{"deploys":1}');
              throw boom;
            },
            'deploys',
          ),
        ).rejects.toBe(boom);
        expect(await store.document('deploys', 'production/web')).toBeUndefined();
        expect(await store.checkpoint('deploys')).toBe(0n);
        // Key order and text as written (not normalised), unicode kept.
        const json = '{"zeta":1,"alpha":["déploiement 🚀",null,true,1.5]}';
        await write(
          store,
          3n,
          async (tx) => {
            await tx.putDocument('deploys', 'production/web', '{"deploys":1}');
            expect(await tx.getDocument('deploys', 'production/web')).toBe('{"deploys":1}');
            await tx.putDocument('deploys', 'production/web', json);
          },
          'deploys',
        );
        expect(await store.checkpoint('deploys')).toBe(3n);
        expect(JSON.parse((await store.document('deploys', 'production/web'))!)).toEqual(
          JSON.parse(json),
        );
        expect(
          Object.keys(JSON.parse((await store.document('deploys', 'production/web'))!)),
        ).toEqual(['zeta', 'alpha']);
        expect(await store.document('other', 'production/web')).toBeUndefined();
      });

      it('are listed in UTF-8 byte order, page by page, per collection', async () => {
        const keys = ['b', 'a', 'é', 'Z', 'a/b', '🚀', '\uffef', 'aa'];
        await write(
          store,
          1n,
          async (tx) => {
            for (const key of keys) await tx.putDocument('c', key, JSON.stringify(key));
            await tx.putDocument('other', 'x', '1');
          },
          'c',
        );
        const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.documents('c', { limit: 3, ...(after ? { after } : {}) });
          for (const d of page) expect(JSON.parse(d.json)).toBe(d.key);
          seen.push(...page.map((d) => d.key));
          if (page.length < 3) break;
          after = page.at(-1)!.key;
        }
        expect(seen).toEqual(expected);
      });

      it('a projection reset forgets its collections and checkpoint, records its version, touches nothing else', async () => {
        expect(await store.projectionVersion('deploys')).toBeUndefined();
        await putAll(store, 5n, { operations: [operation({ id: 'op-1' })] });
        await write(
          store,
          4n,
          async (tx) => {
            await tx.putDocument('deploys', 'k', '1');
            await tx.putDocument('deploys#operations', 'op-1', '{}');
            await tx.putDocument('kept', 'k', '2');
            await tx.putSkippedEvent({
              position: '2',
              stream: 's',
              revision: '0',
              code: 'INVALID_STORED_EVENT',
              problem: 'p',
              user: 'u',
              at: T(0),
              reason: 'r',
            });
          },
          'deploys',
        );
        await store.resetProjection('deploys', 2, ['deploys', 'deploys#operations']);
        expect(await store.projectionVersion('deploys')).toBe(2);
        expect(await store.checkpoint('deploys')).toBe(0n);
        expect(await store.document('deploys', 'k')).toBeUndefined();
        expect(await store.documents('deploys#operations', { limit: 10 })).toEqual([]);
        expect(await store.document('kept', 'k')).toBe('2');
        expect(await store.skippedEvents('deploys')).toHaveLength(1);
        expect(await store.checkpoint('operations')).toBe(5n);
        expect(await store.operation('op-1')).toBeDefined();
        // And the built-in model's reset leaves documents alone.
        await store.reset('operations');
        expect(await store.document('kept', 'k')).toBe('2');
        expect(await store.projectionVersion('deploys')).toBe(2);
      });
    });

    describe('listOperations', () => {
      const dataset = [
        operation({ id: 'op-1', createdAt: T(1), status: 'succeeded' }),
        operation({ id: 'op-2', createdAt: T(2), status: 'failed', type: 'restart' }),
        operation({ id: 'op-3', createdAt: T(2), status: 'running', resourceHandle: 'api' }),
        operation({ id: 'op-4', createdAt: T(3), status: 'queued' }),
        operation({
          id: 'op-5',
          createdAt: T(4),
          status: 'succeeded',
          resourceType: 'database',
          resourceHandle: 'db',
        }),
        operation({ id: 'op-0', createdAt: T(4), status: 'failed' }),
        operation({ id: 'op-9', createdAt: T(2), environment: 'staging' }),
      ];
      const list = (q: Partial<OperationQuery>) =>
        store.listOperations({ environment: 'production', limit: 100, offset: 0, ...q });

      beforeEach(async () => {
        // Put out of order: the order of the answers must come from the query.
        await putAll(store, 1n, { operations: [...dataset].reverse() });
      });

      it('lists newest first, by createdAt then id, with the total', async () => {
        const { items, total } = await list({});
        expect(ids(items)).toEqual(['op-5', 'op-0', 'op-4', 'op-3', 'op-2', 'op-1']);
        expect(total).toBe(6);
        expect(items[0]).toEqual(dataset[4]);
      });

      it('filters by resource, status, type and [from, to)', async () => {
        expect(ids((await list({ resource: { type: 'app', handle: 'web' } })).items)).toEqual([
          'op-0',
          'op-4',
          'op-2',
          'op-1',
        ]);
        expect(ids((await list({ resource: { type: 'database', handle: 'web' } })).items)).toEqual(
          [],
        );
        expect(ids((await list({ status: 'failed' })).items)).toEqual(['op-0', 'op-2']);
        expect(ids((await list({ status: ['queued', 'running'] })).items)).toEqual([
          'op-4',
          'op-3',
        ]);
        expect(await list({ status: [] })).toEqual({ items: [], total: 0 });
        expect(ids((await list({ type: 'restart' })).items)).toEqual(['op-2']);
        expect(ids((await list({ from: T(2), to: T(4) })).items)).toEqual(['op-4', 'op-3', 'op-2']);
        expect(ids((await list({ from: T(4) })).items)).toEqual(['op-5', 'op-0']);
        expect(ids((await list({ to: T(2) })).items)).toEqual(['op-1']);
        const combined = await list({
          resource: { type: 'app', handle: 'web' },
          status: ['failed', 'succeeded'],
          from: T(2),
        });
        expect(ids(combined.items)).toEqual(['op-0', 'op-2']);
        expect(combined.total).toBe(2);
        expect(await list({ environment: 'nowhere' })).toEqual({ items: [], total: 0 });
      });

      it('pages with limit and offset, the total counting every match', async () => {
        const pages = [];
        for (let offset = 0; offset < 6; offset += 4) {
          const page = await list({ limit: 4, offset });
          expect(page.total).toBe(6);
          pages.push(...ids(page.items));
        }
        expect(pages).toEqual(['op-5', 'op-0', 'op-4', 'op-3', 'op-2', 'op-1']);
        expect(ids((await list({ limit: 2, offset: 1 })).items)).toEqual(['op-0', 'op-4']);
        expect(await list({ limit: 5, offset: 6 })).toEqual({ items: [], total: 6 });
        const filtered = await list({ status: ['failed', 'running'], limit: 1, offset: 1 });
        expect(ids(filtered.items)).toEqual(['op-3']);
        expect(filtered.total).toBe(3);
      });
    });

    describe('operationsCreatedBetween', () => {
      it('yields oldest first, from inclusive, to exclusive, in one environment', async () => {
        await putAll(store, 1n, {
          operations: [
            operation({ id: 'op-b', createdAt: T(2) }),
            operation({ id: 'op-a', createdAt: T(2) }),
            operation({ id: 'op-c', createdAt: T(1) }),
            operation({ id: 'op-d', createdAt: T(3) }),
            operation({ id: 'op-e', createdAt: T(0) }),
            operation({ id: 'op-f', createdAt: T(2), environment: 'staging' }),
          ],
        });
        const between = async (from: string, to: string) =>
          ids(await collect(store.operationsCreatedBetween('production', from, to)));
        expect(await between(T(1), T(3))).toEqual(['op-c', 'op-a', 'op-b']);
        expect(await between(T(0), T(9))).toEqual(['op-e', 'op-c', 'op-a', 'op-b', 'op-d']);
        expect(await between(T(3), T(4))).toEqual(['op-d']);
        expect(await between(T(5), T(9))).toEqual([]);
        const [first] = await collect(store.operationsCreatedBetween('staging', T(0), T(9)));
        expect(first).toEqual(operation({ id: 'op-f', createdAt: T(2), environment: 'staging' }));
      });

      it('streams more rows than any page holds, and can be left early', async () => {
        const many = Array.from({ length: 1_100 }, (_, i) =>
          operation({
            id: `op-${String(i).padStart(5, '0')}`,
            // Many share an instant: paging must not lose or repeat rows on ties.
            createdAt: new Date(Date.UTC(2026, 2, 2) + (i % 97) * 60_000).toISOString(),
          }),
        );
        await putAll(store, 1n, { operations: many });
        const all = await collect(
          store.operationsCreatedBetween('production', '2026-03-02', '2026-03-03'),
        );
        const expected = [...many].sort((a, b) =>
          a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1,
        );
        expect(all).toHaveLength(1_100);
        expect(ids(all)).toEqual(ids(expected));
        const firstFew: string[] = [];
        for await (const record of store.operationsCreatedBetween(
          'production',
          '2026-03-02',
          '2026-03-03',
        )) {
          firstFew.push(record.id);
          if (firstFew.length === 3) break;
        }
        expect(firstFew).toEqual(ids(expected.slice(0, 3)));
        expect(await store.operation('op-00001')).toEqual(many[1]);
      });
    });

    describe('resources and environments', () => {
      it('orders resources, keeps environments apart and replaces by key', async () => {
        await putAll(store, 1n, {
          resources: [
            resource({ type: 'database', handle: 'db' }),
            resource({ handle: 'web' }),
            resource({ handle: 'api', release: 'v1' }),
            resource({ environment: 'staging', handle: 'web' }),
          ],
        });
        await putAll(store, 2n, {
          resources: [resource({ handle: 'api', release: 'v2', status: 'deprovisioned' })],
        });
        expect(await store.resources('production')).toEqual([
          resource({ handle: 'api', release: 'v2', status: 'deprovisioned' }),
          resource({ handle: 'web' }),
          resource({ type: 'database', handle: 'db' }),
        ]);
        expect(await store.resources('staging')).toEqual([
          resource({ environment: 'staging', handle: 'web' }),
        ]);
        const web = await store.resource('production', 'app', 'web');
        expect(web).toEqual(resource({ handle: 'web' }));
        expect(web && 'release' in web).toBe(false);
        expect(await store.resource('production', 'database', 'web')).toBeUndefined();
      });

      it('lists every environment by name, tombstones of deprovisioned ones included', async () => {
        expect(await store.environments()).toEqual([]);
        const staging = environment('staging', { firstOperationAt: T(2) });
        const gone = environment('preview-2', {
          status: 'deprovisioned',
          deprovisionedAt: T(3),
          purgedThrough: '41',
        });
        await putAll(store, 1n, {
          environments: [staging, environment('production'), gone],
          operations: [operation({ id: 'op-1', environment: 'staging' })],
        });
        // Byte order: a digit and a hyphen sort before letters, upper case before lower.
        await putAll(store, 2n, { environments: [environment('Zeta'), environment('pre')] });
        expect((await store.environments()).map((e) => e.environment)).toEqual([
          'Zeta',
          'pre',
          'preview-2',
          'production',
          'staging',
        ]);
        expect((await store.environments()).find((e) => e.environment === 'preview-2')).toEqual(
          gone,
        );
        // A deprovision replaces the record in place: the name is listed once.
        await write(store, 3n, async (tx) => {
          await tx.purgeEnvironment('staging');
          await tx.putEnvironment({ ...staging, status: 'deprovisioned', deprovisionedAt: T(4) });
        });
        const listed = await store.environments();
        expect(listed.filter((e) => e.environment === 'staging')).toEqual([
          { ...staging, status: 'deprovisioned', deprovisionedAt: T(4) },
        ]);
        expect(listed).toHaveLength(5);
        await store.reset('operations');
        expect(await store.environments()).toEqual([]);
      });

      it('round-trips environments with and without their optional fields', async () => {
        const gone = environment('staging', {
          status: 'deprovisioned',
          deprovisionedAt: T(3),
          purgedThrough: '18446744073709551615',
        });
        await putAll(store, 1n, { environments: [environment('production'), gone] });
        expect(await store.environment('staging')).toEqual(gone);
        const production = await store.environment('production');
        expect(production).toEqual(environment('production'));
        expect(Object.keys(production ?? {}).sort()).toEqual([
          'environment',
          'firstOperationAt',
          'status',
        ]);
        expect(await store.environment('nowhere')).toBeUndefined();
      });
    });

    describe('operations', () => {
      it('round-trips the folded state exactly, and lists the dates of an environment', async () => {
        const op = operation({ id: 'op-1', createdAt: T(2), lastRevision: 12 });
        op.state = {
          ...op.state,
          params: { nested: { list: [1, 'two', null, { three: true }] }, text: 'e\u0301 🚀 "q"' },
          plan: ['build', 'release'],
          steps: {
            build: {
              name: 'build',
              kind: 'undoable',
              status: 'succeeded',
              attempts: 2,
              output: { id: 7 },
            },
          },
          failure: {
            reason: 'failure',
            failedStep: 'release',
            error: { name: 'Error', message: 'boom', causes: [] },
            rollbackRequired: true,
          },
        };
        await putAll(store, 1n, {
          operations: [op, operation({ id: 'op-2', createdAt: T(1) }), operation({ id: 'op-3' })],
        });
        expect(await store.operation('op-1')).toEqual(op);
        expect(await store.operation('missing')).toBeUndefined();
        expect((await store.operationDates('production')).sort()).toEqual([T(0), T(1), T(2)]);
        expect(await store.operationDates('staging')).toEqual([]);
      });
    });

    it('property: any sequence of transactions answers every query as the in-memory store does', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
          const reference = createInMemoryReadStore();
          const tested = await factory();
          try {
            const expectedSeen = await runSteps(reference, steps);
            const seen = await runSteps(tested.readStore, steps);
            expect(seen).toEqual(expectedSeen);
            expect(await dump(tested.readStore)).toEqual(await dump(reference));
          } finally {
            try {
              await tested.readStore.close();
            } finally {
              await tested.teardown?.();
            }
          }
        }),
        { numRuns: 40 },
      );
    });
  });
};
