#!/usr/bin/env node
// Prints the scenario list of a vitest JSON report (vitest --reporter=json --outputFile.json=FILE): one line
// per test with PASS / FAIL / SKIP and its duration, then the counts, then why each failure failed. Exits 1 when the report is missing or
// holds a failed or skipped test (the e2e suite never skips in CI).
//   node .ci/scenarios.mjs FILE [title]
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const [file, title = 'scenarios'] = process.argv.slice(2);
if (!file || !existsSync(file)) {
  console.log(`${title}: no report at ${file ?? '(none given)'}: the suite did not run to the end`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const label = { passed: 'PASS', failed: 'FAIL', skipped: 'SKIP', pending: 'SKIP', todo: 'SKIP' };
const counts = {};
console.log(`\n${title}:`);
for (const suite of report.testResults ?? []) {
  const name = relative(process.cwd(), suite.name);
  if ((suite.assertionResults ?? []).length === 0)
    console.log(`  FAIL  ${name}: ${suite.message || 'no test ran (the file failed to load)'}`);
  for (const t of suite.assertionResults ?? []) {
    const l = label[t.status] ?? t.status.toUpperCase();
    counts[l] = (counts[l] ?? 0) + 1;
    const secs = t.duration ? ` (${(t.duration / 1000).toFixed(1)} s)` : '';
    console.log(`  ${l.padEnd(4)}  ${name} > ${[...(t.ancestorTitles ?? []), t.title].join(' > ')}${secs}`);
  }
}
console.log(
  `  ${Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')}`,
);
// Why each failed, in brief (after the list: what CI keeps of a run is its last lines): the first lines of its
// first failure message, without colour codes.
for (const suite of report.testResults ?? [])
  for (const t of suite.assertionResults ?? [])
    if (t.status === 'failed') {
      const why = String(t.failureMessages?.[0] ?? '(no message)')
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n')
        .filter((line) => line.trim() && !/^\s+at /.test(line))
        .slice(0, 12);
      console.log(`\n  why FAIL ${t.title.slice(0, 80)}:\n${why.map((line) => `    ${line.slice(0, 300)}`).join('\n')}`);
    }
const bad = (counts.FAIL ?? 0) + (counts.SKIP ?? 0) + (report.testResults ?? []).filter((s) => !(s.assertionResults ?? []).length).length;
process.exit(bad > 0 || report.success === false ? 1 : 0);
