import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// `npm test` runs scripts/ensure-chromium.mjs first (pretest) so that the README's command sets
// up the dashboard's browser tests itself on a fresh machine. Each case runs the script as a
// process with a PATH of one folder of fakes: no real chromium, a fake apt-get that records how
// it was called and "installs" a fake chromium, so nothing here depends on the machine.
const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'ensure-chromium.mjs');
const INSTALL =
  'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium';

let dir: string;
let bin: string;
let aptLog: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ensure-chromium-'));
  bin = join(dir, 'bin');
  aptLog = join(dir, 'apt-get.log');
  spawnSync('/bin/mkdir', [bin]);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const executable = (path: string, body: string) => {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
};

/** apt-get that logs "DEBIAN_FRONTEND=<value> <args>" and, on install, puts chromium in bin/. */
const fakeAptGet = ({ installFails = false } = {}) =>
  executable(
    join(bin, 'apt-get'),
    [
      `printf '%s\\n' "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> '${aptLog}'`,
      `if [ "$1" = install ]; then`,
      installFails
        ? `  echo 'E: Unable to locate package chromium' >&2; exit 100`
        : `  printf '#!/bin/sh\\n' > '${bin}/chromium' && /bin/chmod 755 '${bin}/chromium'`,
      `fi`,
    ].join('\n'),
  );

const aptCalls = () => (existsSync(aptLog) ? readFileSync(aptLog, 'utf8').trim().split('\n') : []);

const ensure = (env: Record<string, string> = {}) => {
  const result = spawnSync(process.execPath, [script], {
    cwd: root,
    encoding: 'utf8',
    env: {
      PATH: bin,
      // Not /usr/bin/chromium, which this machine may well have.
      OPLEDGER_ENSURE_CHROMIUM_DEFAULT: join(dir, 'usr-bin', 'chromium'),
      ...env,
    },
  });
  return { status: result.status, stderr: result.stderr };
};

describe('scripts/ensure-chromium.mjs (the pretest of npm test)', () => {
  it('does nothing when chromium is on the PATH', () => {
    executable(join(bin, 'chromium'), 'exit 0');
    fakeAptGet();
    expect(ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0' })).toEqual({ status: 0, stderr: '' });
    expect(aptCalls()).toEqual([]);
  });

  it('does nothing when chromium is at the fixed location though not on the PATH', () => {
    spawnSync('/bin/mkdir', [join(dir, 'usr-bin')]);
    executable(join(dir, 'usr-bin', 'chromium'), 'exit 0');
    fakeAptGet();
    expect(ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0' }).status).toBe(0);
    expect(aptCalls()).toEqual([]);
  });

  it("installs Debian's chromium with apt-get, non-interactively, when run as root", () => {
    fakeAptGet();
    const { status, stderr } = ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0' });
    expect(status).toBe(0);
    expect(aptCalls()).toEqual([
      'DEBIAN_FRONTEND=noninteractive update',
      'DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends chromium',
    ]);
    expect(existsSync(join(bin, 'chromium'))).toBe(true);
    expect(stderr).toContain(`installed ${join(bin, 'chromium')}`);
    // Installed once: the next npm test finds it and calls apt-get no more.
    expect(ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0' }).status).toBe(0);
    expect(aptCalls()).toHaveLength(2);
  });

  it('stops at once, naming the command to run, when not root', () => {
    fakeAptGet();
    const { status, stderr } = ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '1000' });
    expect(status).toBe(1);
    expect(stderr).toContain(`sudo sh -c '${INSTALL}'`);
    expect(stderr).toContain('OPLEDGER_TEST_CHROMIUM');
    expect(aptCalls()).toEqual([]);
    expect(existsSync(join(bin, 'chromium'))).toBe(false);
  });

  it('stops when there is no apt-get, saying to install Chromium or set OPLEDGER_TEST_CHROMIUM', () => {
    const { status, stderr } = ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0' });
    expect(status).toBe(1);
    expect(stderr).toMatch(/no Chromium found .* and no apt-get/);
    expect(stderr).toContain('set OPLEDGER_TEST_CHROMIUM to the path of a Chromium');
  });

  it('stops, with the command to run, when apt-get fails', () => {
    fakeAptGet({ installFails: true });
    const { status, stderr } = ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0' });
    expect(status).toBe(1);
    expect(stderr).toContain('Unable to locate package chromium');
    expect(stderr).toContain(
      `apt-get install -y --no-install-recommends chromium failed (exit 100): run ${INSTALL}`,
    );
  });

  it('uses OPLEDGER_TEST_CHROMIUM when set, and refuses one that is not executable', () => {
    fakeAptGet();
    const chosen = join(dir, 'my-chrome');
    expect(ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0', OPLEDGER_TEST_CHROMIUM: chosen })).toEqual(
      expect.objectContaining({ status: 1 }),
    );
    expect(
      ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0', OPLEDGER_TEST_CHROMIUM: chosen }).stderr,
    ).toContain(`OPLEDGER_TEST_CHROMIUM=${chosen} is not an executable file`);
    executable(chosen, 'exit 0');
    expect(ensure({ OPLEDGER_ENSURE_CHROMIUM_UID: '0', OPLEDGER_TEST_CHROMIUM: chosen })).toEqual({
      status: 0,
      stderr: '',
    });
    // Neither case installs anything: the tests would drive the chosen one, not Debian's.
    expect(aptCalls()).toEqual([]);
  });

  it('is what npm test runs first, and .ci/run installs no browser of its own', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['pretest']).toMatch(/^node scripts\/ensure-chromium\.mjs && /);
    expect(readFileSync(join(root, '.ci', 'run'), 'utf8')).not.toMatch(/apt-get/);
  });
});
