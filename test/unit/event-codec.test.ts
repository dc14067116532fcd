import { describe, expect, it, vi } from 'vitest';
import { InvalidEventError, StoredEventError } from '../../src/domain/errors.js';
import {
  createEventDecoder,
  decodeEvent,
  encodeEvent,
  type Upcaster,
} from '../../src/domain/event-codec.js';
import type { RecordedEvent } from '../../src/domain/event-store.js';
import { eventVersions, type DomainEvent } from '../../src/domain/events.js';
import { toRecordedEvent } from '../../src/adapters/sqlite/event-rows.js';

const at = '2026-01-05T00:00:00.000Z';

const recorded = (type: string, data: unknown, version = 1): RecordedEvent => ({
  type,
  version,
  data,
  streamName: 'operation-op-000042',
  streamRevision: 7n,
  globalPosition: 1234n,
  recordedAt: new Date(at),
});

const catchError = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('Expected an error, but none was thrown');
};

const expectStoredEventError = (
  run: () => unknown,
  code: 'UNKNOWN_EVENT_TYPE' | 'INVALID_STORED_EVENT',
): StoredEventError => {
  const error = catchError(run);
  expect(error).toBeInstanceOf(StoredEventError);
  const stored = error as StoredEventError;
  expect(stored.code).toBe(code);
  expect(stored.stream).toBe('operation-op-000042');
  expect(stored.position).toBe(1234n);
  expect(stored.revision).toBe(7n);
  expect(stored.message).toContain("stream 'operation-op-000042'");
  expect(stored.message).toContain('position 1234');
  return stored;
};

/** Version 0 of OperationStarted called its timestamp `startedAt`; version 1 calls it `at`. */
const renameStartedAt: Upcaster = {
  type: 'OperationStarted',
  fromVersion: 0,
  upcast: (data) => {
    const { startedAt, ...rest } = data as { startedAt: string };
    return { ...rest, at: startedAt };
  },
};

/** An OperationRequested whose params are `params` (from JSON, as a store or a client has them). */
const requested = (params: string) => ({
  operationId: 'op-000042',
  type: 'deploy',
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: JSON.parse(params) as Record<string, unknown>,
  createdAt: at,
  steps: [{ name: 'pull', kind: 'undoable' as const }],
});

describe('encodeEvent', () => {
  it('encodes a valid event with its current schema version', () => {
    const encoded = encodeEvent({ type: 'OperationStarted', data: { at } });
    expect(encoded).toEqual({
      type: 'OperationStarted',
      version: eventVersions.OperationStarted,
      data: { at },
    });
  });

  it('encodes the validated data: keys outside the schema are dropped', () => {
    const event = { type: 'OperationStarted', data: { at, sneaky: 'x' } } as unknown as DomainEvent;
    expect(encodeEvent(event).data).toEqual({ at });
  });

  it('rejects an event whose data does not match its schema', () => {
    const error = catchError(() =>
      encodeEvent({ type: 'StepStarted', data: { step: '', attempt: 0, at: 'yesterday' } }),
    );
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as InvalidEventError).code).toBe('INVALID_EVENT');
    expect((error as Error).message).toContain("'StepStarted'");
    expect((error as Error).message).toMatch(/step:/);
    expect((error as Error).message).toMatch(/attempt:/);
    expect((error as Error).message).toMatch(/at:/);
  });

  it('rejects params with an own __proto__ key instead of writing them without it', () => {
    const error = catchError(() =>
      encodeEvent({ type: 'OperationRequested', data: requested('{"__proto__": 1, "a": 1}') }),
    );
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain(
      "params.__proto__: '__proto__' cannot be used as a key here",
    );
    // Inside a param's value it is kept, as before.
    const nested = encodeEvent({
      type: 'OperationRequested',
      data: requested('{"a": {"__proto__": 1}}'),
    });
    expect(Object.entries((nested.data as { params: { a: object } }).params.a)).toEqual([
      ['__proto__', 1],
    ]);
  });

  it('rejects an event with missing data', () => {
    const event = { type: 'OperationStarted', data: undefined } as unknown as DomainEvent;
    const error = catchError(() => encodeEvent(event));
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as InvalidEventError).code).toBe('INVALID_EVENT');
  });

  it.each(['NoSuchEvent', 'constructor', 'toString', '__proto__'])(
    'rejects the unknown event type %j',
    (type) => {
      const error = catchError(() => encodeEvent({ type, data: {} } as unknown as DomainEvent));
      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as InvalidEventError).code).toBe('INVALID_EVENT');
      expect((error as Error).message).toContain(`'${type}'`);
      expect((error as Error).message).toContain('unknown event type');
    },
  );
});

describe('decodeEvent', () => {
  it('decodes what encodeEvent wrote', () => {
    const event: DomainEvent = {
      type: 'StepFailed',
      data: {
        step: 'create-vm',
        attempt: 2,
        error: { name: 'Error', message: 'quota', causes: ['quota exceeded'] },
        willRetry: true,
        retryInMs: 500,
        at,
      },
    };
    const encoded = encodeEvent(event);
    expect(decodeEvent(recorded(encoded.type, encoded.data, encoded.version))).toEqual(event);
  });

  it.each(['NoSuchEvent', 'constructor', 'hasOwnProperty'])(
    'rejects the unknown type %j, naming the stream and position',
    (type) => {
      const error = expectStoredEventError(
        () => decodeEvent(recorded(type, { at })),
        'UNKNOWN_EVENT_TYPE',
      );
      expect(error.message).toContain(`'${type}'`);
    },
  );

  it('rejects malformed data', () => {
    const error = expectStoredEventError(
      () => decodeEvent(recorded('OperationStarted', { at: 'not a timestamp' })),
      'INVALID_STORED_EVENT',
    );
    expect(error.message).toContain('OperationStarted');
    expect(error.message).toMatch(/at:/);
    expectStoredEventError(
      () => decodeEvent(recorded('OperationStarted', null)),
      'INVALID_STORED_EVENT',
    );
  });

  it('rejects stored params with an own __proto__ key instead of reading them without it', () => {
    const data = requested('{"__proto__": 1, "a": 1}');
    const error = expectStoredEventError(
      () => decodeEvent(recorded('OperationRequested', data, eventVersions.OperationRequested)),
      'INVALID_STORED_EVENT',
    );
    expect(error.message).toContain("params.__proto__: '__proto__' cannot be used as a key here");
  });

  it('rejects a version newer than this code knows', () => {
    const error = expectStoredEventError(
      () => decodeEvent(recorded('OperationStarted', { at }, eventVersions.OperationStarted + 1)),
      'INVALID_STORED_EVENT',
    );
    expect(error.message).toContain(`version ${eventVersions.OperationStarted + 1}`);
    expect(error.message).toContain('newer');
  });

  it.each([
    ['NaN', Number.NaN],
    ['a fraction', 0.5],
    ['a string', '1'],
    ['missing', undefined],
  ])('rejects a stored version that is %s', (_, version) => {
    const event = { ...recorded('OperationStarted', { at }), version } as unknown as RecordedEvent;
    expectStoredEventError(() => decodeEvent(event), 'INVALID_STORED_EVENT');
  });

  it('applies an upcaster to an older version before validating', () => {
    const upcast = vi.fn(renameStartedAt.upcast);
    const decode = createEventDecoder([{ ...renameStartedAt, upcast }]);
    expect(decode(recorded('OperationStarted', { startedAt: at }, 0))).toEqual({
      type: 'OperationStarted',
      data: { at },
    });
    expect(upcast).toHaveBeenCalledTimes(1);
    expect(upcast).toHaveBeenCalledWith({ startedAt: at });
  });

  it('does not upcast an event already at the current version', () => {
    const upcast = vi.fn(renameStartedAt.upcast);
    const decode = createEventDecoder([{ ...renameStartedAt, upcast }]);
    expect(decode(recorded('OperationStarted', { at }, 1))).toEqual({
      type: 'OperationStarted',
      data: { at },
    });
    expect(upcast).not.toHaveBeenCalled();
  });

  it('chains upcasters across several versions, in order', () => {
    const decode = createEventDecoder([
      renameStartedAt,
      {
        type: 'OperationStarted',
        fromVersion: -1,
        upcast: (data) => ({ startedAt: (data as { when: string }).when }),
      },
    ]);
    expect(decode(recorded('OperationStarted', { when: at }, -1))).toEqual({
      type: 'OperationStarted',
      data: { at },
    });
  });

  it('only applies an upcaster to its own event type', () => {
    const decode = createEventDecoder([renameStartedAt]);
    expectStoredEventError(
      () => decode(recorded('OperationSucceeded', { startedAt: at }, 0)),
      'INVALID_STORED_EVENT',
    );
  });

  it('validates what the upcaster produced', () => {
    const decode = createEventDecoder([{ ...renameStartedAt, upcast: () => ({ at: 'later' }) }]);
    expectStoredEventError(
      () => decode(recorded('OperationStarted', { startedAt: at }, 0)),
      'INVALID_STORED_EVENT',
    );
  });

  it('names the stream and position when an upcaster throws', () => {
    const decode = createEventDecoder([
      {
        ...renameStartedAt,
        upcast: () => {
          throw new Error('no startedAt field');
        },
      },
    ]);
    const error = expectStoredEventError(
      () => decode(recorded('OperationStarted', { when: at }, 0)),
      'INVALID_STORED_EVENT',
    );
    expect(error.message).toContain('upcaster');
    expect(error.message).toContain('no startedAt field');
  });

  it('rejects an older version with no upcaster for it', () => {
    const error = expectStoredEventError(
      () => decodeEvent(recorded('OperationStarted', { startedAt: at }, 0)),
      'INVALID_STORED_EVENT',
    );
    expect(error.message).toContain('no upcaster handles version 0');
    expect(error.message).toContain('OperationStarted');
  });
});

describe('what a stored event error advises, per kind of bad event', () => {
  const kindOf = (run: () => unknown) => {
    const error = catchError(run) as StoredEventError;
    return { kind: error.kind, message: error.message };
  };

  it('an upcaster only for an old version; an upgrade for a newer one; a repair or a skip otherwise', () => {
    const unknown = kindOf(() => decodeEvent(recorded('NoSuchEvent', { at })));
    expect(unknown.kind).toBe('unknown_type');
    expect(unknown.message).toMatch(/If a newer opledger wrote it, upgrade; otherwise repair/);

    const mismatch = kindOf(() => decodeEvent(recorded('OperationStarted', { at: 'nope' })));
    expect(mismatch.kind).toBe('schema_mismatch');
    expect(mismatch.message).toMatch(/Repair its data .*record a skip of it/);

    const newer = kindOf(() =>
      decodeEvent(recorded('OperationStarted', { at }, eventVersions.OperationStarted + 1)),
    );
    expect(newer).toEqual({
      kind: 'newer_version',
      message: expect.stringMatching(/Upgrade opledger to read this store\.$/),
    });

    const old = kindOf(() => decodeEvent(recorded('OperationStarted', { startedAt: at }, 0)));
    expect(old.kind).toBe('old_version');
    expect(old.message).toMatch(/Register an upcaster from that version/);

    const failing = kindOf(() =>
      createEventDecoder([
        {
          ...renameStartedAt,
          upcast: () => {
            throw new Error('boom');
          },
        },
      ])(recorded('OperationStarted', { startedAt: at }, 0)),
    );
    expect(failing.kind).toBe('schema_mismatch');

    // Only the old version is told to register an upcaster.
    for (const { message } of [unknown, mismatch, newer])
      expect(message).not.toMatch(/register an upcaster/i);
  });

  it('a row that is not JSON is damaged: repair it, or record a skip; no upcaster would help', () => {
    const error = catchError(() =>
      toRecordedEvent({
        position: 4n,
        stream: 'operation-op-1',
        revision: 3n,
        type: 'StepStarted',
        version: 1,
        data: '{"at": ',
        metadata: null,
        recorded_at: at,
      }),
    ) as StoredEventError;
    expect(error).toBeInstanceOf(StoredEventError);
    expect(error.kind).toBe('damaged');
    expect(error.message).toMatch(/its data is not valid JSON/);
    expect(error.message).toMatch(/Repair the stored row; .*`opledger projections:skip`/);
    expect(error.message).not.toMatch(/upcaster/i);
  });
});
