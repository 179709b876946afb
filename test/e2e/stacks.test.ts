/**
 * Stacks shaped unlike the examples (issue 11), deployed by the bundled action on the rig from values files only:
 * the four-service stack (a Go API on 9000 under /v1 with its migration, a Python API behind a stripped /py
 * route needing Postgres but not Redis, an nginx SPA proxying to the Go API, a worker with no port reading Redis)
 * and the Go API alone (no frontend, no Redis). Each passes its own declared contract (test/chart/stacks/*.yaml).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { COMMENT_MARKER } from '../../src/github/index.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import {
  diagnosticsFiles,
  kindClusters,
  RIG_IMAGES,
  RIG_NODE_IMAGE,
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
const SHA = '5ac45ac45ac45ac45ac45ac45ac45ac45ac45ac4';
const ROOT = join(import.meta.dirname, '..', '..');
const STACK = (name: string) => readFileSync(join(ROOT, 'test', 'chart', 'stacks', `${name}.yaml`), 'utf8');

/** The checks a stack file declares, by name: what the run must report as passed. */
function declaredChecks(stackYaml: string, stage: 'ci' | 'preview'): string[] {
  const doc = YAML.parse(stackYaml) as {
    services: Record<string, { enabled?: boolean; checks?: Record<string, { stages?: string[] }> }>;
  };
  return Object.values(doc.services)
    .filter((s) => s.enabled !== false)
    .flatMap((s) => Object.entries(s.checks ?? {}))
    .filter(([, c]) => !c.stages || c.stages.includes(stage))
    .map(([name]) => name);
}

/** The rig's images for the test services, never pulled (loaded into every rig cluster). */
const serviceValues = (services: string[]) =>
  `services:\n${services.map((s) => `  ${s}:\n    image: { pullPolicy: Never }\n`).join('')}`;
const STACK_SERVICES: Record<string, string[]> = {
  four: ['go-api', 'py-api', 'spa', 'worker'],
  'go-only': ['go-api'],
};

const images = (services: string[]) =>
  services.map((s) => `${s}=${RIG_IMAGES[s as keyof typeof RIG_IMAGES]}`).join('\n');

describe.skipIf(skip)(`stacks unlike the examples on the rig${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let github: GitHubServer;
  let ingress: RigIngress;
  const namespaces = ['jetscale-pr-111', 'jetscale-pr-112', 'jetscale-pr-113'];

  beforeAll(async () => {
    ingress = rigIngress();
    github = await startGitHubServer({
      owner: 'jetscale',
      repo: 'app',
      token: TOKEN,
      pulls: { 111: 'open', 112: 'open', 113: 'open' },
    });
    for (const ns of namespaces)
      rigKubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true', '--timeout=180s');
  }, 240_000);

  afterAll(async () => {
    await github?.close();
    for (const ns of namespaces) rigKubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=false');
  }, 60_000);

  /** A ci-kind run of `stack` in its own Kind cluster. */
  async function ciKind(opts: {
    stack: string;
    images: string;
    repository: string;
    prepare?: (dir: string) => void;
  }) {
    const r = runnerEnv({
      extra: { GITHUB_RUN_ID: `${Date.now()}`.slice(-8), GITHUB_REPOSITORY: opts.repository },
      inputs: {
        loop: 'ci-kind',
        'git-sha': SHA,
        'node-image': RIG_NODE_IMAGE,
        images: opts.images,
        'kind-images': [RIG_IMAGES.postgres, RIG_IMAGES.redis, RIG_IMAGES.wait].join('\n'),
        values: 'rig-values.yaml\nstack.yaml\nservice-values.yaml',
        timeout: '8m',
      },
    });
    writeFileSync(join(r.dir, 'rig-values.yaml'), RIG_VALUES);
    writeFileSync(join(r.dir, 'stack.yaml'), STACK(opts.stack));
    writeFileSync(join(r.dir, 'service-values.yaml'), serviceValues(STACK_SERVICES[opts.stack] ?? []));
    opts.prepare?.(r.dir);
    const run = runBundle('dist/index.js', r.env);
    const code = await run.done;
    return { code, out: run.output(), outputs: parseCommandFile(join(r.dir, 'output')) };
  }

  /** A preview of `stack` for PR `pr` on the shared rig cluster, through its ingress. */
  async function preview(opts: {
    stack: string;
    pr: number;
    images: string;
    extra?: string;
    timeout?: string;
  }) {
    const host = `pr-${opts.pr}.app.jetscale.ai`;
    const r = runnerEnv({
      event: pullRequestEventPayload({
        action: 'opened',
        repository: 'jetscale/app',
        number: opts.pr,
        headSha: SHA,
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
        loop: 'preview',
        'github-token': TOKEN,
        kubeconfig: rigKubeconfig(),
        images: opts.images,
        values: `rig-values.yaml\nstack.yaml\nservice-values.yaml${opts.extra ? '\nextra.yaml' : ''}`,
        set: `ingress.className=${ingress.className}`,
        resolve: `${host}=${ingress.ip}`,
        timeout: opts.timeout ?? '6m',
      },
    });
    writeFileSync(join(r.dir, 'rig-values.yaml'), RIG_VALUES);
    writeFileSync(join(r.dir, 'stack.yaml'), STACK(opts.stack));
    writeFileSync(join(r.dir, 'service-values.yaml'), serviceValues(STACK_SERVICES[opts.stack] ?? []));
    if (opts.extra) writeFileSync(join(r.dir, 'extra.yaml'), opts.extra);
    const run = runBundle('dist/index.js', r.env);
    const code = await run.done;
    return { code, out: run.output(), outputs: parseCommandFile(join(r.dir, 'output')) };
  }

  function deploymentImage(ns: string, name: string): string {
    const d = JSON.parse(rigKubectl('get', 'deployment', name, '-n', ns, '-o', 'json').stdout);
    return d.spec.template.spec.containers[0].image as string;
  }

  function jobs(ns: string): Array<{ name: string; succeeded: number; failed: number }> {
    const r = rigKubectl('get', 'jobs', '-n', ns, '-o', 'json');
    return (
      JSON.parse(r.stdout).items as Array<{
        metadata: { name: string };
        status: { succeeded?: number; failed?: number };
      }>
    ).map((j) => ({
      name: j.metadata.name,
      succeeded: j.status.succeeded ?? 0,
      failed: j.status.failed ?? 0,
    }));
  }

  test("the four-service stack (Go API, Python API, SPA, worker) passes ci-kind with its own declared contract; the Python API's repository builds its own checkout", async () => {
    const r = await ciKind({
      stack: 'four',
      repository: 'jetscale/py-api',
      // py-api is the calling repository: no images line for it, so the run builds this checkout.
      images: images(['go-api', 'spa', 'worker']),
      prepare: (dir) => {
        // The Python API's repository: its checkout is the workspace, and its service says so.
        cpSync(join(ROOT, 'test', 'services', 'py-api'), dir, { recursive: true });
        writeFileSync(
          join(dir, 'service-values.yaml'),
          `${serviceValues(['go-api', 'spa', 'worker'])}  py-api:\n    build: { repository: jetscale/py-api, context: . }\n`,
        );
      },
    });
    expect(r.code, r.out).toBe(0);
    for (const check of declaredChecks(STACK('four'), 'ci')) expect(r.out).toMatch(new RegExp(`✓ ${check} `));
    // Built from this checkout by the run's own Skaffold file; the cluster holds no other py-api image (the
    // rig's py-api:rig is neither given nor loaded), so its pod being Ready means it runs what was built here.
    // (Skaffold lists each artifact of the run as "- <image> -> <tag>"; an unchanged checkout is found in its cache)
    expect(r.out).toMatch(/^ - py-api -> py-api:\S+$/m);
    expect(r.out).not.toMatch(/^ - (go-api|spa|worker) -> /m);
    expect(kindClusters()).not.toContain(r.outputs.cluster);
  }, 900_000);

  test('the four-service stack previews PR 111 through the ingress with its own declared contract', async () => {
    const r = await preview({
      stack: 'four',
      pr: 111,
      images: images(['go-api', 'py-api', 'spa', 'worker']),
    });
    expect(r.code, r.out).toBe(0);
    for (const check of declaredChecks(STACK('four'), 'preview'))
      expect(r.out).toMatch(new RegExp(`✓ ${check} https://pr-111\\.app\\.jetscale\\.ai`));
    const ns = 'jetscale-pr-111';
    // No Redis-less service got Redis: py-api mounts no redis Secret.
    const py = JSON.parse(rigKubectl('get', 'deployment', 'pr-111-py-api', '-n', ns, '-o', 'json').stdout);
    expect(JSON.stringify(py.spec.template.spec)).not.toMatch(/redis/i);
    // The Go API's migration ran once, as a Job, before the API served.
    const migrations = jobs(ns).filter((j) => j.name.startsWith('pr-111-go-api-migrate-'));
    expect(migrations).toEqual([expect.objectContaining({ succeeded: 1, failed: 0 })]);
    expect(deploymentImage(ns, 'pr-111-go-api')).toBe(RIG_IMAGES['go-api']);
  }, 900_000);

  test('the Go API alone (no frontend, no Redis) passes ci-kind with its own declared contract', async () => {
    const r = await ciKind({ stack: 'go-only', repository: 'jetscale/app', images: images(['go-api']) });
    expect(r.code, r.out).toBe(0);
    for (const check of declaredChecks(STACK('go-only'), 'ci'))
      expect(r.out).toMatch(new RegExp(`✓ ${check} `));
    expect(kindClusters()).not.toContain(r.outputs.cluster);
  }, 900_000);

  test('the Go API alone previews PR 112 through the ingress; a second deploy re-runs nothing it already migrated', async () => {
    const first = await preview({ stack: 'go-only', pr: 112, images: images(['go-api']) });
    expect(first.code, first.out).toBe(0);
    for (const check of declaredChecks(STACK('go-only'), 'preview'))
      expect(first.out).toMatch(new RegExp(`✓ ${check} https://pr-112\\.app\\.jetscale\\.ai`));
    const ns = 'jetscale-pr-112';
    expect(rigKubectl('get', 'statefulset', '-n', ns, '-o', 'name').stdout).not.toMatch(/redis/);
    const before = jobs(ns);
    const again = await preview({ stack: 'go-only', pr: 112, images: images(['go-api']) });
    expect(again.code, again.out).toBe(0);
    // Same image, command and env: the same migration Job, not run a second time.
    expect(jobs(ns)).toEqual(before);
  }, 900_000);

  test("a failing migration fails the preview of PR 113, and the PR comment quotes the migration's last log line", async () => {
    const r = await preview({
      stack: 'go-only',
      pr: 113,
      images: images(['go-api']),
      extra: 'services:\n  go-api:\n    env: { GOAPI_MIGRATE_FAIL: "1" }\n',
      timeout: '3m',
    });
    expect(r.code, r.out).not.toBe(0);
    const comments = github.state.comments.get(113) ?? [];
    const ours = comments.filter((c) => c.body.includes(COMMENT_MARKER));
    expect(ours.length, JSON.stringify(comments)).toBe(1);
    const body = ours[0]?.body ?? '';
    expect(body).toMatch(/migration go-api failed/);
    expect(body).toMatch(/GOAPI_MIGRATE_FAIL/);
    const diag = r.outputs['diagnostics-dir'] as string;
    const all = diagnosticsFiles(diag)
      .map((f) => f.text)
      .join('\n');
    expect(all).toMatch(/GOAPI_MIGRATE_FAIL/);
  }, 600_000);
});
