// The events of an Operation's history as the domain tests write them: one request on
// 'production' for app 'web' by ada, its steps given by name and kind, all at one instant.
import type { OperationEvent, StepKind } from '../../src/domain/events.js';

export const at = '2026-01-05T00:00:00.000Z';

/** OperationRequested for a deploy whose plan is `steps`, in order. */
export const requestedWith = (steps: readonly (readonly [string, StepKind])[]): OperationEvent => ({
  type: 'OperationRequested',
  data: {
    operationId: 'op-1',
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: {},
    createdAt: at,
    steps: steps.map(([name, kind]) => ({ name, kind })),
  },
});

export const started: OperationEvent = { type: 'OperationStarted', data: { at } };

export const stepStarted = (step: string, provider?: string): OperationEvent => ({
  type: 'StepStarted',
  data: { step, attempt: 1, at, ...(provider !== undefined ? { provider } : {}) },
});

/** A step's first attempt, started and succeeded, with its output and provider if given. */
export const ran = (step: string, output?: unknown, provider?: string): OperationEvent[] => [
  stepStarted(step, provider),
  {
    type: 'StepSucceeded',
    data: {
      step,
      attempt: 1,
      at,
      ...(output !== undefined ? { output } : {}),
      ...(provider !== undefined ? { provider } : {}),
    },
  },
];
