import { execFile, type ExecFileException } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as a user gets it: `npm pack`, installed into a new project from the tarball with
 * only the optional peers the README names, then type-checked, imported, required and run from
 * there. Uses dist/ as built (`npm test` builds first).
 */
const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
const subpaths = Object.keys(pkg.exports)
  .filter((s) => s !== './package.json')
  .map((s) => (s === '.' ? 'opledger' : `opledger/${s.slice(2)}`));

// npm run test sets npm_* variables (prefix, package name, lifecycle): the commands below act
// on the temporary project only.
const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const run = (file: string, args: readonly string[], cwd: string): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: cleanEnv(), maxBuffer: 16 * 1024 * 1024 },
      (error: ExecFileException | null, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
const ok = async (file: string, args: readonly string[], cwd: string): Promise<Run> => {
  const result = await run(file, args, cwd);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  }
  return result;
};
const node = (cwd: string, ...args: string[]) => run(process.execPath, args, cwd);

let work: string;
let app: string;
let installed: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'opledger-package-'));
  app = join(work, 'app');
  mkdirSync(app);
  // --ignore-scripts: `prepare` would build again; the tarball takes dist/ as it is.
  const packed = await ok(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
    root,
  );
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  // Its dependencies come from the npm cache when they are there (the project's own install put
  // them there), from the registry otherwise.
  await ok(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      join(work, filename),
    ],
    app,
  );
  installed = join(app, 'node_modules', 'opledger');
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('installed without its optional peer dependencies', () => {
  it('says which package to npm install for each store and for opledger/testing', async () => {
    const script = `
      import { createRequire } from 'node:module';
      import { createStore } from 'opledger';
      const require = createRequire(import.meta.url);
      const seen = (error) => ({ name: error.constructor.name, code: error.code, packageName: error.packageName, message: error.message });
      const attempt = async (work) => { try { await work(); return 'no error'; } catch (error) { return seen(error); } };
      const firstUse = (url) => async () => (await createStore(url)).eventStore.readAll();
      console.log(JSON.stringify({
        sqlite: await attempt(firstUse('sqlite:store.db')),
        postgres: await attempt(firstUse('postgres://127.0.0.1:1/x')),
        esdb: await attempt(firstUse('esdb://127.0.0.1:1?tls=false')),
        kurrentdb: await attempt(firstUse('kurrentdb://127.0.0.1:1?tls=false')),
        importTesting: await attempt(() => import('opledger/testing')),
        requireTesting: await attempt(() => require('opledger/testing')),
      }));`;
    const result = await node(app, '--input-type=module', '-e', script);
    expect(result.stderr).toBe('');
    const seen = JSON.parse(result.stdout) as Record<string, Record<string, string>>;
    const driver = (name: string) => ({
      name: 'PeerDependencyMissingError',
      code: 'DRIVER_MISSING',
      packageName: name,
      message: expect.stringContaining(`npm install ${name}`) as unknown,
    });
    expect(seen).toEqual({
      sqlite: driver('better-sqlite3'),
      postgres: driver('pg'),
      esdb: { ...driver('@eventstore/db-client'), name: 'MissingClientPackageError' },
      kurrentdb: { ...driver('@kurrent/kurrentdb-client'), name: 'MissingClientPackageError' },
      importTesting: { ...driver('fast-check'), code: 'TEST_DEPENDENCY_MISSING' },
      requireTesting: { ...driver('fast-check'), code: 'TEST_DEPENDENCY_MISSING' },
    });
  });

  it('the CLI names the driver to install rather than a server that may not run', async () => {
    const bin = join(app, 'node_modules', '.bin', 'opledger');
    for (const [store, name] of [
      ['postgres://ada:secret@127.0.0.1:1/x', 'pg'],
      ['sqlite:.opledger/opledger.db', 'better-sqlite3'],
    ] as const) {
      const result = await run(bin, ['operations', '--env', 'demo', '--store', store], app);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(`npm install ${name}`);
      expect(result.stderr).not.toContain('check that the server runs');
      expect(result.stderr).not.toContain('secret');
    }
  });
});

describe('installed with the peers the README names', () => {
  beforeAll(() => {
    // As `npm install better-sqlite3 fast-check` and `@types/node` would, without downloading
    // and compiling better-sqlite3 again: the project's own copies, linked.
    const modules = join(app, 'node_modules');
    mkdirSync(join(modules, '@types'), { recursive: true });
    for (const name of ['better-sqlite3', 'fast-check', '@types/node']) {
      symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
    }
  });

  it('type-checks a consumer with skipLibCheck off, under nodenext and bundler resolution', async () => {
    mkdirSync(join(app, 'src'));
    writeFileSync(
      join(app, 'src', 'use.ts'),
      `import { createEngine, createStore, defineOperation, PeerDependencyMissingError, step } from 'opledger';
import { createInMemoryEventStore } from 'opledger/adapters/memory';
import { createSqliteEventStore, type SqliteDatabase } from 'opledger/adapters/sqlite';
import { createPostgresEventStore, PostgresUnreachableError, type PostgresPool } from 'opledger/adapters/postgres';
import { createEventStoreDbEventStore } from 'opledger/adapters/eventstoredb';
import { createSimulatedCloud } from 'opledger/adapters/infrastructure';
import { createLocalInfrastructure } from 'opledger/adapters/local';
import { appDeploy } from 'opledger/catalog';
import { checkRollback, handleArbitrary } from 'opledger/testing';

const deploy = defineOperation<{ image: string }>({
  type: 'deploy',
  steps: [step({ name: 'start', run: ({ params }) => params.image, undo: () => undefined })],
});
const engine = createEngine({
  store: createInMemoryEventStore(),
  operations: [deploy, appDeploy(createSimulatedCloud({ seed: 1 }))],
});
export const used = [engine, createStore, PeerDependencyMissingError, createSqliteEventStore,
  createPostgresEventStore, PostgresUnreachableError, createEventStoreDbEventStore,
  createLocalInfrastructure, checkRollback, handleArbitrary];
export type Shapes = [SqliteDatabase, PostgresPool];
`,
    );
    writeFileSync(
      join(app, 'src', 'required.cts'),
      `import opledger = require('opledger');
import sqlite = require('opledger/adapters/sqlite');
export const used = [opledger.createEngine, sqlite.createSqliteEventStore];
`,
    );
    const config = (module: string, moduleResolution: string) =>
      JSON.stringify({
        compilerOptions: {
          module,
          moduleResolution,
          target: 'es2022',
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        include: ['src'],
      });
    writeFileSync(join(app, 'tsconfig.nodenext.json'), config('nodenext', 'nodenext'));
    writeFileSync(join(app, 'tsconfig.bundler.json'), config('preserve', 'bundler'));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const [nodenext, bundler] = await Promise.all(
      ['nodenext', 'bundler'].map((mode) => node(app, tsc, '-p', `tsconfig.${mode}.json`)),
    );
    expect(nodenext?.stdout).toBe('');
    expect(nodenext?.code).toBe(0);
    expect(bundler?.stdout).toBe('');
    expect(bundler?.code).toBe(0);
  }, 240_000);

  it('imports and requires every subpath of its exports map, the same modules either way', async () => {
    const script = `
      import { createRequire } from 'node:module';
      import fc from 'fast-check';
      const require = createRequire(import.meta.url);
      const subpaths = ${JSON.stringify(subpaths)};
      const out = {};
      for (const subpath of subpaths) {
        const imported = await import(subpath);
        const required = require(subpath);
        const names = Object.keys(imported);
        out[subpath] = {
          exports: names.length > 0,
          same: names.every((k) => imported[k] === required[k]) && names.length === Object.keys(required).length,
        };
      }
      const testing = await import('opledger/testing');
      // opledger/testing builds on the same fast-check as the user's own import.
      out.sameFastCheck = testing.handleArbitrary() instanceof fc.Arbitrary;
      console.log(JSON.stringify(out));`;
    const result = await node(app, '--input-type=module', '-e', script);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({
      ...Object.fromEntries(subpaths.map((s) => [s, { exports: true, same: true }])),
      sameFastCheck: true,
    });
  });

  it('a CommonJS file requires it by name', async () => {
    writeFileSync(
      join(app, 'use.cjs'),
      `const { createEngine, createInMemoryEventStore } = require('opledger');
console.log(typeof createEngine, typeof createInMemoryEventStore);`,
    );
    const result = await node(app, 'use.cjs');
    expect(result.stdout.trim()).toBe('function function');
    expect(result.code).toBe(0);
  });

  it('runs `opledger --help` and the demo from node_modules/.bin', async () => {
    const bin = join(app, 'node_modules', '.bin', 'opledger');
    const help = await ok(bin, ['--help'], app);
    // The help points at a guide: it ships.
    const guide = /docs\/[a-z-]+\.md/.exec(help.stdout)?.[0];
    expect(guide).toBe('docs/dashboard.md');
    expect(existsSync(join(installed, guide as string))).toBe(true);
    const demo = await run(bin, ['demo'], app);
    expect(demo.stderr).not.toMatch(/^Error:/m);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/Wrote the activity report of demo for \d{4}-W\d\d/);
  }, 120_000);

  it('ships its guides, examples and benchmark results, with every relative link resolving', () => {
    const markdown = [
      'README.md',
      'bench/RESULTS.md',
      ...readdirSync(join(installed, 'docs')).map((f) => `docs/${f}`),
    ].filter((f) => f.endsWith('.md'));
    const links = markdown.flatMap((file) =>
      [...readFileSync(join(installed, file), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => (m[1] as string).split('#')[0] as string)
        .filter((target) => target !== '' && !/^[a-z]+:/.test(target))
        .map((target) => ({ file, target })),
    );
    expect(links.length).toBeGreaterThan(20);
    const dead = links.filter(
      ({ file, target }) => !existsSync(join(installed, dirname(file), target)),
    );
    expect(dead).toEqual([]);
    expect(readdirSync(join(installed, 'examples'))).toContain('quick-start.ts');
  });

  it('ships the MIT licence and source maps that carry their sources', () => {
    const licence = readFileSync(join(installed, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/^MIT License/);
    expect(licence).toContain('Copyright (c) 2026 the opledger authors');
    // src/ does not ship: a map that only points at ../src/*.ts would name files that do not
    // exist. Each must carry the text of its sources.
    const maps: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.map')) maps.push(path);
      }
    };
    walk(join(installed, 'dist'));
    expect(maps.length).toBeGreaterThan(100);
    const without = maps.filter((path) => {
      const map = JSON.parse(readFileSync(path, 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      return (
        map.sourcesContent?.length !== map.sources.length ||
        map.sourcesContent.some((text) => typeof text !== 'string' || text.length === 0)
      );
    });
    expect(without.map((path) => relative(installed, path))).toEqual([]);
  });
});
