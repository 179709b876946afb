/**
 * dist/ is what runners execute: it must be exactly a fresh build of src/, and it must run under Node 24
 * (runs.using: node24) as well as the Node on this machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { node24 } from '../support/node24.js';
import { repoRoot } from '../support/tools.js';

function listFiles(dir: string): string[] {
  return execFileSync('find', ['.', '-type', 'f'], { cwd: dir, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .sort();
}

test('dist/ is exactly a fresh build of src/ (check-dist)', () => {
  const out = mkdtempSync(join(tmpdir(), 'check-dist-'));
  try {
    execFileSync('node', [join(repoRoot, '.github/scripts/build.mjs'), out], {
      cwd: repoRoot,
      stdio: 'pipe',
    });
    const fresh = listFiles(out);
    expect(listFiles(join(repoRoot, 'dist'))).toEqual(fresh);
    for (const f of fresh) {
      const a = readFileSync(join(out, f), 'utf8');
      const b = readFileSync(join(repoRoot, 'dist', f), 'utf8');
      if (a !== b)
        throw new Error(`dist/${f} differs from a fresh build: run npm run build and commit dist/`);
    }
    // And git has it: a dist/ file that is not committed does not reach users.
    const status = execFileSync('git', ['status', '--porcelain', '--', 'dist'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    if (process.env.CI === 'true') expect(status).toBe('');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 240_000);

test('action.yml points at the bundles and runs on node24 with a post step', () => {
  const action = YAML.parse(readFileSync(join(repoRoot, 'action.yml'), 'utf8'));
  expect(action.runs).toMatchObject({ using: 'node24', main: 'dist/index.js', post: 'dist/post/index.js' });
  for (const file of ['dist/index.js', 'dist/post/index.js', 'dist/cli/index.js']) {
    expect(
      JSON.parse(readFileSync(join(repoRoot, file.replace('index.js', 'package.json')), 'utf8')),
    ).toEqual({ type: 'module' });
  }
});

const event = pullRequestEventPayload({
  action: 'opened',
  repository: 'jetscale/app',
  number: 101,
  headSha: '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5',
});

function runAction(nodeBin: string, inputs: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'));
  const eventPath = join(dir, 'event.json');
  writeFileSync(eventPath, JSON.stringify(event));
  const outputPath = join(dir, 'output');
  const summaryPath = join(dir, 'summary');
  writeFileSync(outputPath, '');
  writeFileSync(summaryPath, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_REPOSITORY: 'jetscale/app',
    GITHUB_RUN_ID: '9001',
    GITHUB_OUTPUT: outputPath,
    GITHUB_STEP_SUMMARY: summaryPath,
    RUNNER_TEMP: dir,
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
  };
  const r = spawnSync(nodeBin, [join(repoRoot, 'dist/index.js')], { env, encoding: 'utf8', timeout: 60_000 });
  const outputs = readFileSync(outputPath, 'utf8');
  const summary = readFileSync(summaryPath, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return { ...r, outputs, summary };
}

const runtimes: Array<[string, () => string]> = [
  ['node (this machine)', () => process.execPath],
  ['node 24 (as on runners)', node24],
];

describe.each(runtimes)('dist/index.js under %s', (_name, bin) => {
  test('preview dry run prints the plan with the derived names', () => {
    const r = runAction(bin(), { loop: 'preview', 'pr-number': '101', 'dry-run': 'true' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('namespace: jetscale-pr-101');
    expect(r.stdout).toContain('host: pr-101.app.jetscale.ai');
    expect(r.stdout).toMatch(/kubectl get namespace jetscale-pr-101/);
    expect(r.outputs).toMatch(/namespace<<.*\njetscale-pr-101\n/);
    expect(r.summary).toContain('jetscale-pr-101');
  });

  test('a bad input fails the step naming the input, before anything runs', () => {
    const r = runAction(bin(), { loop: 'preview', 'pr-number': '007', 'dry-run': 'true' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('::error::Invalid input \'pr-number\': "007"');
    expect(r.stdout).not.toMatch(/kubectl|skaffold|helm/);
  });

  test('the CLI bundle prints a JSON plan', () => {
    const r = spawnSync(
      bin(),
      [join(repoRoot, 'dist/cli/index.js'), 'plan', 'preview', '--pr', '101', '--json'],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      },
    );
    expect(r.status).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.names).toMatchObject({ namespace: 'jetscale-pr-101', host: 'pr-101.app.jetscale.ai' });
    expect(plan.commands.length).toBeGreaterThan(2);
  });
});
