import type { Observable } from 'rxjs';
import type { Authorize } from '../domain/authorization.js';
import type { Upcaster } from '../domain/event-codec.js';
import type { EventStore } from '../domain/event-store.js';
import type { LogLine } from '../domain/log-lines.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import type { Clock } from './clock.js';
import type { OperationResult, OperationView } from './operation-result.js';
import type { OperationRequest } from './operation-request.js';

// The engine's public types: what `createEngine` takes and what its engine does.

export interface EngineOptions {
  store: EventStore;
  // Definitions differ in their params type; the engine treats them all alike.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  operations: readonly OperationDefinition<any>[];
  clock?: Clock;
  /** Operation id generator; ids must sort by creation time. */
  ids?: () => string;
  /** Turn stored events of older versions into the current ones. */
  upcasters?: readonly Upcaster[];
  /** Consulted before `logs(id, { actor })` follows an operation; allows all by default. */
  authorize?: Authorize;
}

export interface OperationHandle {
  id: string;
  /** The Operation Log: lines so far, then live ones; completes when the operation ends. */
  logs: Observable<LogLine>;
  /** Resolves when the operation has ended, however it ended; rejects only if the store fails. */
  result: Promise<OperationResult>;
}

export interface CancelOutcome {
  id: string;
  status: OperationView['status'];
  /**
   * True when nothing new was written: a cancel was already recorded, or the operation had
   * already failed and is rolling back.
   */
  alreadyRequested: boolean;
}

export interface Engine {
  start(request: OperationRequest): Promise<OperationHandle>;
  cancel(id: string, options: { user: string }): Promise<CancelOutcome>;
  continueRollback(id: string, options?: { skip?: readonly string[] }): Promise<OperationHandle>;
  /** Follows an operation's log live; `actor` is checked with the engine's `authorize`. */
  logs(id: string, options?: { actor?: unknown }): Observable<LogLine>;
  getOperation(id: string): Promise<OperationView>;
  result(id: string): Promise<OperationResult>;
  /**
   * Takes over operations left unfinished by a process that died: rolls back running ones,
   * starts queued ones. All of the store's by default, or only `operationIds`.
   */
  recover(options?: { operationIds?: readonly string[] }): Promise<OperationResult[]>;
  /** Accepts no new operations and waits for the ones running here (and their rollbacks). */
  shutdown(): Promise<void>;
}
