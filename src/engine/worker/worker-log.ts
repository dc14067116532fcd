/** A line a worker tells about itself (not part of any Operation Log). */
export interface WorkerLogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  operationId?: string;
}

/** Warnings and errors to stderr; what went well stays quiet. */
export const defaultLog = (entry: WorkerLogEntry) => {
  if (entry.level === 'error') console.error(`opledger worker: ${entry.message}`);
  else if (entry.level === 'warn') console.warn(`opledger worker: ${entry.message}`);
};
