import { createRequire } from 'node:module';
import { metrics, propagation, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createInMemoryEventStore,
  defineOperation,
  step,
  type EngineOptions,
  type EventStore,
  type OperationDefinition,
} from '../../src/index.js';
import { request } from '../support/fixtures.js';
import { createGate } from '../support/gate.js';
import { createRecordingTelemetry, sumWhere, telemetryEngine } from '../support/telemetry.js';

// Issue 19: with `@opentelemetry/api` installed and no provider registered, telemetry costs no
// more than a no-op. Counted, not timed: the work the observer skips is work these spies see.

const engineOn = (store: EventStore, telemetry: EngineOptions['telemetry']) =>
  telemetryEngine(store, [deploy], telemetry);

const deploy = defineOperation({
  type: 'deploy',
  steps: [
    step({ name: 'pull', kind: 'no_side_effects', run: ({ log }) => log('pulled web:2') }),
    step({ name: 'start', run: ({ log }) => log('started c1'), undo: () => undefined }),
    step({
      name: 'switch',
      run: (context) => {
        if ((context.params as { fail?: boolean }).fail) throw new Error('no route');
      },
      undo: () => undefined,
    }),
  ],
}) as OperationDefinition;

/** The store the engine is given, writing down every call that reaches it and what it carried. */
const recordingStore = () => {
  const inner = createInMemoryEventStore();
  const calls: string[] = [];
  const store: EventStore = {
    ...inner,
    append: (stream, events, options) => {
      calls.push(`append ${stream} ${JSON.stringify(events.map((e) => [e.type, e.metadata]))}`);
      return inner.append(stream, events, options);
    },
    ...(inner.appendToStreams
      ? {
          appendToStreams: (writes) => {
            calls.push(
              `appendToStreams ${JSON.stringify(writes.map((w) => [w.stream, w.events.map((e) => [e.type, e.metadata])]))}`,
            );
            return inner.appendToStreams!(writes);
          },
        }
      : {}),
    readStream: (stream, options) => {
      calls.push(`readStream ${stream}`);
      return inner.readStream(stream, options);
    },
    readAll: (options) => {
      calls.push(
        `readAll ${JSON.stringify(options ?? {}, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}`,
      );
      return inner.readAll(options);
    },
    subscribe: (options) => {
      calls.push('subscribe');
      return inner.subscribe(options);
    },
  };
  return { store, calls };
};

/** A succeeded and a failed-then-rolled-back deploy, with log lines: what the store was asked. */
const storeCallsOf = async (telemetry: EngineOptions['telemetry']) => {
  const { store, calls } = recordingStore();
  const engine = engineOn(store, telemetry);
  const ok = await engine.start(request());
  expect(await ok.result).toMatchObject({ status: 'succeeded' });
  const failed = await engine.start(request({ params: { fail: true } }));
  expect(await failed.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
  await engine.shutdown();
  return calls;
};

/** Every method of OpenTelemetry's that recording would call, spied on where the engine finds it. */
const spyOnOpenTelemetry = () => {
  const proto = (o: object) => Object.getPrototypeOf(o) as Record<string, () => unknown>;
  // With no provider registered: the global tracer is a proxy of the no-op one, the meter no-op.
  const proxyTracer = proto(trace.getTracer('probe'));
  const noopTracer = proto(new ProxyTracerProvider().getDelegate().getTracer('probe'));
  const noopMeter = proto(metrics.getMeter('probe'));
  return [
    vi.spyOn(trace, 'getTracer'),
    vi.spyOn(trace, 'setSpan'),
    vi.spyOn(metrics, 'getMeter'),
    vi.spyOn(propagation, 'extract'),
    vi.spyOn(propagation, 'inject'),
    vi.spyOn(proxyTracer, 'startSpan'),
    vi.spyOn(noopTracer, 'startSpan'),
    vi.spyOn(noopMeter, 'createCounter'),
    vi.spyOn(noopMeter, 'createHistogram'),
    vi.spyOn(noopMeter, 'createUpDownCounter'),
  ];
};

afterEach(() => {
  vi.restoreAllMocks();
  trace.disable();
  metrics.disable();
});

describe('telemetry with no provider registered', () => {
  it('makes no OpenTelemetry call and asks the store nothing more than telemetry: false', async () => {
    // The API the engine loads (a CommonJS require) is the one spied on here.
    const loaded = createRequire(import.meta.url)(
      '@opentelemetry/api',
    ) as typeof import('@opentelemetry/api');
    expect(loaded.trace).toBe(trace);
    expect(loaded.metrics).toBe(metrics);
    const off = await storeCallsOf(false);
    const spies = spyOnOpenTelemetry();
    const idle = await storeCallsOf(undefined);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    // The same reads (the observer loads no operation) and the same events with the same
    // metadata (no trace context added), in the same order.
    expect(idle).toEqual(off);
    expect(idle.filter((c) => c.startsWith('append'))).not.toEqual([]);
  });

  it('records through providers registered after the engine was created, from the next operation on', async () => {
    const store = createInMemoryEventStore();
    const engine = engineOn(store, undefined);
    const before = await engine.start(request());
    await before.result;

    const first = createRecordingTelemetry();
    trace.setGlobalTracerProvider(first.tracerProvider);
    metrics.setGlobalMeterProvider(first.meterProvider);
    const second = await engine.start(request());
    await second.result;
    const ids = (t: typeof first) =>
      t
        .finishedSpans()
        .filter((s) => s.name === 'opledger deploy')
        .map((s) => s.attributes['opledger.operation.id']);
    expect(ids(first)).toEqual([second.id]);
    expect(
      first
        .finishedSpans()
        .map((s) => s.name)
        .sort(),
    ).toEqual(['opledger deploy', 'step pull', 'step start', 'step switch']);
    expect(sumWhere(await first.metric('opledger.operations.ended'))).toBe(1);

    // Another tracer provider in its place: the next operation is recorded there, not in the
    // one the API's proxy tracer delegated to first.
    trace.disable();
    const replacement = createRecordingTelemetry();
    trace.setGlobalTracerProvider(replacement.tracerProvider);
    const third = await engine.start(request());
    await third.result;
    expect(ids(replacement)).toEqual([third.id]);
    expect(ids(first)).toEqual([second.id]);
    expect(sumWhere(await first.metric('opledger.operations.ended'))).toBe(2);
  });

  it('follows an operation it was recording to its end when the providers are taken away', async () => {
    const gate = createGate();
    const slow = defineOperation({
      type: 'deploy',
      steps: [step({ name: 'pull', kind: 'no_side_effects', run: () => gate.wait() })],
    }) as OperationDefinition;
    const t = createRecordingTelemetry();
    trace.setGlobalTracerProvider(t.tracerProvider);
    const engine = telemetryEngine(createInMemoryEventStore(), [slow], undefined);
    const handle = await engine.start(request());
    await vi.waitUntil(() => gate.entered);
    trace.disable();
    gate.open();
    await handle.result;
    // Its run span and its step's span ended: exported, not left open and kept forever.
    expect(
      t
        .finishedSpans()
        .map((s) => `${s.name}:${String(s.attributes['opledger.outcome'])}`)
        .sort(),
    ).toEqual(['opledger deploy:succeeded', 'step pull:succeeded']);
  });
});
