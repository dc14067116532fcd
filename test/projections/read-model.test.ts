import { parse } from 'csv-parse/sync';
import { firstValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ACTIVITY_REPORT_COLUMNS,
  createReadModel,
  InvalidWeekError,
  type Projector,
} from '../../src/projections/index.js';
import {
  AccessDeniedError,
  EnvironmentNotFoundError,
  OperationNotFoundError,
  OperationPurgedError,
} from '../../src/index.js';
import { request, until } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';

const running: Projector[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

const started = async (options: Parameters<typeof projectionSetup>[0] = {}) => {
  const setup = projectionSetup(options);
  await setup.projector.start();
  running.push(setup.projector);
  return setup;
};

const app = (handle: string) => ({ type: 'app', handle });

const readCsv = async (stream: NodeJS.ReadableStream) => {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
};

describe('the projector', () => {
  it('catches up from its checkpoint, then follows live, and reports its lag', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    const head = await s.store.headPosition();
    expect(await s.projector.lag()).toBe(head);
    await s.projector.start();
    running.push(s.projector);
    expect(await s.projector.lag()).toBe(0n);
    await s.run(request({ params: { image: 'v2' } }));
    await s.settle();
    expect(await s.projector.lag()).toBe(0n);
    expect(await s.projector.checkpoint()).toBe(await s.store.headPosition());
    const page = await s.reads.listOperations({ environment: 'production' });
    expect(page.items.map((o) => o.id)).toEqual(['op-000002', 'op-000001']);
  });

  it('keeps operation logs that agree line for line with the live follow', async () => {
    const s = await started();
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(request({ params: { image: 'v2', fail: 'GET / answered 503' } }));
    await s.settle();
    for (const id of ['op-000001', 'op-000002']) {
      const live = await firstValueFrom(s.engine.logs(id).pipe(toArray()));
      expect(await s.reads.logs(id)).toEqual(live);
    }
    const text = await s.reads.logText('op-000002');
    const lines = text.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      /^2026-03-02T09:00:00\.\d{3}Z INFO {2}Rollback succeeded: everything was restored to the way it was before the operation\.$/,
    );
    expect(lines).toContain(
      "2026-03-02T09:00:00.000Z ERROR [health check] Step 'health check' failed on attempt 1: GET / answered 503",
    );
    await expect(s.reads.logs('nope')).rejects.toMatchObject({ code: 'OPERATION_NOT_FOUND' });
  });

  it('shows the log of an operation still running, then its end', async () => {
    const s = await started();
    const handle = await s.engine.start(request({ type: 'restart' }));
    await until(() => s.hold.entered);
    await s.settle();
    expect((await s.reads.logs(handle.id)).map((l) => l.message).slice(-2)).toEqual([
      "Step 'restart containers' started",
      'restarting',
    ]);
    expect((await s.reads.operation(handle.id)).status).toBe('running');
    s.release();
    await handle.result;
    await s.settle();
    expect((await s.reads.logs(handle.id)).at(-1)?.message).toBe('Operation succeeded');
  });
});

describe('listing operations', () => {
  it('filters by resource (also a deleted one), status, type and time, newest first, paged', async () => {
    const s = await started();
    await s.run(request({ type: 'provision', resource: app('web') }));
    s.clock.advance(3_600_000);
    await s.run(request({ resource: app('web'), params: { image: 'v1', fail: 'boom' } }));
    await s.run(request({ resource: app('api'), params: { image: 'v1' } }));
    s.clock.advance(3_600_000);
    await s.run(request({ type: 'deprovision', resource: app('web') }));
    await s.settle();

    const web = await s.reads.listOperations({ environment: 'production', resource: app('web') });
    expect(web.items.map((o) => o.type)).toEqual(['deprovision', 'deploy', 'provision']);
    const failed = await s.reads.listOperations({ environment: 'production', status: 'failed' });
    expect(failed.items.map((o) => o.id)).toEqual(['op-000002']);
    const deploys = await s.reads.listOperations({ environment: 'production', type: 'deploy' });
    expect(deploys.total).toBe(2);
    const window = await s.reads.listOperations({
      environment: 'production',
      from: '2026-03-02T10:00:00.000Z',
      to: '2026-03-02T11:00:00.000Z',
    });
    expect(window.items.map((o) => o.id)).toEqual(['op-000003', 'op-000002']);
    const first = await s.reads.listOperations({ environment: 'production', limit: 3 });
    expect(first).toMatchObject({ total: 4, limit: 3, offset: 0, nextOffset: 3 });
    const second = await s.reads.listOperations({ environment: 'production', limit: 3, offset: 3 });
    expect(second.items.map((o) => o.id)).toEqual(['op-000001']);
    expect(second.nextOffset).toBeUndefined();
    await expect(
      s.reads.listOperations({ environment: 'production', limit: 501 }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    await expect(
      s.reads.listOperations({ environment: 'production', from: 'yesterday' }),
    ).rejects.toThrow(/not a date/);
    await expect(s.reads.listOperations({ environment: 'staging' })).rejects.toBeInstanceOf(
      EnvironmentNotFoundError,
    );
  });
});

describe('resource state', () => {
  it('tracks status, current release and last operation of each resource', async () => {
    const s = await started();
    await s.run(request({ type: 'provision', resource: app('web') }));
    await s.run(request({ resource: app('web'), params: { image: 'v1' } }));
    await s.run(request({ resource: app('web'), params: { image: 'v2', fail: 'unhealthy' } }));
    await s.run(request({ type: 'provision', resource: { type: 'database', handle: 'db' } }));
    await s.run(request({ type: 'deprovision', resource: { type: 'database', handle: 'db' } }));
    await s.settle();
    expect(await s.reads.resources('production')).toEqual([
      {
        environment: 'production',
        type: 'app',
        handle: 'web',
        status: 'provisioned',
        release: 'v1',
        lastOperationId: 'op-000003',
        lastOperationType: 'deploy',
        lastOperationAt: '2026-03-02T09:00:00.000Z',
      },
      {
        environment: 'production',
        type: 'database',
        handle: 'db',
        status: 'deprovisioned',
        lastOperationId: 'op-000005',
        lastOperationType: 'deprovision',
        lastOperationAt: '2026-03-02T09:00:00.000Z',
      },
    ]);
  });
});

describe('resource state of a provision', () => {
  it('is provisioning while it runs, and a failed first provision leaves no resource', async () => {
    const s = await started();
    const { defineOperation, step } = await import('../../src/index.js');
    const { createEngine } = await import('../../src/index.js');
    const { createSequentialIds } = await import('../../src/testing/index.js');
    const failing = createEngine({
      store: s.store,
      clock: s.clock,
      ids: createSequentialIds('f-'),
      operations: [
        defineOperation({
          type: 'provision',
          lifecycle: 'provision',
          steps: [
            step({ name: 'create', run: () => undefined, undo: () => undefined }),
            step({
              name: 'boot',
              kind: 'no_side_effects',
              run: () => Promise.reject(new Error('no capacity')),
            }),
          ],
        }),
      ],
    });
    await (
      await failing.start(request({ type: 'provision', resource: app('ghost') }))
    ).result;
    await s.settle();
    expect(await s.reads.resources('production')).toMatchObject([
      { handle: 'ghost', status: 'deprovisioned', lastOperationType: 'provision' },
    ]);
    await s.run(request({ type: 'provision', resource: app('ghost') }));
    await s.settle();
    expect((await s.reads.resources('production'))[0]?.status).toBe('provisioned');
  });
});

describe('activity reports', () => {
  it('lists one report per ISO week with its operation count, newest first', async () => {
    const s = await started({ start: '2026-03-01T23:00:00.000Z' }); // a Sunday: week 09
    await s.run(request({ params: { image: 'v1' } }));
    s.clock.advance(2 * 3_600_000); // Monday: week 10
    await s.run(request({ params: { image: 'v2' } }));
    await s.run(request({ params: { image: 'v3' } }));
    s.clock.advance(14 * 86_400_000); // week 12, nothing in week 11
    await s.run(request({ params: { image: 'v4' } }));
    await s.settle();
    expect(await s.reads.activityReports('production')).toEqual([
      {
        environment: 'production',
        week: '2026-W12',
        from: '2026-03-16T00:00:00.000Z',
        to: '2026-03-23T00:00:00.000Z',
        operations: 1,
      },
      {
        environment: 'production',
        week: '2026-W11',
        from: '2026-03-09T00:00:00.000Z',
        to: '2026-03-16T00:00:00.000Z',
        operations: 0,
      },
      {
        environment: 'production',
        week: '2026-W10',
        from: '2026-03-02T00:00:00.000Z',
        to: '2026-03-09T00:00:00.000Z',
        operations: 2,
      },
      {
        environment: 'production',
        week: '2026-W09',
        from: '2026-02-23T00:00:00.000Z',
        to: '2026-03-02T00:00:00.000Z',
        operations: 1,
      },
    ]);
  });

  it('has a row per operation created in the period, including deleted resources and running operations', async () => {
    const s = await started();
    await s.run(request({ type: 'provision', resource: app('old') }));
    await s.run(
      request({ resource: app('old'), params: { image: 'v1', fail: '=HYPERLINK("http://x")' } }),
    );
    await s.run(request({ type: 'deprovision', resource: app('old') }));
    // An operation still running when the report is made.
    const pending = await s.engine.start(
      request({ type: 'restart', resource: app('web'), user: '@admin' }),
    );
    await until(() => s.hold.entered);
    await s.settle();

    const rows: Record<string, string>[] = [];
    for await (const row of s.reads.activityReportRows('production', { week: '2026-W10' }))
      rows.push(row);
    expect(
      rows.map((r) => [r.operation_id, r.operation_type, r.resource_deleted, r.status]),
    ).toEqual([
      ['op-000001', 'provision', 'true', 'succeeded'],
      ['op-000002', 'deploy', 'true', 'failed'],
      ['op-000003', 'deprovision', 'true', 'succeeded'],
      ['op-000004', 'restart', 'false', 'running'],
    ]);
    expect(rows[3]).toMatchObject({
      finished_at: '',
      duration_seconds: '',
      rollback: 'none',
      cancelled: 'false',
    });
    expect(rows[1]).toMatchObject({
      rollback: 'succeeded',
      failed_step: 'health check',
      failure_reason: '=HYPERLINK("http://x")',
      duration_seconds: '0.000',
    });

    const csv = await readCsv(await s.reads.activityReportCsv('production', { week: '2026-W10' }));
    expect(csv.split('\r\n')[0]).toBe(ACTIVITY_REPORT_COLUMNS.join(','));
    const parsed = parse(csv, { columns: true }) as Record<string, string>[];
    expect(parsed).toHaveLength(4);
    expect(parsed[1]?.failure_reason).toBe(`'=HYPERLINK("http://x")`);
    expect(parsed[3]?.user).toBe("'@admin");
    expect(parsed[0]).toEqual(rows[0]);

    const empty = await readCsv(
      await s.reads.activityReportCsv('production', { from: '2026-01-01', to: '2026-01-02' }),
    );
    expect(empty).toBe(`${ACTIVITY_REPORT_COLUMNS.join(',')}\r\n`);
    s.release();
    await pending.result;
  });

  it('rejects a malformed week or range before writing anything', async () => {
    const s = await started();
    await s.run(request({ params: { image: 'v1' } }));
    await s.settle();
    await expect(
      s.reads.activityReportCsv('production', { week: '2026-W54' }),
    ).rejects.toBeInstanceOf(InvalidWeekError);
    await expect(s.reads.activityReportCsv('production', { week: '2026-10' })).rejects.toThrow(
      /YYYY-Www/,
    );
    await expect(
      s.reads.activityReportCsv('production', { from: '2026-03-05', to: '2026-03-01' }),
    ).rejects.toThrow(/must end after it starts/);
  });

  it('lives as long as its environment: after deprovisioning, a typed not-found and a purged read model, events kept', async () => {
    const s = await started();
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(
      request({ type: 'deprovision', resource: { type: 'environment', handle: 'production' } }),
    );
    await s.settle();
    await expect(s.reads.activityReports('production')).rejects.toBeInstanceOf(
      EnvironmentNotFoundError,
    );
    await expect(s.reads.activityReports('production')).rejects.toThrow(/Environment 'production'/);
    await expect(
      s.reads.activityReportCsv('production', { week: '2026-W10' }),
    ).rejects.toBeInstanceOf(EnvironmentNotFoundError);
    expect(await s.readStore.operation('op-000001')).toBeUndefined();
    expect(await s.readStore.logLines('op-000001')).toEqual([]);
    expect((await s.store.readStream('operation-op-000001')).length).toBeGreaterThan(0);
    // Told the event store, the read model says why an old id is gone, and what is left.
    const explaining = createReadModel({ readStore: s.readStore, eventStore: s.store });
    const purged = await explaining.logs('op-000001').catch((e: unknown) => e);
    expect(purged).toBeInstanceOf(OperationPurgedError);
    expect(purged).toMatchObject({ code: 'OPERATION_PURGED', environment: 'production' });
    expect((purged as Error).message).toMatch(
      /^Operation op-000001 belonged to environment 'production', which was deprovisioned at 2026-.*Its events are still in the event store \(stream 'operation-op-000001'\)/,
    );
    await expect(explaining.operation('nope')).rejects.toBeInstanceOf(OperationNotFoundError);
    await expect(s.reads.logs('op-000001')).rejects.toBeInstanceOf(OperationNotFoundError);
    // The name can be used again: a new environment, with nothing of the old one.
    await s.run(request({ params: { image: 'v9' } }));
    await s.settle();
    const reports = await s.reads.activityReports('production');
    expect(reports.reduce((n, r) => n + r.operations, 0)).toBe(1);
    await expect(explaining.operation('op-000001')).rejects.toBeInstanceOf(OperationPurgedError);
    expect((await explaining.operation('op-000003')).status).toBe('succeeded');
  });
});

describe('environments', () => {
  it('lists every environment by name, a deprovisioned one marked deleted', async () => {
    const s = await started();
    expect(await s.reads.environments()).toEqual([]);
    await s.run(request({ environment: 'staging', params: { image: 'v1' } }));
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(
      request({
        environment: 'staging',
        type: 'deprovision',
        resource: { type: 'environment', handle: 'staging' },
      }),
    );
    await s.settle();
    const listed = await s.reads.environments();
    expect(listed.map((e) => [e.name, e.deleted])).toEqual([
      ['production', false],
      ['staging', true],
    ]);
    expect(listed[1]?.deprovisionedAt).toEqual(expect.any(String));
    expect(listed[0]).not.toHaveProperty('deprovisionedAt');
  });
});

describe('authorization', () => {
  const authorize = (actor: unknown, _action: string, target: { environment: string }) =>
    actor === 'admin' || (actor === 'dev' && target.environment === 'staging');

  it('consults authorize on every read; a denial is typed and says nothing of the target', async () => {
    const s = await started({ authorize });
    await s.run(request({ params: { image: 'v1' } }));
    await s.settle();
    const denials = [
      s.reads.logs('op-000001', { actor: 'dev' }),
      s.reads.logText('op-000001', { actor: 'dev' }),
      s.reads.operation('op-000001', { actor: 'dev' }),
      s.reads.listOperations({ environment: 'production', actor: 'dev' }),
      s.reads.resources('production', { actor: 'dev' }),
      s.reads.activityReports('production', { actor: 'dev' }),
      s.reads.activityReportCsv('production', { week: '2026-W10' }, { actor: 'dev' }),
      firstValueFrom(s.engine.logs('op-000001', { actor: 'dev' })),
    ];
    for (const denial of denials) {
      const error = await denial.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AccessDeniedError);
      expect((error as Error).message).not.toMatch(/production|op-000001|web|deploy/);
    }
    // A sentence a person would write, one per action; the action itself stays on the error.
    const messages = await Promise.all(
      [
        s.reads.logs('op-000001', { actor: 'dev' }),
        s.reads.listOperations({ environment: 'production', actor: 'dev' }),
        s.reads.resources('production', { actor: 'dev' }),
        s.reads.activityReports('production', { actor: 'dev' }),
        firstValueFrom(s.engine.logs('op-000001', { actor: 'dev' })),
      ].map((denial) =>
        denial.then(
          () => undefined,
          (e: AccessDeniedError) => [e.action, e.message],
        ),
      ),
    );
    expect(messages).toEqual([
      [
        'operation:read',
        'Access denied: you may not read this operation. Ask an administrator for access.',
      ],
      [
        'operations:list',
        'Access denied: you may not list the operations of this environment. Ask an administrator for access.',
      ],
      [
        'resources:list',
        'Access denied: you may not list the resources of this environment. Ask an administrator for access.',
      ],
      [
        'activity-reports:read',
        'Access denied: you may not read the activity reports of this environment. Ask an administrator for access.',
      ],
      [
        'operation:follow',
        'Access denied: you may not follow the log of this operation. Ask an administrator for access.',
      ],
    ]);
    expect(await s.reads.logs('op-000001', { actor: 'admin' })).not.toHaveLength(0);
    // A list leaves out what the actor may not see, instead of refusing it all.
    await s.run(request({ environment: 'staging', params: { image: 'v1' } }));
    await s.settle();
    expect((await s.reads.environments({ actor: 'dev' })).map((e) => e.name)).toEqual(['staging']);
    expect((await s.reads.environments({ actor: 'admin' })).map((e) => e.name)).toEqual([
      'production',
      'staging',
    ]);
    expect(await s.reads.environments({ actor: 'nobody' })).toEqual([]);
    expect(
      await firstValueFrom(s.engine.logs('op-000001', { actor: 'admin' }).pipe(toArray())),
    ).not.toHaveLength(0);
  });
});
