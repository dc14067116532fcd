import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWith, queryOf } from './http.js';
import { empty } from './queries.js';

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
  /** A page: its errors are answered with a page too, not JSON. */
  page?: boolean;
  run(ctx: Context): Promise<void>;
}

/** A path parameter the route's pattern guarantees. */
export const param = (ctx: Context, name: string): string => ctx.params[name] as string;

/** Refuses any query string: a misspelt parameter is an error, not silently ignored. */
export const noQuery = (ctx: Context): void => {
  parseWith(empty, queryOf(ctx.url), 'INVALID_QUERY', 'query');
};
