import { describe, it } from 'vitest';
import { checkChaos, runChaos, type ChaosOptions } from '../support/chaos.js';
import { useTestDatabase } from '../support/postgres-database.js';

const database = useTestDatabase();

// Bounded for CI (under 3 minutes); `npm run chaos` runs a longer one (scripts/chaos.mjs).
const scale = Number(process.env.OPLEDGER_CHAOS_SCALE ?? 1);

describe('workers in 3 processes on PostgreSQL, killed and paused', () => {
  it(
    '300 operations over 30 resources: every one ends, no two steps of a resource overlap, a stale worker is fenced off, takeovers within ttl + renew + 1 s',
    async () => {
      const options: ChaosOptions = {
        storeUrl: database.url,
        effects: database.url,
        workers: 3,
        operations: 300 * scale,
        resources: 30,
        ttlMs: 1_500,
        renewEveryMs: 500,
        concurrency: 10,
        killEveryMs: 2_000,
        deadlineMs: Number(process.env.OPLEDGER_CHAOS_DEADLINE_MS ?? 150_000 * scale),
        seed: 11,
      };
      checkChaos(options, await runChaos(options));
    },
    175_000 * scale,
  );
});
