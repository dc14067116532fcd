import fc from 'fast-check';
import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';

// The store keeps its events in columns (src/adapters/memory/event-columns.ts) and builds a
// record only for a reader: what these check is that the record built is the one appended.
describe('in-memory event store: records built from its columns', () => {
  it('gives back type, version, data, metadata only where it was given, positions and time', async () => {
    const at = new Date('2026-12-04T10:00:00.000Z');
    const store = createInMemoryEventStore({ now: () => at });
    await store.append('a', [{ type: 'T1', version: 2, data: { n: 1 }, metadata: { by: 'me' } }]);
    await store.appendToStreams!([
      { stream: 'b', events: [{ type: 'T2', version: 1, data: [1, 2] }] },
      { stream: 'a', events: [{ type: 'T3', version: 1, data: null }], expectedVersion: 0n },
    ]);
    const all = await store.readAll();
    expect(
      all.map((e) => [e.type, e.version, e.streamName, e.streamRevision, e.globalPosition]),
    ).toEqual([
      ['T1', 2, 'a', 0n, 1n],
      ['T2', 1, 'b', 0n, 2n],
      ['T3', 1, 'a', 1n, 3n],
    ]);
    expect(all[0]!.metadata).toEqual({ by: 'me' });
    expect(Object.hasOwn(all[1]!, 'metadata')).toBe(false);
    expect(all.map((e) => e.recordedAt.toISOString())).toEqual(Array(3).fill(at.toISOString()));
    expect((await store.readStream('a')).map((e) => e.globalPosition)).toEqual([1n, 3n]);
  });

  it('gives every reader its own frozen record and Date, sharing the frozen data', async () => {
    const store = createInMemoryEventStore();
    await store.append('a', [{ type: 'T', version: 1, data: { n: 1 } }]);
    const [first] = await store.readStream('a');
    const [second] = await store.readStream('a');
    expect(Object.isFrozen(first)).toBe(true);
    expect(first!.recordedAt).not.toBe(second!.recordedAt);
    first!.recordedAt.setTime(0);
    expect(second!.recordedAt.getTime()).not.toBe(0);
    expect(first!.data).toBe(second!.data);
    expect(Object.isFrozen(first!.data)).toBe(true);
  });

  it('reads a negative position as the start, instead of building a record from nothing', async () => {
    const store = createInMemoryEventStore();
    await store.append('a', [
      { type: 'T1', version: 1, data: 1 },
      { type: 'T2', version: 1, data: 2 },
    ]);
    expect((await store.readStream('a', { from: -1n })).map((e) => e.type)).toEqual(['T1', 'T2']);
    expect((await store.readAll({ after: -1n })).map((e) => e.type)).toEqual(['T1', 'T2']);
    expect((await store.readAll({ after: -1n, types: ['T2'] })).map((e) => e.type)).toEqual(['T2']);
    const seen = await firstValueFrom(store.subscribe({ after: -5n }).pipe(take(2), toArray()));
    expect(seen.map((e) => e.globalPosition)).toEqual([1n, 2n]);
  });

  it('reports an empty write at the stream’s last position, or the head for a new stream', async () => {
    const store = createInMemoryEventStore();
    await store.append('a', [{ type: 'T', version: 1, data: 1 }]);
    await store.append('b', [{ type: 'T', version: 1, data: 1 }]);
    expect(await store.append('a', [])).toEqual({ nextExpectedRevision: 0n, lastPosition: 1n });
    expect(await store.append('c', [])).toEqual({ nextExpectedRevision: -1n, lastPosition: 2n });
  });

  it('reads maxCount as the SQL stores do: whole events, none below 0, no limit when not finite', async () => {
    const store = createInMemoryEventStore();
    await store.append(
      'a',
      [1, 2, 3].map((n) => ({ type: `T${n}`, version: 1, data: n })),
    );
    const forwards = async (maxCount: number) =>
      (await store.readStream('a', { maxCount })).map((e) => e.type);
    expect(await forwards(1.5)).toEqual(['T1']);
    expect(await forwards(-2)).toEqual([]);
    expect(await forwards(Number.NaN)).toEqual(['T1', 'T2', 'T3']);
    expect((await store.readAll({ maxCount: 2.9 })).map((e) => e.type)).toEqual(['T1', 'T2']);
    const backwards = await store.readStream('a', { direction: 'backwards', maxCount: 1.5 });
    expect(backwards.map((e) => e.type)).toEqual(['T3']);
  });

  it('stores nothing of a call whose event cannot be read, and stays whole after it', async () => {
    const store = createInMemoryEventStore();
    const unreadable = {
      version: 1,
      data: 1,
      get type(): string {
        throw new Error('gone');
      },
    };
    await expect(
      store.appendToStreams!([
        { stream: 'a', events: [{ type: 'A', version: 1, data: 1 }] },
        { stream: 'b', events: [unreadable] },
      ]),
    ).rejects.toThrow('gone');
    await expect(store.append('b', [unreadable])).rejects.toThrow('gone');
    expect(await store.headPosition()).toBe(0n);
    expect(await store.readStream('b')).toEqual([]);
    expect(await store.append('b', [{ type: 'B', version: 1, data: 1 }])).toEqual({
      nextExpectedRevision: 0n,
      lastPosition: 1n,
    });
  });

  // The columns are kept in chunks of 4,096 events: positions either side of a chunk's edge must
  // read as any other. Batches of random sizes over several streams, so an append, a stream's
  // read and a filtered read of the log all cross an edge somewhere (15 batches of at least 300
  // events pass the first edge).
  it('reads back every event across the columns’ chunks, by stream, by log and by subscription', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            stream: fc.constantFrom('a', 'b', 'c'),
            size: fc.integer({ min: 300, max: 700 }),
          }),
          {
            minLength: 15,
            maxLength: 30,
          },
        ),
        async (batches) => {
          const store = createInMemoryEventStore();
          const written: { stream: string; type: string; n: number }[] = [];
          for (const { stream, size } of batches) {
            const events = Array.from({ length: size }, () => {
              const n = written.length;
              const type = n % 7 === 0 ? 'Seventh' : 'Other';
              written.push({ stream, type, n });
              return { type, version: 1, data: { n } };
            });
            const result = await store.append(stream, events);
            expect(result.lastPosition).toBe(BigInt(written.length));
          }
          const all = await store.readAll();
          // Compared as one string each: vitest's diff of 10,000-element arrays takes seconds.
          expect(
            all.map((e) => `${e.streamName}:${e.type}:${(e.data as { n: number }).n}`).join(),
          ).toBe(written.map((w) => `${w.stream}:${w.type}:${w.n}`).join());
          expect(all.map((e) => e.globalPosition)).toEqual(written.map((_, i) => BigInt(i + 1)));
          for (const stream of ['a', 'b', 'c']) {
            const mine = written.filter((w) => w.stream === stream);
            const read = await store.readStream(stream);
            expect(read.map((e) => (e.data as { n: number }).n)).toEqual(mine.map((w) => w.n));
            expect(read.map((e) => e.streamRevision)).toEqual(mine.map((_, i) => BigInt(i)));
            const back = await store.readStream(stream, { direction: 'backwards' });
            expect(back.map((e) => (e.data as { n: number }).n)).toEqual(
              mine.map((w) => w.n).reverse(),
            );
          }
          const edge = 4090n;
          const sevenths = await store.readAll({ after: edge, types: ['Seventh'] });
          expect(sevenths.map((e) => (e.data as { n: number }).n)).toEqual(
            written.filter((w) => w.n >= Number(edge) && w.type === 'Seventh').map((w) => w.n),
          );
          const tail = written.length - Number(edge);
          const seen = await firstValueFrom(
            store.subscribe({ after: edge }).pipe(take(tail), toArray()),
          );
          expect(seen.map((e) => e.globalPosition)).toEqual(
            all.slice(Number(edge)).map((e) => e.globalPosition),
          );
        },
      ),
      { numRuns: 6 },
    );
  });
});
