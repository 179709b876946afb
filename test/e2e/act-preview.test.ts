import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ActRun,
  actHostFlags,
  commitServiceRepo,
  pullRequestEvent,
  runActOnHost,
  stageStack,
} from '../support/act.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { node24 } from '../support/node24.js';
import { repoRoot, requireTool, toolCacheDir } from '../support/tools.js';
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
const HOST = `pr-${PR}.app.jetscale.ai`;
const PREVIEW_URL = `https://${HOST}`;
const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const TOKEN = 'ghs_act-preview-test-token';
const CLUSTER = 'jetscale-rig';
const ACT_TIMEOUT_MS = 12 * 60_000;
const kubeconfigPath = rigKubeconfig(CLUSTER);

/** The rig's reason to skip (throws in CI), then act's, then the shared cluster's. */
const skip = rigSkipReason() ?? requireTool('act').skip ?? rigClusterSkipReason();
const kubectl = rigKubectl;

function namespaceExists(): boolean {
  const r = kubectl('get', 'namespace', NAMESPACE, '-o', 'name', '--ignore-not-found');
  if (r.status !== 0) throw new Error(`kubectl get namespace ${NAMESPACE}: ${r.stderr}`);
  return r.stdout.trim() !== '';
}

/** Removes what a failed earlier run may have left: this test's namespace, nothing else. */
function removeNamespace(): void {
  if (!namespaceExists()) return;
  const r = kubectl('delete', 'namespace', NAMESPACE, '--wait=true', '--timeout=180s');
  if (r.status !== 0) throw new Error(`kubectl delete namespace ${NAMESPACE}: ${r.stderr}`);
}

interface ActPreviewRun extends ActRun {
  seconds: number;
}

describe.skipIf(skip)(`preview.yml under act on the rig${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work = '';
  let gh: GitHubServer;
  let runId = Math.floor(Date.now() / 1000);
  let ingress: ReturnType<typeof rigIngress>;

  beforeAll(async () => {
    ingress = rigIngress(CLUSTER);
    removeNamespace();
    work = mkdtempSync(join(tmpdir(), 'jetscale-act-preview-'));
    // jetscale/stack@v1 (this checkout) and the upload-artifact stand-in: test/support/act.ts
    stageStack(work);
    // act's host mode sets RUNNER_TOOL_CACHE to <action cache>/tool_cache: there, the rig's pinned tools.
    mkdirSync(join(work, 'act-cache'));
    symlinkSync(toolCacheDir(), join(work, 'act-cache', 'tool_cache'));
    // The service repository (git remote jetscale/demo): its pull-request workflow and the rig values file.
    const svc = join(work, 'demo');
    mkdirSync(join(svc, '.github', 'workflows'), { recursive: true });
    cpSync(
      join(repoRoot, 'test', 'e2e', 'fixtures', 'act', 'pr.yml'),
      join(svc, '.github', 'workflows', 'pr.yml'),
    );
    writeFileSync(join(svc, 'rig-values.yaml'), RIG_VALUES);
    commitServiceRepo(svc, 'service repository');
    gh = await startGitHubServer({ owner: 'jetscale', repo: 'demo', token: TOKEN, pulls: { [PR]: 'open' } });
  });

  afterAll(async () => {
    await gh?.close();
    if (!skip) removeNamespace();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const event = (action: 'opened' | 'closed', headRepo: string) =>
    pullRequestEvent(action, headRepo, PR, SHA);

  /** Runs act for one pull_request event (asynchronously: the GitHub server in this process keeps answering). */
  async function runAct(ev: ReturnType<typeof event>): Promise<ActPreviewRun> {
    runId += 1; // every event is a newer run than the one before, as on GitHub
    const eventFile = join(work, `event-${runId}.json`);
    writeFileSync(eventFile, JSON.stringify(ev));
    const args = [
      'pull_request',
      '--json',
      '-W',
      '.github/workflows/pr.yml',
      '-e',
      eventFile,
      ...actHostFlags(work),
      '-s',
      `PREVIEW_KUBECONFIG=${readFileSync(kubeconfigPath, 'utf8')}`,
      '-s',
      `GITHUB_TOKEN=${TOKEN}`,
      '--var',
      `RESOLVE=${HOST}=${ingress.ip}`,
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
      act: requireTool('act').path as string,
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
        status: { conditions?: { type: string; status: string }[] };
      }[];
    };
    const ready = (p: (typeof pods.items)[number]) =>
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const names = pods.items.map((p) => p.metadata.name);
    for (const component of ['backend', 'frontend', 'postgres', 'redis'])
      expect(names, component).toContainEqual(expect.stringMatching(new RegExp(`^pr-${PR}-${component}`)));
    expect(pods.items.filter((p) => !ready(p)).map((p) => p.metadata.name)).toEqual([]);
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
});
