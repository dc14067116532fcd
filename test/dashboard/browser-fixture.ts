import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumExecutable } from '../support/chromium.js';
import { spawnCli, tempWorkdir, watchOutput } from '../cli/run-cli.js';

/** Where the browser tests leave their screenshots (git-ignored, kept by CI as artifacts). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard');

export interface OperationJson {
  id: string;
  type: string;
  environment: string;
  resource: { type: string; handle: string };
  user: string;
  params: Record<string, unknown>;
  status: string;
  cancelled: boolean;
  rollback: string;
  createdAt: string;
}

export interface OperationsPage {
  items: OperationJson[];
  total: number;
  limit: number;
  offset: number;
  nextOffset?: number;
}

export interface LogJson {
  operation: OperationJson;
  lines: { revision: number; message: string }[];
}

export interface ResultRecord {
  kind: 'result';
  id: string;
  status: string;
  cancelled: boolean;
  rollback: string;
  summary: string;
}

export interface CliBytes {
  code: number | null;
  /** Raw bytes, for byte-for-byte comparisons with the dashboard's downloads. */
  stdout: Buffer;
  stderr: string;
}

type Watched = ReturnType<typeof watchOutput>;

/**
 * A temporary folder with its own SQLite store, in which the built CLI runs (so the simulated
 * clouds under `.opledger/` land there too). Every process started here is tracked, and `close`
 * ends those still running (SIGTERM, then SIGKILL) before removing the folder.
 */
export const cliWorkspace = (prefix: string) => {
  const work = tempWorkdir(prefix);
  const store = `sqlite:${join(work.dir, 'store.db')}`;
  const running = new Set<{ watched: Watched; done: boolean }>();

  const spawn = (...args: string[]): Watched => {
    const watched = watchOutput(spawnCli([...args, '--store', store], { cwd: work.dir }));
    const entry = { watched, done: false };
    running.add(entry);
    void watched.exited.then(() => {
      entry.done = true;
      running.delete(entry);
    });
    return watched;
  };

  const run = (...args: string[]): Promise<CliBytes> =>
    new Promise((resolve, reject) => {
      const child = spawnCli([...args, '--store', store], { cwd: work.dir });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (c: Buffer) => out.push(c));
      child.stderr?.on('data', (c: Buffer) => err.push(c));
      child.on('error', reject);
      child.on('close', (code) =>
        resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
      );
    });

  /** `--json` output of a command that must succeed. */
  const json = async <T>(...args: string[]): Promise<T> => {
    const result = await run(...args, '--json');
    if (result.code !== 0) {
      throw new Error(`opledger ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    }
    return JSON.parse(result.stdout.toString('utf8')) as T;
  };

  const stop = async (entry: { watched: Watched; done: boolean }) => {
    entry.watched.kill('SIGTERM');
    const timeout = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([entry.watched.exited, timeout(10_000)]);
    if (!entry.done) {
      entry.watched.kill('SIGKILL');
      await entry.watched.exited;
    }
  };

  const close = async () => {
    try {
      await Promise.all([...running].map(stop));
    } finally {
      work.remove();
    }
  };

  return { dir: work.dir, store, spawn, run, json, close };
};

/** Headless Chromium from the machine (see test/support/chromium.ts); we run as root. */
export const launchChromium = async (): Promise<Browser> =>
  chromium.launch({ executablePath: chromiumExecutable(), headless: true, args: ['--no-sandbox'] });

export const screenshot = async (page: Page, view: string) => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${view}.png`), fullPage: true });
};

/** The texts of the operation page's log lines, without the line breaks between them. */
export const logLines = async (page: Page) =>
  (await page.locator('#log .line').allTextContents()).map((line) => line.replace(/\r?\n$/, ''));

/** The lines of a CLI text output. */
export const textLines = (stdout: Buffer) => stdout.toString('utf8').replace(/\n$/, '').split('\n');
