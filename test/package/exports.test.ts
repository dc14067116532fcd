import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; default: string } | string>;
  bin: Record<string, string>;
};

// `npm test` builds first (pretest), so this checks what a user installing the package gets.
describe('the published package', () => {
  it('points every export at built JavaScript and type declarations', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(existsSync(join(root, target.default)), `${subpath} -> ${target.default}`).toBe(true);
      expect(existsSync(join(root, target.types)), `${subpath} -> ${target.types}`).toBe(true);
    }
  });

  it('ships its bin executable, so that a fresh clone can run `npx opledger`', async () => {
    for (const [name, target] of Object.entries(pkg.bin)) {
      const file = join(root, target);
      // npm does not link (nor chmod) the bin of the project itself: the build has to.
      expect(statSync(file).mode & 0o111, `${name} -> ${target}`).toBe(0o111);
      const { stdout } = await run(file, ['--version'], { cwd: root });
      expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('imports by its own name from plain Node, as ESM', async () => {
    const script = `
      const core = await import('opledger');
      const testing = await import('opledger/testing');
      const memory = await import('opledger/adapters/memory');
      console.log(JSON.stringify({
        core: ['createEngine', 'createInMemoryEventStore', 'defineOperation', 'step'].filter((k) => typeof core[k] === 'function'),
        testing: Object.keys(testing).sort(),
        memory: Object.keys(memory),
      }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
    });
    expect(JSON.parse(stdout)).toEqual({
      core: ['createEngine', 'createInMemoryEventStore', 'defineOperation', 'step'],
      testing: [
        'InjectedFailure',
        'applyCloudFaultPlan',
        'catalogParamsArbitraries',
        'checkRollback',
        'cloudFaultPlanArbitrary',
        'createSequentialIds',
        'createVirtualClock',
        'faultPlanArbitrary',
        'handleArbitrary',
        'operationRequestArbitrary',
        'userArbitrary',
      ],
      memory: ['createInMemoryEventStore', 'createInMemoryReadStore'],
    });
  });

  it('keeps the root small: at most 40 run-time exports, none of the subpaths moved out of it', async () => {
    const script = `
      const core = await import('opledger');
      console.log(JSON.stringify(Object.keys(core)));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
    });
    const names = JSON.parse(stdout) as string[];
    expect(names.length).toBeLessThanOrEqual(40);
    for (const name of ['createEngine', 'defineOperation', 'step', 'createStore']) {
      expect(names).toContain(name);
    }
    for (const moved of [
      'createDashboardServer',
      'createReadModel',
      'neutraliseFormula',
      'decide',
    ]) {
      expect(names).not.toContain(moved);
    }
  });

  it('resolves every subpath of the exports map, each exporting what the docs import from it', async () => {
    const subpaths = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'opledger' : `opledger/${k.slice(2)}`));
    // The value imports of README.md, docs/ and the TSDoc examples in src/, by entry point.
    const sources = [
      join(root, 'README.md'),
      ...readdirSync(join(root, 'docs')).map((f) => join(root, 'docs', f)),
      ...readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join(root, 'src', f)),
    ];
    const documented: Record<string, Set<string>> = {};
    for (const file of sources) {
      const text = readFileSync(file, 'utf8').replace(/^\s*\* ?/gm, '');
      for (const m of text.matchAll(/import (type )?\{([^}]*)\} from '(opledger[^']*)'/g)) {
        if (m[1]) continue;
        const names = (m[2] ?? '')
          .split(',')
          .map((n) => n.trim())
          .filter((n) => n && !n.startsWith('type '))
          .map((n) => n.split(' as ')[0]!.trim());
        for (const n of names) (documented[m[3]!] ??= new Set()).add(n);
      }
    }
    const script = `
      const out = {};
      for (const s of ${JSON.stringify(subpaths)}) out[s] = Object.keys(await import(s));
      console.log(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
    });
    const exported = JSON.parse(stdout) as Record<string, string[]>;
    for (const s of subpaths) expect(exported[s]?.length, s).toBeGreaterThan(0);
    // Every documented entry point is in the exports map, and has the names the docs import.
    for (const [s, names] of Object.entries(documented)) {
      expect(subpaths, `${s} is in package.json's exports`).toContain(s);
      for (const n of names) expect(exported[s], `${n} from ${s}`).toContain(n);
    }
    expect(Object.keys(documented)).toEqual(
      expect.arrayContaining([
        'opledger',
        'opledger/dashboard',
        'opledger/projections',
        'opledger/domain',
      ]),
    );
    expect(exported['opledger/dashboard']).toEqual([
      'DEFAULT_ACTOR_HEADER',
      'createDashboardServer',
    ]);
  });
});
