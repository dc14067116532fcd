/**
 * Progress of long work on stderr: a bar redrawn in place on a terminal, and on anything else
 * (a pipe, a CI log) a plain line at each tenth, so logs stay readable.
 */
export interface Progress {
  update(done: number, total?: number): void;
  finish(): void;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

const WIDTH = 30;

export const createProgress = (
  label: string,
  stream: ProgressStream,
  options: { unit?: string } = {},
): Progress => {
  const unit = options.unit ?? 'items';
  let lastTenth = -1;
  let last = { done: 0, total: undefined as number | undefined };
  let lastDraw = 0;
  const text = (done: number, total: number | undefined) =>
    total === undefined ? `${done} ${unit}` : `${done}/${total} ${unit}`;
  const draw = (done: number, total: number | undefined) => {
    if (stream.isTTY) {
      const ratio = total ? Math.min(1, done / total) : 0;
      const filled = Math.round(ratio * WIDTH);
      const bar = total ? `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ` : '';
      const percent = total ? ` ${Math.floor(ratio * 100)}%` : '';
      stream.write(`\r${label} ${bar}${text(done, total)}${percent}\u001b[K`);
      return;
    }
    const tenth = total ? Math.floor((Math.min(done, total) / total) * 10) : -1;
    if (total && tenth > lastTenth) {
      lastTenth = tenth;
      stream.write(`${label}: ${text(done, total)} (${tenth * 10}%)\n`);
    }
  };
  return {
    update: (done, total) => {
      last = { done, total };
      const now = Date.now();
      // A terminal is redrawn at most every 50 ms: redrawing per row would cost more than the work.
      if (stream.isTTY && now - lastDraw < 50 && done !== total) return;
      lastDraw = now;
      draw(done, total);
    },
    finish: () => {
      if (stream.isTTY) {
        draw(last.done, last.total);
        stream.write('\n');
      } else if (last.total === undefined || lastTenth < 10) {
        stream.write(`${label}: ${text(last.done, last.total)} (done)\n`);
      }
    },
  };
};
