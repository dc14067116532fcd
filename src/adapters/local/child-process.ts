import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';

/** A container's process: started from its image's command, watched until it exits. */
export interface ContainerProcess {
  readonly pid: number;
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  kill(signal: NodeJS.Signals): void;
}

// Every process the adapters of this Node.js process started: killed if it exits without
// closing them, so that no server outlives a crashed test run or a killed CLI.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
const installExitHook = () => {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
};

const idsOf = (user: string): { uid: number; gid: number } => ({
  uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()),
  gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()),
});

/** The user to run as: only root can (and, for PostgreSQL, must) become another user. */
export const runAs = (user: string | undefined) =>
  user !== undefined && process.getuid?.() === 0 ? idsOf(user) : undefined;

export const startProcess = async (spec: {
  command: readonly string[];
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  user?: string | undefined;
}): Promise<ContainerProcess> => {
  installExitHook();
  const [file = '', ...args] = spec.command;
  const executable = file === 'node' ? process.execPath : file;
  const log = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(executable, args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', log, log],
      ...runAs(spec.user),
    });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(log);
  }
  live.add(child);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', () => {
      running = false;
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (error) =>
      reject(new Error(`cannot start ${spec.command.join(' ')}: ${error.message}`)),
    );
  });
  return {
    pid: child.pid as number,
    exited,
    isRunning: () => running,
    kill: (signal) => {
      if (running) child.kill(signal);
    },
  };
};

/** A loopback port nobody listens on right now (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
