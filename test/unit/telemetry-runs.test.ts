import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { describe, expect, it } from 'vitest';
import {
  createInMemoryEventStore,
  defineOperation,
  step,
  type OperationDefinition,
} from '../../src/index.js';
import { createCrashableStore, SimulatedCrash } from '../support/crashable-store.js';
import { request, until } from '../support/fixtures.js';
import { untilAborted } from '../support/gate.js';
import {
  actualRun,
  createRecordingTelemetry,
  expectedRun,
  telemetryEngine,
  type RecordingTelemetry,
} from '../support/telemetry.js';

const runsOf = (t: RecordingTelemetry, id: string) =>
  t
    .finishedSpans()
    .filter((s) => s.name === 'opledger deploy' && s.attributes['opledger.operation.id'] === id);

const undoable = (name: string, onRun: () => void | Promise<void> = () => undefined) =>
  step({ name, run: onRun, undo: () => undefined });

describe('telemetry of a cancelled and of a crashed-then-recovered operation', () => {
  it('a cancelled deploy: the cancellation is a span event, its rollback the undo spans', async () => {
    const t = createRecordingTelemetry();
    const store = createInMemoryEventStore();
    let checking = false;
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        undoable('start containers'),
        step({
          name: 'health check',
          kind: 'no_side_effects',
          run: ({ signal }) => {
            checking = true;
            return untilAborted(signal);
          },
        }),
      ],
    }) as OperationDefinition;
    const engine = telemetryEngine(store, [deploy], t.options);
    const handle = await engine.start(request());
    await until(() => checking);
    await engine.cancel(handle.id, { user: 'bob@example.com' });
    expect(await handle.result).toMatchObject({ cancelled: true, rollback: 'succeeded' });

    const [run, ...others] = runsOf(t, handle.id);
    expect(others).toEqual([]);
    const actual = actualRun(t.finishedSpans(), run!);
    expect(actual).toEqual(expectedRun(await store.readStream(`operation-${handle.id}`)));
    expect(actual.spanEvents).toContain('opledger.cancellation');
    expect(actual.children).toContain('undo start containers#1:succeeded');
    const cancellation = run!.events.find((e) => e.name === 'opledger.cancellation');
    expect(cancellation?.attributes).toEqual({ 'opledger.user': 'bob@example.com' });
  });

  it('a crashed-then-recovered deploy: the recovery is a new run in the same trace, linked to the lost one', async () => {
    const t = createRecordingTelemetry();
    const inner = createInMemoryEventStore();
    const crashable = createCrashableStore(inner);
    const deploy = defineOperation({
      type: 'deploy',
      steps: [undoable('a'), undoable('b', () => crashable.crash()), undoable('c')],
    }) as OperationDefinition;
    const requestSpan = t.options.tracer.startSpan('POST /deploys');
    const dying = telemetryEngine(crashable, [deploy], t.options);
    const handle = await dying.start(
      request({ traceContext: trace.setSpan(ROOT_CONTEXT, requestSpan) }),
    );
    await expect(handle.result).rejects.toBeInstanceOf(SimulatedCrash);
    const beforeRecovery = await inner.readStream(`operation-${handle.id}`);
    // The lost run never ended, so it was never exported; its finished attempt was.
    expect(runsOf(t, handle.id)).toEqual([]);
    const started = beforeRecovery.find((e) => e.type === 'OperationStarted')!;
    const lostRunSpanId = String(started.metadata?.traceparent).split('-')[2];
    const lostAttempts = t.finishedSpans().filter((s) => s.name.startsWith('step '));
    expect(lostAttempts.map((s) => [s.name, s.parentSpanContext?.spanId])).toEqual([
      ['step a', lostRunSpanId],
    ]);

    await telemetryEngine(inner, [deploy], t.options).recover();
    const [recovered, ...others] = runsOf(t, handle.id);
    expect(others).toEqual([]);
    const all = await inner.readStream(`operation-${handle.id}`);
    expect(actualRun(t.finishedSpans(), recovered!)).toEqual(
      expectedRun(all.slice(beforeRecovery.length)),
    );
    const requested = requestSpan.spanContext();
    expect(recovered!.spanContext().traceId).toBe(requested.traceId);
    expect(recovered!.parentSpanContext?.spanId).toBe(requested.spanId);
    expect(recovered!.links.map((l) => l.context.spanId)).toEqual([lostRunSpanId]);
    expect(recovered!.attributes).toMatchObject({
      'opledger.resumed': true,
      'opledger.outcome': 'failed',
      'opledger.rollback': 'succeeded',
    });
  });
});

describe('telemetry: where a trace comes from and what is left out', () => {
  const oneStep = defineOperation({
    type: 'deploy',
    steps: [
      step({
        name: 'pull',
        kind: 'no_side_effects',
        run: ({ log }) => {
          log('pulled web:2');
        },
      }),
    ],
  }) as OperationDefinition;

  it('continues the W3C headers given as traceContext, and stores them on the request', async () => {
    const t = createRecordingTelemetry();
    const store = createInMemoryEventStore();
    const engine = telemetryEngine(store, [oneStep], t.options);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const handle = await engine.start(request({ traceContext: { traceparent } }));
    await handle.result;
    const [requested] = await store.readStream(`operation-${handle.id}`);
    expect(requested?.metadata).toMatchObject({ traceparent });
    const [run] = runsOf(t, handle.id);
    expect(run!.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(run!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
  });

  it('continues the active context when the request names none', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const t = createRecordingTelemetry();
      const engine = telemetryEngine(createInMemoryEventStore(), [oneStep], t.options);
      const active = t.options.tracer.startSpan('job');
      const handle = await context.with(trace.setSpan(context.active(), active), () =>
        engine.start(request()),
      );
      await handle.result;
      const [run] = runsOf(t, handle.id);
      expect(run!.parentSpanContext?.spanId).toBe(active.spanContext().spanId);
    } finally {
      context.disable();
    }
  });

  it('starts a trace of its own when there is no context, with no metadata on the request', async () => {
    const t = createRecordingTelemetry();
    const store = createInMemoryEventStore();
    const handle = await telemetryEngine(store, [oneStep], t.options).start(request());
    await handle.result;
    const [requested] = await store.readStream(`operation-${handle.id}`);
    expect(requested?.metadata?.traceparent).toBeUndefined();
    const [run] = runsOf(t, handle.id);
    expect(run!.parentSpanContext).toBeUndefined();
  });

  it('records nothing while no provider is registered, and through one registered later', async () => {
    const store = createInMemoryEventStore();
    const engine = telemetryEngine(store, [oneStep], undefined);
    await (
      await engine.start(request())
    ).result;
    const later = createRecordingTelemetry();
    trace.setGlobalTracerProvider(later.tracerProvider);
    try {
      expect(later.finishedSpans()).toEqual([]);
      const second = await engine.start(request());
      await second.result;
      expect(runsOf(later, second.id)).toHaveLength(1);
      expect(
        later.finishedSpans().every((s) => s.attributes['opledger.operation.id'] === second.id),
      ).toBe(true);
    } finally {
      trace.disable();
    }
  });

  it("leaves log lines out when logLines is 'off', and records nothing when telemetry is false", async () => {
    const t = createRecordingTelemetry();
    const quiet = telemetryEngine(createInMemoryEventStore(), [oneStep], {
      ...t.options,
      logLines: 'off',
    });
    const handle = await quiet.start(request());
    await handle.result;
    const spans = t.finishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['opledger deploy', 'step pull']);
    expect(spans.flatMap((s) => s.events).filter((e) => e.name === 'log')).toEqual([]);

    const withLogs = createRecordingTelemetry();
    await (
      await telemetryEngine(createInMemoryEventStore(), [oneStep], withLogs.options).start(
        request(),
      )
    ).result;
    const log = withLogs.finishedSpans().find((s) => s.name === 'step pull')!.events[0];
    expect(log?.attributes).toMatchObject({ 'opledger.log.message': 'pulled web:2' });

    // The global providers are the only way left to record: registered, and still nothing.
    const global = createRecordingTelemetry();
    trace.setGlobalTracerProvider(global.tracerProvider);
    try {
      const store = createInMemoryEventStore();
      await (
        await telemetryEngine(store, [oneStep], false).start(request())
      ).result;
      await (
        await telemetryEngine(createInMemoryEventStore(), [oneStep], undefined).start(request())
      ).result;
      // The default (the global tracer) recorded the second only.
      expect(global.finishedSpans().filter((s) => s.name === 'opledger deploy')).toHaveLength(1);
    } finally {
      trace.disable();
    }
  });
});
