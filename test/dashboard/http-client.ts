import { request, type IncomingHttpHeaders } from 'node:http';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = unknown>(): T;
}

/** One request with node:http (so that any header, Host included, can be sent). */
export const call = (
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = request(new URL(path, base), {
      method: options.method ?? 'GET',
      headers: options.headers ?? {},
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text,
          json: <T>() => JSON.parse(text) as T,
        });
      });
    });
    req.end(options.body);
  });

export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
  /** When it arrived, for telling live lines from those replayed. */
  receivedAt: number;
}

/**
 * Reads a text/event-stream as a browser's EventSource would, without reconnecting: `events`
 * grows as they arrive; `waitFor` resolves with the first matching one; `closed` once the
 * server ends the stream.
 */
export const openEventStream = (base: string, path: string, headers: Record<string, string> = {}) =>
  new Promise<{
    status: number;
    headers: IncomingHttpHeaders;
    events: ServerSentEvent[];
    waitFor(match: (e: ServerSentEvent) => boolean, timeoutMs?: number): Promise<ServerSentEvent>;
    closed: Promise<void>;
    close(): void;
  }>((resolve, reject) => {
    const req = request(new URL(path, base), {
      headers: { accept: 'text/event-stream', ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const events: ServerSentEvent[] = [];
      const waiters = new Set<() => void>();
      let buffer = '';
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const name = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            fields[name] = fields[name] === undefined ? value : `${fields[name]}\n${value}`;
          }
          if (fields.data === undefined) continue;
          events.push({
            event: fields.event ?? 'message',
            data: fields.data,
            ...(fields.id !== undefined ? { id: fields.id } : {}),
            receivedAt: Date.now(),
          });
        }
        waiters.forEach((w) => w());
      });
      const closed = new Promise<void>((done) =>
        res.on('close', () => {
          ended = true;
          waiters.forEach((w) => w());
          done();
        }),
      );
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        closed,
        close: () => req.destroy(),
        waitFor: (match, timeoutMs = 30_000) =>
          new Promise((found, fail) => {
            const check = () => {
              const hit = events.find(match);
              if (hit) return settle(() => found(hit));
              if (ended)
                settle(() => fail(new Error(`the stream ended: ${JSON.stringify(events)}`)));
            };
            const timer = setTimeout(
              () => settle(() => fail(new Error(`no such event: ${JSON.stringify(events)}`))),
              timeoutMs,
            );
            const settle = (then: () => void) => {
              clearTimeout(timer);
              waiters.delete(check);
              then();
            };
            waiters.add(check);
            check();
          }),
      });
    });
    req.end();
  });
