import type { Context, Link, Span, SpanContext, Tracer } from '@opentelemetry/api';
import type { ErrorInfo, OperationEvent } from '../../domain/events.js';
import type { EventData, EventStore } from '../../domain/event-store.js';
import { evolve, hasEnded, initialState, type OperationState } from '../../domain/operation.js';
import { operationStreamName } from '../../domain/stream-names.js';
import type { Decode } from '../operation-stream.js';
import { ATTR, FAILOVER_EVENT, LOG_EVENT, SPAN, SPAN_EVENT, TRACEPARENT } from './names.js';
import type { Attributes, Telemetry } from './telemetry.js';
import {
  contextFromMetadata,
  formatTraceparent,
  spanContextFromMetadata,
} from './trace-context.js';

/**
 * Who appends: an engine and a worker run what they append to (they trace it); a client only
 * requests and cancels (it counts its requests, and traces nothing: a worker runs them).
 */
export type TelemetryRole = 'engine' | 'worker' | 'client';

interface Tracked {
  state: OperationState;
  /** The trace the request came from: the parent of every run of the operation. */
  parent?: Context;
  /** The span of an earlier run (a process that died, a worker that lost its lease). */
  previousRun?: SpanContext;
  span?: Span;
  /** The tracer of the run's span, for its children: the provider of when the run started. */
  tracer?: Tracer;
  context?: Context;
  steps: Map<string, Span>;
  undos: Map<string, Span>;
}

/** What an append to an operation's stream does to its spans, before and after it lands. */
export interface PreparedAppend {
  /** The events to append: the first one of a run carries its span, for a later run to link. */
  events: readonly EventData[];
  /** The append landed: record its events. */
  landed(): void;
}

/** Events that only a process running the operation appends: the first one starts its span. */
const RUN_EVENTS = new Set<string>([
  'OperationClaimed',
  'OperationTakenOver',
  'OperationStarted',
  'StepStarted',
  'StepSucceeded',
  'StepFailed',
  'OperationFailed',
  'RollbackStarted',
  'StepUndoStarted',
  'StepUndone',
  'StepUndoFailed',
  'StepNotUndoable',
  'RollbackFinished',
  'OperationSucceeded',
]);

const seconds = (from: string | undefined, to: string | undefined): number | undefined =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : undefined;

// The provider too: attempts are counted again from 1 with each provider a step fails over to.
const attemptKey = (step: string, attempt: number, provider?: string) =>
  `${step}#${attempt}@${provider ?? ''}`;

const exceptionOf = (error: ErrorInfo) => ({
  name: error.name,
  message: error.message,
  ...(error.code ? { code: error.code } : {}),
});

const errorAttributes = (error: ErrorInfo): Attributes => ({
  [ATTR.errorCode]: error.code ?? error.name,
  'error.type': error.code ?? error.name,
});

/**
 * The spans and metrics of the operations a process appends to, derived from the events it
 * appends and from nothing else: the span tree is the events', one for one (docs/telemetry.md
 * has the table), and the domain knows nothing of it.
 */
export const createOperationSpans = (
  telemetry: Telemetry,
  role: TelemetryRole,
  store: EventStore,
  decode: Decode,
) => {
  const { api } = telemetry;
  const tracked = new Map<string, Tracked>();
  const runs = role !== 'client';

  /** An operation this process had not seen, from its stream: to continue its trace. */
  const load = async (id: string): Promise<Tracked | undefined> => {
    const recorded = await store.readStream(operationStreamName(id));
    if (recorded.length === 0) return undefined;
    let state = initialState();
    let previousRun: SpanContext | undefined;
    for (const [i, r] of recorded.entries()) {
      state = evolve(state, decode(r) as OperationEvent);
      if (i > 0 && r.metadata?.[TRACEPARENT]) {
        previousRun = spanContextFromMetadata(api, r.metadata) ?? previousRun;
      }
    }
    const parent = contextFromMetadata(api, recorded[0]!.metadata);
    return {
      state,
      ...(parent ? { parent } : {}),
      ...(previousRun ? { previousRun } : {}),
      steps: new Map(),
      undos: new Map(),
    };
  };

  const baseAttributes = (s: OperationState): Attributes => ({
    [ATTR.operationId]: s.id,
    [ATTR.type]: s.type,
    [ATTR.environment]: s.environment,
    [ATTR.resourceType]: s.resource.type,
    [ATTR.resource]: s.resource.handle,
  });

  const startRun = (t: Tracked, tracer: Tracer): Span => {
    const links: Link[] = t.previousRun ? [{ context: t.previousRun }] : [];
    const resumed = t.state.status === 'running' || t.state.status === 'failed';
    return tracer.startSpan(
      SPAN.operation(t.state.type),
      {
        kind: api.SpanKind.INTERNAL,
        attributes: { ...baseAttributes(t.state), ...(resumed ? { [ATTR.resumed]: true } : {}) },
        links,
      },
      t.parent ?? api.ROOT_CONTEXT,
    );
  };

  const child = (t: Tracked, name: string, attributes: Attributes): Span =>
    (t.tracer ?? telemetry.tracer).startSpan(
      name,
      { attributes: { [ATTR.operationId]: t.state.id, ...attributes } },
      t.context,
    );

  const endAttempt = (
    spans: Map<string, Span>,
    t: Tracked,
    name: string,
    step: string,
    attempt: number,
    provider?: string,
  ): Span => {
    const key = attemptKey(step, attempt, provider);
    // An attempt started by a process that is gone gets a span of its end alone.
    const span = spans.get(key) ?? child(t, name, { [ATTR.step]: step, [ATTR.attempt]: attempt });
    spans.delete(key);
    return span;
  };

  const failSpan = (span: Span, error: ErrorInfo, attributes: Attributes) => {
    span.setAttributes({ [ATTR.outcome]: 'failed', ...errorAttributes(error), ...attributes });
    span.recordException(exceptionOf(error));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: error.message });
    span.end();
  };

  const record = (t: Tracked, event: OperationEvent) => {
    const { instruments } = telemetry;
    const type = { [ATTR.type]: t.state.type };
    const span = t.span;
    switch (event.type) {
      case 'OperationRequested':
        instruments.queued.add(1, type);
        return;
      case 'StepStarted': {
        const { step, attempt, provider } = event.data;
        t.steps.set(
          attemptKey(step, attempt, provider),
          child(t, SPAN.step(step), {
            [ATTR.step]: step,
            [ATTR.attempt]: attempt,
            ...(provider ? { [ATTR.provider]: provider } : {}),
          }),
        );
        return;
      }
      case 'StepSucceeded': {
        const { step, attempt, provider } = event.data;
        const s = endAttempt(t.steps, t, SPAN.step(step), step, attempt, provider);
        s.setAttribute(ATTR.outcome, 'succeeded');
        s.end();
        return;
      }
      case 'StepFailed': {
        const { step, attempt, error, willRetry, failoverTo, provider } = event.data;
        failSpan(endAttempt(t.steps, t, SPAN.step(step), step, attempt, provider), error, {
          [ATTR.willRetry]: willRetry,
          ...(failoverTo ? { [ATTR.failoverTo]: failoverTo } : {}),
        });
        if (failoverTo) {
          span?.addEvent(FAILOVER_EVENT, {
            [ATTR.step]: step,
            [ATTR.attempt]: attempt,
            ...(provider ? { [ATTR.provider]: provider } : {}),
            [ATTR.failoverTo]: failoverTo,
          });
          instruments.failedOver.add(1, { ...type, [ATTR.step]: step });
        } else if (willRetry) {
          instruments.retried.add(1, { ...type, [ATTR.step]: step });
        }
        return;
      }
      case 'StepUndoStarted': {
        const { step, attempt } = event.data;
        t.undos.set(
          attemptKey(step, attempt),
          child(t, SPAN.undo(step), { [ATTR.step]: step, [ATTR.attempt]: attempt }),
        );
        return;
      }
      case 'StepUndone': {
        const { step, attempt } = event.data;
        const s = endAttempt(t.undos, t, SPAN.undo(step), step, attempt);
        s.setAttribute(ATTR.outcome, 'succeeded');
        s.end();
        return;
      }
      case 'StepUndoFailed': {
        const { step, attempt, error, willRetry } = event.data;
        failSpan(endAttempt(t.undos, t, SPAN.undo(step), step, attempt), error, {
          [ATTR.willRetry]: willRetry,
        });
        if (!willRetry) instruments.undosFailed.add(1, { ...type, [ATTR.step]: step });
        return;
      }
      case 'LogWritten': {
        if (telemetry.logLines === 'off') return;
        const { step, level, message } = event.data;
        // On the span of the step's attempt or undo that is open, if one is.
        const open = step
          ? [...t.steps.entries(), ...t.undos.entries()].findLast(([k]) =>
              k.startsWith(`${step}#`),
            )?.[1]
          : undefined;
        (open ?? span)?.addEvent(LOG_EVENT, {
          [ATTR.logLevel]: level,
          [ATTR.logMessage]: message,
          ...(step ? { [ATTR.step]: step } : {}),
        });
        return;
      }
      case 'OperationStarted':
        instruments.started.add(1, type);
        {
          const wait = seconds(t.state.createdAt, event.data.at);
          if (wait !== undefined) instruments.queueWait.record(wait, type);
        }
        break;
      case 'OperationTakenOver':
        instruments.takeovers.add(1, { ...type, [ATTR.reason]: event.data.reason });
        break;
      case 'OperationFailed':
        // The error travels on the `opledger.failed` event itself (a separate `exception`
        // event would be a second span event for one event).
        span?.setAttributes(errorAttributes(event.data.error));
        break;
      default:
        break;
    }
    span?.addEvent(SPAN_EVENT[event.type as keyof typeof SPAN_EVENT], eventAttributes(event));
  };

  const endRun = (t: Tracked) => {
    const { instruments } = telemetry;
    const s = t.state;
    const outcome = { [ATTR.outcome]: s.status, [ATTR.rollback]: s.rollback.status };
    for (const open of [...t.steps.values(), ...t.undos.values()]) open.end();
    t.span!.setAttributes(outcome);
    if (s.status === 'failed') {
      t.span!.setStatus({
        code: api.SpanStatusCode.ERROR,
        message: s.failure?.error.message ?? 'failed',
      });
    }
    t.span!.end();
    const attributes = { [ATTR.type]: s.type, ...outcome };
    instruments.ended.add(1, attributes);
    const duration = seconds(s.startedAt, s.lastEventAt);
    if (duration !== undefined) instruments.duration.record(duration, attributes);
    instruments.running.add(-1, { [ATTR.type]: s.type });
  };

  return {
    /**
     * Whether `id` is being recorded here (requested or run): it is followed to its end, even if
     * the providers are taken away in the meantime, so that its span ends and it is not kept.
     */
    follows: (id: string | undefined): boolean => id !== undefined && tracked.has(id),
    /** Whether any operation is being followed: none, and an idle append need not look. */
    followsAny: (): boolean => tracked.size > 0,
    /** Before an append to `id`'s stream: starts the run's span when this append starts it. */
    prepare: async (id: string, events: readonly EventData[]): Promise<PreparedAppend> => {
      let t = tracked.get(id);
      const fresh = t === undefined;
      if (!t && runs && events.some((e) => RUN_EVENTS.has(e.type))) t = await load(id);
      let span: Span | undefined;
      let tracer: Tracer | undefined;
      let sent = events;
      if (t && runs && !t.span && events.some((e) => e.type !== 'OperationRequested')) {
        tracer = telemetry.tracer;
        span = startRun(t, tracer);
        const context = span.spanContext();
        if (api.trace.isSpanContextValid(context)) {
          const [first, ...rest] = events;
          sent = [
            {
              ...first!,
              metadata: { ...first!.metadata, [TRACEPARENT]: formatTraceparent(context) },
            },
            ...rest,
          ];
        }
      }
      return {
        events: sent,
        landed: () => {
          if (!t && events[0]?.type === 'OperationRequested') {
            const parent = contextFromMetadata(api, events[0].metadata);
            t = {
              state: initialState(),
              ...(parent ? { parent } : {}),
              steps: new Map(),
              undos: new Map(),
            };
          }
          if (!t) return;
          if (fresh && role === 'engine') tracked.set(id, t);
          // Two appends that raced to start the run (a cancel beside the start): the first to
          // land is the run; the other's span is dropped unended, so never exported.
          if (span && !t.span) {
            const wasQueued = t.state.status === 'queued';
            t.span = span;
            if (tracer) t.tracer = tracer;
            t.context = api.trace.setSpan(t.parent ?? api.ROOT_CONTEXT, span);
            telemetry.instruments.running.add(1, { [ATTR.type]: t.state.type });
            if (wasQueued) telemetry.instruments.queued.add(-1, { [ATTR.type]: t.state.type });
            if (!tracked.has(id)) tracked.set(id, t);
          }
          for (const e of events) {
            const event = { type: e.type, data: e.data } as OperationEvent;
            t.state = evolve(t.state, event);
            record(t, event);
          }
          if (t.span && hasEnded(t.state)) {
            endRun(t);
            tracked.delete(id);
          }
        },
      };
    },
  };
};

const eventAttributes = (event: OperationEvent): Attributes => {
  switch (event.type) {
    case 'OperationClaimed':
      return { [ATTR.worker]: event.data.worker };
    case 'OperationTakenOver':
      return { [ATTR.worker]: event.data.worker, [ATTR.reason]: event.data.reason };
    case 'CancellationRequested':
      return { [ATTR.user]: event.data.user };
    case 'OperationFailed':
      return {
        [ATTR.reason]: event.data.reason,
        ...(event.data.failedStep ? { [ATTR.step]: event.data.failedStep } : {}),
        ...errorAttributes(event.data.error),
        'exception.type': event.data.error.name,
        'exception.message': event.data.error.message,
      };
    case 'RollbackStarted':
      return { [ATTR.reason]: event.data.reason };
    case 'StepNotUndoable':
      return { [ATTR.step]: event.data.step, [ATTR.reason]: event.data.reason };
    case 'RollbackFinished':
      return {
        [ATTR.rollback]: event.data.outcome,
        'opledger.not_undone': event.data.notUndone.map((n) => n.step),
      };
    default:
      return {};
  }
};
