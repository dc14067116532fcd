import { AccessDeniedError } from './errors.js';

/** What `authorize` is asked about: reads, and the dashboard's one write, `operation:cancel`. */
export type ReadAction =
  | 'operation:read'
  | 'operation:follow'
  | 'operations:list'
  | 'environments:list'
  | 'operation:cancel'
  | 'resources:list'
  | 'activity-reports:read';

export interface AccessTarget {
  environment: string;
  operationId?: string;
  resource?: { type: string; handle: string };
}

/** Decides whether `actor` may perform a read; opledger consults it before every read. */
export type Authorize = (
  actor: unknown,
  action: ReadAction,
  target: AccessTarget,
) => boolean | Promise<boolean>;

export const allowAll: Authorize = () => true;

/** What each action reads as in a denial, after "you may not"; names no target. */
const ACTION_PHRASES: Record<ReadAction, string> = {
  'operation:read': 'read this operation',
  'operation:follow': 'follow the log of this operation',
  'operations:list': 'list the operations of this environment',
  'environments:list': 'see this environment',
  'operation:cancel': 'cancel this operation',
  'resources:list': 'list the resources of this environment',
  'activity-reports:read': 'read the activity reports of this environment',
};

export const ensureAllowed = async (
  authorize: Authorize,
  actor: unknown,
  action: ReadAction,
  target: AccessTarget,
): Promise<void> => {
  if (!(await authorize(actor, action, target)))
    throw new AccessDeniedError(action, ACTION_PHRASES[action]);
};
