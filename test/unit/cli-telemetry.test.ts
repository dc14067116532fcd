import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLI_TRACER_NAME,
  loadTelemetryPackages,
  TELEMETRY_PACKAGES,
  TelemetryPackagesMissingError,
  telemetryTrigger,
  withCliTelemetry,
  type PackageLoader,
} from '../../src/cli/telemetry.js';
import { OpledgerError } from '../../src/domain/errors.js';

// A project without OpenTelemetry: Node resolves from a folder with no node_modules up the tree
// (the system temp folder), and fails as it does for a user who has not installed them.
const empty = mkdtempSync(join(tmpdir(), 'opledger-no-otel-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));
const requireFromEmpty = createRequire(join(empty, 'index.js'));
const fromEmpty: PackageLoader = (name) => Promise.resolve().then(() => requireFromEmpty(name));
const withoutSome =
  (missing: readonly string[]): PackageLoader =>
  (name) =>
    missing.includes(name) ? fromEmpty(name) : import(name);

const io = () => ({ out: new PassThrough(), err: new PassThrough(), env: {} });

describe('the packages --otel needs', () => {
  it('given none installed, then one typed error naming each with the install command for Node.js 20', async () => {
    const error = await loadTelemetryPackages('--otel', fromEmpty).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TelemetryPackagesMissingError);
    expect(error).toBeInstanceOf(OpledgerError);
    expect(error).toMatchObject({
      code: 'TELEMETRY_PACKAGES_MISSING',
      packages: TELEMETRY_PACKAGES.map((p) => p.name),
    });
    expect((error as Error).message).toContain(
      `run \`npm install ${TELEMETRY_PACKAGES.map((p) => `${p.name}@${p.version}`).join(' ')}\``,
    );
    expect((error as Error).message).toMatch(/^--otel turns on the OpenTelemetry export/);
    expect((error as Error & { cause: { code?: string } }).cause.code).toBe('MODULE_NOT_FOUND');
  });

  it('given some missing, then exactly those are named, and the trigger that asked for them', async () => {
    const missing = ['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-metrics-otlp-http'];
    const error = await loadTelemetryPackages(
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      withoutSome(missing),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ packages: missing });
    const message = (error as Error).message;
    expect(message).toContain(
      'npm install @opentelemetry/sdk-metrics@^2.12.0 @opentelemetry/exporter-metrics-otlp-http@^0.223.0`',
    );
    expect(message).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT being set turns on/);
    expect(message).toContain('or set OTEL_SDK_DISABLED=true to run without telemetry');
  });

  it('given a package that is there but broken (a dependency of its own missing), then its own error, not a wrong install hint', async () => {
    const broken = Object.assign(new Error("Cannot find module '@opentelemetry/core'"), {
      code: 'MODULE_NOT_FOUND',
    });
    const load: PackageLoader = (name) =>
      name === '@opentelemetry/resources' ? Promise.reject(broken) : import(name);
    await expect(loadTelemetryPackages('--otel', load)).rejects.toBe(broken);
  });

  it('given all installed, then the modules the providers are built from', async () => {
    const modules = await loadTelemetryPackages('--otel');
    expect(typeof modules.traceNode.NodeTracerProvider).toBe('function');
    expect(typeof modules.metricExporter.OTLPMetricExporter).toBe('function');
  });

  it('are the optional peer dependencies of package.json, with the same ranges', () => {
    const pkg = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8'),
    ) as {
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      dependencies: Record<string, string>;
    };
    for (const { name, version } of TELEMETRY_PACKAGES) {
      // The API's range is also the engine's, which needs less of it than the SDK does.
      if (name === '@opentelemetry/api') expect(pkg.peerDependencies[name], name).toMatch(/^\^1\./);
      else expect(pkg.peerDependencies[name], name).toBe(version);
      expect(pkg.peerDependenciesMeta[name], name).toEqual({ optional: true });
      expect(pkg.dependencies[name], name).toBeUndefined();
    }
  });
});

describe('when the CLI exports telemetry', () => {
  const env = fc.record(
    {
      OTEL_SDK_DISABLED: fc.constantFrom('true', 'TRUE', ' true ', 'false', '', '1'),
      OTEL_EXPORTER_OTLP_ENDPOINT: fc.constantFrom('http://collector:4318', '', '  '),
    },
    { requiredKeys: [] },
  );

  it('is --otel, or OTEL_EXPORTER_OTLP_ENDPOINT set, unless OTEL_SDK_DISABLED=true', () => {
    fc.assert(
      fc.property(fc.option(fc.boolean(), { nil: undefined }), env, (flag, e) => {
        const disabled = e.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
        const endpoint = (e.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim() !== '';
        const expected = disabled
          ? undefined
          : flag === true
            ? '--otel'
            : endpoint
              ? 'OTEL_EXPORTER_OTLP_ENDPOINT'
              : undefined;
        expect(telemetryTrigger(flag, e)).toBe(expected);
      }),
    );
  });

  it('turned off, then the command runs without loading anything', async () => {
    const load: PackageLoader = () => Promise.reject(new Error('must not load'));
    const code = await withCliTelemetry(
      io(),
      { otel: undefined, version: '0', load },
      undefined,
      () => Promise.resolve(7),
    );
    expect(code).toBe(7);
  });

  it('turned on without the packages, then the command does not run at all', async () => {
    let ran = false;
    await expect(
      withCliTelemetry(
        io(),
        { otel: true, version: '0', load: fromEmpty },
        { name: 'opledger demo', command: 'demo' },
        () => {
          ran = true;
          return Promise.resolve(0);
        },
      ),
    ).rejects.toBeInstanceOf(TelemetryPackagesMissingError);
    expect(ran).toBe(false);
  });
});

describe('the command span', () => {
  it('is the parent of the spans the engine starts while the command runs, across awaits and timers, and is exported at shutdown', async () => {
    const bodies: {
      resourceSpans: {
        scopeSpans: {
          scope: { name: string };
          spans: { name: string; traceId: string; spanId: string; parentSpanId?: string }[];
        }[];
      }[];
    }[] = [];
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(JSON.parse(raw) as (typeof bodies)[number]);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // The exporters read process.env, as in the CLI's process.
    const saved = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
    try {
      const code = await withCliTelemetry(
        io(),
        { otel: true, version: '0' },
        { name: 'opledger demo', command: 'demo' },
        async () => {
          // What the engine does: the global tracer, no option, spans started later on.
          const { trace } = await import('@opentelemetry/api');
          const tracer = trace.getTracer('opledger');
          await new Promise((resolve) => setTimeout(resolve, 1));
          tracer.startSpan('operation app.deploy').end();
          await Promise.resolve();
          tracer.startActiveSpan('operation app.scale', (span) => {
            tracer.startSpan('step scale').end();
            span.end();
          });
          return 0;
        },
      );
      expect(code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = saved;
      await new Promise((resolve) => server.close(resolve));
    }
    const spans = bodies.flatMap((b) =>
      b.resourceSpans.flatMap((r) =>
        r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, scope: s.scope.name }))),
      ),
    );
    const byName = new Map(spans.map((s) => [s.name, s]));
    const root = byName.get('opledger demo');
    expect(root?.scope).toBe(CLI_TRACER_NAME);
    for (const name of ['operation app.deploy', 'operation app.scale']) {
      expect(byName.get(name), name).toMatchObject({
        traceId: root?.traceId,
        parentSpanId: root?.spanId,
      });
    }
    expect(byName.get('step scale')?.parentSpanId).toBe(byName.get('operation app.scale')?.spanId);
  });
});
