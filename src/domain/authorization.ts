import { AccessDeniedError } from './errors.js';

/** The reads `authorize` is asked about (read model, dashboard pages and API, live logs). */
export type ReadAccessAction =
  | 'operation:read'
  | 'operation:follow'
  | 'operations:list'
  | 'environments:list'
  | 'resources:list'
  | 'activity-reports:read'
  | 'projection:read';

/** The writes `authorize` is asked about: the dashboard's one write, a cancel. */
export type WriteAccessAction = 'operation:cancel';

/** What `authorize` is asked about: a read or a write. */
export type AccessAction = ReadAccessAction | WriteAccessAction;

/**
 * @deprecated Use `AccessAction` (or `ReadAccessAction` for the reads only): this union always
 * held the write `operation:cancel` as well, which its name hid.
 */
export type ReadAction = AccessAction;

export interface AccessTarget {
  environment: string;
  operationId?: string;
  resource?: { type: string; handle: string };
  /** A document of a user-defined projection (`projection:read`). */
  projection?: { name: string; key: string };
}

/** Decides whether `actor` may perform an action; opledger consults it before every one. */
export type Authorize = (
  actor: unknown,
  action: AccessAction,
  target: AccessTarget,
) => boolean | Promise<boolean>;

export const allowAll: Authorize = () => true;

/** What each action reads as in a denial, after "you may not"; names no target. */
const ACTION_PHRASES: Record<AccessAction, string> = {
  'operation:read': 'read this operation',
  'operation:follow': 'follow the log of this operation',
  'operations:list': 'list the operations of this environment',
  'environments:list': 'see this environment',
  'operation:cancel': 'cancel this operation',
  'resources:list': 'list the resources of this environment',
  'activity-reports:read': 'read the activity reports of this environment',
  'projection:read': 'read this projection document',
};

export const ensureAllowed = async (
  authorize: Authorize,
  actor: unknown,
  action: AccessAction,
  target: AccessTarget,
): Promise<void> => {
  if (!(await authorize(actor, action, target)))
    throw new AccessDeniedError(action, ACTION_PHRASES[action]);
};
