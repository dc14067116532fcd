// The floor of one five-step operation on the in-memory store (issue 17, round 5): what an
// operation must do and nothing else, on a tree's own store, codec and folds, to compare the
// engine against. Per operation: the request and its queue place in one two-stream append; the
// queue's tail read, decoded and folded, and the claim appended at the revision read; five steps,
// each run only after its start is appended (write-ahead), a step's success appended with the
// next step's start; the verdict with the last success; the release appended. Every event is
// validated on write (encodeEvent) and stored frozen by the store; the queue's events read back
// are decoded (validated on read). The operation's state is the domain's fold of its own events.
//
// node bench/floor/engine-floor.mjs <tree root with src/**/*.js> [operations] [rounds]
// The tree compiled by tsc, as the package ships (not through tsx or esbuild's keepNames, whose
// `__name` wrappers cost CPU no user pays), inside the repository so that it finds node_modules:
//   npx tsc -p tsconfig.bench.json --outDir bench/.build/tree
//   node bench/floor/engine-floor.mjs "$PWD/bench/.build/tree"
// LADDER=floor,writer,watch,drive,engine (the default): the rungs measured, alternated in one process:
// the floor; the floor with the engine's writer deciding each command (decide, staging, its
// pump); that with the run's cancel watch; the engine's run loop (driveOperation) after the
// floor's request; the whole engine (engine.start and the result).
import { performance } from 'node:perf_hooks';

const root = process.argv[2];
const count = Number(process.argv[3] ?? 500);
const rounds = Number(process.argv[4] ?? 12);
const { createInMemoryEventStore } = await import(`${root}/src/adapters/memory/index.js`);
const { encodeEvent, createEventDecoder } = await import(`${root}/src/domain/event-codec.js`);
const { evolve, initialState } = await import(`${root}/src/domain/operation.js`);
const { evolveResourceQueue, initialResourceQueue } = await import(
  `${root}/src/domain/resource-queue.js`
);
const { isoNow, systemClock } = await import(`${root}/src/engine/clock.js`);
const { createOperationWriter } = await import(`${root}/src/engine/operation-writer.js`);
const { CancelWatch, StreamWatch } = await import(`${root}/src/engine/cancel-watch.js`);
// The ladder towards the engine, for the breakdown: LADDER=writer decides every command with the
// engine's writer (decide, staging, its pump) instead of appending the events directly; =watch
// adds the run's cancel watch (two AbortControllers, the shared subscription's watch).
const RUNGS = (process.env.LADDER ?? 'floor,writer,watch,drive,engine').split(',');

const STEPS = [
  { name: 'validate', kind: 'no_side_effects' },
  { name: 'pull image', kind: 'undoable' },
  { name: 'start', kind: 'undoable' },
  { name: 'switch traffic', kind: 'undoable' },
  { name: 'clean up', kind: 'irreversible' },
];
const { createEngine } = await import(`${root}/src/engine/engine.js`);
const { defineOperation, step } = await import(`${root}/src/domain/operation-definition.js`);
const noop = () => undefined;
const now = isoNow(systemClock);
const resource = { type: 'app', handle: 'app-0' };
const queueStream = 'resource-bench/app/app-0';

/** The whole engine, as the bench's workload drives it. */
const engineRung = () => {
  const op = defineOperation({
    type: 'noop',
    steps: STEPS.map((s) =>
      step({ ...s, run: noop, ...(s.kind === 'undoable' ? { undo: noop, kind: undefined } : {}) }),
    ),
  });
  const engine = createEngine({ store: createInMemoryEventStore(), operations: [op] });
  let n = 0;
  return async () => {
    const h = await engine.start({
      type: 'noop',
      environment: 'bench',
      resource,
      user: 'bench@example.com',
      params: { n: n++ },
    });
    const r = await h.result;
    if (r.status !== 'succeeded') throw new Error(r.summary);
  };
};

const { driveOperation } = await import(`${root}/src/engine/run-operation.js`);
const definition = defineOperation({
  type: 'noop',
  steps: STEPS.map((s) =>
    step({ ...s, run: noop, ...(s.kind === 'undoable' ? { undo: noop, kind: undefined } : {}) }),
  ),
});

const rung = (LADDER) => {
  const store = createInMemoryEventStore();
  const decode = createEventDecoder();
  const streams = new StreamWatch(store);
  let queue = initialResourceQueue();
  let queueRevision = -1n;
  let n = 0;

  return async () => {
    const id = `op${String(n++).padStart(20, '0')}`;
    const stream = `operation-${id}`;
    let state = initialState();
    let revision = -1n;
    const write = async (events) => {
      const encoded = events.map(encodeEvent);
      const r = await store.append(stream, encoded, {
        expectedVersion: revision < 0n ? 'no_stream' : revision,
      });
      revision = r.nextExpectedRevision;
      for (const e of events) state = evolve(state, e);
    };
    // The request and its queue place: one append over two streams.
    const requested = {
      type: 'OperationRequested',
      data: {
        operationId: id,
        type: 'noop',
        environment: 'bench',
        resource,
        user: 'bench@example.com',
        params: { n },
        createdAt: now(),
        steps: STEPS,
      },
    };
    const [, placed] = await store.appendToStreams([
      {
        stream: queueStream,
        events: [
          encodeEvent({ type: 'ResourceOperationQueued', data: { operationId: id, at: now() } }),
        ],
        expectedVersion: 'any',
      },
      { stream, events: [encodeEvent(requested)], expectedVersion: 'no_stream' },
    ]);
    state = evolve(state, requested);
    revision = 0n;
    if (LADDER === 'drive') {
      // The engine's run loop itself (driveOperation: the claim, the steps, the release) on a
      // writer made as the request path makes it.
      const writer = createOperationWriter(store, decode, id, {
        state,
        revision: 0n,
        lastPosition: placed.lastPosition,
      });
      const end = await driveOperation(
        { store, decode, clock: systemClock, streams },
        { writer, definition, params: requested.data.params, mode: 'fresh' },
      );
      if (end.status !== 'succeeded') throw new Error(end.status);
      return;
    }
    // The claim: the queue's tail read (another process may have written it), then the start at that revision.
    for (const r of await store.readStream(queueStream, { from: queueRevision + 1n })) {
      queue = evolveResourceQueue(queue, decode(r));
      queueRevision = r.streamRevision;
    }
    if (queue.holder !== undefined || queue.waiting[0] !== id) throw new Error('not first');
    const started = await store.append(
      queueStream,
      [encodeEvent({ type: 'ResourceOperationStarted', data: { operationId: id, at: now() } })],
      { expectedVersion: queueRevision },
    );
    queueRevision = started.nextExpectedRevision;
    queue = evolveResourceQueue(queue, {
      type: 'ResourceOperationStarted',
      data: { operationId: id, at: now() },
    });
    if (LADDER) {
      const writer = createOperationWriter(store, decode, id, {
        state,
        revision: 0n,
        lastPosition: placed.lastPosition,
      });
      const watch =
        LADDER === 'watch' ? new CancelWatch(store, writer, undefined, streams) : undefined;
      writer.stage({ type: 'StartOperation', data: { at: now() } });
      const outputs = {};
      for (const s of STEPS) {
        await writer.execute({ type: 'StartStep', data: { step: s.name, attempt: 1, at: now() } });
        const signal = watch?.enterStep(true);
        outputs[s.name] = await noop({
          operationId: id,
          params: requested.data.params,
          outputs,
          attempt: 1,
          signal,
        });
        watch?.leaveStep();
        writer.stage({ type: 'CompleteStep', data: { step: s.name, attempt: 1, at: now() } });
      }
      await writer.execute({ type: 'SucceedOperation', data: { at: now() } });
      watch?.stop();
      state = writer.state();
    } else {
      let pending = [{ type: 'OperationStarted', data: { at: now() } }];
      const outputs = {};
      for (const s of STEPS) {
        await write([
          ...pending,
          { type: 'StepStarted', data: { step: s.name, attempt: 1, at: now() } },
        ]);
        outputs[s.name] = await noop({
          operationId: id,
          params: requested.data.params,
          outputs,
          attempt: 1,
        });
        pending = [{ type: 'StepSucceeded', data: { step: s.name, attempt: 1, at: now() } }];
      }
      await write([...pending, { type: 'OperationSucceeded', data: { at: now() } }]);
    }
    if (state.status !== 'succeeded') throw new Error(state.status);
    const finished = { type: 'ResourceOperationFinished', data: { operationId: id, at: now() } };
    const f = await store.append(queueStream, [encodeEvent(finished)], { expectedVersion: 'any' });
    queueRevision = f.nextExpectedRevision;
    queue = evolveResourceQueue(queue, finished);
  };
};

const runs = Object.fromEntries(
  RUNGS.map((r) => [r, r === 'engine' ? engineRung() : rung(r === 'floor' ? '' : r)]),
);
for (const r of RUNGS) for (let i = 0; i < 3300; i++) await runs[r]();
const cpu = Object.fromEntries(RUNGS.map((r) => [r, []]));
const ops = Object.fromEntries(RUNGS.map((r) => [r, []]));
// Rounds alternated, forwards then backwards: every rung meets the same load.
for (let round = 0; round < rounds; round++) {
  for (const r of round % 2 ? [...RUNGS].reverse() : RUNGS) {
    const c0 = process.cpuUsage(),
      t0 = performance.now();
    for (let i = 0; i < count; i++) await runs[r]();
    const c = process.cpuUsage(c0);
    cpu[r].push((c.user + c.system) / count);
    ops[r].push(count / ((performance.now() - t0) / 1000));
  }
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
for (const r of RUNGS)
  process.stdout.write(
    `${r.padEnd(7)} CPU/op ${med(cpu[r]).toFixed(0)} µs (${Math.min(...cpu[r]).toFixed(0)} – ${Math.max(...cpu[r]).toFixed(0)}), ops/s ${med(ops[r]).toFixed(0)}; ${rounds} rounds of ${count}\n`,
  );
