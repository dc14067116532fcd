// Prints the summary of Stryker's last JSON report (reports/mutation/mutation.json, written by
// npm run mutation) as Markdown: the score of each file and every mutant that survived, had no
// test or timed out, with its place and change. test/MUTATION.md is this output plus, for each
// survivor, a sentence saying why it is left.
//
// `node scripts/mutation-summary.mjs --guards src/domain/decide.ts` prints instead, for each
// `if` of that file, what became of the mutant that removes it (its condition made `false`) and
// the first test that failed for it: the guards and the rules that state them.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync('reports/mutation/mutation.json', 'utf8'));

const guardsOf = process.argv.indexOf('--guards');
if (guardsOf !== -1) {
  const file = process.argv[guardsOf + 1];
  const { source, mutants } = report.files[file];
  const lines = source.split('\n');
  const testNames = new Map(
    Object.values(report.testFiles ?? {}).flatMap(({ tests }) => tests.map((t) => [t.id, t.name])),
  );
  const out = [];
  for (const m of mutants) {
    const { line, column } = m.location.start;
    const text = lines[line - 1].slice(column - 1);
    // The whole condition of an `if`, made false: the guard deleted.
    const { line: endLine, column: endColumn } = m.location.end;
    // The whole condition of an `if` (from after `if (` to its closing parenthesis), made
    // false: the guard deleted.
    const isGuard =
      m.mutatorName === 'ConditionalExpression' &&
      m.replacement === 'false' &&
      /^\s*if \($/.test(lines[line - 1].slice(0, column - 1)) &&
      lines[endLine - 1][endColumn - 1] === ')';
    if (!isGuard) continue;
    const by = (m.killedBy ?? []).map((id) => testNames.get(id) ?? id);
    const condition = endLine === line ? text.slice(0, endColumn - column) : `${text} ...`;
    out.push(
      `- \`${file}:${line}\` \`if (${condition})\`: ${m.status}${by.length ? ` by '${by[0]}'` : ''}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  process.exit(0);
}
const counted = ['Killed', 'Timeout', 'Survived', 'NoCoverage'];
const rows = [];
const left = [];
const totals = Object.fromEntries([...counted, 'Ignored'].map((s) => [s, 0]));
for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) =>
  a.localeCompare(b),
)) {
  const n = Object.fromEntries([...counted, 'Ignored'].map((s) => [s, 0]));
  for (const m of mutants) {
    n[m.status] = (n[m.status] ?? 0) + 1;
    totals[m.status] = (totals[m.status] ?? 0) + 1;
    if (['Survived', 'NoCoverage', 'Timeout'].includes(m.status)) {
      const { line, column } = m.location.start;
      left.push(
        `- ${m.status}: \`${file}:${line}:${column}\` ${m.mutatorName}: \`${m.replacement ?? ''}\``,
      );
    }
  }
  rows.push([file, n]);
}
const score = (n) => {
  const valid = counted.reduce((sum, s) => sum + n[s], 0);
  return valid ? ((100 * (n.Killed + n.Timeout)) / valid).toFixed(2) : '-';
};
const line = (cells) => `| ${cells.join(' | ')} |`;
const out = [];
out.push(line(['File', 'Score %', 'Killed', 'Timeout', 'Survived', 'No coverage', 'Ignored']));
out.push(line(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
for (const [file, n] of [...rows, ['All files', totals]]) {
  out.push(line([file, score(n), n.Killed, n.Timeout, n.Survived, n.NoCoverage, n.Ignored]));
}
out.push('', ...left.map((l) => l.replace(/\s+/g, ' ')));
process.stdout.write(`${out.join('\n')}\n`);
