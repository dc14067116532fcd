// Runs after tsc in `npm run build`: what tsc does not do for the package.
import { chmodSync, cpSync, rmSync } from 'node:fs';

// tsc writes files with the default mode. npm gives a bin the execute bit only when it links
// it, which it does not do for the project itself, so a fresh clone's `npx opledger` would be
// refused (exit 127) without this.
chmodSync('dist/cli/main.js', 0o755);

// The dashboard's browser files (script, styles) are served from next to its compiled code.
// Copied afresh, so that a file removed from src/ is not served from an old dist/; a missing
// folder fails the build rather than the dashboard's first page.
rmSync('dist/dashboard/assets', { recursive: true, force: true });
cpSync('src/dashboard/assets', 'dist/dashboard/assets', { recursive: true });
