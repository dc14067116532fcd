/**
 * The outage matrix of issue 20 on a real PostgreSQL, on a cluster of this file's own (the shared
 * one of the run must stay up for the other files): operations run through a TCP fault proxy
 * while the server is stopped (as `pg_ctl stop -m fast` does) and started again at seeded random
 * points, and while the proxy resets connections in the middle of a query, in the middle of a
 * commit, and after a commit (its answer lost). Every operation must end as it would have without
 * them (or in a clean rollback), with its side effects (journalled outside the store, in SQLite)
 * fully applied or fully undone, its log and its events those of the same run on a store that
 * never failed (plus the outage lines), and the read model built during the run equal to a
 * rebuild.
 *
 * By default (CI): 10 operations, outages of 1 s and 2 s, a partition of 1 s (connections reset
 * and refused), two resets of each kind. With OPLEDGER_OUTAGE_LONG=1 (`npm run test:outage`): 50
 * operations, outages of 1 s, 5 s and 30 s, partitions of 1 s and 5 s, five resets of each kind.
 * The seed is printed; OPLEDGER_OUTAGE_SEED=N replays a run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { withStoreOutageRetry } from '../../src/engine/index.js';
import {
  ConcurrencyError,
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
  StoreUnavailableError,
  type EventStore,
  type OperationResult,
  type RecordedEvent,
} from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { openEffects, type Effects } from './fixtures/chaos-effects.js';
import { allLines, messages, request } from '../support/fixtures.js';
import { startCluster, type Cluster } from '../support/postgres-cluster.js';
import { dumpReadStore } from '../support/read-store-dump.js';
import { startProxyTo, urlVia } from '../support/postgres-fault-proxy.js';
import type { FaultProxy, RequestFault } from '../support/tcp-fault-proxy.js';

const LONG = process.env.OPLEDGER_OUTAGE_LONG === '1';
const SEED = Number(process.env.OPLEDGER_OUTAGE_SEED ?? Date.now() % 2 ** 31);
const MATRIX = LONG
  ? {
      operations: 50,
      concurrency: 5,
      outagesMs: [1_000, 5_000, 30_000],
      refusalsMs: [1_000, 5_000],
      resetsOfEachKind: 5,
    }
  : {
      operations: 10,
      concurrency: 5,
      outagesMs: [1_000, 2_000],
      refusalsMs: [1_000],
      resetsOfEachKind: 2,
    };
const STEPS = ['pull', 'start', 'switch'] as const;
const STEP_MS = 150;
const OUTAGE_LINE = /^the event store was unreachable for \d+\.\d s; went on$/;

const debug = (...args: unknown[]) => {
  if (process.env.OPLEDGER_OUTAGE_DEBUG) console.log(new Date().toISOString(), ...args);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a small seeded generator, so that a failing run can be replayed from its seed. */
const seeded = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** A fault at one point of one operation: as step `step` runs, or as it returns. */
type Fault =
  | { kind: 'outage'; ms: number }
  // A partition: every open connection reset, new ones refused, for `ms`.
  | { kind: 'refuse'; ms: number }
  | { kind: 'reset'; fault: RequestFault; on: 'any_query' | 'its_commit' };
type Point = `${number}/${(typeof STEPS)[number]}/${'during' | 'returning'}`;

let cluster: Cluster;
let proxy: FaultProxy;
let folder: string;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  cluster = await startCluster();
  proxy = await startProxyTo(cluster.url);
  folder = mkdtempSync(join(tmpdir(), 'opledger-outage-matrix-'));
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  await proxy?.close();
  await cluster?.stop();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

const viaProxy = () => urlVia(cluster.url, proxy.port);

const newStore = (url: string, schema: string) => {
  const store = createPostgresEventStore({ connectionString: url }, { schema });
  closers.push(() => store.close());
  return store;
};

/** Stops the server now and starts it again after `ms`; outages never overlap. */
let outages: Promise<void> = Promise.resolve();
const outage = (ms: number): Promise<void> =>
  (outages = outages.then(async () => {
    await cluster.down();
    await sleep(ms);
    await cluster.up();
  }));

/** Resets every connection and refuses new ones for `ms`, as a partition does; never overlapping. */
let refusals: Promise<void> = Promise.resolve();
const refusal = (ms: number): Promise<void> =>
  (refusals = refusals.then(async () => {
    proxy.reset();
    await sleep(ms);
    await proxy.restore();
  }));

/**
 * Three undoable steps whose effects are journalled in `effects`; `params.fail` names a step that
 * throws before doing anything (the operation then rolls back); `at` is told of each point.
 */
const deployWith = (effects: Effects | undefined, at: (point: Point, id: string) => void) =>
  defineOperation<{ n: number; fail?: string }>({
    type: 'deploy',
    steps: STEPS.map((name) =>
      step({
        name,
        run: async ({ operationId, params, fence }) => {
          if (params.fail === name) throw new Error(`${name} failed`);
          const w = { op: operationId, resource: `app-${params.n}`, step: name, pid: 0 };
          await effects?.write({ ...w, worker: 'engine', fence, kind: 'start' });
          at(`${params.n}/${name}/during`, operationId);
          await sleep(STEP_MS);
          at(`${params.n}/${name}/returning`, operationId);
          return { done: name };
        },
        undo: async ({ operationId, params, fence }) => {
          const w = { op: operationId, resource: `app-${params.n}`, step: name, pid: 0 };
          await effects?.write({ ...w, worker: 'engine', fence, kind: 'undo' });
        },
      }),
    ),
  });

/** What the operation's log and events are when the store never fails. */
const reference = async (params: { n: number; fail?: string }) => {
  const engine = createEngine({
    store: createInMemoryEventStore(),
    operations: [deployWith(undefined, () => undefined)],
  });
  const handle = await engine.start(
    request({ resource: { type: 'app', handle: `app-${params.n}` }, params }),
  );
  const result = await handle.result;
  const lines = messages(await allLines(handle));
  await engine.shutdown();
  return { result, lines };
};

const isOutageLine = (e: RecordedEvent) =>
  e.type === 'LogWritten' && OUTAGE_LINE.test((e.data as { message: string }).message);

describe('the outage matrix on PostgreSQL', () => {
  it(
    `${MATRIX.operations} operations through outages of ${MATRIX.outagesMs.map((ms) => ms / 1000).join(', ')} s, partitions, and resets in queries and commits`,
    async () => {
      console.log(
        `outage matrix: seed ${SEED} (replay with OPLEDGER_OUTAGE_SEED=${SEED}), ${JSON.stringify(MATRIX)}`,
      );
      const random = seeded(SEED);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const schema = `matrix_${randomBytes(4).toString('hex')}`;
      const effects = await openEffects(join(folder, `effects-${schema}.db`));
      closers.push(() => effects.close());

      // The plan: which operations fail by themselves, and the faults, at distinct points.
      const fails = Array.from({ length: MATRIX.operations }, () =>
        random() < 0.3 ? pick(STEPS) : undefined,
      );
      const plan = new Map<Point, Fault>();
      const place = (fault: Fault) => {
        for (;;) {
          const n = Math.floor(random() * MATRIX.operations);
          const name = pick(STEPS);
          // A step that fails by itself never runs its body: no point there, nor after it.
          if (fails[n] !== undefined && STEPS.indexOf(name) >= STEPS.indexOf(fails[n]!)) continue;
          const point: Point = `${n}/${name}/${random() < 0.5 ? 'during' : 'returning'}`;
          if (plan.has(point)) continue;
          plan.set(point, fault);
          return;
        }
      };
      for (const ms of MATRIX.outagesMs) place({ kind: 'outage', ms });
      for (const ms of MATRIX.refusalsMs) place({ kind: 'refuse', ms });
      for (let i = 0; i < MATRIX.resetsOfEachKind; i++) {
        place({ kind: 'reset', fault: 'reset_after', on: 'any_query' });
        place({ kind: 'reset', fault: 'reset_before', on: 'its_commit' });
        place({ kind: 'reset', fault: 'reset_after', on: 'its_commit' });
        place({ kind: 'reset', fault: 'lose_answer', on: 'its_commit' });
      }
      console.log(`outage matrix plan: ${JSON.stringify([...plan])}`);

      const applied: Array<{ point: Point; fault: Fault; done: Promise<unknown> }> = [];
      const at = (point: Point, id: string) => {
        const fault = plan.get(point);
        if (!fault) return;
        const done =
          fault.kind === 'outage'
            ? outage(fault.ms)
            : fault.kind === 'refuse'
              ? refusal(fault.ms)
              : proxy.onNextRequest(
                  fault.fault,
                  // Its commit: the append of this step's outcome (StepSucceeded), which follows.
                  fault.on === 'its_commit' ? [`operation-${id}`, 'StepSucceeded'] : undefined,
                );
        debug('armed', point, fault);
        void done.then(() => debug('applied', point));
        applied.push({ point, fault, done });
      };

      const store = newStore(viaProxy(), schema);
      const engine = createEngine({ store, operations: [deployWith(effects, at)] });
      closers.push(() => engine.shutdown());

      // The read model, caught up again and again during the run through its own connections,
      // riding out the same outages.
      const readStore = createInMemoryReadStore();
      const projector = createProjector({
        store: withStoreOutageRetry(newStore(cluster.url, schema)),
        readStore,
      });
      let running = true;
      const projecting = (async () => {
        while (running) {
          await projector.catchUp();
          await sleep(200);
        }
      })();
      // Awaited below; marked handled so that a failure before then reports only itself.
      projecting.catch(() => undefined);

      const ids: string[] = [];
      const results: Array<OperationResult | unknown> = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: MATRIX.concurrency }, async () => {
          for (let n = next++; n < MATRIX.operations; n = next++) {
            const fail = fails[n];
            const handle = await engine.start(
              request({
                resource: { type: 'app', handle: `app-${n}` },
                params: { n, ...(fail ? { fail } : {}) },
              }),
            );
            ids[n] = handle.id;
            results[n] = await handle.result.catch((error: unknown) => error);
            debug('ended', n, handle.id, results[n]);
          }
        }),
      );
      await outages;
      await refusals;
      // Every fault planned was met, and did what it says.
      expect(applied.map((a) => a.point).sort()).toEqual([...plan.keys()].sort());
      const met = new Set<Point>();
      for (const a of applied) void a.done.then(() => met.add(a.point));
      await Promise.race([Promise.all(applied.map((a) => a.done)), sleep(10_000)]);
      expect([...met].sort()).toEqual([...plan.keys()].sort());
      running = false;
      await projecting;

      let outageLines = 0;
      const journal = await effects.journal();
      const inPlace = await effects.inPlace();
      for (let n = 0; n < MATRIX.operations; n++) {
        const id = ids[n]!;
        const expected = await reference({ n, ...(fails[n] ? { fail: fails[n] } : {}) });
        const result = results[n] as OperationResult;
        // As without the outage; a clean rollback would also do, but none is expected here.
        expect(result.status, `operation ${n} (${id})`).toBe(expected.result.status);
        expect(result.rollback).toBe(expected.result.rollback);

        // The log, less the outage lines, is the reference's: nothing missing, nothing twice.
        const lines = messages(await allLines({ logs: engine.logs(id) }));
        outageLines += lines.filter((l) => OUTAGE_LINE.test(l)).length;
        expect(
          lines.filter((l) => !OUTAGE_LINE.test(l)),
          `log of operation ${n}`,
        ).toEqual(expected.lines);
        // And no event appended twice: one outcome per step that ran.
        const stored = await store.readStream(`operation-${id}`);
        expect(stored.map((e) => e.streamRevision)).toEqual(stored.map((_, i) => BigInt(i)));
        const events = stored.filter((e) => !isOutageLine(e));
        const failedAt = fails[n] ? STEPS.indexOf(fails[n]!) : STEPS.length;
        STEPS.forEach((name, i) => {
          const of = (type: string) =>
            events.filter((e) => e.type === type && (e.data as { step?: string }).step === name)
              .length;
          expect(of('StepStarted'), `${name} of operation ${n}`).toBe(i <= failedAt ? 1 : 0);
          expect(of('StepSucceeded'), `${name} of operation ${n}`).toBe(i < failedAt ? 1 : 0);
          expect(of('StepUndone'), `${name} of operation ${n}`).toBe(
            i < failedAt && result.status !== 'succeeded' ? 1 : 0,
          );
        });

        // Side effects fully applied (succeeded) or fully undone (rolled back), each once.
        const ran = STEPS.slice(0, failedAt);
        const writes = journal.filter((w) => w.op === id);
        expect(writes.filter((w) => w.kind === 'start').map((w) => w.step)).toEqual(ran);
        expect(writes.filter((w) => w.kind === 'undo').map((w) => w.step)).toEqual(
          result.status === 'succeeded' ? [] : [...ran].reverse(),
        );
        expect(
          inPlace
            .filter((e) => e.op === id)
            .map((e) => e.step)
            .sort(),
        ).toEqual(result.status === 'succeeded' ? [...ran].sort() : []);
      }

      // The outages held operations up in the middle of their runs, and their logs say so.
      expect(outageLines).toBeGreaterThan(0);

      // The read model built during the run is the one a rebuild gives.
      await projector.catchUp();
      const live = await dumpReadStore(readStore, ['production']);
      const rebuilt = createInMemoryReadStore();
      await createProjector({ store: newStore(cluster.url, schema), readStore: rebuilt }).rebuild();
      expect(live).toEqual(await dumpReadStore(rebuilt, ['production']));
      await engine.shutdown();
    },
    LONG ? 900_000 : 120_000,
  );

  it('a commit whose answer was lost (dropped after the server committed) is not appended twice', async () => {
    const schema = `matrix_${randomBytes(4).toString('hex')}`;
    const raw = newStore(viaProxy(), schema);
    // What the store itself answered to each append of the operation's stream.
    const answers: string[] = [];
    const spied: EventStore = {
      ...raw,
      append: (stream, ...rest) =>
        raw.append(stream, ...rest).then(
          (result) => {
            answers.push(`ok ${stream}`);
            return result;
          },
          (error: unknown) => {
            answers.push(`${error instanceof ConcurrencyError ? 'conflict' : 'lost'} ${stream}`);
            throw error;
          },
        ),
    };
    let lost: Promise<string> | undefined;
    const deploy = deployWith(undefined, (point, id) => {
      if (point === '0/start/returning') {
        lost = proxy.onNextRequest('lose_answer', [`operation-${id}`, 'StepSucceeded']);
      }
    });
    const engine = createEngine({ store: spied, operations: [deploy] });
    const handle = await engine.start(
      request({ resource: { type: 'app', handle: 'app-0' }, params: { n: 0 } }),
    );
    const result = await handle.result;
    expect(result.status).toBe('succeeded');
    // The request whose answer was lost carried the StepSucceeded of 'start'.
    expect(await lost).toContain('StepSucceeded');
    const stream = `operation-${handle.id}`;
    // Its answer lost, the append was tried again and refused at its revision: the first attempt
    // had been committed. The engine found its own events there and went on.
    const mine = answers.filter((a) => a.endsWith(stream)).map((a) => a.split(' ')[0]);
    expect(mine.filter((a) => a !== 'ok')).toEqual(['lost', 'conflict']);
    const events = await newStore(cluster.url, schema).readStream(stream);
    const succeeded = events.filter((e) => e.type === 'StepSucceeded');
    expect(succeeded.map((e) => (e.data as { step: string }).step)).toEqual([...STEPS]);
    const expected = await reference({ n: 0 });
    expect(messages(await allLines(handle)).filter((l) => !OUTAGE_LINE.test(l))).toEqual(
      expected.lines,
    );
    await engine.shutdown();
  }, 60_000);

  it('an outage past the budget: StoreUnavailableError for each operation, and recover() undoes every effect', async () => {
    const schema = `matrix_${randomBytes(4).toString('hex')}`;
    const effects = await openEffects(join(folder, `effects-${schema}.db`));
    closers.push(() => effects.close());
    let down: Promise<void> | undefined;
    const deploy = deployWith(effects, (point) => {
      if (point.endsWith('/start/during')) down ??= outage(4_000);
    });
    const engine = createEngine({
      store: newStore(viaProxy(), schema),
      operations: [deploy],
      storeOutage: { maxMs: 1_500 },
    });
    const handles = await Promise.all(
      [0, 1, 2].map((n) =>
        engine.start(request({ resource: { type: 'app', handle: `app-${n}` }, params: { n } })),
      ),
    );
    const errors = await Promise.all(handles.map((h) => h.result.catch((e: unknown) => e)));
    for (const error of errors) {
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    }
    await down;
    await engine.shutdown();

    const other = createEngine({ store: newStore(cluster.url, schema), operations: [deploy] });
    const recovered = await other.recover();
    expect(recovered.map((r) => r.id).sort()).toEqual(handles.map((h) => h.id).sort());
    for (const r of recovered) expect(r).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    const ids = new Set(handles.map((h) => h.id));
    expect((await effects.inPlace()).filter((e) => ids.has(e.op))).toEqual([]);
    await other.shutdown();
  }, 60_000);
});
