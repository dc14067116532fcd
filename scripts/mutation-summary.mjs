// Prints the summary of Stryker's last JSON report (reports/mutation/mutation.json, written by
// npm run mutation) as Markdown: the score of each file and every mutant that survived, had no
// test or timed out, with its place and change. test/MUTATION.md is this output plus, for each
// survivor, a sentence saying why it is left.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync('reports/mutation/mutation.json', 'utf8'));
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
