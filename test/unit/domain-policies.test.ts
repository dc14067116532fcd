import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/domain/deep-freeze.js';
import {
  describeExpectedVersion,
  NO_STREAM_REVISION,
  satisfiesExpectedVersion,
} from '../../src/domain/event-store.js';
import { createRedactor, REDACTED } from '../../src/domain/redaction.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  mayStart,
  type ResourceQueueState,
} from '../../src/domain/resource-queue.js';
import { resourceStreamName } from '../../src/domain/stream-names.js';
import {
  isRetryable,
  resolveRetryPolicy,
  retryDelayMs,
  validateRetryPolicy,
} from '../../src/domain/retry-policy.js';
import type { ResourceEvent } from '../../src/domain/events.js';

const at = '2026-01-05T00:00:00.000Z';

describe('redaction of sensitive params', () => {
  const redactor = createRedactor(['password', 'pin', 'empty', 'flag'], {
    password: 'hunter2',
    pin: 1234,
    empty: '',
    flag: true,
    user: 'ada',
  });

  it('given sensitive params, then their values are replaced in the recorded params and the others kept', () => {
    expect(redactor.params({ password: 'hunter2', pin: 1234, user: 'ada' })).toEqual({
      password: REDACTED,
      pin: REDACTED,
      user: 'ada',
    });
  });

  it('given a text quoting a secret, a number secret or a secret twice, then each is masked; empty and non-text values are not secrets', () => {
    expect(redactor.text('login hunter2 then hunter2, pin 1234 for ada true')).toBe(
      `login ${REDACTED} then ${REDACTED}, pin ${REDACTED} for ada true`,
    );
  });

  it('given a secret that contains another, then the longer is masked whole', () => {
    const r = createRedactor(['a', 'b'], { a: 'abc', b: 'abcdef' });
    expect(r.text('key abcdef')).toBe(`key ${REDACTED}`);
  });

  it('given an error, then its message and causes are masked and the rest kept', () => {
    expect(
      redactor.error({
        name: 'AuthError',
        code: 'E1',
        message: 'bad hunter2',
        causes: ['pin 1234'],
      }),
    ).toEqual({
      name: 'AuthError',
      code: 'E1',
      message: `bad ${REDACTED}`,
      causes: [`pin ${REDACTED}`],
    });
  });

  it('given no sensitive params, then params are copied whole (own keys, `__proto__` too) and text, values and errors kept', () => {
    const none = createRedactor([], { token: 'abc' });
    const params = JSON.parse('{"app":"web","__proto__":{"x":1},"n":2}') as Record<string, unknown>;
    const copied = none.params(params);
    expect(copied).not.toBe(params);
    expect(Object.keys(copied)).toEqual(['app', '__proto__', 'n']);
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(copied).toEqual(params);
    expect(none.text('abc')).toBe('abc');
    const output = { a: ['abc'] };
    expect(none.value(output)).toBe(output);
    const info = { name: 'E', message: 'abc', causes: ['abc'] };
    const error = none.error(info);
    expect(error).toEqual(info);
    expect(error).not.toBe(info);
    expect(error.causes).not.toBe(info.causes);
  });

  it("given a step's output, then every string in it, keys included, is masked and other values kept", () => {
    expect(
      redactor.value({
        url: 'https://ada:hunter2@db',
        list: ['hunter2', 7, null],
        hunter2: { ok: true },
        n: 1234,
      }),
    ).toEqual({
      url: `https://ada:${REDACTED}@db`,
      list: [REDACTED, 7, null],
      [REDACTED]: { ok: true },
      n: 1234,
    });
  });

  it('given no secret among the params, then values come back as they are', () => {
    const output = { token: 'abc' };
    expect(createRedactor(['password'], {}).value(output)).toBe(output);
    expect(createRedactor([], { password: 'x' }).text('x')).toBe('x');
  });
});

describe('retry policy', () => {
  it('given no policy, then one attempt with the documented defaults', () => {
    expect(resolveRetryPolicy(undefined)).toEqual({
      maxAttempts: 1,
      initialIntervalMs: 1000,
      backoffCoefficient: 2,
      maximumIntervalMs: 100_000,
      nonRetryable: [],
    });
    expect(resolveRetryPolicy({ maxAttempts: 3 })).toEqual({
      ...resolveRetryPolicy({}),
      maxAttempts: 3,
    });
  });

  it('given failed attempts, then the delay grows by the coefficient from the initial interval and is capped', () => {
    const policy = {
      ...resolveRetryPolicy({}),
      initialIntervalMs: 100,
      backoffCoefficient: 3,
      maximumIntervalMs: 1000,
    };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(policy, n))).toEqual([100, 300, 900, 1000]);
    expect(retryDelayMs({ ...policy, backoffCoefficient: 1.5 }, 2)).toBe(150);
    expect(retryDelayMs({ ...policy, initialIntervalMs: 1.4, backoffCoefficient: 1 }, 1)).toBe(1);
  });

  it('given an error named or coded as non-retryable, then it is not retried', () => {
    const policy = { ...resolveRetryPolicy({}), nonRetryable: ['AuthError', 'E_QUOTA'] };
    expect(isRetryable(policy, { name: 'AuthError' })).toBe(false);
    expect(isRetryable(policy, { name: 'Error', code: 'E_QUOTA' })).toBe(false);
    expect(isRetryable(policy, { name: 'Error', code: 'E_OTHER' })).toBe(true);
    expect(isRetryable(policy, { name: 'Error' })).toBe(true);
  });

  it('given a policy, then it is refused when an attempt count, interval or coefficient is out of range', () => {
    const ok = resolveRetryPolicy({});
    expect(validateRetryPolicy(ok)).toBeUndefined();
    expect(
      validateRetryPolicy({
        ...ok,
        initialIntervalMs: 0,
        maximumIntervalMs: 0,
        backoffCoefficient: 1,
      }),
    ).toBeUndefined();
    for (const bad of [
      { maxAttempts: 0 },
      { maxAttempts: 1.5 },
      { initialIntervalMs: -1 },
      { initialIntervalMs: Number.NaN },
      { backoffCoefficient: 0.5 },
      { maximumIntervalMs: 999 },
    ]) {
      expect(validateRetryPolicy({ ...ok, ...bad }), JSON.stringify(bad)).toMatch(/^retry\./);
    }
  });
});

describe('the resource queue: one operation at a time per resource', () => {
  const fold = (...events: ResourceEvent[]) =>
    events.reduce<ResourceQueueState>(evolveResourceQueue, initialResourceQueue());
  const queued = (operationId: string): ResourceEvent => ({
    type: 'ResourceOperationQueued',
    data: { operationId, at },
  });
  const startedOp = (operationId: string): ResourceEvent => ({
    type: 'ResourceOperationStarted',
    data: { operationId, at },
  });
  const finishedOp = (operationId: string): ResourceEvent => ({
    type: 'ResourceOperationFinished',
    data: { operationId, at },
  });

  it('given operations queued, then only the first in line may start, and the holder may go on', () => {
    const state = fold(queued('a'), queued('b'), queued('a'));
    expect(state).toEqual({ waiting: ['a', 'b'] });
    expect(mayStart(state, 'a')).toBe(true);
    expect(mayStart(state, 'b')).toBe(false);
    const held = fold(queued('a'), queued('b'), startedOp('a'));
    expect(held).toEqual({ waiting: ['a', 'b'], holder: 'a' });
    expect(mayStart(held, 'a')).toBe(true);
    expect(mayStart(held, 'b')).toBe(false);
  });

  it('given the holder finished, then the next in line may start', () => {
    const state = fold(queued('a'), queued('b'), startedOp('a'), finishedOp('a'));
    expect(state).toEqual({ waiting: ['b'] });
    expect(mayStart(state, 'b')).toBe(true);
  });

  it('given a waiting operation finished without holding (cancelled in line), then the holder keeps the resource', () => {
    const state = fold(queued('a'), queued('b'), startedOp('a'), finishedOp('b'));
    expect(state).toEqual({ waiting: ['a'], holder: 'a' });
  });

  it('given another operation holding the resource, then not even the first in line may start', () => {
    const state = fold(queued('a'), queued('b'), startedOp('b'));
    expect(mayStart(state, 'a')).toBe(false);
    expect(mayStart(state, 'b')).toBe(true);
  });

  it('given nothing queued, then nobody may start', () => {
    expect(mayStart(initialResourceQueue(), 'a')).toBe(false);
  });

  it("given a resource, then its stream name encodes the environment, type and handle so that no '/' is ambiguous", () => {
    expect(resourceStreamName('prod/eu', { type: 'app', handle: 'web 1' })).toBe(
      'resource-prod%2Feu/app/web%201',
    );
  });
});

describe('expected versions of an append', () => {
  it('given each kind of expected version, then it accepts exactly the streams it names', () => {
    expect(satisfiesExpectedVersion('any', NO_STREAM_REVISION)).toBe(true);
    expect(satisfiesExpectedVersion('any', 4n)).toBe(true);
    expect(satisfiesExpectedVersion('no_stream', NO_STREAM_REVISION)).toBe(true);
    expect(satisfiesExpectedVersion('no_stream', 0n)).toBe(false);
    expect(satisfiesExpectedVersion('stream_exists', 0n)).toBe(true);
    expect(satisfiesExpectedVersion('stream_exists', NO_STREAM_REVISION)).toBe(false);
    expect(satisfiesExpectedVersion(3n, 3n)).toBe(true);
    expect(satisfiesExpectedVersion(3n, 4n)).toBe(false);
    expect(NO_STREAM_REVISION).toBe(-1n);
  });

  it('given an expected version, then it is described as a revision or by its name', () => {
    expect(describeExpectedVersion(3n)).toBe('revision 3');
    expect(describeExpectedVersion('no_stream')).toBe("'no_stream'");
  });
});

describe('deep freeze', () => {
  it('given nested objects and arrays, then all of them are frozen in place', () => {
    const value = { a: { b: [{ c: 1 }] }, d: 'x', e: null };
    expect(deepFreeze(value)).toBe(value);
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.a)).toBe(true);
    expect(Object.isFrozen(value.a.b)).toBe(true);
    expect(Object.isFrozen(value.a.b[0])).toBe(true);
    expect(deepFreeze(null)).toBeNull();
    expect(deepFreeze('x')).toBe('x');
  });

  it('given an object already frozen, then what it holds is taken as frozen and not walked again', () => {
    const inner = { c: 1 };
    const outer = Object.freeze({ inner });
    deepFreeze(outer);
    expect(Object.isFrozen(inner)).toBe(false);
  });
});
