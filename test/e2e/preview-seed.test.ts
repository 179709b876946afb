/**
 * Previews that start with data (issue 15, point 3): the example backend declares a seed (charts/app values.yaml
 * services.backend.seed), which a new preview runs once, in a step "seed" of its own; a redeploy leaves the data
 * alone, and `reseed: true` runs it again. PRs 461-469 are this file's own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SEED_ITEMS } from '../../examples/backend/src/seed-items.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { runBundle, runnerEnv } from '../support/runner.js';
import {
  type Client,
  ingressClient,
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
const PR = 461;
const NS = `jetscale-pr-${PR}`;
const HOST = `pr-${PR}.app.jetscale.ai`;
const SHAS = ['4610461046104610461046104610461046104610', '461b461b461b461b461b461b461b461b461b461b'];
const SEEDED_AT = 'jetscale.ai/seeded-at';
const kubectl = rigKubectl;

/** SQL in the preview's Postgres, as its superuser from inside the pod (its own env): one value per line. */
function psql(sql: string): string[] {
  const r = kubectl(
    'exec',
    '-n',
    NS,
    `pr-${PR}-postgres-0`,
    '--',
    'sh',
    '-c',
    'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -X -tA -c "$0"',
    sql,
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

function seededAt(): string | undefined {
  return JSON.parse(kubectl('get', 'namespace', NS, '-o', 'json').stdout).metadata.annotations?.[SEEDED_AT];
}

const seedJobs = () =>
  kubectl('get', 'jobs', '-n', NS, '-l', 'app.kubernetes.io/component=seed', '-o', 'name')
    .stdout.split('\n')
    .filter(Boolean);

describe.skipIf(skip)(`preview seeds on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let github: GitHubServer;
  let ingress: RigIngress;
  let client: Client;

  async function deploy(sha: string, action: 'opened' | 'synchronize', reseed = false) {
    const r = runnerEnv({
      event: pullRequestEventPayload({
        action,
        repository: 'jetscale/app',
        number: PR,
        headSha: sha,
        headRef: `feature-${PR}`,
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
        values: 'rig-values.yaml',
        set: `ingress.className=${ingress.className}`,
        resolve: `${HOST}=${ingress.ip}`,
        timeout: '6m',
        reseed: String(reseed),
      },
    });
    writeFileSync(join(r.dir, 'rig-values.yaml'), RIG_VALUES);
    const run = runBundle('dist/index.js', r.env);
    const code = await run.done;
    return { code, out: run.output(), summary: readFileSync(join(r.dir, 'summary'), 'utf8') };
  }

  async function itemNames(): Promise<string[]> {
    const r = await client.get(HOST, '/api/items');
    expect(r.status, r.body).toBe(200);
    return (JSON.parse(r.body) as { items: Array<{ name: string }> }).items.map((i) => i.name);
  }
  const seededNames = async () => (await itemNames()).filter((n) => SEED_ITEMS.includes(n)).sort();

  beforeAll(async () => {
    ingress = rigIngress();
    client = ingressClient(ingress);
    github = await startGitHubServer({
      owner: 'jetscale',
      repo: 'app',
      token: TOKEN,
      pulls: { [PR]: 'open' },
    });
    kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=180s');
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await github?.close();
    kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=false');
  }, 60_000);

  test('a new preview of the examples serves seeded items and a redeploy does not reseed', async () => {
    const first = await deploy(SHAS[0] as string, 'opened');
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/✓ seed \(\d+\.\d s\)/);
    // the seed's time is a row of the job summary
    expect(first.summary).toContain('<td>seed</td>');
    expect(await seededNames()).toEqual([...SEED_ITEMS].sort());
    const stamp = seededAt();
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT/);

    // A reviewer's data: one seeded item removed. A redeploy that seeded again would bring it back.
    const [gone, ...kept] = [...SEED_ITEMS].sort() as [string, ...string[]];
    psql(`DELETE FROM items WHERE name = '${gone}'`);
    const redeploy = await deploy(SHAS[1] as string, 'synchronize');
    expect(redeploy.code, redeploy.out).toBe(0);
    expect(redeploy.out).not.toContain('▶ seed');
    expect(redeploy.out).toContain(`seed: not run, the preview was seeded at ${stamp}`);
    expect(await seededNames()).toEqual(kept);
    expect(seededAt()).toBe(stamp);
    // the finished seed Job is pruned with the redeploy; what it wrote stays
    expect(seedJobs()).toEqual([]);
  }, 900_000);

  test('reseed: true runs the seed again, which brings back what is missing and duplicates nothing', async () => {
    const before = seededAt();
    const r = await deploy(SHAS[1] as string, 'synchronize', true);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('seed: backend in this deploy (reseed asked)');
    expect(r.out).toMatch(/✓ seed \(\d+\.\d s\)/);
    expect(await seededNames()).toEqual([...SEED_ITEMS].sort());
    expect(psql("SELECT count(*) FROM items WHERE name LIKE 'seed-%'")).toEqual([String(SEED_ITEMS.length)]);
    expect(seededAt()).not.toBe(before);
  }, 900_000);
});
