import { readFileSync, renameSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeFolder } from '../adapters/make-folder.js';
import { z } from 'zod';
import type { CloudState, ImageBehaviour } from '../adapters/infrastructure/index.js';
import { CliError } from './cli-error.js';

/**
 * The CLI's simulated cloud lives in a JSON file between runs, so `opledger run` in one process
 * finds the app that an earlier run provisioned. A lock file keeps two runs from overwriting
 * each other's cloud.
 */
export interface SavedCloud {
  version: 1;
  /** Virtual time the cloud had reached: the next run starts no earlier, so ids keep sorting. */
  now: string;
  seed: number;
  state: CloudState;
  images: Record<string, ImageBehaviour>;
}

const isPlainObject = (v: unknown): v is object =>
  typeof v === 'object' &&
  v !== null &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * A record of `value`s that keeps every own key, `__proto__` too. The cloud's ids and object
 * keys are the user's (a bucket key `__proto__` is valid, and the cloud keeps it as an own key),
 * so a file opledger wrote may hold one; z.record would leave it out of the loaded cloud without
 * a word. Checked as its entries (anything but a plain object is no entries at all), and built
 * again by Object.fromEntries, which keeps the key.
 */
const everyKeyRecord = <V extends z.ZodType>(value: V) =>
  z
    .preprocess(
      (v) => (isPlainObject(v) ? Object.entries(v) : undefined),
      z.array(z.tuple([z.string(), value])),
    )
    .transform((entries) => Object.fromEntries(entries) as Record<string, z.output<V>>);

const savedCloudSchema = z.object({
  version: z.literal(1),
  now: z.iso.datetime(),
  seed: z.number().int(),
  state: z.object({
    instances: everyKeyRecord(z.unknown()),
    containers: everyKeyRecord(z.unknown()),
    volumes: everyKeyRecord(z.unknown()),
    endpoints: everyKeyRecord(z.unknown()),
    databases: everyKeyRecord(z.unknown()),
    objects: everyKeyRecord(everyKeyRecord(z.string())),
  }),
  images: everyKeyRecord(z.unknown()),
});

export const loadCloud = (path: string): SavedCloud | undefined => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new CliError(`the simulated cloud file ${path} is not JSON`, {
      hint: 'delete it to start from an empty cloud, or pass another --cloud FILE',
    });
  }
  const parsed = savedCloudSchema.safeParse(data);
  if (!parsed.success) {
    throw new CliError(`the simulated cloud file ${path} is not one opledger wrote`, {
      hint: 'delete it to start from an empty cloud, or pass another --cloud FILE',
    });
  }
  return parsed.data as SavedCloud;
};

/** Written to a temporary file and renamed: a crash mid-write leaves the previous cloud. */
export const saveCloud = (path: string, saved: SavedCloud): void => {
  makeFolder(dirname(path));
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(saved, null, 2)}\n`);
  renameSync(temporary, path);
};

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** What a lock file holds: its process, and the operations it started on this cloud. */
interface LockContent {
  pid: number;
  operations: string[];
}

const readLock = (lock: string): LockContent | undefined => {
  try {
    const data = JSON.parse(readFileSync(lock, 'utf8')) as Partial<LockContent>;
    if (typeof data.pid !== 'number') return undefined;
    return { pid: data.pid, operations: Array.isArray(data.operations) ? data.operations : [] };
  } catch {
    return undefined;
  }
};

export interface CloudLock {
  /** Operations a process that died while holding the lock had started: to recover. */
  abandoned: string[];
  /** Records an operation started under this lock, so a successor can recover it. */
  record(operationId: string): void;
  release(): void;
}

/** The lock file of a cloud file (see lockCloud). */
export const lockFileOf = (path: string): string => `${path}.lock`;

/**
 * Takes `${path}.lock` for this process. A lock left by a dead process is taken over (by
 * renaming it, so that of two processes taking it over at once only one wins) and the
 * operations that process had started are handed back for recovery.
 */
export const lockCloud = (
  path: string,
  what = 'the simulated cloud',
  elsewhere = 'pass another --cloud FILE',
): CloudLock => {
  const lock = lockFileOf(path);
  makeFolder(dirname(path));
  let abandoned: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      const content: LockContent = { pid: process.pid, operations: [] };
      writeFileSync(fd, JSON.stringify(content));
      closeSync(fd);
      return {
        abandoned,
        record: (operationId) => {
          content.operations.push(operationId);
          writeFileSync(lock, JSON.stringify(content));
        },
        release: () => rmSync(lock, { force: true }),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readLock(lock);
      if (owner && owner.pid !== process.pid && isAlive(owner.pid)) {
        throw new CliError(
          `another opledger process (pid ${owner.pid}) is running operations on ${what} ${path}`,
          {
            hint: `wait for it to finish, or ${elsewhere}; if pid ${owner.pid} is not opledger, delete ${lock}`,
            exitCode: 1,
          },
        );
      }
      const stale = `${lock}.${process.pid}.stale`;
      try {
        renameSync(lock, stale);
      } catch (renameError) {
        // Another process took it over first: try again, and meet its lock.
        if ((renameError as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw renameError;
      }
      abandoned = readLock(stale)?.operations ?? [];
      rmSync(stale, { force: true });
    }
  }
  throw new CliError(`could not lock the simulated cloud ${path}`, {
    hint: `delete ${lock} if no opledger process is running`,
    exitCode: 1,
  });
};
