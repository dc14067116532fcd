import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ENVIRONMENT_RESOURCE,
  idempotencyStreamName,
  isResourceStream,
  operationIdOfStream,
  operationStreamName,
  resourceStreamName,
} from '../../src/domain/stream-names.js';

const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const resource = fc.record({ type: text, handle: text });

describe('stream names', () => {
  it('property: an operation stream gives back its id; no other stream is an operation', () => {
    fc.assert(
      fc.property(text, text, resource, (id, environment, r) => {
        expect(operationIdOfStream(operationStreamName(id))).toBe(id);
        expect(operationIdOfStream(resourceStreamName(environment, r))).toBeUndefined();
        expect(operationIdOfStream(idempotencyStreamName(id))).toBeUndefined();
        expect(isResourceStream(resourceStreamName(environment, r))).toBe(true);
        expect(isResourceStream(operationStreamName(id))).toBe(false);
      }),
    );
  });

  it('property: two resources share a queue stream only if they are the same resource', () => {
    fc.assert(
      fc.property(text, resource, text, resource, (e1, r1, e2, r2) => {
        const same = e1 === e2 && r1.type === r2.type && r1.handle === r2.handle;
        expect(resourceStreamName(e1, r1) === resourceStreamName(e2, r2)).toBe(same);
      }),
    );
  });

  it('names as documented', () => {
    expect(operationStreamName('op-1')).toBe('operation-op-1');
    expect(resourceStreamName('production', { type: 'app', handle: 'web' })).toBe(
      'resource-production/app/web',
    );
    expect(ENVIRONMENT_RESOURCE).toBe('environment');
    // The key is URI-encoded like a resource's parts: a '/' in it stays inside the one stream.
    expect(idempotencyStreamName('deploy web/v2')).toBe('idempotency-deploy%20web%2Fv2');
  });
});

const sourceFiles = async (dir: string): Promise<string[]> =>
  (await readdir(dir, { recursive: true }))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));

describe('stream names live in one file', () => {
  it('no other source file spells a stream prefix or compares with the environment resource', async () => {
    const src = resolve(import.meta.dirname, '../../src');
    const spelled = [
      // A bare prefix ('resource-') or a template that builds a stream name from it.
      /(['"`])(?:operation|resource|idempotency)-\1/,
      /`(?:operation|resource|idempotency)-\$\{[^}]*\}`/,
      /type\s*[!=]==\s*'environment'/,
      /(?:type|resourceType):\s*'environment'/,
    ];
    const offenders: string[] = [];
    for (const file of await sourceFiles(src)) {
      if (file.endsWith('domain/stream-names.ts')) continue;
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        // TSDoc examples show what a user writes (resource: { type: 'environment', ... }).
        if (/^\s*(\*|\/\/)/.test(line)) return;
        if (spelled.some((re) => re.test(line))) offenders.push(`${relative(src, file)}:${i + 1}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
