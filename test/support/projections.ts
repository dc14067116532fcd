import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
  type Authorize,
  type EventStore,
} from '../../src/index.js';
import { createProjector, createReadModel } from '../../src/projections/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';

/** A small catalog for projection tests: deploys with releases, provisions and deprovisions. */
export const catalog = (hold?: { entered: boolean; until: Promise<void> }) => {
  const deploy = defineOperation<{ image: string; fail?: string }>({
    type: 'deploy',
    release: ({ params }) => params.image,
    steps: [
      step({ name: 'start', run: () => ({ ok: true }), undo: () => undefined }),
      step({
        name: 'health check',
        kind: 'no_side_effects',
        run: ({ params }) => {
          if (params.fail) throw new Error(params.fail);
        },
      }),
    ],
  });
  const provision = defineOperation({
    type: 'provision',
    lifecycle: 'provision',
    steps: [step({ name: 'create', run: () => undefined, undo: () => undefined })],
  });
  const deprovision = defineOperation({
    type: 'deprovision',
    lifecycle: 'deprovision',
    steps: [step({ name: 'delete', kind: 'irreversible', run: () => undefined })],
  });
  // A restart that waits for the test to let it finish: an operation caught while running.
  const restart = defineOperation({
    type: 'restart',
    steps: [
      step({
        name: 'restart containers',
        kind: 'no_side_effects',
        run: async ({ log }) => {
          log('restarting');
          if (hold) {
            hold.entered = true;
            await hold.until;
          }
        },
      }),
    ],
  });
  return [deploy, provision, deprovision, restart];
};

export const projectionSetup = (
  options: { store?: EventStore; authorize?: Authorize; start?: string } = {},
) => {
  let release!: () => void;
  const hold = { entered: false, until: new Promise<void>((r) => (release = r)) };
  const store = options.store ?? createInMemoryEventStore();
  const clock = createVirtualClock(options.start ?? '2026-03-02T09:00:00.000Z');
  const engine = createEngine({
    store,
    operations: catalog(hold),
    clock,
    ids: createSequentialIds(),
    ...(options.authorize ? { authorize: options.authorize } : {}),
  });
  const readStore = createInMemoryReadStore();
  const projector = createProjector({ store, readStore });
  const reads = createReadModel({
    readStore,
    clock,
    ...(options.authorize ? { authorize: options.authorize } : {}),
  });
  const run = async (req: Record<string, unknown>) => (await engine.start(req as never)).result;
  const settle = async () => projector.waitFor(await store.headPosition());
  return { store, clock, engine, readStore, projector, reads, run, settle, hold, release };
};
