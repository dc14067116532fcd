import { HttpError } from './http.js';

export type Method = 'GET' | 'POST';

export interface Route<H> {
  method: Method;
  /** Segments: literals, `:name` for a whole segment, `:name.ext` for a segment ending in `.ext`. */
  pattern: string;
  handler: H;
  /** A GET route also answers HEAD (without a body) unless this is false. */
  head?: boolean;
}

export interface Match<H> {
  handler: H;
  params: Record<string, string>;
}

const decode = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(
      400,
      'INVALID_PATH',
      `The path segment '${segment}' is not valid percent-encoding.`,
    );
  }
};

/** The params of `path` against `pattern`, or undefined when it does not match. */
const matchPattern = (pattern: string, path: string): Record<string, string> | undefined => {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, w] of want.entries()) {
    const g = got[i] as string;
    if (!w.startsWith(':')) {
      if (w !== g) return undefined;
      continue;
    }
    const dot = w.indexOf('.');
    const name = dot < 0 ? w.slice(1) : w.slice(1, dot);
    const ext = dot < 0 ? '' : w.slice(dot);
    if (!g.endsWith(ext) || g.length === ext.length) return undefined;
    params[name] = decode(g.slice(0, g.length - ext.length));
  }
  return params;
};

/**
 * Finds the route of a request: the handler, a 405 naming the methods the path takes, or a
 * 404. Literal segments win over params (`log.txt` is not an `:id`): routes are tried in order.
 */
export const createRouter = <H>(routes: readonly Route<H>[]) => ({
  routes,
  match(method: string, path: string): Match<H> {
    const allowed = new Set<string>();
    for (const route of routes) {
      const params = matchPattern(route.pattern, path);
      if (!params) continue;
      const headOfGet = method === 'HEAD' && route.method === 'GET' && route.head !== false;
      if (route.method === method || headOfGet) return { handler: route.handler, params };
      allowed.add(route.method);
    }
    if (allowed.size > 0) {
      const allow = [...allowed].join(', ');
      throw new HttpError(
        405,
        'METHOD_NOT_ALLOWED',
        `${method} is not allowed on ${path}; use ${allow}.`,
        {
          allow,
        },
      );
    }
    throw new HttpError(
      404,
      'NOT_FOUND',
      `Nothing is served at ${path}. The pages start at /; the JSON API is under /api/ (GET /api lists its routes).`,
    );
  },
});
