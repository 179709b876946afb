// .ci/scenarios.mjs: the scenario list CI prints, and why each failure failed (CI keeps only a run's last lines).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';

const script = resolve(import.meta.dirname, '..', '..', '.ci', 'scenarios.mjs');

function report(results: unknown[]): { code: number | null; out: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'scenarios-')), 'e2e.json');
  writeFileSync(
    file,
    JSON.stringify({ success: !JSON.stringify(results).includes('"failed"'), testResults: results }),
  );
  const r = spawnSync(process.execPath, [script, file, 'e2e scenarios'], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout };
}

test('a failed scenario is listed, then its reason without colours or stack frames, and the exit is 1', () => {
  const r = report([
    {
      name: join(process.cwd(), 'test/e2e/a.test.ts'),
      assertionResults: [
        { status: 'passed', title: 'serves', ancestorTitles: ['rig'], duration: 1200 },
        {
          status: 'failed',
          title: 'edits are live',
          ancestorTitles: ['rig'],
          duration: 420800,
          failureMessages: [
            'AssertionError: not ready in 420 s, still waiting for go-api: 2 pods\n\u001b[31mexpected false to be true\u001b[39m\n    at probe (a.test.ts:1:1)',
          ],
        },
      ],
    },
  ]);
  expect(r.code).toBe(1);
  expect(r.out).toContain('  PASS  test/e2e/a.test.ts > rig > serves (1.2 s)');
  expect(r.out).toContain('  FAIL  test/e2e/a.test.ts > rig > edits are live (420.8 s)');
  expect(r.out).toContain(
    '  why FAIL edits are live:\n    AssertionError: not ready in 420 s, still waiting for go-api: 2 pods\n    expected false to be true\n',
  );
  expect(r.out).not.toContain('at probe');
});

test('every scenario passed: no reasons, exit 0', () => {
  const r = report([
    {
      name: join(process.cwd(), 'test/e2e/a.test.ts'),
      assertionResults: [{ status: 'passed', title: 'serves' }],
    },
  ]);
  expect(r.code).toBe(0);
  expect(r.out).not.toContain('why');
});
