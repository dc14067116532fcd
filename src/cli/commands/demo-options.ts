import type { GlobalOptions } from './with-store.js';

/**
 * The options of `opledger demo`, in a file of their own so that the simulated demo (demo.ts)
 * and the local one (demo-local.ts) both read them without importing each other.
 */
export interface DemoOptions extends GlobalOptions {
  env: string;
  user: string;
  speed: string;
  cloud?: string;
  out?: string;
  /**
   * false (`--no-history`): leave out the weeks of past operations that the first run in an
   * environment writes for the delivery metrics.
   */
  history?: boolean;
  /** Real processes on this machine instead of the simulated cloud. */
  local?: boolean;
}
