/** One change in the simulated cloud, at its virtual time: for debugging and for tests. */
export interface TimelineEntry {
  /** Virtual epoch ms. */
  at: number;
  kind: TimelineKind;
  /** The id of what changed (instance, container, volume, endpoint, database, bucket/key). */
  subject: string;
  detail?: Record<string, string | number | boolean | null>;
}

export type TimelineKind =
  | 'instance-launched'
  | 'instance-rebooted'
  | 'instance-crashed'
  | 'instance-terminated'
  | 'image-pulled'
  | 'image-behaviour-changed'
  | 'container-started'
  | 'container-stopped'
  | 'container-removed'
  | 'volume-created'
  | 'volume-attached'
  | 'volume-mounted'
  | 'volume-unmounted'
  | 'volume-detached'
  | 'volume-resized'
  | 'volume-deleted'
  | 'endpoint-created'
  | 'endpoint-deleted'
  | 'target-registered'
  | 'target-draining'
  | 'target-drained'
  | 'object-put'
  | 'object-deleted'
  | 'database-created'
  | 'database-deleted'
  | 'call-failed'
  | 'endpoint-up'
  | 'endpoint-down'
  | 'database-up'
  | 'database-down';
