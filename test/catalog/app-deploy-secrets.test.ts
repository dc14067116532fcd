import { describe, expect, it } from 'vitest';
import type { SimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { appDeploy } from '../../src/catalog/app/index.js';
import type { Clock } from '../../src/engine/clock.js';
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  type EventData,
  type EventStore,
} from '../../src/index.js';
import { createProjector, createReadModel } from '../../src/projections/index.js';
import { createSequentialIds } from '../../src/testing/index.js';
import {
  APP,
  crashed,
  dyingStore,
  echoingCloud,
  lifecycleWorld,
  newProcess,
  recoverOn,
  servingRelease,
  startOn,
  stepEvent,
  toJson,
  withoutTime,
  type RunningApp,
} from './app-lifecycle-fixtures.js';

/**
 * `app.deploy` takes the env of its new containers in `env`. Every value of it is a secret as far
 * as opledger knows (a deploy has no per-variable sensitivity list): none may reach the event
 * store, the logs, the read model or the activity report, and the containers still get them.
 */

const V1 = 'web:v1';
const V2 = 'web:v2';
const OLD_SECRET = 'old-db-pass-5b1e9a';
const OLD_ENV = { RAILS_ENV: 'production', DB_PASSWORD: OLD_SECRET };
const RUNNING: RunningApp = { count: 2, image: V1, env: OLD_ENV };
// Values that could pass for plain settings are kept out too: all of them are distinctive here,
// so that finding one anywhere can only mean it leaked.
const DEPLOY_ENV = {
  DB_PASSWORD: 'new-db-pass-c4f7d2',
  API_TOKEN: 'tok_live_8e3a61b0',
  REGION: 'eu-west-zone-q7',
};
const VALUES = [...Object.values(DEPLOY_ENV), OLD_SECRET];

const expectNoValue = (text: string) => {
  for (const value of VALUES) expect(text).not.toContain(value);
};
/** Distinct env of every container on the cloud. */
const envsOnCloud = (cloud: SimulatedCloud) => [
  ...new Set(Object.values(cloud.snapshot().containers).map((c) => toJson(c.env))),
];

/** Everything anyone can read about the operations of `store`: logs, listings, the report. */
const everythingReadable = async (store: EventStore, clock: Clock) => {
  const readStore = createInMemoryReadStore();
  await createProjector({ store, readStore }).catchUp();
  const reads = createReadModel({ readStore, clock });
  const page = await reads.listOperations({ environment: 'production', limit: 100 });
  const texts = [toJson(await store.readAll()), toJson(page.items)];
  for (const op of page.items) {
    texts.push(await reads.logText(op.id));
    texts.push(toJson(await reads.operation(op.id)));
  }
  let report = '';
  for await (const chunk of await reads.activityReportCsv('production', {
    from: '2000-01-01',
    to: '2100-01-01',
  })) {
    report += String(chunk);
  }
  texts.push(report);
  return { texts, report, operations: page.items };
};

describe('app.deploy keeps env values out of everything it records', () => {
  it('the containers get the values; events, logs, listings and the report never see them', async () => {
    const w = await lifecycleWorld(61, RUNNING);
    const op = await w.start('app.deploy', { image: V2, env: DEPLOY_ENV, containerCount: 2 });
    const result = await op.result;
    expect(result.status).toBe('succeeded');
    expect(servingRelease(w.cloud)).toEqual({
      targets: [`${APP}-op-000001-1`, `${APP}-op-000001-2`],
      releases: [{ image: V2, env: DEPLOY_ENV }],
      running: true,
    });
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);

    const requested = (await w.store.readAll()).find((e) => e.type === 'OperationRequested');
    const params = (requested?.data as { params: Record<string, unknown> }).params;
    // The names stay readable for the audit; the values are gone.
    expect(params).toMatchObject({
      image: V2,
      env: '[redacted]',
      envNames: ['API_TOKEN', 'DB_PASSWORD', 'REGION'],
    });
    expect((await op.logs).map((l) => l.message).join('\n')).toMatch(
      /Environment of the new containers: API_TOKEN, DB_PASSWORD, REGION \(values not recorded\)/,
    );

    const { texts, report, operations } = await everythingReadable(w.store, w.clock);
    expect(report).toMatch(/app\.deploy/);
    expect(operations).toHaveLength(1);
    for (const text of texts) expectNoValue(text);
  });

  it('a later restart, scale and image-only deploy keep the env the deploy set', async () => {
    const w = await lifecycleWorld(62, RUNNING);
    expect((await w.run('app.deploy', { image: V2, env: DEPLOY_ENV })).status).toBe('succeeded');
    expect((await w.run('app.restart', {})).status).toBe('succeeded');
    // The deploy kept the app's two containers; the restart replaced both.
    expect(servingRelease(w.cloud).targets).toEqual([`${APP}-op-000002-1`, `${APP}-op-000002-2`]);
    expect(servingRelease(w.cloud).releases).toEqual([{ image: V2, env: DEPLOY_ENV }]);
    expect((await w.run('app.scale', { containerCount: 3 })).status).toBe('succeeded');
    expect((await w.run('app.deploy', { image: 'web:v3', containerCount: 3 })).status).toBe(
      'succeeded',
    );
    expect(servingRelease(w.cloud)).toMatchObject({
      releases: [{ image: 'web:v3', env: DEPLOY_ENV }],
      running: true,
    });
    expect(servingRelease(w.cloud).targets).toHaveLength(3);
    // app.rollback takes no env: it keeps the running one, and records none either.
    expect((await w.run('app.rollback', { previousImage: V2 })).status).toBe('succeeded');
    expect(servingRelease(w.cloud).releases).toEqual([{ image: V2, env: DEPLOY_ENV }]);
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    for (const text of (await everythingReadable(w.store, w.clock)).texts) expectNoValue(text);
  });

  it('a failed deploy rolls back to the old containers with their real env, values unrecorded', async () => {
    const w = await lifecycleWorld(63, RUNNING);
    w.cloud.setImageBehaviour(V2, { responds: false });
    const result = await w.run('app.deploy', {
      image: V2,
      env: DEPLOY_ENV,
      healthCheckTimeoutSeconds: 10,
    });
    expect(result).toMatchObject({ status: 'failed', failedStep: 'health check' });
    expect(result.rollback).toBe('succeeded');
    expect(servingRelease(w.cloud)).toEqual({
      targets: w.oldIds,
      releases: [{ image: V1, env: OLD_ENV }],
      running: true,
    });
    expect(envsOnCloud(w.cloud)).toEqual([toJson(OLD_ENV)]);
    for (const text of (await everythingReadable(w.store, w.clock)).texts) expectNoValue(text);
  });

  it('masks an env value that an error message quotes, before it is recorded', async () => {
    const w = await lifecycleWorld(64, RUNNING);
    const echoing = echoingCloud(w.cloud, DEPLOY_ENV.API_TOKEN);
    const engine = createEngine({
      store: w.store,
      operations: [appDeploy(echoing, { retry: { maxAttempts: 1 } })],
      clock: w.clock,
      ids: createSequentialIds('e-'),
    });
    const handle = await startOn(engine, 'app.deploy', { image: V2, env: DEPLOY_ENV });
    const result = await handle.result;
    expect(result).toMatchObject({ status: 'failed', failedStep: 'start new containers' });
    expect(result.error?.message).toMatch(/refused: env .*"API_TOKEN":"\[redacted\]"/);
    expect(result.error?.causes).toEqual(['bad value [redacted]']);
    expect(servingRelease(w.cloud).targets).toEqual(w.oldIds);
    for (const text of (await everythingReadable(w.store, w.clock)).texts) expectNoValue(text);
  });
});

describe('app.deploy with env, recovered by another process after a crash', () => {
  it.each([
    // Everything ran, the old containers are removed: only their sealed records can restore them.
    ['before its success was recorded', (e: EventData) => e.type === 'OperationSucceeded'],
    // Deregistered and recorded (sealed), not stopped yet.
    ['after the old targets were deregistered', stepEvent('StepStarted', 'stop old containers')],
    // The new containers run but are not recorded: the undo finds them by their ids.
    ['while starting the new containers', stepEvent('StepSucceeded', 'start new containers')],
  ])('crashed %s: the rollback restores the old release, real env and all', async (_, crashAt) => {
    const inner = createInMemoryEventStore();
    const w = await lifecycleWorld(65, RUNNING, { store: dyingStore(inner, crashAt) });
    const before = withoutTime(w.cloud);
    const op = await w.start('app.deploy', { image: V2, env: DEPLOY_ENV });
    expect(await crashed(op.result)).toBe('crashed');
    // The new containers got the real values before the process died.
    expect(envsOnCloud(w.cloud)).toContain(toJson(DEPLOY_ENV));

    const [recovered] = await recoverOn(inner, w);
    expect(recovered).toMatchObject({ status: 'failed', rollback: 'succeeded', notUndone: [] });
    expect(servingRelease(w.cloud)).toEqual({
      targets: w.oldIds,
      releases: [{ image: V1, env: OLD_ENV }],
      running: true,
    });
    // No container of the deploy is left, and none runs with a placeholder for an env.
    expect(envsOnCloud(w.cloud)).toEqual([toJson(OLD_ENV)]);
    expect(withoutTime(w.cloud).containers).toEqual(before.containers);
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    for (const text of (await everythingReadable(inner, w.clock)).texts) expectNoValue(text);

    // And the app goes on: a restart keeps the old env, secret included.
    const restart = await startOn(newProcess(inner, w, 'n-'), 'app.restart', {});
    expect((await restart.result).status).toBe('succeeded');
    expect(servingRelease(w.cloud).releases).toEqual([{ image: V1, env: OLD_ENV }]);
  });

  it('a deploy the process accepted but never started is not run with redacted env values', async () => {
    const inner = createInMemoryEventStore();
    // The process dies right after recording the request: the operation is still queued.
    const w = await lifecycleWorld(66, RUNNING, {
      store: dyingStore(inner, (e) => e.type === 'OperationStarted'),
    });
    const before = withoutTime(w.cloud);
    const op = await w.start('app.deploy', {
      image: V2,
      env: DEPLOY_ENV,
      beforeRelease: ['rake db:migrate'],
    });
    expect(await crashed(op.result)).toBe('crashed');

    const [recovered] = await recoverOn(inner, w);
    // The values are nowhere to be had: it fails at its first step, before any change.
    expect(recovered).toMatchObject({ status: 'failed', failedStep: 'before_release' });
    expect(recovered?.error?.name).toBe('SecretParamsUnavailableError');
    expect(recovered?.error?.message).toMatch(/env.*not recorded.*request it again/);
    expect(recovered?.rollback).not.toBe('failed');
    expect(recovered?.notUndone).toEqual([]);
    expect(withoutTime(w.cloud)).toEqual(before);
    // Failed for good at once, not retried: retrying cannot bring the values back.
    const failures = (await inner.readAll()).filter((e) => e.type === 'StepFailed');
    expect(failures).toHaveLength(1);
    for (const text of (await everythingReadable(inner, w.clock)).texts) expectNoValue(text);
  });

  it('the same holds for a configure whose secrets were redacted', async () => {
    const inner = createInMemoryEventStore();
    const w = await lifecycleWorld(67, RUNNING, {
      store: dyingStore(inner, (e) => e.type === 'OperationStarted'),
    });
    const before = withoutTime(w.cloud);
    const op = await w.start('app.configure', {
      set: { DB_PASSWORD: DEPLOY_ENV.DB_PASSWORD },
      sensitive: ['DB_PASSWORD'],
    });
    expect(await crashed(op.result)).toBe('crashed');
    const [recovered] = await recoverOn(inner, w);
    expect(recovered).toMatchObject({
      status: 'failed',
      failedStep: 'start reconfigured containers',
    });
    expect(recovered?.error?.name).toBe('SecretParamsUnavailableError');
    expect(withoutTime(w.cloud)).toEqual(before);
    expect(envsOnCloud(w.cloud)).toEqual([toJson(OLD_ENV)]);
  });
});
