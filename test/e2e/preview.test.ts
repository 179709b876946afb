import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { COMMENT_MARKER } from '../../src/github/index.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import {
  type Client,
  FULL_CHECKS,
  ingressClient,
  load,
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
const TOKEN = 'ghs_e2eTokenForTheLoopbackServer';
const SHA_101 = '1010101010101010101010101010101010101010';
const SHA_102 = '1020102010201020102010201020102010201020';
const SHA_102_NEW = '102b102b102b102b102b102b102b102b102b102b';
const FOREIGN_PR = 103;

const kubectl = rigKubectl;

function namespaceExists(ns: string): boolean {
  return kubectl('get', 'namespace', ns).status === 0;
}

/** Waits until no pod of `ns` is terminating (a rollout's old pods drain for preStopSleepSeconds). */
async function settled(ns: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const pods = JSON.parse(kubectl('get', 'pods', '-n', ns, '-o', 'json').stdout).items as Array<{
      metadata: { deletionTimestamp?: string };
    }>;
    if (pods.every((p) => !p.metadata.deletionTimestamp)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`pods of ${ns} still terminating after 120 s`);
}

/** Every object of every listable namespaced kind in `ns`, as "kind/name" → resourceVersion. */
function snapshot(ns: string): Map<string, string> {
  const kinds = kubectl('api-resources', '--verbs=list', '--namespaced', '-o', 'name')
    .stdout.split('\n')
    .filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
  const r = kubectl('get', kinds.join(','), '-n', ns, '-o', 'json');
  expect(r.status, r.stderr).toBe(0);
  const items = JSON.parse(r.stdout).items as Array<{
    kind: string;
    metadata: { name: string; resourceVersion: string };
  }>;
  return new Map(items.map((i) => [`${i.kind}/${i.metadata.name}`, i.metadata.resourceVersion]));
}

async function version(client: Client, host: string): Promise<string> {
  const r = await client.get(host, '/api/version');
  expect(r.status, r.body).toBe(200);
  return (JSON.parse(r.body) as { sha: string }).sha;
}

describe.skipIf(skip)(`preview on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let github: GitHubServer;
  let ingress: RigIngress;
  let client: Client;

  function previewEnv(opts: {
    loop: 'preview' | 'teardown';
    pr: number;
    sha: string;
    action?: 'opened' | 'synchronize' | 'closed';
  }) {
    const host = `pr-${opts.pr}.app.jetscale.ai`;
    const r = runnerEnv({
      event: pullRequestEventPayload({
        action: opts.action ?? (opts.loop === 'teardown' ? 'closed' : 'opened'),
        repository: 'jetscale/app',
        number: opts.pr,
        headSha: opts.sha,
        headRef: `feature-${opts.pr}`,
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
        loop: opts.loop,
        'github-token': TOKEN,
        kubeconfig: rigKubeconfig(),
        images: `backend=${RIG_IMAGES.backend}\nfrontend=${RIG_IMAGES.frontend}`,
        values: 'rig-values.yaml', // in the workspace: values files outside it are refused
        set: `ingress.className=${ingress.className}`,
        resolve: `${host}=${ingress.ip}`,
        timeout: '6m',
      },
    });
    writeFileSync(join(r.dir, 'rig-values.yaml'), RIG_VALUES);
    return r;
  }

  async function run(opts: Parameters<typeof previewEnv>[0]) {
    const { env, dir } = previewEnv(opts);
    const r = runBundle('dist/index.js', env);
    const code = await r.done;
    return { code, out: r.output(), outputs: parseCommandFile(join(dir, 'output')) };
  }

  beforeAll(async () => {
    ingress = rigIngress();
    client = ingressClient(ingress);
    github = await startGitHubServer({
      owner: 'jetscale',
      repo: 'app',
      token: TOKEN,
      pulls: { 101: 'open', 102: 'open', [FOREIGN_PR]: 'open' },
    });
    // Leftovers of an interrupted earlier run would make the assertions below meaningless.
    for (const ns of ['jetscale-pr-101', 'jetscale-pr-102', `jetscale-pr-${FOREIGN_PR}`])
      kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true', '--timeout=180s');
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await github?.close();
    for (const ns of ['jetscale-pr-101', 'jetscale-pr-102', `jetscale-pr-${FOREIGN_PR}`])
      kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=false');
  }, 60_000);

  test('PRs 101 and 102 deploy at once, each in its namespace and reached by its own host', async () => {
    const [a, b] = await Promise.all([
      run({ loop: 'preview', pr: 101, sha: SHA_101 }),
      run({ loop: 'preview', pr: 102, sha: SHA_102 }),
    ]);
    expect(a.code, a.out).toBe(0);
    expect(b.code, b.out).toBe(0);
    for (const [r, pr] of [
      [a, 101],
      [b, 102],
    ] as const) {
      expect(r.outputs).toMatchObject({
        namespace: `jetscale-pr-${pr}`,
        url: `https://pr-${pr}.app.jetscale.ai`,
      });
      for (const check of FULL_CHECKS)
        expect(r.out).toMatch(new RegExp(`✓ ${check} https://pr-${pr}\\.app\\.jetscale\\.ai`));
      const ns = JSON.parse(kubectl('get', 'namespace', `jetscale-pr-${pr}`, '-o', 'json').stdout);
      expect(ns.metadata.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'jetscale-stack',
        'jetscale.ai/pr': String(pr),
      });
    }
    // Host routing: each host answers from its own namespace, with the SHA deployed there.
    expect(await version(client, 'pr-101.app.jetscale.ai')).toBe(SHA_101);
    expect(await version(client, 'pr-102.app.jetscale.ai')).toBe(SHA_102);
    expect((await client.get('pr-999.app.jetscale.ai', '/')).status).toBe(404);
    // One sticky comment per PR, with its URL; a deployment per PR with in_progress then success.
    for (const pr of [101, 102]) {
      const comments = github.state.comments.get(pr) ?? [];
      expect(comments).toHaveLength(1);
      expect(comments[0]?.body).toContain(COMMENT_MARKER);
      expect(comments[0]?.body).toContain(`https://pr-${pr}.app.jetscale.ai`);
      const deployments = github.state.deployments.filter((d) => d.environment === `preview/pr-${pr}`);
      expect(deployments, JSON.stringify(github.state.deployments.map((d) => d.environment))).toHaveLength(1);
      const states = (github.state.statuses.get(deployments[0]?.id as number) ?? []).map((s) => s.state);
      expect(states).toEqual(['in_progress', 'success']);
    }
  }, 900_000);

  test('a redeploy of 102 with a new SHA upgrades in place under load: no failed request, new SHA served', async () => {
    const before = JSON.parse(kubectl('get', 'namespace', 'jetscale-pr-102', '-o', 'json').stdout);
    const traffic = load(client, 'pr-102.app.jetscale.ai');
    await new Promise((r) => setTimeout(r, 2000));
    const r = await run({ loop: 'preview', pr: 102, sha: SHA_102_NEW, action: 'synchronize' });
    await new Promise((r) => setTimeout(r, 2000));
    const results = await traffic.stop();
    expect(r.code, r.out).toBe(0);
    expect(results.failed, results.failed.slice(0, 20).join('\n')).toEqual([]);
    expect(results.ok).toBeGreaterThan(50);
    expect(results.shas).toEqual(new Set([SHA_102, SHA_102_NEW]));
    expect(await version(client, 'pr-102.app.jetscale.ai')).toBe(SHA_102_NEW);
    // In place: the same namespace object (uid), now annotated with the new SHA.
    const after = JSON.parse(kubectl('get', 'namespace', 'jetscale-pr-102', '-o', 'json').stdout);
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.annotations['jetscale.ai/sha']).toBe(SHA_102_NEW);
    // The sticky comment was updated (still one), and names the new SHA.
    const comments = github.state.comments.get(102) ?? [];
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(SHA_102_NEW.slice(0, 7));
    const deployments = github.state.deployments.filter((d) => d.environment === 'preview/pr-102');
    const latest = deployments.find((d) => d.sha === SHA_102_NEW);
    expect(latest).toBeDefined();
    expect((github.state.statuses.get(latest?.id as number) ?? []).map((s) => s.state)).toEqual([
      'in_progress',
      'success',
    ]);
  }, 900_000);

  test('teardown of 101 removes only 101: 102 keeps serving, untouched', async () => {
    await settled('jetscale-pr-102');
    const before102 = snapshot('jetscale-pr-102');
    expect(before102.size).toBeGreaterThan(5);
    const traffic = load(client, 'pr-102.app.jetscale.ai', { workers: 2 });
    const r = await run({ loop: 'teardown', pr: 101, sha: SHA_101 });
    const results = await traffic.stop();
    expect(r.code, r.out).toBe(0);
    expect(namespaceExists('jetscale-pr-101')).toBe(false);
    expect((await client.get('pr-101.app.jetscale.ai', '/')).status).toBe(404);
    expect(results.failed, results.failed.slice(0, 20).join('\n')).toEqual([]);
    expect(await version(client, 'pr-102.app.jetscale.ai')).toBe(SHA_102_NEW);
    expect(snapshot('jetscale-pr-102')).toEqual(before102);
    // The comment of 101 says torn down (still one comment); its deployment ends inactive.
    const comments = github.state.comments.get(101) ?? [];
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toMatch(/torn down/);
    const d101 = github.state.deployments.filter((d) => d.environment === 'preview/pr-101');
    expect((github.state.statuses.get(d101[0]?.id as number) ?? []).map((s) => s.state)).toEqual([
      'in_progress',
      'success',
      'inactive',
    ]);
  }, 600_000);

  test('teardown twice is a no-op', async () => {
    const requestsBefore = github.requests.length;
    const r = await run({ loop: 'teardown', pr: 101, sha: SHA_101 });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Namespace jetscale-pr-101 does not exist: nothing to tear down.');
    expect(namespaceExists('jetscale-pr-102')).toBe(true);
    // Nothing new was written to GitHub: no second "torn down" comment, no new status.
    const writes = github.requests.slice(requestsBefore).filter((q) => q.method !== 'GET');
    expect(
      writes.every((q) => q.method === 'PATCH'),
      JSON.stringify(writes),
    ).toBe(true);
    expect(github.state.comments.get(101) ?? []).toHaveLength(1);
  }, 300_000);

  test('teardown of a namespace we did not create is refused and deletes nothing', async () => {
    const ns = `jetscale-pr-${FOREIGN_PR}`;
    expect(kubectl('create', 'namespace', ns).status).toBe(0);
    expect(
      kubectl('-n', ns, 'create', 'configmap', 'theirs', '--from-literal=owner=someone-else').status,
    ).toBe(0);
    const before = snapshot(ns);
    const r = await run({ loop: 'teardown', pr: FOREIGN_PR, sha: SHA_101 });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`::error::.*${ns}`));
    expect(namespaceExists(ns)).toBe(true);
    expect(snapshot(ns)).toEqual(before);
    // Labelled for another PR is not ours either.
    expect(
      kubectl('label', 'namespace', ns, 'app.kubernetes.io/managed-by=jetscale-stack', 'jetscale.ai/pr=102')
        .status,
    ).toBe(0);
    const r2 = await run({ loop: 'teardown', pr: FOREIGN_PR, sha: SHA_101 });
    expect(r2.code, r2.out).not.toBe(0);
    expect(namespaceExists(ns)).toBe(true);
    expect(kubectl('-n', ns, 'get', 'configmap', 'theirs').status).toBe(0);
    expect(await version(client, 'pr-102.app.jetscale.ai')).toBe(SHA_102_NEW);
  }, 300_000);
});
