import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ownKeyRecord } from '../../domain/own-key-record.js';

/**
 * An image of the local infrastructure: a folder holding `image.json` (this manifest) and the
 * files its command runs. A registry is a folder of images, one sub-folder per reference
 * (`web:v1` is stored as `web%3Av1`); pulling copies the image into the instance's folder, so a
 * container only ever runs files that are in place on its instance.
 */
export const imageManifestSchema = z.object({
  /** Argument vector; `node` means the Node.js running opledger, relative paths are the image's. */
  command: z.array(z.string().min(1)).min(1),
  env: ownKeyRecord(z.string(), z.string()).default({}),
  /** The signal `stopContainer` sends first (PostgreSQL shuts down fast on SIGINT). */
  stopSignal: z.enum(['SIGTERM', 'SIGINT', 'SIGQUIT']).default('SIGTERM'),
  /** Run as this user when opledger runs as root (PostgreSQL refuses to run as root). */
  user: z.string().min(1).optional(),
});

export type ImageManifest = z.output<typeof imageManifestSchema>;
export type ImageManifestInput = z.input<typeof imageManifestSchema>;

export const MANIFEST_FILE = 'image.json';

/**
 * An image reference, an id, a bucket or a key as one folder or file name: encodeURIComponent
 * leaves '', '.' and '..' as they are, which would name the folder itself or its parent.
 */
export const folderName = (name: string) =>
  /^\.{0,2}$/.test(name) ? name.replace(/\./g, '%2E') || '%' : encodeURIComponent(name);

/** Writes an image into a registry folder: its manifest and its files (name -> content). */
export const publishImage = async (
  registry: string,
  ref: string,
  image: { manifest: ImageManifestInput; files?: Record<string, string | Buffer> },
): Promise<string> => {
  const manifest = imageManifestSchema.parse(image.manifest);
  const folder = join(registry, folderName(ref));
  const staging = `${folder}.publishing-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const [name, content] of Object.entries(image.files ?? {})) {
    await mkdir(join(staging, name, '..'), { recursive: true });
    await writeFile(join(staging, name), content, { mode: 0o755 });
  }
  await writeFile(join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  // Readers never see a half-written image: it appears by one rename.
  await rm(folder, { recursive: true, force: true });
  await rename(staging, folder);
  return folder;
};

export const readManifest = async (imageFolder: string): Promise<ImageManifest> =>
  imageManifestSchema.parse(JSON.parse(await readFile(join(imageFolder, MANIFEST_FILE), 'utf8')));

export const exists = async (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Copies an image folder into place by staging it next to its target and renaming it. */
export const copyImage = async (from: string, to: string): Promise<void> => {
  const staging = `${to}.pulling-${process.pid}-${Date.now()}`;
  await cp(from, staging, { recursive: true, preserveTimestamps: true });
  try {
    await rename(staging, to);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Pulled concurrently by another call: the image is in place all the same.
    if (!(await exists(join(to, MANIFEST_FILE)))) throw error;
  }
};
