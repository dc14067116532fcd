/**
 * What a rebuild on the in-memory store allocates per event (issue 17, "Rebuild, round 6" in
 * NOTES.md): V8's sampling heap profiler around the second `projector.rebuild()` of a fixture
 * store (the first warms the process up), bytes per event by allocating function. Inlined
 * callees count in their caller, and tsx puts each file on one line, so a row names the file
 * and the column where its function starts.
 *
 *   npx tsx bench/rebuild-allocations.ts '{"events":100000}'
 */
import { Session } from 'node:inspector/promises';
import { createProjector } from '../src/projections/projector.js';
import { fixture } from './workloads/projections.js';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const main = async () => {
  const { events = 100_000 } = JSON.parse(process.argv[2] ?? '{}') as { events?: number };
  const f = await fixture({ store: 'memory', run: 1, sizes: { events } });
  try {
    const projector = createProjector({ store: f.store, readStore: f.readStore });
    await projector.rebuild();
    const session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    // A sample every 512 bytes on average: fine enough for rows of a few bytes per event.
    await session.post('HeapProfiler.startSampling', { samplingInterval: 512 });
    await projector.rebuild();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const bytes = new Map<string, number>();
    let total = 0;
    const walk = (node: ProfileNode) => {
      total += node.selfSize;
      const { functionName, url, lineNumber, columnNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}:${columnNumber}`;
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
      for (const child of node.children) walk(child);
    };
    walk(profile.head as ProfileNode);
    process.stdout.write(
      `${JSON.stringify({ events, bytesPerEvent: Math.round(total / events) })}\n`,
    );
    for (const [key, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 20))
      process.stdout.write(`${(size / events).toFixed(1).padStart(7)} ${key}\n`);
  } finally {
    await f.close();
  }
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
