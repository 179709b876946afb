/**
 * Load: ten pull-request previews deployed at once on the live-stage files' 1+3-node cluster (rig.ts
 * liveClusterUp), each by its own run of the action (node dist/index.js, INPUT_LOOP=preview) with its full
 * contract checks through the rig's ingress, then all ten removed by the action's teardown, also at once.
 * Printed, not asserted: what each preview requests of the cluster (its pods summed as the scheduler counts them)
 * and the total, and each deploy's wall time, the first and the tenth to finish. Asserted: every run passes, each
 * host serves its own SHA, the ten previews' requests fit what the workers had free, and nothing is left after.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import {
  addRequests,
  formatRequests,
  NO_REQUESTS,
  type PodForRequests,
  parseQuantity,
  podRequests,
  type Requests,
} from '../support/pod-requests.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import {
  type Client,
  clusterKubectl,
  FULL_CHECKS,
  ingressClient,
  LIVE_CLUSTER,
  LIVE_REGISTRY,
  LIVE_RIG_VALUES,
  liveClusterUp,
  type RigIngress,
  rigIngress,
  rigKubeconfig,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason();
const TOKEN = 'ghs_e2eTokenForTheLoopbackServer';
const PRS = Array.from({ length: 10 }, (_, i) => 701 + i);
const shaOf = (pr: number) => String(pr).repeat(14).slice(0, 40);
const nsOf = (pr: number) => `jetscale-pr-${pr}`;
const hostOf = (pr: number) => `pr-${pr}.app.jetscale.ai`;

const kubectl = (...args: string[]) => clusterKubectl(LIVE_CLUSTER, ...args);

function json<T>(...args: string[]): T {
  const r = kubectl(...args, '-o', 'json');
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Pod extends PodForRequests {
  metadata: { name: string; namespace: string };
  spec: PodForRequests['spec'] & { nodeName?: string };
  status: { phase: string };
}

/** Pods that hold their requests on a node: scheduled and neither Succeeded nor Failed (a done Job's pod). */
function activePods(namespace?: string): Pod[] {
  const pods = json<{ items: Pod[] }>('get', 'pods', ...(namespace ? ['-n', namespace] : ['-A'])).items;
  return pods.filter((p) => p.spec.nodeName && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed');
}

/** What the nodes the previews can land on (no NoSchedule taint: the workers) have left to give. */
function freeOnSchedulableNodes(): { free: Requests; nodes: string[] } {
  type Node = {
    metadata: { name: string };
    spec: { taints?: Array<{ effect: string }> };
    status: { allocatable: Record<string, string> };
  };
  const nodes = json<{ items: Node[] }>('get', 'nodes').items.filter(
    (n) => !(n.spec.taints ?? []).some((t) => t.effect === 'NoSchedule'),
  );
  const names = nodes.map((n) => n.metadata.name);
  const allocatable = nodes.reduce(
    (sum, n) =>
      addRequests(sum, {
        cpuMillis: Math.round(parseQuantity(n.status.allocatable.cpu ?? '0') * 1000),
        memoryBytes: Math.round(parseQuantity(n.status.allocatable.memory ?? '0')),
      }),
    NO_REQUESTS,
  );
  const used = activePods()
    .filter((p) => names.includes(p.spec.nodeName as string))
    .reduce((sum, p) => addRequests(sum, podRequests(p)), NO_REQUESTS);
  return {
    free: {
      cpuMillis: allocatable.cpuMillis - used.cpuMillis,
      memoryBytes: allocatable.memoryBytes - used.memoryBytes,
    },
    nodes: names,
  };
}

/** Memory the cluster's node containers use on this machine (docker stats), in GiB: the real cost of the load. */
function nodesMemoryGiB(): string {
  const kind = spawnSync('docker', ['ps', '--format', '{{.Names}}', '--filter', `name=^${LIVE_CLUSTER}-`], {
    encoding: 'utf8',
  });
  const names = kind.stdout.split('\n').filter(Boolean);
  const r = spawnSync('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', ...names], {
    encoding: 'utf8',
  });
  if (r.status !== 0 || names.length === 0) return `? (docker stats: ${r.stderr.trim()})`;
  const bytes = r.stdout
    .split('\n')
    .filter(Boolean)
    .reduce(
      (sum, line) => sum + parseQuantity((line.split(' / ')[0] ?? '0').replace(/iB$/, 'i').replace(/B$/, '')),
      0,
    );
  return (bytes / 2 ** 30).toFixed(1);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

describe.skipIf(skip)(
  `ten previews on the rig's 1+3-node cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let github: GitHubServer;
    let ingress: RigIngress;
    let client: Client;
    const figures: string[] = [];

    async function run(loop: 'preview' | 'teardown', pr: number) {
      const { env, dir } = runnerEnv({
        event: pullRequestEventPayload({
          action: loop === 'teardown' ? 'closed' : 'opened',
          repository: 'jetscale/app',
          number: pr,
          headSha: shaOf(pr),
          headRef: `feature-${pr}`,
          baseRef: 'main',
        }),
        extra: {
          GITHUB_REPOSITORY: 'jetscale/app',
          // run ids grow per PR (the teardown's after the deploy's): the reporter leaves a comment it takes for a
          // newer run's alone
          GITHUB_RUN_ID: `${loop === 'preview' ? 1 : 2}${pr}`,
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_API_URL: github.url,
          GITHUB_SERVER_URL: 'https://github.com',
          NODE_EXTRA_CA_CERTS: ingress.caFile,
        },
        inputs: {
          loop,
          'github-token': TOKEN,
          kubeconfig: rigKubeconfig(LIVE_CLUSTER),
          images: `backend=${LIVE_REGISTRY}/backend:rig\nfrontend=${LIVE_REGISTRY}/frontend:rig`,
          values: 'rig-values.yaml', // in the workspace: values files outside it are refused
          set: `ingress.className=${ingress.className}`,
          resolve: `${hostOf(pr)}=${ingress.ip}`,
          timeout: '10m',
        },
      });
      writeFileSync(join(dir, 'rig-values.yaml'), LIVE_RIG_VALUES);
      const t0 = Date.now();
      const r = runBundle('dist/index.js', env);
      const code = await r.done;
      return {
        pr,
        code,
        ms: Date.now() - t0,
        out: r.output(),
        outputs: parseCommandFile(join(dir, 'output')),
      };
    }

    beforeAll(async () => {
      const up = await liveClusterUp();
      figures.push(`cluster ${up.created ? 'created' : 'reused'} in ${up.seconds.toFixed(0)} s`);
      ingress = rigIngress(LIVE_CLUSTER);
      client = ingressClient(ingress);
      github = await startGitHubServer({
        owner: 'jetscale',
        repo: 'app',
        token: TOKEN,
        pulls: Object.fromEntries(PRS.map((pr) => [pr, 'open' as const])),
      });
      // Leftovers of an interrupted earlier run would make the figures and assertions below meaningless.
      kubectl('delete', 'namespace', ...PRS.map(nsOf), '--ignore-not-found', '--wait=true', '--timeout=300s');
    }, 1_200_000);

    afterAll(async () => {
      console.log(
        `ten previews figures (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB): ${figures.join('; ')}`,
      );
      client?.close();
      await github?.close();
      kubectl('delete', 'namespace', ...PRS.map(nsOf), '--ignore-not-found', '--wait=false');
    }, 120_000);

    test('ten previews at once on the 1+3-node cluster, each passing its contract', async () => {
      const before = freeOnSchedulableNodes();
      expect(before.nodes, 'schedulable nodes: the three workers').toHaveLength(3);

      const runs = await Promise.all(PRS.map((pr) => run('preview', pr)));
      const byFinish = [...runs].sort((a, b) => a.ms - b.ms);
      const first = byFinish[0] as (typeof runs)[number];
      const tenth = byFinish[byFinish.length - 1] as (typeof runs)[number];
      const failed = runs.filter((r) => r.code !== 0).map((r) => `pr-${r.pr}`);
      // where the tenth's time went: the action's step lines ("✓ deploy (41.2 s)")
      const steps = [...tenth.out.matchAll(/^[✓✗] (.+?) \(([\d.]+) s(?:, failed)?\)$/gm)]
        .map((m) => `${m[1]} ${Number(m[2]).toFixed(0)} s`)
        .join(', ');
      figures.push(
        `deploy time first ${seconds(first.ms)} (pr-${first.pr}), tenth ${seconds(tenth.ms)} (pr-${tenth.pr}), ${(tenth.ms / first.ms).toFixed(1)}×${failed.length ? ` (failed: ${failed.join(', ')})` : ''}`,
        `the tenth's steps: ${steps}`,
      );
      for (const r of runs) {
        expect(r.code, `PR ${r.pr}:\n${r.out}`).toBe(0);
        expect(r.outputs).toMatchObject({ namespace: nsOf(r.pr), url: `https://${hostOf(r.pr)}` });
        for (const check of FULL_CHECKS)
          expect(r.out).toMatch(new RegExp(`✓ ${check} https://${hostOf(r.pr).replaceAll('.', '\\.')}`));
      }
      // Each host answers from its own namespace, with the SHA deployed there.
      for (const pr of PRS) {
        const res = await client.get(hostOf(pr), '/api/version');
        expect(res.status, res.body).toBe(200);
        expect((JSON.parse(res.body) as { sha: string }).sha).toBe(shaOf(pr));
      }

      const perPreview = PRS.map((pr) => {
        const pods = activePods(nsOf(pr));
        return {
          pr,
          pods: pods.length,
          requests: pods.reduce((s, p) => addRequests(s, podRequests(p)), NO_REQUESTS),
        };
      });
      for (const p of perPreview) {
        expect(p.pods, `pods of ${nsOf(p.pr)}`).toBeGreaterThanOrEqual(4);
        expect(p.requests.cpuMillis, `CPU requested by ${nsOf(p.pr)}`).toBeGreaterThan(0);
        expect(p.requests.memoryBytes, `memory requested by ${nsOf(p.pr)}`).toBeGreaterThan(0);
      }
      const total = perPreview.reduce((s, p) => addRequests(s, p.requests), NO_REQUESTS);
      // What values.preview.yaml requests must fit what the workers had free (kind nodes report the host's CPUs
      // and memory each, so this is the scheduler's view, not the machine's).
      expect(total.cpuMillis).toBeLessThanOrEqual(before.free.cpuMillis);
      expect(total.memoryBytes).toBeLessThanOrEqual(before.free.memoryBytes);

      const alike = perPreview.every(
        (p) => formatRequests(p.requests) === formatRequests(perPreview[0]?.requests ?? NO_REQUESTS),
      );
      figures.push(
        `requests per preview ${
          alike
            ? `${formatRequests(perPreview[0]?.requests ?? NO_REQUESTS)} (${perPreview[0]?.pods} pods, all ten alike)`
            : perPreview.map((p) => `pr-${p.pr} ${formatRequests(p.requests)}`).join(', ')
        }`,
        `total ${formatRequests(total)} of the workers' free ${formatRequests(before.free)}`,
        `node containers' memory in use with ten up ${nodesMemoryGiB()} GiB`,
      );
    }, 1_800_000);

    test('the ten previews are torn down at once by the action, leaving no preview on the cluster', async () => {
      const t0 = Date.now();
      const runs = await Promise.all(PRS.map((pr) => run('teardown', pr)));
      figures.push(`teardown of all ten ${seconds(Date.now() - t0)}`);
      for (const r of runs) expect(r.code, `PR ${r.pr}:\n${r.out}`).toBe(0);
      for (const pr of PRS) {
        expect(kubectl('get', 'namespace', nsOf(pr)).status, `${nsOf(pr)} is gone`).not.toBe(0);
        expect((await client.get(hostOf(pr), '/')).status, `${hostOf(pr)} no longer served`).toBe(404);
        const comments = github.state.comments.get(pr) ?? [];
        expect(comments).toHaveLength(1);
        expect(comments[0]?.body).toMatch(/torn down/);
      }
      const left = json<{ items: unknown[] }>('get', 'namespaces', '-l', 'jetscale.ai/pr').items;
      expect(left, 'preview namespaces left on the cluster').toEqual([]);
    }, 1_200_000);
  },
);
