// Runs before `npm test` (the "pretest" script) and in .ci/run through it: the dashboard's
// browser tests drive the machine's Chromium with playwright-core, which downloads none, so
// the README's `npm ci && npm test` must bring one itself on a fresh machine.
//
// Chromium is looked for as test/support/chromium.ts does: OPLEDGER_TEST_CHROMIUM when set,
// otherwise `chromium` on the PATH, otherwise /usr/bin/chromium. When there is none, Debian's
// `chromium` package is installed if this runs as root with apt-get on the PATH; otherwise it
// stops at once (exit 1) naming the command to run, rather than letting five browser tests fail
// minutes later.
//
// Two variables exist for the tests of this script only (test/package/ensure-chromium.test.ts),
// so that they can run as if root or not and on a machine where Chromium is installed:
// OPLEDGER_ENSURE_CHROMIUM_UID (the user id to act as) and OPLEDGER_ENSURE_CHROMIUM_DEFAULT
// (the fixed location, /usr/bin/chromium).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

const CHROMIUM_ENV = 'OPLEDGER_TEST_CHROMIUM';
const env = process.env;
const defaultLocation = env.OPLEDGER_ENSURE_CHROMIUM_DEFAULT ?? '/usr/bin/chromium';
const uid =
  env.OPLEDGER_ENSURE_CHROMIUM_UID !== undefined && env.OPLEDGER_ENSURE_CHROMIUM_UID !== ''
    ? Number(env.OPLEDGER_ENSURE_CHROMIUM_UID)
    : process.getuid?.();

const APT_UPDATE = ['update'];
const APT_INSTALL = ['install', '-y', '--no-install-recommends', 'chromium'];
const INSTALL_COMMAND =
  'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium';

const isExecutableFile = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

const onPath = (name) =>
  (env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => isAbsolute(dir))
    .map((dir) => join(dir, name))
    .find(isExecutableFile);

const findChromium = () => onPath('chromium') ?? [defaultLocation].find(isExecutableFile);

const stop = (message) => {
  console.error(`ensure-chromium: ${message}`);
  process.exit(1);
};

const chosen = env[CHROMIUM_ENV];
if (chosen !== undefined && chosen !== '') {
  // The tests drive exactly this one; installing another would not help them.
  if (!isExecutableFile(chosen)) {
    stop(
      `${CHROMIUM_ENV}=${chosen} is not an executable file: point it at a Chromium or Chrome ` +
        `executable, or unset it to use Debian's chromium.`,
    );
  }
  process.exit(0);
}

if (findChromium() !== undefined) process.exit(0);

const aptGet = onPath('apt-get');
const otherwise = `or set ${CHROMIUM_ENV} to the path of a Chromium or Chrome executable`;
if (aptGet === undefined) {
  stop(
    `no Chromium found (looked for chromium on the PATH and ${defaultLocation}) and no apt-get ` +
      `to install it: install Chromium so that \`chromium\` is on the PATH, ${otherwise}, ` +
      `then run npm test again.`,
  );
}
if (uid !== 0) {
  stop(
    `no Chromium found (looked for chromium on the PATH and ${defaultLocation}); installing it ` +
      `needs root. Run:\n\n  sudo sh -c '${INSTALL_COMMAND}'\n\n${otherwise}, then run npm ` +
      `test again.`,
  );
}

console.error(
  `ensure-chromium: no Chromium found; installing Debian's chromium: ${INSTALL_COMMAND}`,
);
const apt = (args) => {
  const result = spawnSync(aptGet, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    const how = result.error?.message ?? `exit ${result.status ?? result.signal}`;
    stop(
      `apt-get ${args.join(' ')} failed (${how}): run ${INSTALL_COMMAND} yourself, ${otherwise}.`,
    );
  }
};
apt(APT_UPDATE);
apt(APT_INSTALL);

const installed = findChromium();
if (installed === undefined) {
  stop(
    `apt-get installed chromium but no chromium is on the PATH or at ${defaultLocation}: ` +
      `${otherwise}.`,
  );
}
console.error(`ensure-chromium: installed ${installed}`);
