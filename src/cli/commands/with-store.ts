import type { CliIo } from '../cli-io.js';
import { openStoreSession, type StoreOptions, type StoreSession } from '../store-session.js';

export interface GlobalOptions extends StoreOptions {
  json?: boolean;
}

/** Opens the store, brings the read models up to date, runs `work`, and always closes. */
export const withStore = async <T>(
  options: GlobalOptions,
  work: (session: StoreSession) => Promise<T>,
  { catchUp = true }: { catchUp?: boolean } = {},
): Promise<T> => {
  const session = await openStoreSession(options);
  try {
    // Commands that read the events themselves (follow, cancel) need no read model.
    if (catchUp) await session.catchUp();
    return await work(session);
  } finally {
    await session.close();
  }
};

export type CommandResult = Promise<number>;
export type Command<O> = (options: O, io: CliIo) => CommandResult;
