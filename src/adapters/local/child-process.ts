import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { OpledgerError } from '../../domain/errors.js';

/** A container's process: started from its image's command, watched until it exits. */
export interface ContainerProcess {
  readonly pid: number;
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Signals a container's whole process group: its command and whatever that started (`sh -c`
 * and its children, PostgreSQL and its backends). Each container is the leader of its own group,
 * so a Ctrl-C in the terminal of the program that started it never reaches it: only opledger
 * stops containers, with the stop signal and the timeout they are given.
 */
const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
};

// Every process the adapters of this Node.js process started, killed when it exits without
// closing them (an uncaught error, process.exit): no server outlives a crashed test run. A
// process killed with SIGKILL runs no code at all, so its containers are left running.
const live = new Set<number>();
let exitHookInstalled = false;
const installExitHook = () => {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of live) signalGroup(pid, 'SIGKILL');
  });
};

// Looked up once per user: `id` is a blocking call, and the event loop also runs the proxies.
const users = new Map<string, { uid: number; gid: number }>();
const idsOf = (user: string): { uid: number; gid: number } => {
  const known = users.get(user);
  if (known) return known;
  let ids: { uid: number; gid: number };
  try {
    ids = {
      uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()),
    };
  } catch {
    throw new OpledgerError(
      'UNKNOWN_USER',
      `the image runs as user '${user}', which does not exist on this machine; create it (e.g. useradd --system ${user}) or run opledger as another user than root`,
    );
  }
  users.set(user, ids);
  return ids;
};

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
      detached: true,
      ...runAs(spec.user),
    });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(log);
  }
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      if (child.pid !== undefined) {
        // What the command left behind in its group goes with it.
        signalGroup(child.pid, 'SIGKILL');
        live.delete(child.pid);
      }
      resolve({ code, signal });
    });
    child.once('error', () => {
      running = false;
      resolve({ code: null, signal: null });
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => {
      live.add(child.pid as number);
      resolve();
    });
    child.once('error', (error) =>
      reject(new Error(`cannot start ${spec.command.join(' ')}: ${error.message}`)),
    );
  });
  return {
    pid: child.pid as number,
    exited,
    isRunning: () => running,
    kill: (signal) => {
      if (running) signalGroup(child.pid as number, signal);
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
