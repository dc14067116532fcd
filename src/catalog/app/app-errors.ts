import { OpledgerError } from '../../domain/errors.js';

/**
 * The app in the cloud is not in a state the step can work from (no endpoint: provision first; a
 * container that failed its health check). Code APP_STATE; still retried, since the cloud may
 * catch up (a container still starting).
 */
export class AppStateError extends OpledgerError {
  constructor(message: string, code = 'APP_STATE') {
    super(code, message);
  }
}

/** An undo that can never succeed (what it needs is gone): retrying it is pointless. */
export class RestoreImpossibleError extends AppStateError {
  constructor(message: string) {
    super(message, 'RESTORE_IMPOSSIBLE');
  }
}
