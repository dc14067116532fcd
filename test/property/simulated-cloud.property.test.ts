import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CloudRequestError,
  CloudServiceError,
  createSimulatedCloud,
  type CloudService,
  type CloudSnapshot,
  type ImageBehaviour,
  type SimulatedCloud,
  type TimelineEntry,
} from '../../src/adapters/infrastructure/index.js';
import { createVirtualClock } from '../../src/testing/index.js';

const RUNS = { numRuns: 200 };
const INSTANCES = ['i-1', 'i-2'] as const;
const CONTAINERS = ['c-1', 'c-2', 'c-3'] as const;
const VOLUMES = ['v-1', 'v-2'] as const;
const IMAGES = ['app:v1', 'app:v2'] as const;
const SERVICES: CloudService[] = [
  'compute',
  'object-storage',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];

type Command =
  | { kind: 'ensure' | 'terminate'; instance: string }
  | { kind: 'pull'; instance: string; image: string; registry: 'docker-hub' | 'quay' }
  | { kind: 'start'; container: string; instance: string; image: string; volume: string | null }
  | { kind: 'stop' | 'remove'; container: string }
  | { kind: 'createVolume' | 'resize'; volume: string; sizeGb: number }
  | { kind: 'attach'; volume: string; instance: string }
  | { kind: 'mount' | 'unmount' | 'detach' | 'deleteVolume'; volume: string }
  | { kind: 'createEndpoint' | 'deleteEndpoint' }
  | { kind: 'register'; container: string }
  | { kind: 'deregister'; container: string; drainMs: number }
  | { kind: 'createDatabase' | 'deleteDatabase'; volume: string }
  | { kind: 'put' | 'deleteObject'; key: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'crash'; instance: string; inMs: number }
  | { kind: 'respond'; image: string; responds: boolean };

const instance = fc.constantFrom(...INSTANCES);
const container = fc.constantFrom(...CONTAINERS);
const volume = fc.constantFrom(...VOLUMES);
const image = fc.constantFrom(...IMAGES);

/** Starts matching the bootstrap's placement, so that stopped things come back up often. */
const restartArb: fc.Arbitrary<Command> = fc.constantFrom<Command>(
  { kind: 'start', container: 'c-1', instance: 'i-1', image: 'app:v1', volume: null },
  { kind: 'start', container: 'c-2', instance: 'i-2', image: 'app:v2', volume: null },
  { kind: 'start', container: 'c-3', instance: 'i-1', image: 'app:v1', volume: 'v-1' },
  { kind: 'ensure', instance: 'i-1' },
  { kind: 'mount', volume: 'v-1' },
  { kind: 'respond', image: 'app:v1', responds: true },
  { kind: 'register', container: 'c-1' },
);

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: restartArb, weight: 8 },
  fc.record({ kind: fc.constantFrom('ensure' as const, 'terminate' as const), instance }),
  fc.record({
    kind: fc.constant('pull' as const),
    instance,
    image,
    registry: fc.constantFrom('docker-hub' as const, 'quay' as const),
  }),
  fc.record({
    kind: fc.constant('start' as const),
    container,
    instance,
    image,
    volume: fc.option(volume, { nil: null }),
  }),
  fc.record({ kind: fc.constantFrom('stop' as const, 'remove' as const), container }),
  fc.record({
    kind: fc.constantFrom('createVolume' as const, 'resize' as const),
    volume,
    sizeGb: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('attach' as const), volume, instance }),
  fc.record({
    kind: fc.constantFrom(
      'mount' as const,
      'unmount' as const,
      'detach' as const,
      'deleteVolume' as const,
    ),
    volume,
  }),
  fc.record({ kind: fc.constantFrom('createEndpoint' as const, 'deleteEndpoint' as const) }),
  fc.record({ kind: fc.constant('register' as const), container }),
  fc.record({
    kind: fc.constant('deregister' as const),
    container,
    drainMs: fc.constantFrom(0, 5_000, 15_000),
  }),
  fc.record({
    kind: fc.constantFrom('createDatabase' as const, 'deleteDatabase' as const),
    volume,
  }),
  fc.record({
    kind: fc.constantFrom('put' as const, 'deleteObject' as const),
    key: fc.constantFrom('a', 'b'),
  }),
  // Multiples of 100 ms, like the call durations, so that calls land on outage boundaries.
  fc.record({
    kind: fc.constant('advance' as const),
    ms: fc.integer({ min: 0, max: 300 }).map((n) => n * 100),
  }),
  fc.record({
    kind: fc.constant('crash' as const),
    instance,
    inMs: fc.integer({ min: 0, max: 20_000 }),
  }),
  fc.record({ kind: fc.constant('respond' as const), image, responds: fc.boolean() }),
);

/**
 * Random commands alone almost never bring an endpoint or a database up; this start does, so
 * the random part then exercises downtime, moves and crashes of live things.
 */
const BOOTSTRAP: Command[] = [
  { kind: 'ensure', instance: 'i-1' },
  { kind: 'ensure', instance: 'i-2' },
  { kind: 'pull', instance: 'i-1', image: 'app:v1', registry: 'quay' },
  { kind: 'pull', instance: 'i-2', image: 'app:v2', registry: 'docker-hub' },
  { kind: 'createVolume', volume: 'v-1', sizeGb: 2 },
  { kind: 'attach', volume: 'v-1', instance: 'i-1' },
  { kind: 'mount', volume: 'v-1' },
  { kind: 'createDatabase', volume: 'v-1' },
  { kind: 'start', container: 'c-3', instance: 'i-1', image: 'app:v1', volume: 'v-1' },
  { kind: 'createEndpoint' },
  { kind: 'start', container: 'c-1', instance: 'i-1', image: 'app:v1', volume: null },
  { kind: 'register', container: 'c-1' },
  // c-2 starts unregistered: a single serving target makes the endpoint go down and up often.
  { kind: 'start', container: 'c-2', instance: 'i-2', image: 'app:v2', volume: null },
];

const programArb = fc
  .tuple(fc.boolean(), fc.array(commandArb, { minLength: 1, maxLength: 40, size: 'max' }))
  .map(([bootstrap, commands]) => (bootstrap ? [...BOOTSTRAP, ...commands] : commands));

/** The service each command's call goes to, written independently of the implementation. */
const serviceOf = (command: Command): CloudService | null => {
  switch (command.kind) {
    case 'pull':
      return `registry:${command.registry}`;
    case 'createEndpoint':
    case 'deleteEndpoint':
    case 'register':
    case 'deregister':
      return 'load-balancer';
    case 'put':
    case 'deleteObject':
      return 'object-storage';
    case 'advance':
    case 'crash':
    case 'respond':
      return null;
    default:
      return 'compute';
  }
};

interface Outcome {
  command: Command;
  startedAt: number;
  /** 'ok', or the error code. */
  result: string;
}

/** Runs one command; returns its outcome. Only the cloud's typed errors are expected. */
const runCommand = async (
  cloud: SimulatedCloud,
  advance: (ms: number) => void,
  command: Command,
): Promise<Outcome> => {
  const startedAt = cloud.clock.now().getTime();
  const ep = 'ep';
  const db = (v: string) => `db-${v}`;
  const act = async (): Promise<unknown> => {
    switch (command.kind) {
      case 'ensure':
        return cloud.compute.ensureInstance({ instanceId: command.instance });
      case 'terminate':
        return cloud.compute.terminateInstance(command.instance);
      case 'pull':
        return cloud.containers.pullImage({
          instanceId: command.instance,
          image: command.image,
          registry: command.registry,
        });
      case 'start':
        return cloud.containers.startContainer({
          containerId: command.container,
          instanceId: command.instance,
          image: command.image,
          ...(command.volume ? { volumeId: command.volume } : {}),
        });
      case 'stop':
        return cloud.containers.stopContainer({ containerId: command.container });
      case 'remove':
        return cloud.containers.removeContainer(command.container);
      case 'createVolume':
        return cloud.volumes.createVolume({ volumeId: command.volume, sizeGb: command.sizeGb });
      case 'resize':
        return cloud.volumes.resizeVolume({ volumeId: command.volume, sizeGb: command.sizeGb });
      case 'attach':
        return cloud.volumes.attachVolume({
          volumeId: command.volume,
          instanceId: command.instance,
        });
      case 'mount':
        return cloud.volumes.mountVolume({ volumeId: command.volume });
      case 'unmount':
        return cloud.volumes.unmountVolume(command.volume);
      case 'detach':
        return cloud.volumes.detachVolume(command.volume);
      case 'deleteVolume':
        return cloud.volumes.deleteVolume(command.volume);
      case 'createEndpoint':
        return cloud.loadBalancer.createEndpoint({ endpointId: ep });
      case 'deleteEndpoint':
        return cloud.loadBalancer.deleteEndpoint(ep);
      case 'register':
        return cloud.loadBalancer.registerTarget({
          endpointId: ep,
          containerId: command.container,
        });
      case 'deregister':
        return cloud.loadBalancer.deregisterTarget({
          endpointId: ep,
          containerId: command.container,
          drainMs: command.drainMs,
        });
      case 'createDatabase':
        return cloud.databases.createDatabase({
          databaseId: db(command.volume),
          volumeId: command.volume,
        });
      case 'deleteDatabase':
        return cloud.databases.deleteDatabase(db(command.volume));
      case 'put':
        return cloud.objectStorage.putObject({ bucket: 'b', key: command.key, body: 'x' });
      case 'deleteObject':
        return cloud.objectStorage.deleteObject({ bucket: 'b', key: command.key });
      case 'advance':
        return advance(command.ms);
      case 'crash':
        return cloud.faults.crashInstance(command.instance, { at: startedAt + command.inMs });
      case 'respond':
        return cloud.setImageBehaviour(command.image, { responds: command.responds });
    }
  };
  try {
    await act();
    return { command, startedAt, result: 'ok' };
  } catch (error) {
    if (error instanceof CloudServiceError || error instanceof CloudRequestError) {
      return { command, startedAt, result: error.code };
    }
    throw error;
  }
};

const newCloud = (seed: number, images: Record<string, ImageBehaviour> = {}) => {
  const clock = createVirtualClock();
  return { clock, cloud: createSimulatedCloud({ seed, clock, images }) };
};

// --- independent oracles ------------------------------------------------------------------

const serves = (snap: CloudSnapshot, responding: Record<string, boolean>, id: string) => {
  const c = snap.containers[id];
  return (
    c !== undefined &&
    c.state === 'running' &&
    snap.instances[c.instanceId]?.state === 'available' &&
    responding[c.image] !== false
  );
};

const endpointUpIn = (snap: CloudSnapshot, responding: Record<string, boolean>) =>
  (snap.endpoints['ep']?.targets ?? []).some((id) => serves(snap, responding, id));

const databaseUpIn = (snap: CloudSnapshot, databaseId: string) => {
  const database = snap.databases[databaseId];
  const v = database && snap.volumes[database.volumeId];
  if (!v || !v.mounted || v.attachedTo === null) return false;
  return Object.values(snap.containers).some(
    (c) =>
      c.state === 'running' &&
      c.volumeId === v.id &&
      c.instanceId === v.attachedTo &&
      snap.instances[c.instanceId]?.state === 'available',
  );
};

/** Whether the timeline says the subject is up now: its last availability entry. */
const upPerTimeline = (timeline: TimelineEntry[], prefix: 'endpoint' | 'database', id: string) => {
  const last = timeline
    .filter((e) => e.subject === id && e.kind.startsWith(`${prefix}-`))
    .filter((e) => ['up', 'down', 'deleted'].includes(e.kind.slice(prefix.length + 1)))
    .at(-1);
  return last?.kind === `${prefix}-up`;
};

/** Downtime recomputed from the timeline: down -> up intervals, closed by deletion or now. */
const downtimeFromTimeline = (timeline: TimelineEntry[], prefix: string, now: number) => {
  const totals: Record<string, number> = {};
  const downSince = new Map<string, number>();
  for (const e of timeline) {
    const kind = e.kind.startsWith(`${prefix}-`) ? e.kind.slice(prefix.length + 1) : null;
    if (kind !== 'up' && kind !== 'down' && kind !== 'deleted') continue;
    totals[e.subject] ??= 0;
    const since = downSince.get(e.subject);
    if (since !== undefined && kind !== 'down') {
      totals[e.subject] = (totals[e.subject] ?? 0) + e.at - since;
      downSince.delete(e.subject);
    }
    if (kind === 'down') downSince.set(e.subject, e.at);
  }
  for (const [subject, since] of downSince) totals[subject] = (totals[subject] ?? 0) + now - since;
  return totals;
};

const nonZero = (totals: Record<string, number>) =>
  Object.fromEntries(Object.entries(totals).filter(([, ms]) => ms !== 0));

// --- properties ---------------------------------------------------------------------------

describe('simulated cloud properties', () => {
  it('a volume is never attached to two instances, never lost, and only used where mounted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), programArb, async (seed, program) => {
        const { clock, cloud } = newCloud(seed);
        cloud.faults.errorRate('compute', 0.1);
        const created = new Set<string>();
        for (const command of program) {
          const { result } = await runCommand(cloud, clock.advance, command);
          if (result === 'ok' && command.kind === 'createVolume') created.add(command.volume);
          if (result === 'ok' && command.kind === 'deleteVolume') created.delete(command.volume);
          const snap = cloud.snapshot();
          // Never lost: exactly the volumes created and not deleted exist, whatever crashed.
          expect(Object.keys(snap.volumes).sort()).toEqual([...created].sort());
          for (const v of Object.values(snap.volumes)) {
            if (v.attachedTo !== null) expect(snap.instances[v.attachedTo]).toBeDefined();
            if (v.mounted) expect(v.attachedTo).not.toBeNull();
            const users = Object.values(snap.containers).filter(
              (c) => c.state === 'running' && c.volumeId === v.id,
            );
            for (const user of users) {
              expect(v.attachedTo).toBe(user.instanceId);
              expect(v.mounted).toBe(true);
            }
          }
        }
        // Attachments alternate with detachments: never attached twice without a detach.
        const attachedTo = new Map<string, string>();
        for (const e of cloud.timeline()) {
          if (e.kind === 'volume-attached') {
            expect(attachedTo.has(e.subject)).toBe(false);
            attachedTo.set(e.subject, String(e.detail?.['instanceId']));
          }
          if (e.kind === 'volume-detached') {
            expect(attachedTo.get(e.subject)).toBe(e.detail?.['instanceId']);
            attachedTo.delete(e.subject);
          }
        }
      }),
      RUNS,
    );
  });

  it('availability on the timeline matches the state, and downtime equals the timeline', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), programArb, async (seed, program) => {
        const { clock, cloud } = newCloud(seed);
        const responding: Record<string, boolean> = {};
        let previousAt = -Infinity;
        for (const command of program) {
          await runCommand(cloud, clock.advance, command);
          if (command.kind === 'respond') responding[command.image] = command.responds;
          const snap = cloud.snapshot();
          const timeline = cloud.timeline();
          expect(upPerTimeline(timeline, 'endpoint', 'ep')).toBe(endpointUpIn(snap, responding));
          for (const v of VOLUMES) {
            const id = `db-${v}`;
            expect(upPerTimeline(timeline, 'database', id)).toBe(databaseUpIn(snap, id));
          }
          for (const e of timeline) {
            expect(e.at).toBeGreaterThanOrEqual(previousAt);
            previousAt = e.at;
          }
          previousAt = -Infinity;
        }
        const now = clock.now().getTime();
        const timeline = cloud.timeline();
        const { endpoints, databases } = cloud.downtime();
        expect(nonZero(endpoints)).toEqual(
          nonZero(downtimeFromTimeline(timeline, 'endpoint', now)),
        );
        expect(nonZero(databases)).toEqual(
          nonZero(downtimeFromTimeline(timeline, 'database', now)),
        );
      }),
      RUNS,
    );
  });

  it('outages fail exactly the calls to their service that start inside their window', async () => {
    const windowArb = fc.record({
      service: fc.constantFrom(...SERVICES),
      from: fc.integer({ min: 0, max: 200 }).map((n) => n * 1_000),
      length: fc.integer({ min: 1, max: 100 }).map((n) => n * 1_000),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.array(windowArb, { maxLength: 4 }),
        programArb,
        async (seed, windows, program) => {
          const { clock, cloud } = newCloud(seed);
          const t0 = clock.now().getTime();
          for (const w of windows) {
            cloud.faults.outage(w.service, { from: t0 + w.from, to: t0 + w.from + w.length });
          }
          for (const command of program) {
            const outcome = await runCommand(cloud, clock.advance, command);
            const service = serviceOf(command);
            const inWindow =
              service !== null &&
              windows.some(
                (w) =>
                  w.service === service &&
                  t0 + w.from <= outcome.startedAt &&
                  outcome.startedAt < t0 + w.from + w.length,
              );
            expect(outcome.result === 'OUTAGE').toBe(inWindow);
          }
        },
      ),
      RUNS,
    );
  });

  it('the same seed and program give the same run', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), programArb, async (seed, program) => {
        const run = async () => {
          const { clock, cloud } = newCloud(seed);
          for (const service of SERVICES) cloud.faults.errorRate(service, 0.3);
          const results: string[] = [];
          for (const command of program) {
            results.push((await runCommand(cloud, clock.advance, command)).result);
          }
          return { results, snapshot: cloud.snapshot(), timeline: cloud.timeline() };
        };
        const first = await run();
        expect(await run()).toEqual(first);
      }),
      RUNS,
    );
  });

  it('snapshots are deep copies that survive JSON and mutation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), programArb, async (seed, program) => {
        const { clock, cloud } = newCloud(seed);
        for (const command of program) await runCommand(cloud, clock.advance, command);
        const snapshot = cloud.snapshot();
        const json = JSON.stringify(snapshot);
        expect(JSON.parse(json)).toEqual(snapshot);
        // Vandalise every nested object of the copy: the cloud must not notice.
        const vandalise = (value: unknown): void => {
          if (Array.isArray(value)) {
            value.forEach(vandalise);
            value.push('x');
          } else if (value && typeof value === 'object') {
            const record = value as Record<string, unknown>;
            for (const key of Object.keys(record)) vandalise(record[key]);
            record['vandalised'] = true;
          }
        };
        vandalise(snapshot);
        expect(JSON.stringify(cloud.snapshot())).toBe(json);
      }),
      RUNS,
    );
  });
});
