/**
 * Several service repositories share the rig's preview cluster (issue 10), driven through the action's bundle
 * as each repository's workflow runs it: jetscale/backend (the primary repository: the seed's names) and
 * jetscale/frontend, each with its own GitHub (a loopback server speaking the REST shapes).
 *
 * Each repository's live workflow records its service's live image as the baseline (loop: live,
 * record-baseline: true; the live site is a loopback stand-in speaking the app's contract, since what is under
 * test is the record in the preview cluster). Then each PR 101 builds only its own service: the other one runs
 * the baseline. Images are the rig's images under other tags (tagged in the node's containerd), so every pod
 * shows which one it runs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repositoryKey } from '../../src/naming.js';
import { startContractStack } from '../support/contract-server.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import {
  namespaceSnapshot,
  RIG_VALUES,
  type RigIngress,
  rigClusterSkipReason,
  rigIngress,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason() ?? rigClusterSkipReason();
const TOKEN = 'ghs_e2eRepositoriesTokenForTheLoopbackServer';
const BACKEND = 'jetscale/backend';
const FRONTEND = 'jetscale/frontend';
const FRONTEND_KEY = repositoryKey(FRONTEND);
const BASELINE_NS = 'jetscale-e2e-baseline';
const SHA = { backend101: 'b101'.repeat(10), frontend101: 'f101'.repeat(10), frontend102: 'f102'.repeat(10) };
/** The rig's images under the tags each source gets (test/rig loads `:rig` into the node). */
const IMAGE = (svc: 'backend' | 'frontend', tag: string) => `jetscale-rig/${svc}:${tag}`;

const kubectl = rigKubectl;
const nsOf = (repo: string, pr: number) =>
  repo === BACKEND ? `jetscale-pr-${pr}` : `jetscale-pr-${pr}-${FRONTEND_KEY}`;
const hostOf = (repo: string, pr: number) =>
  repo === BACKEND ? `pr-${pr}.app.jetscale.ai` : `pr-${pr}-${FRONTEND_KEY}.app.jetscale.ai`;
const ALL_NAMESPACES = [nsOf(BACKEND, 101), nsOf(FRONTEND, 101), nsOf(FRONTEND, 102), BASELINE_NS];

/** Tags a rig image under another name in the node's containerd (instant: same content, no load). */
function tagInNode(from: string, to: string): void {
  const r = spawnSync(
    'docker',
    [
      'exec',
      'jetscale-rig-control-plane',
      'ctr',
      '-n',
      'k8s.io',
      'images',
      'tag',
      '--force',
      `docker.io/${from}`,
      `docker.io/${to}`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ctr images tag ${from} ${to}: ${r.stderr}`);
}

/** Each Deployment's container image in a namespace, by service. */
function imagesIn(ns: string): Record<string, string> {
  const r = kubectl('get', 'deployments', '-n', ns, '-o', 'json');
  expect(r.status, r.stderr).toBe(0);
  const items = JSON.parse(r.stdout).items as Array<{
    metadata: { labels: Record<string, string> };
    spec: { template: { spec: { containers: Array<{ image: string }> } } };
  }>;
  return Object.fromEntries(
    items.map((d) => [
      d.metadata.labels['app.kubernetes.io/name'],
      d.spec.template.spec.containers[0]?.image,
    ]),
  );
}

describe.skipIf(skip)(
  `several repositories on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let ingress: RigIngress;
    let ca: Buffer;
    const github: Record<string, GitHubServer> = {};

    /** One GET through the rig's ingress, with the host's name in SNI and Host. */
    function get(host: string, path: string): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const req = request(
          {
            host: ingress.ip,
            servername: host,
            headers: { Host: host },
            path,
            ca,
            agent: false,
            timeout: 15_000,
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => {
              body += d;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('timeout', () => req.destroy(new Error(`GET https://${host}${path}: no answer in 15 s`)));
        req.on('error', reject);
        req.end();
      });
    }

    async function servedSha(host: string): Promise<string> {
      const r = await get(host, '/api/version');
      expect(r.status, r.body).toBe(200);
      return (JSON.parse(r.body) as { sha: string }).sha;
    }

    /** Runs the action as `repo`'s workflow would; jetscale/backend is the primary repository unless told. */
    async function action(
      repo: string,
      inputs: Record<string, string>,
      opts: { pr?: number; sha?: string; body?: string; closed?: boolean } = {},
    ) {
      const event = opts.pr
        ? pullRequestEventPayload({
            action: opts.closed ? 'closed' : 'opened',
            repository: repo,
            number: opts.pr,
            headSha: opts.sha ?? '0'.repeat(40),
            headRef: `feature-${opts.pr}`,
            baseRef: 'main',
          })
        : {};
      if (opts.body && 'pull_request' in event) (event.pull_request as { body?: string }).body = opts.body;
      const { env, dir } = runnerEnv({
        event,
        extra: {
          GITHUB_REPOSITORY: repo,
          GITHUB_RUN_ID: `${Date.now()}`.slice(-9),
          GITHUB_EVENT_NAME: opts.pr ? 'pull_request' : 'push',
          GITHUB_API_URL: (github[repo] as GitHubServer).url,
          GITHUB_SERVER_URL: 'https://github.com',
          NODE_EXTRA_CA_CERTS: ingress.caFile,
        },
        inputs: {
          'github-token': TOKEN,
          kubeconfig: rigKubeconfig(),
          'primary-repository': BACKEND,
          'baseline-namespace': BASELINE_NS,
          values: 'rig-values.yaml',
          set: `ingress.className=${ingress.className}`,
          timeout: '6m',
          // Both repositories' hosts of the PR lead to the rig's ingress (one is this run's, by its naming).
          ...(opts.pr
            ? {
                resolve: [BACKEND, FRONTEND]
                  .map((r) => `${hostOf(r, opts.pr as number)}=${ingress.ip}`)
                  .join('\n'),
              }
            : {}),
          ...inputs,
        },
      });
      writeFileSync(join(dir, 'rig-values.yaml'), RIG_VALUES);
      const run = runBundle('dist/index.js', env);
      const code = await run.done;
      return { code, out: run.output(), outputs: parseCommandFile(join(dir, 'output')) };
    }

    const commentOf = (repo: string, pr: number) =>
      (github[repo] as GitHubServer).state.comments.get(pr)?.[0]?.body ?? '';

    beforeAll(async () => {
      ingress = rigIngress();
      ca = readFileSync(ingress.caFile);
      for (const repo of [BACKEND, FRONTEND]) {
        const [owner, name] = repo.split('/') as [string, string];
        github[repo] = await startGitHubServer({
          owner,
          repo: name,
          token: TOKEN,
          pulls: { 101: 'open', 102: 'open' },
        });
      }
      // Leftovers of an interrupted earlier run would make the assertions below meaningless.
      for (const ns of ALL_NAMESPACES)
        kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true', '--timeout=180s');
      for (const svc of ['backend', 'frontend'] as const)
        for (const tag of ['baseline', 'pr101', 'pr102']) tagInNode(IMAGE(svc, 'rig'), IMAGE(svc, tag));

      // Each repository's live workflow records what live runs, once live passes its smoke checks.
      const live = await startContractStack({ sha: 'live' });
      try {
        for (const [repo, svc] of [
          [BACKEND, 'backend'],
          [FRONTEND, 'frontend'],
        ] as const) {
          const r = await action(repo, {
            loop: 'live',
            url: live.frontend.url,
            'record-baseline': 'true',
            images: `${svc}=${IMAGE(svc, 'baseline')}`,
          });
          expect(r.code, r.out).toBe(0);
        }
      } finally {
        await live.close();
      }
    }, 600_000);

    afterAll(async () => {
      for (const ns of ALL_NAMESPACES)
        kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=false');
      for (const server of Object.values(github)) await server.close();
    });

    test("two repositories preview PR 101 at once: both serve, each its own images, the baseline fills the rest, the comment lists each service's source", async () => {
      const [backend, frontend] = await Promise.all([
        action(
          BACKEND,
          { loop: 'preview', images: `backend=${IMAGE('backend', 'pr101')}` },
          { pr: 101, sha: SHA.backend101 },
        ),
        action(
          FRONTEND,
          { loop: 'preview', images: `frontend=${IMAGE('frontend', 'pr101')}` },
          { pr: 101, sha: SHA.frontend101 },
        ),
      ]);
      expect(backend.code, backend.out).toBe(0);
      expect(frontend.code, frontend.out).toBe(0);
      // The primary repository keeps the seed's names; the other gets its key in one DNS label.
      expect(backend.outputs).toMatchObject({ namespace: 'jetscale-pr-101', host: 'pr-101.app.jetscale.ai' });
      expect(frontend.outputs).toMatchObject({ namespace: nsOf(FRONTEND, 101), host: hostOf(FRONTEND, 101) });

      expect(imagesIn(nsOf(BACKEND, 101))).toMatchObject({
        backend: IMAGE('backend', 'pr101'),
        frontend: IMAGE('frontend', 'baseline'),
      });
      expect(imagesIn(nsOf(FRONTEND, 101))).toMatchObject({
        backend: IMAGE('backend', 'baseline'),
        frontend: IMAGE('frontend', 'pr101'),
      });
      expect(await servedSha(hostOf(BACKEND, 101))).toBe(SHA.backend101);
      expect(await servedSha(hostOf(FRONTEND, 101))).toBe(SHA.frontend101);
      const page = await get(hostOf(FRONTEND, 101), '/');
      expect(page.status).toBe(200);

      // Everything each repository made carries its repository, so a listing by repository and PR finds it all.
      for (const [repo, ns] of [
        [BACKEND, nsOf(BACKEND, 101)],
        [FRONTEND, nsOf(FRONTEND, 101)],
      ] as const) {
        const all = JSON.parse(
          kubectl(
            'get',
            'deployments,statefulsets,services,ingresses,networkpolicies,secrets',
            '-n',
            ns,
            '-o',
            'json',
          ).stdout,
        ).items as Array<{ kind: string; metadata: { name: string; labels?: Record<string, string> } }>;
        const chartObjects = all.filter((o) => !o.metadata.name.startsWith('sh.helm.release.'));
        expect(chartObjects.length).toBeGreaterThan(8);
        for (const o of chartObjects)
          expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
            'jetscale.ai/repo': repositoryKey(repo),
            'jetscale.ai/pr': '101',
          });
      }

      // Each PR's comment lists every service's image and where it came from.
      const backendComment = commentOf(BACKEND, 101);
      expect(backendComment).toContain(`| \`backend\` | \`${IMAGE('backend', 'pr101')}\` | \`this PR\` |`);
      expect(backendComment).toMatch(
        new RegExp(
          `\\| \`frontend\` \\| \`${IMAGE('frontend', 'baseline')}\` \\| \`baseline of jetscale/frontend, recorded [0-9T:.-]+Z\` \\|`,
        ),
      );
      const frontendComment = commentOf(FRONTEND, 101);
      expect(frontendComment).toContain(`| \`frontend\` | \`${IMAGE('frontend', 'pr101')}\` | \`this PR\` |`);
      expect(frontendComment).toMatch(
        new RegExp(
          `\\| \`backend\` \\| \`${IMAGE('backend', 'baseline')}\` \\| \`baseline of jetscale/backend, recorded`,
        ),
      );
      expect(frontendComment).toContain(`https://${hostOf(FRONTEND, 101)}`);
    }, 900_000);

    test('a deploy or teardown from the wrong repository is refused and deletes nothing', async () => {
      const ns = nsOf(BACKEND, 101);
      const before = namespaceSnapshot(ns);
      // The frontend's workflow believes it is the primary repository: it names the backend's namespace.
      const wrong = { 'primary-repository': FRONTEND };
      const deploy = await action(
        FRONTEND,
        { ...wrong, loop: 'preview', images: `frontend=${IMAGE('frontend', 'pr101')}` },
        { pr: 101, sha: SHA.frontend101 },
      );
      expect(deploy.code, deploy.out).toBe(1);
      expect(deploy.out).toContain(
        'Refusing to deploy into namespace jetscale-pr-101: it belongs to jetscale/backend PR #101, not to jetscale/frontend PR #101.',
      );
      const teardown = await action(
        FRONTEND,
        { ...wrong, loop: 'teardown' },
        { pr: 101, sha: SHA.frontend101, closed: true },
      );
      expect(teardown.code, teardown.out).toBe(1);
      expect(teardown.out).toContain(
        'Refusing to tear down namespace jetscale-pr-101: it belongs to jetscale/backend PR #101, not to jetscale/frontend PR #101. Nothing was deleted.',
      );
      expect(namespaceSnapshot(ns)).toEqual(before);
      expect(await servedSha(hostOf(BACKEND, 101))).toBe(SHA.backend101);
    }, 600_000);

    test('a frontend PR previewed together with a named backend PR (a Preview-With line in its description)', async () => {
      const r = await action(
        FRONTEND,
        { loop: 'preview', images: `frontend=${IMAGE('frontend', 'pr102')}` },
        { pr: 102, sha: SHA.frontend102, body: 'New checkout page.\n\nPreview-With: jetscale/backend#101\n' },
      );
      expect(r.code, r.out).toBe(0);
      // The backend the companion PR built, not the baseline; the frontend this PR built.
      expect(imagesIn(nsOf(FRONTEND, 102))).toMatchObject({
        backend: IMAGE('backend', 'pr101'),
        frontend: IMAGE('frontend', 'pr102'),
      });
      expect(await servedSha(hostOf(FRONTEND, 102))).toBe(SHA.frontend102);
      const comment = commentOf(FRONTEND, 102);
      expect(comment).toContain(
        `| \`backend\` | \`${IMAGE('backend', 'pr101')}\` | \`jetscale/backend#101\` |`,
      );
      expect(comment).toContain(`| \`frontend\` | \`${IMAGE('frontend', 'pr102')}\` | \`this PR\` |`);
    }, 600_000);

    test("closing one repository's PR 101 leaves the other's serving with every object's resourceVersion unchanged", async () => {
      const kept = nsOf(BACKEND, 101);
      const before = namespaceSnapshot(kept);
      const r = await action(FRONTEND, { loop: 'teardown' }, { pr: 101, sha: SHA.frontend101, closed: true });
      expect(r.code, r.out).toBe(0);
      expect(kubectl('get', 'namespace', nsOf(FRONTEND, 101)).status).not.toBe(0);
      expect(namespaceSnapshot(kept)).toEqual(before);
      expect(await servedSha(hostOf(BACKEND, 101))).toBe(SHA.backend101);
      expect(commentOf(FRONTEND, 101)).toMatch(/removed/i);
      expect(commentOf(BACKEND, 101)).toContain('Preview environment ready');
    }, 600_000);
  },
);
