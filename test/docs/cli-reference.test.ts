import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processIo } from '../../src/cli/cli-io.js';
import { createProgram } from '../../src/cli/program.js';

/**
 * docs/cli.md documents every option of every command: on the command's synopsis line, or in
 * the section about that command (`## \`opledger NAME\``, up to the next `## `).
 */
const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'cli.md'), 'utf8');
const lines = doc.split('\n');

const sectionOf = (command: string): string => {
  const start = lines.findIndex((l) => l.startsWith(`## \`opledger ${command}\``));
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
};

const { program } = createProgram(processIo());
const cases = program.commands.flatMap((command) =>
  command.options.map((option) => [command.name(), option.long ?? ''] as const),
);

describe('docs/cli.md', () => {
  it('has options to check', () => expect(cases.length).toBeGreaterThan(20));

  it.each(cases)('documents %s %s', (command, flag) => {
    const synopsis = lines.filter((l) => l.startsWith(`opledger ${command} `));
    const documented =
      synopsis.some((l) => l.includes(`${flag} `) || l.endsWith(flag) || l.includes(`${flag}]`)) ||
      sectionOf(command).includes(`\`${flag}`);
    expect(documented, `${command} ${flag} in docs/cli.md`).toBe(true);
  });
});
