import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Unit tests before property tests: Stryker stops a mutant's run at its first failing test, and
 * most mutants fail a unit test in milliseconds, where a property takes seconds. (Vitest's own
 * order, slowest file first, would run the properties first for every mutant.)
 */
class UnitTestsFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const isProperty = (f: TestSpecification) => f.moduleId.includes('/test/property/');
    return [...files].sort(
      (a, b) =>
        Number(isProperty(a)) - Number(isProperty(b)) || a.moduleId.localeCompare(b.moduleId),
    );
  }
}

// The tests `npm run mutation` runs against each mutant of src/domain: the domain's own unit
// and property tests, where a reader looks for what a rule means. No PostgreSQL (no
// globalSetup): none of these touches a database.
export default defineConfig({
  test: {
    include: [
      'test/unit/decide.test.ts',
      'test/unit/evolve.test.ts',
      'test/unit/rollback-plan.test.ts',
      'test/unit/event-codec.test.ts',
      'test/unit/upcasters.test.ts',
      'test/unit/definitions.test.ts',
      'test/unit/domain-*.test.ts',
      'test/unit/next-action.test.ts',
      'test/unit/stream-names.test.ts',
      'test/unit/authorization-actions.test.ts',
      'test/property/next-action.property.test.ts',
      'test/property/rollback.property.test.ts',
      // Drives decide and fenceError through the real writer on the in-memory store.
      'test/property/lease-model.property.test.ts',
      // The domain's newer rules: step timeouts (definition checks), the outage backoff, queue
      // snapshots, commands decided and folded, and evolve keeping every field. The run of
      // 2026-12-03 13:05 did not have them, which is why those files scored low there.
      'test/unit/step-timeouts.test.ts',
      'test/unit/store-outage.test.ts',
      'test/unit/resource-queue-snapshot.test.ts',
      'test/property/step-timeouts.property.test.ts',
      'test/property/resource-queue-snapshots.property.test.ts',
      'test/property/transition.property.test.ts',
      'test/property/evolve-fields.property.test.ts',
    ],
    testTimeout: 60_000,
    sequence: { sequencer: UnitTestsFirst },
  },
});
