import { describe, expect, it } from 'vitest';
import { eventJsonText } from '../../src/adapters/event-json.js';
import { InvalidEventError } from '../../src/domain/errors.js';

describe('eventJsonText (shared by the SQLite and EventStoreDB stores)', () => {
  it('is the JSON text of a JSON value', () => {
    expect(eventJsonText('T', 'data', { a: [1, 'b', null] })).toBe('{"a":[1,"b",null]}');
  });

  it('refuses a value JSON cannot hold, naming the event type and the part', () => {
    const attempt = () => eventJsonText('AppDeployed', 'metadata', { n: 1n });
    expect(attempt).toThrow(InvalidEventError);
    expect(attempt).toThrow(/AppDeployed.*metadata cannot be stored as JSON/s);
  });

  it('refuses a value with no JSON form at all', () => {
    expect(() => eventJsonText('T', 'data', undefined)).toThrow(
      /its data is not a JSON value \(got undefined\)/,
    );
  });
});
