import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One PostgreSQL cluster for the whole run (or OPLEDGER_TEST_POSTGRES_URL).
    globalSetup: ['test/support/postgres-global-setup.ts'],
  },
});
