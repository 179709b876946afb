import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { collectDiagnostics, lastLogLines, parsePods } from '../../src/diagnostics.js';
import { ExecExecutor } from '../../src/executor.js';
import { startContractServer } from '../support/contract-server.js';
import { RecordingExecutor } from '../support/recording-executor.js';
import { requireTool } from '../support/tools.js';

function pod(
  name: string,
  opts: { ready: boolean; phase?: string; restarts?: number; waiting?: string; namespace?: string },
): unknown {
  return {
    metadata: { name, namespace: opts.namespace ?? 'jetscale-pr-7' },
    status: {
      phase: opts.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: opts.ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          restartCount: opts.restarts ?? 0,
          state: opts.waiting ? { waiting: { reason: opts.waiting } } : { running: {} },
        },
      ],
    },
  };
}

const PODS = JSON.stringify({
  items: [
    pod('app-backend-5d9f', { ready: true }),
    pod('app-frontend-7c4b', { ready: false, restarts: 4, waiting: 'CrashLoopBackOff' }),
    pod('app-postgres-0', { ready: false, waiting: 'ContainerCreating' }),
    pod('app-migrate-x2x', { ready: false, phase: 'Succeeded' }),
  ],
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diagnostics-'));
});

const event = (type: string, kind: string, name: string, reason: string, message: string, at: string) => ({
  type,
  reason,
  message,
  lastTimestamp: at,
  involvedObject: { kind, name },
});
const EVENTS = JSON.stringify({
  items: [
    event(
      'Warning',
      'Pod',
      'app-frontend-7c4b',
      'BackOff',
      'Back-off restarting failed container web',
      '2026-12-02T10:05:00Z',
    ),
    event(
      'Normal',
      'Pod',
      'app-frontend-7c4b',
      'Pulled',
      'Container image already present',
      '2026-12-02T10:06:00Z',
    ),
    event('Warning', 'Pod', 'app-other-1', 'Unhealthy', 'Readiness probe failed', '2026-12-02T10:07:00Z'),
    event(
      'Warning',
      'ReplicaSet',
      'app-backend-5d9f',
      'FailedCreate',
      'pods "app-backend-5d9f-" is forbidden: exceeded quota',
      '2026-12-02T10:01:00Z',
    ),
    event('Warning', 'Pod', 'app-frontend-7c4b', 'Failed', 'Error: older', '2026-12-02T10:04:00Z'),
  ],
});

test('the last log lines the comment may quote: no kubectl prefix, no NAME=value line', () => {
  const logs = [
    '[pod/p-1/web] starting',
    '[pod/p-1/web] DATABASE_URL=postgres://app:s3cret@db/app',
    '[pod/p-1/web] export STRIPE_KEY=sk_live_x',
    '[pod/p-1/web] {"level":"error","msg":"boom"}',
    '',
  ].join('\n');
  expect(lastLogLines(logs)).toEqual([
    'starting',
    '[a NAME=value line left out]',
    '[a NAME=value line left out]',
    '{"level":"error","msg":"boom"}',
  ]);
});

describe('collectDiagnostics', () => {
  test('namespace, kubeconfig, context and kind: runs each command and writes each output', async () => {
    const exec = new RecordingExecutor()
      .reply(/ get all,events /, { stdout: 'NAME READY STATUS\npod/app-backend-5d9f 1/1 Running\n' })
      .reply(/ describe pods /, { stdout: 'Name: app-backend-5d9f\n' })
      .reply(/ get pods -o json /, { stdout: PODS })
      .reply(/ get events -o json /, { stdout: EVENTS })
      .reply(/ logs app-frontend-7c4b .* --previous$/, {
        stdout: '[pod/app-frontend-7c4b/web] panic: boom\n',
      })
      .reply(/ logs app-frontend-7c4b /, { stdout: '[pod/app-frontend-7c4b/web] listening\n' })
      .reply(/ logs app-postgres-0 /, {
        exitCode: 1,
        stderr: 'container "postgres" in pod "app-postgres-0" is waiting to start: ContainerCreating\n',
      })
      .reply(/^kind export logs/, { stdout: `Exported logs for cluster "ci" to:\n${dir}/kind\n` });
    const env = { KUBECONFIG: '/ignored-because-flag-wins', PATH: '/tools/bin' };

    const { summary, firstFailure } = await collectDiagnostics(exec, {
      kubeconfig: '/tmp/kc',
      context: 'kind-ci',
      namespace: 'jetscale-pr-7',
      kindCluster: 'ci',
      env,
      dir,
    });

    const k = 'kubectl --kubeconfig /tmp/kc --context kind-ci';
    expect(exec.lines()).toEqual([
      `${k} get all,events -o wide --namespace jetscale-pr-7`,
      `${k} describe pods --namespace jetscale-pr-7`,
      `${k} get pods -o json --namespace jetscale-pr-7`,
      `${k} get events -o json --namespace jetscale-pr-7`,
      `${k} get jobs -o json --namespace jetscale-pr-7`,
      `${k} logs app-frontend-7c4b --namespace jetscale-pr-7 --all-containers --prefix`,
      `${k} logs app-frontend-7c4b --namespace jetscale-pr-7 --all-containers --prefix --previous`,
      `${k} logs app-postgres-0 --namespace jetscale-pr-7 --all-containers --prefix`,
      `kind export logs ${dir}/kind --name ci`,
    ]);
    for (const c of exec.commands) {
      expect(c.allowFailure).toBe(true);
      expect(c.env).toEqual(env);
    }

    const files = (await readdir(dir, { recursive: true })).sort();
    expect(files).toEqual(
      [
        'describe-pods.txt',
        'events.json',
        'get-all-events.txt',
        'jobs.json',
        'kind-export-logs.txt',
        'logs',
        'logs/jetscale-pr-7_app-frontend-7c4b.log',
        'logs/jetscale-pr-7_app-frontend-7c4b.previous.log',
        'logs/jetscale-pr-7_app-postgres-0.log',
        'pods.json',
        'summary.txt',
      ].sort(),
    );
    const getAll = await readFile(join(dir, 'get-all-events.txt'), 'utf8');
    expect(getAll).toBe(
      `$ ${k} get all,events -o wide --namespace jetscale-pr-7\n# exit code 0\nNAME READY STATUS\npod/app-backend-5d9f 1/1 Running\n`,
    );
    expect(await readFile(join(dir, 'logs/jetscale-pr-7_app-frontend-7c4b.previous.log'), 'utf8')).toContain(
      'panic: boom',
    );
    const postgresLog = await readFile(join(dir, 'logs/jetscale-pr-7_app-postgres-0.log'), 'utf8');
    expect(postgresLog).toContain('# exit code 1');
    expect(postgresLog).toContain(
      '# stderr\ncontainer "postgres" in pod "app-postgres-0" is waiting to start',
    );

    expect(summary).toBe(
      `diagnostics for namespace jetscale-pr-7 in ${dir}: 9 command output(s); 4 pod(s), 2 not Ready ` +
        '(jetscale-pr-7/app-frontend-7c4b CrashLoopBackOff, 4 restart(s), jetscale-pr-7/app-postgres-0 ContainerCreating)' +
        `; kind logs in ${dir}/kind; failed: logs/jetscale-pr-7_app-postgres-0.log (exit 1)`,
    );
    expect(await readFile(join(dir, 'summary.txt'), 'utf8')).toBe(`${summary}\n`);
    // The first pod that is not Ready, its latest warning (not another pod's), and its failed run's last lines.
    expect(firstFailure).toBe(
      [
        'pod app-frontend-7c4b is not Ready: CrashLoopBackOff after 4 restart(s)',
        'last event: BackOff: Back-off restarting failed container web',
        'last log lines:',
        'panic: boom',
      ].join('\n'),
    );
  });

  test('with no pod to blame, the first failure is the earliest warning event', async () => {
    const exec = new RecordingExecutor()
      .reply(/ get pods -o json /, { stdout: '{"items":[]}' })
      .reply(/ get events -o json /, { stdout: EVENTS });
    const { firstFailure } = await collectDiagnostics(exec, { namespace: 'ns', dir: join(dir, 'w') });
    expect(firstFailure).toBe(
      'replicaset/app-backend-5d9f: FailedCreate: pods "app-backend-5d9f-" is forbidden: exceeded quota',
    );
  });

  test('a failed migration Job is what failed first: its service and its last log lines, not the pods waiting for it', async () => {
    const job = (name: string, labels: Record<string, string>, condition: object) => ({
      metadata: { name, namespace: 'ns', labels },
      status: { conditions: [condition] },
    });
    const migration = {
      'app.kubernetes.io/name': 'go-api-migrate',
      'app.kubernetes.io/component': 'migration',
    };
    const failed = {
      type: 'Failed',
      status: 'True',
      reason: 'BackoffLimitExceeded',
      message: 'Job has reached the specified backoff limit',
    };
    const exec = new RecordingExecutor()
      .reply(/ get pods -o json /, {
        stdout: JSON.stringify({
          items: [
            pod('app-go-api-6b7f', { ready: false, phase: 'Pending', waiting: 'Init:CrashLoopBackOff' }),
          ],
        }),
      })
      .reply(/ get jobs -o json /, {
        stdout: JSON.stringify({
          items: [
            job('app-go-api-migrate-0123abcd', migration, failed),
            job(
              'app-other-migrate-aaaabbbb',
              { ...migration, 'app.kubernetes.io/name': 'other-migrate' },
              {
                type: 'Complete',
                status: 'True',
              },
            ),
          ],
        }),
      })
      .reply(/ logs job\/app-go-api-migrate-0123abcd /, {
        stdout:
          'applying 0002_items.sql\nDATABASE_URL=postgres://u:p@h/db\nERROR: relation "items" already exists\n',
      });
    const d = join(dir, 'migration');
    const { summary, firstFailure } = await collectDiagnostics(exec, { namespace: 'ns', dir: d });
    expect(exec.lines()).toContain(
      'kubectl logs job/app-go-api-migrate-0123abcd --namespace ns --all-containers --tail=50',
    );
    expect(exec.lines().filter((l) => l.includes('logs job/'))).toHaveLength(1);
    expect(await readFile(join(d, 'logs/ns_job_app-go-api-migrate-0123abcd.log'), 'utf8')).toContain(
      'relation "items" already exists',
    );
    expect(summary).toContain('failed job(s): app-go-api-migrate-0123abcd');
    expect(firstFailure).toBe(
      [
        'migration go-api failed: applying 0002_items.sql',
        '[a NAME=value line left out]',
        'ERROR: relation "items" already exists',
        '(job/app-go-api-migrate-0123abcd: BackoffLimitExceeded: Job has reached the specified backoff limit)',
      ].join('\n'),
    );
  });

  test('no namespace, no kind: all namespaces; an unreachable cluster does not throw', async () => {
    const refused =
      'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n';
    const exec = new RecordingExecutor().reply(/^kubectl /, { exitCode: 1, stderr: refused });
    const nested = join(dir, 'not', 'yet', 'there');

    const { summary } = await collectDiagnostics(exec, { dir: nested });

    expect(exec.lines()).toEqual([
      'kubectl get all,events -o wide --all-namespaces',
      'kubectl describe pods --all-namespaces',
      'kubectl get pods -o json --all-namespaces',
      'kubectl get events -o json --all-namespaces',
      'kubectl get jobs -o json --all-namespaces',
    ]);
    expect(await readFile(join(nested, 'describe-pods.txt'), 'utf8')).toContain(`# stderr\n${refused}`);
    expect(summary).toContain('diagnostics for all namespaces');
    expect(summary).toContain('pods could not be listed');
    expect(summary).toContain(
      'failed: get-all-events.txt (exit 1), describe-pods.txt (exit 1), pods.json (exit 1), events.json (exit 1), jobs.json (exit 1)',
    );
    expect(existsSync(join(nested, 'kind-export-logs.txt'))).toBe(false);
  });
});

describe('collectDiagnostics with real programs', () => {
  let savedPath: string | undefined;
  beforeEach(() => {
    savedPath = process.env.PATH;
  });
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  test('kubectl and kind missing from PATH: still writes every file and names what failed', async () => {
    process.env.PATH = await mkdtemp(join(tmpdir(), 'empty-path-'));
    const { summary } = await collectDiagnostics(new ExecExecutor(), {
      namespace: 'ns',
      kindCluster: 'ci',
      dir,
    });
    expect(summary).toContain('pods could not be listed');
    expect(summary).toContain('kind export logs failed');
    expect(summary).toContain('kind-export-logs.txt (exit -1)');
    expect(await readFile(join(dir, 'kind-export-logs.txt'), 'utf8')).toMatch(
      /# exit code -1\n# stderr\n.*kind/,
    );
  });

  const kubectl = requireTool('kubectl');
  test.skipIf(kubectl.skip)(
    `kubectl accepts every command line (cluster unreachable) ${kubectl.skip ?? ''}`,
    async () => {
      // A kubeconfig whose API server is a loopback port that answers 503 to everything.
      const api = await startContractServer();
      api.unavailableFor(60_000);
      try {
        const kubeconfig = join(dir, 'kubeconfig');
        await writeFile(
          kubeconfig,
          [
            'apiVersion: v1',
            'kind: Config',
            `clusters: [{name: c, cluster: {server: "${api.url}"}}]`,
            'users: [{name: u, user: {token: t}}]',
            'contexts: [{name: ctx, context: {cluster: c, user: u}}]',
            'current-context: ctx',
          ].join('\n'),
        );
        process.env.PATH = `${dirname(kubectl.path as string)}${delimiter}${savedPath}`;
        const out = join(dir, 'out');
        const { summary } = await collectDiagnostics(new ExecExecutor(), {
          kubeconfig,
          context: 'ctx',
          namespace: 'ns',
          dir: out,
        });
        expect(summary).toContain('pods could not be listed');
        for (const file of ['get-all-events.txt', 'describe-pods.txt', 'pods.json']) {
          const text = await readFile(join(out, file), 'utf8');
          expect(text).not.toMatch(/unknown (flag|shorthand)|error: unknown command/);
          expect(text).toMatch(/# exit code [1-9]/);
        }
        // kubectl really talked to the server for each listing.
        expect(api.requests.length).toBeGreaterThan(0);
      } finally {
        await api.close();
      }
    },
  );
});

describe('parsePods', () => {
  test.each([
    { input: '', pods: 0 },
    { input: 'not json', pods: 0 },
    { input: '{"items": "x"}', pods: 0 },
    { input: PODS, pods: 4 },
  ])('reads $pods pod(s) from %#', ({ input, pods }) => {
    expect(parsePods(input)).toHaveLength(pods);
  });

  test('readiness, restarts and reason', () => {
    expect(parsePods(PODS)[1]).toEqual({
      namespace: 'jetscale-pr-7',
      name: 'app-frontend-7c4b',
      phase: 'Running',
      ready: false,
      restarts: 4,
      reason: 'CrashLoopBackOff',
      crashLoop: { container: expect.any(String), restarts: 4 },
    });
  });
});
