/**
 * Kubernetes faults (issue 14, point 4), on the rig's shared cluster: the bundled action (node dist/index.js, as a
 * runner runs it) talks to the API server through a loopback proxy (test/support/api-proxy.ts) that the test cuts
 * and restores; a namespace is held in Terminating by a finalizer on an object the test made in it.
 * PRs 601–603 are this file's own (no other e2e file uses them): only their namespaces are created and removed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ApiProxy, startApiProxy } from '../support/api-proxy.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { type Run, runBundle, runnerEnv } from '../support/runner.js';
import {
  FULL_CHECKS,
  helmReleaseNamespaces,
  ingressesFor,
  makeFakePreview,
  namespaceExists,
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
const TOKEN = 'ghs_e2eK8sFaultsTokenForTheLoopbackServer';
const REPOSITORY = 'jetscale/app';
/** Deployed, then torn down with the API server unreachable in the middle, then torn down again. */
const PR_TEARDOWN = 601;
/** Re-opened while its old namespace is Terminating, released after a few seconds; torn down through cuts. */
const PR_REOPEN = 602;
/** Re-opened while its old namespace stays Terminating past the wait. */
const PR_STUCK = 603;
const PRS = [PR_TEARDOWN, PR_REOPEN, PR_STUCK];
/** The finalizer that holds a namespace in Terminating: on a ConfigMap the test itself creates in it. */
const HOLD = 'e2e.jetscale.ai/hold';

const namespaceOf = (pr: number) => `jetscale-pr-${pr}`;
const hostOf = (pr: number) => `pr-${pr}.app.jetscale.ai`;
const shaOf = (pr: number) => `${pr}f`.repeat(10);
const kubectl = rigKubectl;

/** The ::error:: lines of a run (what the runner shows as the step's failure). */
function errorLines(out: string): string {
  return out
    .split('\n')
    .filter((l) => l.startsWith('::error'))
    .join('\n');
}

/** Polls the run's output (without blocking the event loop, where the proxy runs) until pattern shows. */
async function outputShows(run: Run, pattern: RegExp, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!pattern.test(run.output())) {
    if (run.child.exitCode !== null) throw new Error(`exited before ${pattern}:\n${run.output()}`);
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function namespaceJson(ns: string): {
  metadata: { uid: string; deletionTimestamp?: string };
  status?: { phase?: string };
} {
  const r = kubectl('get', 'namespace', ns, '-o', 'json');
  if (r.status !== 0) throw new Error(`namespace ${ns}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The objects in a namespace, as Kind/name (what was created in it, whatever their versions). */
function objectsIn(ns: string): string[] {
  const kinds = kubectl('api-resources', '--verbs=list', '--namespaced', '-o', 'name')
    .stdout.split('\n')
    .filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
  const r = kubectl('get', kinds.join(','), '-n', ns, '-o', 'json');
  if (r.status !== 0) throw new Error(`objects in ${ns}: ${r.stderr}`);
  return (JSON.parse(r.stdout).items as Array<{ kind: string; metadata: { name: string } }>)
    .map((i) => `${i.kind}/${i.metadata.name}`)
    .sort();
}

/**
 * An old preview of `pr` (labelled as the preview loop labels it) being deleted and held in Terminating by the
 * test's own ConfigMap with a finalizer. Returns its UID once only that ConfigMap holds it.
 */
async function terminatingPreview(pr: number): Promise<string> {
  const ns = makeFakePreview({
    prefix: 'jetscale-pr-',
    pr,
    sha: shaOf(pr),
    repository: REPOSITORY,
    idleHours: 0,
  });
  const hold = kubectl('create', 'configmap', 'e2e-hold', '-n', ns, '--from-literal=why=holds-the-namespace');
  if (hold.status !== 0) throw new Error(`hold in ${ns}: ${hold.stderr}`);
  const fin = kubectl(
    'patch',
    'configmap',
    'e2e-hold',
    '-n',
    ns,
    '--type=merge',
    '-p',
    JSON.stringify({ metadata: { finalizers: [HOLD] } }),
  );
  if (fin.status !== 0) throw new Error(`finalizer in ${ns}: ${fin.stderr}`);
  const del = kubectl('delete', 'namespace', ns, '--wait=false');
  if (del.status !== 0) throw new Error(`deleting ${ns}: ${del.stderr}`);
  for (let i = 0; i < 120; i++) {
    if (JSON.stringify(namespaceJson(ns)).includes(`${HOLD} in 1 resource instances`))
      return namespaceJson(ns).metadata.uid;
    await sleep(500);
  }
  throw new Error(
    `namespace ${ns}: not held by ${HOLD} alone within 60 s: ${JSON.stringify(namespaceJson(ns))}`,
  );
}

/** Lets a held namespace go: the test's finalizer removed from its own ConfigMap. */
function release(ns: string): void {
  kubectl(
    'patch',
    'configmap',
    'e2e-hold',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":null}}',
  );
}

describe.skipIf(skip)(
  `Kubernetes faults on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let github: GitHubServer;
    let ingress: RigIngress;
    let proxy: ApiProxy;

    /** Starts the preview or teardown loop of `pr` against `kubeconfig` (the rig's, or the proxy's). */
    function start(loop: 'preview' | 'teardown', pr: number, kubeconfig: string, timeout = '6m') {
      const { env, dir } = runnerEnv({
        event: pullRequestEventPayload({
          action: loop === 'teardown' ? 'closed' : 'reopened',
          repository: REPOSITORY,
          number: pr,
          headSha: shaOf(pr),
          headRef: `feature-${pr}`,
          baseRef: 'main',
        }),
        extra: {
          GITHUB_REPOSITORY: REPOSITORY,
          GITHUB_RUN_ID: `${Date.now()}`.slice(-9),
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_API_URL: github.url,
          GITHUB_SERVER_URL: 'https://github.com',
          NODE_EXTRA_CA_CERTS: ingress.caFile,
        },
        inputs: {
          loop,
          'github-token': TOKEN,
          kubeconfig,
          images: `backend=${RIG_IMAGES.backend}\nfrontend=${RIG_IMAGES.frontend}`,
          values: 'rig-values.yaml',
          set: `ingress.className=${ingress.className}`,
          resolve: `${hostOf(pr)}=${ingress.ip}`,
          timeout,
        },
      });
      writeFileSync(join(dir, 'rig-values.yaml'), RIG_VALUES);
      const run = runBundle('dist/index.js', env);
      return { run, finished: run.done.then((code) => ({ code, out: run.output() })) };
    }

    /** Nothing of `pr` anywhere on the cluster: no namespace labelled for it, no release, no ingress for its host. */
    function noTrace(pr: number) {
      expect(namespacesLabelledFor(pr)).toEqual([]);
      expect(helmReleaseNamespaces(`pr-${pr}`)).toEqual([]);
      expect(ingressesFor(hostOf(pr))).toEqual([]);
    }

    function cleanUp(wait: boolean) {
      for (const pr of PRS) {
        const ns = namespaceOf(pr);
        if (!namespaceExists(ns)) continue;
        release(ns);
        kubectl('delete', 'namespace', ns, '--ignore-not-found', `--wait=${wait}`, '--timeout=180s');
      }
    }

    beforeAll(async () => {
      ingress = rigIngress();
      github = await startGitHubServer({
        owner: 'jetscale',
        repo: 'app',
        token: TOKEN,
        pulls: Object.fromEntries(PRS.map((pr) => [pr, 'open' as const])),
      });
      proxy = await startApiProxy(rigKubeconfig());
      // Leftovers of an interrupted earlier run would make the assertions below meaningless.
      cleanUp(true);
    }, 240_000);

    afterAll(async () => {
      await proxy?.close();
      await github?.close();
      cleanUp(false);
    }, 60_000);

    test('the API server unreachable in the middle of a teardown fails clearly and the next run completes it', async () => {
      const pr = PR_TEARDOWN;
      const ns = namespaceOf(pr);
      const deployed = await start('preview', pr, rigKubeconfig()).finished;
      expect(deployed.code, deployed.out).toBe(0);

      // The teardown through the proxy: the API server becomes unreachable once the uninstall has started.
      const first = start('teardown', pr, proxy.kubeconfig);
      await outputShows(first.run, /\[command\]\S*helm uninstall/, 120_000);
      await proxy.set('refuse');
      const r1 = await first.finished;
      await proxy.set('pass');

      expect(r1.code, r1.out).not.toBe(0);
      const errors = errorLines(r1.out);
      // What it was doing, why it stopped, what is left, and what to do.
      expect(errors, r1.out).toMatch(
        new RegExp(`Teardown of ${ns} stopped while uninstalling release pr-${pr}: helm uninstall`),
      );
      expect(errors).toMatch(/connection refused/);
      expect(errors).toMatch(
        new RegExp(
          `Left: release pr-${pr} \\(perhaps partly uninstalled\\) and namespace ${ns}\\. Run the teardown again`,
        ),
      );
      // The helm call was retried (bounded) before the teardown gave up.
      expect(r1.out).toMatch(/helm uninstall hit a transient fault \(connection refused\): try 5 of 5/);
      expect(namespaceExists(ns), 'the namespace is left for the next run').toBe(true);

      const r2 = await start('teardown', pr, proxy.kubeconfig).finished;
      expect(r2.code, r2.out).toBe(0);
      expect(namespaceExists(ns)).toBe(false);
      noTrace(pr);
      const comments = github.state.comments.get(pr) ?? [];
      expect(comments).toHaveLength(1);
      expect(comments[0]?.body).toMatch(/torn down|removed/i);
    }, 900_000);

    test('a preview re-opened while its old namespace is still Terminating waits for it, creating nothing in it, then deploys', async () => {
      const pr = PR_REOPEN;
      const ns = namespaceOf(pr);
      const oldUid = await terminatingPreview(pr);

      const preview = start('preview', pr, rigKubeconfig());
      await outputShows(
        preview.run,
        new RegExp(
          `Namespace ${ns} is still being deleted \\(Terminating since \\S+\\): waiting up to 300 s for it to be gone before creating it again\\.`,
        ),
        120_000,
      );
      // A few seconds of waiting: nothing is created meanwhile, in the old namespace or for the PR anywhere.
      await sleep(4000);
      expect(namespaceJson(ns).metadata.uid).toBe(oldUid);
      expect(objectsIn(ns)).toEqual(['ConfigMap/e2e-hold']);
      expect(helmReleaseNamespaces(`pr-${pr}`)).toEqual([]);
      expect(preview.run.child.exitCode).toBeNull();
      release(ns);

      const r = await preview.finished;
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(new RegExp(`Namespace ${ns} is gone after \\d+ s\\.`));
      const now = namespaceJson(ns);
      expect(now.metadata.uid).not.toBe(oldUid);
      expect(now.metadata.deletionTimestamp).toBeUndefined();
      for (const check of FULL_CHECKS) expect(r.out).toContain(`✓ ${check} `);
    }, 900_000);

    test('a preview re-opened while its old namespace is still Terminating waits for it: past the bound it fails saying so, and creates nothing', async () => {
      const pr = PR_STUCK;
      const ns = namespaceOf(pr);
      const oldUid = await terminatingPreview(pr);
      const before = objectsIn(ns);

      // timeout 20s: the wait's bound (at most 300 s).
      const t0 = Date.now();
      const r = await start('preview', pr, rigKubeconfig(), '20s').finished;
      const seconds = (Date.now() - t0) / 1000;

      expect(r.code, r.out).not.toBe(0);
      const errors = errorLines(r.out);
      expect(errors, r.out).toMatch(
        new RegExp(
          `Namespace ${ns} is still Terminating after waiting 20 s \\(its deletion started at \\S+\\)\\.`,
        ),
      );
      // What holds it, in the namespace controller's words: the test's finalizer among them.
      expect(errors).toMatch(
        /What holds it: [^\n]*finalizers remaining: e2e\.jetscale\.ai\/hold in 1 resource instances\./,
      );
      expect(errors).toContain('Nothing was created: run the preview again once the namespace is gone.');
      expect(seconds, r.out).toBeGreaterThanOrEqual(20);
      expect(seconds, r.out).toBeLessThan(120);
      // Nothing was created: the old namespace is the same, still Terminating, with the same objects; no release,
      // no ingress.
      const now = namespaceJson(ns);
      expect(now.metadata.uid).toBe(oldUid);
      expect(now.metadata.deletionTimestamp).toBeTruthy();
      expect(objectsIn(ns)).toEqual(before);
      expect(helmReleaseNamespaces(`pr-${pr}`)).toEqual([]);
      expect(ingressesFor(hostOf(pr))).toEqual([]);
      // The PR is told why.
      const body = (github.state.comments.get(pr) ?? [])[0]?.body ?? '';
      expect(body).toMatch(/still Terminating/);
      release(ns);
    }, 600_000);

    test('kubectl and helm calls that hit transient errors are retried: the API server cut twice during a teardown, the teardown completes', async () => {
      const pr = PR_REOPEN;
      const ns = namespaceOf(pr);
      expect(namespaceExists(ns), 'the preview of the scenario before').toBe(true);

      // Unreachable from the start: the first kubectl read meets a refused connection, and is tried again.
      await proxy.set('refuse');
      const teardown = start('teardown', pr, proxy.kubeconfig);
      await outputShows(
        teardown.run,
        /kubectl get hit a transient fault \(connection refused\): try 2 of 5/,
        120_000,
      );
      await proxy.set('pass');
      // Then every connection reset as the uninstall starts, for a few seconds.
      await outputShows(teardown.run, /\[command\]\S*helm uninstall/, 120_000);
      await proxy.set('reset');
      await outputShows(teardown.run, /helm uninstall hit a transient fault \(/, 120_000);
      await proxy.set('pass');

      const r = await teardown.finished;
      expect(r.code, r.out).toBe(0);
      expect(namespaceExists(ns)).toBe(false);
      noTrace(pr);
    }, 600_000);
  },
);
