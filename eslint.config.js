import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of docs/architecture.md and what each may not import: dependencies point inward
// (domain <- engine <- projections <- adapters, catalog <- dashboard, cli), and nothing but the
// test kit itself imports the test kit. A layer that reaches outward ties the core to what it
// should not know, so the lint refuses it.
const layer = (name, message) => ({
  group: [`**/${name}`, `**/${name}/**`, ...(name === 'testing' ? ['opledger/testing'] : [])],
  message,
});
const testKit = layer(
  'testing',
  'Only src/testing imports the test kit; see docs/architecture.md.',
);
const outward = (names) =>
  names.map((name) => layer(name, `This layer does not import ${name}; see docs/architecture.md.`));
const layerRules = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'test-results/**',
      // Written by Stryker (npm run mutation).
      'reports/**',
      '.stryker-tmp/**',
      // The benchmark compiled by tsc (bench/lib/compiled.ts).
      'bench/.build/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // The domain is pure: it imports nothing of ours outside itself.
    files: ['src/domain/**/*.ts'],
    rules: layerRules([
      testKit,
      ...outward(['engine', 'projections', 'adapters', 'catalog', 'dashboard', 'cli']),
    ]),
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: layerRules([
      testKit,
      ...outward(['projections', 'adapters', 'catalog', 'dashboard', 'cli']),
    ]),
  },
  {
    files: ['src/projections/**/*.ts'],
    rules: layerRules([testKit, ...outward(['adapters', 'catalog', 'dashboard', 'cli'])]),
  },
  {
    // Adapters implement ports: the domain's and the projections' stores, the engine's clock and
    // the catalog's infrastructure port and its errors (those files only, not the operations).
    files: ['src/adapters/**/*.ts'],
    rules: layerRules([
      testKit,
      ...outward(['dashboard', 'cli']),
      {
        // gitignore semantics: a file cannot be re-included once its folder is excluded, so
        // the pattern names the folder's contents, not the folder.
        group: [
          'opledger/catalog',
          '**/catalog/**',
          '!**/catalog/infrastructure-port.js',
          '!**/catalog/cloud-errors.js',
        ],
        message:
          "Adapters import only the catalog's infrastructure port; see docs/architecture.md.",
      },
    ]),
  },
  {
    // The catalog owns the infrastructure port; it never knows which adapter implements it.
    files: ['src/catalog/**/*.ts'],
    rules: layerRules([testKit, ...outward(['adapters', 'dashboard', 'cli'])]),
  },
  {
    files: ['src/dashboard/**/*.ts'],
    rules: layerRules([testKit, ...outward(['cli'])]),
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: layerRules([testKit]),
  },
  {
    // Plain ESM scripts run by node directly (child processes of the integration tests).
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The dashboard's browser script (served as is, not compiled).
    files: ['src/dashboard/assets/**/*.js'],
    languageOptions: {
      globals: {
        document: 'readonly',
        EventSource: 'readonly',
        localStorage: 'readonly',
        confirm: 'readonly',
        fetch: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    files: ['examples/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
