import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { State } from '../../src/constants.js';
import { runContext } from '../../src/context.js';
import { readDeclaration } from '../../src/declaration.js';
import { dryRunLoopDeps } from '../../src/deps.js';
import { planBuild } from '../../src/loops/build.js';
import {
  ContractFailure,
  chartValues,
  extraValues,
  planNames,
  runLoop,
  TeardownRefused,
} from '../../src/loops/index.js';
import { parseInputs, type RawInputs } from '../../src/validate.js';
import { deps, passing, recordingReporter, run, runCtx, tmp } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';
import { repoRoot } from '../support/tools.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
function inputs(raw: RawInputs) {
  return parseInputs({ 'git-sha': SHA, ...raw });
}

// A preview deployed and seeded before: a redeploy into it does not seed again (src/loops/seed.ts).
const owned = JSON.stringify({
  metadata: {
    uid: 'uid-101',
    resourceVersion: '42',
    labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' },
    annotations: { 'jetscale.ai/seeded-at': '2026-04-30T08:00:00Z' },
  },
});
const foreign = JSON.stringify({ metadata: { labels: { team: 'payments' } } });

describe('dry run prints the exact commands in order and executes nothing', () => {
  const c = runCtx();
  const kubeconfig = join(c.tempDir, 'jetscale-ci-a1b2c3-777-2.kubeconfig');
  test.each([
    [
      'preview with images',
      {
        loop: 'preview',
        'pr-number': '101',
        images: 'backend=r/backend:1\nfrontend=r/frontend:1',
        'dry-run': 'true',
      },
      [
        'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
        'kubectl create -f -',
        'kubectl get jobs -n jetscale-pr-101 -l app.kubernetes.io/instance=pr-101,app.kubernetes.io/component=migration,app.kubernetes.io/managed-by=Helm -o json',
        // a new preview seeds (the example backend declares a seed): earlier seed Jobs, none in a new namespace
        'kubectl get jobs -n jetscale-pr-101 -l app.kubernetes.io/instance=pr-101,app.kubernetes.io/component=seed,app.kubernetes.io/managed-by=Helm -o json',
        `skaffold deploy -f ${c.tempDir}/skaffold-preview.yaml -p preview --namespace jetscale-pr-101 --images backend=r/backend:1 --images frontend=r/frontend:1 --default-repo= --status-check=false`,
        // "ready" and "seed" side by side
        'kubectl get deployments,statefulsets,jobs -n jetscale-pr-101 -o json',
        'kubectl get jobs -n jetscale-pr-101 -l app.kubernetes.io/instance=pr-101,app.kubernetes.io/component=seed,app.kubernetes.io/managed-by=Helm -o json',
        'kubectl get job <each> -n jetscale-pr-101 -o json',
        'kubectl get job <each> -n jetscale-pr-101 -o json',
        'kubectl rollout status statefulset/<each> -n jetscale-pr-101 --timeout=600s',
        'kubectl rollout status deployment/<each> -n jetscale-pr-101 --timeout=600s',
        'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
        `kubectl patch namespace jetscale-pr-101 --type=merge -p {"metadata":{"annotations":{"jetscale.ai/seeded-at":"<now>"},"resourceVersion":"<version>"}}`,
      ],
    ],
    [
      'teardown',
      { loop: 'teardown', 'pr-number': '101', 'dry-run': 'true', timeout: '5m' },
      [
        'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
        'helm uninstall pr-101 --namespace jetscale-pr-101 --wait --timeout 300s --ignore-not-found',
        'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
        'kubectl delete --raw /api/v1/namespaces/jetscale-pr-101 -f -',
        'kubectl wait --for=delete namespace/jetscale-pr-101 --timeout=300s',
      ],
    ],
    [
      'ci-kind',
      { loop: 'ci-kind', images: 'backend=r/backend:1\nfrontend=r/frontend:1', 'dry-run': 'true' },
      [
        'kind get clusters',
        `kind create cluster --name jetscale-ci-a1b2c3-777-2 --config ${repoRoot}/kind/cluster.ci.yaml --image kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a --kubeconfig ${kubeconfig}`,
        'kind get nodes --name jetscale-ci-a1b2c3-777-2',
        'docker exec jetscale-ci-a1b2c3-777-2-control-plane ctr --namespace k8s.io version',
        `bash -o pipefail -c 'node="$1"; shift; docker save "$@" | docker exec -i "$node" ctr --namespace=k8s.io images import --all-platforms --digests --no-unpack -' import-images jetscale-ci-a1b2c3-777-2-control-plane r/backend:1 r/frontend:1`,
        'kubectl apply -f -',
        `skaffold deploy -f ${c.tempDir}/skaffold-ci-kind.yaml -p ci-kind --kube-context kind-jetscale-ci-a1b2c3-777-2 --namespace jetscale-ci --images backend=r/backend:1 --images frontend=r/frontend:1 --default-repo= --status-check=false`,
        'kubectl get deployments,statefulsets,jobs -n jetscale-ci -o json',
        'kubectl get job <each> -n jetscale-ci -o json',
        'kubectl rollout status statefulset/<each> -n jetscale-ci --timeout=600s',
        'kubectl rollout status deployment/<each> -n jetscale-ci --timeout=600s',
        'kubectl port-forward -n jetscale-ci service/app-backend --address 127.0.0.1 :80',
        'kubectl port-forward -n jetscale-ci service/app-frontend --address 127.0.0.1 :80',
        'kind delete cluster --name jetscale-ci-a1b2c3-777-2',
      ],
    ],
    ['live', { loop: 'live', url: 'https://app.jetscale.ai', 'dry-run': 'true' }, []],
  ])('%s', async (_name, raw, expected) => {
    const printed: string[] = [];
    const d = dryRunLoopDeps(inputs(raw as RawInputs), (l) => printed.push(l));
    const result = await runLoop(inputs(raw as RawInputs), c, d);
    expect(result.error).toBeUndefined();
    const now = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g;
    expect(
      d.exec.commands.map((cmd) => [cmd.cmd, ...cmd.args].join(' ').replace(/'/g, '').replace(now, '<now>')),
    ).toEqual(expected.map((e) => e.replace(/'/g, '')));
    expect(printed.filter((l) => /^ ?\d+\. /.test(l))).toHaveLength(expected.length);
    expect(existsSync(c.tempDir)).toBe(false); // no file written, not even the private dir
  });

  test('a values file is named, not printed: it may hold secrets', async () => {
    const file = join(tmp, 'secret-values.yaml');
    writeFileSync(file, 'services:\n  backend:\n    env:\n      API_KEY: hunter2-secret\n');
    const printed: string[] = [];
    const raw: RawInputs = { loop: 'preview', 'pr-number': '101', values: file, 'dry-run': 'true' };
    await runLoop(
      inputs(raw),
      runCtx(),
      dryRunLoopDeps(inputs(raw), (l) => printed.push(l)),
    );
    expect(printed.join('\n')).not.toContain('hunter2-secret');
    expect(printed.join('\n')).toMatch(/# write .*values-preview\.yaml/);
  });
});

describe('teardown deletes only what we created', () => {
  test('refuses a namespace without our labels and deletes nothing', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: foreign });
    const reporter = recordingReporter();
    await expect(
      run(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec, { reporter }).d),
    ).rejects.toBeInstanceOf(TeardownRefused);
    expect(exec.lines()).toEqual(['kubectl get namespace jetscale-pr-101 --ignore-not-found -o json']);
    expect(reporter.calls).toEqual([]);
  });

  test('refuses a namespace labelled for another PR', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, {
      stdout: owned.replace('"101"', '"102"'),
    });
    await expect(
      run(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec).d),
    ).rejects.toThrow(/Refusing to tear down namespace jetscale-pr-101.*Nothing was deleted/);
    expect(exec.lines().filter((l) => /delete|uninstall/.test(l))).toEqual([]);
  });

  test('removes release and namespace when they are ours, then reports', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    const reporter = recordingReporter();
    await run(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec, { reporter }).d);
    expect(exec.lines().slice(1)).toEqual([
      'helm uninstall pr-101 --namespace jetscale-pr-101 --wait --timeout 600s --ignore-not-found',
      'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
      'kubectl delete --raw /api/v1/namespaces/jetscale-pr-101 -f -',
      'kubectl wait --for=delete namespace/jetscale-pr-101 --timeout=600s',
    ]);
    // The delete names the object that was checked: the API server refuses it for any other, or a changed one.
    expect(JSON.parse(exec.commands[3]?.input ?? '{}')).toMatchObject({
      preconditions: { uid: 'uid-101', resourceVersion: '42' },
    });
    expect(reporter.calls).toEqual(['teardown']);
  });

  test.each([
    [
      'relabelled for another PR during the uninstall',
      { metadata: { uid: 'uid-101', resourceVersion: '43', labels: { 'jetscale.ai/pr': '7' } } },
      /belongs to someone else .*not to this run \(no repository given\) PR #101.*Nothing was deleted/,
    ],
    [
      'replaced by another namespace of that name during the uninstall',
      JSON.parse(owned.replace('uid-101', 'uid-other')),
      /was replaced during the uninstall \(UID uid-101, now uid-other\)/,
    ],
  ])(
    'teardown re-checks ownership right before deleting: a namespace %s is not deleted',
    async (_n, now, why) => {
      // The first look finds it ours; the look right before the delete finds it changed.
      const exec = new RecordingExecutor()
        .reply(/^kubectl get namespace/, { stdout: JSON.stringify(now) })
        .replyOnce(/^kubectl get namespace/, { stdout: owned });
      const result = await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec).d);
      expect(result.error?.message).toMatch(why);
      expect(exec.lines().filter((l) => l.startsWith('kubectl delete'))).toEqual([]);
    },
  );

  test('a namespace the API server will not delete on the checked UID and version is refused, not retried', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: owned })
      .reply(/^kubectl delete --raw/, {
        exitCode: 1,
        stderr:
          'Error from server (Conflict): Operation cannot be fulfilled: Precondition failed: UID in precondition',
      });
    const result = await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec).d);
    expect(result.error?.message).toMatch(/changed after the ownership check/);
    expect(exec.lines().filter((l) => l.startsWith('kubectl wait'))).toEqual([]);
  });

  test('a namespace gone between the check and the delete is torn down (a second teardown racing the first)', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: owned })
      .reply(/^kubectl delete --raw/, {
        exitCode: 1,
        stderr: 'Error from server (NotFound): namespaces "x" not found',
      });
    const reporter = recordingReporter();
    const result = await runLoop(
      inputs({ loop: 'teardown', 'pr-number': '101' }),
      runCtx(),
      deps(exec, { reporter }).d,
    );
    expect(result.error).toBeUndefined();
    expect(reporter.calls).toEqual(['teardown']);
  });

  test('is a no-op when the namespace is already gone (idempotent), and still reports', async () => {
    const exec = new RecordingExecutor();
    const reporter = recordingReporter();
    await run(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec, { reporter }).d);
    await run(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec, { reporter }).d);
    expect(exec.lines()).toEqual([
      'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
      'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
    ]);
    expect(reporter.calls).toEqual(['teardown', 'teardown']);
  });
});

describe('a kubeconfig given as content reaches every loop that talks to a cluster', () => {
  const content = 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n';
  test('teardown (the reusable workflow passes a secret, not a file)', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    const c = runCtx();
    await run(inputs({ loop: 'teardown', 'pr-number': '101', kubeconfig: content }), c, deps(exec).d);
    const file = exec.commands[0]?.env?.KUBECONFIG as string;
    expect(file).toBe(join(c.tempDir, 'kubeconfig'));
    expect(statSync(c.tempDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(exec.commands.every((c) => c.env?.KUBECONFIG === file)).toBe(true);
  });

  test('live: the test-command gets KUBECONFIG and JETSCALE_URL', async () => {
    const exec = new RecordingExecutor();
    const c = runCtx();
    await run(
      inputs({ loop: 'live', url: 'https://app.jetscale.ai', kubeconfig: content, 'test-command': 'true' }),
      c,
      deps(exec).d,
    );
    expect(exec.commands).toHaveLength(1);
    expect(exec.commands[0]?.env).toMatchObject({
      KUBECONFIG: join(c.tempDir, 'kubeconfig'),
      JETSCALE_URL: 'https://app.jetscale.ai',
    });
    expect(readFileSync(join(c.tempDir, 'kubeconfig'), 'utf8')).toBe(content);
  });
});

describe('preview', () => {
  test('its steps, GitHub reporting included, each with a start and an end line, nested where they ran', async () => {
    const reporter = recordingReporter();
    const { d, log } = deps(new RecordingExecutor(), { reporter });
    const result = await run(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      d,
    );
    // in the order they started (their start lines: milliseconds alone cannot order steps started in the same one)
    const started = log.filter((l) => l.startsWith('▶ ')).map((l) => l.slice(2));
    // a new preview seeds: "seed" runs beside "ready"
    expect(started).toEqual([
      'tools',
      'namespace',
      'GitHub report (in progress)',
      'deploy',
      'ready',
      'seed',
      'contract checks',
      'GitHub PR state',
      'GitHub report (success)',
    ]);
    const step = (name: string) => result.steps.find((s) => s.name === name);
    const [deployed, seed, checks] = [step('deploy'), step('seed'), step('contract checks')];
    expect(seed?.startMs).toBeGreaterThanOrEqual((deployed?.startMs ?? 0) + (deployed?.ms ?? 0));
    expect((seed?.startMs ?? 0) + (seed?.ms ?? 0)).toBeLessThanOrEqual(checks?.startMs ?? 0);
    const [outer, inner] = [step('namespace'), step('GitHub report (in progress)')];
    expect(inner?.startMs).toBeGreaterThanOrEqual(outer?.startMs ?? Number.NaN);
    expect((inner?.startMs ?? 0) + (inner?.ms ?? 0)).toBeLessThanOrEqual(
      (outer?.startMs ?? 0) + (outer?.ms ?? 0),
    );
    for (const { name } of result.steps) {
      expect(log).toContain(`▶ ${name}`);
      expect(
        log.filter((l) => new RegExp(`^✓ ${name.replace(/[()]/g, '\\$&')} \\(\\d+\\.\\d s\\)$`).test(l)),
      ).toHaveLength(1);
    }
  });

  test('refuses to deploy into an existing namespace that is not ours', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: foreign });
    await expect(
      run(inputs({ loop: 'preview', 'pr-number': '101' }), runCtx(), deps(exec).d),
    ).rejects.toThrow(/Refusing to deploy into namespace jetscale-pr-101/);
    expect(exec.lines()).toHaveLength(1);
  });

  test('redeploy into our namespace records the new SHA and the deploy time instead of creating it', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    await run(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      deps(exec, { now: () => new Date('2026-05-01T12:00:00.123Z') }).d,
    );
    // One patch, only on the version the ownership check read.
    expect(exec.lines()[1]).toBe(
      `kubectl patch namespace jetscale-pr-101 --type=merge -p '${JSON.stringify({
        metadata: {
          annotations: {
            'jetscale.ai/sha': SHA,
            'jetscale.ai/images': JSON.stringify([
              { service: 'backend', ref: 'r/b:2', source: 'pr', from: 'this PR' },
              { service: 'frontend', ref: 'r/f:2', source: 'pr', from: 'this PR' },
            ]),
            // what the sweep's ttl counts from: every push extends it
            'jetscale.ai/last-deploy': '2026-05-01T12:00:00Z',
          },
          resourceVersion: '42',
        },
      })}'`,
    );
  });

  test('the values file Skaffold is handed bounds the wait for a pod that never gets ready by the timeout input', async () => {
    const written = new Map<string, string>();
    const exec = new RecordingExecutor();
    await run(
      inputs({
        loop: 'preview',
        'pr-number': '101',
        images: 'backend=r/b:2\nfrontend=r/f:2',
        timeout: '90s',
      }),
      runCtx(),
      deps(exec, { writeFile: (path, content) => written.set(path, content) }).d,
    );
    const skaffold = exec.commands.find((c) => c.cmd === 'skaffold');
    const handed = written.get(skaffold?.env?.JETSCALE_VALUES_FILE as string) ?? '';
    expect(YAML.parse(handed)).toEqual({
      // seed: a new preview (the recording executor answers no namespace)
      global: { progressDeadlineSeconds: 90, ownerLabels: { 'jetscale.ai/pr': '101' }, seed: true },
      services: {
        backend: { image: { repository: 'r/b', tag: '2' } },
        frontend: { image: { repository: 'r/f', tag: '2' } },
      },
    });
  });

  const workloads = {
    items: [
      { kind: 'Deployment', metadata: { name: 'pr-101-backend' } },
      { kind: 'StatefulSet', metadata: { name: 'pr-101-postgres' } },
      { kind: 'Job', metadata: { name: 'pr-101-backend-migrate-0123abcd' } },
    ],
  };
  const migrationJob = (condition?: object) =>
    JSON.stringify({
      metadata: {
        name: 'pr-101-backend-migrate-0123abcd',
        labels: { 'app.kubernetes.io/name': 'backend-migrate', 'app.kubernetes.io/component': 'migration' },
      },
      status: { active: 1, conditions: condition ? [condition] : [] },
    });

  test('waits for the migration Jobs first (polled until Complete), then StatefulSets, then Deployments', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get deployments,statefulsets,jobs/, { stdout: JSON.stringify(workloads) })
      .reply(/^kubectl get job /, { stdout: migrationJob({ type: 'Complete', status: 'True' }) })
      .replyOnce(/^kubectl get job /, { stdout: migrationJob() })
      .replyOnce(/^kubectl get job /, { stdout: migrationJob() });
    const slept: number[] = [];
    await run(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      deps(exec, { sleep: async (ms) => void slept.push(ms) }).d,
    );
    expect(exec.lines().filter((l) => /rollout|wait|get job /.test(l))).toEqual([
      'kubectl get job pr-101-backend-migrate-0123abcd -n jetscale-pr-101 -o json',
      'kubectl get job pr-101-backend-migrate-0123abcd -n jetscale-pr-101 -o json',
      'kubectl get job pr-101-backend-migrate-0123abcd -n jetscale-pr-101 -o json',
      'kubectl rollout status statefulset/pr-101-postgres -n jetscale-pr-101 --timeout=600s',
      'kubectl rollout status deployment/pr-101-backend -n jetscale-pr-101 --timeout=600s',
    ]);
    expect(slept).toEqual([2000, 2000]);
  });

  test('a failed migration fails the wait at once, and the comment quotes its last log lines, redacted', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: owned })
      .reply(/^kubectl get deployments,statefulsets,jobs/, { stdout: JSON.stringify(workloads) })
      .reply(/^kubectl get job /, {
        stdout: migrationJob({
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        }),
      })
      .reply(/^kubectl logs job\//, {
        stdout:
          'migrating\ncannot connect to postgres://jetscale:s3cretpassw0rd@pr-101-postgres:5432/jetscale\nexit status 1\n',
      });
    const reporter = recordingReporter();
    const result = await runLoop(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      deps(exec, { reporter, sleep: async () => expect.fail('a Failed Job is final: no second poll') }).d,
    );
    expect(result.error?.name).toBe('MigrationFailed');
    expect(exec.lines()).toContain(
      'kubectl logs job/pr-101-backend-migrate-0123abcd -n jetscale-pr-101 --all-containers --tail=50',
    );
    // nothing waits behind a failed migration
    expect(exec.lines().filter((l) => l.includes('rollout status'))).toEqual([]);
    expect(result.steps.find((s) => s.name === 'ready')).toMatchObject({ ok: false });
    // the failure is reported as a step of its own, after the failed one
    expect(result.steps.at(-1)).toMatchObject({ name: 'GitHub report (failure)', ok: true });
    const reason = reporter.deploys.at(-1)?.reason ?? '';
    expect(reason).toContain('migration backend failed: migrating');
    expect(reason).toContain('exit status 1');
    expect(reason).toContain('(job/pr-101-backend-migrate-0123abcd: BackoffLimitExceeded');
    expect(reason).not.toContain('s3cretpassw0rd');
  });

  test("a migration that failed before runs again: the release's Failed migration Jobs are removed before the deploy, Complete ones kept (review)", async () => {
    const job = (name: string, type: string) => ({
      metadata: {
        name,
        labels: { 'app.kubernetes.io/name': 'backend-migrate', 'app.kubernetes.io/component': 'migration' },
      },
      status: { conditions: [{ type, status: 'True' }] },
    });
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: owned })
      .reply(/^kubectl get jobs -n jetscale-pr-101 -l /, {
        stdout: JSON.stringify({
          items: [
            job('pr-101-backend-migrate-0123abcd', 'Failed'),
            job('pr-101-api-migrate-4567ef01', 'Complete'),
          ],
        }),
      });
    await run(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      deps(exec).d,
    );
    const lines = exec.lines();
    expect(lines).toContain(
      'kubectl get jobs -n jetscale-pr-101 -l app.kubernetes.io/instance=pr-101,app.kubernetes.io/component=migration,app.kubernetes.io/managed-by=Helm -o json',
    );
    const deletes = lines.filter((l) => l.startsWith('kubectl delete job'));
    expect(deletes).toEqual([
      'kubectl delete job pr-101-backend-migrate-0123abcd -n jetscale-pr-101 --ignore-not-found --cascade=foreground --wait=true',
    ]);
    // removed before Skaffold deploys, so the deploy re-creates it
    expect(lines.indexOf(deletes[0] as string)).toBeLessThan(
      lines.findIndex((l) => l.startsWith('skaffold')),
    );
  });

  test('a PR closed during the deploy is torn down again (no orphan)', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    const reporter = recordingReporter({ open: false });
    const result = await run(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      deps(exec, { reporter }).d,
    );
    expect(result.tornDownAfterClose).toBe(true);
    expect(exec.lines().slice(-4)).toEqual([
      'helm uninstall pr-101 --namespace jetscale-pr-101 --wait --timeout 600s --ignore-not-found',
      'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
      'kubectl delete --raw /api/v1/namespaces/jetscale-pr-101 -f -',
      'kubectl wait --for=delete namespace/jetscale-pr-101 --timeout=600s',
    ]);
    expect(reporter.calls).toEqual(['deploy:in_progress', 'teardown']);
  });

  test('contract failure: reported as failure, diagnostics collected, error names the check', async () => {
    const exec = new RecordingExecutor();
    const reporter = recordingReporter();
    const dirs: string[] = [];
    const { d } = deps(exec, {
      reporter,
      contract: async () => [
        {
          name: 'backend-ready',
          ok: false,
          url: 'https://pr-101.app.jetscale.ai/api/readyz',
          durationMs: 5,
          attempts: 3,
          detail: '503 redis down',
        },
      ],
      diagnostics: async ({ dir }) => {
        dirs.push(dir);
        return { summary: '1 pod not ready' };
      },
    });
    const error = await run(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2\nfrontend=r/f:2' }),
      runCtx(),
      d,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(ContractFailure);
    expect(error.message).toContain(
      'backend-ready (https://pr-101.app.jetscale.ai/api/readyz): 503 redis down',
    );
    expect(dirs).toHaveLength(1);
    expect(reporter.calls).toEqual(['deploy:in_progress', 'deploy:failure']);
  });
});

/** The recording executor's answer once `kind create` has made the node container. */
const withNode = (exec: RecordingExecutor) =>
  exec.reply(/^kind get nodes/, { stdout: 'jetscale-ci-a1b2c3-777-2-control-plane\n' });

describe('preview seeds (services.<name>.seed; the example backend declares one)', () => {
  const images = 'backend=r/b:2\nfrontend=r/f:2';
  const SEED_JOB = 'pr-101-backend-seed-89abcdef';
  const seedJob = (condition?: object) => ({
    metadata: {
      name: SEED_JOB,
      labels: { 'app.kubernetes.io/name': 'backend-seed', 'app.kubernetes.io/component': 'seed' },
    },
    status: { conditions: condition ? [condition] : [] },
  });
  const complete = { type: 'Complete', status: 'True' };
  const workloads = JSON.stringify({
    items: [
      { kind: 'Deployment', metadata: { name: 'pr-101-backend' } },
      { kind: 'Job', metadata: { name: SEED_JOB, labels: { 'app.kubernetes.io/component': 'seed' } } },
    ],
  });
  const SEED_LIST = /^kubectl get jobs -n jetscale-pr-101 -l \S*component=seed/;
  const namespace = (annotations: Record<string, string>) =>
    JSON.stringify({ ...JSON.parse(owned), metadata: { ...JSON.parse(owned).metadata, annotations } });
  const seededPatch = (line: string) =>
    line.startsWith('kubectl patch namespace') && line.includes('seeded-at');

  async function deploy(exec: RecordingExecutor, raw: RawInputs = {}) {
    const written = new Map<string, string>();
    const reporter = recordingReporter();
    const result = await runLoop(
      inputs({ loop: 'preview', 'pr-number': '101', images, ...raw }),
      runCtx(),
      deps(exec, {
        reporter,
        now: () => new Date('2026-05-01T12:00:00Z'),
        sleep: async () => {},
        writeFile: (path, content) => written.set(path, content),
      }).d,
    );
    const skaffold = exec.commands.find((c) => c.cmd === 'skaffold');
    const values = YAML.parse(written.get(skaffold?.env?.JETSCALE_VALUES_FILE as string) ?? '{}');
    return { result, values, reporter, lines: exec.lines() };
  }

  test('a new preview seeds: global.seed, the seed Job waited in a step "seed" beside "ready", then recorded', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: '' })
      .reply(/^kubectl get deployments,statefulsets,jobs/, { stdout: workloads })
      .reply(SEED_LIST, { stdout: JSON.stringify({ items: [seedJob()] }) })
      // before the deploy: no earlier seed Job to remove
      .replyOnce(SEED_LIST, { stdout: JSON.stringify({ items: [] }) })
      .reply(/^kubectl get job /, { stdout: JSON.stringify(seedJob(complete)) })
      .replyOnce(/^kubectl get job /, { stdout: JSON.stringify(seedJob()) })
      // absent at first; then the namespace the run created, read again for the version the record patches
      .replyOnce(/^kubectl get namespace/, { stdout: namespace({}) })
      .replyOnce(/^kubectl get namespace/, { stdout: '' });
    const { result, values, lines } = await deploy(exec);
    expect(result.error).toBeUndefined();
    expect(values.global.seed).toBe(true);
    expect(lines.filter((l) => l.startsWith('kubectl delete job'))).toEqual([]);
    const seed = result.steps.find((s) => s.name === 'seed');
    const ready = result.steps.find((s) => s.name === 'ready');
    expect(seed).toMatchObject({ ok: true });
    // beside ready: both start once the deploy ended
    expect(Math.abs((seed?.startMs ?? 0) - (ready?.startMs ?? 1e9))).toBeLessThan(1000);
    // ready does not wait for the seed Job; the seed step polls it until Complete
    expect(lines.filter((l) => l.startsWith(`kubectl get job ${SEED_JOB}`))).toHaveLength(2);
    const record = lines.filter(seededPatch);
    expect(record).toEqual([
      `kubectl patch namespace jetscale-pr-101 --type=merge -p '${JSON.stringify({
        metadata: { annotations: { 'jetscale.ai/seeded-at': '2026-05-01T12:00:00Z' }, resourceVersion: '42' },
      })}'`,
    ]);
    expect(lines.indexOf(record[0] as string)).toBeGreaterThan(
      lines.lastIndexOf(`kubectl get job ${SEED_JOB} -n jetscale-pr-101 -o json`),
    );
  });

  test('a redeploy of a seeded preview does not seed: no global.seed, no seed step, nothing seed-related runs', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: owned })
      .reply(/^kubectl get deployments,statefulsets,jobs/, { stdout: workloads })
      .reply(/^kubectl get job /, { stdout: JSON.stringify(seedJob(complete)) });
    const { result, values, lines } = await deploy(exec);
    expect(result.error).toBeUndefined();
    expect(values.global.seed).toBeUndefined();
    expect(result.steps.map((s) => s.name)).not.toContain('seed');
    expect(lines.filter((l) => /component=seed|seeded-at|delete job/.test(l))).toEqual([]);
  });

  test.each([
    ['reseed: true', namespace({ 'jetscale.ai/seeded-at': '2026-04-30T08:00:00Z' }), { reseed: 'true' }],
    ['a preview whose seed never completed', namespace({}), {}],
  ])(
    '%s seeds again: our earlier seed Jobs are removed before the deploy, which re-creates them',
    async (_what, ns, raw) => {
      const exec = new RecordingExecutor()
        .reply(/^kubectl get namespace/, { stdout: ns })
        .reply(/^kubectl get deployments,statefulsets,jobs/, { stdout: workloads })
        .reply(SEED_LIST, { stdout: JSON.stringify({ items: [seedJob(complete)] }) })
        .reply(/^kubectl get job /, { stdout: JSON.stringify(seedJob(complete)) });
      const { result, values, lines } = await deploy(exec, raw);
      expect(result.error).toBeUndefined();
      expect(values.global.seed).toBe(true);
      const deletes = lines.filter((l) => l.startsWith('kubectl delete job'));
      expect(deletes).toEqual([
        `kubectl delete job ${SEED_JOB} -n jetscale-pr-101 --ignore-not-found --cascade=foreground --wait=true`,
      ]);
      expect(lines.indexOf(deletes[0] as string)).toBeLessThan(
        lines.findIndex((l) => l.startsWith('skaffold')),
      );
      expect(result.steps.find((s) => s.name === 'seed')).toMatchObject({ ok: true });
      expect(lines.filter(seededPatch)).toHaveLength(1);
    },
  );

  test('a failed seed fails the run with its last log lines, and the preview is not marked seeded', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: namespace({}) })
      .reply(/^kubectl get deployments,statefulsets,jobs/, { stdout: workloads })
      .reply(SEED_LIST, { stdout: JSON.stringify({ items: [seedJob()] }) })
      .reply(/^kubectl get job /, {
        stdout: JSON.stringify(seedJob({ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' })),
      })
      .reply(/^kubectl logs job\//, { stdout: 'seeding\nrelation "items" does not exist\n' });
    const { result, reporter, lines } = await deploy(exec);
    expect(result.error?.name).toBe('SeedFailed');
    expect(result.steps.find((s) => s.name === 'seed')).toMatchObject({ ok: false });
    // ready ran to its end beside it
    expect(result.steps.find((s) => s.name === 'ready')).toMatchObject({ ok: true });
    expect(lines).toContain(`kubectl logs job/${SEED_JOB} -n jetscale-pr-101 --all-containers --tail=50`);
    expect(lines.filter(seededPatch)).toEqual([]);
    const reason = reporter.deploys.at(-1)?.reason ?? '';
    expect(reason).toContain('seed backend failed: seeding');
    expect(reason).toContain('relation "items" does not exist');
    expect(reason).toContain(`(job/${SEED_JOB}: BackoffLimitExceeded)`);
  });
});

describe('ci-kind asks the chart for seeds (global.seed)', () => {
  // a new cluster every run: a seed whose stages list ci runs there (the chart renders it only then); a preview
  // decides per deploy (above)
  test('its values file sets global.seed', async () => {
    const written = new Map<string, string>();
    const i = inputs({ loop: 'ci-kind', images: 'backend=r/b:1\nfrontend=r/f:1' });
    const c = runCtx();
    await runLoop(i, c, deps(new RecordingExecutor(), { writeFile: (p, t) => written.set(p, t) }).d);
    const file = planNames(i, c).env.JETSCALE_VALUES_FILE as string;
    expect(written.has(file), file).toBe(true);
    expect(YAML.parse(written.get(file) as string).global.seed).toBe(true);
  });
});

describe('ci-kind', () => {
  test('the cluster is deleted even when a contract check fails, and the state tells the post step', async () => {
    const exec = withNode(new RecordingExecutor());
    // Port-forwards are background commands the recording executor cannot run: the checks step fails there,
    // which is exactly a failure after the cluster exists.
    const { d, state } = deps(exec);
    await expect(run(inputs({ loop: 'ci-kind', images: 'backend=r/b:1' }), runCtx(), d)).rejects.toThrow(
      /port-forward/,
    );
    expect(exec.lines().at(-1)).toBe('kind delete cluster --name jetscale-ci-a1b2c3-777-2');
    expect(state).toEqual([
      [State.ClusterName, 'jetscale-ci-a1b2c3-777-2'],
      [State.ClusterCreated, 'true'],
      [State.ClusterDeleted, 'true'],
    ]);
  });

  test('when one port-forward fails, the one that started is stopped again (no process left behind)', async () => {
    const stopped: string[] = [];
    const exec = withNode(new RecordingExecutor());
    const { d } = deps(exec, {
      portForward: async (c) => {
        const svc = c.args.find((a) => a.startsWith('service/')) as string;
        if (svc.endsWith('backend')) {
          await new Promise((r) => setTimeout(r, 20)); // fails after the frontend's started
          throw new Error('backend port-forward failed');
        }
        return { url: 'http://127.0.0.1:1', stop: async () => void stopped.push(svc) };
      },
    });
    const result = await runLoop(inputs({ loop: 'ci-kind', images: 'backend=r/b:1' }), runCtx(), d);
    expect(result.error?.message).toBe('backend port-forward failed');
    expect(stopped).toEqual(['service/app-frontend']);
  });

  test('a failing kind create still ends with a delete', async () => {
    const exec = new RecordingExecutor().reply(/^kind create/, { exitCode: 1, stderr: 'boom' });
    const { d } = deps(exec);
    await expect(run(inputs({ loop: 'ci-kind' }), runCtx(), d)).rejects.toThrow(
      /kind create cluster.*exit code 1: boom/,
    );
    expect(exec.lines()).toEqual([
      'kind get clusters',
      expect.stringMatching(/^kind create cluster --name jetscale-ci-a1b2c3-777-2/),
      'kind delete cluster --name jetscale-ci-a1b2c3-777-2',
    ]);
  });

  test('the images load while the cluster starts: once the node container answers, every image in one stream into its containerd', async () => {
    let created = false;
    const exec = new RecordingExecutor();
    // the node container appears while `kind create` still runs; its containerd answers on the second look
    exec.replyOnce(/^docker exec/, { exitCode: 1, stderr: 'ctr: connection refused' });
    const order: string[] = [];
    const { d } = deps(
      {
        dryRun: false,
        commands: exec.commands,
        start: (c) => exec.start(c),
        run: async (c) => {
          const line = [c.cmd, ...c.args].join(' ');
          if (line.startsWith('kind create')) {
            await new Promise((r) => setTimeout(r, 150));
            created = true;
          }
          if (line.includes('docker save')) order.push(`load while creating: ${!created}`);
          return exec.run(c);
        },
      },
      {
        portForward: async () => ({ url: 'http://127.0.0.1:1', stop: async () => {} }),
        sleep: async () => {},
      },
    );
    exec.reply(/^kind get nodes/, { stdout: 'jetscale-ci-a1b2c3-777-2-control-plane\n' });
    await run(
      inputs({ loop: 'ci-kind', images: 'backend=r/b:1\nfrontend=r/f:1', 'kind-images': 'r/pg:15' }),
      runCtx(),
      d,
    );
    expect(order).toEqual(['load while creating: true']);
    const lines = exec.lines();
    expect(lines.filter((l) => l.startsWith('docker exec'))).toEqual([
      'docker exec jetscale-ci-a1b2c3-777-2-control-plane ctr --namespace k8s.io version',
      'docker exec jetscale-ci-a1b2c3-777-2-control-plane ctr --namespace k8s.io version',
    ]);
    expect(lines.filter((l) => l.includes('docker save'))).toEqual([
      `bash -o pipefail -c 'node="$1"; shift; docker save "$@" | docker exec -i "$node" ctr --namespace=k8s.io images import --all-platforms --digests --no-unpack -' import-images jetscale-ci-a1b2c3-777-2-control-plane r/b:1 r/f:1 r/pg:15`,
    ]);
    // the deploy waits for both
    expect(lines.findIndex((l) => l.startsWith('skaffold'))).toBeGreaterThan(
      lines.findIndex((l) => l.includes('docker save')),
    );
  });

  test('a cluster name that is taken is refused before kind create runs, and nothing is loaded or deleted', async () => {
    const exec = new RecordingExecutor().reply(/^kind get clusters/, {
      stdout: 'other\njetscale-ci-a1b2c3-777-2\n',
    });
    const { d, state } = deps(exec);
    const result = await runLoop(inputs({ loop: 'ci-kind', images: 'backend=r/b:1' }), runCtx(), d);
    expect(result.error?.message).toMatch(/already exists and was not created by this job: left alone/);
    expect(exec.lines().filter((l) => !l.startsWith('kubectl'))).toEqual(['kind get clusters']);
    expect(state).toEqual([]);
  });

  test('a Kind cluster name already taken is not ours: the action never deletes another job’s cluster', async () => {
    const exec = new RecordingExecutor().reply(/^kind create/, {
      exitCode: 1,
      stderr: 'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "x"',
    });
    const { d, state } = deps(exec);
    const result = await runLoop(inputs({ loop: 'ci-kind' }), runCtx(), d);
    expect(result.error?.message).toMatch(/already exists and was not created by this job: left alone/);
    expect(exec.lines().filter((l) => l.startsWith('kind delete'))).toEqual([]);
    expect(state).toContainEqual([State.ClusterCreated, 'false']);
  });

  test('two jobs of one run on a shared Docker host get different cluster names', () => {
    const env = { GITHUB_RUN_ID: '777', GITHUB_RUN_ATTEMPT: '2' };
    const [a, b] = [runContext(env), runContext(env)].map(
      (c) => planNames(inputs({ loop: 'ci-kind' }), c).cluster,
    );
    expect(a).toMatch(/^jetscale-ci-[0-9a-f]{6}-777-2$/);
    expect(b).toMatch(/^jetscale-ci-[0-9a-f]{6}-777-2$/);
    expect(a).not.toBe(b);
  });
});

describe('live is verification only', () => {
  test('runs smoke checks and no cluster command', async () => {
    const exec = new RecordingExecutor();
    const requests: unknown[] = [];
    const { d, tools } = deps(exec, {
      contract: async (req) => {
        requests.push(req);
        return passing;
      },
    });
    await run(inputs({ loop: 'live', url: 'https://app.jetscale.ai/' }), runCtx(), d);
    expect(exec.commands).toEqual([]);
    expect(tools).toEqual([]);
    expect(requests).toEqual([
      expect.objectContaining({ target: { url: 'https://app.jetscale.ai' }, mode: 'smoke', stage: 'live' }),
    ]);
  });
});

test('extra values: files merged in order, then set entries with scalar types', () => {
  const a = join(tmp, 'a.yaml');
  const b = join(tmp, 'b.yaml');
  writeFileSync(a, 'services:\n  backend:\n    replicas: 1\n    image: { tag: one }\n');
  writeFileSync(b, 'services:\n  backend:\n    image: { tag: two }\n');
  const inp = parseInputs({
    values: `${a}\n${b}`,
    set: 'services.backend.replicas=3\ningress.enabled=false\nglobal.gitSha=abc',
  });
  expect(extraValues(inp)).toEqual({
    services: { backend: { replicas: 3, image: { tag: 'two' } } },
    ingress: { enabled: false },
    global: { gitSha: 'abc' },
  });
});

test('every images line becomes the image values of its service (Skaffold sets only its own artifacts)', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const v = chartValues(
    parseInputs({
      loop: 'ci-kind',
      images: `go-api=localhost:5001/acme/go-api:pr-7\nworker=ghcr.io/acme/worker@${digest}`,
    }),
  );
  expect(JSON.parse(JSON.stringify(v.services))).toEqual({
    'go-api': { image: { repository: 'localhost:5001/acme/go-api', tag: 'pr-7' } },
    worker: { image: { repository: 'ghcr.io/acme/worker', digest } },
  });
});

test("the values file sets the Deployments' progress deadline to the timeout input; the user's values win", () => {
  expect(chartValues(parseInputs({ timeout: '90s', set: 'global.gitSha=abc' }))).toEqual({
    global: { progressDeadlineSeconds: 90, gitSha: 'abc' },
  });
  expect(chartValues(parseInputs({})).global).toEqual({ progressDeadlineSeconds: 600 });
  expect(
    chartValues(parseInputs({ timeout: '2m', set: 'global.progressDeadlineSeconds=30' })).global,
  ).toEqual({
    progressDeadlineSeconds: 30,
  });
});

test('an images line wins over the image the values declare (repository, tag, and a digest it clears)', () => {
  const declared = `sha256:${'b'.repeat(64)}`;
  const v = chartValues(
    parseInputs({
      loop: 'ci-kind',
      images: 'backend=r/backend:pr-7\nfrontend=r/frontend:pr-7',
      set: `services.backend.image.repository=acme/backend\nservices.backend.image.tag=1.0\nservices.backend.image.digest=${declared}\nservices.frontend.image.tag=1.0`,
    }),
  );
  expect(JSON.parse(JSON.stringify(v.services))).toEqual({
    backend: { image: { repository: 'r/backend', tag: 'pr-7', digest: '' } },
    // no digest declared: none written
    frontend: { image: { repository: 'r/frontend', tag: 'pr-7' } },
  });
});

describe('what a deploying loop builds, and from which checkout (src/loops/build.ts)', () => {
  const forwarding = { portForward: async () => ({ url: 'http://127.0.0.1:1', stop: async () => {} }) };
  const skaffoldOf = (exec: RecordingExecutor) => {
    const cmd = exec.commands.find((c) => c.cmd === 'skaffold');
    const file = cmd?.args[cmd.args.indexOf('-f') + 1] as string;
    return {
      cmd,
      line: exec.lines().find((l) => l.startsWith('skaffold')),
      config: YAML.parse(readFileSync(file, 'utf8')),
    };
  };

  test.each([
    ['a run that names no repository (the CLI on a laptop)', undefined, tmp],
    ['the stack repository (its checkout holds skaffold.yaml and the chart)', 'jetscale/stack', repoRoot],
  ])(
    '%s builds every declared build context from the stack directory',
    async (_what, repository, workspace) => {
      const exec = new RecordingExecutor();
      await run(
        inputs({ loop: 'ci-kind', ...(repository ? { repository } : {}) }),
        { ...runCtx(), workspace },
        deps(exec, forwarding).d,
      );
      const { line, config } = skaffoldOf(exec);
      expect(line).toMatch(/^skaffold run -f \S+\/skaffold-ci-kind\.yaml -p ci-kind /);
      expect(config.build.artifacts).toEqual([
        {
          image: 'backend',
          context: join(repoRoot, 'examples/backend'),
          docker: { dockerfile: 'Dockerfile' },
        },
        {
          image: 'frontend',
          context: join(repoRoot, 'examples/frontend'),
          docker: { dockerfile: 'Dockerfile' },
        },
      ]);
      const release = config.deploy.helm.releases[0];
      expect(release.chartPath).toBe(join(repoRoot, 'charts/app'));
      expect(release.setValueTemplates).toMatchObject({
        'services.backend.image.repository': '{{.IMAGE_REPO_backend}}',
        'services.frontend.image.tag': '{{.IMAGE_TAG_frontend}}@{{.IMAGE_DIGEST_frontend}}',
      });
      // the laptop profiles patch the committed artifacts: not in a run's file
      expect(config.profiles.map((p: { name: string }) => p.name)).toEqual(['ci-kind', 'preview', 'live']);
    },
  );

  test('a service repository builds only its own service, from its own checkout, never the example', async () => {
    const workspace = mkdtempSync(join(tmp, 'checkout-'));
    mkdirSync(join(workspace, 'api'));
    const exec = new RecordingExecutor().reply(/^kubectl get configmaps/, {
      stdout: JSON.stringify({
        items: [
          { metadata: { name: 'baseline-frontend' }, data: { image: 'ghcr.io/jetscale/frontend:base' } },
        ],
      }),
    });
    const digest = `sha256:${'c'.repeat(64)}`;
    await run(
      inputs({
        loop: 'preview',
        'pr-number': '7',
        repository: 'Acme/Backend-Service',
        set: `services.backend.build.repository=acme/backend-service\nservices.backend.build.context=api\nservices.backend.build.target=prod\nservices.backend.image.digest=${digest}`,
      }),
      { ...runCtx(), workspace },
      deps(exec).d,
    );
    const { cmd, line, config } = skaffoldOf(exec);
    expect(config.build.artifacts).toEqual([
      {
        image: 'backend',
        context: join(workspace, 'api'),
        docker: { dockerfile: 'Dockerfile', target: 'prod' },
      },
    ]);
    expect(JSON.stringify(config.build)).not.toContain('examples/');
    expect(Object.keys(config.deploy.helm.releases[0].setValueTemplates)).not.toContain(
      'services.frontend.image.repository',
    );
    // built by `skaffold run`; the frontend comes from the baseline, through the values file
    expect(line).toMatch(/^skaffold run -f \S+ -p preview --namespace \S+ --status-check=false$/);
    const values = YAML.parse(readFileSync(cmd?.env?.JETSCALE_VALUES_FILE as string, 'utf8'));
    expect(values.services.frontend).toEqual({
      image: { repository: 'ghcr.io/jetscale/frontend', tag: 'base' },
    });
    // the digest the values declare would win over the built image's tag: cleared
    expect(values.services.backend.image).toEqual({ digest: '' });
  });

  test('a ci-kind run that would deploy a service with no image is refused before any command runs, naming it', async () => {
    const exec = new RecordingExecutor();
    const result = await runLoop(
      inputs({
        loop: 'ci-kind',
        repository: 'acme/app',
        images: 'backend=r/b:1\nfrontend=r/f:1',
        set: 'services.worker.port=null\nservices.worker.enabled=true',
      }),
      runCtx(),
      deps(exec).d,
    );
    expect(result.error?.message).toMatch(
      /^services\.worker has no image: no images line names it, this run builds no worker, and its values declare no image\.repository; accepted: worker=<image> in images, .* Nothing was created\.$/,
    );
    expect(exec.lines()).toEqual([]);
  });

  test("the stack's own run builds no service of another repository from the stack checkout (review)", () => {
    const declaration = readDeclaration(repoRoot, 'ci-kind', {
      services: {
        'go-api': {
          image: { repository: 'ghcr.io/acme/go-api', tag: '1.0.0' },
          port: 8080,
          build: { repository: 'acme/go-api', context: '.', dockerfile: 'Dockerfile' },
        },
      },
    });
    const plan = planBuild(
      { images: [], repository: 'jetscale/stack' },
      { workspace: repoRoot, stackDir: repoRoot },
      declaration,
    );
    // go-api's context is a path in acme/go-api's checkout; here it runs its declared image
    expect(plan.artifacts.map((a) => a.service)).toEqual(['backend', 'frontend']);
  });

  test('a repository that declares no service and gives no images is refused before any command runs', async () => {
    const exec = new RecordingExecutor();
    const result = await runLoop(
      inputs({ loop: 'preview', 'pr-number': '7', repository: 'acme/unknown' }),
      runCtx(),
      deps(exec).d,
    );
    expect(result.error?.message).toMatch(
      /^acme\/unknown declares no service \(services\.<n>\.build\.repository\); give images, or set build\.repository on your service \(declared: backend → the stack, frontend → the stack\)\. Nothing was created\.$/,
    );
    expect(exec.lines()).toEqual([]);
  });

  test("a service repository's own service is built from its checkout when images bring only the others", async () => {
    const workspace = mkdtempSync(join(tmp, 'checkout-'));
    const exec = withNode(new RecordingExecutor());
    await run(
      inputs({
        loop: 'ci-kind',
        repository: 'acme/backend',
        images: 'frontend=r/f:1',
        set: 'services.backend.build.repository=acme/backend\nservices.backend.build.context=.',
      }),
      { ...runCtx(), workspace },
      deps(exec, forwarding).d,
    );
    const { cmd, line, config } = skaffoldOf(exec);
    expect(config.build.artifacts).toEqual([
      { image: 'backend', context: workspace, docker: { dockerfile: 'Dockerfile' } },
    ]);
    expect(line).toMatch(/^skaffold run -f /);
    // the given image reaches the chart through the values file, as `skaffold run` takes no --images
    const values = YAML.parse(readFileSync(cmd?.env?.JETSCALE_VALUES_FILE as string, 'utf8'));
    expect(values.services.frontend.image).toMatchObject({ repository: 'r/f', tag: '1' });
  });

  test('with images, nothing is built: the run file has no artifact and Skaffold deploys the images', async () => {
    const exec = withNode(new RecordingExecutor());
    await run(
      inputs({ loop: 'ci-kind', repository: 'acme/unknown', images: 'backend=r/b:1\nfrontend=r/f:1' }),
      runCtx(),
      deps(exec, forwarding).d,
    );
    const { line, config } = skaffoldOf(exec);
    expect(config.build.artifacts).toEqual([]);
    expect(line).toContain('skaffold deploy -f ');
    expect(line).toContain('--images backend=r/b:1 --images frontend=r/f:1 --default-repo=');
  });
});
