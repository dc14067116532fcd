/** A promise a test opens by hand: lets a step block until the test has looked around. */
export const createGate = () => {
  let open!: () => void;
  let entered = false;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    open: () => open(),
    get entered() {
      return entered;
    },
    wait: () => {
      entered = true;
      return opened;
    },
  };
};

/** Resolves when the signal aborts, rejecting with its reason: a step that honours cancels. */
export const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
