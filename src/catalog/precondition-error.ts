import { OpledgerError } from '../domain/errors.js';

/**
 * The cloud is not in the state a catalog step needs (a container not running, a volume that
 * does not exist, a database already on the target instance). Code PRECONDITION_FAILED: steps
 * retry it under their policy, since the cloud may still be catching up, and then fail.
 */
export class PreconditionFailedError extends OpledgerError {
  constructor(message: string) {
    super('PRECONDITION_FAILED', message);
  }
}
