import {
  DEFAULT_CALL_DURATIONS,
  type CloudCall,
  type CloudService,
  type SimulatedCloud,
} from '../adapters/infrastructure/index.js';
import type { StandardSchemaV1 } from '../domain/standard-schema.js';
import { CliError } from './cli-error.js';

/** `app:web` -> { type: 'app', handle: 'web' }. */
export const parseResource = (value: string): { type: string; handle: string } => {
  const match = /^([a-z][a-z0-9_-]*):(.+)$/.exec(value);
  if (!match) {
    throw new CliError(`--resource '${value}' is not TYPE:HANDLE`, {
      hint: 'for example --resource app:web or --resource database:main',
    });
  }
  return { type: match[1] as string, handle: match[2] as string };
};

/** One `--param KEY=VALUE`: its path, the text typed, and that text read as JSON if it is JSON. */
export interface ParamEntry {
  path: string[];
  raw: string;
  json?: unknown;
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const parseParamEntries = (pairs: readonly string[]): ParamEntry[] =>
  pairs.map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CliError(`--param '${pair}' is not KEY=VALUE`, {
        hint: 'for example --param image=web:v2 or --param containerCount=3',
      });
    }
    const path = pair.slice(0, eq).split('.');
    if (path.some((k) => k === '' || UNSAFE_KEYS.has(k))) {
      throw new CliError(`--param '${pair}' has a key opledger does not accept`, {
        hint: 'keys are names separated by dots, e.g. env.RAILS_ENV',
      });
    }
    const raw = pair.slice(eq + 1);
    try {
      return { path, raw, json: JSON.parse(raw) as unknown };
    } catch {
      return { path, raw };
    }
  });

/** Builds the params object; `asText` lists the entries to keep as typed rather than as JSON. */
export const buildParams = (
  entries: readonly ParamEntry[],
  asText: ReadonlySet<ParamEntry> = new Set(),
): Record<string, unknown> => {
  const params: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const owner = new Map<string, string>();
  for (const entry of entries) {
    let target = params;
    entry.path.forEach((key, i) => {
      const here = entry.path.slice(0, i + 1).join('.');
      const last = i === entry.path.length - 1;
      const kind = last ? 'value' : 'object';
      const before = owner.get(here);
      if (before && (before !== 'object' || last)) {
        throw new CliError(`--param ${entry.path.join('.')} conflicts with another --param`, {
          hint: `give ${here} one value, or only nested keys under it`,
        });
      }
      owner.set(here, kind);
      if (last) {
        target[key] = 'json' in entry && !asText.has(entry) ? entry.json : entry.raw;
      } else {
        target[key] ??= Object.create(null) as Record<string, unknown>;
        target = target[key] as Record<string, unknown>;
      }
    });
  }
  // Plain objects again, so the params serialise and validate like any others.
  return JSON.parse(JSON.stringify(params)) as Record<string, unknown>;
};

/**
 * `--param k=v` values are read as JSON when the operation's schema takes them so (numbers,
 * booleans, arrays), and as the text typed otherwise: `--param set.PORT=3000` stays the string
 * '3000' for a variable, `--param containerCount=3` is the number 3.
 */
export const parseParams = async (
  pairs: readonly string[],
  schema?: StandardSchemaV1,
  base: Record<string, unknown> = {},
): Promise<Record<string, unknown>> => {
  const entries = parseParamEntries(pairs);
  const asText = new Set<ParamEntry>();
  for (;;) {
    const params = { ...base, ...buildParams(entries, asText) };
    if (!schema) return params;
    const result = await schema['~standard'].validate(params);
    if (!result.issues) return params;
    const paths = result.issues.map((issue) =>
      (issue.path ?? []).map((k) => String(typeof k === 'object' ? k.key : k)).join('.'),
    );
    const retry = entries.filter(
      (e) =>
        'json' in e &&
        !asText.has(e) &&
        typeof e.json !== 'string' &&
        paths.includes(e.path.join('.')),
    );
    // Nothing left to read as text: the engine reports the issues as an InvalidParamsError.
    if (retry.length === 0) return params;
    retry.forEach((e) => asText.add(e));
  }
};

const SERVICES: readonly CloudService[] = [
  'compute',
  'object-storage',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];

export const FAULT_FORMS = [
  'outage:SERVICE[@FROMs-TOs]       calls to SERVICE fail (the whole run, or a window from the start)',
  'error-rate:SERVICE=RATE          each call to SERVICE fails with probability RATE (0-1)',
  'crash:INSTANCE@SECONDSs          the instance crashes at that virtual time from the start',
  'crash:INSTANCE@CALL[#N]          the instance crashes as the Nth CALL of the cloud starts',
  'unhealthy:IMAGE                  containers of IMAGE never answer the health check',
  `SERVICE is one of ${SERVICES.join(', ')}`,
];

const badFault = (spec: string, problem: string) =>
  new CliError(`--fault '${spec}' ${problem}`, {
    hint: `accepted forms:\n  ${FAULT_FORMS.join('\n  ')}`,
  });

const serviceOf = (spec: string, value: string): CloudService => {
  if (!(SERVICES as readonly string[]).includes(value)) {
    throw badFault(spec, `names no known service ('${value}')`);
  }
  return value as CloudService;
};

/** A fault to install on the simulated cloud, with times relative to the start of the run. */
export type FaultSpec =
  | { kind: 'outage'; service: CloudService; fromMs: number; toMs: number }
  | { kind: 'error-rate'; service: CloudService; rate: number }
  | { kind: 'crash-at'; instanceId: string; atMs: number }
  | { kind: 'crash-on-call'; instanceId: string; call: CloudCall; occurrence: number }
  | { kind: 'unhealthy'; image: string };

export const parseFault = (spec: string): FaultSpec => {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  switch (kind) {
    case 'outage': {
      const [service = '', window] = rest.split('@');
      if (window === undefined) {
        return {
          kind: 'outage',
          service: serviceOf(spec, service),
          fromMs: 0,
          toMs: Number.MAX_SAFE_INTEGER,
        };
      }
      const m = /^(\d+(?:\.\d+)?)s?-(\d+(?:\.\d+)?)s?$/.exec(window);
      if (!m || Number(m[1]) >= Number(m[2])) {
        throw badFault(spec, `has a window '${window}' that is not FROMs-TOs with FROM < TO`);
      }
      return {
        kind: 'outage',
        service: serviceOf(spec, service),
        fromMs: Number(m[1]) * 1000,
        toMs: Number(m[2]) * 1000,
      };
    }
    case 'error-rate': {
      const [service = '', rate = ''] = rest.split('=');
      const value = Number(rate);
      if (rate === '' || !(value >= 0 && value <= 1)) {
        throw badFault(spec, `has a rate '${rate}' that is not a number from 0 to 1`);
      }
      return { kind: 'error-rate', service: serviceOf(spec, service), rate: value };
    }
    case 'crash': {
      const at = rest.lastIndexOf('@');
      const instanceId = rest.slice(0, at);
      const when = rest.slice(at + 1);
      if (at <= 0 || !when) throw badFault(spec, 'names no INSTANCE@WHEN');
      const seconds = /^(\d+(?:\.\d+)?)s$/.exec(when);
      if (seconds) return { kind: 'crash-at', instanceId, atMs: Number(seconds[1]) * 1000 };
      const onCall = /^([a-zA-Z]+)(?:#(\d+))?$/.exec(when);
      if (!onCall) throw badFault(spec, `has '${when}', neither SECONDSs nor CALL[#N]`);
      const calls = Object.keys(DEFAULT_CALL_DURATIONS).filter((c) => c !== 'failedCall');
      if (!calls.includes(onCall[1] as string)) {
        throw badFault(spec, `names no call of the cloud ('${onCall[1]}'): ${calls.join(', ')}`);
      }
      return {
        kind: 'crash-on-call',
        instanceId,
        call: onCall[1] as CloudCall,
        occurrence: Number(onCall[2] ?? 1),
      };
    }
    case 'unhealthy':
      if (!rest) throw badFault(spec, 'names no image');
      return { kind: 'unhealthy', image: rest };
    default:
      throw badFault(spec, `is of no known kind ('${kind}')`);
  }
};

/** Installs the faults on the cloud, relative to its current virtual time. */
export const installFaults = (cloud: SimulatedCloud, faults: readonly FaultSpec[]): void => {
  const start = cloud.clock.now().getTime();
  for (const f of faults) {
    switch (f.kind) {
      case 'outage':
        cloud.faults.outage(f.service, {
          from: start + f.fromMs,
          to: Math.min(start + f.toMs, 8.64e15),
        });
        break;
      case 'error-rate':
        cloud.faults.errorRate(f.service, f.rate);
        break;
      case 'crash-at':
        cloud.faults.crashInstance(f.instanceId, { at: start + f.atMs });
        break;
      case 'crash-on-call':
        cloud.faults.crashInstanceOnCall(f.instanceId, {
          call: f.call,
          occurrence: (cloud.callCounts()[f.call] ?? 0) + f.occurrence,
        });
        break;
      case 'unhealthy':
        cloud.setImageBehaviour(f.image, { responds: false });
        break;
    }
  }
};
