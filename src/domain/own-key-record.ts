import { z } from 'zod';

// zod's z.record skips an own `__proto__` key of its input (JSON.parse makes one): the key is
// neither checked nor in the output, and no issue says so. A request's params, an env named
// `__proto__` or an event's params would lose it without a word. A record made here refuses it
// instead, with an issue at `<field>.__proto__`; a `__proto__` deeper down (inside a value) is
// the value schema's business and is kept by z.unknown() as before.

/** The message of the issue an own `__proto__` key gets. */
export const PROTO_KEY_MESSAGE = "'__proto__' cannot be used as a key here";

/**
 * The check in front of every {@link ownKeyRecord}: an issue for an own `__proto__` key (the
 * pipe then stops before the record), the input unchanged otherwise. schema-fast-path.ts knows
 * an ownKeyRecord by this function.
 */
export const refuseProtoKey = (input: unknown, ctx: z.core.$RefinementCtx): unknown => {
  if (typeof input === 'object' && input !== null && Object.hasOwn(input, '__proto__')) {
    ctx.addIssue({ code: 'custom', message: PROTO_KEY_MESSAGE, path: ['__proto__'], input });
  }
  return input;
};

/**
 * `z.record(key, value)` that refuses an input with an own `__proto__` key (an issue at
 * `__proto__`, "'__proto__' cannot be used as a key here") instead of leaving the key out
 * without a word. Its input and output types are those of `z.record(key, value)`.
 *
 * @example
 * ```ts
 * const params = ownKeyRecord(z.string(), z.unknown());
 * params.parse({ a: 1 }); // { a: 1 }
 * params.safeParse(JSON.parse('{"__proto__": 1}')).success; // false, issue at ['__proto__']
 * ```
 */
export const ownKeyRecord = <K extends z.core.$ZodRecordKey, V extends z.core.SomeType>(
  key: K,
  value: V,
): z.ZodPreprocess<z.ZodRecord<K, V>, z.input<z.ZodRecord<K, V>>> =>
  z.preprocess<unknown, z.ZodRecord<K, V>, z.input<z.ZodRecord<K, V>>>(
    refuseProtoKey,
    z.record(key, value),
  );
