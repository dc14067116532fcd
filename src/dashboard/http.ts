import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { setOwnValue } from '../domain/own-keys.js';

/** An answer other than 2xx, with the code and message the JSON body carries. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** HTTP status of the errors opledger raises; anything else is a 500. */
const STATUS_OF_CODE: Record<string, number> = {
  INVALID_REQUEST: 400,
  INVALID_WEEK: 400,
  ACCESS_DENIED: 403,
  OPERATION_NOT_FOUND: 404,
  ENVIRONMENT_NOT_FOUND: 404,
  OPERATION_ENDED: 409,
  OPERATION_PURGED: 410,
  STORE_READ_ONLY: 409,
};

export interface ErrorBody {
  error: { code: string; message: string; issues?: string[] };
}

/** The status and JSON body for any thrown value; `internal` is true for a 500. */
export const toErrorAnswer = (
  error: unknown,
): { status: number; body: ErrorBody; headers: Record<string, string>; internal: boolean } => {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      body: { error: { code: error.code, message: error.message } },
      headers: error.headers,
      internal: false,
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const status = typeof code === 'string' ? STATUS_OF_CODE[code] : undefined;
  if (status !== undefined && typeof code === 'string') {
    const issues = (error as { issues?: unknown }).issues;
    return {
      status,
      body: {
        error: {
          code,
          message,
          ...(Array.isArray(issues) && issues.length ? { issues: issues.map(String) } : {}),
        },
      },
      headers: {},
      internal: false,
    };
  }
  return {
    status: 500,
    body: {
      error: {
        code: 'INTERNAL_ERROR',
        message: `The dashboard could not answer this request: ${message || String(error)}. The server goes on; see its output for details.`,
      },
    },
    headers: {},
    internal: true,
  };
};

/** Every answer of the dashboard: its length said, never cached (it shows live state). */
export const sendBody = (
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void => {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
};

export const sendJson = (
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void =>
  sendBody(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, headers);

export const sendText = (
  res: ServerResponse,
  contentType: string,
  text: string,
  headers: Record<string, string> = {},
): void => sendBody(res, 200, contentType, text, headers);

/** `attachment; filename=...` with a name safe in any header and any file system. */
export const attachment = (name: string): string =>
  `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"`;

/** Query parameters as an object; a parameter given twice is an error, not a silent pick. */
export const queryOf = (url: URL): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    // Own keys only: `in` would find Object.prototype's, and call `__proto__` given twice.
    if (Object.hasOwn(out, key))
      throw new HttpError(
        400,
        'INVALID_QUERY',
        `Query parameter '${key}' is given twice; give it once.`,
      );
    // An assigned `__proto__` would vanish instead of being refused as an unknown parameter.
    setOwnValue(out, key, value);
  }
  return out;
};

/** Validates with a zod schema; every problem is listed in one 400. */
export const parseWith = <S extends z.ZodType>(
  schema: S,
  value: unknown,
  code: 'INVALID_QUERY' | 'INVALID_BODY',
  what: string,
): z.output<S> => {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) =>
    i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message,
  );
  const error = new HttpError(400, code, `Invalid ${what}: ${issues.join('; ')}.`);
  throw error;
};

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The request's JSON body (an empty one is `{}`). It must be declared application/json, which
 * a page of another site cannot send without a CORS preflight this server never grants: a
 * form or a `no-cors` fetch from elsewhere is refused rather than acted on.
 */
export const readJsonBody = async (req: IncomingMessage): Promise<unknown> => {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      "Send the body as JSON, with the header 'content-type: application/json'.",
    );
  }
  const tooLarge = () =>
    new HttpError(413, 'BODY_TOO_LARGE', `The body may hold at most ${MAX_BODY_BYTES} bytes.`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'INVALID_BODY', 'The body is not valid JSON.');
  }
};

/**
 * A browser navigating (typing a URL, following a link, submitting a form), as opposed to a
 * script's fetch: it would show a JSON error raw.
 */
export const isNavigation = (req: IncomingMessage): boolean => {
  if (req.headers['sec-fetch-dest'] === 'document') return true;
  const first = String(req.headers.accept ?? '').split(',')[0] ?? '';
  return first.trim().startsWith('text/html');
};
