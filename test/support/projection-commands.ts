import fc from 'fast-check';
import { request } from './fixtures.js';
import type { projectionSetup } from './projections.js';

/**
 * The histories the projection property tests run through a real engine: deploys that may
 * fail, provisions and deprovisions of resources, environments deprovisioned (and purged),
 * and time passing. One module, so that the tests comparing projection paths and the tests
 * comparing rebuild to live projection draw from the same histories.
 */
export const ENVS = ['production', 'staging'];

export type Command =
  | { kind: 'deploy'; env: string; handle: string; fail: boolean }
  | { kind: 'provision' | 'deprovision'; env: string; handle: string }
  | { kind: 'deprovision-environment'; env: string }
  | { kind: 'advance'; ms: number };

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('deploy' as const),
    env: fc.constantFrom(...ENVS),
    handle: fc.constantFrom('web', 'api'),
    fail: fc.boolean(),
  }),
  fc.record({
    kind: fc.constantFrom('provision' as const, 'deprovision' as const),
    env: fc.constantFrom(...ENVS),
    handle: fc.constantFrom('web', 'api', 'db'),
  }),
  fc.record({
    kind: fc.constant('deprovision-environment' as const),
    env: fc.constantFrom(...ENVS),
  }),
  fc.record({
    kind: fc.constant('advance' as const),
    ms: fc.integer({ min: 1, max: 10 * 86_400_000 }),
  }),
);

/**
 * Runs the commands on the setup's engine, one operation at a time; `n` numbers the
 * operations so that each deploy's image (and failure) is its own.
 */
export const runCommands = async (
  s: ReturnType<typeof projectionSetup>,
  commands: readonly Command[],
): Promise<void> => {
  let n = 0;
  for (const c of commands) {
    if (c.kind === 'advance') {
      s.clock.advance(c.ms);
      continue;
    }
    n++;
    if (c.kind === 'deploy') {
      await s.run(
        request({
          environment: c.env,
          resource: { type: 'app', handle: c.handle },
          params: { image: `v${n}`, ...(c.fail ? { fail: `failure ${n}` } : {}) },
        }),
      );
    } else if (c.kind === 'deprovision-environment') {
      await s.run(
        request({
          type: 'deprovision',
          environment: c.env,
          resource: { type: 'environment', handle: c.env },
        }),
      );
    } else {
      await s.run(
        request({ type: c.kind, environment: c.env, resource: { type: 'app', handle: c.handle } }),
      );
    }
  }
};
