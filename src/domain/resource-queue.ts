import type { ResourceEvent } from './events.js';

/** Operations on one resource run one at a time, in the order they were queued. */
export interface ResourceQueueState {
  /** Operations queued and not finished, oldest first; the holder is among them. */
  waiting: string[];
  holder?: string;
}

export const initialResourceQueue = (): ResourceQueueState => ({ waiting: [] });

export const evolveResourceQueue = (
  state: ResourceQueueState,
  event: ResourceEvent,
): ResourceQueueState => {
  const { operationId } = event.data;
  switch (event.type) {
    case 'ResourceOperationQueued':
      return state.waiting.includes(operationId)
        ? state
        : { ...state, waiting: [...state.waiting, operationId] };
    case 'ResourceOperationStarted':
      return { ...state, holder: operationId };
    case 'ResourceOperationFinished': {
      const waiting = state.waiting.filter((id) => id !== operationId);
      return state.holder === operationId ? { waiting } : { ...state, waiting };
    }
  }
};

/** Whether `operationId` may start now: nobody holds the resource and it is next in line. */
export const mayStart = (state: ResourceQueueState, operationId: string): boolean =>
  state.holder === operationId || (state.holder === undefined && state.waiting[0] === operationId);
