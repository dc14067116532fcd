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

export const println = (stream: NodeJS.WritableStream, text = '') => {
  stream.write(`${text}\n`);
};

export const printJson = (stream: NodeJS.WritableStream, value: unknown) => {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
};
