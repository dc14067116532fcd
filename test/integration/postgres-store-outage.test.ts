/**
 * A real PostgreSQL server stopped (as `pg_ctl stop -m fast` does) in the middle of a step, on a
 * cluster of this file's own: the shared one of the run must stay up for the other files.
 *
 * OPLEDGER_OUTAGE_LONG=1 (npm run test:outage) also runs a 30 s outage over several operations
 * at once; OPLEDGER_OUTAGE_SECONDS changes the length of the short one (5 s by default).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresEventStore,
  isTransientPostgresError,
} from '../../src/adapters/postgres/index.js';
import {
  ConcurrencyError,
  createEngine,
  defineOperation,
  step,
  StoreUnavailableError,
  type EventStore,
  type StoreOutageNotice,
  type UndoContext,
} from '../../src/index.js';
import { withStoreOutageRetry } from '../../src/engine/index.js';
import { allLines, messages, request } from '../support/fixtures.js';
import { startCluster, type Cluster } from '../support/postgres-cluster.js';
import { recordingAnswers } from '../support/outage-store.js';
import { startProxyTo, urlVia } from '../support/postgres-fault-proxy.js';

const OUTAGE_MS = Number(process.env.OPLEDGER_OUTAGE_SECONDS ?? 5) * 1000;
const LONG = process.env.OPLEDGER_OUTAGE_LONG === '1';
const STEP_MS = 1_500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster;
const stores: EventStore[] = [];

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await cluster?.stop();
});

const newStore = (schema: string) => {
  const store = createPostgresEventStore({ connectionString: cluster.url }, { schema });
  stores.push(store);
  return store;
};

/** Four 1.5 s undoable steps, as in the issue; `during` is called as the second one starts. */
const deployWith = (during: () => void) => {
  const runs: string[] = [];
  const undos: Array<{ step: string; outcome: UndoContext['outcome'] }> = [];
  const make = (name: string, act?: () => void) =>
    step({
      name,
      run: async () => {
        runs.push(name);
        act?.();
        await sleep(STEP_MS);
        return { done: name };
      },
      undo: (ctx) => {
        undos.push({ step: name, outcome: ctx.outcome });
      },
    });
  const deploy = defineOperation({
    type: 'deploy',
    steps: [make('pull'), make('start', during), make('migrate'), make('switch')],
  });
  return { deploy, runs, undos };
};

/** Stops the server now and starts it again after `ms`; resolves once it is up. */
const outage = (ms: number): Promise<void> =>
  (async () => {
    await cluster.down();
    await sleep(ms);
    await cluster.up();
  })();

describe('an engine on PostgreSQL when the server goes away', () => {
  it(
    `goes on after the server was down ${OUTAGE_MS / 1000} s in the middle of a step, and logs it once`,
    async () => {
      const store = newStore(`outage_${randomBytes(4).toString('hex')}`);
      const notices: StoreOutageNotice[] = [];
      let back: Promise<void> | undefined;
      const { deploy, runs, undos } = deployWith(() => (back = outage(OUTAGE_MS)));
      const engine = createEngine({
        store,
        operations: [deploy],
        storeOutage: { onOutage: (n) => notices.push(n) },
      });
      const handle = await engine.start(request());
      const result = await handle.result;
      await back;
      expect(result.status).toBe('succeeded');
      expect(runs).toEqual(['pull', 'start', 'migrate', 'switch']);
      expect(undos).toEqual([]);
      const lines = messages(await allLines(handle));
      const outageLines = lines.filter((l) => l.startsWith('the event store was unreachable'));
      expect(outageLines).toHaveLength(1);
      const seconds = Number(/for (\d+\.\d) s; went on$/.exec(outageLines[0]!)?.[1]);
      // The server went down as the step started and the step took 1.5 s of it.
      expect(seconds).toBeGreaterThanOrEqual((OUTAGE_MS - STEP_MS) / 1000 - 0.5);
      expect(lines.indexOf(outageLines[0]!)).toBe(lines.indexOf("Step 'start' succeeded") - 1);
      // No line lost or repeated: each step started and succeeded once.
      for (const name of ['pull', 'start', 'migrate', 'switch']) {
        expect(lines.filter((l) => l === `Step '${name}' succeeded`)).toHaveLength(1);
      }
      // The real errors of a stopped server were the ones classified as transient.
      const causes = notices.flatMap((n) => (n.kind === 'waiting' ? [n.cause] : []));
      expect(causes.length).toBeGreaterThan(0);
      expect(causes.every(isTransientPostgresError)).toBe(true);
      expect(notices.some((n) => n.kind === 'recovered')).toBe(true);
      await engine.shutdown();
    },
    60_000 + OUTAGE_MS,
  );

  it('past the budget rejects result with StoreUnavailableError, nothing half-written, and recover() ends it', async () => {
    const schema = `outage_${randomBytes(4).toString('hex')}`;
    const store = newStore(schema);
    let back: Promise<void> | undefined;
    const { deploy, runs, undos } = deployWith(() => (back = outage(6_000)));
    const engine = createEngine({ store, operations: [deploy], storeOutage: { maxMs: 3_000 } });
    const handle = await engine.start(request());
    const error = await handle.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    const e = error as StoreUnavailableError;
    expect(e.code).toBe('STORE_UNAVAILABLE');
    expect(e.host).toMatch(/^127\.0\.0\.1:\d+\/postgres$/);
    expect(e.unreachableMs).toBeGreaterThanOrEqual(3_000);
    expect(isTransientPostgresError(e.lastCause)).toBe(true);
    expect(e.message).not.toContain('postgres@');
    await back;
    expect(runs).toEqual(['pull', 'start']);

    // Back up: the stream ends with the step started and no outcome, whole, for recovery.
    const after = newStore(schema);
    const events = await after.readStream(`operation-${handle.id}`);
    expect(events.at(-1)?.type).toBe('StepStarted');
    const other = createEngine({ store: after, operations: [deploy] });
    const [recovered] = await other.recover();
    expect(recovered).toMatchObject({ id: handle.id, status: 'failed', rollback: 'succeeded' });
    expect(undos).toEqual([
      { step: 'start', outcome: 'unknown' },
      { step: 'pull', outcome: 'succeeded' },
    ]);
    await other.shutdown();
  }, 60_000);

  it('classifies the errors PostgreSQL really gives', async () => {
    // 57P01: a session ended by pg_terminate_backend in the middle of a query.
    const victim = new pg.Client({ connectionString: cluster.url });
    victim.on('error', () => undefined);
    await victim.connect();
    const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
      .pid;
    const sleeping = victim.query('SELECT pg_sleep(30)').catch((err: unknown) => err);
    const killer = new pg.Client({ connectionString: cluster.url });
    await killer.connect();
    await sleep(200);
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    const terminated = await sleeping;
    expect((terminated as { code?: string }).code).toBe('57P01');
    expect(isTransientPostgresError(terminated)).toBe(true);

    // Errors of the call itself are not transient.
    const syntax = await killer.query('SELEC 1').catch((err: unknown) => err);
    expect(isTransientPostgresError(syntax)).toBe(false);
    await killer.end();
    await victim.end().catch(() => undefined);

    // Nothing listening: the store's unreachable error.
    const nowhere = createPostgresEventStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/postgres',
    });
    const refused = await nowhere.headPosition().catch((err: unknown) => err);
    expect(isTransientPostgresError(refused)).toBe(true);
    await nowhere.close();

    // A real concurrency conflict is not waited for.
    const store = newStore(`outage_${randomBytes(4).toString('hex')}`);
    await store.append('s', [{ type: 'T', version: 1, data: {} }], {
      expectedVersion: 'no_stream',
    });
    const conflict = await store
      .append('s', [{ type: 'T', version: 1, data: {} }], { expectedVersion: 'no_stream' })
      .catch((err: unknown) => err);
    expect(conflict).toBeInstanceOf(ConcurrencyError);
    expect(isTransientPostgresError(conflict)).toBe(false);
  }, 30_000);

  it('does not append twice when the acknowledgement of a committed append was lost', async () => {
    const proxy = await startProxyTo(cluster.url);
    const schema = `outage_${randomBytes(4).toString('hex')}`;
    const raw = createPostgresEventStore(
      { connectionString: urlVia(cluster.url, proxy.port) },
      { schema },
    );
    stores.push(raw);
    // What the store itself answered to each append, to prove which path was taken.
    const { store: spied, answers } = recordingAnswers(raw, (error) =>
      error instanceof ConcurrencyError ? 'conflict' : 'lost',
    );
    const store = withStoreOutageRetry(spied);
    const data = (n: number) => ({ type: 'T', version: 1, data: { n, nested: { z: 1, a: 2 } } });
    await store.append('s', [data(0)], { expectedVersion: 'no_stream' });
    proxy.cutAfterNextAnswer();
    const result = await store.append('s', [data(1), data(2)], { expectedVersion: 0n });
    expect(proxy.cut).toBe(1);
    // The commit went through, its answer was lost; the retry was refused; the decorator found
    // its own events at revisions 1 and 2 and reported the append as done.
    expect(answers).toEqual(['ok', 'lost', 'conflict']);
    const direct = newStore(schema);
    const events = await direct.readStream('s');
    expect(events.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2]);
    expect(result).toEqual({ nextExpectedRevision: 2n, lastPosition: events[2]!.globalPosition });
    await raw.close();
    await proxy.close();
  }, 30_000);

  it.runIf(LONG)(
    'rides out a 30 s outage with several operations running',
    async () => {
      const store = newStore(`outage_${randomBytes(4).toString('hex')}`);
      let back: Promise<void> | undefined;
      const { deploy } = deployWith(() => (back ??= outage(30_000)));
      const engine = createEngine({ store, operations: [deploy] });
      const handles = await Promise.all(
        ['a', 'b', 'c', 'd', 'e'].map((app) =>
          engine.start(request({ resource: { type: 'app', handle: app } })),
        ),
      );
      const results = await Promise.all(handles.map((h) => h.result));
      await back;
      expect(results.map((r) => r.status)).toEqual(Array(5).fill('succeeded'));
      for (const h of handles) {
        const lines = messages(await allLines(h));
        expect(lines.filter((l) => l.startsWith('the event store was unreachable'))).toHaveLength(
          1,
        );
      }
      await engine.shutdown();
    },
    180_000,
  );
});
