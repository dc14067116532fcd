/**
 * A throwaway PostgreSQL cluster, shared by the tests' global setup and the benchmarks (bench/).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/adapters/local/child-process.js';
import { probePostgres } from '../../src/adapters/local/postgres-probe.js';

const START_TIMEOUT_MS = 30_000;

/** The folder holding initdb and postgres: an explicit setting, else the newest Debian-style install, else PATH. */
export const findBinaries = (): string => {
  const explicit = process.env.OPLEDGER_TEST_POSTGRES_BIN;
  if (explicit) return explicit;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'no PostgreSQL binaries found: install PostgreSQL, set OPLEDGER_TEST_POSTGRES_BIN to the folder holding initdb and postgres, or set OPLEDGER_TEST_POSTGRES_URL to a server to use',
    );
  }
};

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` OS user. */
const serverUser = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(
      'the tests run as root, PostgreSQL refuses to, and there is no `postgres` OS user to run it as: create one (useradd postgres) or set OPLEDGER_TEST_POSTGRES_URL',
    );
  }
};

const tail = (path: string): string => {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
};

export interface Cluster {
  url: string;
  stop(): Promise<void>;
  /** Stops the server as `pg_ctl stop -m fast` does, keeping its data, for `up` to start again. */
  down(): Promise<void>;
  /** Starts the server again on the same port and data. */
  up(): Promise<void>;
}

/**
 * A throwaway cluster in a temporary folder. The server runs as a direct child of this process
 * (not daemonised by pg_ctl), so that it is reaped when it exits and a crash of the test run
 * cannot orphan it for long: a watchdog stops it if this process dies without tearing down.
 */
export const startCluster = async (): Promise<Cluster> => {
  const bin = findBinaries();
  const user = serverUser();
  const folder = mkdtempSync(join(tmpdir(), 'opledger-pg-'));
  const data = join(folder, 'data');
  const sockets = join(folder, 'sockets');
  const log = join(folder, 'server.log');
  mkdirSync(sockets);
  if (user) for (const path of [folder, sockets]) chownSync(path, user.uid, user.gid);

  let server: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      // SIGQUIT is an immediate shutdown: nothing here needs to survive.
      server.kill('SIGQUIT');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    }
    watchdog?.kill('SIGKILL');
    rmSync(folder, { recursive: true, force: true });
    process.off('exit', stopNow);
  };
  // Last resort if the run ends without teardown (process.exit in a reporter, for instance).
  const stopNow = () => {
    server?.kill('SIGKILL');
    watchdog?.kill('SIGKILL');
    rmSync(folder, { recursive: true, force: true });
  };
  process.on('exit', stopNow);

  try {
    try {
      execFileSync(
        join(bin, 'initdb'),
        ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
        { stdio: 'pipe', ...(user ?? {}) },
      );
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`initdb failed: ${stderr || (error as Error).message}`);
    }
    const port = await freePort();
    const launch = async () => {
      const logFd = openSync(log, 'a');
      server = spawn(
        join(bin, 'postgres'),
        [
          '-D',
          data,
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `port=${port}`,
          '-k',
          sockets,
          // Durability buys nothing in a throwaway cluster and costs a lot of test time.
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
          '-c',
          'max_connections=300',
        ],
        { stdio: ['ignore', logFd, logFd], ...(user ?? {}) },
      );
      closeSync(logFd);
      const child = server;
      exited = new Promise((resolve) => child.once('exit', () => resolve()));
      watchdog?.kill('SIGKILL');
      watchdog = spawn(
        'sh',
        [
          '-c',
          `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -QUIT ${child.pid} 2>/dev/null; sleep 3; rm -rf '${folder}'`,
        ],
        { detached: true, stdio: 'ignore' },
      );
      watchdog.unref();

      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`postgres exited during startup; its log:\n${tail(log)}`);
        }
        if (await probePostgres(port)) return;
        if (Date.now() > deadline) {
          throw new Error(
            `postgres did not accept connections within ${START_TIMEOUT_MS} ms; its log:\n${tail(log)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await launch();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return {
      url,
      stop,
      // SIGINT is PostgreSQL's fast shutdown (pg_ctl stop -m fast): sessions end with 57P01.
      down: async () => {
        server?.kill('SIGINT');
        await exited;
      },
      up: launch,
    };
  } catch (error) {
    await stop();
    throw error;
  }
};
