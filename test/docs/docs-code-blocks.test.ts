import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processIo } from '../../src/cli/cli-io.js';
import { createProgram } from '../../src/cli/program.js';
import { runCli, tempWorkdir } from '../cli/run-cli.js';

/**
 * Every code block of the README and the guides comes from somewhere that is checked: TypeScript
 * from a region of a file in examples/ (compiled by the typecheck and run by the examples
 * test), shell lines against the real CLI and package.json.
 */
const root = join(import.meta.dirname, '..', '..');
const documents = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Block {
  document: string;
  line: number;
  lang: string;
  code: string;
  /** The `<!-- snippet: examples/file.ts#region -->` comment right above the fence, if any. */
  source?: string;
  /** Marked `<!-- runs in the tests -->`: its commands are run, in order, and must succeed. */
  runs: boolean;
}

const blocksOf = (document: string): Block[] => {
  const lines = readFileSync(join(root, document), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`${document}:${i + 1}: the code block is never closed`);
    const above = lines
      .slice(0, i)
      .reverse()
      .find((l) => l.trim() !== '');
    const source = /^<!-- snippet: (\S+) -->$/.exec(above?.trim() ?? '')?.[1];
    const runs = above?.trim() === '<!-- runs in the tests -->';
    blocks.push({
      document,
      line: i + 1,
      lang: open[1] ?? '',
      code: lines.slice(i + 1, end).join('\n'),
      ...(source ? { source } : {}),
      runs,
    });
    i = end;
  }
  return blocks;
};

const dedent = (lines: string[]) => {
  const indent = Math.min(
    ...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)?.[0].length ?? 0),
  );
  return lines.map((l) => l.slice(indent)).join('\n');
};

/** The text between `// #region NAME` and `// #endregion NAME`, or the whole file. */
export const regionOf = (source: string): string => {
  const [path = '', region] = source.split('#');
  const lines = readFileSync(join(root, path), 'utf8').trimEnd().split('\n');
  if (!region) return lines.join('\n');
  const start = lines.findIndex((l) => l.trim() === `// #region ${region}`);
  const end = lines.findIndex((l) => l.trim() === `// #endregion ${region}`);
  if (start < 0 || end < start) throw new Error(`${path} has no region '${region}'`);
  return dedent(lines.slice(start + 1, end));
};

const all = documents.flatMap(blocksOf);
const typescript = all.filter((b) => ['ts', 'typescript', 'js', 'javascript'].includes(b.lang));
const shell = all.filter((b) => ['sh', 'bash', 'shell'].includes(b.lang));

describe('code blocks in the docs', () => {
  it('finds the blocks it checks (the checks below are not vacuous)', () => {
    expect(typescript.length).toBeGreaterThanOrEqual(4);
    expect(shell.length).toBeGreaterThanOrEqual(2);
    expect(all.filter((b) => b.lang === '')).toEqual([]);
  });

  it.each(typescript.map((b) => [`${b.document}:${b.line}`, b] as const))(
    '%s is a region of an example that runs',
    (_, block) => {
      expect(
        block.source,
        'a TypeScript block needs <!-- snippet: examples/FILE#REGION -->',
      ).toMatch(/^examples\/[\w-]+\.ts(#[\w-]+)?$/);
      expect(block.code).toBe(regionOf(block.source as string));
    },
  );

  const { program } = createProgram(processIo());
  const globalFlags = program.options.map((o) => o.long);
  const commands = new Map(program.commands.map((c) => [c.name(), c]));
  const scripts = Object.keys(
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: object }).scripts,
  );

  const shellLines = shell.flatMap((b) =>
    b.code
      .split('\n')
      .map((text, i) => ({ where: `${b.document}:${b.line + 1 + i}`, text: text.trim() }))
      .filter((l) => l.text && !l.text.startsWith('#')),
  );

  it.each(shellLines.map((l) => [l.where, l.text] as const))('%s: %s', (_, text) => {
    for (const part of text.replace(/\s+#.*$/, '').split(/\s*&&\s*/)) {
      const words = part.split(/\s+/);
      const cli = words[0] === 'npx' ? words.slice(1) : words;
      if (cli[0] === 'opledger') {
        const command = commands.get(cli[1] ?? '');
        expect(command, `'${cli[1]}' is an opledger command`).toBeDefined();
        const known = [...globalFlags, ...(command?.options.map((o) => o.long) ?? [])];
        // Synopsis lines write optional flags in brackets: `[--param k=v ...]`, `[--otel]`.
        const flags = cli
          .map((w) => w.replace(/^\[+/, '').replace(/\]+$/, ''))
          .filter((w) => /^--[a-z]/.test(w));
        for (const flag of flags) {
          expect(known, `${cli[1]} takes ${flag}`).toContain(flag);
        }
      } else if (words[0] === 'npm') {
        if (words[1] === 'run') expect(scripts).toContain(words[2]);
        else expect(['ci', 'test', 'install']).toContain(words[1]);
      } else {
        throw new Error(`'${part}' is neither an opledger nor an npm command: check it here`);
      }
    }
  });

  const runnable = shell.filter((b) => b.runs);
  it.each(runnable.map((b) => [`${b.document}:${b.line}`, b] as const))(
    '%s runs: every command in it succeeds, in order',
    async (_, block) => {
      const work = tempWorkdir('docs');
      try {
        for (const line of block.code.split('\n').filter((l) => l.trim())) {
          const [command, ...args] = line.trim().split(/\s+/);
          expect(command).toBe('opledger');
          const run = await runCli(args, { cwd: work.dir });
          expect(run.stderr, line).not.toMatch(/^Error:/m);
          expect(run.code, `${line}\n${run.stderr}`).toBe(0);
        }
      } finally {
        work.remove();
      }
    },
    60_000,
  );

  it('runs at least one block of the CLI guide', () => {
    expect(runnable.map((b) => b.document)).toContain('docs/cli.md');
  });
});
