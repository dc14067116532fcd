import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
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
});
