import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ATTR,
  FAILOVER_EVENT,
  LOG_EVENT,
  METRIC,
  SPAN_EVENT,
} from '../../src/engine/telemetry/names.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'telemetry.md'), 'utf8');

describe('docs/telemetry.md names what telemetry records', () => {
  it.each([
    ...Object.values(ATTR),
    ...Object.values(METRIC),
    ...Object.values(SPAN_EVENT),
    FAILOVER_EVENT,
    LOG_EVENT,
  ])('%s is in a table row', (name) => {
    expect(doc.split('\n').some((l) => l.startsWith('|') && l.includes(`\`${name}\``))).toBe(true);
  });
});
