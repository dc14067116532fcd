import type { OperationStatus } from '../../domain/operation.js';
import { ENVIRONMENT_RESOURCE } from '../../domain/stream-names.js';
import { CliError, EXIT_OK } from '../cli-error.js';
import { opledgerCommand, println, printJson, type CliIo } from '../cli-io.js';
import { operationsTable } from '../render.js';
import type { StoreSession } from '../store-session.js';
import { reads, withStore, type GlobalOptions } from './with-store.js';

export interface OperationsOptions extends GlobalOptions {
  env: string;
  resource?: string;
  status?: string;
  type?: string;
  limit?: string;
  offset?: string;
}

const STATUSES: readonly OperationStatus[] = ['queued', 'running', 'succeeded', 'failed'];

const integer = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new CliError(`--${name} '${value}' is not a whole number`);
  return Number(value);
};

/** `web` or `app:web`: a bare handle must name exactly one resource of the environment. */
const resolveResource = async (session: StoreSession, env: string, value: string, cli: string) => {
  const colon = value.indexOf(':');
  const type = colon > 0 ? value.slice(0, colon) : undefined;
  const handle = colon > 0 ? value.slice(colon + 1) : value;
  // The environment's own operations (provision, deprovision) are on resource environment:ENV.
  if (type === ENVIRONMENT_RESOURCE) return { type, handle };
  const matches = (await session.readModel.resources(env)).filter(
    (r) => r.handle === handle && (type === undefined || r.type === type),
  );
  if (matches.length === 1) {
    const [only] = matches;
    return { type: only?.type ?? '', handle };
  }
  if (matches.length === 0) {
    throw new CliError(`environment ${env} has no resource '${value}'`, {
      hint: `list what it has with: ${cli} operations --env ${env}`,
    });
  }
  throw new CliError(
    `'${value}' names several resources in ${env}: ${matches
      .map((r) => `${r.type}:${r.handle}`)
      .join(', ')}`,
    { hint: 'pass --resource TYPE:HANDLE' },
  );
};

export const operationsCommand = (options: OperationsOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      if (options.status !== undefined && !STATUSES.includes(options.status as OperationStatus)) {
        throw new CliError(`--status '${options.status}' is not one of ${STATUSES.join(', ')}`, {
          hint: 'for example --status failed',
        });
      }
      const limit = integer('limit', options.limit);
      const offset = integer('offset', options.offset);
      const page = await session.readModel.listOperations({
        environment: options.env,
        ...(options.resource
          ? {
              resource: await resolveResource(
                session,
                options.env,
                options.resource,
                opledgerCommand(io.env),
              ),
            }
          : {}),
        ...(options.status ? { status: options.status as OperationStatus } : {}),
        ...(options.type ? { type: options.type } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(offset !== undefined ? { offset } : {}),
      });
      if (options.json) {
        printJson(io.out, page);
        return EXIT_OK;
      }
      if (page.items.length === 0) {
        println(io.out, `No operations in environment ${options.env} match.`);
        return EXIT_OK;
      }
      println(io.out, operationsTable(page.items));
      const shown = `${page.offset + 1}-${page.offset + page.items.length} of ${page.total}`;
      const next = page.nextOffset !== undefined ? `; next page: --offset ${page.nextOffset}` : '';
      println(io.err, `Operations ${shown}${next}`);
      return EXIT_OK;
    },
    { access: reads('operations', io) },
  );
