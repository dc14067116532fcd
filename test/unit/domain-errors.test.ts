import { describe, expect, it } from 'vitest';
import { allowAll, ensureAllowed, type AccessAction } from '../../src/domain/authorization.js';
import { describeError, toErrorInfo } from '../../src/domain/error-info.js';
import * as errors from '../../src/domain/errors.js';
import { AccessDeniedError, OpledgerError } from '../../src/domain/errors.js';

describe('error info: an error as recorded in events', () => {
  it('given an error with a cause chain, then its name, message, code and every cause, outermost first', () => {
    const root = Object.assign(new TypeError('socket closed'), { code: 'ECONNRESET' });
    const error = Object.assign(
      new Error('pull failed', { cause: new Error('registry down', { cause: root }) }),
      {
        code: 'PULL_FAILED',
      },
    );
    expect(toErrorInfo(error)).toStrictEqual({
      name: 'Error',
      message: 'pull failed',
      code: 'PULL_FAILED',
      causes: ['registry down', 'socket closed'],
    });
  });

  it('given causes that are not errors, then their text or JSON is recorded and the chain stops there', () => {
    expect(toErrorInfo(new Error('a', { cause: 'plain text' })).causes).toEqual(['plain text']);
    expect(toErrorInfo(new Error('a', { cause: { status: 503 } })).causes).toEqual([
      '{"status":503}',
    ]);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(toErrorInfo(new Error('a', { cause: circular })).causes).toEqual(['[object Object]']);
    expect(toErrorInfo(new Error('a', { cause: undefined })).causes).toEqual([]);
  });

  it('given a chain of causes longer than ten, then the first ten are kept', () => {
    let error = new Error('cause 12');
    for (let i = 11; i >= 0; i--) error = new Error(`cause ${i}`, { cause: error });
    const info = toErrorInfo(error);
    expect(info.causes).toHaveLength(10);
    expect(info.causes[0]).toBe('cause 1');
    expect(info.causes[9]).toBe('cause 10');
  });

  it('given a thrown value that is not an Error, then it is recorded as an Error with its text', () => {
    expect(toErrorInfo('boom')).toStrictEqual({ name: 'Error', message: 'boom', causes: [] });
    expect(toErrorInfo({ code: 'E42' })).toStrictEqual({
      name: 'Error',
      message: '{"code":"E42"}',
      code: 'E42',
      causes: [],
    });
    expect(toErrorInfo({ code: 42 })).not.toHaveProperty('code');
    expect(toErrorInfo(null).message).toBe('null');
    expect(toErrorInfo(undefined).message).toBe('undefined');
    expect(toErrorInfo(() => 1).message).toMatch(/=>/);
  });

  it('given an error with an empty message, then the message says there was none', () => {
    expect(toErrorInfo(new Error('')).message).not.toBe('');
    expect(toErrorInfo('').message).toBe(toErrorInfo(new Error('')).message);
  });

  it('given an error info, then its description joins the message and causes without the periods that would end the sentence', () => {
    expect(
      describeError({ name: 'Error', message: 'pull failed.', causes: ['registry down...  '] }),
    ).toBe('pull failed; caused by: registry down');
    expect(describeError({ name: 'Error', message: 'v1.2 failed', causes: [] })).toBe(
      'v1.2 failed',
    );
  });
});

describe('typed errors', () => {
  it('given any opledger error, then it is an OpledgerError and an Error with its class name and a stable code', () => {
    const samples: OpledgerError[] = [
      new errors.InvalidDefinitionError('deploy', 'x'),
      new errors.UnknownOperationTypeError('deploy', []),
      new errors.InvalidRequestError('x'),
      new errors.InvalidParamsError('deploy', []),
      new errors.OperationNotFoundError('op-1'),
      new errors.OperationEndedError('op-1', 'succeeded'),
      new errors.OperationCancelledError('op-1'),
      new errors.RollbackNotFailedError('op-1', 'none'),
      new errors.UnknownStepError('op-1', 'x'),
      new errors.InvalidTransitionError('op-1', 'StartStep', 'x'),
      new errors.IdempotencyKeyReusedError('k', 'op-1'),
      new errors.ConcurrencyError('s', 'x', 1n),
      new errors.StoredEventError('UNKNOWN_EVENT_TYPE', 's', 1n, 0n, 'x'),
      new errors.InvalidEventError('X', 'x'),
      new errors.StoreClosedError(),
      new errors.EngineClosedError(),
      new errors.EnvironmentNotFoundError('production'),
      new AccessDeniedError('read'),
      new errors.InvalidStoreUrlError('x:', 'x'),
      new errors.StepTimeoutError('pull', 'heartbeat', 1),
    ];
    expect(samples.map((e) => e.code)).toEqual([
      'INVALID_DEFINITION',
      'UNKNOWN_OPERATION_TYPE',
      'INVALID_REQUEST',
      'INVALID_PARAMS',
      'OPERATION_NOT_FOUND',
      'OPERATION_ENDED',
      'OPERATION_CANCELLED',
      'ROLLBACK_NOT_FAILED',
      'UNKNOWN_STEP',
      'INVALID_TRANSITION',
      'IDEMPOTENCY_KEY_REUSED',
      'CONCURRENCY_CONFLICT',
      'UNKNOWN_EVENT_TYPE',
      'INVALID_EVENT',
      'STORE_CLOSED',
      'ENGINE_CLOSED',
      'ENVIRONMENT_NOT_FOUND',
      'ACCESS_DENIED',
      'INVALID_STORE_URL',
      'STEP_TIMEOUT',
    ]);
    for (const e of samples) {
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(e.constructor.name);
      expect(e.message).not.toBe('');
    }
  });

  it('given an InvalidRequestError without issues, then its issues are an empty list', () => {
    expect(new errors.InvalidRequestError('x').issues).toEqual([]);
    expect(new errors.InvalidRequestError('x', ['a']).issues).toEqual(['a']);
  });

  it('given a purged operation, then the error says when its environment was deprovisioned, if known', () => {
    const dated = new errors.OperationPurgedError('op-1', 'staging', '2026-01-05T00:00:00.000Z');
    expect(dated.code).toBe('OPERATION_PURGED');
    expect(dated.message).toContain(
      "environment 'staging', which was deprovisioned at 2026-01-05T00:00:00.000Z: its records",
    );
    const undated = new errors.OperationPurgedError('op-1', 'staging', undefined);
    expect(undated.message).toContain(
      "environment 'staging', which was deprovisioned: its records",
    );
  });

  it('given a skip refused, then the error names the position the read models stop at, or that they stop nowhere', () => {
    const stopped = new errors.SkipRefusedError(7n, 5n);
    expect(stopped.code).toBe('SKIP_REFUSED');
    expect(stopped.message).toContain('The read models stop at position 5, not 7');
    expect(stopped.message).toContain('skip position 5 if it cannot be repaired');
    const nowhere = new errors.SkipRefusedError(7n, undefined);
    expect(nowhere.message).toContain('Nothing to skip at position 7');
  });

  it('given a missing peer dependency, then DRIVER_MISSING unless another code is given, naming what to install', () => {
    const cause = new Error('Cannot find package');
    const driver = new errors.PeerDependencyMissingError('pg', 'The PostgreSQL store', { cause });
    expect(driver).toMatchObject({ code: 'DRIVER_MISSING', packageName: 'pg', cause });
    expect(driver.message).toContain('run `npm install pg` in your project');
    const testing = new errors.PeerDependencyMissingError('fast-check', 'opledger/testing', {
      code: 'TEST_DEPENDENCY_MISSING',
      version: '^4',
    });
    expect(testing.code).toBe('TEST_DEPENDENCY_MISSING');
    expect(testing.message).toContain(
      "opledger/testing needs the optional peer dependency 'fast-check'",
    );
    expect(testing.message).toContain('run `npm install fast-check@^4` in your project');
    expect(new errors.PeerDependencyMissingError('pg', 'x').cause).toBeUndefined();
  });

  it('given a cause, then the error keeps it', () => {
    const cause = new Error('below');
    expect(new OpledgerError('X', 'x', { cause }).cause).toBe(cause);
  });
});

describe('authorization', () => {
  it('given the default authorizer, then every read is allowed', async () => {
    expect(allowAll(undefined, 'operation:read', { environment: 'production' })).toBe(true);
    await expect(
      ensureAllowed(allowAll, undefined, 'operation:cancel', { environment: 'production' }),
    ).resolves.toBeUndefined();
  });

  it('given an authorizer that says no, synchronously or not, then AccessDeniedError naming the action in words', async () => {
    for (const deny of [() => false, async () => false]) {
      const refusal = ensureAllowed(deny, { user: 'eve' }, 'operation:cancel', {
        environment: 'production',
      });
      await expect(refusal).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(refusal).rejects.toMatchObject({
        action: 'operation:cancel',
        message:
          'Access denied: you may not cancel this operation. Ask an administrator for access.',
      });
    }
  });

  it('given an authorizer that says no to every action, then each denial says in its own words what was refused', async () => {
    // A Record over the union: an action added to AccessAction fails to compile here until listed.
    const every: Record<AccessAction, true> = {
      'operation:read': true,
      'operation:follow': true,
      'operations:list': true,
      'environments:list': true,
      'resources:list': true,
      'activity-reports:read': true,
      'operation:cancel': true,
      'projection:read': true,
    };
    const phrases: string[] = [];
    for (const action of Object.keys(every) as AccessAction[]) {
      const refusal = await ensureAllowed(() => false, 'eve', action, {
        environment: 'production',
      }).catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(AccessDeniedError);
      const { message } = refusal as AccessDeniedError;
      const phrase = /^Access denied: you may not (.+)\. Ask an administrator for access\.$/.exec(
        message,
      )?.[1];
      // Words for a person (no bare 'operations:list'), one sentence per action.
      expect(phrase, action).toMatch(/^[a-z]+( [a-z-]+)+$/);
      phrases.push(phrase!);
    }
    expect(new Set(phrases).size).toBe(phrases.length);
  });

  it('given an authorizer, then it is asked about this actor, action and target', async () => {
    const asked: unknown[] = [];
    const target = { environment: 'production', operationId: 'op-1' };
    await ensureAllowed(
      (...args) => {
        asked.push(args);
        return true;
      },
      'ada',
      'operation:read',
      target,
    );
    expect(asked).toEqual([['ada', 'operation:read', target]]);
  });
});
