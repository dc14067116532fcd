import type { z } from 'zod';
import { refuseProtoKey } from './own-key-record.js';

/**
 * A fast path in front of zod for the event schemas: the same checks, without zod's issue
 * lists, payload objects and checks dispatch, which were about a quarter of a rebuild's time
 * (bench/RESULTS.md, issue 17). It is only ever an acceptor: a value it is not sure of is
 * `DECLINED`, and the caller asks zod, whose answer (and error message) is the one given. A
 * value it accepts is one zod accepts, and what it returns equals zod's output: new objects
 * and arrays with the schema's keys in the schema's order (unknown keys dropped, as zod's
 * default strip does), the values of `z.unknown()` shared with the input.
 *
 * It knows the few schema kinds and checks the events use (objects, strings with a minimum
 * length, an ISO datetime or a regex, numbers with integer and minimum checks, booleans, enums,
 * literals, optionals, arrays, records of unknown values, such records made by ownKeyRecord,
 * unknown); a schema with anything else compiles to no fast path at all. An optional key
 * present with `undefined`, a record with a `__proto__`, symbol or non-enumerable key, or an
 * object that is not plain, is declined.
 * test/property/schema-fast-path.property.test.ts checks the agreement with zod on generated
 * valid and broken events of every type.
 */
export const DECLINED: unique symbol = Symbol('declined: ask zod');

export type FastParse = (value: unknown) => unknown;

interface CheckDef {
  check?: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  value?: number;
  inclusive?: boolean;
}

interface SchemaDef extends CheckDef {
  type: string;
  checks?: ReadonlyArray<{ _zod: { def: CheckDef } }>;
  shape?: Record<string, unknown>;
  catchall?: unknown;
  innerType?: unknown;
  element?: unknown;
  keyType?: unknown;
  valueType?: unknown;
  entries?: Record<string, unknown>;
  values?: readonly unknown[];
  in?: unknown;
  out?: unknown;
  transform?: unknown;
}

const defOf = (schema: unknown): SchemaDef | undefined =>
  (schema as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks on a string or an array's length; undefined when one is not known here. */
const lengthAndFormatChecks = (
  def: SchemaDef,
  allowFormats: boolean,
): Array<(v: string | unknown[]) => boolean> | undefined => {
  const checks: CheckDef[] = (def.checks ?? []).map((c) => c._zod.def);
  // A format schema (z.iso.datetime()) is its own check.
  if (def.check === 'string_format') checks.push(def);
  const out: Array<(v: string | unknown[]) => boolean> = [];
  for (const c of checks) {
    if (c.check === 'min_length' && typeof c.minimum === 'number') {
      const min = c.minimum;
      out.push((v) => v.length >= min);
    } else if (
      allowFormats &&
      c.check === 'string_format' &&
      (c.format === 'datetime' || c.format === 'regex') &&
      c.pattern instanceof RegExp
    ) {
      const pattern = c.pattern;
      out.push((v) => {
        pattern.lastIndex = 0;
        return pattern.test(v as string);
      });
    } else return undefined;
  }
  return out;
};

const compileString = (def: SchemaDef): FastParse | undefined => {
  const checks = lengthAndFormatChecks(def, true);
  if (!checks) return undefined;
  return (v) => {
    if (typeof v !== 'string') return DECLINED;
    for (const check of checks) if (!check(v)) return DECLINED;
    return v;
  };
};

const compileNumber = (def: SchemaDef): FastParse | undefined => {
  let integer = false;
  let min = -Infinity;
  for (const { _zod } of def.checks ?? []) {
    const c = _zod.def;
    if (c.check === 'number_format' && c.format === 'safeint') integer = true;
    else if (c.check === 'greater_than' && c.inclusive === true && typeof c.value === 'number')
      min = Math.max(min, c.value);
    else return undefined;
  }
  return (v) =>
    typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isSafeInteger(v)) && v >= min
      ? v
      : DECLINED;
};

const compileObject = (def: SchemaDef): FastParse | undefined => {
  if (def.catchall !== undefined || !def.shape) return undefined;
  const fields: Array<{ key: string; optional: boolean; parse: FastParse }> = [];
  for (const [key, schema] of Object.entries(def.shape)) {
    const field = defOf(schema);
    if (!field) return undefined;
    const optional = field.type === 'optional' && !field.checks?.length;
    const parse = compile(optional ? field.innerType : schema);
    if (!parse) return undefined;
    fields.push({ key, optional, parse });
  }
  return (v) => {
    if (!isObject(v)) return DECLINED;
    const out: Record<string, unknown> = {};
    for (const { key, optional, parse } of fields) {
      const value = v[key];
      if (value === undefined) {
        // zod keeps a present key whose value is undefined; only absence is simple.
        if (optional && !(key in v)) continue;
        return DECLINED;
      }
      const parsed = parse(value);
      if (parsed === DECLINED) return DECLINED;
      out[key] = parsed;
    }
    return out;
  };
};

const compileArray = (def: SchemaDef): FastParse | undefined => {
  const checks = lengthAndFormatChecks(def, false);
  const element = compile(def.element);
  if (!checks || !element) return undefined;
  return (v) => {
    if (!Array.isArray(v)) return DECLINED;
    for (const check of checks) if (!check(v)) return DECLINED;
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      const parsed = element(v[i]);
      if (parsed === DECLINED) return DECLINED;
      out[i] = parsed;
    }
    return out;
  };
};

/** Records of unknown values by string keys (the params of a request). */
const compileRecord = (def: SchemaDef): FastParse | undefined => {
  const key = defOf(def.keyType);
  const value = defOf(def.valueType);
  if (key?.type !== 'string' || key.checks?.length || value?.type !== 'unknown') return undefined;
  if (value.checks?.length) return undefined;
  return (v) => {
    if (!isObject(v) || Object.getPrototypeOf(v) !== Object.prototype) return DECLINED;
    const keys = Reflect.ownKeys(v);
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      if (typeof k !== 'string' || k === '__proto__') return DECLINED;
      if (!Object.prototype.propertyIsEnumerable.call(v, k)) return DECLINED;
      out[k] = v[k];
    }
    return out;
  };
};

const compile = (schema: unknown): FastParse | undefined => {
  const def = defOf(schema);
  if (!def) return undefined;
  const plain = !def.checks?.length;
  switch (def.type) {
    case 'string':
      return compileString(def);
    case 'number':
      return compileNumber(def);
    case 'boolean':
      return plain ? (v) => (typeof v === 'boolean' ? v : DECLINED) : undefined;
    case 'unknown':
      return plain ? (v) => v : undefined;
    case 'enum':
    case 'literal': {
      if (!plain) return undefined;
      const allowed = new Set(def.type === 'enum' ? Object.values(def.entries ?? {}) : def.values);
      return (v) => (allowed.has(v) ? v : DECLINED);
    }
    case 'object':
      return plain ? compileObject(def) : undefined;
    case 'array':
      return compileArray(def);
    case 'record':
      return plain ? compileRecord(def) : undefined;
    case 'pipe':
      // An ownKeyRecord (own-key-record.ts): a check that refuses an own `__proto__`, then the
      // record. The record's fast path declines such a key (zod then refuses it), and passes
      // anything else unchanged as the check does.
      return plain &&
        defOf(def.in)?.transform === refuseProtoKey &&
        defOf(def.out)?.type === 'record'
        ? compile(def.out)
        : undefined;
    default:
      return undefined;
  }
};

/**
 * The fast path of a zod schema, or undefined when the schema uses something it does not know.
 *
 * @example
 * ```ts
 * const fast = compileFastParse(eventSchemas.StepStarted);
 * const parsed = fast?.(data);
 * const result = parsed === undefined || parsed === DECLINED ? schema.parse(data) : parsed;
 * ```
 */
export const compileFastParse = (schema: z.ZodType): FastParse | undefined => compile(schema);
