import { println, type CliIo } from '../cli-io.js';
import {
  openStoreSession,
  type StoreAccess,
  type StoreOptions,
  type StoreSession,
} from '../store-session.js';

export interface GlobalOptions extends StoreOptions {
  json?: boolean;
}

/** Opens the store, brings the read models up to date, runs `work`, and always closes. */
export const withStore = async <T>(
  options: GlobalOptions,
  work: (session: StoreSession) => Promise<T>,
  { catchUp = true, access }: { catchUp?: boolean; access?: StoreAccess } = {},
): Promise<T> => {
  const session = await openStoreSession(options, access);
  try {
    // Commands that read the events themselves (follow, cancel) need no read model.
    if (catchUp) await session.catchUp();
    return await work(session);
  } finally {
    await session.close();
  }
};

/** A command that only reads: on a read-only file it reads, and notes a lag on stderr. */
export const reads = (command: string, io: CliIo): StoreAccess => ({
  command,
  writes: false,
  warn: (text) => println(io.err, text),
});

/** A command that writes: refused at once on a read-only file, naming it. */
export const writes = (command: string): StoreAccess => ({ command, writes: true });

export type CommandResult = Promise<number>;
export type Command<O> = (options: O, io: CliIo) => CommandResult;
