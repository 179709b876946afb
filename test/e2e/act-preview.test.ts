import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ActRun,
  actHostFlags,
  actWithJobWorkflow,
  commitServiceRepo,
  pullRequestEvent,
  runActOnHost,
  stageMarkedCommit,
  stageStack,
} from '../support/act.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { node24 } from '../support/node24.js';
import { repoRoot, toolCacheDir } from '../support/tools.js';
import {
  FULL_CHECKS,
  RIG_VALUES,
  rigClusterSkipReason,
  rigIngress,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const PR = 301;
const NAMESPACE = `jetscale-pr-${PR}`;
/** The pull request of the SHA-pinned caller's scenario (its own namespace, so the scenarios never meet). */
const PINNED_PR = 302;
const PINNED_NAMESPACE = `jetscale-pr-${PINNED_PR}`;
const PINNED_HOST = `pr-${PINNED_PR}.app.jetscale.ai`;
const HOST = `pr-${PR}.app.jetscale.ai`;
const PREVIEW_URL = `https://${HOST}`;
const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const TOKEN = 'ghs_act-preview-test-token';
const CLUSTER = 'jetscale-rig';
const ACT_TIMEOUT_MS = 12 * 60_000;
const kubeconfigPath = rigKubeconfig(CLUSTER);

/**
 * act with GitHub's job.workflow_* context (the reusable workflows run their action from
 * job.workflow_repository at job.workflow_sha; act as released lacks it): test/support/act.ts.
 */
const act = actWithJobWorkflow();
/** The rig's reason to skip (throws in CI), then act's, then the shared cluster's. */
const skip = rigSkipReason() ?? act.skip ?? rigClusterSkipReason();
const kubectl = rigKubectl;

function namespaceExists(ns = NAMESPACE): boolean {
  const r = kubectl('get', 'namespace', ns, '-o', 'name', '--ignore-not-found');
  if (r.status !== 0) throw new Error(`kubectl get namespace ${ns}: ${r.stderr}`);
  return r.stdout.trim() !== '';
}

/** Removes what a failed earlier run may have left: this test's namespaces, nothing else. */
function removeNamespace(ns = NAMESPACE): void {
  if (!namespaceExists(ns)) return;
  const r = kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=180s');
  if (r.status !== 0) throw new Error(`kubectl delete namespace ${ns}: ${r.stderr}`);
}

interface ActPreviewRun extends ActRun {
  seconds: number;
}

describe.skipIf(skip)(`preview.yml under act on the rig${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work = '';
  let gh: GitHubServer;
  let runId = Math.floor(Date.now() / 1000);
  let ingress: ReturnType<typeof rigIngress>;
  let pinned: { sha: string; marker: string } = { sha: '', marker: '' };

  beforeAll(async () => {
    ingress = rigIngress(CLUSTER);
    removeNamespace();
    removeNamespace(PINNED_NAMESPACE);
    work = mkdtempSync(join(tmpdir(), 'jetscale-act-preview-'));
    // jetscale/stack@v1 (this checkout) and the checkout and upload-artifact stand-ins: test/support/act.ts
    stageStack(work);
    // A second commit of jetscale/stack, not tagged v1, whose action prints a marker first thing.
    pinned = stageMarkedCommit(work);
    // act's host mode sets RUNNER_TOOL_CACHE to <action cache>/tool_cache: there, the rig's pinned tools.
    mkdirSync(join(work, 'act-cache'));
    symlinkSync(toolCacheDir(), join(work, 'act-cache', 'tool_cache'));
    // The service repository (git remote jetscale/demo): its pull-request workflow and the rig values file.
    const svc = join(work, 'demo');
    mkdirSync(join(svc, '.github', 'workflows'), { recursive: true });
    const caller = readFileSync(join(repoRoot, 'test', 'e2e', 'fixtures', 'act', 'pr.yml'), 'utf8');
    writeFileSync(join(svc, '.github', 'workflows', 'pr.yml'), caller);
    // The same caller pinned to that commit instead of v1.
    const pinnedCaller = caller.replace('preview.yml@v1', `preview.yml@${pinned.sha}`);
    if (pinnedCaller === caller) throw new Error('pr.yml no longer calls preview.yml@v1');
    writeFileSync(join(svc, '.github', 'workflows', 'pr-pinned.yml'), pinnedCaller);
    writeFileSync(join(svc, 'rig-values.yaml'), RIG_VALUES);
    commitServiceRepo(svc, 'service repository');
    gh = await startGitHubServer({
      owner: 'jetscale',
      repo: 'demo',
      token: TOKEN,
      pulls: { [PR]: 'open', [PINNED_PR]: 'open' },
    });
  }, 900_000); // the first run builds act with the job.workflow_* context (minutes on a cold Go build cache)

  afterAll(async () => {
    await gh?.close();
    if (!skip) {
      removeNamespace();
      removeNamespace(PINNED_NAMESPACE);
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const event = (action: 'opened' | 'closed', headRepo: string, pr = PR) =>
    pullRequestEvent(action, headRepo, pr, SHA);

  /** Runs act for one pull_request event (asynchronously: the GitHub server in this process keeps answering). */
  async function runAct(
    ev: ReturnType<typeof event>,
    workflow = 'pr.yml',
    host = HOST,
  ): Promise<ActPreviewRun> {
    runId += 1; // every event is a newer run than the one before, as on GitHub
    const eventFile = join(work, `event-${runId}.json`);
    writeFileSync(eventFile, JSON.stringify(ev));
    const args = [
      'pull_request',
      '--json',
      '-W',
      `.github/workflows/${workflow}`,
      '-e',
      eventFile,
      ...actHostFlags(work),
      '-s',
      `PREVIEW_KUBECONFIG=${readFileSync(kubeconfigPath, 'utf8')}`,
      '-s',
      `GITHUB_TOKEN=${TOKEN}`,
      '--var',
      `RESOLVE=${host}=${ingress.ip}`,
      '--var',
      `INGRESS_CLASS=${ingress.className}`,
      '--env',
      `GITHUB_API_URL=${gh.url}`,
      '--env',
      `GITHUB_RUN_ID=${runId}`,
      '--env',
      `NODE_EXTRA_CA_CERTS=${ingress.caFile}`,
    ];
    const t0 = Date.now();
    const run = await runActOnHost({
      act: act.path as string,
      args,
      work,
      nodeDir: dirname(node24()), // action.yml says node24
      timeoutMs: ACT_TIMEOUT_MS,
    });
    writeFileSync(join(work, `act-${runId}.log`), run.out);
    return { ...run, seconds: (Date.now() - t0) / 1000 };
  }

  const comments = () => gh.state.comments.get(PR) ?? [];
  const previewDeployments = () => gh.state.deployments.filter((d) => d.environment === `preview/pr-${PR}`);
  const statesOf = (id: number) => (gh.state.statuses.get(id) ?? []).map((s) => s.state);

  test("a fork's opened event deploys nothing, even with the cluster's credentials at hand", async () => {
    const run = await runAct(event('opened', 'mallory/demo'));
    expect(run.results, run.text.slice(-3000)).toEqual({ fork: 'success' });
    expect(run.status).toBe(0);
    expect(run.text).toContain('::notice title=Preview skipped (fork)::');
    expect(namespaceExists()).toBe(false);
    expect(gh.requests).toEqual([]); // no comment, no deployment: the action never ran
  });

  test('opened: deploys namespace jetscale-pr-301, passes the contract checks through the ingress, reports to GitHub', async () => {
    gh.clearRequests();
    const run = await runAct(event('opened', 'jetscale/demo'));
    console.log(`act pull_request opened: ${run.seconds.toFixed(1)} s`);
    expect(run.results, run.text.slice(-6000)).toEqual({ deploy: 'success' });
    expect(run.status).toBe(0);
    const output = (name: string) =>
      run.lines.find((l) => l.jobID === 'deploy' && l.command === 'set-output' && l.name === name)?.arg;
    expect(output('namespace')).toBe(NAMESPACE);
    expect(output('url')).toBe(PREVIEW_URL);
    for (const check of FULL_CHECKS) expect(run.text).toMatch(new RegExp(`✓ ${check} `));

    // The cluster: our namespace with our ownership labels, every pod of the release Ready.
    const ns = JSON.parse(kubectl('get', 'namespace', NAMESPACE, '-o', 'json').stdout) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    };
    expect(ns.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'jetscale-stack',
      'jetscale.ai/pr': String(PR),
    });
    expect(ns.metadata.annotations['jetscale.ai/sha']).toBe(SHA);
    const pods = JSON.parse(kubectl('get', 'pods', '-n', NAMESPACE, '-o', 'json').stdout) as {
      items: {
        metadata: { name: string; labels?: Record<string, string> };
        status: { phase?: string; conditions?: { type: string; status: string }[] };
      }[];
    };
    const ready = (p: (typeof pods.items)[number]) =>
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const names = pods.items.map((p) => p.metadata.name);
    for (const component of ['backend', 'frontend', 'postgres', 'redis'])
      expect(names, component).toContainEqual(expect.stringMatching(new RegExp(`^pr-${PR}-${component}`)));
    // every pod that serves is Ready (a Job's pod, the example's seed, has Succeeded and is done)
    expect(
      pods.items.filter((p) => p.status.phase !== 'Succeeded' && !ready(p)).map((p) => p.metadata.name),
    ).toEqual([]);
    const ing = kubectl(
      'get',
      'ingress',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.items[*].spec.ingressClassName} {.items[*].spec.rules[*].host}',
    );
    expect(ing.stdout).toBe(`${ingress.className} ${HOST}`);

    // GitHub: one sticky comment with the URL; one deployment of preview/pr-301, in_progress → success.
    expect(comments()).toHaveLength(1);
    const [comment] = comments();
    expect(comment?.body).toMatch(/^<!-- jetscale-stack:preview -->/);
    expect(comment?.body).toContain('Preview environment ready');
    expect(comment?.body).toContain(PREVIEW_URL);
    const deployments = previewDeployments();
    expect(deployments).toHaveLength(1);
    const [deployment] = deployments;
    expect(deployment?.sha).toBe(SHA);
    expect(statesOf(deployment?.id as number)).toEqual(['in_progress', 'success']);
    expect(gh.state.statuses.get(deployment?.id as number)?.at(-1)?.environment_url).toBe(PREVIEW_URL);
    expect(gh.requests.every((r) => r.auth === `token ${TOKEN}`)).toBe(true);
    expect(gh.requests.filter((r) => r.status >= 400)).toEqual([]);
  });

  test('closed: removes the namespace, marks the comment torn down and the deployment inactive', async () => {
    gh.clearRequests();
    gh.setPullState(PR, 'closed');
    const commentId = comments()[0]?.id;
    const run = await runAct(event('closed', 'jetscale/demo'));
    console.log(`act pull_request closed: ${run.seconds.toFixed(1)} s`);
    expect(run.results, run.text.slice(-6000)).toEqual({ teardown: 'success' });
    expect(run.status).toBe(0);
    expect(namespaceExists()).toBe(false);

    expect(comments()).toHaveLength(1);
    const [comment] = comments();
    expect(comment?.id).toBe(commentId); // the same sticky comment, updated
    expect(comment?.body).toContain('Preview environment removed');
    expect(comment?.body).toContain('torn down');
    expect(comment?.body).not.toContain('Preview environment ready');
    const [deployment] = previewDeployments();
    expect(statesOf(deployment?.id as number)).toEqual(['in_progress', 'success', 'inactive']);
    expect(gh.requests.filter((r) => r.status >= 400)).toEqual([]);
  });

  test("a caller pinned to a SHA runs that SHA's action, not v1's: it deploys and tears down with it", async () => {
    gh.clearRequests();
    const deploy = await runAct(event('opened', 'jetscale/demo', PINNED_PR), 'pr-pinned.yml', PINNED_HOST);
    console.log(`act pull_request opened (pinned caller): ${deploy.seconds.toFixed(1)} s`);
    expect(deploy.results, deploy.text.slice(-6000)).toEqual({ deploy: 'success' });
    // The pinned commit's action ran (its marker), nothing of jetscale/stack at v1 was fetched, and the job
    // checked out the commit it was called at.
    expect(deploy.text).toContain(pinned.marker);
    expect(deploy.text).not.toMatch(/LocalRepositoryCache matched \S*jetscale\/stack with ref v1\b/);
    expect(deploy.text).toContain(
      `stand-in for actions/checkout: jetscale/stack@${pinned.sha} (${pinned.sha})`,
    );
    // That action deployed the preview, passed the contract checks and reported.
    for (const check of FULL_CHECKS) expect(deploy.text).toMatch(new RegExp(`✓ ${check} `));
    const labels = JSON.parse(kubectl('get', 'namespace', PINNED_NAMESPACE, '-o', 'json').stdout) as {
      metadata: { labels: Record<string, string> };
    };
    expect(labels.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'jetscale-stack',
      'jetscale.ai/pr': String(PINNED_PR),
    });
    expect(gh.state.comments.get(PINNED_PR)?.[0]?.body).toContain(`https://${PINNED_HOST}`);

    gh.setPullState(PINNED_PR, 'closed');
    const teardown = await runAct(event('closed', 'jetscale/demo', PINNED_PR), 'pr-pinned.yml', PINNED_HOST);
    expect(teardown.results, teardown.text.slice(-6000)).toEqual({ teardown: 'success' });
    expect(teardown.text).toContain(pinned.marker);
    expect(namespaceExists(PINNED_NAMESPACE)).toBe(false);
    expect(gh.requests.filter((r) => r.status >= 400)).toEqual([]);
  });
});
