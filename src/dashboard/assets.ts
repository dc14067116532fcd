import { readFile } from 'node:fs/promises';
import type { Handler } from './handler.js';
import { HttpError } from './http.js';
import { ownValue } from '../domain/own-keys.js';
import type { Route } from './router.js';

/**
 * The browser files of the pages, by name: only these are served, never a path taken from
 * the request. They sit in `assets/` next to this module (the build copies them to `dist/`).
 */
const ASSETS: Record<string, string> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

const folder = new URL('./assets/', import.meta.url);

export const assetRoutes = (): Route<Handler>[] => {
  const cache = new Map<string, Buffer>();
  const load = async (name: string): Promise<Buffer> => {
    let body = cache.get(name);
    if (!body) {
      body = await readFile(new URL(name, folder));
      cache.set(name, body);
    }
    return body;
  };
  return [
    {
      // Browsers ask for it on every page: an empty answer, not an error page each time.
      method: 'GET',
      pattern: '/favicon.ico',
      handler: {
        reads: false,
        async run({ res }) {
          res.writeHead(204, { 'cache-control': 'max-age=86400' });
          res.end();
        },
      },
    },
    {
      method: 'GET',
      pattern: '/assets/:name',
      handler: {
        reads: false,
        async run({ res, params }) {
          const name = params.name as string;
          // Own keys only: `/assets/constructor` would find Object.prototype's, then no file.
          const type = ownValue(ASSETS, name);
          if (!type) throw new HttpError(404, 'NOT_FOUND', `There is no asset '${name}'.`);
          const body = await load(name);
          res.writeHead(200, {
            'content-type': type,
            'content-length': body.length,
            'cache-control': 'no-cache',
            'x-content-type-options': 'nosniff',
          });
          res.end(body);
        },
      },
    },
  ];
};
