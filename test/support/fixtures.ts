import { firstValueFrom, toArray } from 'rxjs';
import {
  createEngine,
  createInMemoryEventStore,
  type EngineOptions,
  type EventStore,
  type LogLine,
  type OperationHandle,
} from '../../src/index.js';
import {
  createSequentialIds,
  createVirtualClock,
  type VirtualClock,
} from '../../src/testing/index.js';

export const request = (overrides: Record<string, unknown> = {}) => ({
  type: 'deploy',
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: {},
  ...overrides,
});

export const setup = (
  operations: EngineOptions['operations'],
  options: { store?: EventStore; idPrefix?: string; clock?: VirtualClock } = {},
) => {
  const store = options.store ?? createInMemoryEventStore();
  const clock = options.clock ?? createVirtualClock();
  const engine = createEngine({
    store,
    operations,
    clock,
    ids: createSequentialIds(options.idPrefix ?? 'op-'),
  });
  return { store, clock, engine };
};

export const allLines = (handle: Pick<OperationHandle, 'logs'>): Promise<LogLine[]> =>
  firstValueFrom(handle.logs.pipe(toArray()));

export const messages = (lines: readonly LogLine[]) => lines.map((l) => l.message);

/** Resolves once `condition` holds, checking after each turn of the event loop. */
export const until = async (condition: () => boolean, turns = 10_000): Promise<void> => {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('condition never held');
};

export const eventTypes = async (store: EventStore, id: string) =>
  (await store.readStream(`operation-${id}`)).map((e) => e.type);
