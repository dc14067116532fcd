import { describe, expect, it } from 'vitest';
import { ReadOnlyStoreError } from '../../src/adapters/sqlite/index.js';
import { toErrorAnswer } from '../../src/dashboard/http.js';
import { OperationPurgedError } from '../../src/domain/errors.js';

describe('the status of the errors the operator meets', () => {
  it('a cancel on a read-only file is a 409 that says so; an operation of a deprovisioned environment a 410', () => {
    const readOnly = toErrorAnswer(new ReadOnlyStoreError('event store'));
    expect(readOnly).toMatchObject({ status: 409, internal: false });
    expect(readOnly.body.error).toMatchObject({
      code: 'STORE_READ_ONLY',
      message: expect.stringMatching(/opened read-only: it reads, and refuses every write/),
    });
    const purged = toErrorAnswer(
      new OperationPurgedError('op-1', 'preview', '2026-03-02T10:00:00.000Z'),
    );
    expect(purged).toMatchObject({ status: 410, internal: false });
    expect(purged.body.error.code).toBe('OPERATION_PURGED');
  });
});
