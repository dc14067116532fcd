import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessDeniedError, createInMemoryReadStore } from '../../src/index.js';
import {
  createProjection,
  defineProjection,
  InvalidProjectionError,
  ProjectionHandlerError,
} from '../../src/projections/index.js';
import { eventSchemas } from '../../src/domain/index.js';
import { request } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';

/** Deploys per app: how many, how many failed, and the steps that failed. */
const deploysByApp = (version = 1) =>
  defineProjection({
    name: 'deploys-by-app',
    version,
    keyOf: (_event, meta) =>
      meta.operation?.type === 'deploy'
        ? `${meta.operation.environment}/${meta.operation.resource.handle}`
        : undefined,
    initialState: { deploys: 0, failed: 0, failedSteps: [] as string[] },
    environmentOf: (key) => key.split('/')[0],
    on: {
      OperationRequested(draft) {
        draft.deploys += 1;
      },
      OperationFailed(draft, event) {
        draft.failed += 1;
        if (event.data.failedStep) draft.failedSteps.push(event.data.failedStep);
      },
    },
  });

describe('defineProjection', () => {
  it('refuses a definition it could not run, saying what is wrong', () => {
    const base = { name: 'p', version: 1, keyOf: () => 'k', initialState: 0, on: {} };
    expect(() => defineProjection(base)).toThrow(/handles no event type/);
    const on = { OperationStarted: (d: number) => d + 1 };
    expect(() => defineProjection({ ...base, on, name: 'operations' })).toThrow(
      InvalidProjectionError,
    );
    expect(() => defineProjection({ ...base, on, name: 'a b' })).toThrow(/name/);
    expect(() => defineProjection({ ...base, on, version: 0 })).toThrow(/version/);
    expect(() => defineProjection({ ...base, on: { Nope: () => undefined } as never })).toThrow(
      /'Nope' is not an event type/,
    );
    expect(() => defineProjection({ ...base, on, initialState: new Date() as never })).toThrow(
      /Date/,
    );
  });

  it('refuses a handler of any name that is no event type, Object.prototype names among them', () => {
    const base = { name: 'p', version: 1, keyOf: () => 'k', initialState: 0 };
    const known = new Set(Object.keys(eventSchemas));
    fc.assert(
      fc.property(
        fc
          .oneof(fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)), fc.string())
          .filter((type) => !known.has(type)),
        (type) => {
          // An own key, even `__proto__` (as JSON.parse or Object.fromEntries make one).
          const on = Object.fromEntries([[type, (d: number) => d + 1]]);
          expect(() => defineProjection({ ...base, on } as never)).toThrow(
            `'${type}' is not an event type`,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a user-defined projection', () => {
  it('catches up, then follows live, one document per key', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(request({ params: { image: 'v2', fail: 'unhealthy' } }));
    const deploys = createProjection(deploysByApp(), { store: s.store, readStore: s.readStore });
    await deploys.start();
    expect(await deploys.read('production/web')).toEqual({
      deploys: 2,
      failed: 1,
      failedSteps: ['health check'],
    });
    await s.run(request({ resource: { type: 'app', handle: 'api' }, params: { image: 'v1' } }));
    await deploys.waitFor(await s.store.headPosition());
    await deploys.stop();
    const page = await deploys.list();
    expect(page.items.map((d) => d.key)).toEqual(['production/api', 'production/web']);
    expect(await deploys.read('production/nothing')).toBeUndefined();
    // It is not the built-in read model: that one was never projected here.
    expect(await s.readStore.checkpoint('operations')).toBe(0n);
  });

  it('reads back plain, deeply frozen data', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1', fail: 'boom' } }));
    const deploys = createProjection(deploysByApp(), { store: s.store, readStore: s.readStore });
    await deploys.catchUp();
    const state = (await deploys.read('production/web'))!;
    expect(Object.isFrozen(state)).toBe(true);
    expect(Object.isFrozen(state.failedSteps)).toBe(true);
    expect(Object.getPrototypeOf(state)).toBe(Object.prototype);
  });

  it('applies authorize to read and list', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(request({ environment: 'staging', params: { image: 'v1' } }));
    const asked: unknown[] = [];
    const deploys = createProjection(deploysByApp(), {
      store: s.store,
      readStore: s.readStore,
      authorize: (actor, action, target) => {
        asked.push([action, target]);
        return actor === 'admin' || target.environment === 'staging';
      },
    });
    await deploys.catchUp();
    await expect(deploys.read('production/web', { actor: 'bob' })).rejects.toThrow(
      AccessDeniedError,
    );
    expect(await deploys.read('production/web', { actor: 'admin' })).toMatchObject({ deploys: 1 });
    expect((await deploys.list({ actor: 'bob' })).items.map((d) => d.key)).toEqual(['staging/web']);
    expect(asked).toContainEqual([
      'projection:read',
      { environment: 'production', projection: { name: 'deploys-by-app', key: 'production/web' } },
    ]);
  });

  it('stops at the event a handler throws on, naming it, and commits nothing past it', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(request({ params: { image: 'v2', fail: 'unhealthy' } }));
    await s.run(request({ params: { image: 'v3' } }));
    const brittle = defineProjection({
      ...deploysByApp(),
      on: {
        ...deploysByApp().on,
        OperationFailed() {
          throw new Error('not ready for failures');
        },
      },
    });
    const projection = createProjection(brittle, { store: s.store, readStore: s.readStore });
    const error = await projection.catchUp().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProjectionHandlerError);
    const failed = error as ProjectionHandlerError;
    expect(failed.code).toBe('PROJECTION_HANDLER_FAILED');
    expect(failed.eventType).toBe('OperationFailed');
    expect(failed.stream).toBe('operation-op-000002');
    expect(failed.message).toContain('not ready for failures');
    // Everything before the event is committed, the event and everything after it is not.
    expect(await projection.checkpoint()).toBe(failed.position - 1n);
    expect(await projection.read('production/web')).toEqual({
      deploys: 2,
      failed: 0,
      failedSteps: [],
    });
    // Again: it stops at the same event.
    await expect(projection.catchUp()).rejects.toThrow(/not ready for failures/);
    expect(await projection.checkpoint()).toBe(failed.position - 1n);
  });

  it('live, too: a handler that throws stops it at that event, and start() resumes from there', async () => {
    const s = projectionSetup();
    let ready = false;
    const picky = defineProjection({
      ...deploysByApp(),
      on: {
        ...deploysByApp().on,
        OperationFailed(draft) {
          if (!ready) throw new Error('not yet');
          draft.failed += 1;
        },
      },
    });
    const projection = createProjection(picky, { store: s.store, readStore: s.readStore });
    await projection.start();
    await s.run(request({ params: { image: 'v1' } }));
    await s.run(request({ params: { image: 'v2', fail: 'unhealthy' } }));
    const error = await projection.waitFor(await s.store.headPosition()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProjectionHandlerError);
    const at = (error as ProjectionHandlerError).position;
    expect(await projection.checkpoint()).toBe(at - 1n);
    expect(await projection.read('production/web')).toMatchObject({ deploys: 2, failed: 0 });
    ready = true;
    await projection.start();
    await projection.waitFor(await s.store.headPosition());
    await projection.stop();
    expect(await projection.read('production/web')).toMatchObject({ deploys: 2, failed: 1 });
  });

  it('stops on a state that JSON cannot keep', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    const dated = defineProjection({
      name: 'dated',
      version: 1,
      keyOf: () => 'all',
      initialState: {} as { at?: unknown },
      on: {
        OperationStarted(draft) {
          draft.at = new Date(0);
        },
      },
    });
    const projection = createProjection(dated, { store: s.store, readStore: s.readStore });
    await expect(projection.catchUp()).rejects.toThrow(/holds a Date at state\.at/);
    expect(await projection.read('all')).toBeUndefined();
  });

  it('rebuilds on a new version, and no other projection', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    const readStore = s.readStore;
    await s.projector.catchUp();
    const builtIn = await s.readStore.checkpoint('operations');
    const v1 = createProjection(deploysByApp(1), { store: s.store, readStore });
    await v1.catchUp();
    // A v2 that counts differently: its documents are rebuilt from the first event.
    const v2def = defineProjection({
      ...deploysByApp(2),
      on: {
        OperationRequested(draft) {
          draft.deploys += 10;
        },
      },
    });
    const other = createProjection(defineProjection({ ...deploysByApp(), name: 'other' }), {
      store: s.store,
      readStore,
    });
    await other.catchUp();
    await createProjection(v2def, { store: s.store, readStore }).catchUp();
    expect(await readStore.projectionVersion('deploys-by-app')).toBe(2);
    expect(await v1.read('production/web')).toMatchObject({ deploys: 10 });
    expect(await other.read('production/web')).toMatchObject({ deploys: 1 });
    expect(await readStore.checkpoint('operations')).toBe(builtIn);
    expect((await s.reads.listOperations({ environment: 'production' })).total).toBe(1);
  });

  it('leaves user documents alone when the built-in read model is rebuilt', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    const deploys = createProjection(deploysByApp(), { store: s.store, readStore: s.readStore });
    await deploys.catchUp();
    await s.projector.rebuild();
    expect(await deploys.read('production/web')).toMatchObject({ deploys: 1 });
    expect(await deploys.lag()).toBe(0n);
  });

  it('changes nothing when a batch is delivered again', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    const readStore = createInMemoryReadStore();
    const deploys = createProjection(deploysByApp(), { store: s.store, readStore, batchSize: 2 });
    await deploys.catchUp();
    const before = await deploys.list();
    await deploys.catchUp();
    await deploys.start();
    await deploys.stop();
    expect(await deploys.list()).toEqual(before);
  });
});
