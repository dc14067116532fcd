import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyCloudState } from '../../src/adapters/infrastructure/cloud-state.js';
import { createSimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { CliError } from '../../src/cli/cli-error.js';
import { loadCloud, saveCloud } from '../../src/cli/cloud-file.js';

const folder = mkdtempSync(join(tmpdir(), 'opledger-cloud-file-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('the simulated cloud file', () => {
  it('keeps a bucket or object key named __proto__ from one run to the next', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await cloud.objectStorage.putObject({ bucket: 'backups', key: '__proto__', body: 'a' });
    await cloud.objectStorage.putObject({ bucket: '__proto__', key: 'k', body: 'b' });
    const { now, ...state } = cloud.snapshot();
    const path = join(folder, 'proto.json');
    saveCloud(path, { version: 1, now, seed: 1, state, images: {} });

    const loaded = loadCloud(path)!;
    expect(Object.keys(loaded.state.objects).sort()).toEqual(['__proto__', 'backups']);
    expect(Object.entries(loaded.state.objects.backups!)).toEqual([['__proto__', 'a']]);
    const next = createSimulatedCloud({ seed: 1, state: loaded.state });
    expect(await next.objectStorage.getObject({ bucket: 'backups', key: '__proto__' })).toBe('a');
    expect(await next.objectStorage.getObject({ bucket: '__proto__', key: 'k' })).toBe('b');
  });

  it('checks the value of a __proto__ key as any other, and takes no list of pairs for a record', () => {
    const path = join(folder, 'proto-broken.json');
    const empty = emptyCloudState();
    const write = (state: string) =>
      writeFileSync(
        path,
        `{"version": 1, "now": "2026-01-05T00:00:00.000Z", "seed": 1, "images": {}, "state": ${state}}`,
      );
    write(JSON.stringify(empty));
    expect(loadCloud(path)?.state).toEqual(empty);
    // A bucket `__proto__` whose object is a number, not a string.
    write(JSON.stringify({ ...empty, objects: { PROTO: { k: 1 } } }).replace('PROTO', '__proto__'));
    expect(readFileSync(path, 'utf8')).toContain('"objects":{"__proto__":{"k":1}}');
    expect(() => loadCloud(path)).toThrow(CliError);
    write(JSON.stringify({ ...empty, objects: [['b', { k: 'v' }]] }));
    expect(() => loadCloud(path)).toThrow(CliError);
  });
});
