import type { EnvironmentView, ReadModel } from '../projections/read-model.js';
import type { ResourceRecord } from '../projections/read-store.js';

export type ResourceJson = ResourceRecord & { deleted: boolean };

export interface EnvironmentWithResources extends EnvironmentView {
  apps: ResourceJson[];
  databases: ResourceJson[];
  others: ResourceJson[];
}

export const resourceJson = (r: ResourceRecord): ResourceJson => ({
  ...r,
  deleted: r.status === 'deprovisioned',
});

/** An environment's resources by kind: apps, databases, and the others. */
export const groupResources = (resources: ResourceRecord[]) => {
  const all = resources.map(resourceJson);
  return {
    apps: all.filter((r) => r.type === 'app'),
    databases: all.filter((r) => r.type === 'database'),
    others: all.filter((r) => r.type !== 'app' && r.type !== 'database'),
  };
};

/**
 * The environments `actor` may see, each with its resources grouped by kind: what the
 * environments page and `GET /api/environments` show.
 */
export const environmentsWithResources = async (
  reads: ReadModel,
  actor: unknown,
): Promise<EnvironmentWithResources[]> => {
  const out: EnvironmentWithResources[] = [];
  for (const env of await reads.environments({ actor })) {
    let resources: ResourceRecord[] = [];
    if (!env.deleted) {
      try {
        resources = await reads.resources(env.name, { actor });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        // Visible but not its resources: left out, as an environment it may not see.
        if (code === 'ACCESS_DENIED') continue;
        // Deprovisioned since it was listed.
        if (code !== 'ENVIRONMENT_NOT_FOUND') throw error;
      }
    }
    out.push({ ...env, ...groupResources(resources) });
  }
  return out;
};
