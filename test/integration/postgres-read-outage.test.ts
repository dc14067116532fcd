/**
 * The read side through outages of a real PostgreSQL server, made by a TCP fault proxy between
 * the readers and the server (refused, reset, black-holed connections) while the engine writes
 * on a connection of its own: the projector catching up and following live, `operation:follow`
 * and the dashboard's live log, and the dashboard's answers. Each outage lasts OUTAGE_MS.
 */
import { PassThrough } from 'node:stream';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  createPostgresEventStore,
  createPostgresReadStore,
} from '../../src/adapters/postgres/index.js';
import { operationFollowCommand } from '../../src/cli/commands/operation.js';
import { createDashboardServer } from '../../src/dashboard/server.js';
import { observerClient } from '../../src/engine/operation-access.js';
import {
  createEngine,
  defineOperation,
  step,
  type EventStore,
  type ReadStore,
  type StoreOutageNotice,
} from '../../src/index.js';
import { createProjector, renderLogLine } from '../../src/projections/index.js';
import { call, openEventStream } from '../dashboard/http-client.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { dumpReadStore } from '../support/read-store-dump.js';
import { useFaultProxy } from '../support/postgres-fault-proxy.js';

const OUTAGE_MS = 1_500;
const ENVS = ['production', 'staging'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const db = useTestDatabase();
const faults = useFaultProxy(() => db.url);
const { viaProxy } = faults;

type Kind = 'refuse' | 'reset' | 'black hole, then reset' | 'black hole';

/** Starts an outage of `kind` now; resolves once it is over (OUTAGE_MS later). */
const outage = (kind: Kind): Promise<void> =>
  (async () => {
    if (kind === 'refuse') await faults.proxy.refuse();
    else if (kind === 'reset') faults.proxy.reset();
    else faults.proxy.blackHole();
    await sleep(OUTAGE_MS);
    // A partition that outlived the connections: they are cut as it heals.
    if (kind === 'black hole, then reset') faults.proxy.reset();
    await faults.proxy.restore();
  })();

const eventStore = (connectionString: string, schema: string): EventStore => {
  const store = createPostgresEventStore({ connectionString }, { schema, pollIntervalMs: 50 });
  faults.closeAfterEach(() => store.close());
  return store;
};

const readStoreOn = (connectionString: string, schema: string): ReadStore => {
  const store = createPostgresReadStore({ connectionString }, { schema });
  faults.closeAfterEach(() => store.close());
  return store;
};

/** Steps that each write two lines and take a little time: a log that grows while followed. */
const chatty = defineOperation<{ image: string }>({
  type: 'chatty-deploy',
  release: ({ params }) => params.image,
  steps: Array.from({ length: 8 }, (_, i) =>
    step({
      name: `step ${i + 1}`,
      kind: 'no_side_effects',
      run: async ({ log }) => {
        log(`step ${i + 1} begins`);
        await sleep(250);
        log(`step ${i + 1} ends`);
      },
    }),
  ),
});

const quick = defineOperation<{ image: string }>({
  type: 'deploy',
  release: ({ params }) => params.image,
  steps: [
    step({ name: 'start', run: ({ log }) => log('starting'), undo: () => undefined }),
    step({ name: 'check', kind: 'no_side_effects', run: () => undefined }),
  ],
});

const deployRequest = (i: number) => ({
  type: 'deploy',
  environment: ENVS[i % 2]!,
  resource: { type: 'app', handle: `web-${i % 3}` },
  user: 'ada@example.com',
  params: { image: `v${i}` },
});

/** An engine on its own connection to the server (not through the proxy). */
const writer = (schema: string, operations = [quick, chatty]) => {
  const engine = createEngine({ store: eventStore(db.url, schema), operations });
  faults.closeAfterEach(() => engine.shutdown());
  return engine;
};

/** The read models a projector on sound connections builds from the same events. */
const rebuilt = async (schema: string) => {
  const readStore = readStoreOn(db.url, db.uniqueSchema('rebuilt'));
  await createProjector({ store: eventStore(db.url, schema), readStore }).catchUp();
  return dumpReadStore(readStore, ENVS);
};

const KINDS: Kind[] = ['refuse', 'reset', 'black hole, then reset', 'black hole'];

describe('the projector through an outage of PostgreSQL', () => {
  it.each(KINDS)('catching up (%s): read models equal a rebuild', async (kind) => {
    const schema = db.uniqueSchema('events');
    const engine = writer(schema);
    for (let i = 0; i < 12; i++) await (await engine.start(deployRequest(i))).result;
    const head = await eventStore(db.url, schema).headPosition();

    const notices: StoreOutageNotice[] = [];
    const inner = readStoreOn(viaProxy(), db.uniqueSchema('reads'));
    await inner.checkpoint('operations'); // its tables exist before the outage
    let transactions = 0;
    let over: Promise<void> | undefined;
    // The outage starts as the second batch is written: in the middle of the catch-up.
    const readStore: ReadStore = {
      ...inner,
      transaction: (projection, position, apply) => {
        if (++transactions === 2) over = outage(kind);
        return inner.transaction(projection, position, apply);
      },
    };
    const projector = createProjector({
      store: eventStore(viaProxy(), schema),
      readStore,
      batchSize: 10,
      storeOutage: { maxMs: 30_000, onOutage: (n) => notices.push(n) },
    });
    expect(await projector.catchUp()).toBe(head);
    await over;
    expect(await projector.checkpoint()).toBe(head);
    expect(await dumpReadStore(inner, ENVS)).toEqual(await rebuilt(schema));
    if (kind !== 'black hole') {
      // It met the outage and waited it out (a black hole that heals only delays the answers).
      expect(notices.some((n) => n.kind === 'waiting')).toBe(true);
      expect(notices.some((n) => n.kind === 'recovered')).toBe(true);
    }
  });

  it.each(KINDS)('live (%s): every event applied once, none skipped', async (kind) => {
    const schema = db.uniqueSchema('events');
    const engine = writer(schema);
    const inner = readStoreOn(viaProxy(), db.uniqueSchema('reads'));
    const projector = createProjector({
      store: eventStore(viaProxy(), schema),
      readStore: inner,
      storeOutage: { maxMs: 30_000 },
    });
    await projector.start();
    faults.closeAfterEach(() => projector.stop());
    let over: Promise<void> | undefined;
    for (let i = 0; i < 10; i++) {
      if (i === 4) over = outage(kind);
      await (
        await engine.start(deployRequest(i))
      ).result;
    }
    await over;
    await projector.waitFor(await eventStore(db.url, schema).headPosition());
    expect(await dumpReadStore(inner, ENVS)).toEqual(await rebuilt(schema));
  });

  it('past the budget: StoreUnavailableError, and a later start resumes from the checkpoint', async () => {
    const schema = db.uniqueSchema('events');
    const engine = writer(schema);
    for (let i = 0; i < 4; i++) await (await engine.start(deployRequest(i))).result;
    const inner = readStoreOn(viaProxy(), db.uniqueSchema('reads'));
    const options = { store: eventStore(viaProxy(), schema), readStore: inner };
    await createProjector(options).catchUp();
    await faults.proxy.refuse();
    for (let i = 4; i < 8; i++) await (await engine.start(deployRequest(i))).result;
    const error = await createProjector({ ...options, storeOutage: { maxMs: 500 } })
      .catchUp()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((error as Error).message).toContain('start() or catchUp() the projector');
    await faults.proxy.restore();
    const projector = createProjector(options);
    expect(await projector.catchUp()).toBe(await eventStore(db.url, schema).headPosition());
    expect(await dumpReadStore(inner, ENVS)).toEqual(await rebuilt(schema));
  });
});

const captured = () => {
  const out = new PassThrough();
  const err = new PassThrough();
  let outText = '';
  let errText = '';
  out.on('data', (c: Buffer) => (outText += c.toString()));
  err.on('data', (c: Buffer) => (errText += c.toString()));
  return {
    io: { out, err, env: { OPLEDGER_STORE_OUTAGE_MS: '30000' } },
    get out() {
      return outText;
    },
    get err() {
      return errText;
    },
  };
};

/** The log of an operation as the store has it, rendered as the CLI prints it. */
const storedLog = async (schema: string, id: string) => {
  const lines = await lastValueFrom(
    observerClient(eventStore(db.url, schema)).logs(id).pipe(toArray()),
  );
  return lines.map(renderLogLine);
};

const FOLLOW_KINDS: Kind[] = ['refuse', 'reset', 'black hole, then reset'];

describe('following a log live through an outage of PostgreSQL', () => {
  it.each(FOLLOW_KINDS)('operation:follow (%s) prints every line once', async (kind) => {
    // The CLI opens the default schema of the URL it is given.
    const schema = 'opledger';
    const engine = writer(schema);
    const handle = await engine.start({ ...deployRequest(0), type: 'chatty-deploy' });
    const cli = captured();
    let over: Promise<void> | undefined;
    const firstLine = new Promise<void>((resolve) =>
      cli.io.out.on('data', () => {
        if (!over) {
          over = outage(kind);
          resolve();
        }
      }),
    );
    const code = await operationFollowCommand(handle.id, { store: viaProxy() }, cli.io);
    await firstLine;
    await over;
    await handle.result;
    expect(code).toBe(0);
    const printed = cli.out.trimEnd().split('\n');
    expect(printed).toEqual(await storedLog(schema, handle.id));
    // The follow really lived through the outage: lines were written while it lasted.
    expect(printed.length).toBeGreaterThan(10);
  });

  it.each(FOLLOW_KINDS)('the dashboard event stream (%s) sends every line once', async (kind) => {
    const schema = db.uniqueSchema('events');
    const engine = writer(schema);
    const store = eventStore(viaProxy(), schema);
    const readStore = readStoreOn(viaProxy(), db.uniqueSchema('reads'));
    const dashboard = createDashboardServer({ store, readStore, storeOutage: { maxMs: 30_000 } });
    faults.closeAfterEach(() => dashboard.close());
    const base = await dashboard.listen(0);
    const handle = await engine.start({ ...deployRequest(0), type: 'chatty-deploy' });
    const stream = await openEventStream(base, `/api/operations/${handle.id}/events`);
    expect(stream.status).toBe(200);
    await stream.waitFor((e) => e.event === 'log');
    const over = outage(kind);
    await stream.waitFor((e) => e.event === 'end', 30_000);
    await over;
    const logs = stream.events.filter((e) => e.event === 'log');
    const texts = logs.map((e) => (JSON.parse(e.data) as { text: string }).text);
    expect(texts).toEqual(await storedLog(schema, handle.id));
    expect(new Set(logs.map((e) => e.id)).size).toBe(logs.length);
    expect(stream.events.some((e) => e.event === 'failure')).toBe(false);
  });
});

describe('the dashboard while PostgreSQL is away', () => {
  it.each(['refuse', 'reset'] as const)(
    '(%s) answers 503 with Retry-After, as JSON and as a page, then 200 once it is back',
    async (kind) => {
      const schema = db.uniqueSchema('events');
      const engine = writer(schema);
      await (
        await engine.start(deployRequest(0))
      ).result;
      const store = eventStore(viaProxy(), schema);
      const readStore = readStoreOn(viaProxy(), db.uniqueSchema('reads'));
      // As the CLI's dashboard: a catch-up before each read that waits for no store.
      const projector = createProjector({ store, readStore, storeOutage: { maxMs: 0 } });
      const dashboard = createDashboardServer({
        store,
        readStore,
        catchUp: () => projector.catchUp(),
        storeOutage: { retryAfterSeconds: 7 },
      });
      faults.closeAfterEach(() => dashboard.close());
      const base = await dashboard.listen(0);
      const operations = `/api/environments/production/operations`;
      expect((await call(base, operations)).status).toBe(200);

      if (kind === 'refuse') await faults.proxy.refuse();
      else faults.proxy.reset();
      const json = await call(base, operations);
      expect(json.status).toBe(503);
      expect(json.headers['retry-after']).toBe('7');
      expect(json.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      const page = await call(base, '/environments/production', {
        headers: { accept: 'text/html' },
      });
      expect(page.status).toBe(503);
      expect(page.headers['retry-after']).toBe('7');
      expect(page.headers['content-type']).toContain('text/html');
      expect(page.text).toContain('cannot be reached just now');
      const id = (await engine.start(deployRequest(2))).id;
      expect((await call(base, `/api/operations/${id}/events`)).status).toBe(503);

      await faults.proxy.restore();
      const back = await call(base, operations);
      expect(back.status).toBe(200);
      expect(back.json<{ total: number }>().total).toBe(2);
    },
  );
});
