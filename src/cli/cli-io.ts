/** Where a command writes: results to `out` (what a script parses), everything else to `err`. */
export interface CliIo {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

export const processIo = (): CliIo => ({
  out: process.stdout,
  err: process.stderr,
  env: process.env,
});

/**
 * How to type the command in what the CLI suggests: `npx opledger` when npx ran it (npm sets
 * npm_command=exec), since `opledger` alone is then not on the PATH; `opledger` otherwise
 * (installed globally, or from a package.json script, where node_modules/.bin is on the PATH).
 */
export const opledgerCommand = (env: NodeJS.ProcessEnv): string =>
  env.npm_command === 'exec' ? 'npx opledger' : 'opledger';

export const println = (stream: NodeJS.WritableStream, text = '') => {
  stream.write(`${text}\n`);
};

export const printJson = (stream: NodeJS.WritableStream, value: unknown) => {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
};
