import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * The benchmark's children run opledger compiled by tsc, as the package ships (`npm run build`
 * uses the same compiler and options), not src/ through tsx: tsx transpiles with esbuild's
 * `keepNames`, which wraps every function made at run time in a `__name(fn, "...")` call (an
 * `Object.defineProperty` each), a cost no user of the package pays. On the engine's no-op
 * operations that was a fifth to a quarter of the CPU measured (bench/NOTES.md, "What the
 * benchmark ran").
 *
 * Compiles bench/child.ts, bench/first-operation.ts and bench/step-overhead.ts, and all they
 * import (src/, bench/, test/support/), into a folder of its own under bench/.build/ (inside the repository, so that
 * the compiled code finds node_modules), and returns it; `remove` deletes it.
 *
 * @example
 * const build = compileBench(root);
 * spawn(process.execPath, [join(build.dir, 'bench', 'child.js'), task]);
 * build.remove();
 */
export const compileBench = (root: string): { dir: string; remove: () => void } => {
  const parent = join(root, 'bench', '.build');
  mkdirSync(parent, { recursive: true });
  // A folder per run: two runs at once (a test's --quick run beside a full one) never share one.
  const dir = mkdtempSync(join(parent, 'run-'));
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  try {
    execFileSync(
      process.execPath,
      [tsc, '-p', join(root, 'tsconfig.bench.json'), '--outDir', dir],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const out = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`compiling the benchmark with tsc failed:\n${out.slice(-4000)}`);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
};
