import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { State } from '../../src/constants.js';
import type { RunContext } from '../../src/context.js';
import { DryRunExecutor } from '../../src/executor.js';
import {
  type CheckResultLike,
  ContractFailure,
  extraValues,
  type LoopDeps,
  type ReporterLike,
  runLoop,
  TeardownRefused,
} from '../../src/loops.js';
import { parseInputs, type RawInputs } from '../../src/validate.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const tmp = mkdtempSync(join(tmpdir(), 'loops-'));
const ctx: RunContext = {
  runId: '777',
  runAttempt: '2',
  apiUrl: 'http://127.0.0.1:1',
  workspace: tmp,
  stackDir: '/stack',
  tempDir: tmp,
  fromFork: false,
};

const passing: CheckResultLike[] = [
  { name: 'backend-health', ok: true, url: 'http://x/api/healthz', durationMs: 1 },
];

function deps(exec: LoopDeps['exec'], over: Partial<LoopDeps> = {}) {
  const state: Array<[State, string]> = [];
  const log: string[] = [];
  const tools: string[][] = [];
  const d: LoopDeps = {
    exec,
    log: (l) => log.push(l),
    installTools: async (t) => {
      tools.push(t);
      return {};
    },
    contract: async () => passing,
    saveState: (k, v) => state.push([k, v]),
    ...over,
  };
  return { d, state, log, tools };
}

function inputs(raw: RawInputs) {
  return parseInputs({ 'git-sha': SHA, ...raw });
}

const owned = JSON.stringify({
  metadata: { labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' } },
});
const foreign = JSON.stringify({ metadata: { labels: { team: 'payments' } } });

describe('dry run prints the exact commands in order and executes nothing', () => {
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
        'skaffold deploy -p preview --namespace jetscale-pr-101 --images backend=r/backend:1 --images frontend=r/frontend:1 --default-repo= --status-check=true',
        'kubectl get deployments,statefulsets,jobs -n jetscale-pr-101 -o json',
        "kubectl rollout status 'deployment/<each>' -n jetscale-pr-101 --timeout=600s",
      ],
    ],
    [
      'teardown',
      { loop: 'teardown', 'pr-number': '101', 'dry-run': 'true', timeout: '5m' },
      [
        'kubectl get namespace jetscale-pr-101 --ignore-not-found -o json',
        'helm uninstall pr-101 --namespace jetscale-pr-101 --wait --timeout 300s --ignore-not-found',
        'kubectl delete namespace jetscale-pr-101 --ignore-not-found --wait=true --timeout=300s',
      ],
    ],
    [
      'ci-kind',
      { loop: 'ci-kind', images: 'backend=r/backend:1\nfrontend=r/frontend:1', 'dry-run': 'true' },
      [
        `kind create cluster --name jetscale-ci-777-2 --config /stack/kind/cluster.ci.yaml --image kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a --kubeconfig ${tmp}/jetscale-ci-777-2.kubeconfig --wait 300s`,
        'kind load docker-image r/backend:1 --name jetscale-ci-777-2',
        'kind load docker-image r/frontend:1 --name jetscale-ci-777-2',
        'kubectl apply -f -',
        'skaffold deploy -p ci-kind --kube-context kind-jetscale-ci-777-2 --namespace jetscale-ci --images backend=r/backend:1 --images frontend=r/frontend:1 --default-repo= --status-check=true',
        'kubectl get deployments,statefulsets,jobs -n jetscale-ci -o json',
        "kubectl rollout status 'deployment/<each>' -n jetscale-ci --timeout=600s",
        'kubectl port-forward -n jetscale-ci service/app-frontend --address 127.0.0.1 :80',
        'kubectl port-forward -n jetscale-ci service/app-backend --address 127.0.0.1 :80',
        'kind delete cluster --name jetscale-ci-777-2',
      ],
    ],
    ['live', { loop: 'live', url: 'https://app.jetscale.ai', 'dry-run': 'true' }, []],
  ])('%s', async (_name, raw, expected) => {
    const printed: string[] = [];
    const exec = new DryRunExecutor((l) => printed.push(l));
    const { d, state, tools } = deps(exec);
    await runLoop(inputs(raw as RawInputs), ctx, d);
    expect(exec.commands.map((c) => [c.cmd, ...c.args].join(' ').replace(/'/g, ''))).toEqual(
      expected.map((e) => e.replace(/'/g, '')),
    );
    expect(printed).toHaveLength(expected.length);
    expect(state).toEqual([]); // a dry run leaves nothing for the post step
    expect(tools).toEqual([]); // and installs nothing
  });
});

describe('teardown deletes only what we created', () => {
  test('refuses a namespace without our labels and deletes nothing', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: foreign });
    const reporter = recordingReporter();
    await expect(
      runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), ctx, deps(exec, { reporter }).d),
    ).rejects.toBeInstanceOf(TeardownRefused);
    expect(exec.lines()).toEqual(['kubectl get namespace jetscale-pr-101 --ignore-not-found -o json']);
    expect(reporter.calls).toEqual([]);
  });

  test('refuses a namespace labelled for another PR', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, {
      stdout: owned.replace('"101"', '"102"'),
    });
    await expect(
      runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), ctx, deps(exec).d),
    ).rejects.toThrow(/Refusing to tear down namespace jetscale-pr-101.*Nothing was deleted/);
    expect(exec.lines().filter((l) => /delete|uninstall/.test(l))).toEqual([]);
  });

  test('removes release and namespace when they are ours, then reports', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    const reporter = recordingReporter();
    await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), ctx, deps(exec, { reporter }).d);
    expect(exec.lines().slice(1)).toEqual([
      'helm uninstall pr-101 --namespace jetscale-pr-101 --wait --timeout 600s --ignore-not-found',
      'kubectl delete namespace jetscale-pr-101 --ignore-not-found --wait=true --timeout=600s',
    ]);
    expect(reporter.calls).toEqual(['teardown']);
  });

  test('is a no-op when the namespace is already gone (idempotent), and still reports', async () => {
    const exec = new RecordingExecutor();
    const reporter = recordingReporter();
    await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), ctx, deps(exec, { reporter }).d);
    await runLoop(inputs({ loop: 'teardown', 'pr-number': '101' }), ctx, deps(exec, { reporter }).d);
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
    await runLoop(inputs({ loop: 'teardown', 'pr-number': '101', kubeconfig: content }), ctx, deps(exec).d);
    const file = exec.commands[0]?.env?.KUBECONFIG as string;
    expect(file).toBe(join(tmp, 'jetscale-kubeconfig'));
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(exec.commands.every((c) => c.env?.KUBECONFIG === file)).toBe(true);
  });

  test('live: the test-command gets KUBECONFIG and JETSCALE_URL', async () => {
    const exec = new RecordingExecutor();
    await runLoop(
      inputs({ loop: 'live', url: 'https://app.jetscale.ai', kubeconfig: content, 'test-command': 'true' }),
      ctx,
      deps(exec).d,
    );
    expect(exec.commands).toHaveLength(1);
    expect(exec.commands[0]?.env).toMatchObject({
      KUBECONFIG: join(tmp, 'jetscale-kubeconfig'),
      JETSCALE_URL: 'https://app.jetscale.ai',
    });
    expect(readFileSync(join(tmp, 'jetscale-kubeconfig'), 'utf8')).toBe(content);
  });
});

describe('preview', () => {
  test('refuses to deploy into an existing namespace that is not ours', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: foreign });
    await expect(runLoop(inputs({ loop: 'preview', 'pr-number': '101' }), ctx, deps(exec).d)).rejects.toThrow(
      /Refusing to deploy into namespace jetscale-pr-101/,
    );
    expect(exec.lines()).toHaveLength(1);
  });

  test('redeploy into our namespace records the new SHA instead of creating it', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    await runLoop(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2' }),
      ctx,
      deps(exec).d,
    );
    expect(exec.lines()[1]).toBe(
      `kubectl annotate namespace jetscale-pr-101 --overwrite jetscale.ai/sha=${SHA}`,
    );
  });

  test('waits for every Deployment, StatefulSet and Job listed, not for "applied"', async () => {
    const workloads = {
      items: [
        { kind: 'Deployment', metadata: { name: 'pr-101-backend' } },
        { kind: 'StatefulSet', metadata: { name: 'pr-101-postgres' } },
        { kind: 'Job', metadata: { name: 'pr-101-migrate' } },
      ],
    };
    const exec = new RecordingExecutor().reply(/^kubectl get deployments,statefulsets,jobs/, {
      stdout: JSON.stringify(workloads),
    });
    await runLoop(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2' }),
      ctx,
      deps(exec).d,
    );
    expect(exec.lines().filter((l) => /rollout|wait/.test(l))).toEqual([
      'kubectl rollout status deployment/pr-101-backend -n jetscale-pr-101 --timeout=600s',
      'kubectl rollout status statefulset/pr-101-postgres -n jetscale-pr-101 --timeout=600s',
      'kubectl wait --for=condition=complete job/pr-101-migrate -n jetscale-pr-101 --timeout=600s',
    ]);
  });

  test('a PR closed during the deploy is torn down again (no orphan)', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    const reporter = recordingReporter({ open: false });
    const result = await runLoop(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2' }),
      ctx,
      deps(exec, { reporter }).d,
    );
    expect(result.tornDownAfterClose).toBe(true);
    expect(exec.lines().slice(-2)).toEqual([
      'helm uninstall pr-101 --namespace jetscale-pr-101 --wait --timeout 600s --ignore-not-found',
      'kubectl delete namespace jetscale-pr-101 --ignore-not-found --wait=true --timeout=600s',
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
          detail: '503 redis down',
        },
      ],
      diagnostics: async ({ dir }) => {
        dirs.push(dir);
        return '1 pod not ready';
      },
    });
    const error = await runLoop(
      inputs({ loop: 'preview', 'pr-number': '101', images: 'backend=r/b:2' }),
      ctx,
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

describe('ci-kind', () => {
  test('the cluster is deleted even when a contract check fails, and the state tells the post step', async () => {
    const exec = new RecordingExecutor();
    // Port-forwards are background commands the recording executor cannot run: the checks step fails there,
    // which is exactly a failure after the cluster exists.
    const { d, state } = deps(exec);
    await expect(runLoop(inputs({ loop: 'ci-kind', images: 'backend=r/b:1' }), ctx, d)).rejects.toThrow(
      /port-forward/,
    );
    expect(exec.lines().at(-1)).toBe('kind delete cluster --name jetscale-ci-777-2');
    expect(state).toEqual([
      [State.ClusterName, 'jetscale-ci-777-2'],
      [State.ClusterCreated, 'true'],
      [State.ClusterDeleted, 'true'],
    ]);
  });

  test('a failing kind create still ends with a delete', async () => {
    const exec = new RecordingExecutor().reply(/^kind create/, { exitCode: 1, stderr: 'boom' });
    const { d } = deps(exec);
    await expect(runLoop(inputs({ loop: 'ci-kind' }), ctx, d)).rejects.toThrow(
      /kind create cluster.*exit code 1: boom/,
    );
    expect(exec.lines()).toEqual([
      expect.stringMatching(/^kind create cluster --name jetscale-ci-777-2/),
      'kind delete cluster --name jetscale-ci-777-2',
    ]);
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
    await runLoop(inputs({ loop: 'live', url: 'https://app.jetscale.ai/' }), ctx, d);
    expect(exec.commands).toEqual([]);
    expect(tools).toEqual([]);
    expect(requests).toEqual([
      expect.objectContaining({ frontendUrl: 'https://app.jetscale.ai', mode: 'smoke' }),
    ]);
  });
});

test('extra values: files merged in order, then set entries with scalar types', () => {
  const a = join(tmp, 'a.yaml');
  const b = join(tmp, 'b.yaml');
  writeFileSync(a, 'backend:\n  replicaCount: 1\n  image: { tag: one }\n');
  writeFileSync(b, 'backend:\n  image: { tag: two }\n');
  const inp = parseInputs({
    values: `${a}\n${b}`,
    set: 'backend.replicaCount=3\ningress.enabled=false\nglobal.gitSha=abc',
  });
  expect(extraValues(inp, ctx)).toEqual({
    backend: { replicaCount: 3, image: { tag: 'two' } },
    ingress: { enabled: false },
    global: { gitSha: 'abc' },
  });
});

function recordingReporter(opts: { open?: boolean } = {}): ReporterLike & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    reportDeploy: async (a) => {
      calls.push(`deploy:${a.status}`);
    },
    reportTeardown: async () => {
      calls.push('teardown');
    },
    isPullRequestOpen: async () => opts.open ?? true,
  };
}
