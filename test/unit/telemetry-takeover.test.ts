import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import {
  createClient,
  createInMemoryEventStore,
  createWorker,
  defineOperation,
  step,
} from '../../src/index.js';
import { request, until } from '../support/fixtures.js';
import { createManualClock } from '../support/manual-clock.js';
import { actualRun, createRecordingTelemetry, expectedRun } from '../support/telemetry.js';

const fast = { ttlMs: 300, renewEveryMs: 100 };

describe('telemetry of a worker takeover', () => {
  it('given a worker that stops renewing mid-step, then its successor runs the operation in the request trace, linked to the lost run', async () => {
    const t = createRecordingTelemetry();
    const store = createInMemoryEventStore();
    const frozen = createManualClock(); // never advanced: w1's renewals never come
    let hanging: AbortSignal | undefined;
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({ name: 'first', run: () => ({ ok: true }), undo: () => undefined }),
        step({
          name: 'hang',
          interruptible: false,
          run: (ctx) =>
            new Promise((_, reject) => {
              hanging = ctx.signal;
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
          undo: () => undefined,
        }),
      ],
    });
    const w1 = await createWorker({
      store,
      operations: [deploy],
      identity: 'w1',
      clock: frozen,
      lease: fast,
      telemetry: t.options,
    });
    const client = createClient({ store, operations: [deploy], telemetry: t.options });
    const requestSpan = t.options.tracer.startSpan('POST /deploys');
    const handle = await client.start(
      request({ traceContext: trace.setSpan(ROOT_CONTEXT, requestSpan) }),
    );
    await until(() => hanging !== undefined);
    const beforeTakeover = await store.readStream(`operation-${handle.id}`);
    const lostRun = beforeTakeover.find(
      (e) => e.metadata?.traceparent !== undefined && e.type !== 'OperationRequested',
    );
    const lostRunSpanId = String(lostRun?.metadata?.traceparent).split('-')[2];
    expect(lostRunSpanId).toMatch(/^[0-9a-f]{16}$/);

    const w2 = await createWorker({
      store,
      operations: [deploy],
      identity: 'w2',
      lease: fast,
      telemetry: t.options,
    });
    expect(await handle.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    await until(() => hanging!.aborted);

    const all = await store.readStream(`operation-${handle.id}`);
    const takenAt = all.findIndex((e) => e.type === 'OperationTakenOver');
    expect(takenAt).toBeGreaterThan(0);
    const runs = t
      .finishedSpans()
      .filter(
        (s) => s.name === 'opledger deploy' && s.attributes['opledger.operation.id'] === handle.id,
      );
    // w1's run never ended (its process lost the operation); w2's is the one exported.
    expect(runs).toHaveLength(1);
    const successor = runs[0]!;
    const requested = requestSpan.spanContext();
    expect(successor.spanContext().traceId).toBe(requested.traceId);
    expect(successor.parentSpanContext?.spanId).toBe(requested.spanId);
    expect(successor.links.map((l) => l.context.spanId)).toEqual([lostRunSpanId]);
    expect(actualRun(t.finishedSpans(), successor)).toEqual(expectedRun(all.slice(takenAt)));
    await w2.shutdown();
    await w1.shutdown({ graceMs: 0 });
  });
});
