import { z } from 'zod';
import { InvalidParamsError, InvalidRequestError } from '../domain/errors.js';
import { ownKeyRecord } from '../domain/own-key-record.js';
import type { StandardSchemaV1 } from '../domain/standard-schema.js';
import type { TraceContextInput } from './telemetry/telemetry-options.js';

// A name of dots only ('.', '..') cannot be a segment of a URL path: browsers and proxies
// resolve it away, so the dashboard's page of such an environment or resource would be another's.
const name = z
  .string()
  .min(1)
  .refine((v) => !/^\.+$/.test(v), { message: 'must not be made of dots only' });

const requestSchema = z.object({
  type: z.string().min(1),
  environment: name,
  resource: z.object({ type: name, handle: name }),
  user: z.string().min(1),
  params: ownKeyRecord(z.string(), z.unknown()).default({}),
  idempotencyKey: z.string().min(1).optional(),
  /**
   * The trace this request belongs to (an OpenTelemetry `Context`, or its W3C headers
   * `{ traceparent, tracestate? }`): the run of the operation continues it, in whichever
   * process runs it. Default: the active context. See docs/telemetry.md.
   */
  traceContext: z.custom<TraceContextInput>((v) => typeof v === 'object' && v !== null).optional(),
});

export type OperationRequest = z.input<typeof requestSchema>;
export type ParsedRequest = z.output<typeof requestSchema>;

/** The request checked against its schema; InvalidRequestError names every problem. */
export const parseOperationRequest = (raw: OperationRequest): ParsedRequest => {
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`);
    throw new InvalidRequestError(issues.join('; '), issues);
  }
  return parsed.data;
};

/**
 * The params a definition's schema gave back, or InvalidParamsError naming every issue. The
 * caller awaits the schema itself: one await, as a start had before this moved here.
 */
export const validatedParams = (
  type: string,
  result: StandardSchemaV1.Result<unknown>,
): Record<string, unknown> => {
  if (result.issues) {
    throw new InvalidParamsError(
      type,
      result.issues.map((i) => {
        const path = (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
        return path ? `${path}: ${i.message}` : i.message;
      }),
    );
  }
  return result.value as Record<string, unknown>;
};
