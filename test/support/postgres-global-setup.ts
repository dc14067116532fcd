import type { TestProject } from 'vitest/node';
import { startCluster } from './postgres-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a PostgreSQL server whose `postgres` database tests may create databases from. */
    postgresUrl: string;
    /** Why no PostgreSQL server is available: PostgreSQL tests fail with it instead of running. */
    postgresError: string;
  }
}

/**
 * Starts one PostgreSQL cluster for the whole run (unless OPLEDGER_TEST_POSTGRES_URL names a
 * server) and hands its URL to the tests. A failure does not abort the run: every PostgreSQL
 * test then fails with the reason, and the other tests still run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.OPLEDGER_TEST_POSTGRES_URL;
  if (external) {
    project.provide('postgresUrl', external);
    return async () => undefined;
  }
  try {
    const cluster = await startCluster();
    project.provide('postgresUrl', cluster.url);
    return cluster.stop;
  } catch (error) {
    const reason = `could not start a PostgreSQL cluster for the tests: ${(error as Error).message}`;
    console.error(reason);
    project.provide('postgresError', reason);
    return async () => undefined;
  }
}
