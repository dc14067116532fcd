import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../src/domain/events.js';
import { toLogLine } from '../../src/domain/log-lines.js';

const at = fc.constantFrom('2026-01-05T00:00:00.000Z', '2026-03-01T12:30:00.000Z');
const step = fc.constantFrom('pull', 'release', 'migrate');

/** The events whose lines have optional parts: a step, an attempt, a provider. */
const eventArb: fc.Arbitrary<OperationEvent> = fc.oneof(
  fc.record({
    type: fc.constant('StepStarted' as const),
    data: fc.record(
      { step, attempt: fc.integer({ min: 1, max: 4 }), provider: fc.constantFrom('a', 'b'), at },
      { requiredKeys: ['step', 'attempt', 'at'] },
    ),
  }),
  fc.record({
    type: fc.constant('LogWritten' as const),
    data: fc.record(
      { level: fc.constantFrom('info', 'warn', 'error'), message: fc.string(), step, at },
      { requiredKeys: ['level', 'message', 'at'] },
    ),
  }),
  fc.record({
    type: fc.constant('StepSucceeded' as const),
    data: fc.record({ step, attempt: fc.constant(1), at }),
  }),
  fc.record({ type: fc.constant('OperationStarted' as const), data: fc.record({ at }) }),
) as fc.Arbitrary<OperationEvent>;

describe('log lines, built in one object per event (bench/NOTES.md, "Rebuild, round 6")', () => {
  it('given any event, then its line has the operation, revision and time, and a step key only when there is a step', () => {
    fc.assert(
      fc.property(eventArb, fc.nat(1000), (event, revision) => {
        const line = toLogLine('op-1', revision, event)!;
        const data = event.data as { at: string; step?: string };
        expect(line).toMatchObject({ operationId: 'op-1', revision, at: data.at });
        expect('step' in line).toBe(data.step !== undefined);
        expect(Object.values(line)).not.toContain(undefined);
      }),
    );
  });

  it('given a step started, then its message names the attempt and provider as the joined list did', () => {
    fc.assert(
      fc.property(
        step,
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
        (name, attempt, provider) => {
          const event = {
            type: 'StepStarted',
            data: {
              step: name,
              attempt,
              ...(provider ? { provider } : {}),
              at: '2026-01-05T00:00:00.000Z',
            },
          } as OperationEvent;
          const extra = [
            attempt > 1 ? `attempt ${attempt}` : '',
            provider ? `provider ${provider}` : '',
          ]
            .filter(Boolean)
            .join(', ');
          expect(toLogLine('op-1', 3, event)?.message).toBe(
            `Step '${name}' started${extra ? ` (${extra})` : ''}`,
          );
        },
      ),
    );
  });
});
