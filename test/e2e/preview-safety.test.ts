/**
 * Preview safety on a real cluster, not scripted output (issue 9, point 4): the bundled action (node
 * dist/index.js, as a runner runs it) against the rig's shared cluster and the loopback GitHub server, for the
 * paths that were tested only against scripted kubectl output and an in-process reporter:
 *   - a deploy into a namespace someone else owns is refused, and nothing in it changes;
 *   - a PR closed while its preview deploys is torn down again, leaving no orphan;
 *   - when a pod really fails, the diagnostics hold that pod's events and the last lines of its log.
 * PRs 901–905 are this file's own (no other e2e file uses them), so it can share the cluster with other runs.
 */
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import { repoRoot } from '../support/tools.js';
import {
  createForeignNamespace,
  diagnosticsFiles,
  helmReleaseNamespaces,
  ingressesFor,
  namespaceSnapshot,
  namespacesLabelledFor,
  RIG_IMAGES,
  RIG_VALUES,
  type RigIngress,
  rigClusterSkipReason,
  rigIngress,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason() ?? rigClusterSkipReason();
const TOKEN = 'ghs_e2eSafetyTokenForTheLoopbackServer';
const FIXTURES = join(repoRoot, 'test', 'e2e', 'fixtures');

/** The preview's namespace exists unlabelled for us: someone else's (managed by another tool). */
const PR_UNLABELLED = 901;
/** The preview's namespace carries our labels, but for another PR (OTHER_PR). */
const PR_LABELLED_FOR_OTHER = 902;
const OTHER_PR = 905;
/** Closed on the loopback server while its preview deploys. */
const PR_CLOSED = 903;
/** Deployed with a backend that crashes at start. */
const PR_CRASH = 904;
const PRS = [PR_UNLABELLED, PR_LABELLED_FOR_OTHER, PR_CLOSED, PR_CRASH];

const namespaceOf = (pr: number) => `jetscale-pr-${pr}`;
const hostOf = (pr: number) => `pr-${pr}.app.jetscale.ai`;
const shaOf = (pr: number) => `${pr}a`.repeat(10);
const kubectl = rigKubectl;

function namespaceExists(ns: string): boolean {
  return kubectl('get', 'namespace', ns).status === 0;
}

/** The ::error:: lines of a run (what the runner shows as the step's failure). */
function errorLines(out: string): string {
  return out
    .split('\n')
    .filter((l) => l.startsWith('::error'))
    .join('\n');
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe.skipIf(skip)(
  `preview safety on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let github: GitHubServer;
    let ingress: RigIngress;

    /**
     * Starts the preview loop of `pr` (a pull_request opened event); values files from fixtures/ are added last.
     * `timeout` is the action's input: it also bounds how long the deploy waits for a pod that never gets ready.
     */
    function startPreview(pr: number, fixtures: string[] = [], timeout = '5m') {
      const { env, dir } = runnerEnv({
        event: pullRequestEventPayload({
          action: 'opened',
          repository: 'jetscale/app',
          number: pr,
          headSha: shaOf(pr),
          headRef: `feature-${pr}`,
          baseRef: 'main',
        }),
        extra: {
          GITHUB_REPOSITORY: 'jetscale/app',
          GITHUB_RUN_ID: `${Date.now()}`.slice(-9),
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_API_URL: github.url,
          GITHUB_SERVER_URL: 'https://github.com',
          NODE_EXTRA_CA_CERTS: ingress.caFile,
        },
        inputs: {
          loop: 'preview',
          'github-token': TOKEN,
          kubeconfig: rigKubeconfig(),
          images: `backend=${RIG_IMAGES.backend}\nfrontend=${RIG_IMAGES.frontend}`,
          // Values files inside the workspace, by relative path, as a workflow gives them.
          values: ['rig-values.yaml', ...fixtures].join('\n'),
          set: `ingress.className=${ingress.className}`,
          resolve: `${hostOf(pr)}=${ingress.ip}`,
          timeout,
        },
      });
      writeFileSync(join(dir, 'rig-values.yaml'), RIG_VALUES);
      for (const f of fixtures) copyFileSync(join(FIXTURES, f), join(dir, f));
      const run = runBundle('dist/index.js', env);
      const finished = run.done.then((code) => ({
        code,
        out: run.output(),
        outputs: parseCommandFile(join(dir, 'output')),
      }));
      return { run, finished };
    }

    function deploymentsOf(pr: number) {
      return github.state.deployments
        .filter((d) => d.environment === `preview/pr-${pr}`)
        .map((d) => ({ id: d.id, states: (github.state.statuses.get(d.id) ?? []).map((s) => s.state) }));
    }

    function cleanUp(wait: boolean) {
      for (const pr of PRS)
        kubectl(
          'delete',
          'namespace',
          namespaceOf(pr),
          '--ignore-not-found',
          `--wait=${wait}`,
          '--timeout=180s',
        );
    }

    beforeAll(async () => {
      ingress = rigIngress();
      github = await startGitHubServer({
        owner: 'jetscale',
        repo: 'app',
        token: TOKEN,
        pulls: Object.fromEntries(PRS.map((pr) => [pr, 'open' as const])),
      });
      // Leftovers of an interrupted earlier run would make the assertions below meaningless.
      cleanUp(true);
    }, 240_000);

    afterAll(async () => {
      await github?.close();
      cleanUp(false);
    }, 60_000);

    test.each<{ pr: number; whose: string; labels: Record<string, string>; named: RegExp[] }>([
      {
        pr: PR_UNLABELLED,
        whose: 'not labelled for us (managed by another tool)',
        labels: { 'app.kubernetes.io/managed-by': 'someone-else', team: 'payments' },
        named: [/app\.kubernetes\.io\/managed-by\W{1,5}someone-else/, /team\W{1,5}payments/],
      },
      {
        pr: PR_LABELLED_FOR_OTHER,
        whose: `labelled for another PR (${OTHER_PR})`,
        labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': String(OTHER_PR) },
        // Ours, for PR 905, made before repositories were recorded: named by its PR and that history.
        named: [new RegExp(`belongs to PR #${OTHER_PR} of the primary repository`)],
      },
    ])(
      'a deploy into a namespace someone else owns is refused: $whose; nothing in it changes, nothing else is created, the PR is told it failed',
      async ({ pr, labels, named }) => {
        const ns = namespaceOf(pr);
        await createForeignNamespace(ns, labels);
        const before = namespaceSnapshot(ns);

        const r = await startPreview(pr).finished;

        expect(r.code, r.out).not.toBe(0);
        // The failure names the namespace and the labels it carries (whose it is).
        const errors = errorLines(r.out);
        expect(errors, r.out).toContain(ns);
        for (const label of named) expect(errors, r.out).toMatch(label);
        // Nothing in the namespace changed: no object created, changed or deleted, the namespace itself untouched
        // (no label, no SHA annotation).
        expect(namespaceSnapshot(ns)).toEqual(before);
        expect(kubectl('get', 'configmap', 'theirs', '-n', ns, '-o', 'jsonpath={.data.owner}').stdout).toBe(
          'someone-else',
        );
        // Nothing else was created for this PR anywhere on the cluster: no namespace labelled for it, no release,
        // no ingress for its host.
        expect(namespacesLabelledFor(pr)).toEqual([]);
        expect(helmReleaseNamespaces(`pr-${pr}`)).toEqual([]);
        expect(ingressesFor(hostOf(pr))).toEqual([]);
        // The PR is told: one comment saying the deploy failed, and the deployment ends in failure.
        const comments = github.state.comments.get(pr) ?? [];
        expect(comments).toHaveLength(1);
        expect(comments[0]?.body).toMatch(/fail/i);
        expect(comments[0]?.body).toContain(ns);
        const deployments = deploymentsOf(pr);
        expect(deployments.length, JSON.stringify(deployments)).toBeGreaterThan(0);
        for (const d of deployments) {
          expect(d.states.at(-1), JSON.stringify(d)).toBe('failure');
          expect(d.states).not.toContain('success');
        }
      },
      300_000,
    );

    test('a PR closed while its preview deploys is torn down again: no orphan, the comment says removed, deployments inactive', async () => {
      const pr = PR_CLOSED;
      const ns = namespaceOf(pr);
      const preview = startPreview(pr);
      // The deploy is under way once the action has created the preview's namespace: the PR closes now.
      await until(
        `namespace ${ns} created by the preview`,
        () => namespaceExists(ns) || preview.run.child.exitCode !== null,
        300_000,
      );
      expect(preview.run.child.exitCode, preview.run.output()).toBeNull();
      const isPullRequestRead = (q: { method: string; path: string }) =>
        q.method === 'GET' && q.path === `/repos/jetscale/app/pulls/${pr}`;
      expect(github.requests.some(isPullRequestRead)).toBe(false);
      const closedAt = github.requests.length;
      github.setPullState(pr, 'closed');

      const r = await preview.finished;

      expect(r.code, r.out).toBe(0);
      // The action asked GitHub after the PR had closed, and tore the preview down again.
      expect(github.requests.slice(closedAt).some(isPullRequestRead), github.lines().join('\n')).toBe(true);
      expect(namespaceExists(ns), r.out).toBe(false);
      // No orphan anywhere on the cluster: no namespace labelled for the PR, no release, no ingress for its host.
      expect(namespacesLabelledFor(pr)).toEqual([]);
      expect(helmReleaseNamespaces(`pr-${pr}`)).toEqual([]);
      expect(ingressesFor(hostOf(pr))).toEqual([]);
      // The PR is told: its one comment says the preview was removed; every deployment ends inactive.
      const comments = github.state.comments.get(pr) ?? [];
      expect(comments).toHaveLength(1);
      expect(comments[0]?.body).toMatch(/removed|torn down/i);
      const deployments = deploymentsOf(pr);
      expect(deployments.length, JSON.stringify(deployments)).toBeGreaterThan(0);
      for (const d of deployments) {
        expect(d.states[0], JSON.stringify(d)).toBe('in_progress');
        expect(d.states.at(-1), JSON.stringify(d)).toBe('inactive');
      }
    }, 600_000);

    test("a failing preview's comment carries the reason with no secret in it (the crashing pod, its last event and log lines), and its diagnostics hold the events and the last log lines", async () => {
      const pr = PR_CRASH;
      const ns = namespaceOf(pr);

      // 90 s: the Deployments' progress deadline, so Skaffold's status check gives up then, not after 10 minutes.
      const t0 = Date.now();
      const r = await startPreview(pr, ['crashing-backend-values.yaml'], '90s').finished;
      const seconds = Math.round((Date.now() - t0) / 1000);

      expect(r.code, r.out).not.toBe(0);
      const backend = JSON.parse(kubectl('get', 'deployment', '-n', ns, '-o', 'json').stdout).items.find(
        (d: { metadata: { name: string } }) => d.metadata.name.endsWith('-backend'),
      );
      expect(backend?.spec.progressDeadlineSeconds, `deploy took ${seconds} s`).toBe(90);
      const diag = r.outputs['diagnostics-dir'];
      expect(diag, r.out).toBeTruthy();
      expect(existsSync(diag as string)).toBe(true);
      // The failing pod, as the cluster reports it: the backend, restarting after exiting with code 2.
      const pods = JSON.parse(
        kubectl('get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/name=backend', '-o', 'json').stdout,
      ).items as Array<{
        metadata: { name: string };
        status: {
          containerStatuses?: Array<{
            name: string;
            restartCount: number;
            lastState?: { terminated?: { exitCode: number } };
            state?: { terminated?: { exitCode: number } };
          }>;
        };
      }>;
      const failing = pods.filter((p) =>
        (p.status.containerStatuses ?? []).some(
          (c) => c.lastState?.terminated?.exitCode === 2 || c.state?.terminated?.exitCode === 2,
        ),
      );
      expect(failing.length, JSON.stringify(pods, null, 1)).toBeGreaterThan(0);

      const files = diagnosticsFiles(diag as string);
      const listing = files.map((f) => f.path).join('\n');
      for (const pod of failing.map((p) => p.metadata.name)) {
        // Its events: the kubelet backing off (or the container failing), naming the pod.
        const events = files.flatMap((f) =>
          f.text
            .split('\n')
            .filter((l) => l.includes(pod) && /\b(BackOff|Failed|Unhealthy)\b/.test(l))
            .map((l) => `${f.path}: ${l}`),
        );
        expect(events, `no event of ${pod} in:\n${listing}`).not.toEqual([]);
        // The last lines of its container's log: the backend's own words on why it stopped.
        const logs = files.filter((f) => f.path.includes(pod) || f.text.includes(`pod/${pod}/`));
        const crashLines = logs.flatMap((f) =>
          f.text
            .split('\n')
            .filter((l) => l.includes('"invalid configuration"'))
            .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>),
        );
        expect(crashLines, `no log of ${pod} with its last words in:\n${listing}`).not.toEqual([]);
        for (const line of crashLines) {
          expect(line).toMatchObject({ level: 'error', msg: 'invalid configuration', service: 'backend' });
          expect(line.error).toMatch(/READY_TIMEOUT_MS.*crash-on-purpose-904/);
        }
      }
      // The PR is told the deploy failed, and why, in the comment itself: the pod that did not become ready, its
      // last event, its container's last words (the token it printed redacted), and the run to read more in.
      const body = (github.state.comments.get(pr) ?? [])[0]?.body ?? '';
      expect(body).toMatch(/fail/i);
      const reason = body.slice(body.indexOf('**What failed first**'));
      expect(reason, body).toMatch(
        /^\*\*What failed first\*\* \(full log: run \[\d+\]\(https:\/\/github\.com\/jetscale\/app\/actions\/runs\/\d+\)\):/,
      );
      expect(reason).toMatch(
        new RegExp(`pod (${failing.map((p) => p.metadata.name).join('|')}) is not Ready`),
      );
      expect(reason).toMatch(/last event: (BackOff|Failed|Unhealthy): /);
      expect(reason).toContain('invalid configuration');
      expect(reason).toContain('crash-on-purpose-904');
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain('ghs_e2e');
      for (const d of deploymentsOf(pr)) expect(d.states.at(-1), JSON.stringify(d)).toBe('failure');
    }, 600_000);
  },
);
