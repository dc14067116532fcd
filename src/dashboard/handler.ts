import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request as the dashboard's routes see it. */
export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  actor: unknown;
}

export interface Handler {
  /** Reads the read model: it is brought up to date first. */
  reads: boolean;
  run(ctx: Context): Promise<void>;
}
