import type { EventStore } from '../domain/event-store.js';
import { hasEnded } from '../domain/operation.js';
import {
  isResourceStream,
  operationIdOfStream,
  resourceStreamName,
} from '../domain/stream-names.js';
import type { OperationResult } from './operation-result.js';
import { loadOperation, type Decode } from './operation-stream.js';
import type { OperationWriter } from './operation-writer.js';
import { enqueueOnResource, loadResourceQueue, releaseResource } from './resource-queue-stream.js';

export interface RecoverDeps {
  store: EventStore;
  decode: Decode;
  now: () => string;
  /** Operations this engine runs now: not taken over. */
  running: ReadonlyMap<string, unknown>;
  /** Operations whose start() has taken their place and not yet launched them. */
  placing: ReadonlySet<string>;
  loadWriter: (id: string) => Promise<OperationWriter>;
  launch: (
    writer: OperationWriter,
    params: Record<string, unknown>,
    mode: 'fresh' | 'recover',
  ) => Promise<OperationResult>;
}

/**
 * Takes over operations left unfinished by a process that died (see `Engine.recover`): frees
 * the places of ended or never-written operations, rolls back running ones, starts queued
 * ones. All of the store's, or only `operationIdsGiven`.
 */
export const recoverOperations = async (
  deps: RecoverDeps,
  operationIdsGiven: readonly string[] | undefined,
): Promise<OperationResult[]> => {
  const { store, decode, now, running, placing, loadWriter, launch } = deps;
  const operationIds = new Set<string>();
  const resourceStreams = new Set<string>();
  const PAGE = 10_000;
  if (operationIdsGiven) {
    // Only these: their resource queues are the only ones they can hold up.
    for (const id of operationIdsGiven) {
      const { state } = await loadOperation(store, decode, id);
      if (state.status === 'none') continue;
      operationIds.add(id);
      resourceStreams.add(resourceStreamName(state.environment, state.resource));
    }
  }
  for (let after = 0n; !operationIdsGiven;) {
    const page = await store.readAll({ after, maxCount: PAGE });
    for (const r of page) {
      const operationId = operationIdOfStream(r.streamName);
      if (operationId !== undefined) operationIds.add(operationId);
      else if (isResourceStream(r.streamName)) resourceStreams.add(r.streamName);
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.globalPosition;
  }
  // Operations that ended but died before letting the next one in, and places taken by a
  // start() that died before writing its operation (it never resolved: nobody was promised
  // that operation; a retry of its idempotency key takes a new place).
  for (const stream of resourceStreams) {
    const queue = await loadResourceQueue(store, decode, stream, now);
    for (const id of queue.state.waiting) {
      if (running.has(id) || placing.has(id)) continue;
      const { state } = await loadOperation(store, decode, id);
      if (state.status === 'none' || hasEnded(state)) {
        await releaseResource(store, decode, stream, id, now());
      }
    }
  }
  const results: Promise<OperationResult>[] = [];
  for (const id of [...operationIds].sort()) {
    if (running.has(id) || placing.has(id)) continue;
    const writer = await loadWriter(id);
    const state = writer.state();
    if (hasEnded(state)) continue;
    const stream = resourceStreamName(state.environment, state.resource);
    if (state.status === 'queued') {
      const queue = await loadResourceQueue(store, decode, stream, now);
      if (!queue.state.waiting.includes(id))
        await enqueueOnResource(store, decode, stream, id, now());
    }
    results.push(launch(writer, state.params, state.status === 'queued' ? 'fresh' : 'recover'));
  }
  return Promise.all(results);
};
