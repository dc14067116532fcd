import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The built CLI, run as a user runs it (`npm test` builds first). */
export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /** Run as this user (and its group of the same number): needs a test run as root. */
  uid?: number;
}

const environment = (extra: CliOptions['env'] = {}) => {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  // The tests choose the store and cloud themselves; a developer's settings must not leak in,
  // nor npm's mark of `npx vitest` (the CLI would then suggest `npx opledger ...`).
  for (const key of ['OPLEDGER_STORE', 'OPLEDGER_CLOUD', 'OPLEDGER_READ_STORE', 'npm_command']) {
    if (!(key in extra)) delete env[key];
  }
  // Nor a developer's OpenTelemetry settings: OTEL_EXPORTER_OTLP_ENDPOINT turns the export on.
  for (const key of Object.keys(env)) {
    if (/^(OTEL_|TRACEPARENT$|TRACESTATE$)/.test(key) && !(key in extra)) delete env[key];
  }
  return env as NodeJS.ProcessEnv;
};

export const spawnCli = (args: readonly string[], options: CliOptions): ChildProcess => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  return spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: environment(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
};

export const runCli = (args: readonly string[], options: CliOptions): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const child = spawnCli(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

/** A folder for one test file's `.opledger/` (store, cloud, reports), removed afterwards. */
export const tempWorkdir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), `opledger-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
};

/**
 * Collects a running CLI's output; `waitFor` resolves with the first line (already printed or
 * still to come) that matches, or rejects after `timeoutMs` or when the process exits first.
 */
export const watchOutput = (child: ChildProcess) => {
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  let closed = false;
  const wake = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (c: Buffer) => {
    text.stdout += c.toString();
    wake();
  });
  child.stderr?.on('data', (c: Buffer) => {
    text.stderr += c.toString();
    wake();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      closed = true;
      wake();
      resolve(code);
    }),
  );
  const waitFor = (stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        for (const line of text[stream].split('\n')) {
          const match = pattern.exec(line);
          if (match) return done(() => resolve(match));
        }
        if (closed) done(() => reject(new Error(`exited before ${pattern}: ${text[stream]}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no line matched ${pattern}: ${text[stream]}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });
  const kill = (signal: NodeJS.Signals) => child.kill(signal);
  return { text, exited, waitFor, kill };
};
