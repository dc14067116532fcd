import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { imageManifestSchema } from '../../src/adapters/local/local-images.js';
import { eventSchemas } from '../../src/domain/events.js';
import { ownKeyRecord, PROTO_KEY_MESSAGE } from '../../src/domain/own-key-record.js';
import { compileFastParse, DECLINED } from '../../src/domain/schema-fast-path.js';
import type { OperationRequest } from '../../src/index.js';

// JSON.parse makes an own `__proto__` key, which a plain z.record leaves out without a word.
const withProto = () => JSON.parse('{"__proto__": 1, "a": 1}') as Record<string, unknown>;

describe('ownKeyRecord', () => {
  const params = z.object({ params: ownKeyRecord(z.string(), z.unknown()).default({}) });

  it('refuses an own __proto__ key with an issue at its path', async () => {
    const expected = [
      { code: 'custom', path: ['params', '__proto__'], message: PROTO_KEY_MESSAGE },
    ];
    expect(params.safeParse({ params: withProto() }).error?.issues).toEqual(expected);
    expect((await params.safeParseAsync({ params: withProto() })).error?.issues).toEqual(expected);
    expect(z.record(z.string(), z.unknown()).parse(withProto())).toEqual({ a: 1 });
  });

  it('is z.record otherwise: the same output, errors and types, a __proto__ deeper down kept', () => {
    expect(params.parse({})).toEqual({ params: {} });
    expect(params.parse({ params: { a: 1, constructor: 2 } })).toEqual({
      params: { a: 1, constructor: 2 },
    });
    const nested = params.parse({ params: JSON.parse('{"a": {"__proto__": 1}}') as object });
    expect(Object.entries(nested.params.a as object)).toEqual([['__proto__', 1]]);
    expect(params.safeParse({ params: [] }).error?.issues).toEqual(
      z.object({ params: z.record(z.string(), z.unknown()) }).safeParse({ params: [] }).error
        ?.issues,
    );
    type Plain = ReturnType<typeof z.record<z.ZodString, z.ZodNumber>>;
    type Own = ReturnType<typeof ownKeyRecord<z.ZodString, z.ZodNumber>>;
    expectTypeOf<z.input<Own>>().toEqualTypeOf<z.input<Plain>>();
    expectTypeOf<z.output<Own>>().toEqualTypeOf<z.output<Plain>>();
    expectTypeOf<OperationRequest['params']>().toEqualTypeOf<Record<string, unknown> | undefined>();
  });

  it("keeps the fast path of OperationRequested's params, which declines a __proto__ to zod", () => {
    const fast = compileFastParse(eventSchemas.OperationRequested.shape.params);
    expect(fast).toBeDefined();
    expect(fast!({ a: 1 })).toEqual({ a: 1 });
    expect(fast!(withProto())).toBe(DECLINED);
  });

  it("refuses an env var named __proto__ in a local image's manifest", () => {
    const manifest = { command: ['node', 'server.js'], env: withProto() };
    expect(imageManifestSchema.safeParse(manifest).error?.issues).toEqual([
      { code: 'custom', path: ['env', '__proto__'], message: PROTO_KEY_MESSAGE },
    ]);
  });
});
