import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transition, type OperationCommand } from '../../src/domain/decide.js';
import type { OperationEvent } from '../../src/domain/events.js';
import { foldOperation, initialState } from '../../src/domain/operation.js';

const at = '2026-01-05T00:00:00.000Z';
const steps = ['pull', 'start', 'check'] as const;
const error = { name: 'Error', message: 'boom', causes: [] };

const request: OperationCommand = {
  type: 'RequestOperation',
  data: {
    operationId: 'op-1',
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: {},
    createdAt: at,
    steps: [
      { name: 'pull', kind: 'undoable' },
      { name: 'start', kind: 'irreversible' },
      { name: 'check', kind: 'no_side_effects' },
    ],
  },
};

/** Any command of the decider, allowed or not where it comes. */
const command: fc.Arbitrary<OperationCommand> = fc.oneof(
  fc.constant(request),
  fc.constant<OperationCommand>({ type: 'StartOperation', data: { at } }),
  fc
    .tuple(fc.constantFrom(...steps), fc.integer({ min: 1, max: 3 }))
    .chain(([step, attempt]) =>
      fc.constantFrom<OperationCommand>(
        { type: 'StartStep', data: { step, attempt, at } },
        { type: 'CompleteStep', data: { step, attempt, at, output: { step } } },
        { type: 'FailStep', data: { step, attempt, at, error, willRetry: attempt < 2 } },
        { type: 'StartUndo', data: { step, attempt, at } },
        { type: 'CompleteUndo', data: { step, attempt, at } },
        { type: 'FailUndo', data: { step, attempt, at, error, willRetry: false } },
        { type: 'ReportNotUndoable', data: { step, at } },
      ),
    ),
  fc.constant<OperationCommand>({ type: 'WriteLog', data: { level: 'info', message: 'x', at } }),
  fc.constant<OperationCommand>({ type: 'RequestCancellation', data: { user: 'bob', at } }),
  fc.boolean().map((rollbackRequired): OperationCommand => ({
    type: 'FailOperation',
    data: { reason: 'failure', error, rollbackRequired, at },
  })),
  fc.constant<OperationCommand>({ type: 'StartRollback', data: { at } }),
  fc.constant<OperationCommand>({ type: 'ContinueRollback', data: { skip: [], at } }),
  fc.constant<OperationCommand>({ type: 'FinishRollback', data: { at } }),
  fc.constant<OperationCommand>({ type: 'SucceedOperation', data: { at } }),
);

describe('transition over random commands', () => {
  it('keeps the fold of the events it accepted, and a refusal changes nothing', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        let state = initialState();
        const accepted: OperationEvent[] = [];
        for (const c of commands) {
          const next = transition(c, state);
          if (E.isLeft(next)) continue;
          accepted.push(...next.right.events);
          state = next.right.state;
          expect(state).toStrictEqual(foldOperation(accepted));
        }
      }),
    );
  });
});
