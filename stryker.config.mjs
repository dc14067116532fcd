// Mutation testing of src/domain (npm run mutation; see test/MUTATION.md for the last report).
// Not part of .ci/run: a full run takes minutes.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: ['src/domain/**/*.ts'],
  plugins: ['@stryker-mutator/vitest-runner', './scripts/stryker-message-text.mjs'],
  // The only exclusion: mutants of error-message and log-line text, which cannot change
  // behaviour (the reasons are next to each rule in scripts/stryker-message-text.mjs).
  ignorers: ['message-text'],
  // The machine is shared: two test processes at most.
  concurrency: 2,
  // A mutant's tests may take several times their dry-run time on a loaded machine; a run
  // stopped too early would count as killed ("timeout") without any test failing.
  timeoutMS: 20_000,
  // Reruns test only the mutants whose code or covering tests changed; --force runs them all.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 95, low: 90, break: 90 },
};
