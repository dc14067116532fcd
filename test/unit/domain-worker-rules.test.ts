import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import {
  LeaseLostError,
  MissingDefinitionError,
  StepTimeoutError,
} from '../../src/domain/errors.js';
import { storeTime } from '../../src/domain/event-store.js';
import type { OperationEvent } from '../../src/domain/events.js';
import { toLogLine } from '../../src/domain/log-lines.js';
import { recovered } from '../../src/domain/next-action.js';
import { foldOperation } from '../../src/domain/operation.js';
import { DEFAULT_OUTAGE_BACKOFF, outageDelayMs } from '../../src/domain/outage-backoff.js';
import {
  leaseOfStream,
  leaseStreamName,
  operationStreamName,
  resourceSnapshotStreamName,
  WORKERS_STREAM,
} from '../../src/domain/stream-names.js';

// The domain's rules that came with workers, step timeouts and store outages, stated where a
// reader of the domain looks for them (and where `npm run mutation` runs them).

const at = '2026-01-05T00:00:00.000Z';
const line = (event: OperationEvent) => toLogLine('op-1', 3, event);
const requested: OperationEvent = {
  type: 'OperationRequested',
  data: {
    operationId: 'op-1',
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: {},
    createdAt: at,
    steps: [{ name: 'pull', kind: 'undoable' }],
  },
};

describe('StepTimeoutError: the message says which limit the step passed', () => {
  it('given a start-to-close timeout, then it names timeoutMs and how long the attempt ran', () => {
    const e = new StepTimeoutError('pull', 'start_to_close', 250);
    expect(e.code).toBe('STEP_TIMEOUT');
    expect(e.message).toMatch(/ran for 250 ms, its timeoutMs/);
    expect(e.message).not.toMatch(/heartbeat/i);
  });

  it('given a heartbeat timeout, then it names heartbeatTimeoutMs and tells to heartbeat more often', () => {
    const e = new StepTimeoutError('pull', 'heartbeat', 40);
    expect(e.message).toMatch(/no heartbeat for 40 ms, its heartbeatTimeoutMs/);
    expect(e.message).not.toMatch(/its timeoutMs/);
  });
});

describe('the Operation Log of workers', () => {
  it('given OperationClaimed, then an info line naming the worker', () => {
    const claimed = line({
      type: 'OperationClaimed',
      data: { worker: 'web-1', lease: 'web-1.a', fence: 1, at },
    } as OperationEvent);
    expect(claimed).toMatchObject({ level: 'info', message: 'Claimed by worker web-1', at });
  });

  it.each([
    ['lease_expired', 'expired'],
    ['lease_released', 'was released'],
  ] as const)(
    'given OperationTakenOver because the %s, then a warning naming both workers and how the lease ended',
    (reason, how) => {
      const taken = line({
        type: 'OperationTakenOver',
        data: {
          from: { worker: 'web-1', lease: 'web-1.a' },
          worker: 'web-2',
          lease: 'web-2.b',
          fence: 2,
          reason,
          leaseEndedAt: '2026-01-05T00:00:09.000Z',
          at,
        },
      });
      expect(taken).toEqual({
        operationId: 'op-1',
        revision: 3,
        at,
        level: 'warn',
        message: `Taken over by worker web-2 after web-1's lease ${how} at 2026-01-05T00:00:09.000Z`,
      });
    },
  );

  it('given OperationFailed because its worker was lost, then an error line saying it was interrupted', () => {
    const failed = line({
      type: 'OperationFailed',
      data: {
        reason: 'worker_lost',
        error: { name: 'InterruptedOperation', message: 'lost.', causes: [] },
        rollbackRequired: true,
        at,
      },
    });
    expect(failed).toMatchObject({ level: 'error' });
    expect(failed?.message).toBe('Operation interrupted: lost; rolling back');
  });
});

describe('recovered: the failure of an operation whose runner stopped', () => {
  const running = foldOperation([
    requested,
    { type: 'OperationStarted', data: { at } },
    { type: 'StepStarted', data: { step: 'pull', attempt: 1, at } },
  ]);
  const between = foldOperation([requested, { type: 'OperationStarted', data: { at } }]);

  it('given a step in flight and its worker lost, then the reason is worker_lost and the message blames the worker and names the step', () => {
    const f = recovered(running, 'worker_lost');
    expect(f).toMatchObject({ kind: 'fail', reason: 'worker_lost', step: 'pull' });
    expect(f.error.message).toMatch(/^the worker running this operation stopped while step 'pull'/);
  });

  it('given a step in flight and a process recovered, then the message blames the process', () => {
    const f = recovered(running);
    expect(f.reason).toBe('recovery');
    expect(f.error.message).toMatch(
      /^the process running this operation stopped while step 'pull'/,
    );
  });

  it('given no step in flight, then no step is named, for a worker and for a process', () => {
    expect(recovered(between, 'worker_lost').error.message).toMatch(
      /^the worker running this operation stopped before it ended/,
    );
    expect(recovered(between).error.message).toMatch(
      /^the process running this operation stopped before it ended/,
    );
    expect(recovered(between)).not.toHaveProperty('step');
  });
});

describe('stream names of workers and snapshots', () => {
  it('names as documented', () => {
    expect(WORKERS_STREAM).toBe('workers');
    expect(leaseStreamName('web-1.0193a')).toBe('worker-web-1.0193a');
    expect(resourceSnapshotStreamName('resource-production/app/web')).toBe(
      'snapshot-resource-production/app/web',
    );
  });

  it('given a lease stream, then leaseOfStream gives back the lease, even one that needed encoding', () => {
    expect(leaseOfStream(leaseStreamName('web-1.0193a'))).toBe('web-1.0193a');
    expect(leaseOfStream(leaseStreamName('host/1 a'))).toBe('host/1 a');
  });

  it('given any other stream, then leaseOfStream gives undefined', () => {
    expect(leaseOfStream(WORKERS_STREAM)).toBeUndefined();
    expect(leaseOfStream(operationStreamName('op-1'))).toBeUndefined();
    expect(leaseOfStream('my-worker-1')).toBeUndefined();
  });
});

describe('the outage backoff', () => {
  it('by default starts at 100 ms and never waits more than 5 s between calls', () => {
    expect(DEFAULT_OUTAGE_BACKOFF).toEqual({ initialDelayMs: 100, maxDelayMs: 5_000 });
    const budgetMs = 600_000;
    expect(outageDelayMs({ failures: 1, waitedMs: 0, budgetMs, random: 1 })).toBe(100);
    expect(outageDelayMs({ failures: 30, waitedMs: 0, budgetMs, random: 1 })).toBe(5_000);
  });
});

describe('evolve: heartbeat details handed to the next attempt', () => {
  const error = { name: 'Error', message: 'slow.', causes: [] };
  const upTo = (...more: OperationEvent[]) =>
    foldOperation([
      requested,
      { type: 'OperationStarted', data: { at } },
      { type: 'StepStarted', data: { step: 'pull', attempt: 1, provider: 'a', at } },
      ...more,
    ]);

  it('given an attempt that heartbeat and will be retried, when StepFailed, then the step keeps its details', () => {
    const state = upTo({
      type: 'StepFailed',
      data: {
        step: 'pull',
        attempt: 1,
        provider: 'a',
        error,
        willRetry: true,
        heartbeat: { n: 5 },
        at,
      },
    });
    expect(state.steps.pull?.heartbeat).toEqual({ n: 5 });
  });

  it('given an attempt that heartbeat, when StepFailed fails over to another provider, then its details are dropped', () => {
    const state = upTo(
      {
        type: 'StepFailed',
        data: {
          step: 'pull',
          attempt: 1,
          provider: 'a',
          error,
          willRetry: true,
          heartbeat: { n: 5 },
          at,
        },
      },
      { type: 'StepStarted', data: { step: 'pull', attempt: 2, provider: 'a', at } },
      {
        type: 'StepFailed',
        data: {
          step: 'pull',
          attempt: 2,
          provider: 'a',
          error,
          willRetry: false,
          failoverTo: 'b',
          heartbeat: { n: 9 },
          at,
        },
      },
    );
    expect(state.steps.pull?.status).toBe('pending');
    expect(state.steps.pull).not.toHaveProperty('heartbeat');
  });
});

describe('the errors workers raise carry their codes', () => {
  it('given a lost lease, then LEASE_LOST naming the lease', () => {
    const e = new LeaseLostError('web-1.a', 'it expired');
    expect(e.code).toBe('LEASE_LOST');
    expect(e.lease).toBe('web-1.a');
  });

  it('given an operation of a type the worker has no definition for, then MISSING_DEFINITION', () => {
    const e = new MissingDefinitionError('op-1', 'deploy', []);
    expect(e.code).toBe('MISSING_DEFINITION');
    expect(e.operationType).toBe('deploy');
  });
});

describe('storeTime: the store clock when there is one', () => {
  const store = createInMemoryEventStore();
  it('given a store with currentTime, then its time, not the fallback', async () => {
    const at = new Date('2026-01-05T00:00:00.000Z');
    const clocked = { ...store, currentTime: async () => at };
    expect(await storeTime(clocked, () => new Date(0))).toBe(at);
  });

  it('given a store without one, then the fallback', async () => {
    const fallback = new Date('2026-02-01T00:00:00.000Z');
    const { currentTime: _none, ...plain } = store;
    expect(await storeTime(plain, () => fallback)).toBe(fallback);
  });
});
