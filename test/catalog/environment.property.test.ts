import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CloudService } from '../../src/adapters/infrastructure/index.js';
import { EnvironmentNotEmptyError } from '../../src/catalog/index.js';
import { environmentWorld } from './environment-world.js';

/**
 * Whatever apps and databases were provisioned, deployed and deprovisioned in an environment,
 * with any of those operations failing on a cloud outage, `environment.deprovision` is refused
 * exactly while one of them is not deprovisioned (as the read model lists them), a refusal
 * records nothing, and once one is admitted nothing of the old apps and databases runs: the
 * name used again starts empty.
 */
type Kind = 'app' | 'database';
type Action = 'provision' | 'deploy' | 'deprovision';
const RESOURCES: readonly { kind: Kind; handle: string }[] = [
  { kind: 'app', handle: 'web' },
  { kind: 'app', handle: 'api' },
  { kind: 'database', handle: 'db' },
];

const command = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      resource: fc.constantFrom(...RESOURCES),
      action: fc.constantFrom<Action>('provision', 'deploy', 'deprovision'),
      // An outage of 10 virtual minutes from the start of the operation: it fails, and its
      // rollback (which retries longer) completes.
      outage: fc.option(
        fc.constantFrom<CloudService>('compute', 'load-balancer', 'object-storage'),
        {
          nil: undefined,
        },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant('deprovision environment' as const) },
);

/** What the read model says of a resource: never seen, there (counted), or deprovisioned. */
type Known = 'none' | 'there' | 'gone';

describe('environment.deprovision over any history of its apps and databases', () => {
  it('is refused exactly while an app or database is left, records nothing then, and leaves nothing running once admitted (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
        const w = environmentWorld();
        expect((await w.run('environment.provision')).status).toBe('succeeded');
        const known = new Map<string, Known>(RESOURCES.map((r) => [r.handle, 'none']));

        for (const c of [...commands, 'deprovision environment' as const]) {
          if (c === 'deprovision environment') {
            const left = RESOURCES.filter((r) => known.get(r.handle) === 'there').map((r) => ({
              type: r.kind,
              handle: r.handle,
            }));
            const head = await w.store.headPosition();
            const outcome = await w.engine.start(w.request('environment.deprovision')).then(
              (h) => h.result,
              (e: unknown) => e,
            );
            if (left.length > 0) {
              expect(outcome).toBeInstanceOf(EnvironmentNotEmptyError);
              expect((outcome as EnvironmentNotEmptyError).resources).toEqual(
                [...left].sort((a, b) =>
                  a.type === b.type
                    ? a.handle.localeCompare(b.handle)
                    : a.type.localeCompare(b.type),
                ),
              );
              expect(await w.store.headPosition()).toBe(head);
              continue;
            }
            expect(outcome).toMatchObject({ status: 'succeeded' });
            const s = w.cloud.snapshot();
            expect(Object.values(s.containers).filter((k) => k.state === 'running')).toEqual([]);
            expect(s.endpoints).toEqual({});
            expect(s.databases).toEqual({});
            for (const r of RESOURCES) known.set(r.handle, 'none');
            expect((await w.run('environment.provision')).status).toBe('succeeded');
            continue;
          }
          const { resource, outage } = c;
          // A database has no deploy here: provision it instead.
          const action =
            resource.kind === 'database' && c.action === 'deploy' ? 'provision' : c.action;
          const before = known.get(resource.handle)!;
          // The read model's rule: the first operation on a resource makes it there; after its
          // deprovision, only a provision brings it back.
          const requested: Known = before === 'gone' && action !== 'provision' ? 'gone' : 'there';
          if (outage) {
            const now = w.clock.now().getTime();
            w.cloud.faults.outage(outage, { from: now, to: now + 600_000 });
          }
          const result = await w.run(`${resource.kind}.${action}`, { handle: resource.handle });
          w.cloud.faults.clear();
          if (result.status === 'succeeded') {
            known.set(resource.handle, action === 'deprovision' ? 'gone' : requested);
          } else {
            // A provision that failed on a resource that was not there leaves none.
            known.set(
              resource.handle,
              action === 'provision' && before !== 'there' ? 'gone' : requested,
            );
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
