import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../src/domain/events.js';
import {
  createOperationFold,
  evolve,
  foldOperation,
  initialState,
  type OperationState,
} from '../../src/domain/operation.js';
import { evolvePerEvent } from '../support/evolve-per-event.js';

/**
 * The draft fold (createOperationFold, and evolve built on it) against the per-event fold it
 * replaced (test/support/evolve-per-event.ts, the code as it was): the same state after every
 * event, the same own keys (a cleared field left out), frozen all the way down when handed out,
 * and a state once handed out never changes. Events are any sequence, valid or not, over a few
 * step names, some of them names an object's prototype answers to.
 */

const stepName = fc.constantFrom('build', 'deploy', 'check', '__proto__', 'toString');
const at = fc
  .integer({ min: 0, max: 1e6 })
  .map((n) => new Date(Date.UTC(2026, 0, 5) + n * 1000).toISOString());
const error = fc.record({
  name: fc.constant('Error'),
  message: fc.string({ maxLength: 4 }),
  causes: fc.constant([]),
});
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
/** A record without the keys whose value is undefined, as a decoded event has. */
const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const event = <T extends OperationEvent['type']>(type: T, data: fc.Arbitrary<object>) =>
  data.map((d) => ({ type, data: defined(d) }) as unknown as OperationEvent);

const anyEvents: fc.Arbitrary<OperationEvent[]> = fc.array(
  fc.oneof(
    event(
      'OperationRequested',
      fc.record({
        operationId: fc.constant('op-1'),
        type: fc.constant('deploy'),
        environment: fc.constant('prod'),
        resource: fc.record({ type: fc.constant('app'), handle: fc.constant('web') }),
        user: fc.constant('ada'),
        params: fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
        createdAt: at,
        idempotencyKey: maybe(fc.constant('key')),
        steps: fc.uniqueArray(
          fc.record({
            name: stepName,
            kind: fc.constantFrom('undoable', 'irreversible', 'no_side_effects'),
          }),
          { minLength: 1, maxLength: 4, selector: (s) => s.name },
        ),
        lifecycle: maybe(fc.constantFrom('provision', 'deprovision')),
        dispatch: maybe(fc.constant('worker')),
      }),
    ),
    event(
      'OperationClaimed',
      fc.record({ worker: fc.constant('w'), lease: fc.constant('l'), fence: fc.nat(3), at }),
    ),
    event(
      'OperationTakenOver',
      fc.record({ worker: fc.constant('v'), lease: fc.constant('m'), fence: fc.nat(3), at }),
    ),
    event('OperationStarted', fc.record({ at })),
    event(
      'StepStarted',
      fc.record({
        step: stepName,
        attempt: fc.integer({ min: 1, max: 3 }),
        provider: maybe(fc.constantFrom('a', 'b')),
        at,
      }),
    ),
    event(
      'StepSucceeded',
      fc.record({
        step: stepName,
        output: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
        provider: maybe(fc.constantFrom('a', 'b')),
        at,
      }),
    ),
    event(
      'StepFailed',
      fc.record({
        step: stepName,
        attempt: fc.integer({ min: 1, max: 3 }),
        error,
        willRetry: fc.boolean(),
        failoverTo: maybe(fc.constantFrom('b', '')),
        possiblyDone: maybe(fc.boolean()),
        heartbeat: maybe(fc.jsonValue({ maxDepth: 2 })),
        at,
      }),
    ),
    event('CancellationRequested', fc.record({ user: fc.constant('bob'), at })),
    event(
      'OperationFailed',
      fc.record({
        reason: fc.constantFrom('step_failed', 'cancelled'),
        failedStep: maybe(stepName),
        error,
        rollbackRequired: fc.boolean(),
        at,
      }),
    ),
    event('RollbackStarted', fc.record({ reason: fc.constantFrom('failure', 'cancelled'), at })),
    event('StepUndoStarted', fc.record({ step: stepName, at })),
    event('StepUndone', fc.record({ step: stepName, at })),
    event('StepUndoFailed', fc.record({ step: stepName, willRetry: fc.boolean(), error, at })),
    event(
      'StepNotUndoable',
      fc.record({ step: stepName, reason: fc.constantFrom('irreversible', 'skipped'), at }),
    ),
    event(
      'RollbackFinished',
      fc.record({
        outcome: fc.constantFrom('succeeded', 'failed'),
        notUndone: fc.array(fc.record({ step: stepName, reason: fc.constant('irreversible') }), {
          maxLength: 2,
        }),
        at,
      }),
    ),
    event(
      'OperationSucceeded',
      fc.record({
        at,
        effects: maybe(
          fc
            .record({
              lifecycle: maybe(fc.constantFrom('provision', 'deprovision')),
              release: maybe(fc.constant('v2')),
            })
            .map(defined),
        ),
      }),
    ),
    event('LogWritten', fc.record({ step: maybe(stepName), message: fc.constant('hi'), at })),
  ),
  { maxLength: 24 },
);
/**
 * Any events, step events naming steps no request planned among them, '__proto__' and
 * 'toString' included (names an object's prototype answers to): both folds ignore them.
 */
const events = anyEvents;

/** Each fold gets its own copy of the events: both freeze what they take from them. */
const copy = (es: OperationEvent[]): OperationEvent[] => structuredClone(es);

const isDeeplyFrozen = (value: unknown): boolean =>
  value === null ||
  typeof value !== 'object' ||
  (Object.isFrozen(value) &&
    Reflect.ownKeys(value).every((k) => isDeeplyFrozen((value as never)[k])));

/** The per-event states, oldest first, from `start`. */
const perEvent = (start: OperationState, es: OperationEvent[]): OperationState[] => {
  const states: OperationState[] = [];
  let state = start;
  for (const e of es) states.push((state = evolvePerEvent(state, e)));
  return states;
};

describe('the draft fold equals the per-event fold', () => {
  it('createOperationFold: state by state at any hand-out points, frozen, never changed after', () => {
    fc.assert(
      fc.property(events, fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), (es, reads) => {
        const expected = perEvent(initialState(), copy(es));
        const fold = createOperationFold();
        const handedOut: Array<{ state: OperationState; snapshot: OperationState; i: number }> = [];
        copy(es).forEach((e, i) => {
          fold.apply(e);
          if (!reads[i]) return;
          const state = fold.state();
          expect(state).toStrictEqual(expected[i]);
          expect(Object.keys(state).sort()).toEqual(Object.keys(expected[i]!).sort());
          expect(isDeeplyFrozen(state)).toBe(true);
          expect(fold.state()).toBe(state); // the same object until the next event
          handedOut.push({ state, snapshot: structuredClone(state), i });
        });
        const last = fold.state();
        expect(last).toStrictEqual(es.length > 0 ? expected[es.length - 1] : initialState());
        expect(isDeeplyFrozen(last)).toBe(true);
        for (const h of handedOut) expect(h.state).toStrictEqual(h.snapshot);
      }),
      { numRuns: 400 },
    );
  });

  it('createOperationFold from a state read back (not frozen) or handed out (frozen)', () => {
    fc.assert(
      fc.property(events, fc.nat(), fc.boolean(), (es, cut, readBack) => {
        const k = es.length === 0 ? 0 : cut % es.length;
        const before = copy(es.slice(0, k));
        const start = before.reduce(evolvePerEvent, initialState());
        // A read store's JSON gives back a state that is not frozen, and without undefined keys.
        const from = readBack ? (JSON.parse(JSON.stringify(start)) as OperationState) : start;
        const fromCopy = structuredClone(from);
        const rest = copy(es.slice(k));
        const expected = perEvent(from, copy(es.slice(k)));
        const fold = createOperationFold(from);
        rest.forEach((e, i) => {
          fold.apply(e);
          expect(fold.state()).toStrictEqual(expected[i]);
        });
        expect(isDeeplyFrozen(fold.state())).toBe(true);
        expect(from).toStrictEqual(fromCopy); // frozen in place, never changed
      }),
      { numRuns: 300 },
    );
  });

  it('evolve and foldOperation: the per-event fold, event by event, and the state given unchanged', () => {
    fc.assert(
      fc.property(events, (es) => {
        const expected = perEvent(initialState(), copy(es));
        let state = initialState();
        copy(es).forEach((e, i) => {
          const before = structuredClone(state);
          const after = evolve(state, e);
          expect(after).toStrictEqual(expected[i]);
          expect(isDeeplyFrozen(after)).toBe(true);
          expect(state).toStrictEqual(before);
          state = after;
        });
        const last = es.length > 0 ? expected[es.length - 1] : initialState();
        expect(foldOperation(copy(es))).toStrictEqual(last);
        // Folded on from a state: what came after it, one frozen state at the end.
        const k = Math.floor(es.length / 2);
        const later = foldOperation(copy(es.slice(k)), foldOperation(copy(es.slice(0, k))));
        expect(later).toStrictEqual(last);
        expect(isDeeplyFrozen(later)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
