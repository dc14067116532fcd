import { z } from 'zod';

/** The query strings and bodies the dashboard takes, checked before anything is read. */

export const STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;

const wholeNumber = (min: number, max: number, range: string) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be ${range}`).max(max, `must be ${range}`));

export const operationsQuery = z.strictObject({
  status: z.enum(STATUSES, { error: `must be one of ${STATUSES.join(', ')}` }).optional(),
  type: z.string().min(1).optional(),
  resource: z
    .string()
    .regex(/^[^:]+:.+$/, 'must be TYPE:HANDLE, e.g. app:web')
    .transform((v) => {
      const colon = v.indexOf(':');
      return { type: v.slice(0, colon), handle: v.slice(colon + 1) };
    })
    .optional(),
  from: z.string().min(1).optional(),
  to: z.string().min(1).optional(),
  limit: wholeNumber(1, 500, 'from 1 to 500').optional(),
  offset: wholeNumber(0, Number.MAX_SAFE_INTEGER, '0 or more').optional(),
});

export const rangeQuery = z.strictObject({
  from: z.string({ error: 'is required (a UTC date or instant)' }).min(1),
  to: z.string({ error: 'is required (a UTC date or instant, exclusive)' }).min(1),
});

/** The delivery metrics' range (both required) and, optionally, one app. */
export const metricsQuery = z.strictObject({
  from: z.string({ error: 'is required (a UTC date or instant)' }).min(1),
  to: z.string({ error: 'is required (a UTC date or instant, exclusive)' }).min(1),
  app: z.string().min(1).optional(),
});

export const cancelBody = z.strictObject({
  user: z.string().min(1, 'must not be empty').optional(),
});

export const empty = z.strictObject({});

export type OperationsQuery = z.output<typeof operationsQuery>;

/** The read model's list options for a checked query (only the filters given). */
export const listOptions = (q: OperationsQuery) => ({
  ...(q.status ? { status: q.status } : {}),
  ...(q.type ? { type: q.type } : {}),
  ...(q.resource ? { resource: q.resource } : {}),
  ...(q.from ? { from: q.from } : {}),
  ...(q.to ? { to: q.to } : {}),
  ...(q.limit !== undefined ? { limit: q.limit } : {}),
  ...(q.offset !== undefined ? { offset: q.offset } : {}),
});
