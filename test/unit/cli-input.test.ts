import { describe, expect, it } from 'vitest';
import { appDeployParams } from '../../src/catalog/index.js';
import { CliError } from '../../src/cli/cli-error.js';
import { parseFault, parseParams, parseResource } from '../../src/cli/cli-input.js';
import { createProgress } from '../../src/cli/progress.js';
import { createSimulationClock } from '../../src/cli/simulation-clock.js';

describe('CLI input', () => {
  it('reads params as JSON when they are JSON, strings otherwise, with dotted keys nested', async () => {
    expect(
      await parseParams([
        'image=web:v2',
        'containerCount=3',
        'strictHealthCheck=true',
        'beforeRelease=["rake db:migrate"]',
        'env.RAILS_ENV=production',
        'env.WORKERS=4',
        'note=a=b',
      ]),
    ).toEqual({
      image: 'web:v2',
      containerCount: 3,
      strictHealthCheck: true,
      beforeRelease: ['rake db:migrate'],
      env: { RAILS_ENV: 'production', WORKERS: 4 },
      note: 'a=b',
    });
    await expect(parseParams(['image'])).rejects.toThrow(/--param 'image' is not KEY=VALUE/);
  });

  it('keeps a value as typed where the operation schema wants a string', async () => {
    const params = await parseParams(
      ['image=web:v2', 'containerCount=3', 'env.PORT=3000', 'env.DEBUG=true', 'env.NAME="x"'],
      appDeployParams,
      { app: 'web' },
    );
    expect(params).toEqual({
      app: 'web',
      image: 'web:v2',
      containerCount: 3,
      env: { PORT: '3000', DEBUG: 'true', NAME: 'x' },
    });
    // A value the schema rejects either way is left for the engine to report.
    expect(await parseParams(['containerCount=zero'], appDeployParams)).toEqual({
      containerCount: 'zero',
    });
  });

  it('refuses keys that would reach the object prototype, and values that collide', async () => {
    for (const key of ['__proto__.polluted', 'constructor.x', 'a..b']) {
      await expect(parseParams([`${key}=1`])).rejects.toThrow(/has a key opledger does not accept/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expect(parseParams(['a.b=1', 'a=2'])).rejects.toThrow(/conflicts with another --param/);
    await expect(parseParams(['a=2', 'a.b=1'])).rejects.toThrow(/conflicts with another --param/);
    await expect(parseParams(['a=1', 'a=2'])).rejects.toThrow(/conflicts/);
  });

  it('reads resources as TYPE:HANDLE', () => {
    expect(parseResource('database:main')).toEqual({ type: 'database', handle: 'main' });
    expect(() => parseResource('main')).toThrow(CliError);
  });

  it('reads each kind of fault, and says which forms exist on a bad one', () => {
    expect(parseFault('outage:registry:docker-hub')).toEqual({
      kind: 'outage',
      service: 'registry:docker-hub',
      fromMs: 0,
      toMs: Number.MAX_SAFE_INTEGER,
    });
    expect(parseFault('outage:compute@10s-70s')).toEqual({
      kind: 'outage',
      service: 'compute',
      fromMs: 10_000,
      toMs: 70_000,
    });
    expect(parseFault('error-rate:object-storage=0.25')).toEqual({
      kind: 'error-rate',
      service: 'object-storage',
      rate: 0.25,
    });
    expect(parseFault('crash:web-host@30s')).toEqual({
      kind: 'crash-at',
      instanceId: 'web-host',
      atMs: 30_000,
    });
    expect(parseFault('crash:web-host@startContainer#2')).toEqual({
      kind: 'crash-on-call',
      instanceId: 'web-host',
      call: 'startContainer',
      occurrence: 2,
    });
    expect(parseFault('unhealthy:web:v2')).toEqual({ kind: 'unhealthy', image: 'web:v2' });
    for (const [spec, problem] of [
      ['outage:dns', /names no known service/],
      ['outage:compute@70s-10s', /FROM < TO/],
      ['error-rate:compute=2', /not a number from 0 to 1/],
      ['crash:web-host@launch', /names no call of the cloud/],
      ['crash:@10s', /names no INSTANCE@WHEN/],
      ['flood:compute', /of no known kind/],
    ] as const) {
      const error = (() => {
        try {
          parseFault(spec);
        } catch (e) {
          return e as CliError;
        }
        throw new Error(`${spec} was accepted`);
      })();
      expect(error.message).toMatch(problem);
      expect(error.hint).toContain('outage:SERVICE[@FROMs-TOs]');
      expect(error.exitCode).toBe(2);
    }
  });
});

describe('progress', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, write: (c: string) => chunks.push(c) } };
  };

  it('redraws a bar in place on a terminal', () => {
    const { chunks, stream } = sink(true);
    const progress = createProgress('Exporting', stream, { unit: 'rows' });
    progress.update(5, 10);
    progress.update(10, 10);
    progress.finish();
    expect(chunks[0]).toMatch(/^\rExporting \[#{15}\.{15}\] 5\/10 rows 50%/);
    expect(chunks.at(-2)).toMatch(/^\rExporting \[#{30}\] 10\/10 rows 100%/);
    expect(chunks.at(-1)).toBe('\n');
  });

  it('writes a plain line per tenth elsewhere', () => {
    const { chunks, stream } = sink(false);
    const progress = createProgress('Rebuilding', stream, { unit: 'events' });
    for (let n = 1; n <= 100; n++) progress.update(n, 100);
    progress.finish();
    expect(chunks).toHaveLength(11);
    expect(chunks[0]).toBe('Rebuilding: 1/100 events (0%)\n');
    expect(chunks.at(-1)).toBe('Rebuilding: 100/100 events (100%)\n');
    expect(chunks.every((c) => !c.includes('\r'))).toBe(true);
  });
});

describe('the simulation clock', () => {
  it('moves only by what is slept, and runs a timed action inside the sleep that reaches it', async () => {
    const clock = createSimulationClock({
      start: new Date('2026-11-27T00:00:00Z'),
      speed: Infinity,
    });
    const seen: string[] = [];
    clock.at(Date.parse('2026-11-27T00:00:15Z'), async () => {
      seen.push(`action at ${clock.now().toISOString()}`);
    });
    await clock.sleep(10_000);
    expect(seen).toEqual([]);
    await clock.sleep(10_000);
    seen.push('after the sleep');
    expect(seen).toEqual(['action at 2026-11-27T00:00:20.000Z', 'after the sleep']);
    expect(clock.now().toISOString()).toBe('2026-11-27T00:00:20.000Z');
  });

  it('paces virtual time against the wall clock', async () => {
    const clock = createSimulationClock({ start: new Date(0), speed: 100 });
    const started = performance.now();
    await clock.sleep(2_000);
    // 2 virtual seconds at 100x take 20 real ms (timers may fire a little late, never early).
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
  });

  it('never reads earlier than its floor, and counts the part of a sleep a cancel cut short', async () => {
    let wall = 5_000;
    const clock = createSimulationClock({ start: new Date(0), speed: 1, floor: () => wall });
    expect(clock.now().getTime()).toBe(5_000);
    await clock.sleep(0);
    wall = 9_000;
    expect(clock.now().getTime()).toBe(9_000);
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(new Error('cancelled')), 30);
    await expect(clock.sleep(60_000, cancel.signal)).rejects.toThrow('cancelled');
    const advanced = clock.now().getTime() - 9_000;
    expect(advanced).toBeGreaterThanOrEqual(25);
    expect(advanced).toBeLessThan(60_000);
  });
});
