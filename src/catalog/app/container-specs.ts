import type { ContainerView } from '../infrastructure-port.js';
import { AppStateError } from './app-errors.js';
import type { Resolved } from './app-options.js';

/** What is needed to start a container again exactly as it was. */
export interface ContainerSpecData {
  id: string;
  instanceId: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  sizeMb: number;
}

export const specOf = (c: ContainerView): ContainerSpecData => ({
  id: c.id,
  instanceId: c.instanceId,
  image: c.image,
  command: c.command,
  env: c.env,
  sizeMb: c.sizeMb,
});

export const describeSpecs = async (
  r: Resolved,
  ids: readonly string[],
  signal?: AbortSignal,
): Promise<ContainerSpecData[]> => {
  const specs: ContainerSpecData[] = [];
  for (const id of ids) {
    const c = await r.infra.containers.describeContainer(id, { signal });
    if (!c) throw new AppStateError(`container ${id} is registered but does not exist`);
    specs.push(specOf(c));
  }
  return specs;
};
