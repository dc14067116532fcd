import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
} from '../../src/index.js';
import { createEventDecoder } from '../../src/domain/index.js';
import { createDeliveryMetrics, type DeliveryMetrics } from '../../src/projections/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';

const MIN = 60_000;

interface DeployParams {
  minutes: number;
  fail?: string;
  migrate?: boolean;
  [key: string]: unknown;
}

/** A deploy whose steps take `minutes` on the virtual clock; it may migrate, it may fail. */
const world = (start = '2026-03-02T09:00:00.000Z') => {
  const clock = createVirtualClock(start);
  const store = createInMemoryEventStore();
  const deploy = defineOperation<DeployParams>({
    type: 'app.deploy',
    steps: [
      step({
        name: 'pull',
        run: ({ params }) => void clock.advance(params.minutes * MIN),
        undo: () => undefined,
      }),
      step({
        name: 'migrate',
        kind: 'irreversible',
        run: ({ params }) => void (params.migrate ? undefined : undefined),
      }),
      step({
        name: 'health check',
        kind: 'no_side_effects',
        run: ({ params }) => {
          if (params.fail) throw Object.assign(new Error('unhealthy'), { code: params.fail });
        },
      }),
    ],
  });
  const restart = defineOperation({
    type: 'app.restart',
    steps: [step({ name: 'restart', kind: 'no_side_effects', run: () => clock.advance(MIN) })],
  });
  const engine = createEngine({
    store,
    clock,
    ids: createSequentialIds(),
    operations: [deploy, restart],
  });
  const readStore = createInMemoryReadStore();
  const run = async (
    handle: string,
    params: DeployParams,
    { type = 'app.deploy', environment = 'production' } = {},
  ) =>
    (
      await engine.start({
        type,
        environment,
        resource: { type: 'app', handle },
        user: 'ada@example.com',
        params: type === 'app.deploy' ? params : {},
      } as never)
    ).result;
  return { clock, store, readStore, run };
};

describe('delivery metrics', () => {
  it('match the numbers worked out by hand for a small history', async () => {
    const w = world();
    await w.run('web', { minutes: 4 }); // 09:00 -> 09:04 ok
    w.clock.advance(56 * MIN); // 10:00
    await w.run('web', { minutes: 10, fail: 'E_HEALTH' }); // 10:00 -> 10:10 failed
    w.clock.advance(20 * MIN); // 10:30
    await w.run('web', { minutes: 2 }); // 10:30 -> 10:32 ok: restored after 22 min
    await w.run('api', { minutes: 6, fail: 'E_HEALTH' }); // 10:32 -> 10:38 failed, never restored
    await w.run('api', { minutes: 0 }, { type: 'app.restart' }); // 10:38 -> 10:39
    await w.run('web', { minutes: 1 }, { environment: 'staging' });
    const delivery = createDeliveryMetrics({ store: w.store, readStore: w.readStore });
    await delivery.projection.catchUp();
    const m = await delivery.metrics({
      environment: 'production',
      from: '2026-03-02',
      to: '2026-03-09',
    });
    expect(m.deploymentFrequency).toEqual({ deploys: 2, days: 7, perDay: 2 / 7, perWeek: 2 });
    expect(m.changeFailureRate).toEqual({ deploys: 4, failed: 2, rate: 0.5 });
    expect(m.timeToRestore).toEqual({
      failures: 2,
      restored: 1,
      p50Ms: 22 * MIN,
      meanMs: 22 * MIN,
    });
    // Lead times of the deploys: 4, 10, 2, 6 minutes: p50 = 2nd smallest, p95 = the largest.
    expect(m.leadTime['app.deploy']).toEqual({ count: 4, p50Ms: 4 * MIN, p95Ms: 10 * MIN });
    expect(m.leadTime['app.restart']).toEqual({ count: 1, p50Ms: MIN, p95Ms: MIN });
    expect(m.queueWait['app.deploy']).toEqual({ count: 4, p50Ms: 0, p95Ms: 0 });
    // Both failures rolled back: 'pull' undone, 'migrate' irreversible, left not undone.
    expect(m.rollbacks).toEqual({
      succeeded: 0,
      failed: 2,
      notUndoneSteps: [{ name: 'migrate', count: 2 }],
    });
    expect(m.failureCauses).toEqual({
      byStep: [{ name: 'health check', count: 2 }],
      byErrorCode: [{ name: 'E_HEALTH', count: 2 }],
    });

    const weeks = await delivery.weekly({
      environment: 'production',
      from: '2026-03-02',
      to: '2026-03-16',
    });
    expect(weeks.map((w) => [w.week, w.metrics.deploymentFrequency.deploys])).toEqual([
      ['2026-W10', 2],
      ['2026-W11', 0],
    ]);
    expect(weeks[0]!.metrics.changeFailureRate).toEqual(m.changeFailureRate);

    const api = await delivery.metrics({
      environment: 'production',
      app: 'api',
      from: '2026-03-02',
      to: '2026-03-09',
    });
    expect(api.changeFailureRate).toEqual({ deploys: 1, failed: 1, rate: 1 });
    expect(api.timeToRestore).toEqual({ failures: 1, restored: 0 });
    // A range the deploys are not in.
    const before = await delivery.metrics({
      environment: 'production',
      from: '2026-02-01',
      to: '2026-03-01',
    });
    expect(before.deploymentFrequency.deploys).toBe(0);
    expect(before.changeFailureRate).toEqual({ deploys: 0, failed: 0 });
  });

  it('asks authorize for the environment', async () => {
    const w = world();
    await w.run('web', { minutes: 1 });
    const delivery = createDeliveryMetrics({
      store: w.store,
      readStore: w.readStore,
      authorize: (actor, _action, target) => actor === 'ada' || target.environment === 'staging',
    });
    await delivery.projection.catchUp();
    const range = { environment: 'production', from: '2026-03-01', to: '2026-04-01' };
    await expect(delivery.metrics({ ...range, actor: 'bob' })).rejects.toThrow(AccessDeniedError);
    expect((await delivery.metrics({ ...range, actor: 'ada' })).deploymentFrequency.deploys).toBe(
      1,
    );
  });

  it('keep the history of a deleted app', async () => {
    // Deleting is an operation like any other: nothing of the app's summaries is removed.
    const w = world();
    await w.run('web', { minutes: 1 });
    const delivery = createDeliveryMetrics({ store: w.store, readStore: w.readStore });
    await delivery.projection.catchUp();
    const doc = await delivery.projection.read(JSON.stringify(['production', 'app', 'web']));
    expect(Object.keys(doc!.operations)).toHaveLength(1);
  });
});

// ---- An oracle computed straight from the events, the way docs/metrics.md says to by hand.

const decode = createEventDecoder();

interface Op {
  id: string;
  env: string;
  app: string;
  type: string;
  requested: number;
  started?: number;
  finished?: number;
  ok?: boolean;
  cancelled?: boolean;
  step?: string;
  code?: string;
  rollback?: { ok: boolean; at: number; notUndone: string[] };
}

const oracle = async (
  store: ReturnType<typeof createInMemoryEventStore>,
  env: string,
  app: string | undefined,
  from: number,
  to: number,
) => {
  const ops = new Map<string, Op>();
  for (const r of await store.readAll()) {
    if (!r.streamName.startsWith('operation-')) continue;
    const e = decode(r);
    const id = r.streamName.slice('operation-'.length);
    if (e.type === 'OperationRequested') {
      ops.set(id, {
        id,
        env: e.data.environment,
        app: e.data.resource.handle,
        type: e.data.type,
        requested: Date.parse(e.data.createdAt),
      });
    }
    const op = ops.get(id)!;
    if (e.type === 'OperationStarted' && op.started === undefined)
      op.started = Date.parse(e.data.at);
    if (e.type === 'OperationSucceeded')
      Object.assign(op, { ok: true, finished: Date.parse(e.data.at) });
    if (e.type === 'OperationFailed') {
      Object.assign(op, {
        ok: false,
        finished: Date.parse(e.data.at),
        cancelled: e.data.reason === 'cancellation',
        step: e.data.failedStep ?? '(none)',
        code: e.data.error.code ?? '(none)',
      });
    }
    if (e.type === 'RollbackFinished') {
      op.rollback = {
        ok: e.data.outcome === 'succeeded',
        at: Date.parse(e.data.at),
        notUndone: e.data.notUndone.map((n) => n.step),
      };
    }
  }
  const mine = [...ops.values()].filter(
    (o) => o.env === env && (app === undefined || o.app === app),
  );
  const within = (t?: number) => t !== undefined && t >= from && t < to;
  const finished = mine.filter((o) => within(o.finished));
  const deploys = finished.filter((o) => o.type === 'app.deploy' && !o.cancelled);
  const failedDeploys = deploys.filter((o) => !o.ok);
  const pct = (xs: number[]) => {
    if (xs.length === 0) return { count: 0 };
    const s = [...xs].sort((a, b) => a - b);
    const at = (p: number) => s[Math.max(0, Math.ceil((p * s.length) / 100) - 1)];
    return { count: s.length, p50Ms: at(50), p95Ms: at(95) };
  };
  const perType = (value: (o: Op) => number | undefined) => {
    const out: Record<string, number[]> = {};
    for (const o of finished) {
      const v = value(o);
      if (v !== undefined) (out[o.type] ??= []).push(v);
    }
    return Object.fromEntries(Object.entries(out).map(([t, v]) => [t, pct(v)]));
  };
  const restores: number[] = [];
  for (const f of failedDeploys) {
    const after = (o: Op) =>
      o.finished! > f.finished! || (o.finished === f.finished && o.id > f.id);
    const next = mine
      .filter((o) => o.type === 'app.deploy' && o.app === f.app && o.ok && after(o))
      .sort((a, b) => a.finished! - b.finished! || (a.id < b.id ? -1 : 1))[0];
    if (next) restores.push(next.finished! - f.finished!);
  }
  const tally = (names: string[]) =>
    Object.entries(
      names.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n]: (acc[n] ?? 0) + 1 }), {}),
    )
      .map(([name, count]) => ({ name, count }))
      .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name, 'en'));
  const rolled = mine.filter((o) => o.rollback && within(o.rollback.at));
  const failures = finished.filter((o) => o.ok === false && !o.cancelled);
  const okDeploys = deploys.filter((o) => o.ok).length;
  const days = (to - from) / 86_400_000;
  return {
    deploymentFrequency: {
      deploys: okDeploys,
      days,
      perDay: okDeploys / days,
      perWeek: (okDeploys / days) * 7,
    },
    leadTime: perType((o) => o.finished! - o.requested),
    queueWait: perType((o) => (o.started === undefined ? undefined : o.started - o.requested)),
    changeFailureRate: {
      deploys: deploys.length,
      failed: failedDeploys.length,
      ...(deploys.length ? { rate: failedDeploys.length / deploys.length } : {}),
    },
    timeToRestore: {
      failures: failedDeploys.length,
      restored: restores.length,
      ...(restores.length
        ? {
            p50Ms: pct(restores).p50Ms,
            meanMs: restores.reduce((a, b) => a + b, 0) / restores.length,
          }
        : {}),
    },
    rollbacks: {
      succeeded: rolled.filter((o) => o.rollback!.ok).length,
      failed: rolled.filter((o) => !o.rollback!.ok).length,
      notUndoneSteps: tally(rolled.flatMap((o) => o.rollback!.notUndone)),
    },
    failureCauses: {
      byStep: tally(failures.map((o) => o.step!)),
      byErrorCode: tally(failures.map((o) => o.code!)),
    },
  };
};

describe('delivery metrics against an oracle (generated histories)', () => {
  it('agree with the metrics computed by hand from the events', async () => {
    const commandArb = fc.record({
      env: fc.constantFrom('production', 'staging'),
      app: fc.constantFrom('web', 'api', 'worker'),
      restart: fc.boolean(),
      minutes: fc.integer({ min: 0, max: 90 }),
      fail: fc.option(fc.constantFrom('E_HEALTH', 'E_PULL'), { nil: undefined }),
      pauseHours: fc.integer({ min: 0, max: 72 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 30 }),
        fc.option(fc.constantFrom('web', 'api'), { nil: undefined }),
        async (commands, fromDay, days, app) => {
          const w = world('2026-03-01T00:00:00.000Z');
          for (const c of commands) {
            w.clock.advance(c.pauseHours * 3_600_000);
            await w.run(
              c.app,
              { minutes: c.minutes, ...(c.fail ? { fail: c.fail } : {}) },
              { environment: c.env, type: c.restart ? 'app.restart' : 'app.deploy' },
            );
          }
          const delivery = createDeliveryMetrics({
            store: w.store,
            readStore: w.readStore,
            batchSize: 7,
          });
          await delivery.projection.catchUp();
          const from = Date.parse('2026-03-01T00:00:00.000Z') + fromDay * 86_400_000;
          const to = from + days * 86_400_000;
          for (const env of ['production', 'staging']) {
            const m: DeliveryMetrics = await delivery.metrics({
              environment: env,
              ...(app ? { app } : {}),
              from: new Date(from).toISOString(),
              to: new Date(to).toISOString(),
            });
            const { environment: _e, app: _a, from: _f, to: _t, ...numbers } = m;
            expect(numbers).toEqual(await oracle(w.store, env, app, from, to));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
