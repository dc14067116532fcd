import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createEngine, createStore, OperationNotFoundError, type Stores } from '../../src/index.js';
import { createEventDecoder, decodeEvent } from '../../src/domain/event-codec.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  RESOURCE_SNAPSHOT_EVERY,
} from '../../src/domain/resource-queue.js';
import { resourceSnapshotStreamName, resourceStreamName } from '../../src/domain/stream-names.js';
import type { ResourceEvent } from '../../src/domain/events.js';
import { loadResourceQueue } from '../../src/engine/resource-queue-stream.js';
import { fillResourceHistory, pastOperationId } from '../../bench/lib/resource-history.js';
import { journalledDeploy, requestOrder, runOrder } from '../support/request-order.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const worker = join(import.meta.dirname, 'fixtures', 'request-order-worker.ts');
const WAIT_MS = 30_000;

interface Message {
  kind: string;
  [key: string]: unknown;
}

interface Worker {
  child: ChildProcess;
  messages: Message[];
  stderr: string;
  say(line: string): void;
  /** The first message of this kind; fails with the worker's stderr if it dies or stalls. */
  said(kind: string): Promise<Message>;
  kill(): void;
}

const spawnWorker = (args: string[]): Worker => {
  // Its own process group: tsx runs node in a child, and a kill must reach both.
  const child = spawn(tsx, [worker, ...args], {
    cwd: root,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const w: Worker = {
    child,
    messages: [],
    stderr: '',
    say: (line) => child.stdin?.write(`${line}\n`),
    said: async (kind) => {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const found = w.messages.find((m) => m.kind === kind);
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(`worker never said '${kind}': ${w.stderr}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    kill: () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    },
  };
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      w.messages.push(JSON.parse(buffer.slice(0, nl)) as Message);
      buffer = buffer.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (w.stderr += chunk.toString()));
  return w;
};

const withWorkers = async <T>(
  work: (spawnOne: (args: string[]) => Worker, journal: string) => Promise<T>,
): Promise<T> => {
  const dir = mkdtempSync(join(tmpdir(), 'opledger-request-order-'));
  const workers: Worker[] = [];
  try {
    return await work(
      (args) => {
        const w = spawnWorker(args);
        workers.push(w);
        return w;
      },
      join(dir, 'journal'),
    );
  } finally {
    for (const w of workers) w.kill();
    rmSync(dir, { recursive: true, force: true });
  }
};

const readJournal = (file: string) => readFileSync(file, 'utf8').trim().split('\n');

const PROCESSES = 3;
const PER_WAVE = 3;

/**
 * The checks of a race in which each of the `workers` placed two waves of PER_WAVE operations:
 * the store's request order holds every operation placed, every process read that same order
 * and saw all its operations succeed, they ran one at a time in that order, and every request
 * whose start() had resolved before another was called is ahead of it.
 */
const expectRanInRequestOrder = (
  workers: readonly Worker[],
  done: readonly Message[],
  order: readonly string[],
  journal: string,
) => {
  const waveOf = new Map<string, number>();
  for (const w of workers) {
    for (const m of w.messages.filter((m) => m.kind === 'placed')) {
      for (const id of m.ids as string[]) waveOf.set(id, m.wave as number);
    }
  }
  expect(order).toHaveLength(PROCESSES * PER_WAVE * 2);
  expect(new Set(order)).toEqual(new Set(waveOf.keys()));
  // Every process reads the same order from the store.
  for (const d of done) {
    expect(d.order).toEqual(order);
    expect(d.statuses).toEqual((d.statuses as string[]).map(() => 'succeeded'));
  }
  // They ran one at a time, in that order: nobody overtaken, nobody left behind.
  expect(runOrder(readJournal(journal), order)).toEqual(order);
  expect(order.map((id) => waveOf.get(id))).toEqual([...order].map((id) => waveOf.get(id)).sort());
};

/**
 * Three processes each start three operations on one resource at the same instant (told on
 * their stdin at once), then, once every one of those start() calls has resolved, three more
 * each. Checks the run order against the store's request order and a journal the steps write.
 */
export const raceAcrossProcesses = (url: string, handle: string) =>
  withWorkers(async (spawnOne, journal) => {
    const workers = Array.from({ length: PROCESSES }, () =>
      spawnOne([url, journal, handle, 'race']),
    );
    await Promise.all(workers.map((w) => w.said('ready')));
    for (const w of workers) w.say(`start ${PER_WAVE} 1`);
    await Promise.all(workers.map((w) => w.said('placed')));
    // Every start() of the first wave has resolved before any of the second is called.
    for (const w of workers) w.say(`start ${PER_WAVE} 2`);
    await Promise.all(
      workers.map(async (w) => {
        const deadline = Date.now() + WAIT_MS;
        while (w.messages.filter((m) => m.kind === 'placed').length < 2) {
          if (Date.now() > deadline) throw new Error(`second wave never placed: ${w.stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }),
    );
    for (const w of workers) w.say('finish');
    const done = await Promise.all(workers.map((w) => w.said('done')));

    const stores = await createStore(url);
    try {
      const order = await requestOrder(stores.eventStore, 'production', {
        type: 'app',
        handle,
      });
      expectRanInRequestOrder(workers, done, order, journal);
      // How far the order of the ids (each process's own clock) is from the request order.
      const byId = [...order].sort();
      console.log(
        `request order across ${PROCESSES} processes: ${order.filter((id, i) => byId[i] !== id).length} of ${order.length} places differ from the order of the ids`,
      );
    } finally {
      await stores.close();
    }
  });

const waitForPlaced = async (w: Worker, count: number) => {
  const deadline = Date.now() + WAIT_MS;
  while (w.messages.filter((m) => m.kind === 'placed').length < count) {
    if (Date.now() > deadline) throw new Error(`wave ${count} never placed: ${w.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `signal` to a worker's process group (tsx and the node it runs). */
const signalWorker = (w: Worker, signal: NodeJS.Signals) =>
  process.kill(-(w.child.pid ?? 0), signal);

/**
 * raceAcrossProcesses with one process paused (SIGSTOP) as soon as one of its operations has
 * begun its step, so that it holds the resource: the other two start their second wave while
 * it is stopped, and it is resumed (SIGCONT) after. Its engine knew the queue as it was before
 * the pause (its own appends were the last ones then) and appends its release at that
 * revision, which the store refuses, then decides on a read. Every operation is started and
 * finished once in the queue, one at a time, in the store's request order. (What a refusal
 * prevents, a claim or a release appended on a stale state, is shown by the race tests of
 * test/unit/resource-queue-known.test.ts: here the stale state always has a holder, on which
 * no claim is tried without a read, and a blind release appends the same event.)
 */
export const pauseMidRace = (url: string, handle: string) =>
  withWorkers(async (spawnOne, journal) => {
    const workers = Array.from({ length: PROCESSES }, () =>
      spawnOne([url, journal, handle, 'race']),
    );
    const [paused, ...others] = workers as [Worker, ...Worker[]];
    await Promise.all(workers.map((w) => w.said('ready')));
    for (const w of workers) w.say(`start ${PER_WAVE} 1`);
    await Promise.all(workers.map((w) => w.said('placed')));
    const pausedIds = new Set((await paused.said('placed')).ids as string[]);
    const holding = () =>
      existsSync(journal) &&
      readJournal(journal).some((line) => {
        const [what, id] = line.split(' ');
        return what === 'start' && pausedIds.has(id!);
      });
    const deadline = Date.now() + WAIT_MS;
    while (!holding()) {
      if (Date.now() > deadline) throw new Error(`the paused process never ran: ${paused.stderr}`);
      await sleep(1);
    }
    signalWorker(paused, 'SIGSTOP');
    let placedWhilePaused: boolean;
    try {
      for (const w of others) w.say(`start ${PER_WAVE} 2`);
      // Bounded: a process stopped inside a write transaction holds the store's write lock,
      // and the others' places then land after it is resumed.
      const until = Date.now() + 2_000;
      while (others.some((w) => w.messages.filter((m) => m.kind === 'placed').length < 2)) {
        if (Date.now() > until) break;
        await sleep(10);
      }
      placedWhilePaused = others.every(
        (w) => w.messages.filter((m) => m.kind === 'placed').length === 2,
      );
      await sleep(300);
    } finally {
      signalWorker(paused, 'SIGCONT');
    }
    await Promise.all(others.map((w) => waitForPlaced(w, 2)));
    paused.say(`start ${PER_WAVE} 2`);
    await waitForPlaced(paused, 2);
    for (const w of workers) w.say('finish');
    const done = await Promise.all(workers.map((w) => w.said('done')));

    const stores = await createStore(url);
    try {
      const resource = { type: 'app', handle };
      const order = await requestOrder(stores.eventStore, 'production', resource);
      expectRanInRequestOrder(workers, done, order, journal);
      // One claim and one release an operation: no claim made twice on a stale state, and no
      // second Finished from a release decided before the pause.
      const events = await stores.eventStore.readStream(resourceStreamName('production', resource));
      for (const type of ['ResourceOperationStarted', 'ResourceOperationFinished']) {
        const ids = events
          .filter((e) => e.type === type)
          .map((e) => (e.data as { operationId: string }).operationId);
        expect([...ids].sort()).toEqual([...order].sort());
      }
      expect(await queueOf(stores, handle)).toEqual({ waiting: [] });
      console.log(
        `a process paused holding the resource: the others' second wave was placed ${placedWhilePaused ? 'while it was stopped' : 'after it was resumed (it was stopped inside a write)'}`,
      );
    } finally {
      await stores.close();
    }
  });

const PAST = 1_000;

/**
 * The race of raceAcrossProcesses on a resource with a past, across snapshots: the store
 * holds 1,000 past operations written as the version before snapshots wrote them (no
 * snapshot). Three new processes race three requests each at one instant: they all fold the
 * whole stream (the one-time upgrade) and race to write the first snapshot. Three more new
 * processes, which start from that snapshot, then race with the first three, three requests
 * each, at one instant, while further snapshots are written under them.
 */
export const raceAcrossSnapshots = (url: string, handle: string) =>
  withWorkers(async (spawnOne, journal) => {
    const resource = { type: 'app', handle };
    const stream = resourceStreamName('production', resource);
    const stores = await createStore(url);
    try {
      await fillResourceHistory(stores.eventStore, stream, PAST);
      const first = Array.from({ length: PROCESSES }, () =>
        spawnOne([url, journal, handle, 'race']),
      );
      await Promise.all(first.map((w) => w.said('ready')));
      for (const w of first) w.say(`start ${PER_WAVE} 1`);
      await Promise.all(first.map((w) => w.said('placed')));
      // Their operations fold the queue once they are placed: the second three start once the
      // first snapshot is there, so that they read it.
      const deadline = Date.now() + WAIT_MS;
      let snapshotsAfterUpgrade = 0;
      while (snapshotsAfterUpgrade === 0) {
        if (Date.now() > deadline) throw new Error('no snapshot was written');
        await new Promise((resolve) => setTimeout(resolve, 10));
        snapshotsAfterUpgrade = (
          await stores.eventStore.readStream(resourceSnapshotStreamName(stream))
        ).length;
      }

      const second = Array.from({ length: PROCESSES }, () =>
        spawnOne([url, journal, handle, 'race']),
      );
      await Promise.all(second.map((w) => w.said('ready')));
      const all = [...first, ...second];
      for (const w of all) w.say(`start ${PER_WAVE} 2`);
      await Promise.all([
        ...first.map((w) => waitForPlaced(w, 2)),
        ...second.map((w) => waitForPlaced(w, 1)),
      ]);
      for (const w of all) w.say('finish');
      const done = await Promise.all(all.map((w) => w.said('done')));

      const order = await requestOrder(stores.eventStore, 'production', resource);
      expect(order.slice(0, PAST)).toEqual(
        Array.from({ length: PAST }, (_, i) => pastOperationId(i)),
      );
      const raced = order.slice(PAST);
      const waveOf = new Map<string, number>();
      for (const w of all) {
        for (const m of w.messages.filter((m) => m.kind === 'placed')) {
          for (const id of m.ids as string[]) waveOf.set(id, m.wave as number);
        }
      }
      expect(raced).toHaveLength(PROCESSES * PER_WAVE * 3);
      expect(new Set(raced)).toEqual(new Set(waveOf.keys()));
      for (const d of done) {
        expect(d.order).toEqual(order);
        expect(d.statuses).toEqual((d.statuses as string[]).map(() => 'succeeded'));
      }
      // One at a time, in the store's order, the first wave before the second.
      expect(runOrder(readJournal(journal), raced)).toEqual(raced);
      expect(raced.map((id) => waveOf.get(id))).toEqual(
        [...raced].map((id) => waveOf.get(id)).sort(),
      );

      // Snapshots were written during the race too, each the full fold at its revision.
      const snapshots = await stores.eventStore.readStream(resourceSnapshotStreamName(stream));
      expect(snapshots.length).toBeGreaterThan(snapshotsAfterUpgrade);
      const events = await stores.eventStore.readStream(stream);
      let previous = -1n;
      for (const r of snapshots) {
        const snapshot = decodeEvent(r);
        if (snapshot.type !== 'ResourceQueueSnapshotted') throw new Error(snapshot.type);
        const upTo = BigInt(snapshot.data.upTo);
        expect(upTo - previous).toBeGreaterThanOrEqual(RESOURCE_SNAPSHOT_EVERY);
        let state = initialResourceQueue();
        for (const e of events.slice(0, Number(upTo) + 1)) {
          state = evolveResourceQueue(state, decodeEvent(e) as ResourceEvent);
        }
        expect(evolveResourceQueue(initialResourceQueue(), snapshot)).toEqual(state);
        previous = upTo;
      }
      const fresh = await loadResourceQueue(stores.eventStore, createEventDecoder(), stream);
      expect(fresh.state).toEqual({ waiting: [] });
      expect(fresh.revision).toBe(BigInt(events.length - 1));
    } finally {
      await stores.close();
    }
  });

const queueOf = async (stores: Stores, handle: string) => {
  let state = initialResourceQueue();
  const stream = resourceStreamName('production', { type: 'app', handle });
  for (const e of await stores.eventStore.readStream(stream)) {
    state = evolveResourceQueue(state, { type: e.type, data: e.data } as ResourceEvent);
  }
  return state;
};

/**
 * Processes are killed (SIGKILL) between the two writes of a start() on a store without
 * appendToStreams (the worker hides it: SQLite and PostgreSQL write both in one commit): their
 * places are taken, their operations not written. A retry of an idempotency key keeps its
 * place; recover() drops the other one, and the operations behind it run.
 */
export const killBetweenWrites = (url: string, handle: string) =>
  withWorkers(async (spawnOne, journal) => {
    const dieBetween = async (key: string) => {
      const w = spawnOne([url, journal, handle, 'die-between', key]);
      const { id } = await w.said('between');
      w.kill();
      await new Promise((resolve) => w.child.once('exit', resolve));
      return id as string;
    };
    const stores = await createStore(url);
    try {
      const engine = createEngine({
        store: stores.eventStore,
        operations: [journalledDeploy(journal, 5)],
      });
      const request = (idempotencyKey?: string) => ({
        type: 'deploy',
        environment: 'production',
        resource: { type: 'app', handle },
        user: 'bob@example.com',
        ...(idempotencyKey ? { idempotencyKey } : {}),
      });

      // Two processes die there at once; only the first one's request is retried.
      const [dead, abandoned] = await Promise.all([dieBetween('first'), dieBetween('second')]);
      for (const id of [dead, abandoned]) {
        await expect(engine.getOperation(id)).rejects.toBeInstanceOf(OperationNotFoundError);
      }
      const later = await engine.start(request());
      const retried = await engine.start(request('first'));
      expect(retried.id).toBe(dead);
      // The process that died is gone: its place that nobody retried is dropped, and the two
      // operations of this engine are left alone.
      expect(await engine.recover()).toEqual([]);
      await Promise.all([later.result, retried.result]);
      await expect(engine.getOperation(abandoned)).rejects.toBeInstanceOf(OperationNotFoundError);

      const order = await requestOrder(stores.eventStore, 'production', { type: 'app', handle });
      expect(order.slice(2)).toEqual([later.id]);
      expect(new Set(order.slice(0, 2))).toEqual(new Set([dead, abandoned]));
      // The retried request ran in the place it took before the later one.
      expect(runOrder(readJournal(journal), order)).toEqual([dead, later.id]);
      expect(await queueOf(stores, handle)).toEqual({ waiting: [] });
    } finally {
      await stores.close();
    }
  });
