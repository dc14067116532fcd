import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The layer rules of docs/architecture.md are enforced by `npm run lint`; these tests prove the
// rules fire (a rule that silently matches nothing would let every import through).

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

const eslint = new ESLint({ cwd: root, overrideConfigFile: join(root, 'eslint.config.js') });

/** The messages of the import rule for `source` imported from a (virtual) file at `filePath`. */
const importErrors = async (filePath: string, source: string): Promise<string[]> => {
  const [result] = await eslint.lintText(`import { x } from '${source}';\nexport const y = x;\n`, {
    filePath: join(root, filePath),
  });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
};

describe('lint: nothing but the test kit imports the test kit', () => {
  it.each([
    ['src/engine/example.ts', '../testing/virtual-clock.js'],
    ['src/engine/example.ts', '../testing/index.js'],
    ['src/domain/example.ts', '../testing/arbitraries.js'],
    ['src/adapters/infrastructure/example.ts', '../../testing/index.js'],
    ['src/catalog/app/example.ts', '../../testing/catalog-params.js'],
    ['src/catalog/example.ts', 'opledger/testing'],
    ['src/projections/example.ts', '../testing/index.js'],
    ['src/cli/commands/example.ts', '../../testing/index.js'],
    ['src/dashboard/example.ts', '../testing/index.js'],
  ])('%s may not import %s', async (file, source) => {
    expect(await importErrors(file, source)).toEqual([
      expect.stringContaining('Only src/testing imports the test kit'),
    ]);
  });

  it('the test kit itself may', async () => {
    expect(await importErrors('src/testing/example.ts', './virtual-clock.js')).toEqual([]);
  });
});

describe('lint: dependencies point inward', () => {
  it.each([
    ['src/domain/example.ts', '../engine/clock.js', 'engine'],
    ['src/domain/example.ts', '../projections/read-model.js', 'projections'],
    ['src/engine/example.ts', '../projections/read-model.js', 'projections'],
    ['src/engine/example.ts', '../adapters/memory/index.js', 'adapters'],
    ['src/projections/example.ts', '../adapters/memory/index.js', 'adapters'],
    ['src/adapters/sqlite/example.ts', '../../cli/program.js', 'cli'],
    ['src/dashboard/example.ts', '../cli/program.js', 'cli'],
    ['src/catalog/app/example.ts', '../../adapters/infrastructure/index.js', 'adapters'],
  ])('%s may not import %s', async (file, source, layer) => {
    expect(await importErrors(file, source)).toEqual([
      expect.stringContaining(`This layer does not import ${layer}`),
    ]);
  });

  it.each([
    ['src/adapters/local/example.ts', '../../catalog/app/index.js'],
    ['src/adapters/local/example.ts', '../../catalog/index.js'],
    ['src/adapters/local/example.ts', 'opledger/catalog'],
  ])(
    '%s may not import %s (adapters take only the port from the catalog)',
    async (file, source) => {
      expect(await importErrors(file, source)).toEqual([
        expect.stringContaining("Adapters import only the catalog's infrastructure port"),
      ]);
    },
  );

  it.each([
    ['src/engine/example.ts', '../domain/events.js'],
    ['src/projections/example.ts', '../engine/clock.js'],
    ['src/adapters/sqlite/example.ts', '../../projections/read-store.js'],
    ['src/cli/example.ts', '../catalog/index.js'],
    ['src/adapters/local/example.ts', '../../catalog/infrastructure-port.js'],
    ['src/adapters/local/example.ts', '../../catalog/cloud-errors.js'],
    ['src/catalog/app/example.ts', '../infrastructure-port.js'],
  ])('%s may import %s', async (file, source) => {
    expect(await importErrors(file, source)).toEqual([]);
  });
});

describe('lint: no import cycle', () => {
  // madge reads the repository's .madgerc (TypeScript files, tsconfig resolution of `.js`
  // specifiers), as `npm run lint` does.
  const madge = (target: string) =>
    run(
      process.execPath,
      [join(root, 'node_modules/madge/bin/cli.js'), '--circular', '--json', target],
      {
        cwd: root,
      },
    );
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-cycle-'));
    // A cycle through a type-only import: erased at run time, but still two modules that
    // cannot be understood (or moved to another layer) one without the other.
    await writeFile(join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = () => b;\n");
    await writeFile(
      join(dir, 'b.ts'),
      "import type { a } from './a.js';\nexport const b: typeof a | undefined = undefined;\n",
    );
    await writeFile(join(dir, 'c.ts'), "import { a } from './a.js';\nexport const c = a;\n");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('fails on two files that import each other, naming them', async () => {
    const failure = await madge(dir).then(
      () => undefined,
      (error: { code: number; stdout: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(JSON.parse(failure?.stdout ?? 'null')).toEqual([['a.ts', 'b.ts']]);
  });

  it('finds none in src, and npm run lint runs it there', async () => {
    const { stdout } = await madge('src');
    expect(JSON.parse(stdout)).toEqual([]);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.lint).toContain('madge --circular src');
  });
});
