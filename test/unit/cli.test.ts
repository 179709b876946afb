import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cli, exitCode, TASKS } from '../../src/cli-impl.js';
import { ContextRefused, TeardownRefused } from '../../src/loops/index.js';
import { InputError } from '../../src/validate.js';
import { RecordingExecutor } from '../support/recording-executor.js';

function io(env: Record<string, string> = {}, exec = new RecordingExecutor()) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    exec,
    out,
    err,
    io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env, executor: () => exec },
  };
}

describe("the CLI reads the user's own values files wherever they are", () => {
  test('a values file outside the working directory (as Tilt passes JETSCALE_VALUES_FILE) is read, not refused', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cli-values-')), 'mine.yaml');
    writeFileSync(file, 'services:\n  backend:\n    replicas: 2\n');
    const t = io();
    const code = await cli(
      ['plan', 'ci-kind', '--values', file, '--image', 'backend=r/b:1', '--image', 'frontend=r/f:1'],
      t.io,
    );
    expect(t.err.join(''), t.err.join('')).not.toContain('outside the workspace');
    expect(code, t.err.join('')).toBe(0);
  });
});

describe('stack -l and --help', () => {
  test('-l lists every task with a one-line description', async () => {
    const t = io();
    expect(await cli(['-l'], t.io)).toBe(0);
    const text = t.out.join('');
    for (const name of [
      'dev',
      'clean',
      'ci',
      'test:local',
      'test:ci',
      'test:preview',
      'test:live',
      'deploy preview',
      'deploy live',
    ]) {
      expect(text).toMatch(new RegExp(`^${name.replace(':', ':')}\\s+\\S.*$`, 'm'));
    }
    expect(text.trim().split('\n')).toHaveLength(TASKS.length);
  });

  test('an unknown task or flag is a usage error (exit 2)', async () => {
    const t = io();
    expect(await cli(['deploy', 'staging'], t.io)).toBe(2);
    expect(t.err.join('')).toContain('deploy needs a target: preview or live');
    expect(await cli(['ci', '--frobnicate'], t.io)).toBe(2);
    expect(t.exec.commands).toHaveLength(0);
  });
});

describe('plan', () => {
  test('plan preview --json carries the derived names and the commands; PR_NUMBER and GIT_SHA come from the environment', async () => {
    const t = io({ PR_NUMBER: '101', GIT_SHA: '4f2c9e1' });
    expect(await cli(['plan', 'preview', '--json'], t.io)).toBe(0);
    const plan = JSON.parse(t.out.join(''));
    expect(plan.names).toMatchObject({
      namespace: 'jetscale-pr-101',
      host: 'pr-101.app.jetscale.ai',
      sha: '4f2c9e1',
      release: 'pr-101',
    });
    expect(plan.commands[0].command).toBe('kubectl get namespace jetscale-pr-101 --ignore-not-found -o json');
    expect(t.exec.commands).toHaveLength(0);
  });

  test("plan preview of a second repository's PR: its own names, and the baseline for what it does not build", async () => {
    const t = io({ GITHUB_REPOSITORY: 'jetscale/frontend' });
    const argv = [
      'plan',
      'preview',
      '--pr',
      '101',
      '--primary-repo',
      'jetscale/backend',
      '--image',
      'frontend=r/f:1',
      '--json',
    ];
    expect(await cli(argv, t.io)).toBe(0);
    const plan = JSON.parse(t.out.join(''));
    expect(plan.names).toMatchObject({
      namespace: 'jetscale-pr-101-frontend-ea5f768e',
      host: 'pr-101-frontend-ea5f768e.app.jetscale.ai',
      release: 'pr-101-frontend-ea5f768e',
    });
    const commands = plan.commands.map((c: { command: string }) => c.command);
    expect(commands[1]).toMatch(/^kubectl get configmaps -n jetscale-baseline -l /);
    expect(commands.find((c: string) => c.startsWith('skaffold'))).toContain(
      '--images frontend=r/f:1 --images backend=baseline.invalid/backend:as-recorded',
    );
    expect(t.exec.commands).toHaveLength(0);
  });
});

describe('exit codes', () => {
  test.each([
    ['bad input', new InputError(['x']), 2],
    ['live context refused', new ContextRefused('x'), 2],
    [
      'a preview or teardown refused for a namespace someone else owns',
      new TeardownRefused('ns', { prNumber: 1 }, {}),
      1,
    ],
    ['a failed loop', new Error('x'), 1],
  ])('%s exits %i', (_name, error, code) => {
    expect(exitCode(error)).toBe(code);
  });
});

describe('deploy live is guarded', () => {
  test('refused without the live context', async () => {
    const t = io();
    expect(await cli(['deploy', 'live', '--confirm'], t.io)).toBe(2);
    expect(t.err.join('')).toContain('needs the live kube context');
    expect(t.exec.commands).toHaveLength(0);
  });

  test('refused without --confirm', async () => {
    const t = io({ JETSCALE_LIVE_CONTEXT: 'prod', LIVE_URL: 'https://app.jetscale.ai' });
    expect(await cli(['deploy', 'live'], t.io)).toBe(2);
    expect(t.err.join('')).toContain('add --confirm');
    expect(t.exec.commands).toHaveLength(0);
  });

  test('refused when the current kube context is another one: nothing is deployed', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl config current-context/, {
      stdout: 'kind-jetscale-local\n',
    });
    const t = io({}, exec);
    expect(
      await cli(
        ['deploy', 'live', '--context', 'prod', '--url', 'https://app.jetscale.ai', '--confirm'],
        t.io,
      ),
    ).toBe(2);
    expect(t.err.join('')).toContain(
      'the current kube context is "kind-jetscale-local", not the live context "prod"',
    );
    expect(exec.lines()).toEqual(['kubectl config current-context']);
  });

  test('deploys with the live profile when context and confirmation match', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl config current-context/, { stdout: 'prod\n' });
    const t = io({ GIT_SHA: '4f2c9e1' }, exec);
    expect(
      await cli(
        [
          'deploy',
          'live',
          '--context',
          'prod',
          '--url',
          'https://app.jetscale.ai',
          '--confirm',
          '--image',
          'backend=r/b:1',
        ],
        t.io,
      ),
    ).toBe(0);
    // [1] looks for the release's failed migration Jobs (removed so they run again), [2] the deployed revision
    expect(exec.lines()[3]).toMatch(
      /^skaffold deploy -f \S+\/skaffold-deploy-live\.yaml -p live --kube-context prod --namespace jetscale --images backend=r\/b:1 --default-repo= --status-check=true$/,
    );
    expect(exec.commands[3]?.env).toMatchObject({
      JETSCALE_HOST: 'app.jetscale.ai',
      JETSCALE_SHA: '4f2c9e1',
    });
  });

  test('--kubeconfig reaches the context check and the deploy', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl config current-context/, { stdout: 'prod\n' });
    const t = io({}, exec);
    const args = ['deploy', 'live', '--context', 'prod', '--url', 'https://app.jetscale.ai', '--confirm'];
    const file = join(mkdtempSync(join(tmpdir(), 'cli-')), 'live.kubeconfig');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\n');
    expect(await cli([...args, '--kubeconfig', file], t.io), t.err.join('')).toBe(0);
    expect(exec.commands.map((c) => c.env?.KUBECONFIG)).toEqual([file, file, file, file]);
  });

  test('plan deploy-live prints the context check and the deploy, executing nothing', async () => {
    const t = io();
    const args = ['plan', 'deploy-live', '--context', 'prod', '--url', 'https://app.jetscale.ai', '--json'];
    expect(await cli(args, t.io), t.err.join('')).toBe(0);
    const plan = JSON.parse(t.out.join(''));
    expect(plan.commands.map((c: { command: string }) => c.command)).toEqual([
      'kubectl config current-context',
      'kubectl get jobs -n jetscale -l app.kubernetes.io/instance=jetscale,app.kubernetes.io/component=migration,app.kubernetes.io/managed-by=Helm -o json',
      'helm history jetscale --namespace jetscale --kube-context prod --max 20 -o json',
      expect.stringMatching(
        /^skaffold run -f \S+\/skaffold-deploy-live\.yaml -p live --kube-context prod --namespace jetscale --status-check=true$/,
      ),
    ]);
    expect(t.exec.commands).toHaveLength(0);
  });

  test('refused without the live URL', async () => {
    const t = io({ JETSCALE_LIVE_CONTEXT: 'prod' });
    expect(await cli(['deploy', 'live', '--confirm'], t.io)).toBe(2);
    expect(t.err.join('')).toContain('deploy live needs the live URL');
    expect(t.exec.commands).toHaveLength(0);
  });
});

describe('a failed live deploy is rolled back', () => {
  const args = [
    'deploy',
    'live',
    '--context',
    'prod',
    '--url',
    'https://app.jetscale.ai',
    '--confirm',
    '--timeout',
    '90s',
    '--image',
    'backend=r/b:2',
  ];
  const history = (...revisions: Array<[number, string]>) =>
    JSON.stringify(revisions.map(([revision, status]) => ({ revision, status, description: '' })));
  const notReady =
    'deployment/jetscale-backend failed. Error: container backend is running but not ready: Readiness probe failed.';
  const live = () => new RecordingExecutor().reply(/^kubectl config current-context/, { stdout: 'prod\n' });

  test('the deploy fails after Helm recorded a new revision: helm rollback to the one deployed before, and the CLI fails with the reason', async () => {
    const exec = live()
      .replyOnce(/^helm history/, { stdout: history([6, 'superseded'], [7, 'deployed']) })
      .reply(/^helm history/, { stdout: history([6, 'superseded'], [7, 'superseded'], [8, 'deployed']) })
      .reply(/^skaffold deploy/, {
        exitCode: 1,
        stdout: `Waiting for deployments to stabilize...\n - jetscale:${notReady}\n`,
        stderr: 'level=warning msg="image is not used."',
      });
    const t = io({}, exec);
    expect(await cli(args, t.io)).toBe(1);
    expect(exec.lines().slice(2)).toEqual([
      'helm history jetscale --namespace jetscale --kube-context prod --max 20 -o json',
      expect.stringMatching(/^skaffold deploy .* --images backend=r\/b:2 /),
      'helm history jetscale --namespace jetscale --kube-context prod --max 20 -o json',
      'helm rollback jetscale 7 --namespace jetscale --kube-context prod --wait --timeout 90s',
    ]);
    expect(t.out.join('')).toContain(
      'rolling the release jetscale (namespace jetscale) back from revision 8 to revision 7, the last deployed before it (helm rollback)',
    );
    const err = t.err.join('');
    expect(err).toContain(`Skaffold said:\nWaiting for deployments to stabilize...\n - jetscale:${notReady}`);
    expect(err).toContain('Rolled back: the release jetscale (namespace jetscale) runs revision 7 again');
  });

  test('the rollback target is the last deployed revision, not the newest one (a failed one left by hand)', async () => {
    const exec = live()
      .replyOnce(/^helm history/, { stdout: history([3, 'deployed'], [4, 'failed']) })
      .reply(/^helm history/, { stdout: history([3, 'deployed'], [4, 'failed'], [5, 'deployed']) })
      .reply(/^skaffold deploy/, { exitCode: 1, stderr: notReady });
    const t = io({}, exec);
    expect(await cli(args, t.io)).toBe(1);
    expect(exec.lines().at(-1)).toBe(
      'helm rollback jetscale 3 --namespace jetscale --kube-context prod --wait --timeout 90s',
    );
  });

  test.each([
    [
      'a first install that fails has nothing to roll back to',
      '',
      'Error: release: not found',
      history([1, 'deployed']),
      'Not rolled back: the release jetscale (namespace jetscale) had no deployed revision before this deploy.',
    ],
    [
      'a deploy that fails before Helm records a revision (a render error) leaves the release as it was',
      history([2, 'deployed']),
      '',
      history([2, 'deployed']),
      'Not rolled back: Helm recorded no new revision, the release jetscale (namespace jetscale) is still at revision 2.',
    ],
  ])('%s: no rollback, the reason and why', async (_name, before, beforeErr, after, why) => {
    const exec = live()
      .replyOnce(/^helm history/, before ? { stdout: before } : { exitCode: 1, stderr: beforeErr })
      .reply(/^helm history/, { stdout: after })
      .reply(/^skaffold deploy/, { exitCode: 1, stderr: notReady });
    const t = io({}, exec);
    expect(await cli(args, t.io)).toBe(1);
    expect(exec.lines().filter((l) => l.startsWith('helm rollback'))).toEqual([]);
    expect(t.err.join('')).toContain(notReady);
    expect(t.err.join('')).toContain(why);
  });

  test('a rollback that fails too says so, with the command to run', async () => {
    const exec = live()
      .replyOnce(/^helm history/, { stdout: history([7, 'deployed']) })
      .reply(/^helm history/, { stdout: history([7, 'superseded'], [8, 'deployed']) })
      .reply(/^skaffold deploy/, { exitCode: 1, stderr: notReady })
      .reply(/^helm rollback/, { exitCode: 1, stderr: 'Error: timed out waiting for the condition' });
    const t = io({}, exec);
    expect(await cli(args, t.io)).toBe(1);
    const err = t.err.join('');
    expect(err).toContain(notReady);
    expect(err).toContain('The rollback to revision 7 failed too: ');
    expect(err).toContain('timed out waiting for the condition');
    expect(err).toContain('Run: helm rollback jetscale 7 --namespace jetscale --kube-context prod');
  });

  test('a deploy that succeeds rolls nothing back', async () => {
    const exec = live().reply(/^helm history/, { stdout: history([7, 'deployed']) });
    const t = io({}, exec);
    expect(await cli(args, t.io), t.err.join('')).toBe(0);
    expect(exec.lines().filter((l) => l.startsWith('helm'))).toEqual([
      'helm history jetscale --namespace jetscale --kube-context prod --max 20 -o json',
    ]);
  });

  test('when the history cannot be read, nothing is deployed (a failure could not be rolled back)', async () => {
    const exec = live().reply(/^helm history/, {
      exitCode: 1,
      stderr: 'Error: Kubernetes cluster unreachable: connection refused',
    });
    const t = io({}, exec);
    expect(await cli(args, t.io)).toBe(1);
    expect(exec.lines().filter((l) => l.startsWith('skaffold'))).toEqual([]);
    expect(t.err.join('')).toContain('Kubernetes cluster unreachable');
  });
});

describe('stack declaration: what a stage deploys, for Tilt and for people', () => {
  test("prints the stage's services with their ports, needs, readiness path and laptop port; a values file changes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-declaration-'));
    const file = join(dir, 'more.yaml');
    writeFileSync(file, 'services:\n  frontend: { dev: { localPort: 3000 } }\n');
    const t = io({ JETSCALE_STACK_DIR: new URL('../..', import.meta.url).pathname });
    expect(await cli(['declaration', 'local', '--values', file], t.io)).toBe(0);
    const d = JSON.parse(t.out.join('')) as { services: Array<Record<string, unknown>>; checks: unknown[] };
    expect(d.services.map((s) => [s.name, s.port, s.localPort, s.readinessPath, s.needs])).toEqual([
      ['backend', 8080, 8081, '/readyz', ['postgres', 'redis']],
      ['frontend', 8080, 3000, '/healthz', ['backend']],
    ]);
    expect(d.checks.length).toBeGreaterThan(0);
  });

  test('an unknown stage is a usage error naming the stages', async () => {
    const t = io();
    expect(await cli(['declaration', 'prod'], t.io)).toBe(2);
    expect(t.err.join('')).toContain('declaration takes a stage: local, ci, preview or live (got "prod")');
  });
});

describe('the laptop loop: dev:plan, dev and clean', () => {
  /** <root>/stack: a chart declaring api (bundled example examples/api with a dev stage). */
  function stack(): { root: string; dir: string } {
    const root = mkdtempSync(join(tmpdir(), 'cli-dev-'));
    const dir = join(root, 'stack');
    mkdirSync(join(dir, 'charts', 'app'), { recursive: true });
    mkdirSync(join(dir, 'examples', 'api'), { recursive: true });
    writeFileSync(
      join(dir, 'charts', 'app', 'values.yaml'),
      [
        'services:',
        '  api:',
        '    port: 8080',
        '    build: { context: examples/api, dockerfile: Dockerfile, devTarget: dev, example: examples/api }',
        '    dev: { localPort: 8081 }',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'charts', 'app', 'values.local.yaml'), 'global: { environment: local }\n');
    writeFileSync(join(dir, 'examples', 'api', 'Dockerfile'), 'FROM node:24 AS dev\n');
    writeFileSync(join(dir, 'examples', 'api', 'package.json'), '{}');
    return { root, dir };
  }

  test('dev:plan prints the plan as JSON and --write-values writes the chart values', async () => {
    const { root, dir } = stack();
    const t = io({ JETSCALE_STACK_DIR: dir });
    const values = join(root, 'laptop-values.json');
    expect(await cli(['dev:plan', '--write-values', values], { ...t.io, cwd: root })).toBe(0);
    const plan = JSON.parse(t.out.join(''));
    expect(plan.problems).toEqual([]);
    expect(plan.services).toMatchObject([
      {
        name: 'api',
        source: 'example',
        context: join(dir, 'examples', 'api'),
        target: 'dev',
        localPort: 8081,
        run: [{ command: 'npm install' }],
      },
    ]);
    expect(JSON.parse(readFileSync(values, 'utf8'))).toEqual({
      services: { api: { image: { repository: 'api', pullPolicy: 'IfNotPresent' } } },
    });
  });

  test('dev:plan --sources and --values: a sibling elsewhere, the dev command from a values file', async () => {
    const { root, dir } = stack();
    mkdirSync(join(root, 'code', 'api'), { recursive: true });
    writeFileSync(join(root, 'code', 'api', 'Dockerfile'), 'FROM golang AS dev\n');
    writeFileSync(join(root, 'dev.yaml'), 'services:\n  api:\n    dev: { command: [air] }\n');
    const t = io({ JETSCALE_STACK_DIR: dir });
    expect(await cli(['dev:plan', '--sources', 'code', '--values', 'dev.yaml'], { ...t.io, cwd: root })).toBe(
      0,
    );
    const plan = JSON.parse(t.out.join(''));
    expect(plan.services[0]).toMatchObject({ source: 'sibling', context: join(root, 'code', 'api') });
    expect(plan.values.services.api.command).toEqual(['air']);
  });

  test('dev:plan reports problems in its JSON (the Tiltfile fails on them), exit 0', async () => {
    const { root, dir } = stack();
    mkdirSync(join(root, 'api'));
    const t = io({ JETSCALE_STACK_DIR: dir });
    expect(await cli(['dev:plan'], { ...t.io, cwd: root })).toBe(0);
    expect(JSON.parse(t.out.join('')).problems).toEqual([
      expect.stringContaining(`api: the sibling checkout ${join(root, 'api')} has no Dockerfile`),
    ]);
  });

  test('dev refuses with exit 2 and every problem before Tilt starts', async () => {
    const { root, dir } = stack();
    mkdirSync(join(root, 'api'));
    const t = io({ JETSCALE_STACK_DIR: dir });
    expect(await cli(['dev'], { ...t.io, cwd: root })).toBe(2);
    expect(t.err.join('')).toContain(
      `The laptop loop cannot build these services as declared:\n- api: the sibling checkout ${join(root, 'api')} has no Dockerfile at ${join(root, 'api', 'Dockerfile')}`,
    );
    expect(t.exec.commands).toEqual([]);
  });

  test('dev says what it builds from where, then runs tilt up with the sources and values it was given', async () => {
    const { root, dir } = stack();
    mkdirSync(join(root, 'code', 'api'), { recursive: true });
    writeFileSync(join(root, 'code', 'api', 'Dockerfile'), 'FROM node:24 AS dev\n');
    writeFileSync(join(root, 'extra.yaml'), 'services: {}\n');
    const t = io({ JETSCALE_STACK_DIR: dir });
    expect(await cli(['dev', '--sources', 'code', '--values', 'extra.yaml'], { ...t.io, cwd: root })).toBe(0);
    expect(t.out.join('')).toContain(
      `api: building the sibling checkout at ${join(root, 'code', 'api')} (Dockerfile Dockerfile, target dev)`,
    );
    expect(t.exec.lines()).toEqual([`tilt up --file ${join(dir, 'Tiltfile')}`]);
    expect(t.exec.commands[0]?.env).toEqual({
      JETSCALE_SOURCES_DIR: join(root, 'code'),
      JETSCALE_VALUES_FILE: join(root, 'extra.yaml'),
    });
  });

  test('clean deletes even when a sibling cannot be built (deleting builds nothing)', async () => {
    const { root, dir } = stack();
    mkdirSync(join(root, 'api'));
    const t = io({ JETSCALE_STACK_DIR: dir });
    expect(await cli(['clean'], { ...t.io, cwd: root })).toBe(0);
    expect(t.exec.lines()).toEqual([
      `tilt down --file ${join(dir, 'Tiltfile')}`,
      'kind delete cluster --name jetscale-local',
    ]);
  });
});
