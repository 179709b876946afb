/**
 * Kubernetes faults (issue 14, point 4), the parts that need no cluster: which kubectl/helm failures are
 * transient (stderr as the tools print it), the bounded backoff, the executor running a real process again only
 * when its command is safe to repeat, and the loops' handling of a Terminating namespace and of a teardown stopped
 * part-way. test/e2e/k8s-faults.test.ts proves the same against the rig's API server behind a proxy that fails.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { helm, kubectl, skaffoldDeploy } from '../../src/commands.js';
import { type Command, CommandError, ExecExecutor } from '../../src/executor.js';
import { runLoop } from '../../src/loops/index.js';
import { KUBE_RETRY, nextRetry, retryDelayMs, transientFault } from '../../src/retry.js';
import { parseInputs, type RawInputs } from '../../src/validate.js';
import { deps, recordingReporter, runCtx } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const inputs = (raw: RawInputs) => parseInputs({ 'git-sha': SHA, ...raw });

describe('a pure classifier of stderr names the transient faults, and only those', () => {
  test.each([
    [
      'connection refused',
      'The connection to the server 127.0.0.1:40027 was refused - did you specify the right host or port?',
    ],
    [
      'connection refused',
      'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:40027/version": dial tcp 127.0.0.1:40027: connect: connection refused',
    ],
    [
      'connection reset',
      'Unable to connect to the server: read tcp 127.0.0.1:51234->127.0.0.1:40027: read: connection reset by peer',
    ],
    // As kubectl and helm 3.19 printed them through test/support/api-proxy.ts resetting every connection.
    [
      'connection reset',
      'error: client rate limiter Wait returned an error: context deadline exceeded - error from a previous attempt: dial tcp 127.0.0.1:33855: connect: connection reset by peer',
    ],
    [
      'connection reset',
      'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:33855/version": read tcp 127.0.0.1:54982->127.0.0.1:33855: read: connection reset by peer',
    ],
    ['EOF', 'Unable to connect to the server: EOF'],
    ['EOF', 'Error: uninstall: Get "https://127.0.0.1:40027/api/v1/namespaces/x/secrets": unexpected EOF'],
    ['etcd leader change', 'Error from server: etcdserver: leader changed'],
    ['etcd leader change', 'Error from server: etcdserver: request timed out'],
    [
      '429 too many requests',
      'Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later',
    ],
    [
      '429 too many requests',
      'Error: uninstall: the server has received too many requests and has asked us to try again later (get secrets)',
    ],
    ['TLS handshake timeout', 'Unable to connect to the server: net/http: TLS handshake timeout'],
    [
      '503 service unavailable',
      'Error from server (ServiceUnavailable): the server is currently unable to handle the request',
    ],
    ['connection lost', 'error: http2: client connection lost'],
    ['connection timed out', 'Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout'],
  ])('%s: %s', (fault, stderr) => {
    expect(transientFault(stderr)).toBe(fault);
  });

  test.each([
    'Error from server (NotFound): namespaces "jetscale-pr-601" not found',
    'Error from server (Forbidden): namespaces is forbidden: User "ci" cannot delete resource "namespaces"',
    'Error from server (AlreadyExists): namespaces "jetscale-pr-601" already exists',
    'Error from server (Conflict): Operation cannot be fulfilled on namespaces "x": Precondition failed: UID in precondition',
    'error: timed out waiting for the condition on namespaces/jetscale-pr-601',
    'Error: uninstall: context deadline exceeded',
    'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress',
    'error: error validating "STDIN": error validating data: unknown field "spec.foo"',
    'Unable to connect to the server: dial tcp: lookup api.example.invalid: no such host',
  ])('an answer, not a fault: %s', (stderr) => {
    expect(transientFault(stderr)).toBeUndefined();
  });
});

describe('a bounded backoff', () => {
  test('doubles from 1 s, capped at 8 s, and stops after 5 tries (about 15 s of waiting in all)', () => {
    expect([1, 2, 3, 4, 5, 6].map((r) => retryDelayMs(r))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    const failing = { exitCode: 1, stderr: 'dial tcp 127.0.0.1:1: connect: connection refused' };
    const tries = [1, 2, 3, 4, 5].map((a) => nextRetry({ retrySafe: true }, failing, a));
    expect(tries.map((t) => t?.delayMs)).toEqual([1000, 2000, 4000, 8000, undefined]);
    expect(KUBE_RETRY.attempts).toBe(5);
  });
});

describe('retried where safe: reads and idempotent writes, never a create that may have landed', () => {
  const env = {};
  test.each<[string, Command, boolean]>([
    ['kubectl get namespace (read)', kubectl.getNamespace('ns', env), true],
    ['kubectl get namespaces -l (read)', kubectl.listNamespaces('a=b', env, 'why'), true],
    ['kubectl get deployments,statefulsets,jobs (read)', kubectl.listWorkloads('ns', env), true],
    ['kubectl rollout status (read)', kubectl.rolloutStatus('deployment/x', 'ns', 60, env), true],
    ['kubectl get job (read)', kubectl.getJob('j', 'ns', env), true],
    ['kubectl wait --for=delete (read)', kubectl.waitDeleted('ns', 60, env), true],
    ['kubectl apply (idempotent)', kubectl.applyFromStdin('{}', env, 'why'), true],
    ['kubectl delete job --ignore-not-found (idempotent)', kubectl.deleteJob('j', 'ns', env, 'why'), true],
    ['helm uninstall --ignore-not-found (idempotent)', helm.uninstall('r', 'ns', 60, env), true],
    ['kubectl create (may have landed)', kubectl.createFromStdin('{}', env, 'why'), false],
    [
      'kubectl patch on a resourceVersion (a repeat meets a Conflict)',
      kubectl.patchNamespace('ns', { annotations: {}, resourceVersion: '1' }, env, 'why'),
      false,
    ],
    ['kubectl delete on a UID and version', kubectl.deleteNamespaceIf('ns', 'u', '1', env), false],
    [
      'skaffold deploy (installs a release)',
      skaffoldDeploy({ profile: 'preview', namespace: 'ns', images: [], stackDir: '.', env }),
      false,
    ],
  ])('%s', (_name, command, safe) => {
    expect(Boolean(command.retrySafe)).toBe(safe);
    const refused = { exitCode: 1, stderr: 'dial tcp 127.0.0.1:1: connect: connection refused' };
    expect(Boolean(nextRetry(command, refused, 1))).toBe(safe);
  });
});

describe('the executor runs a real process again on a transient fault, only when its command is safe to repeat', () => {
  /** A real program that fails with `stderr` its first `failures` runs, then prints ok; counts its runs. */
  function flaky(failures: number, stderr: string) {
    const dir = mkdtempSync(join(tmpdir(), 'flaky-'));
    const count = join(dir, 'runs');
    writeFileSync(count, '0');
    const script = join(dir, 'flaky');
    writeFileSync(
      script,
      `#!/bin/bash\nn=$(( $(cat ${count}) + 1 )); echo $n > ${count}\n` +
        `if [ $n -le ${failures} ]; then echo ${JSON.stringify(stderr)} >&2; exit 1; fi\necho ok\n`,
    );
    chmodSync(script, 0o755);
    return { script, runs: () => Number(readFileSync(count, 'utf8')) };
  }
  function executor() {
    const log: string[] = [];
    const waited: number[] = [];
    const exec = new ExecExecutor({
      log: (l) => log.push(l),
      sleep: async (ms) => {
        waited.push(ms);
      },
    });
    return { exec, log, waited };
  }
  const refused = 'dial tcp 127.0.0.1:40027: connect: connection refused';

  test('a read that meets two refused connections succeeds on its third try, each retry logged with its fault', async () => {
    const p = flaky(2, refused);
    const { exec, log, waited } = executor();
    const r = await exec.run({ cmd: p.script, args: ['get'], retrySafe: true, silent: true });
    expect(r.stdout.trim()).toBe('ok');
    expect(p.runs()).toBe(3);
    expect(waited).toEqual([1000, 2000]);
    expect(log).toEqual([
      expect.stringMatching(/get hit a transient fault \(connection refused\): try 2 of 5 in 1 s$/),
      expect.stringMatching(/get hit a transient fault \(connection refused\): try 3 of 5 in 2 s$/),
    ]);
  });

  test('a create is run once: its failure is the caller’s to handle', async () => {
    const p = flaky(2, refused);
    const { exec, log } = executor();
    await expect(exec.run({ cmd: p.script, args: ['create'], silent: true })).rejects.toBeInstanceOf(
      CommandError,
    );
    expect(p.runs()).toBe(1);
    expect(log).toEqual([]);
  });

  test('an answer (NotFound) is not retried', async () => {
    const p = flaky(2, 'Error from server (NotFound): namespaces "x" not found');
    const { exec } = executor();
    await expect(exec.run({ cmd: p.script, args: ['get'], retrySafe: true, silent: true })).rejects.toThrow(
      /NotFound/,
    );
    expect(p.runs()).toBe(1);
  });

  test('a fault that outlasts the tries fails, saying how many were made', async () => {
    const p = flaky(99, refused);
    const { exec, waited } = executor();
    await expect(exec.run({ cmd: p.script, args: ['get'], retrySafe: true, silent: true })).rejects.toThrow(
      /failed with exit code 1 \(5 tries\): dial tcp .*connection refused/,
    );
    expect(p.runs()).toBe(5);
    expect(waited).toEqual([1000, 2000, 4000, 8000]);
  });
});

const ns = 'jetscale-pr-101';
const ours = (extra: Record<string, unknown> = {}, status?: unknown) =>
  JSON.stringify({
    metadata: {
      uid: 'uid-101',
      resourceVersion: '42',
      labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' },
      annotations: {},
      ...extra,
    },
    ...(status ? { status } : {}),
  });
const terminating = ours(
  { deletionTimestamp: '2026-12-03T10:00:00Z' },
  {
    phase: 'Terminating',
    conditions: [
      {
        type: 'NamespaceFinalizersRemaining',
        status: 'True',
        message:
          'Some content in the namespace has finalizers remaining: e2e.jetscale.ai/hold in 1 resource instances',
      },
      {
        type: 'NamespaceDeletionDiscoveryFailure',
        status: 'False',
        message: 'All resources successfully discovered',
      },
    ],
  },
);

describe('the API server failing in the middle of a teardown', () => {
  test('fails naming what it was doing and what is left', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: ours() })
      .reply(/^helm uninstall/, {
        exitCode: 1,
        stderr: 'Error: Kubernetes cluster unreachable: dial tcp 127.0.0.1:1: connect: connection refused',
      });
    const reporter = recordingReporter();
    const result = await runLoop(
      inputs({ loop: 'teardown', 'pr-number': '101' }),
      runCtx(),
      deps(exec, { reporter }).d,
    );
    expect(result.error?.name).toBe('TeardownIncomplete');
    expect(result.error?.message).toMatch(
      new RegExp(
        `^Teardown of ${ns} stopped while uninstalling release pr-101: helm uninstall .*connection refused\\n` +
          `Left: release pr-101 \\(perhaps partly uninstalled\\) and namespace ${ns}\\. Run the teardown again`,
      ),
    );
    expect(reporter.calls).toEqual([]);
  });

  test('a namespace already Terminating (an earlier run deleted it) is not deleted again, only waited for', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: terminating });
    const result = await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec).d);
    expect(result.error).toBeUndefined();
    expect(exec.lines().filter((l) => /^kubectl (delete|wait)/.test(l))).toEqual([
      `kubectl wait --for=delete namespace/${ns} --timeout=600s`,
    ]);
  });

  test('a delete whose answer was lost is looked at again: found Terminating, it landed, and only the wait is left', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: terminating })
      .replyOnce(/^kubectl get namespace/, { stdout: ours() })
      .replyOnce(/^kubectl get namespace/, { stdout: ours() })
      .reply(/^kubectl delete --raw/, { exitCode: 1, stderr: 'Unable to connect to the server: EOF' });
    const result = await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(exec).d);
    expect(result.error).toBeUndefined();
    expect(exec.lines().filter((l) => /^kubectl (delete|wait)/.test(l))).toEqual([
      `kubectl delete --raw /api/v1/namespaces/${ns} -f -`,
      `kubectl wait --for=delete namespace/${ns} --timeout=600s`,
    ]);
  });
});

describe('a preview re-opened while its old namespace is still Terminating', () => {
  const preview = (timeout: string) =>
    inputs({
      loop: 'preview',
      'pr-number': '101',
      images: 'backend=r/backend:1\nfrontend=r/frontend:1',
      timeout,
    });

  test('waits for it (bounded by timeout, at most 300 s), then creates the namespace anew', async () => {
    const exec = new RecordingExecutor().replyOnce(/^kubectl get namespace/, { stdout: terminating });
    const { d, log } = deps(exec);
    const result = await runLoop(preview('45s'), runCtx(), d);
    expect(result.error).toBeUndefined();
    expect(log).toContain(
      `Namespace ${ns} is still being deleted (Terminating since 2026-12-03T10:00:00Z): waiting up to 45 s for it to be gone before creating it again.`,
    );
    const lines = exec.lines();
    expect(lines.slice(0, 4)).toEqual([
      `kubectl get namespace ${ns} --ignore-not-found -o json`,
      `kubectl wait --for=delete namespace/${ns} --timeout=45s`,
      `kubectl get namespace ${ns} --ignore-not-found -o json`,
      'kubectl create -f -',
    ]);
  });

  test('still Terminating past the wait: fails saying so and what holds it, and creates nothing', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: terminating })
      .reply(/^kubectl wait --for=delete/, {
        exitCode: 1,
        stderr: `error: timed out waiting for the condition on namespaces/${ns}`,
      });
    const reporter = recordingReporter();
    const result = await runLoop(preview('10m'), runCtx(), deps(exec, { reporter }).d);
    expect(result.error?.name).toBe('NamespaceStillTerminating');
    expect(result.error?.message).toBe(
      `Namespace ${ns} is still Terminating after waiting 300 s (its deletion started at 2026-12-03T10:00:00Z). ` +
        'What holds it: Some content in the namespace has finalizers remaining: e2e.jetscale.ai/hold in 1 resource instances. ' +
        'Nothing was created: run the preview again once the namespace is gone.',
    );
    expect(exec.lines().filter((l) => !/^kubectl (get|wait) /.test(l))).toEqual([]);
    expect(reporter.calls).toEqual(['deploy:failure']);
  });
});
