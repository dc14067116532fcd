import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ContainerView } from '../infrastructure-port.js';
import { RestoreImpossibleError } from './app-errors.js';
import type { Resolved } from './app-options.js';
import type { ContainerSpecData } from './container-specs.js';

/**
 * Environment variables hold secrets (set by `appConfigure` with `sensitive`, or by anyone
 * before), and the old containers' specs must be recorded so that an undo can start them again
 * after they were removed. Step outputs are events, read by logs, reports and anyone with the
 * store: so they never carry env values. The env is sealed (AES-256-GCM) under a key per app,
 * kept in the platform's object storage (`configBucket`, key `<app>/env-key`), and only the
 * variable names and the ciphertext are recorded. An undo, in this process or in another one
 * after a crash, opens it with the same key. `appDeprovision` deletes the key last: every sealed
 * env of the app in the event store becomes unreadable for good (crypto-shredding).
 */

/** A container as recorded in a step output: everything to start it again, env sealed. */
export interface SealedContainerSpec {
  id: string;
  instanceId: string;
  image: string;
  command: string[];
  sizeMb: number;
  /** The variable names, for people reading the events; the values are only in `sealedEnv`. */
  envNames: string[];
  sealedEnv: string;
}

export const envKeyObject = (app: string) => `${app}/env-key`;

const SEAL_VERSION = 'v1';

const getKey = async (
  r: Resolved,
  app: string,
  signal: AbortSignal | undefined,
): Promise<Buffer | undefined> => {
  const body = await r.infra.objectStorage.getObject(
    { bucket: r.configBucket, key: envKeyObject(app) },
    { signal },
  );
  return body === undefined ? undefined : Buffer.from(body, 'base64');
};

/** The app's key, created on first use (never replaced: that would lose every sealed env). */
const ensureKey = async (r: Resolved, app: string, signal?: AbortSignal): Promise<Buffer> => {
  const existing = await getKey(r, app, signal);
  if (existing) return existing;
  const key = randomBytes(32);
  await r.infra.objectStorage.putObject(
    { bucket: r.configBucket, key: envKeyObject(app), body: key.toString('base64') },
    { signal },
  );
  return key;
};

const seal = (key: Buffer, app: string, env: Record<string, string>): string => {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  // Bound to the app: a sealed env copied into another app's events does not open there.
  cipher.setAAD(Buffer.from(app));
  const body = Buffer.concat([cipher.update(JSON.stringify(env), 'utf8'), cipher.final()]);
  return [SEAL_VERSION, iv, cipher.getAuthTag(), body]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
};

const open = (key: Buffer, app: string, sealed: string): Record<string, string> => {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== SEAL_VERSION || iv === undefined || tag === undefined || body === undefined) {
    throw new RestoreImpossibleError(`the recorded environment is not a ${SEAL_VERSION} seal`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(app));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const text = Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
    return JSON.parse(text) as Record<string, string>;
  } catch {
    throw new RestoreImpossibleError(
      `the recorded environment of app ${app} does not open with its key (the key was replaced, or the record altered)`,
    );
  }
};

/**
 * Seals the env of each spec; touches object storage only when there is something to seal.
 * Mind: the engine masks the values of an operation's sensitive string params in every string of
 * its outputs, ciphertext included; an App operation must not declare a short top-level string
 * param sensitive (appConfigure's secrets are a record, which the engine does not scan).
 */
export const sealSpecs = async (
  r: Resolved,
  app: string,
  specs: readonly ContainerSpecData[],
  signal?: AbortSignal,
): Promise<SealedContainerSpec[]> => {
  if (specs.length === 0) return [];
  const key = await ensureKey(r, app, signal);
  return specs.map((s) => ({
    id: s.id,
    instanceId: s.instanceId,
    image: s.image,
    command: s.command,
    sizeMb: s.sizeMb,
    envNames: Object.keys(s.env).sort(),
    sealedEnv: seal(key, app, s.env),
  }));
};

/** The real env of a recorded container. */
export const openEnv = async (
  r: Resolved,
  app: string,
  spec: SealedContainerSpec,
  signal?: AbortSignal,
): Promise<Record<string, string>> => {
  const key = await getKey(r, app, signal);
  if (!key) {
    throw new RestoreImpossibleError(
      `the key of app ${app}'s environment is gone (${r.configBucket}/${envKeyObject(app)}): container ${spec.id} cannot be started again with its environment`,
    );
  }
  return open(key, app, spec.sealedEnv);
};

/**
 * Starts an existing container (stopped, or on a rebooted instance) as it is, with the env the
 * cloud kept; one that runs is left alone.
 */
export const startExisting = async (
  r: Resolved,
  live: ContainerView,
  signal?: AbortSignal,
): Promise<void> => {
  if (live.state === 'running') return;
  await r.infra.containers.startContainer(
    {
      containerId: live.id,
      instanceId: live.instanceId,
      image: live.image,
      command: live.command,
      env: live.env,
      sizeMb: live.sizeMb,
    },
    { signal },
  );
};

/**
 * Starts a recorded container again: an existing one as it is (startExisting); a removed one
 * from its record, its env opened with the key.
 */
export const restoreContainer = async (
  r: Resolved,
  app: string,
  spec: SealedContainerSpec,
  signal?: AbortSignal,
): Promise<void> => {
  const live = await r.infra.containers.describeContainer(spec.id, { signal });
  if (live) return startExisting(r, live, signal);
  if (!(await r.infra.compute.describeInstance(spec.instanceId, { signal }))) {
    throw new RestoreImpossibleError(
      `instance ${spec.instanceId} no longer exists: container ${spec.id} cannot be started again`,
    );
  }
  const env = await openEnv(r, app, spec, signal);
  await r.infra.containers.startContainer(
    {
      containerId: spec.id,
      instanceId: spec.instanceId,
      image: spec.image,
      command: spec.command,
      env,
      sizeMb: spec.sizeMb,
    },
    { signal },
  );
};

/** Deletes the app's key: what was sealed with it can never be opened again. */
export const deleteEnvKey = (r: Resolved, app: string, signal?: AbortSignal) =>
  r.infra.objectStorage.deleteObject(
    { bucket: r.configBucket, key: envKeyObject(app) },
    { signal },
  );
