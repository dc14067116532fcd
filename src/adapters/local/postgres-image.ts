import { execFile } from 'node:child_process';
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OpledgerError } from '../../domain/errors.js';
import { folderName, MANIFEST_FILE, exists } from './local-images.js';

const run = promisify(execFile);

/** Where PostgreSQL 15 lives on Debian; `OPLEDGER_PG_BIN` or the option says otherwise. */
export const DEFAULT_POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

/**
 * The entrypoint, as in the official postgres container image: create the cluster on an empty
 * volume, then become the server. Unix sockets are off (TCP on loopback only), so the length of
 * the volume's path never matters.
 */
const ENTRYPOINT = `#!/bin/sh
set -e
here=$(cd "$(dirname "$0")" && pwd)
bin="$here$PG_BINDIR"
data="$VOLUME_PATH/pgdata"
if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync >/dev/null
fi
exec "$bin/postgres" -D "$data" -p "$PORT" -c listen_addresses=127.0.0.1 -c unix_socket_directories=
`;

/**
 * Publishes a PostgreSQL server image into a registry folder: the installed `postgres` and
 * `initdb` binaries, the server's libraries and share files, copied under the same absolute
 * paths inside the image. PostgreSQL finds its libraries and share files relative to its own
 * binary, so the copy runs from wherever an instance keeps it: pulling the image is what puts
 * the binaries in place on an instance, as a real image pull does.
 */
export const publishPostgresImage = async (
  registry: string,
  options: { ref?: string; binDir?: string } = {},
): Promise<string> => {
  const ref = options.ref ?? 'postgres:15';
  const binDir = options.binDir ?? process.env.OPLEDGER_PG_BIN ?? DEFAULT_POSTGRES_BIN;
  for (const binary of ['postgres', 'initdb', 'pg_config']) {
    if (!(await exists(join(binDir, binary)))) {
      throw new OpledgerError(
        'POSTGRES_MISSING',
        `no ${binary} in ${binDir}: install PostgreSQL (server and pg_config) or set OPLEDGER_PG_BIN to its bin folder`,
      );
    }
  }
  const { stdout } = await run(join(binDir, 'pg_config'), ['--sharedir', '--pkglibdir']);
  const [shareDir = '', libDir = ''] = stdout.trim().split('\n');
  const folder = join(registry, folderName(ref));
  const staging = `${folder}.publishing-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  for (const binary of ['postgres', 'initdb']) {
    await mkdir(join(staging, binDir), { recursive: true });
    await cp(join(binDir, binary), join(staging, binDir, binary));
  }
  await cp(libDir, join(staging, libDir), { recursive: true });
  await cp(shareDir, join(staging, shareDir), { recursive: true });
  await writeFile(join(staging, 'entrypoint.sh'), ENTRYPOINT, { mode: 0o755 });
  await writeFile(
    join(staging, MANIFEST_FILE),
    JSON.stringify({
      command: ['sh', 'entrypoint.sh'],
      env: { PG_BINDIR: binDir },
      // The official image stops on SIGINT too: PostgreSQL's fast shutdown.
      stopSignal: 'SIGINT',
      user: 'postgres',
    }),
  );
  await rm(folder, { recursive: true, force: true });
  await rename(staging, folder);
  return folder;
};
