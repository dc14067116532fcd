import { OPERATIONS_PROJECTION } from '../../src/projections/index.js';
import { type ReadStore } from '../../src/index.js';

/** Everything a read store holds about the given environments, in a comparable form. */
export const dumpReadStore = async (readStore: ReadStore, environments: readonly string[]) => {
  const out: Record<string, unknown> = {};
  for (const env of environments) {
    const ops = await readStore.listOperations({ environment: env, limit: 10_000, offset: 0 });
    out[env] = {
      environment: await readStore.environment(env),
      resources: await readStore.resources(env),
      operations: ops.items,
      logs: await Promise.all(ops.items.map((o) => readStore.logLines(o.id))),
    };
  }
  out.checkpoint = await readStore.checkpoint(OPERATIONS_PROJECTION);
  return out;
};
