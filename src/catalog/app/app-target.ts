import { z } from 'zod';

/** Params every App operation takes: which app, on which instance, behind which endpoint. */
export const appTarget = {
  app: z.string().min(1),
  /** The instance the app's containers run on; `${app}-host` by default. */
  instanceId: z.string().min(1).optional(),
  /** The load-balancer endpoint of the app; `${app}` by default. */
  endpointId: z.string().min(1).optional(),
};

export interface AppTargetParams {
  app: string;
  instanceId?: string | undefined;
  endpointId?: string | undefined;
}

export const instanceOf = (p: AppTargetParams) => p.instanceId ?? `${p.app}-host`;
export const endpointOf = (p: AppTargetParams) => p.endpointId ?? p.app;

/**
 * Container ids are deterministic per operation, so a retried run or an undo after a crash
 * (outcome unknown) finds the same containers: `${app}-${operationId}-${n}`.
 */
export const containerIds = (app: string, operationId: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${app}-${operationId}-${i + 1}`);
