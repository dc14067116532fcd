import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * The Chromium that the browser tests drive with playwright-core: `OPLEDGER_TEST_CHROMIUM` when
 * set, otherwise `chromium` on the PATH or `/usr/bin/chromium` (Debian's package, which
 * `npm test` installs first when it can: scripts/ensure-chromium.mjs looks in the same places).
 * Nothing is downloaded: without a browser the tests fail and say why, they are not skipped.
 */
export const CHROMIUM_ENV = 'OPLEDGER_TEST_CHROMIUM';

const HINT =
  `run node scripts/ensure-chromium.mjs (npm test does), which installs Debian's chromium ` +
  `or set ${CHROMIUM_ENV} to the path of a Chromium or Chrome executable`;

const isExecutableFile = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

const onPath = (name: string) =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => isAbsolute(dir))
    .map((dir) => join(dir, name))
    .find(isExecutableFile);

/** The browser's executable, or an error that says how to get one. */
export const chromiumExecutable = (): string => {
  const chosen = process.env[CHROMIUM_ENV];
  if (chosen !== undefined && chosen !== '') {
    if (isExecutableFile(chosen)) return chosen;
    throw new Error(`${CHROMIUM_ENV}=${chosen} is not an executable file: ${HINT}.`);
  }
  const found = onPath('chromium') ?? ['/usr/bin/chromium'].find(isExecutableFile);
  if (found === undefined) {
    throw new Error(`No Chromium found (looked for chromium on the PATH and /usr/bin): ${HINT}.`);
  }
  return found;
};
