import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEventDecoder, encodeEvent } from '../../src/domain/event-codec.js';
import { InvalidEventError } from '../../src/domain/errors.js';
import type { DomainEvent } from '../../src/domain/events.js';
import { eventSchemas, eventVersions, type EventType } from '../../src/domain/events.js';
import { compileFastParse, DECLINED } from '../../src/domain/schema-fast-path.js';

/**
 * The fast path in front of zod (schema-fast-path.ts) may decline anything, but what it accepts
 * zod must accept, and its output must be zod's, keys in the same order. Values are generated
 * from the schemas themselves: valid ones, and ones broken at random places.
 */

interface Def {
  type: string;
  checks?: Array<{
    _zod: { def: { check?: string; minimum?: number; value?: number; pattern?: RegExp } };
  }>;
  check?: string;
  pattern?: RegExp;
  format?: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
  entries?: Record<string, string>;
  values?: unknown[];
  out?: { _zod: { def: Def } };
}

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.constantFrom(undefined, null, NaN, Infinity, -1, 0, 1.5, '', 'x', true, [], {}),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace('Z', '+01:00')),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 19)),
  fc.object(),
);

const minOf = (def: Def) =>
  def.checks?.map((c) => c._zod.def).find((c) => c.check === 'min_length')?.minimum ?? 0;

/** Values of a schema; with `broken`, now and then something else in any place. */
const arbitraryOf = (def: Def, broken: boolean): fc.Arbitrary<unknown> => {
  const valid = validOf(def, broken);
  return broken
    ? fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: junk })
    : valid;
};

const validOf = (def: Def, broken: boolean): fc.Arbitrary<unknown> => {
  const inner = (d: { _zod: { def: Def } }) => arbitraryOf(d._zod.def, broken);
  switch (def.type) {
    case 'string': {
      if (def.check === 'string_format' && def.format === 'datetime')
        return fc
          .date({ min: new Date(0), max: new Date('2999-12-31'), noInvalidDate: true })
          .map((d) => d.toISOString());
      const regex = def.checks?.map((c) => c._zod.def).find((c) => c.pattern)?.pattern;
      if (regex) return fc.stringMatching(regex);
      return fc.string({ minLength: minOf(def), maxLength: 8 });
    }
    case 'number':
      if (!def.checks?.length) return fc.double();
      return fc.integer({
        min: def.checks.map((c) => c._zod.def).find((c) => c.check === 'greater_than')?.value ?? 0,
        max: 1000,
      });
    case 'boolean':
      return fc.boolean();
    case 'unknown':
      return fc.jsonValue();
    case 'enum':
      return fc.constantFrom(...Object.values(def.entries!));
    case 'literal':
      return fc.constantFrom(...def.values!);
    case 'array':
      return fc.array(inner(def.element!), { minLength: minOf(def), maxLength: 3 });
    case 'pipe':
      // An ownKeyRecord (own-key-record.ts): the values of its record.
      return validOf(def.out!._zod.def, broken);
    case 'record':
      // Plain objects (fc.dictionary may make ones without a prototype, which the fast path
      // declines); an own `__proto__` key (which an ownKeyRecord refuses) only in the broken ones.
      return fc
        .dictionary(
          fc.oneof(
            { weight: 9, arbitrary: fc.string({ maxLength: 6 }) },
            { weight: 1, arbitrary: fc.constant('__proto__') },
          ),
          fc.jsonValue(),
          { maxKeys: 3 },
        )
        .map((d) => Object.fromEntries(Object.entries(d)))
        .filter((d) => broken || !Object.hasOwn(d, '__proto__'));
    case 'object': {
      const entries = Object.entries(def.shape!);
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      const required: string[] = [];
      for (const [key, schema] of entries) {
        const d = schema._zod.def;
        if (d.type === 'optional') model[key] = inner(d.innerType!);
        else {
          model[key] = inner(schema);
          required.push(key);
        }
      }
      const record = fc.record(model, { requiredKeys: required });
      if (!broken) return record;
      // Extra keys (zod drops them), keys in another order, a key present but undefined.
      return fc
        .tuple(record, fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue(), { maxKeys: 2 }))
        .chain(([value, extra]) =>
          fc
            .shuffledSubarray(Object.keys(value), { minLength: Object.keys(value).length })
            .map((order) => ({
              ...extra,
              ...Object.fromEntries(order.map((k) => [k, value[k]])),
            })),
        );
    }
    default:
      throw new Error(`no arbitrary for a ${def.type} schema`);
  }
};

/** Equal, and with the same keys in the same order at every level. */
const sameShape = (a: unknown, b: unknown): boolean => {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null)
    return Object.is(a, b);
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  return (
    Array.isArray(a) === Array.isArray(b) &&
    ka.length === kb.length &&
    ka.every(
      (k, i) =>
        k === kb[i] &&
        sameShape((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k]),
    )
  );
};

const types = Object.keys(eventSchemas) as EventType[];

describe('the fast path of the event schemas', () => {
  it('compiles for every event type', () => {
    for (const type of types) expect(compileFastParse(eventSchemas[type]), type).toBeDefined();
  });

  it.each(types)('accepts valid %s events and gives what zod gives', (type) => {
    const schema = eventSchemas[type];
    const fast = compileFastParse(schema)!;
    const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
    fc.assert(
      fc.property(arbitraryOf(def, false), (data) => {
        const parsed = fast(data);
        expect(parsed).not.toBe(DECLINED);
        const zod = schema.safeParse(data);
        expect(zod.success).toBe(true);
        expect(sameShape(parsed, zod.data)).toBe(true);
        // New containers, as zod's: the event's own objects are never handed out.
        expect(parsed).not.toBe(data);
      }),
      { numRuns: 150 },
    );
  });

  it.each(types)('never accepts a broken %s event that zod refuses', (type) => {
    const schema = eventSchemas[type];
    const fast = compileFastParse(schema)!;
    const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
    fc.assert(
      fc.property(fc.oneof(arbitraryOf(def, true), junk), (data) => {
        const parsed = fast(data);
        if (parsed === DECLINED) return;
        const zod = schema.safeParse(data);
        expect(zod.success).toBe(true);
        expect(sameShape(parsed, zod.data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it.each(types)('validates %s events on write as zod does (encodeEvent)', (type) => {
    const schema = eventSchemas[type];
    const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
    fc.assert(
      fc.property(fc.oneof(arbitraryOf(def, false), arbitraryOf(def, true), junk), (data) => {
        const zod = schema.safeParse(data);
        const write = () => encodeEvent({ type, data } as DomainEvent);
        if (!zod.success) {
          // Refused with zod's own message, whichever path looked first.
          expect(write).toThrow(InvalidEventError);
          expect(write).toThrow(zod.error.issues[0]!.message);
          return;
        }
        const encoded = write();
        expect(encoded.version).toBe(eventVersions[type]);
        expect(sameShape(encoded.data, zod.data)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('leaves the decoder its errors: a broken stored event is the same StoredEventError', () => {
    const decode = createEventDecoder();
    const recorded = {
      type: 'StepStarted',
      version: eventVersions.StepStarted,
      data: { step: '', attempt: 0, at: 'yesterday' },
      streamName: 'operation-op-1',
      streamRevision: 3n,
      globalPosition: 9n,
      recordedAt: new Date(),
    };
    expect(() => decode(recorded)).toThrow(
      /'StepStarted' step: Too small.*attempt: Too small.*at: Invalid ISO datetime/,
    );
  });
});
